//! Violations: what the child sends (raw numbers, raw return addresses), the SIGSYS
//! handler that sends it, and the report the parent makes of it.
//!
//! The SIGSYS handler runs at the forbidden call. It is written to be async-signal-safe:
//! it reads the syscall number and arch from `siginfo_t` and the six arguments from the
//! `ucontext`, walks the stack into a fixed array (no allocation), formats the event into
//! a stack buffer, sends it with one `send(2)` and ends the thread group with
//! `exit_group(2)`, so a violation in any thread ends the test. Symbols are resolved in
//! the parent: the body is forked from the test binary without exec, so its code sits at
//! the same addresses there.

use std::ffi::c_void;
use std::fmt::{self, Write as _};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicPtr, Ordering};

use serde::{Deserialize, Serialize};

use super::groups::{arch_name, syscall_name};
use crate::spec::seccomp::errno_name;

/// The most return addresses a trap report carries.
pub const MAX_FRAMES: usize = 48;
/// The exit status of a body ended by a trapped violation.
pub const TRAP_EXIT_STATUS: i32 = 128 + libc::SIGSYS;

/// A forbidden call as the child saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RawViolation {
    /// The calling process (in the sandbox's pid namespace).
    pub pid: i32,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    /// The syscall number.
    pub nr: i32,
    /// The six arguments.
    pub args: [u64; 6],
    /// The instruction pointer at the call.
    pub ip: u64,
    /// Return addresses, innermost first (trap only).
    pub frames: Vec<u64>,
    /// The errno the call failed with (errno mode), or `None` when the call ended the body.
    pub errno: Option<i32>,
}

/// What the seccomp side of the child tells the parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SeccompEvent {
    /// A trapped call: the body was ended (`on_violation = "fail"`, or a profile's TRAP).
    Trapped(RawViolation),
    /// A call refused with an errno; the body went on.
    Refused(RawViolation),
    /// record mode: a syscall seen for the first time.
    Recorded { arch: u32, nr: i32 },
}

/// This crate's sources: not the test author's code.
const RUNTIME_SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");

/// One resolved frame of a violation's backtrace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub ip: u64,
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
}

impl Frame {
    /// Code of the test author, not of std, a dependency or sandbox-test itself.
    pub fn is_user_code(&self) -> bool {
        let Some(file) = &self.file else { return false };
        // Relative paths are C libraries' (glibc: `./misc/../sysdeps/...`).
        file.starts_with('/')
            && !(file.starts_with("/rustc/")
                || file.contains("/library/std/")
                || file.contains("/library/core/")
                || file.contains("/.cargo/registry/")
                || file.contains("/.cargo/git/")
                || file.starts_with(RUNTIME_SRC))
    }

    /// `file:line`, when known.
    pub fn location(&self) -> Option<String> {
        Some(format!("{}:{}", self.file.as_ref()?, self.line?))
    }
}

/// A violation, resolved for a person: names, not only numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The syscall's name (`"?"` if libseccomp does not know the number).
    pub syscall: String,
    pub nr: i32,
    /// The architecture's name (x86_64, i386, x32, ...).
    pub arch: String,
    pub args: [u64; 6],
    pub pid: i32,
    /// The errno the call failed with; `None` when the call ended the body.
    pub errno: Option<i32>,
    /// Symbolized frames, innermost first (trapped calls only).
    pub backtrace: Vec<Frame>,
}

impl Violation {
    /// Resolves names and symbols. Runs in the parent (same binary, same addresses).
    pub(crate) fn resolve(raw: &RawViolation) -> Self {
        let arch = if raw.arch == super::groups::native_arch()
            && raw.nr & super::groups::X32_SYSCALL_BIT != 0
        {
            "x32".to_owned()
        } else {
            arch_name(raw.arch)
        };
        Self {
            syscall: syscall_name(raw.arch, raw.nr).unwrap_or_else(|| "?".into()),
            nr: raw.nr,
            arch,
            args: raw.args,
            pid: raw.pid,
            errno: raw.errno,
            backtrace: trim_harness(symbolize(&raw.frames)),
        }
    }

