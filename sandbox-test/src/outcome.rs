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
    Signal {
        /// The signal's number.
        signal: i32,
        /// Whether it dumped core.
        core_dumped: bool,
    },
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
        /// The panic's message.
        message: String,
        /// `file:line:column` of the panic.
        location: Option<String>,
        /// Only when `RUST_BACKTRACE` is set.
        backtrace: Option<String>,
    },
    /// The body returned `Err`; this is its `Debug` text.
    ReturnedErr {
        /// The `Debug` text of the error.
        debug: String,
    },
    /// The body process exited with this code before it reported (e.g. `std::process::exit`).
    Exited {
        /// The exit code.
        code: i32,
    },
    /// A signal killed the body process.
    Signaled {
        /// The signal's number (see [`signal_name`]).
        signal: i32,
        /// Whether it dumped core.
        core_dumped: bool,
    },
    /// The body ran past its timeout; every process of the sandbox was killed.
    TimedOut {
        /// The timeout that ran out.
        after: Duration,
    },
    /// The sandbox could not be set up; the body never ran.
    SetupFailed(SetupFailure),
    /// This host cannot run sandboxes: the cause and the fix. The body never ran.
    Unsupported {
        /// Why, and how to fix the host.
        reason: String,
    },
    /// A process of the sandbox made a syscall its seccomp policy forbids (`on_violation
    /// = "fail"`, or a profile's `SCMP_ACT_TRAP`): the process, the call, its arguments
    /// and, for the body's own code, where it was made.
    SeccompViolation(Box<crate::seccomp::Violation>),
    /// A process of the sandbox made a syscall its policy kills for (`on_violation =
    /// "kill"`, or a profile's kill action): the process, the call and its arguments;
    /// every process of the sandbox was killed.
    KilledBySeccomp(Box<crate::seccomp::Violation>),
    /// The seccomp supervisor, which answers the calls the policy refuses, traps or
    /// injects, was killed while the body ran (a `kill(-1)` of a sandbox process is
    /// the one way): such calls could no longer be checked, so every process of the
    /// sandbox was killed and the test fails.
    SeccompSupervisorKilled,
    /// A resource limit (`memory`, `pids`, `cpu`, `files`) is why the body died or
    /// failed: which limit, what enforced it, the evidence, and how the body ended.
    LimitExceeded {
        /// Which limit, what enforced it, and the evidence.
        hit: crate::limits::attribution::LimitHit,
        /// How the body ended because of it.
        outcome: Box<Outcome>,
    },
}

impl Outcome {
    /// Whether the test passed.
    pub fn is_passed(&self) -> bool {
        matches!(self, Outcome::Passed)
    }

    /// How a process that runs a body ended, from the verdict it sent (if any) and its
    /// exit status (what seccomp did is decided apart, from its own reports).
    pub(crate) fn of_process(verdict: Option<&Verdict>, exit: ExitStatus) -> Outcome {
        match (verdict, exit) {
            (
                Some(Verdict::Panicked {
                    message,
                    location,
                    backtrace,
                }),
                _,
            ) => Outcome::Panicked {
                message: message.clone(),
                location: location.clone(),
                backtrace: backtrace.clone(),
            },
            (Some(Verdict::ReturnedErr { debug }), _) => Outcome::ReturnedErr {
                debug: debug.clone(),
            },
            (
                _,
                ExitStatus::Signal {
                    signal,
                    core_dumped,
                },
            ) => Outcome::Signaled {
                signal,
                core_dumped,
            },
            (Some(Verdict::Passed), ExitStatus::Code(0)) => Outcome::Passed,
            (_, ExitStatus::Code(code)) => Outcome::Exited { code },
        }
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
            Outcome::KilledBySeccomp(violation) => {
                write!(f, "sandboxed test was killed by seccomp: {violation}")
            }
            Outcome::SeccompSupervisorKilled => write!(
                f,
                "the sandbox's seccomp supervisor was killed while the test ran (a \
                 `kill(-1)` in the sandbox?): the calls it answers could no longer be \
                 checked, so every process of the sandbox was killed"
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

    /// Keeps what fits under the cap; returns the part kept.
    pub(crate) fn push<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        self.total += bytes.len() as u64;
        let room = Self::CAP.saturating_sub(self.kept.len());
        let kept = &bytes[..bytes.len().min(room)];
        self.kept.extend_from_slice(kept);
        kept
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

/// The kept text, as [`Output::text`] gives it (invalid UTF-8 replaced); what was dropped
/// past the cap is not mentioned: see [`Output::truncation_note`].
///
/// ```no_run
/// use sandbox_test::Sandbox;
///
/// let report = Sandbox::new().run(|| eprintln!("to stderr"));
/// println!("the body said: {}", report.stderr);
/// assert_eq!(report.stderr.to_string(), "to stderr\n");
/// ```
impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.kept))
    }
}

