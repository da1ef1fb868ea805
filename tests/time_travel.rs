//! Time travel end to end: `time(...)` in `#[sandboxed]` and `Sandbox::time`.

mod common;

use common::{installed, run};

use std::mem::MaybeUninit;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, Timelike, Utc};
use sandbox_test::{sandboxed, Outcome, Sandbox, Shift, TimeTravel};

const Y2038: i64 = 2_147_483_648;

extern "C" {
    fn timespec_get(ts: *mut libc::timespec, base: libc::c_int) -> libc::c_int;
}

fn clock(id: libc::clockid_t) -> libc::timespec {
    let mut ts = MaybeUninit::<libc::timespec>::zeroed();
    assert_eq!(unsafe { libc::clock_gettime(id, ts.as_mut_ptr()) }, 0);
    unsafe { ts.assume_init() }
}

/// Seconds since 1970 as every interposed function reads them.
fn wall_clock_readings() -> Vec<(&'static str, i64)> {
    let mut tv = MaybeUninit::<libc::timeval>::zeroed();
    assert_eq!(
        unsafe { libc::gettimeofday(tv.as_mut_ptr(), std::ptr::null_mut()) },
        0
    );
    let mut ts = MaybeUninit::<libc::timespec>::zeroed();
    assert_eq!(unsafe { timespec_get(ts.as_mut_ptr(), 1) }, 1);
    vec![
        (
            "SystemTime::now()",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64,
        ),
        ("chrono::Utc::now()", Utc::now().timestamp()),
        ("time()", unsafe { libc::time(std::ptr::null_mut()) }),
        ("gettimeofday()", unsafe { tv.assume_init() }.tv_sec),
        ("timespec_get()", unsafe { ts.assume_init() }.tv_sec),
        ("CLOCK_REALTIME", clock(libc::CLOCK_REALTIME).tv_sec),
        (
            "CLOCK_REALTIME_COARSE",
            clock(libc::CLOCK_REALTIME_COARSE).tv_sec,
        ),
        ("CLOCK_TAI", clock(libc::CLOCK_TAI).tv_sec),
    ]
}

fn assert_wall_clock_near(expected: i64, tolerance: i64) {
    for (name, secs) in wall_clock_readings() {
        assert!(
            (secs - expected).abs() <= tolerance,
            "{name} reads {secs}, expected {expected} ± {tolerance}"
        );
    }
}

// 2038

#[sandboxed(time(realtime = "2038-01-19T03:14:08Z"))]
fn time_passes_i32_max_in_2038() {
    assert!(unsafe { libc::time(std::ptr::null_mut()) } > i64::from(i32::MAX));
    // Every function reads the moved clock, which ticks on from the instant.
    assert_wall_clock_near(Y2038, 30);
    assert!(Utc::now() >= "2038-01-19T03:14:08Z".parse::<DateTime<Utc>>().unwrap());
}

// Leap day

#[sandboxed(time(realtime = "2028-02-29T23:59:59Z", freeze))]
fn a_frozen_leap_day_stays_february_29() {
    let now = Utc::now();
    assert_eq!((now.year(), now.month(), now.day()), (2028, 2, 29));
    assert_eq!((now.hour(), now.minute(), now.second()), (23, 59, 59));
    let next = now + chrono::Duration::seconds(1);
    assert_eq!((next.month(), next.day()), (3, 1));
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(Utc::now(), now, "a frozen clock stands still");
    assert_wall_clock_near(now.timestamp(), 0);
}

#[sandboxed(time(realtime = "2028-02-29T23:59:59Z"))]
fn a_ticking_leap_day_becomes_march_1() {
    let now = Utc::now();
    assert_eq!((now.month(), now.day()), (2, 29));
    std::thread::sleep(Duration::from_millis(1_500));
    let later = Utc::now();
    assert_eq!((later.year(), later.month(), later.day()), (2028, 3, 1));
}

// Expiry, with the expiry computed in the parent from the real date

fn is_valid(expires: DateTime<Utc>) -> bool {
    Utc::now() < expires
}

fn token_expiry() -> DateTime<Utc> {
    std::env::var("TOKEN_EXPIRES").unwrap().parse().unwrap()
}