    /// The first frame in the test author's code.
    pub fn user_frame(&self) -> Option<&Frame> {
        self.backtrace.iter().find(|f| f.is_user_code())
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "forbidden syscall `{}` (nr {}, {}) in pid {}",
            self.syscall, self.nr, self.arch, self.pid
        )?;
        match self.errno {
            Some(e) => write!(f, ", failed with {}", errno_name(e).unwrap_or("errno"))?,
            None => f.write_str(", the body was ended")?,
        }
        if let Some(loc) = self.user_frame().and_then(Frame::location) {
            write!(f, "\n  at {loc}")?;
        }
        f.write_str("\n  args: ")?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a:#x}")?;
        }
        if !self.backtrace.is_empty() {
            f.write_str("\n  backtrace:")?;
            for (i, frame) in self.backtrace.iter().enumerate() {
                let marker = if frame.is_user_code() { '>' } else { ' ' };
                write!(
                    f,
                    "\n  {marker}{i:3}: {}",
                    frame.function.as_deref().unwrap_or("<unknown>")
                )?;
                if let Some(loc) = frame.location() {
                    write!(f, "\n           at {loc}")?;
                }
            }
        }
        Ok(())
    }
}

/// Drops the frames of the harness that called the body (and everything below it).
fn trim_harness(mut frames: Vec<Frame>) -> Vec<Frame> {
    if let Some(at) = frames.iter().position(|f| {
        f.function
            .as_deref()
            .is_some_and(|n| n.starts_with("sandbox_test::body::"))
    }) {
        frames.truncate(at);
    }
    frames
}

/// Resolves return addresses in this process. The first address is the faulting
/// instruction itself; the others are return addresses (looked up one byte back).
pub(crate) fn symbolize(frames: &[u64]) -> Vec<Frame> {
    let mut out = Vec::new();
    for (i, &ip) in frames.iter().enumerate() {
        let lookup = if i == 0 { ip } else { ip.saturating_sub(1) };
        let before = out.len();
        backtrace::resolve(lookup as usize as *mut c_void, |sym| {
            out.push(Frame {
                ip,
                function: sym.name().map(|n| format!("{n:#}")),
                file: sym.filename().map(|p| p.display().to_string()),
                line: sym.lineno(),
            });
        });
        if out.len() == before {
            out.push(Frame {
                ip,
                function: None,
                file: None,
                line: None,
            });
        }
    }
    out
}

/// Where events go: the channel, and the bytes that wrap one event into one protocol
/// message (so the signal handler can build a message without serde or allocation).
#[derive(Debug)]
pub(crate) struct EventSink {
    fd: RawFd,
    prefix: Vec<u8>,
    suffix: Vec<u8>,
}

/// The wrapping could not be derived from the protocol's encoding.
#[derive(Debug)]
pub(crate) struct WrapError;

impl EventSink {
    /// `wrap` encodes an event as one protocol message; its output must contain the
    /// event's own compact JSON verbatim.
    pub(crate) fn new(
        fd: RawFd,
        wrap: impl Fn(&SeccompEvent) -> Vec<u8>,
    ) -> Result<Self, WrapError> {
        let marker = SeccompEvent::Recorded {
            arch: 0x5eed_c0de,
            nr: 0x0bad_cafe,
        };
        let inner = serde_json::to_vec(&marker).map_err(|_| WrapError)?;
        let outer = wrap(&marker);
        let at = outer
            .windows(inner.len())
            .position(|w| w == inner.as_slice())
            .ok_or(WrapError)?;
        Ok(Self {
            fd,
            prefix: outer[..at].to_vec(),
            suffix: outer[at + inner.len()..].to_vec(),
        })
    }

    /// Sends an event (allocates: not for signal handlers).
    pub(crate) fn send(&self, event: &SeccompEvent) -> std::io::Result<()> {
        let mut buf = self.prefix.clone();
        serde_json::to_writer(&mut buf, event).map_err(std::io::Error::other)?;
        buf.extend_from_slice(&self.suffix);
        send_all(self.fd, &buf)
    }
}

fn send_all(fd: RawFd, buf: &[u8]) -> std::io::Result<()> {
    loop {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// A `fmt::Write` into a fixed buffer (no allocation).
struct StackWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for StackWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Formats `Trapped(raw)` exactly as serde_json does, without allocating.
fn format_trapped(w: &mut StackWriter<'_>, raw: &RawViolationRef<'_>) -> fmt::Result {
    write!(
        w,
        "{{\"Trapped\":{{\"pid\":{},\"arch\":{},\"nr\":{},\"args\":[",
        raw.pid, raw.arch, raw.nr
    )?;
    for (i, a) in raw.args.iter().enumerate() {
        if i > 0 {
            w.write_str(",")?;
        }
        write!(w, "{a}")?;
    }
    write!(w, "],\"ip\":{},\"frames\":[", raw.ip)?;
    for (i, f) in raw.frames.iter().enumerate() {
        if i > 0 {
            w.write_str(",")?;
        }
        write!(w, "{f}")?;
    }
    w.write_str("],\"errno\":null}}")
}

/// [`RawViolation`] with borrowed frames, for the handler.
struct RawViolationRef<'a> {
    pid: i32,
    arch: u32,
    nr: i32,
    args: [u64; 6],
    ip: u64,
    frames: &'a [u64],
}

static SINK: AtomicPtr<EventSink> = AtomicPtr::new(std::ptr::null_mut());

/// The `_sigsys` member of `siginfo_t` (x86_64 and aarch64 layout).
#[repr(C)]
struct SigsysInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    call_addr: *mut c_void,
    syscall: i32,
    arch: u32,
}

