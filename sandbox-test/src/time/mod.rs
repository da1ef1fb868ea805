//! Time travel: the time-namespace offsets, the sandbox's shared wall clock, read by the
//! interposed clock functions of the test process and by the clock library preloaded into
//! the programs it executes, and the [`clock`] API that moves it while the body runs.
//!
//! - [`TimeTravel`] (with [`WallTime`] and [`Shift`]) is what a test asks for; the parent
//!   resolves it into a [`TimePlan`].
//! - [`namespace::write_namespace_offsets`] moves CLOCK_MONOTONIC and CLOCK_BOOTTIME for
//!   every process of the sandbox (the kernel's time namespace).
//! - [`install_wall_clock`] moves CLOCK_REALTIME (the kernel cannot): it creates the
//!   clock page ([`shared_clock`]) in the body process, checks that the body reads it, and
//!   preloads the clock library ([`preload`]) into the programs the body executes.
//! - [`clock`] moves the page from the body: `advance`, `set`, `freeze`, `resume`.
//!
//! Limits: absolute CLOCK_REALTIME deadlines handed to the kernel other than through
//! `clock_nanosleep`, `sem_timedwait` and `pthread_mutex_timedlock` (`pthread_cond_timedwait`,
//! whose clock is hidden in the condition variable, timerfd, POSIX timers) count in real
//! time; file times stay real; code that reads the vDSO or the TSC itself
//! or makes the `clock_gettime` syscall directly reads the real wall clock, and so do
//! glibc's internal clock reads.

pub mod clock;
pub(crate) mod namespace;
pub(crate) mod preload;
pub(crate) mod shared_clock;
pub(crate) mod wall_clock;

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

use crate::spec::time::{
    check_instant_range, unix_parts, NamespaceClock, Realtime, TimeSpecError,
    MAX_NAMESPACE_CLOCK_SECS, MAX_REALTIME_OFFSET_SECS,
};
use crate::step::StepError;
use namespace::NamespaceOffsets;
use wall_clock::{Timespec, Travel};

/// How a sandboxed test moves its clocks: the attribute's `time(...)` group, as typed
/// values. Each method checks its value and returns an error at the call.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
///
/// use sandbox_test::{Shift, TimeTravel};
///
/// # fn main() -> Result<(), sandbox_test::TimeSpecError> {
/// const DAY: u64 = 86_400;
/// // The wall clock reads 2038-01-19T03:14:08Z when the body starts, and ticks on.
/// let y2038 = TimeTravel::new().realtime(UNIX_EPOCH + Duration::from_secs(1 << 31))?;
/// // It stands still at an instant.
/// let stopped = TimeTravel::new().frozen_at(SystemTime::UNIX_EPOCH)?;
/// // It reads 400 days later than the real clock.
/// let later = TimeTravel::new().realtime(Shift::Forward(Duration::from_secs(400 * DAY)))?;
/// // The machine seems to have been up for 49 days (CLOCK_MONOTONIC, CLOCK_BOOTTIME).
/// let uptime = TimeTravel::new()
///     .monotonic(Duration::from_secs(49 * DAY))?
///     .boottime(Duration::from_secs(497 * DAY))?;
/// # let _ = (y2038, stopped, later, uptime);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeTravel {
    realtime: Option<Realtime>,
    frozen: bool,
    offsets: NamespaceOffsets,
}

/// A signed shift of the wall clock from the real one (whole seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    /// Later than the real clock by this much (`"+400d"`).
    Forward(Duration),
    /// Earlier than the real clock by this much (`"-90m"`).
    Back(Duration),
}

/// What the wall clock reads when the body starts: an instant, or a shift from the real
/// clock. Built from a [`SystemTime`] or a [`Shift`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WallTime {
    /// This instant (`"2038-01-19T03:14:08Z"`).
    At(SystemTime),
    /// The real wall clock, shifted.
    Shifted(Shift),
}

impl From<SystemTime> for WallTime {
    fn from(instant: SystemTime) -> Self {
        WallTime::At(instant)
    }
}

impl From<Shift> for WallTime {
    fn from(shift: Shift) -> Self {
        WallTime::Shifted(shift)
    }
}

impl WallTime {
    /// Checked the way the attribute checks `realtime = "..."`: an instant within the
    /// years 0000–9999; a shift in whole seconds, at most 10 000 years, that leads (now)
    /// to such an instant.
    fn checked(self) -> Result<Realtime, TimeSpecError> {
        match self {
            WallTime::At(instant) => {
                check_instant_range(unix_parts(instant).0)?;
                Ok(Realtime::At(instant))
            }
            WallTime::Shifted(shift) => {
                let (sign, magnitude) = match shift {
                    Shift::Forward(by) => (1, by),
                    Shift::Back(by) => (-1, by),
                };
                let input = || format!("{}{magnitude:?}", if sign > 0 { '+' } else { '-' });
                let secs = whole_seconds(magnitude, input)?;
                if secs > MAX_REALTIME_OFFSET_SECS as u64 {
                    return Err(TimeSpecError::RealtimeOffsetTooLarge { input: input() });
                }
                let offset = sign * secs as i64;
                check_instant_range(wall_clock::real_now().secs.saturating_add(offset))?;
                Ok(Realtime::Offset(offset))
            }
        }
    }
}