#[sandboxed(env(TOKEN_EXPIRES = (Utc::now() + chrono::Duration::days(365)).to_rfc3339()))]
fn a_token_valid_for_a_year_is_valid_now() {
    assert!(is_valid(token_expiry()));
}

#[sandboxed(
    env(TOKEN_EXPIRES = (Utc::now() + chrono::Duration::days(365)).to_rfc3339()),
    time(realtime = "+400d")
)]
fn a_token_valid_for_a_year_has_expired_400_days_later() {
    assert!(!is_valid(token_expiry()));
}

// Threads

#[sandboxed(time(realtime = "2038-01-19T03:14:08Z", freeze))]
fn threads_see_the_same_moved_date() {
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(wall_clock_readings))
        .collect();
    for thread in threads {
        for (name, secs) in thread.join().unwrap() {
            assert_eq!(secs, Y2038, "{name} in a spawned thread");
        }
    }
}

#[sandboxed(time(realtime = "-3650d"))]
fn a_relative_offset_moves_every_thread() {
    let expected = Utc::now();
    assert!(expected.year() <= 2026 - 9, "{expected}");
    let in_thread = std::thread::spawn(|| {
        assert_wall_clock_near(Utc::now().timestamp(), 5);
        Utc::now()
    })
    .join()
    .unwrap();
    assert!((in_thread - expected).num_seconds().abs() < 5);
}

// Monotonic and boottime

const MONOTONIC_OFFSET: i64 = 49 * 86_400 + 17 * 3_600;
const BOOTTIME_OFFSET: i64 = 497 * 86_400;

fn uptime_secs() -> f64 {
    let text = std::fs::read_to_string("/proc/uptime").unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

#[sandboxed(time(monotonic = "+49d17h", boottime = "+497d"))]
fn namespace_offsets_move_monotonic_boottime_and_uptime() {
    assert!(clock(libc::CLOCK_MONOTONIC).tv_sec >= MONOTONIC_OFFSET);
    assert!(clock(libc::CLOCK_BOOTTIME).tv_sec >= BOOTTIME_OFFSET);
    assert!(uptime_secs() >= BOOTTIME_OFFSET as f64);
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(20));
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(20) && elapsed < Duration::from_secs(60));
    // The wall clock is not moved by them.
    let real = wall_clock_readings()[0].1;
    let host_year_2026 = 1_767_225_600;
    assert!(real >= host_year_2026 - 86_400, "{real}");
}

fn sees_namespace_offsets() {
    assert!(clock(libc::CLOCK_MONOTONIC).tv_sec >= MONOTONIC_OFFSET);
    assert!(uptime_secs() >= BOOTTIME_OFFSET as f64);
}

fn sees_2038() {
    assert_wall_clock_near(Y2038, 30);
}

#[test]
fn the_hosts_clocks_are_untouched() -> Result<(), sandbox_test::TimeSpecError> {
    let monotonic_before = clock(libc::CLOCK_MONOTONIC).tv_sec;
    let uptime_before = uptime_secs();
    let real_before = SystemTime::now();
    let offsets = TimeTravel::new()
        .monotonic(Duration::from_secs(MONOTONIC_OFFSET as u64))?
        .boottime(Duration::from_secs(BOOTTIME_OFFSET as u64))?;
    let report = Sandbox::new().time(offsets).run(sees_namespace_offsets);
    assert_eq!(report.outcome, Outcome::Passed, "{report:?}");
    let wall = TimeTravel::new().realtime(UNIX_EPOCH + Duration::from_secs(Y2038 as u64))?;
    let report = Sandbox::new().time(wall).run(sees_2038);
    assert_eq!(report.outcome, Outcome::Passed, "{report:?}");
    // Host readings moved by the time it took, not by the offsets or the travel.
    let monotonic_moved = clock(libc::CLOCK_MONOTONIC).tv_sec - monotonic_before;
    assert!((0..600).contains(&monotonic_moved), "{monotonic_moved}");
    assert!(uptime_secs() - uptime_before < 600.0);
    let wall_moved = SystemTime::now().duration_since(real_before).unwrap();
    assert!(wall_moved < Duration::from_secs(600), "{wall_moved:?}");
    Ok(())
}