/// si_code of a seccomp SIGSYS.
const SYS_SECCOMP: i32 = 1;

#[cfg(target_arch = "x86_64")]
unsafe fn registers(ctx: *const libc::ucontext_t) -> ([u64; 6], u64) {
    let g = &(*ctx).uc_mcontext.gregs;
    let r = |i: libc::c_int| g[i as usize] as u64;
    (
        [
            r(libc::REG_RDI),
            r(libc::REG_RSI),
            r(libc::REG_RDX),
            r(libc::REG_R10),
            r(libc::REG_R8),
            r(libc::REG_R9),
        ],
        r(libc::REG_RIP),
    )
}

#[cfg(target_arch = "aarch64")]
unsafe fn registers(ctx: *const libc::ucontext_t) -> ([u64; 6], u64) {
    let m = &(*ctx).uc_mcontext;
    (
        [
            m.regs[0], m.regs[1], m.regs[2], m.regs[3], m.regs[4], m.regs[5],
        ],
        m.pc,
    )
}

extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel passes a SIGSYS siginfo and a ucontext to an SA_SIGINFO handler.
    unsafe {
        let info = &*(info as *const SigsysInfo);
        if info.code != SYS_SECCOMP {
            // Not ours (someone sent SIGSYS): behave as the default action would.
            libc::signal(libc::SIGSYS, libc::SIG_DFL);
            libc::raise(libc::SIGSYS);
            return;
        }
        let (args, ip) = registers(ctx as *const libc::ucontext_t);
        let mut frames = [0u64; MAX_FRAMES];
        let mut n = 0;
        backtrace::trace_unsynchronized(|frame| {
            frames[n] = frame.ip() as u64;
            n += 1;
            n < MAX_FRAMES
        });
        // Drop the handler's own frames: start at the interrupted instruction.
        let start = frames[..n].iter().position(|&f| f == ip);
        let mut shown = [0u64; MAX_FRAMES];
        let count = match start {
            Some(s) => {
                shown[..n - s].copy_from_slice(&frames[s..n]);
                n - s
            }
            None => {
                shown[0] = ip;
                let k = n.min(MAX_FRAMES - 1);
                shown[1..=k].copy_from_slice(&frames[..k]);
                k + 1
            }
        };
        let raw = RawViolationRef {
            pid: libc::getpid(),
            arch: info.arch,
            nr: info.syscall,
            args,
            ip,
            frames: &shown[..count],
        };
        let sink = SINK.load(Ordering::Acquire);
        if !sink.is_null() {
            let sink = &*sink;
            let mut buf = [0u8; 4096];
            let mut w = StackWriter {
                buf: &mut buf,
                len: 0,
            };
            let ok = w.write_str_bytes(&sink.prefix).is_ok()
                && format_trapped(&mut w, &raw).is_ok()
                && w.write_str_bytes(&sink.suffix).is_ok();
            if ok {
                let len = w.len;
                let _ = send_all(sink.fd, &buf[..len]);
            }
        }
        libc::syscall(libc::SYS_exit_group, TRAP_EXIT_STATUS);
    }
}

impl StackWriter<'_> {
    fn write_str_bytes(&mut self, bytes: &[u8]) -> Result<(), fmt::Error> {
        let end = self.len + bytes.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

/// Installs the SIGSYS handler that reports a trapped call through `sink` and ends the
/// body. Child only, before the filter is loaded.
pub(crate) fn install_trap_handler(sink: EventSink) -> Result<(), super::SeccompError> {
    // Warm up the unwinder (it may take locks and load unwind tables the first time),
    // outside of any signal context. Unsynchronized: the crate's lock may have been held
    // by another thread of the process this one was forked from.
    // SAFETY: no other thread exists in the body during setup.
    unsafe { backtrace::trace_unsynchronized(|_| false) };
    let old = SINK.swap(Box::into_raw(Box::new(sink)), Ordering::AcqRel);
    if !old.is_null() {
        // SAFETY: a previous install leaked this box; no handler can be using it now
        // because setup runs before the filter is loaded.
        drop(unsafe { Box::from_raw(old) });
    }
    // SAFETY: a plain sigaction with a handler of the right signature.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigsys as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigfillset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) != 0 {
            return Err(super::SeccompError::Load {
                step: "sigaction(SIGSYS)",
                errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            });
        }
    }
    Ok(())
}

