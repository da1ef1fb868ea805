//! Seccomp: what a test body may ask of the kernel.
//!
//! * [`policy`]: the model (`deny`, `allow`, an OCI `profile`, `record`, `off`, and the
//!   baseline used when a test names no policy).
//! * `groups`: resolving names and systemd-style `@groups` with libseccomp.
//! * [`profile`]: Docker/OCI seccomp profiles.
//! * `compile`: a policy to BPF, in the parent, once per distinct policy; `bpf`: a
//!   profile's filter run in user space by the supervisor on a notified call.
//! * [`decode`]: syscall arguments as strace prints them (for reports).
//! * `load`: the child side — the last setup step.
//! * [`report`]: violations: the SIGSYS handler and the report a person reads.
//! * [`inject`]: fault injection, woven into the filter, answered by the supervisor.
//! * `record`: the notification supervisor and the recorded profile; `violation`: what
//!   the supervisor does with a forbidden call of any process (report, errno, end).
//!
//! The `Sandbox` methods that choose a policy live with the builder (`sandbox/seccomp.rs`).
//!
//! # The harness's own syscalls
//! Under `allow` lists and profiles whose default action denies, the calls the harness
//! needs to report the verdict and exit are always allowed: [`HARNESS_SYSCALLS`];
//! `sendmsg` and `sendto` only on the channel's descriptor ([`CHANNEL_ONLY`]). A `deny`
//! list may name those two (they stay allowed on the channel only); naming another harness
//! call is an error, and a `@group` that contains one leaves it out, with a debug note.

pub(crate) mod bpf;
pub(crate) mod compile;
pub mod decode;
pub(crate) mod groups;
pub mod inject;
pub(crate) mod load;
pub mod policy;
pub mod profile;
pub(crate) mod record;
pub mod report;
pub(crate) mod violation;

pub(crate) use compile::{compile, CompiledFilter};
pub use policy::{OnViolation, Policy, Rules};
pub(crate) use report::SeccompEvent;
pub use report::{Frame, SeccompReport, Violation};

use std::fmt;
use std::path::PathBuf;

/// Syscalls the harness itself needs after the body returns: serialize the verdict
/// (memory), send it over the channel, and exit (the whole thread group).
pub const HARNESS_SYSCALLS: &[&str] = &[
    "brk",
    "close",
    "exit",
    "exit_group",
    "futex",
    "getpid",
    "gettid",
    "madvise",
    "mmap",
    "mprotect",
    "mremap",
    "munmap",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sendmsg",
    "sendto",
    "sigaltstack",
    "write",
    "writev",
];

/// Harness calls that are allowed only on the channel's descriptor (their first argument).
pub const CHANNEL_ONLY: &[&str] = &["sendmsg", "sendto"];

/// A seccomp policy that cannot be compiled or loaded.
#[derive(Debug)]
pub enum SeccompError {
    /// A syscall name libseccomp does not know.
    UnknownSyscall {
        /// The name given.
        name: String,
    },
    /// A bad option value (mode, errno, group).
    Spec(crate::spec::seccomp::SeccompSpecError),
    /// A `deny` list names a syscall the harness needs to report the verdict.
    HarnessNeeds {
        /// The syscall.
        name: String,
    },
    /// The profile file could not be read.
    ProfileRead {
        /// The profile's path.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The profile is not valid JSON for the OCI seccomp schema.
    ProfileParse {
        /// The profile's path.
        path: PathBuf,
        /// Where and why the JSON is wrong.
        source: serde_json::Error,
    },
    /// A problem with the profile as a whole (`defaultAction`, `flags`, ...).
    Profile {
        /// The profile's path.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A problem with one rule of `syscalls[]`.
    ProfileRule {
        /// The profile's path.
        path: PathBuf,
        /// The rule's index in `syscalls[]`.
        index: usize,
        /// What is wrong.
        problem: String,
    },
    /// libseccomp refused the filter.
    Compile(String),
    /// The recorded profile could not be written.
    RecordWrite {
        /// Where it was to be written.
        path: PathBuf,
        /// Why it could not be.
        source: std::io::Error,
    },
    /// An `inject(...)` rule that cannot apply.
    Inject {
        /// The rule as written.
        rule: String,
        /// Why it cannot apply.
        problem: String,
    },
    /// Loading in the child failed (seccomp(2), the supervisor, the SIGSYS handler).
    Load {
        /// What was being done.
        step: &'static str,
        /// The errno it failed with.
        errno: i32,
    },
    /// The kernel lacks what the filter needs: the one-line diagnosis.
    Unsupported(String),
}

impl fmt::Display for SeccompError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownSyscall { name } => {
                write!(
                    f,
                    "seccomp: unknown syscall `{name}` (libseccomp cannot resolve it)"
                )
            }
            Self::Spec(e) => write!(f, "seccomp: {e}"),
            Self::HarnessNeeds { name } => write!(
                f,
                "seccomp: `{name}` cannot be denied: the harness needs it to report the verdict"
            ),
            Self::ProfileRead { path, source } => {
                write!(
                    f,
                    "seccomp profile {}: cannot read: {source}",
                    path.display()
                )
            }
            Self::ProfileParse { path, source } => {
                write!(f, "seccomp profile {}: invalid: {source}", path.display())
            }
            Self::Profile { path, problem } => {
                write!(f, "seccomp profile {}: {problem}", path.display())
            }
            Self::ProfileRule {
                path,
                index,
                problem,
            } => write!(
                f,
                "seccomp profile {}: syscalls[{index}]: {problem}",
                path.display()
            ),
            Self::Compile(e) => write!(f, "seccomp: libseccomp refused the filter: {e}"),
            Self::RecordWrite { path, source } => write!(
                f,
                "seccomp record: cannot write {}: {source}",
                path.display()
            ),
            Self::Inject { rule, problem } => write!(f, "{rule}: {problem}"),
            Self::Load { step, errno } => write!(
                f,
                "seccomp: {step} failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            Self::Unsupported(reason) => write!(f, "seccomp: {reason}"),
        }
    }
}

impl std::error::Error for SeccompError {}

impl From<crate::spec::seccomp::SeccompSpecError> for SeccompError {
    fn from(e: crate::spec::seccomp::SeccompSpecError) -> Self {
        Self::Spec(e)
    }
}

/// A debug note (names the running libseccomp does not know, ignored flags), printed when
/// `SANDBOX_TEST_DEBUG` is set.
pub(crate) fn debug_note(note: &str) {
    if std::env::var_os("SANDBOX_TEST_DEBUG").is_some() {
        eprintln!("sandbox-test seccomp: {note}");
    }
}

#[cfg(test)]
mod tests;
