//! Run each test in a real Linux sandbox.
//!
//! `#[sandboxed]` on a test runs its body in a forked child with fresh user, pid, mount,
//! uts, ipc, net and cgroup namespaces (and a time namespace when it moves the monotonic or
//! boottime clock), a private `/tmp`, a private network with only `lo`, no capabilities,
//! `no_new_privs` and a seccomp filter, and brings the verdict back to the libtest harness.
//! No custom harness, no root: plain `cargo test` and `cargo nextest run`, on Linux 5.3 or
//! later.
//!
//! # Quick start
//!
//! Add the crate as a dev-dependency (`cargo add --dev sandbox-test`) and put the attribute
//! on a test:
//!
//! ```no_run
//! use sandbox_test::sandboxed;
//!
//! #[sandboxed(timeout = "10s", hostname = "box")]
//! fn sees_its_own_hostname_and_pid() {
//!     let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
//!     assert_eq!(hostname.trim(), "box");
//!     assert_eq!(std::process::id(), 2); // pid 1 is the sandbox's init
//! }
//! # fn main() {}
//! ```
//!
//! `cargo test` runs it like any test. `#[sandboxed]` adds `#[test]` unless a test attribute
//! is already there (`#[test]`, `#[tokio::test]`: the runtime then runs inside the sandbox,
//! `#[rstest]` with `#[case]`s: one sandbox per case). `#[should_panic(expected = "...")]`
//! matches the panic from inside, `#[ignore]` works, and a body returning `Result<(), E>`
//! fails with the `Err`'s `Debug`. What the sandbox writes to stdout and stderr
//! (subprocesses included) is replayed into the test's output.
//!
//! The body starts in the calling test's current directory (cargo's package root), with the
//! test's environment, unless `workdir`, `env` or `clear_env` say otherwise.
//!
//! # Options
//!
//! | option | meaning |
//! | --- | --- |
//! | `timeout = "30s"` | kill every process of the sandbox after this long (default 60s; `ms`, `s`, `m`, `h`) |
//! | `hostname = "name"` | the uts hostname inside (default `sandbox`) |
//! | `env(KEY = expr, ...)`, `clear_env` | set variables (each `expr` evaluated in the parent); start from an empty environment |
//! | `workdir = "temp"` or `workdir = "/abs/path"` | where the body starts: a fresh directory of the private `/tmp`, or that directory |
//! | `time(realtime = "...", freeze, monotonic = "...", boottime = "...")` | [time travel](#time-travel) |
//! | `net = "loopback" \| "none" \| "host"` | the [network](#isolation) |
//! | `readonly_root`, `writable = [...]`, `hide = [...]`, `bind = ["/host:/inside[:ro]"]` | the [filesystem](#isolation) |
//! | `memory = "256M"`, `pids = 64`, `cpu = "10s"`, `files = 256` | [resource limits](#isolation) |
//! | `seccomp(deny = [...] \| allow = [...] \| profile = "x.json" \| record = "x.json", on_violation = "...", errno = "...")`, `seccomp = "off"` | [which syscalls the body may make](#seccomp) |
//!
//! A bad argument is a compile error that points at it.
//!
//! # The programmatic API
//!
//! [`Sandbox`] has every option as a typed builder method and returns a [`Report`] (the
//! [`Outcome`] plus the captured [`Output`]s) instead of failing, so a test can assert how
//! a body ended. The body is a plain `fn` (not a closure: it runs in a fork of the test
//! binary, reached by its address); pass data in with [`Sandbox::env`].
//!
//! ```no_run
//! use std::time::Duration;
//! use sandbox_test::{NetMode, Outcome, Sandbox};
//!
//! fn loops() {
//!     loop {}
//! }
//!
//! fn prints() {
//!     println!("hello from pid {}", std::process::id());
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let report = Sandbox::new().timeout(Duration::from_millis(500)).run(loops);
//! assert!(matches!(report.outcome, Outcome::TimedOut { .. }));
//!
//! let report = Sandbox::new()
//!     .hostname("box")?
//!     .net(NetMode::None)
//!     .memory(256 << 20)?
//!     .run(prints);
//! report.assert_passed();
//! assert_eq!(report.stdout.to_string(), "hello from pid 2\n");
//! # Ok(())
//! # }
//! ```
//!
//! A value that can be wrong makes its method return a `Result` ([`OptionError`],
//! [`seccomp::SeccompError`], [`TimeSpecError`]), so a mistake is reported by the call
//! that made it, never by [`Sandbox::run`].
//!
//! # Time travel
//!
//! Move the wall clock (an instant, frozen or ticking, or a shift from the real date) and
//! the clocks that count from boot (time-namespace offsets of `CLOCK_MONOTONIC` and
//! `CLOCK_BOOTTIME`), for one test, without changing the code under test:
//!
//! ```no_run
//! use std::time::{Duration, UNIX_EPOCH};
//! use sandbox_test::{sandboxed, Sandbox, Shift, TimeTravel};
//!
//! #[sandboxed(time(realtime = "2038-01-19T03:14:08Z"))]
//! fn survives_2038() {
//!     let now = std::time::SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
//!     assert!(now.as_secs() > i32::MAX as u64);
//! }
//!
//! fn body() {}
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let leap_day = UNIX_EPOCH + Duration::from_secs(1_835_481_599); // 2028-02-29T23:59:59Z
//! let travel = TimeTravel::new()
//!     .frozen_at(leap_day)?
//!     .boottime(Duration::from_secs(497 * 86_400))?;
//! Sandbox::new().time(travel).run(body).assert_passed();
//!
//! let later = TimeTravel::new().realtime(Shift::Forward(Duration::from_secs(400 * 86_400)))?;
//! Sandbox::new().time(later).run(body).assert_passed();
//! # Ok(())
//! # }
//! ```
//!
//! With `realtime`, the body can move the wall clock of every process of its sandbox again
//! while it runs: see [`clock`].
//!
//! The test binary reads the moved wall clock through `clock_gettime`, `gettimeofday`,
//! `time` and `timespec_get`, which it exports (so `SystemTime::now()`, chrono and libc
//! callers see it); programs the body executes see it through a small clock library of
//! this crate, preloaded with `LD_PRELOAD` (built by the crate's build script, no system
//! package). The kernel never virtualizes `CLOCK_REALTIME`, so some deadlines and file
//! times stay real: the README's "What time travel cannot move" lists them.
//!
//! # Isolation
//!
//! - Network: `net = "loopback"` (default: a private namespace with `lo` up, so tests can
//!   bind the same port at once), `"none"` (nothing up), `"host"` (the host's network).
//! - Filesystem: `/tmp` is always a private tmpfs. `readonly_root` makes every mount
//!   read-only except `/tmp`, `/proc`, the working directory, `writable = [...]` and
//!   read-write binds; `hide = [...]` puts an empty tmpfs (or `/dev/null`) over paths;
//!   `bind = ["/host:/inside:ro"]` brings host paths in.
//! - Limits: `memory`, `pids`, `cpu`, `files`, enforced by a delegated cgroup v2 when the
//!   test process has one, by rlimits otherwise; when one is why the body died, the
//!   outcome is [`Outcome::LimitExceeded`] with the evidence.
//!
//! ```no_run
//! use sandbox_test::sandboxed;
//!
//! #[sandboxed(net = "none", readonly_root, writable = ["/var/cache/app"], memory = "256M", pids = 64)]
//! fn stays_inside() {
//!     assert!(std::fs::write("/etc/owned", "x").is_err());
//!     assert!(std::net::TcpStream::connect("1.1.1.1:443").is_err());
//! }
//! # fn main() {}
//! ```
//!
//! # Seccomp
//!
//! Every sandbox loads a baseline filter (escape-class calls fail with `EPERM`, only the
//! native architecture's syscalls run). `seccomp(deny = [...])` and
//! `seccomp(allow = [...])` take syscall names and systemd's `@groups`;
//! `on_violation = "fail"` (default) ends the test with the call, its arguments and a
//! symbolized backtrace, `"errno"` makes the call fail and goes on, `"kill"` kills the
//! body. `profile = "x.json"` loads a Docker/OCI profile; `record = "x.json"` writes the
//! minimal allowlist profile the body needed.
//!
//! ```no_run
//! use sandbox_test::seccomp::{OnViolation, Rules};
//! use sandbox_test::{sandboxed, Errno, Sandbox};
//!
//! #[sandboxed(seccomp(deny = ["@network-io", "ptrace"]))]
//! fn parser_never_touches_the_network() { /* ... */ }
//!
//! fn mounts() {
//!     let (none, target) = (c"none".as_ptr(), c"/mnt".as_ptr());
//!     // SAFETY: plain mount(2) with valid strings.
//!     let result = unsafe { libc::mount(none, target, c"tmpfs".as_ptr(), 0, std::ptr::null()) };
//!     assert_eq!(result, -1);
//!     assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EACCES));
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rules = Rules::new(["@mount"])?.on_violation(OnViolation::Errno(Errno::EACCES));
//! let report = Sandbox::new().seccomp_deny(rules)?.run(mounts);
//! for violation in &report.seccomp.violations {
//!     println!("refused: {}", violation.syscall);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Hosts that cannot run sandboxes
//!
//! When user namespaces are unavailable (`kernel.unprivileged_userns_clone = 0`,
//! `user.max_user_namespaces = 0`, Ubuntu's AppArmor restriction, a container's seccomp
//! profile), or the kernel lacks what an option needs (time namespaces for `monotonic` and
//! `boottime`, say), a sandboxed test fails with [`Outcome::Unsupported`]: one message
//! naming the cause and the fix. `SANDBOX_TEST_UNSUPPORTED=skip` turns that into a
//! pass that prints `skipped: <reason>`. The body never runs unsandboxed.
//!
//! # Coverage
//!
//! `cargo llvm-cov` counts the lines that run inside sandboxes: each sandbox process sends
//! its coverage counts to the test process as it leaves, and the test process writes them
//! into its own profile. Nothing is written inside the sandbox, so this works under
//! `readonly_root`, a private `/tmp` and any seccomp filter, and uninstrumented builds do
//! nothing of the kind. See the README's "Coverage" section.
//!
//! # How it works
//!
//! A constructor forks a *fork server* before `main`. Each sandboxed test sends it a plan;
//! it forks the sandbox's first process, which creates the namespaces and forks the init
//! (pid 1), which mounts `/proc` and `/tmp`, sets the hostname, brings up `lo` and forks the
//! body (pid 2), which drops its privileges, loads the seccomp filter and calls the test
//! function by address. The verdict comes back on a socket; the test thread enforces the
//! timeout.

