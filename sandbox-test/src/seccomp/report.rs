//! Violations: what the child sends (raw numbers, raw return addresses), the SIGSYS
//! handler that sends it, and the report the parent makes of it.
//!
//! The notification supervisor (`violation`) reports every forbidden call. For a call of
//! the body's own code (its image, its threads) it also asks the body's SIGSYS handler
//! (`AtTheCall`) for the caller's stack: the handler runs right where the call returns,
//! walks the stack into a fixed array, formats `SeccompEvent::Frames` into a stack
//! buffer and sends it with one `send(2)` (async-signal-safe: no allocation, no lock),
//! then makes the call return the errno or ends the body's thread group with
//! `exit_group(2)`, so a violation in any thread ends the test.
//!
//! Symbols are resolved in the parent: the body is forked from the test binary without
//! exec, so its code sits at the same addresses there.

use std::ffi::c_void;
use std::fmt::{self, Write as _};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};

use serde::{Deserialize, Serialize};

use super::groups::{arch_name, syscall_name};
use crate::spec::seccomp::errno_name;

/// The most return addresses a trap report carries.
pub const MAX_FRAMES: usize = 48;
/// The exit status of a body ended by a trapped violation.
pub const TRAP_EXIT_STATUS: i32 = 128 + libc::SIGSYS;

/// A forbidden call as the child saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Return addresses, innermost first (see [`SeccompEvent::Frames`]).
    pub frames: Vec<u64>,
    /// The errno the call failed with (errno mode), or `None` when the call ended the body.
    pub errno: Option<i32>,
    /// The calling thread.
    pub tid: i32,
    /// The caller's command line, when the supervisor could read it.
    pub command: Option<String>,
    /// The arguments as strace prints them, read by the supervisor from the caller.
    pub decoded: Vec<String>,
}

/// What the seccomp side of the child tells the parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SeccompEvent {
    /// A call that ends the test (`on_violation = "fail"`, or a profile's trap).
    Trapped(RawViolation),
    /// A call that kills the test (`on_violation = "kill"`, or a profile's kill).
    Killed(RawViolation),
    /// A call refused with an errno; the body went on.
    Refused(RawViolation),
    /// The body's own thread `tid`, at the call the supervisor reported just before: its
    /// stack, innermost first (sent by the SIGSYS handler on the supervisor's request).
    Frames { tid: i32, frames: Vec<u64> },
    /// record mode: a syscall seen for the first time.
    Recorded { arch: u32, nr: i32 },
    /// An `inject(...)` rule hit a call.
    Injected(super::inject::RawInjection),
    /// The supervisor is listening. Carries its pidfd, so the test thread sees it die:
    /// a supervisor gone before the body (the body's `kill(-1)`) would leave every call
    /// it must answer waiting.
    /// `pid`: the supervisor's, in the sandbox (each body and spawned process has one).
    SupervisorUp { pid: i32 },
    /// The supervisor's last message: no filtered task is left, it leaves on its own.
    SupervisorDone { pid: i32 },
}

/// This crate's sources: not the test author's code.
const RUNTIME_SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");

/// One resolved frame of a violation's backtrace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The instruction address.
    pub ip: u64,
    /// The function's demangled name, when known.
    pub function: Option<String>,
    /// The source file, when the debug info tells.
    pub file: Option<String>,
    /// The source line, when the debug info tells.
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
    /// The syscall's number on `arch`.
    pub nr: i32,
    /// The architecture's name (x86_64, i386, x32, ...).
    pub arch: String,
    /// The raw argument words.
    pub args: [u64; 6],
    /// The arguments as strace prints them (see [`super::decode`]): one string per
    /// argument the call takes, paths read from the caller's memory when the supervisor
    /// saw the call. Empty for a foreign architecture's call.
    pub decoded: Vec<String>,
    /// The calling process, in the sandbox's pid namespace (the body is pid 2).
    pub pid: i32,
    /// The caller's command line (`python3 -c ...`), when it could be read.
    pub command: Option<String>,
    /// The errno the call failed with; `None` when the call ended the test.
    pub errno: Option<i32>,
    /// Symbolized frames, innermost first: calls made by the body's own code (its
    /// threads included); empty for a subprocess after `exec`.
    pub backtrace: Vec<Frame>,
}

