//! The seccomp policy a test asks for.

use std::path::PathBuf;

use crate::spec::seccomp::{parse_errno, SeccompSpecError};
pub use crate::spec::seccomp::{OnViolation, SyscallItem};

/// What the body may call. Built by the `Sandbox` builder (or the attribute's
/// `seccomp(...)` group), compiled once in the parent.
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

/// A `deny`/`allow` list with its violation handling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rules {
    /// Syscall names and `@groups`, as written.
    pub items: Vec<SyscallItem>,
    /// What a violation does.
    pub on_violation: OnViolation,
    /// The errno a violation returns in [`OnViolation::Errno`] mode (EPERM by default).
    pub errno: i32,
}

impl Rules {
    /// Parses the list items; `on_violation` defaults to fail, `errno` to EPERM.
    pub fn new<S: AsRef<str>>(items: &[S]) -> Result<Self, SeccompSpecError> {
        Ok(Self {
            items: items
                .iter()
                .map(|s| SyscallItem::parse(s.as_ref()))
                .collect::<Result<_, _>>()?,
            on_violation: OnViolation::Fail,
            errno: 1,
        })
    }

    /// Sets the violation mode from its attribute spelling.
    pub fn on_violation(mut self, mode: &str) -> Result<Self, SeccompSpecError> {
        self.on_violation = OnViolation::parse(mode)?;
        Ok(self)
    }

    /// Sets the errno name used in errno mode.
    pub fn errno(mut self, name: &str) -> Result<Self, SeccompSpecError> {
        self.errno = parse_errno(name)?;
        Ok(self)
    }
}
