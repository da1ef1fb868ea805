//! The sandbox's output reaches the test's output as it is written, not when the body ends.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_test::sandboxed;

const FIRST: &str = "live-output-first-line";
const SECOND: &str = "live-output-second-line";

#[sandboxed]
#[ignore = "run with --nocapture by a_line_printed_before_a_sleep_arrives_before_the_sleep_ends"]
fn prints_sleeps_prints() {
    println!("{FIRST}");
    std::thread::sleep(Duration::from_secs(3));
    println!("{SECOND}");
}

#[test]
fn a_line_printed_before_a_sleep_arrives_before_the_sleep_ends() {
    let mut probe = Command::new(std::env::current_exe().unwrap())
        .args([
            "prints_sleeps_prints",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut arrived = Vec::new();
    for line in BufReader::new(probe.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        for marker in [FIRST, SECOND] {
            if line.contains(marker) {
                arrived.push((marker, start.elapsed()));
            }
        }
    }
    assert!(probe.wait().unwrap().success());
    let [(FIRST, first), (SECOND, second)] = arrived[..] else {
        panic!("both lines, in order: {arrived:?}")
    };
    // Written 3 s apart: read at least 1.5 s apart, unless the first waited for the end.
    assert!(
        second.saturating_sub(first) >= Duration::from_millis(1500),
        "the first line arrived with the last: {arrived:?}"
    );
}
