//! The seccomp policy a test asks for.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use nix::errno::Errno;

use super::SeccompError;
pub use crate::spec::seccomp::SyscallItem;

/// What the body may call. Given to [`Sandbox::seccomp`](crate::Sandbox::seccomp) (or
/// built by the attribute's `seccomp(...)` group), compiled once in the parent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// No `seccomp(...)` given: the documented escape-class deny set
    /// ((`BASELINE_DENY` in `sandbox-test-spec/src/seccomp.rs`), nested namespaces, non-default
    /// personality), each answered with EPERM.
    #[default]
    Baseline,
    /// `seccomp = "off"`: no filter at all.
    Off,
    /// `deny = [...]`: these calls are violations, everything else is allowed.
    Deny(Rules),
    /// `allow = [...]`: only these calls (and the harness's own) are allowed.
    Allow(Rules),
    /// `profile = "x.json"`: a Docker/OCI profile, actions honoured as written.
    Profile(PathBuf),
    /// `record = "x.json"`: everything allowed and recorded; the parent writes a minimal
    /// allowlist profile to the path.
    Record(PathBuf),
}

/// What a call outside a `deny`/`allow` list does (`on_violation = "..."`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnViolation {
    /// The first forbidden call ends the test as failed, with a report of the call
    /// (SECCOMP_RET_TRAP). The default.
    #[default]
    Fail,
    /// The kernel kills the body process (SECCOMP_RET_KILL_PROCESS).
    Kill,
    /// The call fails with this errno and the body goes on; every violation is listed in
    /// the report (`on_violation = "errno", errno = "EACCES"`).
    Errno(Errno),
}

impl Hash for OnViolation {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        if let OnViolation::Errno(errno) = self {
            (*errno as i32).hash(state);
        }
    }
}

/// A `deny`/`allow` list with its violation handling.
///
/// ```
/// use sandbox_test::seccomp::{OnViolation, Rules};
/// use sandbox_test::Errno;
///
/// # fn main() -> Result<(), sandbox_test::seccomp::SeccompError> {
/// let rules = Rules::new(["ptrace", "@mount"])?.on_violation(OnViolation::Errno(Errno::EPERM));
/// assert!(Rules::new(["not_a_syscall"]).is_err());
/// assert!(Rules::new(["@no-such-group"]).is_err());
/// # let _ = rules;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rules {
    /// Syscall names and `@groups`, as written (checked by [`Rules::new`]).
    pub(crate) items: Vec<SyscallItem>,
    /// What a violation does.
    pub(crate) on_violation: OnViolation,
}

impl Rules {
    /// Syscall names and systemd-style `@groups`; violations [fail](OnViolation::Fail)
    /// the test. A malformed name, an unknown `@group` and a name the running libseccomp
    /// does not know are errors.
    pub fn new<I, S>(items: I) -> Result<Self, SeccompError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let items = items
            .into_iter()
            .map(|s| SyscallItem::parse(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        super::groups::resolve(&items)?;
        Ok(Self {
            items,
            on_violation: OnViolation::Fail,
        })
    }

    /// What a violation does (default [`OnViolation::Fail`]).
    pub fn on_violation(mut self, mode: OnViolation) -> Self {
        self.on_violation = mode;
        self
    }

    /// The syscall names and `@groups`, as given.
    pub fn items(&self) -> &[SyscallItem] {
        &self.items
    }

    /// What a violation does.
    pub fn violation_mode(&self) -> OnViolation {
        self.on_violation
    }
}
