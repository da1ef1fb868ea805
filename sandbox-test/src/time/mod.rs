//! Time travel: the time-namespace offsets, the interposed wall clock of the test process
//! and libfaketime for the programs it executes.
//!
//! - [`TimeTravel`] is what a test asks for; the parent resolves it into a [`TimePlan`].
//! - [`namespace::write_namespace_offsets`] moves CLOCK_MONOTONIC and CLOCK_BOOTTIME for
//!   every process of the sandbox (the kernel's time namespace).
//! - [`install_wall_clock`] moves CLOCK_REALTIME in the body process (the kernel cannot)
//!   and checks that it is in effect; it also prepares libfaketime for subprocesses.
//!
//! Limits: absolute CLOCK_REALTIME deadlines handed to the kernel other than through
//! `clock_nanosleep`, `sem_timedwait` and `pthread_mutex_timedlock` (`pthread_cond_timedwait`,
//! whose clock is hidden in the condition variable, timerfd, POSIX timers) count in real
//! time; file times stay real; code that reads the vDSO or the TSC itself
//! or makes the `clock_gettime` syscall directly reads the real wall clock, and so do
//! glibc's internal clock reads.

pub(crate) mod faketime;
pub(crate) mod namespace;
pub(crate) mod wall_clock;

use std::fmt;

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

use crate::sandbox::Sandbox;
use crate::setup::StepError;
use crate::spec::time::{
    check_instant_range, parse_namespace_offset, parse_realtime, NamespaceClock, Realtime,
    TimeSpecError, MAX_NAMESPACE_CLOCK_SECS,
};
use namespace::NamespaceOffsets;
use wall_clock::{Timespec, Travel};

/// How a sandboxed test moves its clocks.
///
/// ```
/// use sandbox_test::TimeTravel;
/// # fn main() -> Result<(), sandbox_test::TimeSpecError> {
/// let y2038 = TimeTravel::new().realtime("2038-01-19T03:14:08Z")?;
/// let leap_day = TimeTravel::new().frozen_at("2028-02-29T23:59:59Z")?;
/// let later = TimeTravel::new().realtime("+400d")?;
/// let uptime = TimeTravel::new().monotonic("+49d17h")?.boottime("+497d")?;
/// # let _ = (y2038, leap_day, later, uptime);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeTravel {
    realtime: Option<Realtime>,
    frozen: bool,
    offsets: NamespaceOffsets,
}

impl TimeTravel {
    /// No travel: every clock reads as on the host.
    pub fn new() -> Self {
        Self::default()
    }

    /// The wall clock reads `value` when the body starts and ticks on: an RFC 3339
    /// instant (`"2038-01-19T03:14:08Z"`) or a signed offset from the real wall clock
    /// (`"+3650d"`, `"-90m"`, `"+1y2d"`).
    pub fn realtime(mut self, value: &str) -> Result<Self, TimeSpecError> {
        self.realtime = Some(parse_realtime(value)?);
        self.frozen = false;
        Ok(self)
    }

    /// The wall clock stands still at `value` (an instant or an offset, as for
    /// [`TimeTravel::realtime`]).
    pub fn frozen_at(mut self, value: &str) -> Result<Self, TimeSpecError> {
        self.realtime = Some(parse_realtime(value)?);
        self.frozen = true;
        Ok(self)
    }

    /// Moves CLOCK_MONOTONIC forward by `value` (`"+49d17h"`) in every process of the
    /// sandbox.
    pub fn monotonic(mut self, value: &str) -> Result<Self, TimeSpecError> {
        self.offsets.monotonic = parse_namespace_offset(NamespaceClock::Monotonic, value)?;
        Ok(self)
    }

    /// Moves CLOCK_BOOTTIME (and `/proc/uptime`) forward by `value` (`"+497d"`) in every
    /// process of the sandbox.
    pub fn boottime(mut self, value: &str) -> Result<Self, TimeSpecError> {
        self.offsets.boottime = parse_namespace_offset(NamespaceClock::Boottime, value)?;
        Ok(self)
    }

