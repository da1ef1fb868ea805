//! `SANDBOX_TEST_TRACE=1`: where a sandbox's time goes, step by step.
//!
//! With the variable set in the test process, every sandbox records a timestamp after each
//! setup step (and at the few points between the steps: the fork server's fork, the
//! processes' starts); the body sends them to the test thread just before it runs the
//! test, and the test thread prints them to stderr with its own (plan written, request
//! sent, messages heard), one line per point:
//!
//! ```text
//! sandbox-test trace<TAB>POINT<TAB>µs since the request<TAB>µs since the previous point
//! ```
//!
//! (Run `cargo test -- --nocapture` to see them; `cargo bench --bench overhead -- --steps`
//! prints their medians.) Without the variable nothing is recorded: one branch per step.
//!
//! A leaf: it imports nothing of this crate. Timestamps are `CLOCK_REALTIME` read with the
//! raw system call, which no time namespace shifts and no wall-clock interposition sees.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The variable that turns tracing on.
pub(crate) const VARIABLE: &str = "SANDBOX_TEST_TRACE";

/// Whether this test process traces its sandboxes (read once).
pub(crate) fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os(VARIABLE).is_some_and(|v| !v.is_empty() && v != "0"))
}

/// Nanoseconds since the epoch, from the kernel itself.
pub(crate) fn now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into a local.
    unsafe { libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The most points one sandbox records (more are dropped).
const CAPACITY: usize = 64;

/// The points recorded in this process (and, copied by `fork`, in its parents before it).
static POINTS: Mutex<[(&str, u64); CAPACITY]> = Mutex::new([("", 0); CAPACITY]);
static LEN: AtomicUsize = AtomicUsize::new(0);

/// Records `point` at `at` (nanoseconds from [`now`]). No allocation: a sandbox process
/// may call it between `fork` and the body.
pub(crate) fn mark_at(point: &'static str, at: u64) {
    let index = LEN.load(Ordering::Relaxed);
    if index < CAPACITY {
        POINTS.lock().unwrap_or_else(|e| e.into_inner())[index] = (point, at);
        LEN.store(index + 1, Ordering::Relaxed);
    }
}

/// Records `point` now.
pub(crate) fn mark(point: &'static str) {
    mark_at(point, now());
}

/// Forgets the points inherited from the fork server.
pub(crate) fn reset() {
    LEN.store(0, Ordering::Relaxed);
}

/// The points recorded so far, in order.
pub(crate) fn points() -> Vec<(String, u64)> {
    let len = LEN.load(Ordering::Relaxed);
    let points = POINTS.lock().unwrap_or_else(|e| e.into_inner());
    points[..len]
        .iter()
        .map(|(name, at)| ((*name).to_owned(), *at))
        .collect()
}

/// Prints the points of one sandbox (the sandbox's and the test thread's, merged by time)
/// to stderr, relative to `start`.
pub(crate) fn print(start: u64, mut points: Vec<(String, u64)>) {
    points.sort_by_key(|(_, at)| *at);
    let micros = |ns: u64| ns as f64 / 1e3;
    let mut previous = start;
    let mut text = String::new();
    for (name, at) in points {
        text.push_str(&format!(
            "sandbox-test trace\t{name}\t{:.1}\t{:.1}\n",
            micros(at.saturating_sub(start)),
            micros(at.saturating_sub(previous))
        ));
        previous = at;
    }
    eprint!("{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_come_back_in_order() {
        reset();
        mark_at("first", 10);
        mark("second");
        let points = points();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0], ("first".to_owned(), 10));
        assert_eq!(points[1].0, "second");
        assert!(points[1].1 > 1_600_000_000_000_000_000, "{points:?}");
        reset();
        assert!(super::points().is_empty());
    }
}