/// What the seccomp filter saw during one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeccompReport {
    /// Every forbidden call, in order: refused ones (errno mode, a profile's errno
    /// default) and the trapped one that ended the body.
    pub violations: Vec<Violation>,
    /// record mode: the syscalls the body made, sorted names.
    pub recorded: Vec<String>,
    /// record mode: the calls the body made, as (arch, number).
    pub(crate) recorded_calls: Vec<(u32, i32)>,
}

impl SeccompReport {
    /// Resolves what the child sent (names from libseccomp). Returns the report and the
    /// violation that ended the body, if one did (`on_violation = "fail"`).
    pub(crate) fn from_events(events: &[SeccompEvent]) -> (SeccompReport, Option<Violation>) {
        let mut report = SeccompReport::default();
        let mut trapped = None;
        for event in events {
            match event {
                SeccompEvent::Trapped(raw) => {
                    let v = Violation::resolve(raw);
                    trapped.get_or_insert_with(|| v.clone());
                    report.violations.push(v);
                }
                SeccompEvent::Refused(raw) => report.violations.push(Violation::resolve(raw)),
                SeccompEvent::Recorded { arch, nr } => report.recorded_calls.push((*arch, *nr)),
            }
        }
        (report, trapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_format_is_the_serde_format() {
        let frames = [1u64, u64::MAX, 42];
        let raw = RawViolationRef {
            pid: 2,
            arch: 0xc000_003e,
            nr: -1,
            args: [0, 1, 2, 3, u64::MAX, 5],
            ip: 77,
            frames: &frames,
        };
        let mut buf = [0u8; 1024];
        let mut w = StackWriter {
            buf: &mut buf,
            len: 0,
        };
        format_trapped(&mut w, &raw).unwrap();
        let len = w.len;
        let parsed: SeccompEvent = serde_json::from_slice(&buf[..len]).unwrap();
        let expected = SeccompEvent::Trapped(RawViolation {
            pid: 2,
            arch: 0xc000_003e,
            nr: -1,
            args: [0, 1, 2, 3, u64::MAX, 5],
            ip: 77,
            frames: frames.to_vec(),
            errno: None,
        });
        assert_eq!(parsed, expected);
        assert_eq!(serde_json::to_vec(&expected).unwrap(), &buf[..len]);
    }

    #[test]
    fn sink_finds_the_event_inside_a_message() {
        #[derive(Serialize)]
        enum Message<'a> {
            Seccomp(&'a SeccompEvent),
        }
        let sink =
            EventSink::new(-1, |e| serde_json::to_vec(&Message::Seccomp(e)).unwrap()).unwrap();
        assert_eq!(sink.prefix, b"{\"Seccomp\":");
        assert_eq!(sink.suffix, b"}");
        assert!(EventSink::new(-1, |_| b"{}".to_vec()).is_err());
    }

    #[test]
    fn stack_writer_refuses_overflow() {
        let mut buf = [0u8; 4];
        let mut w = StackWriter {
            buf: &mut buf,
            len: 0,
        };
        assert!(w.write_str("abcd").is_ok());
        assert!(w.write_str("e").is_err());
    }

    #[test]
    fn violations_resolve_names_and_this_file() {
        let mut frames = Vec::new();
        backtrace::trace(|f| {
            frames.push(f.ip() as u64);
            true
        });
        let raw = RawViolation {
            pid: 2,
            arch: super::super::groups::native_arch(),
            nr: libc::SYS_getpid as i32,
            args: [1, 2, 3, 4, 5, 6],
            ip: frames[0],
            frames,
            errno: Some(libc::EPERM),
        };
        let v = Violation::resolve(&raw);
        assert_eq!(v.syscall, "getpid");
        let text = v.to_string();
        assert!(text.contains("`getpid`"), "{text}");
        assert!(text.contains("EPERM"), "{text}");
        assert!(text.contains("0x6"), "{text}");
        assert!(
            v.backtrace.iter().any(|f| f
                .file
                .as_deref()
                .is_some_and(|p| p.ends_with("seccomp/report.rs"))),
            "{text}"
        );
    }
}
