//! A violation the notification supervisor sees, in any process of the sandbox: who made
//! it (pid, command line, read from the sandbox's `/proc`), its arguments decoded from the
//! caller's memory, the report, and what happens to the caller.
//!
//! * errno mode: the call fails with the errno; the test goes on.
//! * fail / kill: the call never runs; the caller and the body are killed (the body's own
//!   threads end themselves, after sending their stack), so the test ends whichever
//!   process made the call.
//!
//! A call of the body's own code (the body process, before any `exec`, with the SIGSYS
//! handler in place) also gets its stack: the supervisor queues a request to the calling
//! thread ([`AtTheCall`]) before answering, and the handler runs right where the call
//! returns.

use std::collections::BTreeSet;

use super::compile::NotifyReply;
use super::decode::{self, ProcessMemory};
use super::groups::{native_arch, syscall_name, X32_SYSCALL_BIT};
use super::report::{AtTheCall, EventSink, RawViolation, SeccompEvent};

/// The longest command line a report carries.
const MAX_COMMAND: usize = 1024;

/// What the supervisor answers the call with.
pub(crate) enum Answer {
    /// Fail the call with this errno.
    Errno(i32),
    /// No answer: the caller is gone (or the notification was).
    None,
}

/// What the supervisor knows of the sandbox, and remembers between violations.
pub(crate) struct Violations {
    /// The body process, in the supervisor's (the sandbox's) pid namespace.
    body: i32,
    /// The body's pid namespace is the sandbox's own: ending the test kills every
    /// process in it (`kill(-1)` spares only its init and the supervisor). Otherwise (the
    /// filter loaded outside a sandbox) only the caller and the body are killed.
    own_pid_namespace: bool,
    /// Body threads asked to end the body: another call from one means its handler did
    /// not (the body replaced it), and the supervisor ends the body itself.
    asked_to_end: BTreeSet<i32>,
}

impl Violations {
    pub(crate) fn new(body: i32, own_pid_namespace: bool) -> Self {
        Self {
            body,
            // kill(-1) only where it cannot reach past the sandbox. `own_pid_namespace` is
            // passed only for the setup's body (and a host process), which was forked into
            // a fresh pid namespace; the supervisor is its sibling (forked by the
            // sandbox's init, or cloned with CLONE_PARENT), so it is in that namespace, and
            // kill(-1) there reaches only that namespace's processes. `body == 2` checks that the body is that namespace's
            // second process (it is not proof alone: in a container's pid namespace pid 2
            // may be an ordinary process).
            own_pid_namespace: own_pid_namespace && body == 2,
            asked_to_end: BTreeSet::new(),
        }
    }

    /// Reports the call in `req` through `sink` and decides its answer. `listener`: to
    /// check that the call is still waiting after reading the caller.
    pub(crate) fn handle(
        &mut self,
        listener: i32,
        req: &libc::seccomp_notif,
        reply: NotifyReply,
        sink: &EventSink,
    ) -> Answer {
        let body = self.body;
        let tid = req.pid as i32;
        let caller = Caller::read(tid);
        let decoded = arguments(req);
        // The pid may have been reused if the caller died while we read: drop the report.
        if !still_waiting(listener, req.id) {
            return Answer::None;
        }
        let own_code = caller.is_bodys_own_code(body) && !self.asked_to_end.contains(&tid);
        let raw = RawViolation {
            pid: caller.pid.unwrap_or(tid),
            tid,
            arch: req.data.arch,
            nr: req.data.nr,
            args: req.data.args,
            ip: req.data.instruction_pointer,
            // The body's stack follows in a Frames event when its handler answers the
            // request; another program's addresses mean nothing to the parent.
            frames: Vec::new(),
            errno: match reply {
                NotifyReply::Errno(errno) => Some(errno),
                _ => None,
            },
            command: caller.command,
            decoded,
        };
        let pid = raw.pid;
        let _ = sink.send(&match reply {
            NotifyReply::Errno(_) => SeccompEvent::Refused(raw),
            NotifyReply::Kill => SeccompEvent::Killed(raw),
            _ => SeccompEvent::Trapped(raw),
        });
        match reply {
            NotifyReply::Errno(errno) => {
                if own_code {
                    AtTheCall::Refuse(errno).ask(body, tid);
                }
                Answer::Errno(errno)
            }
            _ => {
                if own_code && AtTheCall::End.ask(body, tid) {
                    self.asked_to_end.insert(tid);
                } else {
                    self.end_the_test(pid);
                }
                // The queued request (or SIGKILL) is handled before the caller runs
                // another instruction of its own: the refusal is never seen.
                Answer::Errno(libc::EPERM)
            }
        }
    }
}

