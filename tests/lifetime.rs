//! The fork server and every sandbox die with the test process, even when it is killed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_test::sandboxed;

mod common;

#[sandboxed(timeout = "5m")]
#[ignore = "run by a_killed_test_process_takes_its_sandboxes_with_it, which then kills it"]
fn probe() {
    let marker = std::env::var("SANDBOX_TEST_LIFETIME_MARKER").unwrap();
    // Deliberately left running: killing the test process must kill it.
    #[allow(clippy::zombie_processes)]
    let _orphan = std::process::Command::new("sleep")
        .arg(&marker)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(300));
}

/// Whether `pid` is gone or a zombie.
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap()
            .trim_start()
            .starts_with('Z'),
    }
}

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_killed_test_process_takes_its_sandboxes_with_it() {
    let marker = format!("{}.{}", 800 + std::process::id() % 100, std::process::id());
    let mut test_process = Command::new(std::env::current_exe().unwrap())
        .args(["probe", "--exact", "--ignored"])
        .env("SANDBOX_TEST_LIFETIME_MARKER", &marker)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the sandbox's sleep runs", || {
        !common::processes_running(&marker).is_empty()
    });
    let sleeper = common::processes_running(&marker)[0].0;
    let pid = test_process.id();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let fork_server: u32 = children
        .split_whitespace()
        .next()
        .expect("the fork server")
        .parse()
        .unwrap();

    test_process.kill().unwrap();
    test_process.wait().unwrap();

    wait_until("the sandbox's processes are gone", || is_dead(sleeper));
    wait_until("the fork server is gone", || is_dead(fork_server));
}
