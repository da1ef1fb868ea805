//! Moving the wall clock while a sandboxed test runs, as freezegun's `tick()` and
//! `move_to()` or time-machine's `shift()` do in Python.
//!
//! ```no_run
//! use std::time::{Duration, UNIX_EPOCH};
//! use sandbox_test::{clock, sandboxed};
//!
//! #[sandboxed(time(realtime = "2031-06-01T12:00:00Z"))]
//! fn a_session_expires_after_two_hours() -> Result<(), clock::ClockError> {
//!     clock::advance(Duration::from_secs(2 * 3600))?; // the wall clock jumps forward
//!     clock::set(UNIX_EPOCH + Duration::from_secs(2_000_000_000))?; // to an instant
//!     clock::freeze()?; // stands still
//!     clock::resume()?; // ticks again from where it stands
//!     Ok(())
//! }
//! ```
//!
//! **Where it works.** In the body of a sandbox whose wall clock travels: `time(realtime =
//! ...)` on the attribute, or [`TimeTravel::realtime`](crate::TimeTravel::realtime) /
//! [`TimeTravel::frozen_at`](crate::TimeTravel::frozen_at) with the builder. To start from
//! the real date and move it later, write `time(realtime = "+0s")`. Without a wall-clock
//! travel every function returns [`ClockError::NoWallClock`], and outside a sandbox
//! [`ClockError::NotInSandbox`]: never a silent no-op. (A sandbox without `time(...)`
//! leaves the environment and the subprocesses of its body untouched, which is why the
//! clock is not movable there.)
//!
//! **Who sees a move.** Every thread of the body at once, and every process of the
//! sandbox on its next read of the clock, programs already running included: the body
//! and the clock library preloaded into the programs it executes read one page of shared
//! memory, and a move is one write to it.
//!
//! **What a move does not move.** Only the wall clock (CLOCK_REALTIME, its coarse and TAI
//! variants) moves. CLOCK_MONOTONIC and CLOCK_BOOTTIME keep the time namespace's offsets,
//! fixed when the sandbox started: [`std::time::Instant`], `thread::sleep`, tokio's timers,
//! Python's `time.sleep` and `time.monotonic` are not shortened or lengthened by
//! [`advance`]; a timeout measured on them still takes its real time. An absolute
//! CLOCK_REALTIME deadline (`clock_nanosleep` with `TIMER_ABSTIME`, `sem_timedwait`,
//! `pthread_mutex_timedlock`) is translated to real time when the wait starts: a move
//! during the wait does not end it early. Code that compares wall-clock readings (token
//! and certificate expiry, caches keyed by date, `datetime.now()`) sees the move at once.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::shared_clock;
use super::wall_clock::{real_now, Timespec, Travel};
use crate::spec::time::{check_instant_range, format_rfc3339};

/// Set in the body process of a sandbox, by its setup.
static IN_SANDBOX_BODY: AtomicBool = AtomicBool::new(false);

pub(crate) fn mark_sandbox_body() {
    IN_SANDBOX_BODY.store(true, Ordering::Relaxed);
}

/// Why the clock could not be moved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClockError {
    /// Not the body process of a sandbox (a plain test, or a program the body executes).
    NotInSandbox,
    /// The sandbox's wall clock does not travel: the test has no `time(realtime = ...)`.
    NoWallClock,
    /// The move would take the wall clock outside the years 0000 to 9999.
    OutOfRange(String),
}

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockError::NotInSandbox => write!(
                f,
                "sandbox_test::clock moves the clock of a sandbox, and this is not the body \
                 of one: run the test with #[sandboxed(time(realtime = \"+0s\"))] (or \
                 TimeTravel::new().realtime(Shift::Forward(Duration::ZERO)) with the builder)"
            ),
            ClockError::NoWallClock => write!(
                f,
                "this sandbox's wall clock is the host's, which sandbox_test::clock cannot \
                 move: add time(realtime = \"+0s\") to #[sandboxed] (or a realtime travel \
                 to the builder's TimeTravel) to start from the real date and move it"
            ),
            ClockError::OutOfRange(why) => why.fmt(f),
        }
    }
}

