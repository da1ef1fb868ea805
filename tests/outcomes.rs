//! Every way a body can end, seen through the programmatic API.

use std::io::Write;
use std::time::Duration;

use sandbox_test::{Outcome, Output, Sandbox};

mod common;

/// The line of the `panic!` below.
const PANIC_LINE: u32 = line!() + 4;

fn panics() {
    let n = 3;
    panic!("boom {n}");
}

#[test]
fn a_panic_carries_its_message_and_location() {
    let report = Sandbox::new().run(panics);
    match report.outcome {
        Outcome::Panicked {
            message,
            location,
            backtrace,
        } => {
            assert_eq!(message, "boom 3");
            let location = location.unwrap();
            assert!(
                location.starts_with(&format!("tests/outcomes.rs:{PANIC_LINE}:")),
                "{location}"
            );
            assert_eq!(
                backtrace.is_some(),
                std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0")
            );
        }
        other => panic!("{other}"),
    }
}

fn panics_with_a_backtrace() {
    panics();
}

#[test]
fn rust_backtrace_brings_the_backtrace_back() {
    let report = Sandbox::new()
        .env("RUST_BACKTRACE", "1")
        .run(panics_with_a_backtrace);
    match report.outcome {
        Outcome::Panicked {
            backtrace: Some(backtrace),
            ..
        } => {
            assert!(
                backtrace.contains("outcomes::panics_with_a_backtrace"),
                "{backtrace}"
            );
            // Short, as Rust's own: it starts at the panicking function and stops at the body.
            assert!(
                backtrace.trim_start().starts_with("0: outcomes::panics\n"),
                "{backtrace}"
            );
            assert!(!backtrace.contains("rust_begin_unwind"), "{backtrace}");
            assert!(!backtrace.contains("sandbox_test::body"), "{backtrace}");
        }
        other => panic!("{other}"),
    }
}

fn returns_err() -> Result<(), String> {
    Err("not today".to_owned())
}

#[test]
fn an_err_carries_its_debug_text() {
    let report = Sandbox::new().run(returns_err);
    assert_eq!(
        report.outcome,
        Outcome::ReturnedErr {
            debug: "\"not today\"".into()
        }
    );
}

fn exits_early() {
    std::process::exit(0);
}

#[test]
fn exit_0_before_reporting_is_not_a_pass() {
    let report = Sandbox::new().run(exits_early);
    assert_eq!(report.outcome, Outcome::Exited { code: 0 });
    assert!(report
        .outcome
        .to_string()
        .contains("exited with code 0 before it reported"));
}

fn exits_with_3() {
    std::process::exit(3);
}

#[test]
fn an_exit_code_is_reported() {
    assert_eq!(
        Sandbox::new().run(exits_with_3).outcome,
        Outcome::Exited { code: 3 }
    );
}

fn aborts() {
    std::process::abort();
}

#[test]
fn abort_is_killed_by_sigabrt() {
    let report = Sandbox::new().run(aborts);
    assert!(
        matches!(
            report.outcome,
            Outcome::Signaled {
                signal: libc::SIGABRT,
                ..
            }
        ),
        "{}",
        report.outcome
    );
}

fn kills_itself() {
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL).unwrap();
}

#[test]
fn sigkill_is_reported() {
    let report = Sandbox::new().run(kills_itself);
    assert_eq!(
        report.outcome,
        Outcome::Signaled {
            signal: libc::SIGKILL,
            core_dumped: false
        }
    );
    assert_eq!(
        report.outcome.to_string(),
        "sandboxed test was killed by SIGKILL"
    );
}

fn segfaults() {
    // SAFETY: not safe at all; that is the test.
    unsafe { std::ptr::null_mut::<u64>().write_volatile(7) };
}

#[test]
fn a_segfault_is_killed_by_sigsegv() {
    let report = Sandbox::new().run(segfaults);
    assert!(
        matches!(
            report.outcome,
            Outcome::Signaled {
                signal: libc::SIGSEGV,
                ..
            }
        ),
        "{}",
        report.outcome
    );
}