#![warn(missing_docs)]

mod body;
mod capabilities;
mod coverage;
mod filesystem;
mod fork_server;
mod harness;
mod kernel;
mod limits;
mod namespaces;
pub mod net;
mod outcome;
mod plan;
mod process_tree;
mod protocol;
mod sandbox;
pub mod seccomp;
mod setup;
// The option parsers, shared with the macro: `crate::spec::...` is `sandbox_test_spec::...`.
use sandbox_test_spec as spec;
mod step;
mod supervisor;
#[cfg(test)]
mod test_support;
mod time;
mod trace;

pub use body::TestBody;
pub use filesystem::isolation::{HostAccess, HostSocket};
pub use filesystem::Workdir;
pub use limits::attribution::LimitHit;
pub use limits::{LimitKind, Mechanism};
pub use net::NetMode;
pub use nix::errno::Errno;
pub use outcome::{signal_name, ExitStatus, Outcome, Output, Report, SetupFailure};
pub use sandbox::{OptionError, Sandbox};
pub use sandbox_test_macros::sandboxed;
pub use seccomp::inject::{Fault, Inject, Injection, When};
pub use spec::time::TimeSpecError;
pub use time::{clock, Shift, TimeError, TimeTravel, WallTime};

/// Used by the code `#[sandboxed]` generates; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::harness::{env_value, run_test, EnvValue};

    /// Decodes one channel packet as the parent does: `Ok(true)` for a body's pass
    /// verdict, `Ok(false)` for any other message, `Err` for anything else (the property
    /// tests of `tests/security_input.rs` drive it with arbitrary bytes).
    pub fn decode_channel_packet(packet: &[u8]) -> Result<bool, String> {
        use crate::protocol::{decode, Message};
        match decode(packet) {
            Ok(Message::Verdict(crate::outcome::Verdict::Passed)) => Ok(true),
            Ok(_) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The instant `secs` seconds and `nanos` nanoseconds after 1970-01-01T00:00:00Z
    /// (the attribute parses `realtime = "..."` at compile time into these two numbers).
    pub fn unix_instant(secs: i64, nanos: u32) -> std::time::SystemTime {
        crate::spec::time::system_time_from_unix(secs, nanos)
    }
}
