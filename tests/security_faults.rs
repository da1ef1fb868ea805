//! Faults: a body that misbehaves toward the harness gets the verdict it earned, on time,
//! and never a pass. Fork and memory bombs are `tests/isolation.rs`
//! (`a_fork_bomb_under_pids_32_is_stopped_and_reported`,
//! `a_memory_bomb_under_64m_is_reported_and_the_harness_survives`).

use std::io::Write;
use std::time::{Duration, Instant};

use sandbox_test::{Outcome, Report, Sandbox};

/// The channel's descriptor in the body (see DESIGN.md).
const CHANNEL: i32 = 3;

fn run_for(timeout: Duration, body: fn()) -> (Report, Duration) {
    let start = Instant::now();
    let report = Sandbox::new().timeout(timeout).run(body);
    (report, start.elapsed())
}

fn stops_itself() {
    // SAFETY: plain signal to itself.
    unsafe { libc::raise(libc::SIGSTOP) };
}

fn ignores_sigterm() {
    // SAFETY: ignoring a signal.
    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    loop {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_body_that_stops_itself_or_ignores_sigterm_times_out_on_time() {
    for body in [stops_itself as fn(), ignores_sigterm] {
        let (report, took) = run_for(Duration::from_millis(500), body);
        assert!(
            matches!(report.outcome, Outcome::TimedOut { .. }),
            "{report:?}"
        );
        assert!(took < Duration::from_secs(20), "took {took:?}");
    }
}

fn exits_0_from_a_thread() {
    std::thread::spawn(|| std::process::exit(0)).join().unwrap();
    unreachable!();
}

fn closes_the_channel() {
    // SAFETY: closing the harness's channel, on purpose.
    unsafe { libc::close(CHANNEL) };
}

fn send_raw(bytes: &[u8]) {
    // SAFETY: one packet on the channel from a local buffer.
    unsafe { libc::send(CHANNEL, bytes.as_ptr().cast(), bytes.len(), 0) };
}

fn garbage_then_crash() {
    send_raw(b"\xff\xfe\x00 not json {\"Verdict\"");
    std::process::abort();
}

fn half_a_pass_then_crash() {
    send_raw(br#"{"Verdict":"Pas"#);
    std::process::abort();
}

fn a_forged_pass_then_crash() {
    send_raw(br#"{"Verdict":"Passed"}"#);
    std::process::abort();
}

fn a_forged_pass_then_exit_1() {
    send_raw(br#"{"Verdict":"Passed"}"#);
    send_raw(br#"{"BodyExited":{"Code":0}}"#);
    std::process::exit(1);
}

#[test]
fn nothing_a_body_does_to_the_channel_or_its_exit_turns_into_a_pass() {
    for (name, body) in [
        ("exit(0) from a thread", exits_0_from_a_thread as fn()),
        ("close(3) then return", closes_the_channel),
        ("garbage then abort", garbage_then_crash),
        ("half a message then abort", half_a_pass_then_crash),
        ("a forged pass then abort", a_forged_pass_then_crash),
        (
            "a forged pass and exit status then exit(1)",
            a_forged_pass_then_exit_1,
        ),
    ] {
        let (report, took) = run_for(Duration::from_secs(30), body);
        assert!(
            !report.outcome.is_passed() && !matches!(report.outcome, Outcome::TimedOut { .. }),
            "{name}: {report:?}"
        );
        assert!(took < Duration::from_secs(20), "{name}: took {took:?}");
    }
}

const FLOOD: usize = 40 << 20;

fn floods_stdout_then_aborts() {
    let chunk = vec![b'x'; 1 << 20];
    let mut stdout = std::io::stdout().lock();
    for _ in 0..FLOOD / chunk.len() {
        stdout.write_all(&chunk).unwrap();
    }
    stdout.flush().unwrap();
    std::process::abort();
}

#[test]
fn forty_megabytes_then_abort_is_sigabrt_with_every_byte_counted() {
    let (report, _) = run_for(Duration::from_secs(60), floods_stdout_then_aborts);
    let Outcome::Signaled { signal, .. } = report.outcome else {
        panic!("expected SIGABRT: {}", report.outcome)
    };
    assert_eq!(signal, libc::SIGABRT);
    assert_eq!(report.stdout.total_len(), FLOOD as u64);
    assert!(report.stdout.is_truncated());
}