fn loops_forever() {
    #[allow(clippy::empty_loop)]
    loop {}
}

#[test]
fn an_endless_loop_times_out() {
    let report = Sandbox::new()
        .timeout(Duration::from_millis(500))
        .run(loops_forever);
    assert_eq!(
        report.outcome,
        Outcome::TimedOut {
            after: Duration::from_millis(500)
        }
    );
}

/// Starts a `sleep` with a unique duration (so the host can find it) and returns at once.
fn leaves_a_grandchild_behind() {
    let marker = std::env::var("MARKER").unwrap();
    // Deliberately left running: the sandbox must kill it.
    #[allow(clippy::zombie_processes)]
    let _orphan = std::process::Command::new("sleep")
        .arg(&marker)
        .spawn()
        .unwrap();
    std::process::Command::new("sh")
        .args(["-c", &format!("sleep {marker} &")])
        .status()
        .unwrap();
}

#[test]
fn processes_that_outlive_the_body_are_killed() {
    let marker = format!("{}.{}", 900 + std::process::id() % 100, std::process::id());
    let report = Sandbox::new()
        .env("MARKER", &marker)
        .run(leaves_a_grandchild_behind);
    report.assert_passed();
    assert_eq!(common::processes_running(&marker), []);
}

fn floods_stdout_and_stderr() {
    let chunk = vec![b'o'; 1024 * 1024];
    let mut stdout = std::io::stdout().lock();
    for i in 0..100 {
        stdout.write_all(&chunk).unwrap();
        if i % 10 == 0 {
            eprintln!("progress {i}");
        }
    }
}

#[test]
fn a_hundred_megabytes_of_output_do_not_deadlock() {
    let report = Sandbox::new().run(floods_stdout_and_stderr);
    report.assert_passed();
    assert_eq!(report.stdout.total_len(), 100 * 1024 * 1024);
    assert_eq!(report.stdout.bytes().len(), Output::CAP);
    assert!(report.stdout.is_truncated());
    assert!(report.stderr.text().contains("progress 90"));
    assert!(!report.stderr.is_truncated());
}

fn prints_from_a_subprocess() {
    println!("from the body");
    std::process::Command::new("sh")
        .args(["-c", "echo from a subprocess; echo to stderr >&2"])
        .status()
        .unwrap();
    print!("no newline at the end");
}

#[test]
fn output_of_the_body_and_its_subprocesses_is_captured() {
    let report = Sandbox::new().run(prints_from_a_subprocess);
    report.assert_passed();
    assert_eq!(
        report.stdout.text(),
        "from the body\nfrom a subprocess\nno newline at the end"
    );
    assert_eq!(report.stderr.text(), "to stderr\n");
}

fn starts_a_nested_sandbox() {
    fn inner() {}
    let report = Sandbox::new().run(inner);
    match report.outcome {
        Outcome::SetupFailed(failure) => {
            assert_eq!(failure.step, "reach the fork server");
            assert!(
                failure.detail.contains("cannot start another sandbox"),
                "{}",
                failure.detail
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_body_cannot_start_a_sandbox_and_says_why() {
    let report = Sandbox::new().run(starts_a_nested_sandbox);
    report.assert_passed();
}

fn signals_reach_the_body() {
    use nix::sys::signal::{kill, SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGUSR1);
    set.thread_block().unwrap();
    // Ask the init (pid 1) to pass a signal on; it forwards everything but SIGCHLD.
    kill(nix::unistd::Pid::from_raw(1), Signal::SIGUSR1).unwrap();
    assert_eq!(set.wait().unwrap(), Signal::SIGUSR1);
}

#[test]
fn the_init_forwards_signals_to_the_body() {
    let report = Sandbox::new()
        .timeout(Duration::from_secs(20))
        .run(signals_reach_the_body);
    report.assert_passed();
}
