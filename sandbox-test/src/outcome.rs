//! What happened to a sandboxed test: the `Outcome`, and the `Report` that carries it with
//! the captured output.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a process ended, as `waitid` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal { signal: i32, core_dumped: bool },
}

impl ExitStatus {
    /// From a `siginfo_t` filled by `waitid(..., WEXITED)`.
    pub(crate) fn from_siginfo(info: &libc::siginfo_t) -> Self {
        // SAFETY: waitid filled the SIGCHLD fields of `info`.
        let (code, status) = unsafe { (info.si_code, info.si_status()) };
        match code {
            libc::CLD_EXITED => ExitStatus::Code(status),
            libc::CLD_DUMPED => ExitStatus::Signal {
                signal: status,
                core_dumped: true,
            },
            _ => ExitStatus::Signal {
                signal: status,
                core_dumped: false,
            },
        }
    }

    /// From a `waitpid` status word.
    pub(crate) fn from_wait_status(status: libc::c_int) -> Self {
        if libc::WIFEXITED(status) {
            ExitStatus::Code(libc::WEXITSTATUS(status))
        } else {
            ExitStatus::Signal {
                signal: libc::WTERMSIG(status),
                core_dumped: libc::WCOREDUMP(status),
            }
        }
    }
}

/// The name of a signal, e.g. `SIGKILL`.
pub fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

/// How the body's own code ended, as the body process saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Verdict {
    Passed,
    Panicked {
        message: String,
        location: Option<String>,
        backtrace: Option<String>,
    },
    ReturnedErr {
        debug: String,
    },
}

/// A setup step that failed in the sandbox, before the body ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupFailure {
    /// The step, in the words of the setup sequence (e.g. "mount /proc").
    pub step: String,
    /// The errno the kernel returned, if the failure was a system call's.
    pub errno: Option<i32>,
    /// What went wrong, for a person.
    pub detail: String,
}

impl fmt::Display for SetupFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step `{}` failed: {}", self.step, self.detail)?;
        if let Some(errno) = self.errno {
            write!(f, " ({})", nix::errno::Errno::from_raw(errno))?;
        }
        Ok(())
    }
}

/// What happened to a sandboxed test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The body returned normally (or `Ok`) and every sandbox process exited cleanly.
    Passed,
    /// The body panicked.
    Panicked {
        message: String,
        /// `file:line:column` of the panic.
        location: Option<String>,
        /// Only when `RUST_BACKTRACE` is set.
        backtrace: Option<String>,
    },
    /// The body returned `Err`; this is its `Debug` text.
    ReturnedErr { debug: String },
    /// The body process exited with this code before it reported (e.g. `std::process::exit`).
    Exited { code: i32 },
    /// A signal killed the body process.
    Signaled { signal: i32, core_dumped: bool },
    /// The body ran past its timeout; every process of the sandbox was killed.
    TimedOut { after: Duration },
    /// The sandbox could not be set up; the body never ran.
    SetupFailed(SetupFailure),
    /// This host cannot run sandboxes: the cause and the fix. The body never ran.
    Unsupported { reason: String },
    /// The body made a syscall its seccomp policy forbids (`on_violation = "fail"`, or a
    /// profile's `SCMP_ACT_TRAP`): the call, its arguments and where it was made.
    SeccompViolation(Box<crate::seccomp::Violation>),
    /// The kernel killed the body for a forbidden syscall (`on_violation = "kill"`, or a
    /// profile's kill action).
    KilledBySeccomp,
    /// A resource limit (`memory`, `pids`, `cpu`, `files`) is why the body died or
    /// failed: which limit, what enforced it, the evidence, and how the body ended.
    LimitExceeded {
        hit: crate::limits::attribution::LimitHit,
        outcome: Box<Outcome>,
    },
}

