//! The seccomp options of [`Sandbox`], and what the parent does with them around a run:
//! compile before, judge and record after.

use std::path::PathBuf;

use super::Sandbox;
use crate::outcome::{Outcome, Report, SetupFailure};
use crate::seccomp::inject::{weave, Inject};
use crate::seccomp::record::{recorded_profile, write_profile};
use crate::seccomp::{compile, CompiledFilter, Policy, Rules, SeccompError};

impl Sandbox {
    /// The seccomp policy (`seccomp(...)`), replacing the baseline or an earlier policy.
    /// The filter is compiled now (and cached), so every problem of the policy — a
    /// syscall the harness needs in a `deny` list, a profile that cannot be read or that
    /// libseccomp refuses — is an error of this call.
    ///
    /// ```no_run
    /// use sandbox_test::seccomp::{Policy, Rules};
    /// use sandbox_test::Sandbox;
    ///
    /// # fn main() -> Result<(), sandbox_test::seccomp::SeccompError> {
    /// let sandbox = Sandbox::new().seccomp(Policy::Allow(Rules::new(["read", "write"])?))?;
    /// # let _ = sandbox;
    /// # Ok(()) }
    /// ```
    pub fn seccomp(mut self, policy: Policy) -> Result<Self, SeccompError> {
        compile(&policy)?;
        self.seccomp = policy;
        Ok(self)
    }

    /// `seccomp(deny = [...], on_violation = ..., errno = ...)`: these syscalls and
    /// `@groups` are violations; everything else is allowed. Replaces the baseline.
    ///
    /// ```no_run
    /// use sandbox_test::seccomp::{OnViolation, Rules};
    /// use sandbox_test::{Errno, Sandbox};
    ///
    /// fn body() {
    ///     assert_eq!(unsafe { libc::getppid() }, -1);
    ///     assert_eq!(Errno::last(), Errno::EACCES);
    /// }
    ///
    /// # fn main() -> Result<(), sandbox_test::seccomp::SeccompError> {
    /// let rules = Rules::new(["getppid"])?.on_violation(OnViolation::Errno(Errno::EACCES));
    /// let report = Sandbox::new().seccomp_deny(rules)?.run(body);
    /// assert_eq!(report.seccomp.violations.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn seccomp_deny(self, rules: Rules) -> Result<Self, SeccompError> {
        self.seccomp(Policy::Deny(rules))
    }

    /// `seccomp(allow = [...])`: only these (and the harness's own calls, see
    /// [`HARNESS_SYSCALLS`](crate::seccomp::HARNESS_SYSCALLS)) are allowed.
    pub fn seccomp_allow(self, rules: Rules) -> Result<Self, SeccompError> {
        self.seccomp(Policy::Allow(rules))
    }

    /// `seccomp(profile = "x.json")`: a Docker/OCI profile, actions honoured as written.
    /// A relative path is taken from `CARGO_MANIFEST_DIR` when cargo set it. The profile
    /// is read and compiled now: a missing or invalid profile is an error of this call.
    pub fn seccomp_profile(self, path: impl Into<PathBuf>) -> Result<Self, SeccompError> {
        self.seccomp(Policy::Profile(manifest_relative(path.into())))
    }

    /// `seccomp(record = "x.json")`: the body runs with every syscall allowed; afterwards a
    /// minimal allowlist profile of what it called is written to the path (relative to
    /// `CARGO_MANIFEST_DIR` when cargo set it).
    pub fn seccomp_record(mut self, path: impl Into<PathBuf>) -> Self {
        self.seccomp = Policy::Record(manifest_relative(path.into()));
        self
    }

    /// `seccomp = "off"`: no filter at all, not even the baseline.
    pub fn seccomp_off(mut self) -> Self {
        self.seccomp = Policy::Off;
        self
    }

    /// `inject(...)`: a fault for chosen calls; may be given several times (the first rule
    /// whose `when` hits a call wins). Applies only to calls the seccomp policy allows; see
    /// [`crate::seccomp::inject`] for the precedence. The rule is resolved now: a syscall
    /// this machine does not know, a malformed glob, or `path` on a syscall that takes
    /// neither a path nor a descriptor is an error of this call.
    ///
    /// ```no_run
    /// use sandbox_test::{Errno, Fault, Inject, Sandbox, When};
    ///
    /// fn body() {
    ///     std::fs::create_dir("/tmp/app").unwrap();
    ///     std::fs::write("/tmp/app/1", b"x").unwrap();
    ///     let full = std::fs::write("/tmp/app/2", b"x").unwrap_err();
    ///     assert_eq!(full.raw_os_error(), Some(libc::ENOSPC));
    /// }
    ///
    /// # fn main() -> Result<(), sandbox_test::seccomp::SeccompError> {
    /// let rule = Inject::new("write", Fault::Errno(Errno::ENOSPC))
    ///     .when(When::from_nth(2))
    ///     .path("/tmp/app/*");
    /// let report = Sandbox::new().inject(rule)?.run(body);
    /// assert_eq!(report.seccomp.injected.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn inject(mut self, rule: Inject) -> Result<Self, SeccompError> {
        crate::seccomp::inject::check(&rule)?;
        self.injections.push(rule);
        Ok(self)
    }
}