impl Violation {
    /// Resolves names and symbols. Runs in the parent (same binary, same addresses).
    pub(crate) fn resolve(raw: &RawViolation) -> Self {
        let native = raw.arch == super::groups::native_arch();
        let arch = if native && raw.nr & super::groups::X32_SYSCALL_BIT != 0 {
            "x32".to_owned()
        } else {
            arch_name(raw.arch)
        };
        let syscall = syscall_name(raw.arch, raw.nr).unwrap_or_else(|| "?".into());
        let decoded = match (&raw.decoded, native && arch != "x32") {
            (d, _) if !d.is_empty() => d.clone(),
            // Constants by name; no memory to read pointers from.
            (_, true) => super::decode::arguments(&syscall, &raw.args, &super::decode::NoMemory),
            (_, false) => Vec::new(),
        };
        Self {
            syscall,
            nr: raw.nr,
            arch,
            args: raw.args,
            decoded,
            pid: raw.pid,
            command: raw.command.clone(),
            errno: raw.errno,
            backtrace: backtrace(&raw.frames),
        }
    }

    /// The first frame in the test author's code.
    pub fn user_frame(&self) -> Option<&Frame> {
        self.backtrace.iter().find(|f| f.is_user_code())
    }

    /// The call as strace prints it: `socket(AF_INET, SOCK_STREAM, IPPROTO_IP)`.
    pub fn call(&self) -> String {
        if self.decoded.is_empty() {
            let raw: Vec<String> = self.args.iter().map(|a| format!("{a:#x}")).collect();
            format!("{}({})", self.syscall, raw.join(", "))
        } else {
            format!("{}({})", self.syscall, self.decoded.join(", "))
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "forbidden syscall `{}` (nr {}, {}) in pid {}",
            self.syscall, self.nr, self.arch, self.pid
        )?;
        if let Some(command) = &self.command {
            write!(f, " `{command}`")?;
        }
        match self.errno {
            Some(e) => write!(f, ", failed with {}", errno_name(e).unwrap_or("errno"))?,
            None => f.write_str(", the test was ended")?,
        }
        write!(f, "\n  {}", self.call())?;
        if let Some(loc) = self.user_frame().and_then(Frame::location) {
            write!(f, "\n  at {loc}")?;
        }
        write_args(f, &self.args)?;
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

/// `\n  args: 0x1, 0x2, ...`: a call's six raw arguments.
pub(crate) fn write_args(f: &mut fmt::Formatter<'_>, args: &[u64; 6]) -> fmt::Result {
    f.write_str("\n  args: ")?;
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{a:#x}")?;
    }
    Ok(())
}

/// Symbolized frames, the harness's own left out.
pub(crate) fn backtrace(frames: &[u64]) -> Vec<Frame> {
    trim_harness(symbolize(frames))
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
        send_all(self.fd, &self.encode(event)?)
    }

    /// Sends an event with a descriptor (`SCM_RIGHTS`).
    pub(crate) fn send_with_fd(&self, event: &SeccompEvent, fd: RawFd) -> std::io::Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        let buf = self.encode(event)?;
        let fds = [fd];
        let iov = [std::io::IoSlice::new(&buf)];
        sendmsg::<()>(
            self.fd,
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map(drop)
        .map_err(std::io::Error::from)
    }

    fn encode(&self, event: &SeccompEvent) -> std::io::Result<Vec<u8>> {
        let mut buf = self.prefix.clone();
        serde_json::to_writer(&mut buf, event).map_err(std::io::Error::other)?;
        buf.extend_from_slice(&self.suffix);
        Ok(buf)
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

static SINK: AtomicPtr<EventSink> = AtomicPtr::new(std::ptr::null_mut());
/// The notification supervisor, the only sender of [`AtTheCall`] requests (0: none).
static SUPERVISOR: AtomicI32 = AtomicI32::new(0);

/// The `_rt` member of `siginfo_t`: a signal queued with a value.
#[repr(C)]
struct QueuedInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    pid: i32,
    uid: u32,
    value: u64,
}

/// What the supervisor asks of the body's SIGSYS handler about the call the asked thread
/// is blocked in. It queues SIGSYS to that thread (`rt_tgsigqueueinfo(2)`, the request in
/// `si_value`) before it answers the call, so the handler runs right where the call
/// returns: it sends the caller's stack ([`SeccompEvent::Frames`]), then makes the call
/// fail with the errno (a refusal, an injected errno), return the injected value, or ends
/// the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtTheCall {
    /// errno mode: the call returns `-errno`.
    Refuse(i32),
    /// fail and kill modes: the body ends.
    End,
    /// An injected `retval`: the call returns this value.
    Return(i32),
}

impl AtTheCall {
    const MAGIC: u64 = 0x5ecc_0a11 << 32;
    const MAGIC_RETURN: u64 = 0x5ecc_0a12 << 32;
    const END: u64 = 0xffff_ffff;