/// `duration` in seconds, or an error naming `input` when it has a fraction.
fn whole_seconds(duration: Duration, input: impl Fn() -> String) -> Result<u64, TimeSpecError> {
    if duration.subsec_nanos() != 0 {
        return Err(TimeSpecError::FractionalOffset { input: input() });
    }
    Ok(duration.as_secs())
}

/// A time-namespace offset checked against the kernel's range.
fn namespace_offset(clock: NamespaceClock, offset: Duration) -> Result<Duration, TimeSpecError> {
    let input = || format!("+{offset:?}");
    let secs = whole_seconds(offset, input)?;
    if secs > MAX_NAMESPACE_CLOCK_SECS {
        return Err(TimeSpecError::ClockOffsetTooLarge {
            clock,
            input: input(),
            secs: secs as i64,
        });
    }
    Ok(offset)
}

impl TimeTravel {
    /// No travel: every clock reads as on the host.
    pub fn new() -> Self {
        Self::default()
    }

    /// The wall clock reads `start` when the body starts and ticks on
    /// (`time(realtime = "...")`): an instant ([`SystemTime`]) or a [`Shift`] from the
    /// real wall clock. An instant outside the years 0000–9999, or a shift with a
    /// fraction of a second or beyond 10 000 years, is an error.
    ///
    /// It also makes the wall clock movable from the body ([`crate::clock`]);
    /// `realtime(Shift::Forward(Duration::ZERO))` (`time(realtime = "+0s")`) starts it
    /// from the real date.
    pub fn realtime(mut self, start: impl Into<WallTime>) -> Result<Self, TimeSpecError> {
        self.realtime = Some(start.into().checked()?);
        self.frozen = false;
        Ok(self)
    }

    /// The wall clock stands still at `at` (`time(realtime = "...", freeze)`); a shift is
    /// resolved to the instant it names when the sandbox runs. Checked as for
    /// [`TimeTravel::realtime`].
    pub fn frozen_at(mut self, at: impl Into<WallTime>) -> Result<Self, TimeSpecError> {
        self.realtime = Some(at.into().checked()?);
        self.frozen = true;
        Ok(self)
    }

    /// Moves CLOCK_MONOTONIC forward by `offset` in every process of the sandbox
    /// (`time(monotonic = "+49d17h")`). Whole seconds, at most the kernel's limit
    /// (about 146 years).
    pub fn monotonic(mut self, offset: Duration) -> Result<Self, TimeSpecError> {
        self.offsets.monotonic = namespace_offset(NamespaceClock::Monotonic, offset)?;
        Ok(self)
    }

    /// Moves CLOCK_BOOTTIME (and `/proc/uptime`) forward by `offset` in every process of
    /// the sandbox (`time(boottime = "+497d")`). Checked as for [`TimeTravel::monotonic`].
    pub fn boottime(mut self, offset: Duration) -> Result<Self, TimeSpecError> {
        self.offsets.boottime = namespace_offset(NamespaceClock::Boottime, offset)?;
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
        /// The clock.
        clock: NamespaceClock,
        /// The offset asked for, in seconds.
        offset_secs: u64,
        /// What the clock reads now, in seconds.
        clock_secs: u64,
    },
    /// Writing `/proc/self/timens_offsets` failed.
    WriteOffsets {
        /// What was written.
        offsets: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The test process does not read the moved wall clock (why, for a person).
    NotInEffect(String),
    /// The clock page or the clock library could not be written into the sandbox's `/tmp`.
    SharedClock {
        /// What was being done.
        action: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
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
            TimeError::SharedClock { action, source } => write!(
                f,
                "cannot {action} the sandbox's private /tmp ({}): {source}",
                shared_clock::DIR
            ),
        }
    }
}