// Subprocesses

#[sandboxed(time(realtime = "2038-01-19T03:14:08Z"))]
fn a_subprocess_prints_the_moved_year() {
    assert_eq!(run("date", &["-u", "+%Y"]), "2038");
    // It ticks along with the body's clock.
    let subprocess: i64 = run("date", &["+%s"]).parse().unwrap();
    assert!((subprocess - Utc::now().timestamp()).abs() <= 2);
}

#[sandboxed(time(realtime = "2028-02-29T23:59:59Z", freeze))]
fn a_subprocess_sees_the_frozen_instant() {
    std::thread::sleep(Duration::from_millis(1_100));
    assert_eq!(
        run("date", &["-u", "+%Y-%m-%dT%H:%M:%S"]),
        "2028-02-29T23:59:59"
    );
}

/// Run by `a_subprocess_keeps_the_namespace_clocks` as a program of its own.
#[test]
#[ignore = "a helper the sandboxed test below runs as a subprocess"]
fn print_clocks_helper() {
    println!(
        "clocks: {} {} {}",
        clock(libc::CLOCK_REALTIME).tv_sec,
        clock(libc::CLOCK_MONOTONIC).tv_sec,
        clock(libc::CLOCK_BOOTTIME).tv_sec
    );
}

#[sandboxed(time(realtime = "+3650d", monotonic = "+49d17h", boottime = "+497d"))]
fn a_subprocess_keeps_the_namespace_clocks() {
    // This test binary again, as a plain program under the clock library.
    let exe = std::env::current_exe().unwrap();
    let output = run(
        exe.to_str().unwrap(),
        &["--ignored", "--exact", "print_clocks_helper", "--nocapture"],
    );
    let line = output
        .lines()
        .find_map(|line| line.strip_prefix("clocks: "))
        .unwrap_or_else(|| panic!("no clocks in {output:?}"));
    let clocks: Vec<i64> = line.split(' ').map(|n| n.parse().unwrap()).collect();
    let year = 365 * 86_400;
    // The wall clock moved once (its own interposer passes through, the library moves it),
    // not twice or not at all.
    assert!(
        (clocks[0] - Utc::now().timestamp()).abs() <= 5,
        "{clocks:?}"
    );
    // Monotonic clocks are the namespace's: offset, and not moved again by the library.
    assert!(
        (MONOTONIC_OFFSET..MONOTONIC_OFFSET + year).contains(&clocks[1]),
        "{clocks:?}"
    );
    assert!(
        (BOOTTIME_OFFSET..BOOTTIME_OFFSET + year).contains(&clocks[2]),
        "{clocks:?}"
    );
    let uptime: f64 = run("cat", &["/proc/uptime"])
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(uptime >= BOOTTIME_OFFSET as f64);
}

// Absolute deadlines on the moved clock

/// One second ahead on the (moved) CLOCK_REALTIME.
fn one_second_ahead() -> libc::timespec {
    let mut deadline = clock(libc::CLOCK_REALTIME);
    deadline.tv_sec += 1;
    deadline
}

/// Runs a wait with a deadline one second ahead on the moved clock and checks that it
/// waited for that second: untranslated, the real deadline would be long past (clock
/// moved back) or 90 minutes away (clock moved forward).
fn assert_waits_one_second(wait: impl FnOnce(&libc::timespec) -> libc::c_int, expected: i32) {
    let deadline = assert_waits_about_a_second(wait, expected);
    let now = clock(libc::CLOCK_REALTIME);
    assert!((now.tv_sec, now.tv_nsec) >= (deadline.tv_sec, deadline.tv_nsec));
}

fn assert_waits_about_a_second(
    wait: impl FnOnce(&libc::timespec) -> libc::c_int,
    expected: i32,
) -> libc::timespec {
    let deadline = one_second_ahead();
    let started = Instant::now();
    assert_eq!(wait(&deadline), expected);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(60),
        "{waited:?}"
    );
    deadline
}

fn sleep_until(deadline: &libc::timespec) -> libc::c_int {
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_REALTIME,
            libc::TIMER_ABSTIME,
            deadline,
            std::ptr::null_mut(),
        )
    }
}