    fn encode(self) -> u64 {
        match self {
            Self::Refuse(errno) => Self::MAGIC | u64::from(errno as u32),
            Self::End => Self::MAGIC | Self::END,
            Self::Return(value) => Self::MAGIC_RETURN | u64::from(value as u32),
        }
    }

    fn decode(value: u64) -> Option<Self> {
        let low = value & Self::END;
        match value >> 32 {
            m if m == Self::MAGIC >> 32 && low == Self::END => Some(Self::End),
            m if m == Self::MAGIC >> 32 => Some(Self::Refuse(low as i32)),
            m if m == Self::MAGIC_RETURN >> 32 => Some(Self::Return(low as u32 as i32)),
            _ => None,
        }
    }

    /// From the supervisor: asks thread `tid` of process `pid` (blocked in a notified
    /// call). False if the signal could not be queued.
    pub(crate) fn ask(self, pid: i32, tid: i32) -> bool {
        // SAFETY: an all-zero siginfo, then the fields rt_tgsigqueueinfo reads.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let queued = &mut *(&mut info as *mut libc::siginfo_t as *mut QueuedInfo);
            queued.signo = libc::SIGSYS;
            queued.code = libc::SI_QUEUE;
            queued.pid = libc::getpid();
            queued.uid = libc::getuid();
            queued.value = self.encode();
            libc::syscall(
                libc::SYS_rt_tgsigqueueinfo,
                pid,
                tid,
                libc::SIGSYS,
                &info as *const libc::siginfo_t,
            ) == 0
        }
    }
}

/// The interrupted instruction.
///
/// # Safety
/// `ctx` is the `ucontext_t` the kernel passed to this SIGSYS handler.
#[cfg(target_arch = "x86_64")]
unsafe fn instruction_pointer(ctx: *const libc::ucontext_t) -> u64 {
    (*ctx).uc_mcontext.gregs[libc::REG_RIP as usize] as u64
}

/// The syscall's return register.
///
/// # Safety
/// `ctx` is the `ucontext_t` the kernel passed to this SIGSYS handler.
#[cfg(target_arch = "x86_64")]
unsafe fn return_register(ctx: *mut libc::ucontext_t) -> *mut i64 {
    &mut (*ctx).uc_mcontext.gregs[libc::REG_RAX as usize]
}

/// The interrupted instruction.
///
/// # Safety
/// `ctx` is the `ucontext_t` the kernel passed to this SIGSYS handler.
#[cfg(target_arch = "aarch64")]
unsafe fn instruction_pointer(ctx: *const libc::ucontext_t) -> u64 {
    (*ctx).uc_mcontext.pc
}

/// The syscall's return register.
///
/// # Safety
/// `ctx` is the `ucontext_t` the kernel passed to this SIGSYS handler.
#[cfg(target_arch = "aarch64")]
unsafe fn return_register(ctx: *mut libc::ucontext_t) -> *mut i64 {
    &mut (*ctx).uc_mcontext.regs[0] as *mut u64 as *mut i64
}

/// The interrupted thread's return addresses, from `ip` (the handler's own frames
/// dropped). Async-signal-safe.
///
/// # Safety
/// Called only from the SIGSYS handler, on the interrupted thread (the unsynchronized
/// trace relies on no other trace running in it).
unsafe fn stack_at(ip: u64, out: &mut [u64; MAX_FRAMES]) -> usize {
    let mut frames = [0u64; MAX_FRAMES];
    let mut n = 0;
    backtrace::trace_unsynchronized(|frame| {
        frames[n] = frame.ip() as u64;
        n += 1;
        n < MAX_FRAMES
    });
    match frames[..n].iter().position(|&f| f == ip) {
        Some(s) => {
            out[..n - s].copy_from_slice(&frames[s..n]);
            n - s
        }
        None => {
            out[0] = ip;
            let k = n.min(MAX_FRAMES - 1);
            out[1..=k].copy_from_slice(&frames[..k]);
            k + 1
        }
    }
}

