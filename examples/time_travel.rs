//! Time travel with the programmatic API: the wall clock at an instant (ticking), the
//! wall clock frozen, the wall clock moved by a relative offset, and the monotonic clocks
//! moved by the time namespace.
//!
//! `cargo run --example time_travel`. In a test, the same travel is
//! `#[sandboxed(time(realtime = "2038-01-19T03:14:08Z"))]`, and so on.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, UNIX_EPOCH};

use chrono::{Datelike, Utc};
use sandbox_test::{Outcome, Sandbox, Shift, TimeSpecError, TimeTravel};

/// 2038: a 32-bit `time_t` has overflowed; `date` (through libfaketime) agrees.
fn after_2038() {
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    println!("time() = {now}, i32::MAX = {}", i32::MAX);
    assert!(now > i64::from(i32::MAX));
    if let Ok(output) = Command::new("date").args(["-u", "+%Y"]).output() {
        print!("date -u +%Y = {}", String::from_utf8_lossy(&output.stdout));
    }
}

/// A frozen leap day: the clock stands still, date arithmetic still works.
fn frozen_leap_day() {
    let now = Utc::now();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(Utc::now(), now);
    let next = now + chrono::Duration::seconds(1);
    println!("frozen at {now}; one second later is {next}");
    assert_eq!((next.month(), next.day()), (3, 1));
}

/// A relative offset: 400 days from now a one-year certificate has expired.
fn four_hundred_days_later() {
    let expires: chrono::DateTime<Utc> = std::env::var("CERT_EXPIRES").unwrap().parse().unwrap();
    println!("now {}, certificate expires {expires}", Utc::now());
    assert!(Utc::now() > expires);
}

/// The monotonic clocks, as a program that has been up for 497 days sees them.
fn long_uptime() {
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(10));
    println!(
        "/proc/uptime = {}; Instant still measures {:?}",
        uptime.trim(),
        started.elapsed()
    );
    let days = uptime.split('.').next().unwrap().parse::<u64>().unwrap() / 86_400;
    assert!(days >= 497);
}

fn main() -> Result<ExitCode, TimeSpecError> {
    const DAY: u64 = 86_400;
    let one_year = (Utc::now() + chrono::Duration::days(365)).to_rfc3339();
    // 2038-01-19T03:14:08Z and 2028-02-29T23:59:59Z.
    let y2038 = UNIX_EPOCH + Duration::from_secs(2_147_483_648);
    let leap_day = UNIX_EPOCH + Duration::from_secs(1_835_481_599);
    let runs: [(&str, Sandbox, fn()); 4] = [
        (
            "realtime = 2038-01-19T03:14:08Z",
            Sandbox::new().time(TimeTravel::new().realtime(y2038)?),
            after_2038,
        ),
        (
            "realtime = 2028-02-29T23:59:59Z, freeze",
            Sandbox::new().time(TimeTravel::new().frozen_at(leap_day)?),
            frozen_leap_day,
        ),
        (
            "realtime = +400d",
            Sandbox::new()
                .env("CERT_EXPIRES", &one_year)
                .time(TimeTravel::new().realtime(Shift::Forward(Duration::from_secs(400 * DAY)))?),
            four_hundred_days_later,
        ),
        (
            "monotonic = +49d17h, boottime = +497d",
            Sandbox::new().time(
                TimeTravel::new()
                    .monotonic(Duration::from_secs(49 * DAY + 17 * 3_600))?
                    .boottime(Duration::from_secs(497 * DAY))?,
            ),
            long_uptime,
        ),
    ];
    let mut failed = false;
    for (travel, sandbox, body) in runs {
        let report = sandbox.run(body);
        println!("== time({travel}): {}", report.outcome);
        print!("{}", report.stdout.text());
        eprint!("{}", report.stderr.text());
        for note in &report.notes {
            println!("note: {note}");
        }
        failed |= report.outcome != Outcome::Passed;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