impl std::error::Error for ClockError {}

/// Moves the wall clock forward by `by`, frozen or not: every process of the sandbox reads
/// the jump on its next read.
pub fn advance(by: Duration) -> Result<(), ClockError> {
    let by = Timespec {
        // Far past the years 9999 already, and small enough that adding a reading cannot
        // overflow: the range check refuses it instead of an overflow panicking.
        secs: i64::try_from(by.as_secs()).map_or(i64::MAX / 2, |secs| secs.min(i64::MAX / 2)),
        nanos: by.subsec_nanos(),
    };
    change(|travel| match travel {
        Travel::Shift(delta) => Travel::Shift(delta.plus(by)),
        Travel::Frozen(instant) => Travel::Frozen(instant.plus(by)),
    })
}

/// Makes the wall clock read `to` now; a frozen clock stays frozen there, a ticking one
/// ticks on from there.
pub fn set(to: SystemTime) -> Result<(), ClockError> {
    let to = Timespec::from_system_time(to);
    change(|travel| match travel {
        Travel::Shift(_) => Travel::Shift(to.minus(real_now())),
        Travel::Frozen(_) => Travel::Frozen(to),
    })
}

/// Stops the wall clock where it stands (a frozen clock stays as it is).
pub fn freeze() -> Result<(), ClockError> {
    change(|travel| match travel {
        Travel::Shift(delta) => Travel::Frozen(real_now().plus(delta)),
        frozen @ Travel::Frozen(_) => frozen,
    })
}

/// Lets a frozen wall clock tick again from where it stands (a ticking clock ticks on).
pub fn resume() -> Result<(), ClockError> {
    change(|travel| match travel {
        Travel::Frozen(instant) => Travel::Shift(instant.minus(real_now())),
        shift @ Travel::Shift(_) => shift,
    })
}

/// Applies `move_to` to the sandbox's clock, refusing an instant outside 0000–9999.
///
/// Runs under the page's write lock: nothing here may read the moved clock (it would
/// wait for the lock), only the real one.
fn change(move_to: impl FnOnce(Travel) -> Travel) -> Result<(), ClockError> {
    let updated = shared_clock::update(|travel| {
        let before = travel.ok_or(ClockError::NoWallClock)?;
        let after = move_to(before);
        let reads = reading(after);
        check_instant_range(reads.secs).map_err(|_| {
            ClockError::OutOfRange(format!(
                "the move would take the wall clock to {} s since 1970, outside the years \
                 0000 to 9999; it stays at {}",
                reads.secs,
                format_rfc3339(reading(before).to_system_time())
            ))
        })?;
        Ok(Some(after))
    });
    match updated {
        Some(result) => result,
        None if IN_SANDBOX_BODY.load(Ordering::Relaxed) => Err(ClockError::NoWallClock),
        None => Err(ClockError::NotInSandbox),
    }
}

/// What the wall clock reads now under `travel`.
fn reading(travel: Travel) -> Timespec {
    match travel {
        Travel::Shift(delta) => real_now().plus(delta),
        Travel::Frozen(instant) => instant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_sandbox_every_move_is_an_error_that_says_why() {
        assert_eq!(
            advance(Duration::from_secs(1)),
            Err(ClockError::NotInSandbox)
        );
        assert_eq!(set(SystemTime::UNIX_EPOCH), Err(ClockError::NotInSandbox));
        assert_eq!(freeze(), Err(ClockError::NotInSandbox));
        assert_eq!(resume(), Err(ClockError::NotInSandbox));
        let text = ClockError::NotInSandbox.to_string();
        assert!(text.contains("time(realtime = \"+0s\")"), "{text}");
    }
}