impl Violations {
    /// The body process, in the supervisor's pid namespace.
    pub(crate) fn body(&self) -> i32 {
        self.body
    }

    /// Kills the caller and the body, and in the sandbox every other process of it, so
    /// that nothing the test started runs on after the violation.
    fn end_the_test(&self, caller: i32) {
        if self.own_pid_namespace {
            // One call for all: no process (the caller's parent) runs on in between.
            kill(-1);
        } else {
            kill(caller);
            kill(self.body);
        }
    }
}

/// The arguments as strace prints them, read from the caller (native calls only).
pub(crate) fn arguments(req: &libc::seccomp_notif) -> Vec<String> {
    let nr = req.data.nr;
    if req.data.arch != native_arch() || nr & X32_SYSCALL_BIT != 0 {
        return Vec::new();
    }
    match syscall_name(req.data.arch, nr) {
        Some(name) => decode::arguments(&name, &req.data.args, &ProcessMemory::new(req.pid as i32)),
        None => Vec::new(),
    }
}

/// `SECCOMP_IOCTL_NOTIF_ID_VALID`: the caller is still blocked in this call.
pub(crate) fn still_waiting(listener: i32, id: u64) -> bool {
    let mut id = id;
    // SAFETY: the ioctl reads one u64.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) == 0 }
}

fn kill(pid: i32) {
    if pid > 0 || pid == -1 {
        // SAFETY: plain kill of one process of the sandbox, or (-1) of every process of
        // the sandbox's pid namespace but its init and the caller.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// The calling thread as `/proc/TID/status` and `/proc/TID/cmdline` show it.
struct Caller {
    /// Its process (thread group).
    pid: Option<i32>,
    command: Option<String>,
    /// SIGSYS is caught (a handler is installed) and not blocked by this thread.
    sigsys_handled: bool,
}

impl Caller {
    fn read(tid: i32) -> Self {
        let status = std::fs::read_to_string(format!("/proc/{tid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
        };
        let mask = |name: &str| {
            field(name)
                .and_then(|v| u64::from_str_radix(v, 16).ok())
                .unwrap_or(0)
        };
        let bit = 1u64 << (libc::SIGSYS - 1);
        Self {
            pid: field("Tgid:").and_then(|v| v.parse().ok()),
            command: std::fs::read(format!("/proc/{tid}/cmdline"))
                .ok()
                .filter(|c| !c.is_empty())
                .map(|c| command_line(&c)),
            sigsys_handled: mask("SigCgt:") & bit != 0 && mask("SigBlk:") & bit == 0,
        }
    }

    /// A thread of the body process running the test binary's code: the body never
    /// exec'd (exec resets the handler) and the handler can take the request.
    fn is_bodys_own_code(&self, body: i32) -> bool {
        self.pid == Some(body) && self.sigsys_handled
    }
}

/// Whether thread `tid` runs the body's own code with the SIGSYS handler that takes
/// [`AtTheCall`] requests (read from `/proc`: check the call is still waiting afterwards).
pub(crate) fn is_bodys_own_code(body: i32, tid: i32) -> bool {
    Caller::read(tid).is_bodys_own_code(body)
}

/// `/proc/PID/cmdline` (NUL-separated) as a shell would read it: words quoted when they
/// need it, cut at [`MAX_COMMAND`] bytes.
fn command_line(raw: &[u8]) -> String {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    let mut out = String::new();
    for (i, word) in raw.split(|b| *b == 0).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let word = String::from_utf8_lossy(word);
        let plain = !word.is_empty()
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
        if plain {
            out.push_str(&word);
        } else {
            out.push('\'');
            out.push_str(&word.replace('\'', r"'\''"));
            out.push('\'');
        }
        if out.len() > MAX_COMMAND {
            let mut cut = MAX_COMMAND;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("...");
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_read_like_a_shell() {
        assert_eq!(
            command_line(b"python3\0-c\0import socket; socket.socket()\0"),
            "python3 -c 'import socket; socket.socket()'"
        );
        assert_eq!(command_line(b"sh\0-c\0it's\0"), r"sh -c 'it'\''s'");
        assert!(command_line(&[b'x'; 3000]).ends_with("..."));
    }

    #[test]
    fn this_process_handles_no_sigsys_by_default() {
        let me = Caller::read(std::process::id() as i32);
        assert_eq!(me.pid, Some(std::process::id() as i32));
        assert!(me.command.is_some());
        assert!(!me.is_bodys_own_code(1));
    }
}