/// One output stream of the sandbox written into the test's own output as it arrives,
/// through `print!`/`eprint!` (which libtest captures: shown on failure, or at once with
/// `--nocapture`). Bytes wait only to complete a UTF-8 character split across reads.
#[derive(Debug)]
pub(crate) struct LiveOutput {
    stderr: bool,
    pending: Vec<u8>,
}

impl LiveOutput {
    pub(crate) fn stdout() -> Self {
        Self {
            stderr: false,
            pending: Vec::new(),
        }
    }

    pub(crate) fn stderr() -> Self {
        Self {
            stderr: true,
            pending: Vec::new(),
        }
    }

    /// Writes what is complete of `bytes` (invalid UTF-8 replaced).
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        // The usual case: nothing cut before, and whole text now.
        if self.pending.is_empty() {
            if let Ok(text) = std::str::from_utf8(bytes) {
                return self.emit(text);
            }
        }
        let text = self.complete_text(bytes);
        self.emit(&text);
    }

    /// `bytes` after what was pending, as text up to the last complete character.
    fn complete_text(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut text = String::new();
        let mut done = 0;
        while done < self.pending.len() {
            match std::str::from_utf8(&self.pending[done..]) {
                Ok(rest) => {
                    text.push_str(rest);
                    done = self.pending.len();
                }
                Err(e) => {
                    let valid = &self.pending[done..done + e.valid_up_to()];
                    text.push_str(&String::from_utf8_lossy(valid));
                    done += e.valid_up_to();
                    match e.error_len() {
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            done += bad;
                        }
                        // A character cut by the read: wait for its end.
                        None => break,
                    }
                }
            }
        }
        self.pending.drain(..done);
        text
    }

    /// Writes what is left (a cut character, replaced) at the end of the stream.
    pub(crate) fn finish(&mut self) {
        let rest = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
        self.emit(&rest);
    }

    fn emit(&self, text: &str) {
        use std::io::Write as _;
        if text.is_empty() {
            return;
        }
        if self.stderr {
            eprint!("{text}");
        } else {
            print!("{text}");
            // Shown at once with --nocapture even without a newline.
            let _ = std::io::stdout().flush();
        }
    }
}

/// Everything the parent learned from one sandbox run.
#[derive(Debug, Clone)]
pub struct Report {
    /// How the body ended.
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
    fn output_displays_its_text() {
        let mut out = Output::default();
        out.push(b"caf\xc3\xa9 ");
        out.push(b"\xff!");
        assert_eq!(format!("{out}"), "caf\u{e9} \u{fffd}!");
        assert_eq!(out.to_string(), out.text());
        assert_eq!(Output::default().to_string(), "");
    }

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
    fn live_output_waits_only_for_a_cut_character() {
        let mut live = LiveOutput::stdout();
        let e_acute = "é".as_bytes();
        assert_eq!(live.complete_text(b"ab"), "ab");
        assert_eq!(live.complete_text(&[b'c', e_acute[0]]), "c");
        assert_eq!(live.complete_text(&[e_acute[1], b'\n']), "é\n");
        assert_eq!(live.complete_text(&[0xff, b'x']), "\u{fffd}x");
        assert_eq!(live.complete_text(&[e_acute[0]]), "");
        assert_eq!(live.pending, [e_acute[0]]);
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