fn manifest_relative(path: PathBuf) -> PathBuf {
    match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) if path.is_relative() => PathBuf::from(dir).join(path),
        _ => path,
    }
}

/// In the parent, before the run: the policy compiled (cached) for the plan, with the
/// `inject(...)` rules woven in.
pub(crate) fn plan_filter(
    policy: &Policy,
    injections: &[Inject],
) -> Result<Option<CompiledFilter>, SetupFailure> {
    let failure = |step: &str, e: SeccompError| SetupFailure {
        step: step.into(),
        errno: None,
        detail: e.to_string(),
    };
    let filter = compile(policy)
        .map(|f| f.map(|f| (*f).clone()))
        .map_err(|e| failure("compile the seccomp filter", e))?;
    weave(filter, injections).map_err(|e| failure("weave the injected faults in", e))
}

/// The most injected faults listed one by one in the test output (all are in the report).
const LISTED_INJECTIONS: usize = 20;

/// In the parent, after the run: list every refused call in the notes, write a recording.
/// (What the filter did to the outcome is decided with the rest of it, in `supervisor`.)
pub(crate) fn conclude(policy: &Policy, report: &mut Report) {
    let seccomp = &mut report.seccomp;
    for v in &seccomp.violations {
        if v.errno.is_some() {
            report.notes.push(format!("seccomp: {v}"));
        }
    }
    for injection in seccomp.injected.iter().take(LISTED_INJECTIONS) {
        report.notes.push(format!("inject: {injection}"));
    }
    let more = seccomp.injected.len().saturating_sub(LISTED_INJECTIONS);
    if more > 0 {
        report.notes.push(format!(
            "inject: {more} more faults injected (see Report::seccomp.injected)"
        ));
    }
    if let Policy::Record(path) = policy {
        let passed = report.outcome.is_passed();
        let written = recorded_profile(&seccomp.recorded_calls).and_then(|profile| {
            seccomp.recorded = profile
                .syscalls
                .first()
                .map(|r| r.names.clone())
                .unwrap_or_default();
            if passed {
                write_profile(path, &profile)
            } else {
                Ok(())
            }
        });
        match written {
            Err(e) if passed => {
                report.outcome = Outcome::SetupFailed(SetupFailure {
                    step: "write the recorded seccomp profile".into(),
                    errno: None,
                    detail: e.to_string(),
                })
            }
            Err(e) => report.notes.push(e.to_string()),
            Ok(()) if !passed => report.notes.push(format!(
                "seccomp record: the test did not pass, {} was not written",
                path.display()
            )),
            Ok(()) => {}
        }
    }
}
