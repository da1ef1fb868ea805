//! Load: many sandboxes from one test process leave nothing behind in it, and sandboxes
//! run from many threads at once each get their own verdict.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sandbox_test::{Outcome, Sandbox};

/// What the test process holds: open fds, threads, live children, zombie children.
#[derive(Debug, PartialEq, Eq)]
struct Holdings {
    fds: usize,
    threads: usize,
    children: usize,
    zombies: usize,
}

fn holdings() -> Holdings {
    let me = std::process::id().to_string();
    let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (mut children, mut zombies) = (0, 0);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        if fields.get(1) == Some(&me.as_str()) {
            children += 1;
            zombies += usize::from(fields[0] == "Z");
        }
    }
    Holdings {
        fds,
        threads,
        children,
        zombies,
    }
}

fn passes() {}

/// The two tests measure and load the same process: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn two_thousand_sandboxes_in_a_row_leave_the_test_process_as_it_was() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // One first, so that what lives for the process's lifetime (the fork server) exists.
    Sandbox::new().run(passes).assert_passed();
    let before = holdings();
    let start = Instant::now();
    for i in 0..2000 {
        let report = Sandbox::new().run(passes);
        assert!(report.outcome.is_passed(), "sandbox {i}: {report:?}");
    }
    eprintln!("2000 sandboxes in {:?}", start.elapsed());
    let after = holdings();
    assert_eq!(before, after);
    assert_eq!(after.zombies, 0);
}

fn panics() {
    panic!("expected");
}

const LINES: usize = 4000;

fn prints_lines() {
    let mut out = std::io::stdout().lock();
    for i in 0..LINES {
        writeln!(out, "line {i}").unwrap();
    }
}

#[test]
fn sixteen_threads_of_mixed_sandboxes_each_get_their_verdict() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let threads: Vec<_> = (0..16)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..25 {
                    let kind = (t + i) % 3;
                    let body: fn() = [passes, panics, prints_lines][kind];
                    let report = Sandbox::new().timeout(Duration::from_secs(120)).run(body);
                    match kind {
                        0 => assert!(report.outcome.is_passed(), "{report:?}"),
                        1 => assert!(
                            matches!(&report.outcome, Outcome::Panicked { message, .. } if message == "expected"),
                            "{report:?}"
                        ),
                        _ => {
                            assert!(report.outcome.is_passed(), "{report:?}");
                            let text = report.stdout.text();
                            assert_eq!(text.lines().count(), LINES);
                            assert_eq!(text.lines().last(), Some(format!("line {}", LINES - 1).as_str()));
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}
