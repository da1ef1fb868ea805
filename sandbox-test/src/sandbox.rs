//! `Sandbox`: the options of one sandbox, and `run`, which runs a function in it.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use crate::body::{self, TestBody};
use crate::filesystem::Workdir;
use crate::outcome::{Report, SetupFailure};
use crate::plan::Plan;
use crate::supervisor;
use crate::time::TimeTravel;

/// The sandbox a test runs in. `#[sandboxed(...)]` builds one from its arguments; tests
/// can build one themselves and [`run`](Sandbox::run) a function in it to look at the
/// [`Report`] instead of failing.
///
/// ```no_run
/// use sandbox_test::{Outcome, Sandbox};
///
/// fn body() {
///     panic!("inside");
/// }
///
/// let report = Sandbox::new().timeout(std::time::Duration::from_secs(5)).run(body);
/// assert!(matches!(report.outcome, Outcome::Panicked { .. }));
/// ```
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub(crate) timeout: Duration,
    pub(crate) hostname: String,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) clear_env: bool,
    pub(crate) workdir: Workdir,
    /// The seccomp policy (see `seccomp/builder.rs` for its options).
    pub(crate) seccomp: crate::seccomp::Policy,
    pub(crate) net: crate::net::NetMode,
    pub(crate) fs: crate::filesystem::isolation::FsIsolation,
    pub(crate) limits: crate::limits::Limits,
    pub(crate) time: TimeTravel,
    /// Options that were refused; `run` reports the first without starting anything.
    pub(crate) invalid: Vec<String>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            timeout: Self::DEFAULT_TIMEOUT,
            hostname: "sandbox".to_owned(),
            env: Vec::new(),
            clear_env: false,
            workdir: Workdir::Inherit,
            seccomp: crate::seccomp::Policy::Baseline,
            net: Default::default(),
            fs: Default::default(),
            limits: Default::default(),
            time: TimeTravel::new(),
            invalid: Vec::new(),
        }
    }
}

impl Sandbox {
    /// How long a body may run unless `timeout` says otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// The default sandbox: every namespace, `lo` up, a private /tmp, hostname `sandbox`.
    pub fn new() -> Self {
        Self::default()
    }

    /// At expiry every process of the sandbox is killed and the outcome is `TimedOut`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The hostname inside (default `sandbox`).
    pub fn hostname(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if let Err(why) = crate::spec::hostname::check_hostname(&name) {
            self.invalid.push(why);
        }
        self.hostname = name;
        self
    }

    /// Sets a variable in the body's environment (the value is taken now, in the parent).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The body sees only the variables given with [`env`](Sandbox::env).
    pub fn clear_env(mut self) -> Self {
        self.clear_env = true;
        self
    }

    /// The body starts in a fresh directory of the sandbox's private /tmp, gone with it.
    pub fn workdir_temp(mut self) -> Self {
        self.workdir = Workdir::Temp;
        self
    }

    /// The body starts in this existing absolute directory.
    pub fn workdir(mut self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        if let Err(why) = crate::spec::path::parse_absolute_path(&path.to_string_lossy()) {
            self.invalid.push(format!("workdir: {why}"));
        }
        self.workdir = Workdir::Path(path);
        self
    }

    /// Runs `body` in a fresh sandbox and reports what happened. Never panics because of
    /// the body; the body never runs outside a sandbox.
    pub fn run<R: TestBody>(&self, body: fn() -> R) -> Report {
        match self.plan(body) {
            Ok(plan) => {
                let mut report = supervisor::supervise(&plan, self.timeout);
                crate::seccomp::builder::conclude(&self.seccomp, &mut report);
                if let Err(why) = crate::limits::release(&plan.limits) {
                    report.notes.push(why);
                }
                report
            }
            Err(failure) => Report::setup_failed(failure),
        }
    }

    /// Everything the sandbox's processes need, decided here in the parent.
    fn plan<R: TestBody>(&self, body: fn() -> R) -> Result<Plan, SetupFailure> {
        if let Some(why) = self.invalid.first() {
            return Err(SetupFailure {
                step: "check the sandbox's options".into(),
                errno: None,
                detail: why.clone(),
            });
        }
        let (entry, body) = body::addresses(body);
        let mut env: Vec<(OsString, OsString)> = if self.clear_env {
            Vec::new()
        } else {
            std::env::vars_os().collect()
        };
        for (key, value) in &self.env {
            env.retain(|(k, _)| k != key);
            env.push((key.clone(), value.clone()));
        }
        let time = self.time.plan().map_err(|why| SetupFailure {
            step: "resolve the time travel".into(),
            errno: None,
            detail: why.to_string(),
        })?;
        let limits = crate::limits::enforcement(&self.limits).map_err(|detail| SetupFailure {
            step: "create the sandbox's cgroup".into(),
            errno: None,
            detail,
        })?;
        Ok(Plan {
            entry,
            body,
            hostname: self.hostname.clone(),
            env,
            workdir: self.workdir.clone(),
            seccomp: crate::seccomp::builder::plan_filter(&self.seccomp)?,
            net: self.net,
            fs: self.fs.resolve(),
            limits,
            time,
        })
    }
}
