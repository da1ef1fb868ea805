//! Phase-1 check that the interposed wall clock reaches every caller in a test binary of
//! this workspace, with the state set directly (no sandbox). One test: the state is
//! process-wide.

use std::mem::MaybeUninit;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sandbox_test::time::wall_clock::{self, Timespec, Travel};

extern "C" {
    fn timespec_get(ts: *mut libc::timespec, base: libc::c_int) -> libc::c_int;
}

fn clock(id: libc::clockid_t) -> i64 {
    let mut ts = MaybeUninit::<libc::timespec>::zeroed();
    assert_eq!(unsafe { libc::clock_gettime(id, ts.as_mut_ptr()) }, 0);
    unsafe { ts.assume_init() }.tv_sec
}

fn readings() -> Vec<(&'static str, i64)> {
    let mut tv = MaybeUninit::<libc::timeval>::zeroed();
    assert_eq!(
        unsafe { libc::gettimeofday(tv.as_mut_ptr(), std::ptr::null_mut()) },
        0
    );
    let mut ts = MaybeUninit::<libc::timespec>::zeroed();
    assert_eq!(unsafe { timespec_get(ts.as_mut_ptr(), 1) }, 1);
    vec![
        (
            "SystemTime",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64,
        ),
        ("chrono", chrono::Utc::now().timestamp()),
        ("time()", unsafe { libc::time(std::ptr::null_mut()) }),
        ("gettimeofday", unsafe { tv.assume_init() }.tv_sec),
        ("timespec_get", unsafe { ts.assume_init() }.tv_sec),
        ("REALTIME", clock(libc::CLOCK_REALTIME)),
        ("REALTIME_COARSE", clock(libc::CLOCK_REALTIME_COARSE)),
        ("TAI", clock(libc::CLOCK_TAI)),
    ]
}

fn assert_all_near(expected: i64, tolerance: i64) {
    for (name, secs) in readings() {
        assert!(
            (secs - expected).abs() <= tolerance,
            "{name} reads {secs}, expected {expected}"
        );
    }
}

#[test]
fn every_caller_reads_the_moved_wall_clock() {
    let real = wall_clock::real_now().secs;
    let monotonic_before = clock(libc::CLOCK_MONOTONIC);
    assert_all_near(real, 2);

    // Frozen: every function, in this thread and another.
    let y2038 = Timespec {
        secs: 2_147_483_648,
        nanos: 0,
    };
    wall_clock::set(Some(Travel::Frozen(y2038)));
    wall_clock::verify().expect("frozen clock in effect");
    assert_all_near(2_147_483_648, 0);
    std::thread::spawn(|| assert_all_near(2_147_483_648, 0))
        .join()
        .unwrap();
    assert!(unsafe { libc::time(std::ptr::null_mut()) } > i64::from(i32::MAX));
    assert_eq!(chrono::Utc::now().to_rfc3339(), "2038-01-19T03:14:08+00:00");

    // Shifted back ten years: ticks, threads agree.
    let delta = -10 * 365 * 86_400;
    wall_clock::set(Some(Travel::Shift(Timespec {
        secs: delta,
        nanos: 0,
    })));
    wall_clock::verify().expect("shifted clock in effect");
    assert_all_near(real + delta, 5);
    let first = SystemTime::now();
    std::thread::sleep(Duration::from_millis(20));
    assert!(SystemTime::now() > first, "a shifted clock ticks");
    std::thread::spawn(move || assert_all_near(real + delta, 5))
        .join()
        .unwrap();

    // Monotonic clocks are not the layer's business.
    assert!((clock(libc::CLOCK_MONOTONIC) - monotonic_before).abs() < 60);
    let started = Instant::now();
    assert!(started.elapsed() < Duration::from_secs(60));

    // An absolute deadline on the shifted clock, 200 ms ahead, is reached.
    let mut now = MaybeUninit::<libc::timespec>::zeroed();
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, now.as_mut_ptr()) };
    let mut deadline = unsafe { now.assume_init() };
    deadline.tv_nsec += 200_000_000;
    if deadline.tv_nsec >= 1_000_000_000 {
        deadline.tv_nsec -= 1_000_000_000;
        deadline.tv_sec += 1;
    }
    let before = Instant::now();
    let result = unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_REALTIME,
            libc::TIMER_ABSTIME,
            &deadline,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(result, 0);
    let slept = before.elapsed();
    assert!(slept < Duration::from_secs(30), "slept {slept:?}");
    let mut after = MaybeUninit::<libc::timespec>::zeroed();
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, after.as_mut_ptr()) };
    let after = unsafe { after.assume_init() };
    assert!(
        (after.tv_sec, after.tv_nsec) >= (deadline.tv_sec, deadline.tv_nsec),
        "woke before the deadline"
    );

    // Off again: the real clock, and the passthrough is cheap.
    wall_clock::set(None);
    assert_all_near(wall_clock::real_now().secs, 2);
    let start = Instant::now();
    for _ in 0..1_000_000 {
        std::hint::black_box(SystemTime::now());
    }
    eprintln!(
        "passthrough SystemTime::now(): {:?} per call",
        start.elapsed() / 1_000_000
    );
}