/// Sends one event formatted by `format` into a stack buffer. Async-signal-safe.
fn send_from_handler(format: impl FnOnce(&mut StackWriter<'_>) -> fmt::Result) {
    let sink = SINK.load(Ordering::Acquire);
    if sink.is_null() {
        return;
    }
    // SAFETY: the sink is installed before the filter and never freed while it is set.
    let sink = unsafe { &*sink };
    let mut buf = [0u8; 4096];
    let mut w = StackWriter {
        buf: &mut buf,
        len: 0,
    };
    let ok = w.write_str_bytes(&sink.prefix).is_ok()
        && format(&mut w).is_ok()
        && w.write_str_bytes(&sink.suffix).is_ok();
    if ok {
        let len = w.len;
        let _ = send_all(sink.fd, &buf[..len]);
    }
}

extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel passes a siginfo and a ucontext to an SA_SIGINFO handler.
    unsafe {
        let queued = &*(info as *const QueuedInfo);
        let request = (queued.code == libc::SI_QUEUE
            && queued.pid != 0
            && queued.pid == SUPERVISOR.load(Ordering::Relaxed))
        .then(|| AtTheCall::decode(queued.value))
        .flatten();
        match request {
            Some(request) => at_the_call(request, ctx as *mut libc::ucontext_t),
            None => {
                // Not ours (a kernel trap no filter of ours asks for, or someone sent
                // SIGSYS): behave as the default action would.
                libc::signal(libc::SIGSYS, libc::SIG_DFL);
                libc::raise(libc::SIGSYS);
            }
        }
    }
}

/// The supervisor's request, in the thread whose notified call just returned (or was
/// interrupted by this very signal).
///
/// # Safety
/// `ctx` is the `ucontext_t` the kernel passed to this SIGSYS handler.
unsafe fn at_the_call(request: AtTheCall, ctx: *mut libc::ucontext_t) {
    let ip = instruction_pointer(ctx);
    let mut frames = [0u64; MAX_FRAMES];
    let count = stack_at(ip, &mut frames);
    let tid = libc::syscall(libc::SYS_gettid) as i32;
    send_from_handler(|w| format_frames(w, tid, &frames[..count]));
    // The signal may have interrupted the wait for the supervisor's answer (the call says
    // EINTR; no SA_RESTART): make it the answer the supervisor sends anyway.
    let answer = |value: i64| {
        let ret = return_register(ctx);
        if *ret == -i64::from(libc::EINTR) {
            *ret = value;
        }
    };
    match request {
        AtTheCall::Refuse(errno) => answer(-i64::from(errno)),
        AtTheCall::Return(value) => answer(i64::from(value)),
        AtTheCall::End => {
            libc::syscall(libc::SYS_exit_group, TRAP_EXIT_STATUS);
        }
    }
}

/// Formats `Frames { tid, frames }` exactly as serde_json does, without allocating.
fn format_frames(w: &mut StackWriter<'_>, tid: i32, frames: &[u64]) -> fmt::Result {
    write!(w, "{{\"Frames\":{{\"tid\":{tid},\"frames\":[")?;
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            w.write_str(",")?;
        }
        write!(w, "{f}")?;
    }
    w.write_str("]}}")
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

/// Installs the SIGSYS handler that answers the requests of `supervisor`, reporting
/// through `sink`. Child only, before the filter is loaded.
/// Fork server, once: walks a stack, so that the unwinder's first-time work (finding and
/// reading the binary's unwind tables) is done before any sandbox is forked, and not again
/// in every body whose SIGSYS handler takes backtraces.
pub(crate) fn prepare_for_sandboxes() {
    warm_up_the_unwinder();
}

/// Whether this process (or the fork server it was forked from) walked a stack already.
static UNWINDER_WARM: AtomicBool = AtomicBool::new(false);

/// Walks a stack once per process (the unwinder may take locks and load unwind tables the
/// first time), outside of any signal context. Unsynchronized: the crate's lock may have
/// been held by another thread of the process this one was forked from. Only while
/// single-threaded (the fork server, a sandbox process during setup).
fn warm_up_the_unwinder() {
    if !UNWINDER_WARM.swap(true, Ordering::Relaxed) {
        // SAFETY: single-threaded, see above.
        unsafe { backtrace::trace_unsynchronized(|_| false) };
    }
}

pub(crate) fn install_sigsys_handler(
    sink: EventSink,
    supervisor: i32,
) -> Result<(), super::SeccompError> {
    SUPERVISOR.store(supervisor, Ordering::Relaxed);
    // No other thread exists in the body during setup.
    warm_up_the_unwinder();
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
    /// Every forbidden call, by any process of the sandbox, in order: refused ones (errno
    /// mode, a profile's errno default) and the one that ended the test.
    pub violations: Vec<Violation>,
    /// record mode: the syscalls the body made, sorted names.
    pub recorded: Vec<String>,
    /// record mode: the calls the body made, as (arch, number).
    pub(crate) recorded_calls: Vec<(u32, i32)>,
    /// Every fault `inject(...)` injected, in order.
    pub injected: Vec<super::inject::Injection>,
}

