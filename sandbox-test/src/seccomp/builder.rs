//! The seccomp options of [`Sandbox`], and what the parent does with them around a run:
//! compile before, judge and record after.

use std::path::{Path, PathBuf};

use super::compile::CompiledFilter;
use super::inject::{Inject, Injection};
use super::policy::{OnViolation, Policy, Rules};
use super::record::write_profile;
use super::report::{SeccompEvent, Violation};
use crate::outcome::{Outcome, Report, SetupFailure};
use crate::sandbox::Sandbox;

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
    /// Every fault `inject(...)` injected, in order.
    pub injected: Vec<Injection>,
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
                SeccompEvent::Injected(raw) => report.injected.push(raw.resolve()),
            }
        }
        (report, trapped)
    }
}

impl Sandbox {
    fn set_seccomp(mut self, policy: Result<Policy, String>) -> Self {
        match policy {
            Ok(policy) => {
                if !matches!(self.seccomp, Policy::Baseline) && self.seccomp != policy {
                    self.invalid.push(
                        "seccomp: give one of deny, allow, profile, record or off".to_owned(),
                    );
                }
                self.seccomp = policy;
            }
            Err(why) => self.invalid.push(format!("seccomp: {why}")),
        }
        self
    }

    fn with_rules(
        mut self,
        what: &str,
        change: impl FnOnce(Rules) -> Result<Rules, String>,
    ) -> Self {
        let rules = match std::mem::take(&mut self.seccomp) {
            Policy::Deny(r) => change(r).map(Policy::Deny),
            Policy::Allow(r) => change(r).map(Policy::Allow),
            other => {
                self.seccomp = other;
                Err(format!("`{what}` needs `deny` or `allow` first"))
            }
        };
        match rules {
            Ok(p) => self.seccomp = p,
            Err(why) => self.invalid.push(format!("seccomp: {why}")),
        }
        self
    }

    /// `seccomp(deny = [...])`: these syscalls and `@groups` are violations; everything
    /// else is allowed. Replaces the baseline.
    pub fn seccomp_deny<S: AsRef<str>>(self, names: &[S]) -> Self {
        let p = Rules::new(names)
            .map(Policy::Deny)
            .map_err(|e| e.to_string());
        self.set_seccomp(p)
    }

    /// `seccomp(allow = [...])`: only these (and the harness's own calls, see
    /// [`crate::seccomp::HARNESS_SYSCALLS`]) are allowed.
    pub fn seccomp_allow<S: AsRef<str>>(self, names: &[S]) -> Self {
        let p = Rules::new(names)
            .map(Policy::Allow)
            .map_err(|e| e.to_string());
        self.set_seccomp(p)
    }

    /// `on_violation = "fail" | "errno" | "kill"`, after `seccomp_deny`/`seccomp_allow`.
    pub fn seccomp_on_violation(self, mode: &str) -> Self {
        self.with_rules("on_violation", |r| {
            r.on_violation(mode).map_err(|e| e.to_string())
        })
    }

    /// The errno name violations return in errno mode (default `EPERM`).
    pub fn seccomp_errno(self, name: &str) -> Self {
        self.with_rules("errno", |r| {
            let r = r.errno(name).map_err(|e| e.to_string())?;
            if r.on_violation == OnViolation::Errno {
                Ok(r)
            } else {
                Err("`errno` needs `on_violation = \"errno\"`".into())
            }
        })
    }

    /// `seccomp(profile = "x.json")`: a Docker/OCI profile, actions honoured as written. A
    /// relative path is taken from `CARGO_MANIFEST_DIR` when cargo set it (the attribute
    /// always passes an absolute path).
    pub fn seccomp_profile(self, path: impl AsRef<Path>) -> Self {
        let path = manifest_relative(path.as_ref());
        self.set_seccomp(Ok(Policy::Profile(path)))
    }

    /// `seccomp(record = "x.json")`: the body runs with every syscall allowed; afterwards a
    /// minimal allowlist profile of what it called is written to the path.
    pub fn seccomp_record(self, path: impl AsRef<Path>) -> Self {
        let path = manifest_relative(path.as_ref());
        self.set_seccomp(Ok(Policy::Record(path)))
    }

    /// `seccomp = "off"`: no filter at all, not even the baseline.
    pub fn seccomp_off(self) -> Self {
        self.set_seccomp(Ok(Policy::Off))
    }

    /// `inject(...)`: a fault for chosen calls; may be given several times (the first rule
    /// whose `when` hits a call wins). Applies only to calls the seccomp policy allows; see
    /// [`crate::seccomp::inject`] for the precedence.
    pub fn inject(mut self, rule: Inject) -> Self {
        if let Err(why) = rule.check() {
            self.invalid.push(format!("{rule}: {why}"));
        }
        self.injections.push(rule);
        self
    }
}

fn manifest_relative(path: &Path) -> PathBuf {
    match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) if path.is_relative() => PathBuf::from(dir).join(path),
        _ => path.to_owned(),
    }
}

/// In the parent, before the run: the policy compiled (cached) for the plan, with the
/// `inject(...)` rules woven in.
pub(crate) fn plan_filter(
    policy: &Policy,
    injections: &[Inject],
) -> Result<Option<CompiledFilter>, SetupFailure> {
    let failure = |step: &str, e: super::SeccompError| SetupFailure {
        step: step.into(),
        errno: None,
        detail: e.to_string(),
    };
    let filter = super::compile(policy)
        .map(|f| f.map(|f| (*f).clone()))
        .map_err(|e| failure("compile the seccomp filter", e))?;
    super::inject::weave(filter, injections).map_err(|e| failure("resolve the injected faults", e))
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
    if let Some(more) = seccomp.injected.len().checked_sub(LISTED_INJECTIONS) {
        if more > 0 {
            report.notes.push(format!(
                "inject: {more} more faults injected (see Report::seccomp)"
            ));
        }
    }
    if let Policy::Record(path) = policy {
        let passed = report.outcome.is_passed();
        let written =
            super::record::recorded_profile(&seccomp.recorded_calls).and_then(|profile| {
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