    /// Resolves the travel in the parent, at run time: a frozen relative offset becomes
    /// the instant it names now.
    pub(crate) fn plan(&self) -> Result<TimePlan, TimeSpecError> {
        let wall_clock = match (self.realtime, self.frozen) {
            (None, _) => None,
            (Some(Realtime::At(instant)), frozen) => {
                let Timespec { secs, nanos } = Timespec::from_system_time(instant);
                check_instant_range(secs)?;
                Some(if frozen {
                    WallClock::Frozen { secs, nanos }
                } else {
                    WallClock::StartAt { secs, nanos }
                })
            }
            (Some(Realtime::Offset(offset)), frozen) => {
                let now = wall_clock::real_now();
                let Timespec { secs, nanos } = now.plus(Timespec {
                    secs: offset,
                    nanos: 0,
                });
                check_instant_range(secs)?;
                Some(if frozen {
                    WallClock::Frozen { secs, nanos }
                } else {
                    WallClock::Shift { secs: offset }
                })
            }
        };
        Ok(TimePlan {
            wall_clock,
            monotonic_secs: self.offsets.monotonic.as_secs(),
            boottime_secs: self.offsets.boottime.as_secs(),
        })
    }
}

/// The wall clock of the body, resolved in the parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WallClock {
    /// Reads this instant when the body starts, and ticks on.
    StartAt { secs: i64, nanos: u32 },
    /// Reads the real wall clock plus `secs`.
    Shift { secs: i64 },
    /// Stands still at this instant.
    Frozen { secs: i64, nanos: u32 },
}

/// The part of the plan that moves clocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TimePlan {
    pub wall_clock: Option<WallClock>,
    pub monotonic_secs: u64,
    pub boottime_secs: u64,
}

impl TimePlan {
    /// Whether the sandbox needs a time namespace: only to move the monotonic or boottime
    /// clock (the wall clock is moved in the body's own process).
    pub(crate) fn needs_namespace(&self) -> bool {
        !self.namespace_offsets().is_zero()
    }

    pub(crate) fn namespace_offsets(&self) -> NamespaceOffsets {
        NamespaceOffsets {
            monotonic: std::time::Duration::from_secs(self.monotonic_secs),
            boottime: std::time::Duration::from_secs(self.boottime_secs),
        }
    }
}

/// A clock that could not be moved.
#[derive(Debug)]
pub enum TimeError {
    /// A time-namespace offset that takes the clock, as it reads on this machine, past
    /// the kernel's range.
    ClockOffsetOutOfRange {
        clock: NamespaceClock,
        offset_secs: u64,
        clock_secs: u64,
    },
    /// Writing `/proc/self/timens_offsets` failed.
    WriteOffsets {
        offsets: String,
        source: std::io::Error,
    },
    /// The test process does not read the moved wall clock (why, for a person).
    NotInEffect(String),
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeError::ClockOffsetOutOfRange {
                clock,
                offset_secs,
                clock_secs,
            } => write!(
                f,
                "{} offset of {offset_secs} s would take {} from {clock_secs} s (now, on this \
                 machine) past the kernel's limit of {MAX_NAMESPACE_CLOCK_SECS} s",
                clock.name(),
                clock.clock_name()
            ),
            TimeError::WriteOffsets { offsets, source } => write!(
                f,
                "cannot set the time namespace offsets ({offsets}) in \
                 /proc/self/timens_offsets: {source}"
            ),
            TimeError::NotInEffect(why) => why.fmt(f),
        }
    }
}