impl std::error::Error for TimeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TimeError::WriteOffsets { source, .. } | TimeError::SharedClock { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// Moves the wall clock of the sandbox (call it in the body process, before the body):
/// creates the clock page showing `clock`, checks that this process reads it, and sets
/// the environment that preloads the clock library into the programs it will execute.
/// `None` leaves every clock alone.
pub(crate) fn install_wall_clock(clock: Option<WallClock>) -> Result<(), TimeError> {
    let Some(clock) = clock else {
        return Ok(());
    };
    let travel = match clock {
        WallClock::StartAt { secs, nanos } => wall_clock::starting_at(Timespec { secs, nanos }),
        WallClock::Shift { secs } => Travel::Shift(Timespec { secs, nanos: 0 }),
        WallClock::Frozen { secs, nanos } => Travel::Frozen(Timespec { secs, nanos }),
    };
    let library = preload::install().map_err(|source| TimeError::SharedClock {
        action: "write the clock library into",
        source,
    })?;
    let page = Path::new(shared_clock::PAGE_PATH);
    shared_clock::create(page, travel).map_err(|source| TimeError::SharedClock {
        action: "create the clock page in",
        source,
    })?;
    wall_clock::verify().map_err(|why| TimeError::NotInEffect(why.to_string()))?;
    let existing = std::env::var("LD_PRELOAD").ok();
    for (name, value) in preload::environment(&library, page, existing.as_deref()) {
        std::env::set_var(name, value);
    }
    Ok(())
}

impl From<TimeError> for StepError {
    fn from(error: TimeError) -> Self {
        StepError::Other(error.to_string())
    }
}

/// Step of the init, before it forks the body (the first process to enter the namespace):
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

/// Step of the init, right after it unshared the time namespace and
/// before it forks: `--monotonic ... --boottime ...`.
pub(crate) fn set_namespace_offsets(plan: &TimePlan) -> Result<(), StepError> {
    Ok(namespace::write_namespace_offsets(
        &plan.namespace_offsets(),
    )?)
}

/// Step of the init, after the offsets, when its body was forked before the request: the
/// namespace for the body to enter ([`enter_namespace`]).
pub(crate) fn namespace_for_the_body() -> Result<std::os::fd::OwnedFd, StepError> {
    namespace::for_children()
        .map_err(|errno| StepError::Sys("open /proc/self/ns/time_for_children".into(), errno))
}

/// Step of a body forked before its init unshared the time namespace: `setns` into it,
/// before anything of the test runs (what the namespace's offsets move is then the
/// same as for a body forked after the `unshare`).
pub(crate) fn enter_namespace(fd: std::os::fd::BorrowedFd<'_>) -> Result<(), StepError> {
    namespace::enter(fd).map_err(|errno| StepError::Sys("setns(CLONE_NEWTIME)".into(), errno))
}

/// Fork server, once: resolves glibc's clock functions behind the interposed ones, so
/// that every body inherits them resolved instead of looking them up again.
pub(crate) fn prepare_for_sandboxes() {
    wall_clock::prepare();
}

/// Step of the body process, after its environment is set: moves the wall clock, checks
/// it, and preloads the clock library into the programs the body executes.
pub(crate) fn move_wall_clock(plan: &TimePlan) -> Result<(), StepError> {
    wall_clock::prepare();
    clock::mark_sandbox_body();
    Ok(install_wall_clock(plan.wall_clock)?)
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const DAY: u64 = 86_400;

    #[test]
    fn plans_resolve_instants_and_offsets() {
        let y2038 = UNIX_EPOCH + Duration::from_secs(2_147_483_648);
        let plan = TimeTravel::new().realtime(y2038).unwrap().plan();
        assert_eq!(
            plan.unwrap().wall_clock,
            Some(WallClock::StartAt {
                secs: 2_147_483_648,
                nanos: 0
            })
        );
        let later = Shift::Forward(Duration::from_secs(400 * DAY));
        let plan = TimeTravel::new().realtime(later).unwrap().plan().unwrap();
        assert_eq!(
            plan.wall_clock,
            Some(WallClock::Shift { secs: 400 * 86_400 })
        );
        let before = wall_clock::real_now().secs;
        let earlier = Shift::Back(Duration::from_secs(90 * 60));
        let plan = TimeTravel::new()
            .frozen_at(earlier)
            .unwrap()
            .plan()
            .unwrap();
        let Some(WallClock::Frozen { secs, .. }) = plan.wall_clock else {
            panic!("{plan:?}");
        };
        assert!((secs - (before - 5_400)).abs() <= 2, "{secs} vs {before}");
        let plan = TimeTravel::new()
            .monotonic(Duration::from_secs(49 * DAY + 17 * 3_600))
            .unwrap()
            .boottime(Duration::from_secs(497 * DAY))
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
    fn bad_values_are_errors_of_the_call_that_gave_them() {
        let year_10000 = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert!(matches!(
            TimeTravel::new().realtime(year_10000),
            Err(TimeSpecError::InstantOutOfRange { .. })
        ));
        let error = TimeTravel::new()
            .realtime(Shift::Forward(Duration::from_secs(9_000 * 365 * DAY)))
            .unwrap_err();
        assert!(
            error.to_string().contains("outside the years 0000 to 9999"),
            "{error}"
        );
        assert!(matches!(
            TimeTravel::new().frozen_at(Shift::Back(Duration::from_secs(10_001 * 365 * DAY))),
            Err(TimeSpecError::RealtimeOffsetTooLarge { .. })
        ));
        let error = TimeTravel::new()
            .realtime(Shift::Forward(Duration::from_millis(1_500)))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "offset +1.5s has a fraction of a second; clock offsets are whole seconds"
        );
        assert!(matches!(
            TimeTravel::new().boottime(Duration::from_secs(200 * 365 * DAY)),
            Err(TimeSpecError::ClockOffsetTooLarge { .. })
        ));
        assert!(matches!(
            TimeTravel::new().monotonic(Duration::from_millis(10)),
            Err(TimeSpecError::FractionalOffset { .. })
        ));
    }
}
