//! Run each test in a real Linux sandbox.
//!
//! `#[sandboxed]` on a test runs its body in a forked child with fresh user, pid, mount,
//! uts, ipc, net and cgroup namespaces (and a time namespace when it moves the monotonic or
//! boottime clock), no capabilities and `no_new_privs`, and brings the verdict back to the
//! libtest harness. See the README for the options. With `time(realtime = ...)` the body
//! can also move the wall clock of every process of its sandbox while it runs: see
//! [`clock`].
//!
//! ```no_run
//! use sandbox_test::sandboxed;
//!
//! #[sandboxed(timeout = "10s", hostname = "box")]
//! fn sees_its_own_hostname() {
//!     assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim(), "box");
//! }
//! ```

mod body;
mod capabilities;
mod filesystem;
mod fork_server;
mod harness;
mod kernel;
mod limits;
mod namespaces;
mod net;
mod outcome;
mod plan;
mod protocol;
mod sandbox;
pub mod seccomp;
mod setup;
// Also compiled into the macro crate, which uses every parser; the runtime uses some.
// Public only for the parser property tests (`tests/security_input.rs`).
#[allow(dead_code)]
#[doc(hidden)]
pub mod spec;
mod step;
mod supervisor;
#[cfg(test)]
mod test_support;
mod time;

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