impl std::error::Error for TimeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TimeError::WriteOffsets { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Moves the wall clock of this process (call it in the body process, before the body),
/// checks that it is in effect, and sets libfaketime's environment for the programs it
/// will execute. `None` leaves every clock alone. Returns why programs the body executes
/// read the real date, if they do, for the test's output.
pub(crate) fn install_wall_clock(clock: Option<WallClock>) -> Result<Option<String>, TimeError> {
    let Some(clock) = clock else {
        return Ok(None);
    };
    let travel = match clock {
        WallClock::StartAt { secs, nanos } => wall_clock::starting_at(Timespec { secs, nanos }),
        WallClock::Shift { secs } => Travel::Shift(Timespec { secs, nanos: 0 }),
        WallClock::Frozen { secs, nanos } => Travel::Frozen(Timespec { secs, nanos }),
    };
    wall_clock::set(Some(travel));
    if let Err(why) = wall_clock::verify() {
        wall_clock::set(None);
        return Err(TimeError::NotInEffect(why.to_string()));
    }
    match faketime::find_library() {
        Ok(library) => {
            let existing = std::env::var("LD_PRELOAD").ok();
            for (name, value) in faketime::environment(travel, &library, existing.as_deref()) {
                std::env::set_var(name, value);
            }
            Ok(None)
        }
        Err(searched) => Ok(Some(faketime::missing_note(&searched))),
    }
}

impl Sandbox {
    /// Moves the sandbox's clocks: see [`TimeTravel`].
    ///
    /// ```no_run
    /// use sandbox_test::{Sandbox, TimeTravel};
    ///
    /// fn body() {
    ///     assert!(unsafe { libc::time(std::ptr::null_mut()) } > i32::MAX.into());
    /// }
    ///
    /// # fn main() -> Result<(), sandbox_test::TimeSpecError> {
    /// let travel = TimeTravel::new().realtime("2038-01-19T03:14:08Z")?;
    /// let report = Sandbox::new().time(travel).run(body);
    /// # let _ = report;
    /// # Ok(()) }
    /// ```
    pub fn time(mut self, travel: TimeTravel) -> Self {
        self.time = travel;
        self
    }
}

impl From<TimeError> for StepError {
    fn from(error: TimeError) -> Self {
        StepError::Other(error.to_string())
    }
}

/// Step of the sandbox's first process, after the user namespace and before it forks:
/// `unshare --time`. A kernel without time namespaces is diagnosed, not a setup failure.
pub(crate) fn unshare_namespace() -> Result<(), StepError> {
    namespace::unshare().map_err(|errno| match errno {
        Errno::EINVAL | Errno::ENOSYS => StepError::Unsupported(
            crate::kernel::Feature::TimeNamespaces
                .missing(&format!("unshare(CLONE_NEWTIME) failed with {errno:?}")),
        ),
        Errno::ENOSPC => StepError::Unsupported(
            "unshare(CLONE_NEWTIME) failed with ENOSPC: the limit on time namespaces is \
             reached (user.max_time_namespaces, which is 0 where time namespaces are \
             switched off). Fix: raise it, e.g. `sudo sysctl -w user.max_time_namespaces=15000`"
                .into(),
        ),
        errno => StepError::Sys("unshare(CLONE_NEWTIME)".into(), errno),
    })
}

/// Step of the sandbox's first process, right after it unshared the time namespace and
/// before it forks: `--monotonic ... --boottime ...`.
pub(crate) fn set_namespace_offsets(plan: &TimePlan) -> Result<(), StepError> {
    Ok(namespace::write_namespace_offsets(
        &plan.namespace_offsets(),
    )?)
}

/// Step of the body process, last before the body: moves the wall clock and checks it.
/// Returns a note for the test's output when programs the body executes cannot follow.
pub(crate) fn move_wall_clock(plan: &TimePlan) -> Result<Option<String>, StepError> {
    wall_clock::prepare();
    Ok(install_wall_clock(plan.wall_clock)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_resolve_instants_and_offsets() {
        let plan = TimeTravel::new()
            .realtime("2038-01-19T03:14:08Z")
            .unwrap()
            .plan();
        assert_eq!(
            plan.unwrap().wall_clock,
            Some(WallClock::StartAt {
                secs: 2_147_483_648,
                nanos: 0
            })
        );
        let plan = TimeTravel::new().realtime("+400d").unwrap().plan().unwrap();
        assert_eq!(
            plan.wall_clock,
            Some(WallClock::Shift { secs: 400 * 86_400 })
        );
        let before = wall_clock::real_now().secs;
        let plan = TimeTravel::new().frozen_at("-90m").unwrap().plan().unwrap();
        let Some(WallClock::Frozen { secs, .. }) = plan.wall_clock else {
            panic!("{plan:?}");
        };
        assert!((secs - (before - 5_400)).abs() <= 2, "{secs} vs {before}");
        let plan = TimeTravel::new()
            .monotonic("+49d17h")
            .unwrap()
            .boottime("+497d")
            .unwrap()
            .plan()
            .unwrap();
        assert_eq!(plan.wall_clock, None);
        assert_eq!(
            (plan.monotonic_secs, plan.boottime_secs),
            (4_294_800, 42_940_800)
        );
    }

    #[test]
    fn an_offset_that_leaves_year_9999_fails_when_resolved() {
        let error = TimeTravel::new()
            .realtime("+9000y")
            .unwrap()
            .plan()
            .unwrap_err();
        assert!(
            matches!(error, TimeSpecError::InstantOutOfRange { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("outside the years 0000 to 9999"));
    }

    #[test]
    fn bad_values_are_errors_of_the_builder() {
        assert!(TimeTravel::new().realtime("2027-02-29T00:00:00Z").is_err());
        assert!(TimeTravel::new().monotonic("-1d").is_err());
        assert!(TimeTravel::new().boottime("+200y").is_err());
        assert!(TimeTravel::new().frozen_at("soon").is_err());
    }
}