#[sandboxed(time(realtime = "-90m"))]
fn absolute_realtime_deadlines_on_the_moved_clock_are_kept() {
    assert_waits_one_second(sleep_until, 0);
    let mut semaphore = MaybeUninit::<libc::sem_t>::zeroed();
    assert_eq!(unsafe { libc::sem_init(semaphore.as_mut_ptr(), 0, 0) }, 0);
    assert_waits_one_second(
        |deadline| unsafe { libc::sem_timedwait(semaphore.as_mut_ptr(), deadline) },
        -1,
    );
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ETIMEDOUT)
    );
    static MUTEX: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let mutex: *mut libc::pthread_mutex_t =
        Box::into_raw(Box::new(libc::PTHREAD_MUTEX_INITIALIZER));
    let mutex_address = mutex as usize;
    let holder = MUTEX.lock().unwrap();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mutex = mutex_address as *mut libc::pthread_mutex_t;
        assert_eq!(unsafe { libc::pthread_mutex_lock(mutex) }, 0);
        locked_tx.send(()).unwrap();
        drop(MUTEX.lock());
        assert_eq!(unsafe { libc::pthread_mutex_unlock(mutex) }, 0);
    });
    locked_rx.recv().unwrap();
    assert_waits_one_second(
        |deadline| unsafe { libc::pthread_mutex_timedlock(mutex, deadline) },
        libc::ETIMEDOUT,
    );
    drop(holder);
    thread.join().unwrap();
}

#[sandboxed(time(realtime = "+90m", freeze))]
fn a_deadline_on_a_frozen_clock_ends_after_the_real_time_to_it() {
    // The frozen clock never reaches it; the sleep ends after one real second.
    assert_waits_about_a_second(sleep_until, 0);
}

// Bad values are errors of the call that gave them

#[test]
fn bad_values_are_errors_of_the_builder() {
    const YEAR: u64 = 365 * 86_400;
    let error = TimeTravel::new()
        .realtime(Shift::Forward(Duration::from_secs(9_000 * YEAR)))
        .unwrap_err();
    assert!(
        error.to_string().contains("outside the years 0000 to 9999"),
        "{error}"
    );
    let year_10000 = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
    assert!(TimeTravel::new().frozen_at(year_10000).is_err());
    let error = TimeTravel::new()
        .monotonic(Duration::from_secs(147 * YEAR))
        .unwrap_err();
    assert!(error.to_string().contains("kernel's limit"), "{error}");
    let error = TimeTravel::new()
        .boottime(Duration::from_millis(2_500))
        .unwrap_err();
    assert!(error.to_string().contains("whole seconds"), "{error}");
}

// Python >= 3.11 sleeps to an absolute CLOCK_MONOTONIC deadline (clock_nanosleep with
// TIMER_ABSTIME); libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC=1, used before the
// sandbox's own clock library, turned that deadline into EINVAL. A sleep must work under
// every kind of travel.

fn python_sleeps() {
    if !installed("python3") {
        return;
    }
    let output = Command::new("python3")
        .args([
            "-c",
            "import time, datetime; t = time.monotonic(); time.sleep(0.3); \
             assert time.monotonic() - t >= 0.29; print(datetime.datetime.now().year)",
        ])
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{output:?}");
}

#[sandboxed(time(realtime = "2031-06-01T12:00:00Z", freeze))]
fn python_sleeps_under_a_frozen_clock() {
    python_sleeps();
}

#[sandboxed(time(realtime = "2031-06-01T12:00:00Z"))]
fn python_sleeps_under_a_moved_clock() {
    python_sleeps();
}

#[sandboxed(time(realtime = "-90m", freeze))]
fn python_sleeps_under_a_frozen_offset() {
    python_sleeps();
}

#[sandboxed(time(realtime = "+400d", monotonic = "+49d17h", boottime = "+497d"))]
fn python_sleeps_under_moved_namespace_clocks() {
    python_sleeps();
}

#[sandboxed(time(monotonic = "+49d17h"))]
fn python_sleeps_under_a_moved_monotonic_clock() {
    python_sleeps();
}