/// How a forbidden call ended the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// `on_violation = "fail"`, a profile's trap.
    Failed(Violation),
    /// `on_violation = "kill"`, a profile's kill.
    Killed(Violation),
}

impl SeccompReport {
    /// Resolves what the child sent (names from libseccomp), the body's stacks attached to
    /// the calls they belong to. Returns the report and, when a forbidden call ended the
    /// test, how.
    pub(crate) fn from_events(events: &[SeccompEvent]) -> (SeccompReport, Option<Ending>) {
        let mut report = SeccompReport::default();
        // The calling thread of each violation and injection, for the stacks that follow.
        let mut callers: Vec<(i32, Caught)> = Vec::new();
        let mut ended: Option<(usize, bool)> = None;
        for event in events {
            let (raw, killed) = match event {
                SeccompEvent::Trapped(raw) | SeccompEvent::Refused(raw) => (raw, false),
                SeccompEvent::Killed(raw) => (raw, true),
                SeccompEvent::Frames { tid, frames } => {
                    let waiting = callers.iter().rfind(|(t, _)| t == tid);
                    let slot = match waiting {
                        Some((_, Caught::Violation(i))) => {
                            report.violations.get_mut(*i).map(|v| &mut v.backtrace)
                        }
                        Some((_, Caught::Injection(i))) => {
                            report.injected.get_mut(*i).map(|v| &mut v.backtrace)
                        }
                        None => None,
                    };
                    if let Some(slot) = slot.filter(|b| b.is_empty()) {
                        *slot = backtrace(frames);
                    }
                    continue;
                }
                SeccompEvent::Recorded { arch, nr } => {
                    report.recorded_calls.push((*arch, *nr));
                    continue;
                }
                SeccompEvent::Injected(raw) => {
                    callers.push((raw.tid, Caught::Injection(report.injected.len())));
                    report.injected.push(raw.resolve());
                    continue;
                }
                SeccompEvent::SupervisorUp { .. } | SeccompEvent::SupervisorDone { .. } => continue,
            };
            if raw.errno.is_none() && ended.is_none() {
                ended = Some((report.violations.len(), killed));
            }
            callers.push((raw.tid, Caught::Violation(report.violations.len())));
            report.violations.push(Violation::resolve(raw));
        }
        let ending = ended.map(|(i, killed)| {
            let v = report.violations[i].clone();
            if killed {
                Ending::Killed(v)
            } else {
                Ending::Failed(v)
            }
        });
        (report, ending)
    }
}

/// What a thread's next [`SeccompEvent::Frames`] belongs to: an index into the report's
/// violations or injections.
enum Caught {
    Violation(usize),
    Injection(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attribute writes `Errno::NAME` for every name of the table: each must be the
    /// nix constant of that number on this target.
    #[test]
    fn every_errno_name_is_the_nix_constant_of_its_number() {
        for (name, number) in crate::spec::seccomp::ERRNOS {
            assert_eq!(format!("{:?}", nix::errno::Errno::from_raw(*number)), *name);
            assert_eq!(errno_name(*number), Some(*name));
        }
    }

    #[test]
    fn handler_frames_format_is_the_serde_format() {
        let mut buf = [0u8; 256];
        let mut w = StackWriter {
            buf: &mut buf,
            len: 0,
        };
        format_frames(&mut w, 7, &[1, u64::MAX]).unwrap();
        let len = w.len;
        let expected = SeccompEvent::Frames {
            tid: 7,
            frames: vec![1, u64::MAX],
        };
        assert_eq!(serde_json::to_vec(&expected).unwrap(), &buf[..len]);
    }

    #[test]
    fn requests_round_trip_and_strangers_are_ignored() {
        for r in [
            AtTheCall::Refuse(libc::EACCES),
            AtTheCall::End,
            AtTheCall::Return(-1),
            AtTheCall::Return(i32::MAX),
            AtTheCall::Return(3),
        ] {
            assert_eq!(AtTheCall::decode(r.encode()), Some(r));
        }
        assert_eq!(AtTheCall::decode(42), None);
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
            ..Default::default()
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
