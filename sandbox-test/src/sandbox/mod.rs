//! `Sandbox`: the options of one sandbox, and `run`, which runs a function in it.
//!
//! The one place that composes the builder: each concept module exports its option type
//! and its setup steps; the `Sandbox` methods that set an option live here, one submodule
//! per concept (`net`, `limits`, `filesystem`, `seccomp`, `time`). A new option is a
//! field of [`Sandbox`], methods in its concept's submodule, and a field of the `Plan`.
//!
//! Every method takes typed values; a value that can be wrong makes the method return a
//! `Result`, so a bad option is an error at the call that gave it, never at `run`.

mod filesystem;
mod limits;
mod net;
mod seccomp;
mod time;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::body::{self, TestBody};
use crate::filesystem::isolation::FsIsolation;
use crate::filesystem::Workdir;
use crate::limits::Limits;
use crate::net::NetMode;
use crate::outcome::{Report, SetupFailure};
use crate::plan::Plan;
use crate::seccomp::Policy;
use crate::supervisor;
use crate::time::TimeTravel;

/// The sandbox a test runs in. `#[sandboxed(...)]` builds one from its arguments; tests
/// can build one themselves and [`run`](Sandbox::run) a function in it to look at the
/// [`Report`] instead of failing.
///
/// Each option is a method taking a typed value. Methods whose value can be wrong (a
/// relative path, a zero limit, an unknown syscall) return a `Result`, so the error is
/// reported where the option was given.
///
/// ```no_run
/// use std::time::Duration;
///
/// use sandbox_test::seccomp::{OnViolation, Rules};
/// use sandbox_test::{Errno, NetMode, Outcome, Sandbox};
///
/// fn body() {
///     panic!("inside");
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let report = Sandbox::new()
///     .timeout(Duration::from_secs(5))
///     .hostname("box")?
///     .net(NetMode::None)
///     .readonly_root()
///     .memory(256 << 20)?
///     .seccomp_deny(Rules::new(["mount"])?.on_violation(OnViolation::Errno(Errno::EACCES)))?
///     .run(body);
/// assert!(matches!(report.outcome, Outcome::Panicked { .. }));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Sandbox {
    timeout: Duration,
    /// `None`: [`Sandbox::HOSTNAME`].
    hostname: Option<String>,
    /// `net(hosts = [...])`; empty: one host.
    hosts: Vec<String>,
    env: Vec<(OsString, OsString)>,
    clear_env: bool,
    workdir: Workdir,
    seccomp: Policy,
    /// `inject(...)` rules, in order.
    injections: Vec<crate::seccomp::inject::Inject>,
    net: NetMode,
    fs: FsIsolation,
    limits: Limits,
    time: TimeTravel,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            timeout: Self::DEFAULT_TIMEOUT,
            hostname: None,
            hosts: Vec::new(),
            env: Vec::new(),
            clear_env: false,
            workdir: Workdir::Inherit,
            seccomp: Policy::Baseline,
            injections: Vec::new(),
            net: NetMode::default(),
            fs: FsIsolation::default(),
            limits: Limits::default(),
            time: TimeTravel::new(),
        }
    }
}

/// An option value a [`Sandbox`] method refused: which option, and why.
///
/// ```
/// use sandbox_test::Sandbox;
///
/// let error = Sandbox::new().hostname("no spaces").unwrap_err();
/// assert_eq!(error.option(), "hostname");
/// assert!(error.to_string().starts_with("hostname: "));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    option: &'static str,
    reason: String,
}

impl OptionError {
    pub(crate) fn new(option: &'static str, reason: impl fmt::Display) -> Self {
        OptionError {
            option,
            reason: reason.to_string(),
        }
    }

    /// The option, as the attribute spells it (`hostname`, `workdir`, `memory`, ...).
    pub fn option(&self) -> &str {
        self.option
    }

    /// Why the value was refused, for a person.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option, self.reason)
    }
}

impl std::error::Error for OptionError {}

impl Sandbox {
    /// The hostname inside unless [`hostname`](Sandbox::hostname) says otherwise.
    pub const HOSTNAME: &'static str = "sandbox";