impl Outcome {
    pub fn is_passed(&self) -> bool {
        matches!(self, Outcome::Passed)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed => write!(f, "passed"),
            Outcome::Panicked {
                message,
                location,
                backtrace,
            } => {
                match location {
                    Some(location) => {
                        write!(f, "sandboxed test panicked at {location}:\n{message}")?
                    }
                    None => write!(f, "sandboxed test panicked:\n{message}")?,
                }
                match backtrace {
                    Some(backtrace) => write!(f, "\nbacktrace (from the sandbox):\n{backtrace}"),
                    None => Ok(()),
                }
            }
            Outcome::ReturnedErr { debug } => write!(f, "sandboxed test returned Err: {debug}"),
            Outcome::Exited { code } => {
                write!(
                    f,
                    "sandboxed test exited with code {code} before it reported a result"
                )
            }
            Outcome::Signaled {
                signal,
                core_dumped,
            } => write!(
                f,
                "sandboxed test was killed by {}{}",
                signal_name(*signal),
                if *core_dumped { " (core dumped)" } else { "" }
            ),
            Outcome::TimedOut { after } => write!(
                f,
                "sandboxed test timed out after {after:?}; every process of its sandbox was killed"
            ),
            Outcome::SetupFailed(failure) => {
                write!(
                    f,
                    "sandbox setup failed, the test body did not run: {failure}"
                )
            }
            Outcome::Unsupported { reason } => {
                write!(f, "this host cannot run this sandboxed test: {reason}")
            }
            Outcome::SeccompViolation(violation) => {
                write!(f, "sandboxed test was ended by seccomp: {violation}")
            }
            Outcome::KilledBySeccomp => write!(
                f,
                "sandboxed test was killed by seccomp (SIGSYS) for a forbidden syscall"
            ),
            Outcome::LimitExceeded { hit, outcome } => {
                write!(f, "sandboxed test hit its {hit}\n{outcome}")
            }
        }
    }
}

/// One captured output stream of a sandbox, capped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    kept: Vec<u8>,
    total: u64,
}

impl Output {
    /// How many bytes a stream keeps; the rest is counted and dropped.
    pub const CAP: usize = 16 * 1024 * 1024;

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = Self::CAP.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The kept bytes (at most [`Output::CAP`]).
    pub fn bytes(&self) -> &[u8] {
        &self.kept
    }

    /// The kept bytes as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.kept).into_owned()
    }

    /// How many bytes the sandbox wrote in all.
    pub fn total_len(&self) -> u64 {
        self.total
    }

    /// Whether bytes were dropped past the cap.
    pub fn is_truncated(&self) -> bool {
        self.total > self.kept.len() as u64
    }

    /// The line that says what was dropped, if anything was.
    pub fn truncation_note(&self, stream: &str) -> Option<String> {
        self.is_truncated().then(|| {
            format!(
                "[sandbox-test: {stream} truncated: kept the first {} of {} bytes]",
                self.kept.len(),
                self.total
            )
        })
    }
}

/// Everything the parent learned from one sandbox run.
#[derive(Debug, Clone)]
pub struct Report {
    pub outcome: Outcome,
    /// What the sandbox wrote to fd 1 (subprocesses included).
    pub stdout: Output,
    /// What the sandbox wrote to fd 2 (subprocesses included).
    pub stderr: Output,
    /// Things the test output should mention (e.g. a missing helper library).
    pub notes: Vec<String>,
    /// What the seccomp filter saw: every violation, and what `record` recorded.
    pub seccomp: crate::seccomp::SeccompReport,
}

impl Report {
    /// The report of a sandbox that never ran its body.
    pub(crate) fn setup_failed(failure: SetupFailure) -> Report {
        Report {
            outcome: Outcome::SetupFailed(failure),
            stdout: Output::default(),
            stderr: Output::default(),
            notes: Vec::new(),
            seccomp: Default::default(),
        }
    }

    /// Panics unless the outcome is `Passed`, with the outcome and the captured output.
    #[track_caller]
    pub fn assert_passed(&self) {
        if !self.outcome.is_passed() {
            panic!(
                "{}\n--- stdout of the sandbox ---\n{}\n--- stderr of the sandbox ---\n{}",
                self.outcome,
                self.stdout.text(),
                self.stderr.text()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_capped_and_counted() {
        let mut out = Output::default();
        out.push(&vec![b'x'; Output::CAP - 1]);
        out.push(b"abc");
        assert_eq!(out.bytes().len(), Output::CAP);
        assert_eq!(out.total_len(), Output::CAP as u64 + 2);
        assert!(out.is_truncated());
        assert!(out
            .truncation_note("stdout")
            .unwrap()
            .contains("kept the first 16777216 of 16777218"));
    }

    #[test]
    fn outcome_text_names_what_happened() {
        let panicked = Outcome::Panicked {
            message: "boom".into(),
            location: Some("tests/a.rs:3:5".into()),
            backtrace: None,
        };
        assert_eq!(
            panicked.to_string(),
            "sandboxed test panicked at tests/a.rs:3:5:\nboom"
        );
        assert_eq!(
            Outcome::Signaled {
                signal: 9,
                core_dumped: false
            }
            .to_string(),
            "sandboxed test was killed by SIGKILL"
        );
    }
}
