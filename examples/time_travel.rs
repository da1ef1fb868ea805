//! Time travel with the programmatic API: the wall clock at an instant (ticking), the
//! wall clock frozen, the wall clock moved by a relative offset, the monotonic clocks
//! moved by the time namespace, and the wall clock moved by the body while it runs
//! (`sandbox_test::clock`), which a shell started before the move sees too.
//!
//! `cargo run --example time_travel`. In a test, the same travel is
//! `#[sandboxed(time(realtime = "2038-01-19T03:14:08Z"))]`, and so on.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use chrono::{Datelike, Utc};
use sandbox_test::{clock, Outcome, Sandbox, Shift, TimeSpecError, TimeTravel};

/// 2038: a 32-bit `time_t` has overflowed; `date` (through the sandbox's clock library)
/// agrees.
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

/// The body moves the clock: a shell started before the moves prints each date.
fn moved_while_running() {
    let mut shell = Command::new("sh")
        .args(["-c", "while read x; do date -u '+%F %T'; done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = shell.stdin.take().unwrap();
    let mut stdout = BufReader::new(shell.stdout.take().unwrap());
    let mut shell_date = |what: &str| {
        writeln!(stdin).unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        println!(
            "{what:<28} body {}  shell {}",
            Utc::now().format("%F %T"),
            line.trim()
        );
    };
    shell_date("start");
    clock::advance(Duration::from_secs(2 * 3_600)).unwrap();
    shell_date("clock::advance(2h)");
    clock::freeze().unwrap();
    shell_date("clock::freeze()");
    clock::set(UNIX_EPOCH + Duration::from_secs(2_000_000_000)).unwrap();
    shell_date("clock::set(2_000_000_000 s)");
    clock::resume().unwrap();
    std::thread::sleep(Duration::from_millis(1_100));
    shell_date("clock::resume(), 1.1 s later");
    drop(stdin);
    shell.wait().unwrap();
}

fn main() -> Result<ExitCode, TimeSpecError> {
    const DAY: u64 = 86_400;
    let one_year = (Utc::now() + chrono::Duration::days(365)).to_rfc3339();
    // 2038-01-19T03:14:08Z, 2028-02-29T23:59:59Z and 2031-06-01T12:00:00Z.
    let y2038 = UNIX_EPOCH + Duration::from_secs(2_147_483_648);
    let leap_day = UNIX_EPOCH + Duration::from_secs(1_835_481_599);
    let june_2031 = UNIX_EPOCH + Duration::from_secs(1_938_081_600);
    let runs: [(&str, Sandbox, fn()); 5] = [
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
        (
            "realtime = 2031-06-01T12:00:00Z, then clock::*",
            Sandbox::new().time(TimeTravel::new().realtime(june_2031)?),
            moved_while_running,
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