    /// How long a body may run unless [`timeout`](Sandbox::timeout) says otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// The default sandbox: every namespace, `lo` up, a private /tmp, hostname `sandbox`,
    /// the baseline seccomp filter, a timeout of [`DEFAULT_TIMEOUT`](Sandbox::DEFAULT_TIMEOUT).
    ///
    /// ```no_run
    /// use sandbox_test::Sandbox;
    ///
    /// fn body() {
    ///     assert_eq!(std::process::id(), 2);
    /// }
    ///
    /// Sandbox::new().run(body).assert_passed();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// At expiry every process of the sandbox is killed and the outcome is
    /// [`TimedOut`](crate::Outcome::TimedOut) (`timeout = "10s"`).
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use sandbox_test::{Outcome, Sandbox};
    ///
    /// fn hangs() {
    ///     std::thread::sleep(Duration::from_secs(3600));
    /// }
    ///
    /// let report = Sandbox::new().timeout(Duration::from_secs(1)).run(hangs);
    /// assert!(matches!(report.outcome, Outcome::TimedOut { .. }));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The hostname inside (default `sandbox`; `hostname = "box"`). A name the kernel
    /// would not take (empty, longer than 64 bytes, with a NUL, `/` or white space) is an
    /// [`OptionError`].
    ///
    /// ```
    /// use sandbox_test::Sandbox;
    ///
    /// assert!(Sandbox::new().hostname("box").is_ok());
    /// assert!(Sandbox::new().hostname("no spaces").is_err());
    /// ```
    pub fn hostname(mut self, name: impl Into<String>) -> Result<Self, OptionError> {
        let name = name.into();
        crate::spec::hostname::check_hostname(&name)
            .map_err(|why| OptionError::new("hostname", why))?;
        self.hostname = Some(name);
        Ok(self)
    }

    /// Sets a variable in the body's environment (the value is taken now, in the parent;
    /// `env(KEY = "value")`). A later call for the same key wins.
    ///
    /// ```
    /// use sandbox_test::Sandbox;
    ///
    /// let sandbox = Sandbox::new().env("RUST_LOG", "debug");
    /// # let _ = sandbox;
    /// ```
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The body sees only the variables given with [`env`](Sandbox::env) (`clear_env`).
    pub fn clear_env(mut self) -> Self {
        self.clear_env = true;
        self
    }

    /// The body starts in a fresh directory of the sandbox's private /tmp, gone with it
    /// (`workdir = "temp"`).
    pub fn workdir_temp(mut self) -> Self {
        self.workdir = Workdir::Temp;
        self
    }

    /// The body starts in this existing directory (`workdir = "/path"`). A path that is
    /// not absolute, or contains `..`, is an [`OptionError`].
    ///
    /// ```
    /// use sandbox_test::Sandbox;
    ///
    /// assert!(Sandbox::new().workdir("/srv/data").is_ok());
    /// assert!(Sandbox::new().workdir("data").is_err());
    /// ```
    pub fn workdir(mut self, path: impl Into<PathBuf>) -> Result<Self, OptionError> {
        self.workdir = Workdir::Path(absolute("workdir", path.into())?);
        Ok(self)
    }

    /// Runs `body` in a fresh sandbox and reports what happened. Never panics because of
    /// the body; the body never runs outside a sandbox. Its output is in the report only.
    pub fn run<R: TestBody>(&self, body: fn() -> R) -> Report {
        self.run_with(body, false)
    }

    /// `run`, the sandbox's output also written into the test's output as it arrives
    /// (what `#[sandboxed]` does).
    pub(crate) fn run_live<R: TestBody>(&self, body: fn() -> R) -> Report {
        self.run_with(body, true)
    }

    fn run_with<R: TestBody>(&self, body: fn() -> R, live: bool) -> Report {
        match self.plan(body) {
            Ok(plan) => {
                let mut report = supervisor::supervise(&plan, self.timeout, live);
                seccomp::conclude(&self.seccomp, &mut report);
                if let Err(why) = crate::limits::release(&plan.limits) {
                    report.notes.push(why);
                }
                report
            }
            Err(failure) => Report::setup_failed(failure),
        }
    }

    /// The directory the body starts in, resolved now: the caller's current one unless
    /// `workdir` says otherwise. One that `hide` covers is refused here, before anything
    /// starts, rather than failing inside.
    fn workdir_at_run_time(&self) -> Result<Workdir, SetupFailure> {
        let workdir = self.workdir.at_run_time().map_err(|e| SetupFailure {
            step: "find the test's current directory".into(),
            errno: e.raw_os_error(),
            detail: e.to_string(),
        })?;
        match &workdir {
            Workdir::Path(path) if self.fs.is_hidden(path) => Err(SetupFailure {
                step: "check the working directory".into(),
                errno: None,
                detail: format!(
                    "the body would start in {}, which `hide` covers: hide less, or give \
                     `workdir` (e.g. `workdir = \"temp\"`)",
                    path.display()
                ),
            }),
            _ => Ok(workdir),
        }
    }

    /// Everything the sandbox's processes need, decided here in the parent.
    fn plan<R: TestBody>(&self, body: fn() -> R) -> Result<Plan, SetupFailure> {
        crate::net::check_hosts_fit(&self.hosts, self.net, self.hostname.is_some()).map_err(
            |detail| SetupFailure {
                step: "check the sandbox's options".into(),
                errno: None,
                detail,
            },
        )?;
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
        let workdir = self.workdir_at_run_time()?;
        Ok(Plan {
            entry,
            body,
            hostname: self
                .hostname
                .clone()
                .unwrap_or_else(|| Self::HOSTNAME.to_owned()),
            hosts: self.hosts.clone(),
            env: body::environment_for_plan(env),
            seccomp: seccomp::plan_filter(&self.seccomp, &self.injections)?,
            net: self.net,
            fs: self.fs.resolve(&self.workdir, &workdir),
            workdir,
            limits,
            time,
            trace: crate::trace::enabled(),
        })
    }
}

/// `path` checked absolute and without `..`, normalized; the error names the option.
fn absolute(option: &'static str, path: PathBuf) -> Result<PathBuf, OptionError> {
    let text = path.to_str().ok_or_else(|| {
        OptionError::new(
            option,
            format!("{} is not valid UTF-8", path.to_string_lossy()),
        )
    })?;
    crate::spec::path::parse_absolute_path(text).map_err(|why| OptionError::new(option, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() {}

    /// Runs `body` in `sandbox`, traced or not, asserts it passed, and returns the trace.
    fn run_traced(sandbox: Sandbox, body: fn(), trace: bool) -> Option<Vec<(String, u64)>> {
        let mut plan = sandbox.plan(body).unwrap();
        plan.trace = trace;
        let (report, points) = supervisor::supervise_traced(&plan, Sandbox::DEFAULT_TIMEOUT, false);
        report.assert_passed();
        points
    }

    fn traced(trace: bool) -> Option<Vec<(String, u64)>> {
        run_traced(Sandbox::new(), empty, trace)
    }

    /// Whether a traced, passing run of `body` in `sandbox` went through the step `point`.
    fn went_through(sandbox: Sandbox, body: fn(), point: &str) -> bool {
        run_traced(sandbox, body, true)
            .expect("a traced plan brings its points back")
            .iter()
            .any(|(name, _)| name == point)
    }

    #[test]
    fn a_traced_sandbox_times_every_process_s_steps_in_order() {
        let points = traced(true).expect("a traced plan brings its points back");
        let names: Vec<&str> = points.iter().map(|(name, _)| name.as_str()).collect();
        // A first process forked for the request creates the namespaces and forks the
        // init; one the fork server prepared ahead (after an earlier sandbox of this
        // process) had done both, and its init, its steps before the plan (/proc among
        // them), takes the request.
        let fresh = names.contains(&"fork server: fork the first process");
        // A prepared init forked its body before the request too, which then takes it.
        let (first, body) = match fresh {
            true => ("fork the init", "fork the body"),
            false => (
                "prepared init: take the request",
                "waiting body: take the start",
            ),
        };
        if fresh {
            assert!(names.contains(&"unshare namespaces"), "{names:?}");
        }
        for point in [
            first,
            "read the plan",
            "mount a private /tmp",
            body,
            "load the seccomp filter",
            "test thread: heard the verdict",
            "test thread: verdict",
        ] {
            assert!(names.contains(&point), "no {point:?} in {names:?}");
        }
        let position = |name: &str| names.iter().position(|n| *n == name).unwrap();
        assert!(position(first) < position("mount a private /tmp"));
        assert!(position("mount a private /tmp") < position(body));
        assert!(position(body) < position("load the seccomp filter"));
        let sandbox: Vec<u64> = points
            .iter()
            .filter(|(name, _)| !name.starts_with("test thread"))
            .map(|(_, at)| *at)
            .collect();
        assert!(sandbox.windows(2).all(|w| w[0] <= w[1]), "{points:?}");
    }

    const LEFT: &str = "/tmp/left-by-the-previous-sandbox";
    const SHM_KEY: libc::key_t = 0x5eed;

    fn leaves_state_behind() {
        std::fs::write(LEFT, "x").unwrap();
        // A System V shared memory segment: it outlives its creator in the IPC namespace.
        // SAFETY: plain shmget.
        assert!(unsafe { libc::shmget(SHM_KEY, 4096, libc::IPC_CREAT | 0o600) } >= 0);
        // A listener in the sandbox's network namespace, left open.
        let listener = std::net::TcpListener::bind("127.0.0.1:4711").unwrap();
        std::mem::forget(listener);
    }

    fn finds_nothing_left() {
        assert!(
            !std::path::Path::new(LEFT).exists(),
            "{LEFT} is still there"
        );
        // SAFETY: plain shmget.
        assert_eq!(
            unsafe { libc::shmget(SHM_KEY, 0, 0) },
            -1,
            "the segment is there"
        );
        let connected = std::net::TcpStream::connect("127.0.0.1:4711");
        assert!(
            connected.is_err(),
            "the previous sandbox's listener answers"
        );
    }

    /// The fork server prepares a first process with fresh namespaces and its init after a
    /// sandbox of this process, and hands the init the next request: it carries nothing of
    /// the sandbox before (each prepared process takes one request).
    #[test]
    fn a_prepared_first_process_carries_nothing_of_the_previous_sandbox() {
        Sandbox::new().run(leaves_state_behind).assert_passed();
        for _ in 0..50 {
            // Time for the prepared process to create its namespaces.
            std::thread::sleep(std::time::Duration::from_millis(20));
            if went_through(
                Sandbox::new(),
                finds_nothing_left,
                "prepared init: take the request",
            ) {
                return;
            }
            // Another test of this process took the prepared one: another round.
            Sandbox::new().run(leaves_state_behind).assert_passed();
        }
        panic!("no request went to a prepared first process");
    }

    /// Whether a TCP connection to a listener on 127.0.0.1 works: `lo` is up.
    fn loopback_works() -> bool {
        let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
            return false;
        };
        std::net::TcpStream::connect(listener.local_addr().unwrap()).is_ok()
    }

    fn expects_loopback_up() {
        assert!(
            loopback_works(),
            "lo is down in a net = \"loopback\" sandbox"
        );
    }

    fn expects_loopback_down() {
        assert!(!loopback_works(), "lo is up in a net = \"none\" sandbox");
    }

    /// `net = "loopback"` and `net = "none"` unshare the same namespaces, but a prepared
    /// init brings `lo` up before the plan only for the first: each kind is prepared and
    /// taken apart, and a `none` sandbox never gets an init prepared for `loopback`.
    #[test]
    fn prepared_inits_serve_only_plans_of_their_own_preparation() {
        let mut prepared = 0;
        for round in 0..40 {
            std::thread::sleep(std::time::Duration::from_millis(5));
            let (mode, body): (_, fn()) = match round % 2 {
                0 => (NetMode::Loopback, expects_loopback_up),
                _ => (NetMode::None, expects_loopback_down),
            };
            let took_prepared = went_through(
                Sandbox::new().net(mode),
                body,
                "prepared init: take the request",
            );
            prepared += usize::from(took_prepared && mode == NetMode::None);
        }
        assert!(
            prepared > 0,
            "no net = \"none\" request went to a prepared init"
        );
    }

    const THOUSAND_DAYS: u64 = 1000 * 86_400;

    /// The body reads the moved clocks through the vDSO and through /proc/uptime.
    fn sees_a_thousand_days_of_uptime() {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec into a local.
        unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) };
        assert!(
            now.tv_sec as u64 >= THOUSAND_DAYS,
            "boottime {}s",
            now.tv_sec
        );
        let uptime = std::fs::read_to_string("/proc/uptime").unwrap();
        let seconds: f64 = uptime.split(' ').next().unwrap().parse().unwrap();
        assert!(
            seconds >= THOUSAND_DAYS as f64,
            "/proc/uptime says {uptime}"
        );
    }

    /// A body its prepared init forked before the request enters the time namespace the
    /// init unshares for the plan: the offsets hold for it as for a body forked after.
    #[test]
    fn a_body_forked_before_its_request_enters_the_time_namespace() {
        let travel = crate::TimeTravel::new()
            .boottime(std::time::Duration::from_secs(THOUSAND_DAYS))
            .unwrap();
        let mut waited = 0;
        for _ in 0..40 {
            std::thread::sleep(std::time::Duration::from_millis(5));
            waited += usize::from(went_through(
                Sandbox::new().time(travel),
                sees_a_thousand_days_of_uptime,
                "waiting body: take the start",
            ));
        }
        assert!(waited > 0, "no body was forked before its request");
    }

    #[test]
    fn an_untraced_sandbox_records_nothing() {
        assert_eq!(traced(false), None);
    }
}
