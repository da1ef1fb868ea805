//! Fault injection end to end: `inject(...)` makes real syscalls fail, return early or
//! run late, in the body and in its subprocesses.

use std::io::{ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use sandbox_test::seccomp::{OnViolation, Rules};
use sandbox_test::{sandboxed, Errno, Fault, Inject, Outcome, Sandbox, When};

fn raw_errno(result: std::io::Result<()>) -> Option<i32> {
    result.err().map(|e| e.raw_os_error().expect("an OS error"))
}

// --- errno, path, when ----------------------------------------------------------------

#[sandboxed(inject(syscall = "write", errno = "ENOSPC", path = "/tmp/app/*"))]
fn a_write_under_the_path_gets_enospc() {
    std::fs::create_dir("/tmp/app").unwrap();
    let full = std::fs::write("/tmp/app/data", b"payload");
    assert_eq!(raw_errno(full), Some(libc::ENOSPC));
    std::fs::write("/tmp/elsewhere", b"payload").unwrap();
    assert_eq!(std::fs::read("/tmp/elsewhere").unwrap(), b"payload");
    // The refused write never reached the file.
    assert_eq!(std::fs::read("/tmp/app/data").unwrap(), b"");
}

/// Five writes to files under /tmp/w, one write(2) each; which of them failed.
fn five_writes() -> Vec<bool> {
    std::fs::create_dir("/tmp/w").unwrap();
    (1..=5)
        .map(|i| std::fs::write(format!("/tmp/w/{i}"), b"x").is_err())
        .collect()
}

#[sandboxed(inject(syscall = "write", errno = "ENOSPC", when = "3", path = "/tmp/w/*"))]
fn when_3_fails_only_the_third_write() {
    assert_eq!(five_writes(), [false, false, true, false, false]);
}

#[sandboxed(inject(syscall = "write", errno = "ENOSPC", when = "2+", path = "/tmp/w/*"))]
fn when_2_plus_fails_all_but_the_first() {
    assert_eq!(five_writes(), [false, true, true, true, true]);
}

#[sandboxed(
    inject(syscall = "write", errno = "EIO", when = "2..3", path = "/tmp/w/*"),
    inject(syscall = "write", errno = "ENOSPC", when = "5", path = "/tmp/w/*")
)]
fn several_rules_count_each_on_its_own() {
    std::fs::create_dir("/tmp/w").unwrap();
    let errors: Vec<Option<i32>> = (1..=5)
        .map(|i| raw_errno(std::fs::write(format!("/tmp/w/{i}"), b"x")))
        .collect();
    assert_eq!(
        errors,
        [
            None,
            Some(libc::EIO),
            Some(libc::EIO),
            None,
            Some(libc::ENOSPC)
        ]
    );
}

#[sandboxed(inject(syscall = "write", retval = 1, path = "/tmp/short"))]
fn retval_makes_a_short_write_that_never_ran() {
    let mut file = std::fs::File::create("/tmp/short").unwrap();
    assert_eq!(file.write(b"hello").unwrap(), 1);
    drop(file);
    assert_eq!(std::fs::read("/tmp/short").unwrap(), b"");
}

// --- real programs ----------------------------------------------------------------------

#[sandboxed(
    inject(syscall = "fsync", errno = "EIO"),
    inject(syscall = "fdatasync", errno = "EIO")
)]
fn sqlite_reports_a_failing_fsync() {
    let db = rusqlite::Connection::open("/tmp/app.sqlite").unwrap();
    let result = db.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);");
    let err = result.expect_err("SQLite committed although every sync failed");
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::SystemIoFailure),
        "{err}"
    );
}

#[sandboxed(inject(syscall = "connect", errno = "ECONNREFUSED", when = "1"))]
fn connect_is_refused_although_a_server_listens() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = server.local_addr().unwrap();
    let refused = TcpStream::connect(address).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    // The server was there all along: the next connect (not injected) reaches it.
    let _stream = TcpStream::connect(address).unwrap();
    server.accept().unwrap();
}

#[sandboxed(inject(syscall = "read", delay = "1s", path = "/tmp/slow"))]
fn delayed_reads_run_late_and_others_do_not() {
    std::fs::write("/tmp/slow", b"slow").unwrap();
    std::fs::write("/tmp/fast", b"fast").unwrap();
    let started = Instant::now();
    assert_eq!(std::fs::read("/tmp/slow").unwrap(), b"slow");
    let slow = started.elapsed();
    assert!(slow >= Duration::from_secs(1), "{slow:?}");
    let started = Instant::now();
    assert_eq!(std::fs::read("/tmp/fast").unwrap(), b"fast");
    let fast = started.elapsed();
    assert!(fast < Duration::from_secs(1), "{fast:?}");
}

#[sandboxed(inject(syscall = "read", delay = "3s", path = "/tmp/slow"))]
fn a_delayed_call_holds_up_no_other() {
    std::fs::write("/tmp/slow", b"slow").unwrap();
    std::fs::write("/tmp/fast", b"fast").unwrap();
    let slow = std::thread::spawn(|| std::fs::read("/tmp/slow").unwrap());
    // Give the slow reader time to be held by the supervisor.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(std::fs::read("/tmp/fast").unwrap(), b"fast");
    assert!(
        !slow.is_finished(),
        "the fast read waited for the delayed one"
    );
    assert_eq!(slow.join().unwrap(), b"slow");
}

#[sandboxed(inject(syscall = "openat", errno = "EACCES", path = "/tmp/locked/*"))]
fn a_subprocess_is_refused_under_the_path_only() {
    // Put a file under the path without openat there: create it elsewhere, move it in.
    std::fs::create_dir("/tmp/locked").unwrap();
    std::fs::write("/tmp/staged", b"secret").unwrap();
    std::fs::rename("/tmp/staged", "/tmp/locked/file").unwrap();
    std::fs::write("/tmp/open", b"public").unwrap();
    let cat = |path: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("cat {path}")])
            .output()
            .unwrap()
    };
    let refused = cat("/tmp/locked/file");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("Permission denied"), "{stderr}");
    let allowed = cat("/tmp/open");
    assert!(allowed.status.success(), "{allowed:?}");
    assert_eq!(allowed.stdout, b"public");
}

#[sandboxed(inject(syscall = "openat", errno = "EACCES", when = "2", path = "/tmp/shared"))]
fn calls_are_counted_across_processes() {
    std::fs::write("/tmp/seed", b"x").unwrap();
    std::fs::rename("/tmp/seed", "/tmp/shared").unwrap();
    let cat = || {
        std::process::Command::new("cat")
            .arg("/tmp/shared")
            .output()
            .unwrap()
            .status
            .success()
    };
    // The first open (one process) passes, the second (another process) fails, the third
    // (this process) passes.
    assert!(cat());
    assert!(!cat());
    assert_eq!(std::fs::read("/tmp/shared").unwrap(), b"x");
}

// --- the report, the precedence, bad rules --------------------------------------------

fn writes_three_files() {
    std::fs::create_dir("/tmp/r").unwrap();
    for name in ["a", "b", "c"] {
        let _ = std::fs::write(format!("/tmp/r/{name}"), b"x");
    }
}

#[test]
fn the_report_lists_each_injected_fault() {
    let report = Sandbox::new()
        .inject(
            Inject::new("write", Fault::Errno(Errno::ENOSPC))
                .when(When::nth(2))
                .path("/tmp/r/*"),
        )
        .unwrap()
        .run(writes_three_files);
    assert!(report.outcome.is_passed(), "{report:?}");
    let injected = &report.seccomp.injected;
    assert_eq!(injected.len(), 1, "{injected:?}");
    let fault = &injected[0];
    assert_eq!(fault.syscall, "write");
    assert_eq!(fault.call, 2);
    assert_eq!(fault.rule, 0);
    assert_eq!(fault.path.as_deref(), Some("/tmp/r/b"));
    assert_eq!(fault.pid, 2, "the body is pid 2");
    assert_eq!(fault.fault, Fault::Errno(Errno::ENOSPC));
    assert_eq!(fault.args[2], 1, "write's length argument");
    assert_eq!(fault.decoded.len(), 3, "{:?}", fault.decoded);
    assert_eq!(fault.decoded[2], "1", "decoded as write(fd, buf, count)");
    let note = report
        .notes
        .iter()
        .find(|n| n.starts_with("inject: "))
        .expect("a note in the test output");
    assert!(
        note.contains("injected errno = \"ENOSPC\" into `write`")
            && note.contains("matching call 2 of rule 0")
            && note.contains("/tmp/r/b"),
        "{note}"
    );
}

const FULL_DISK_BODY_START: u32 = line!();
fn writes_to_a_full_disk() {
    let full = std::fs::write("/tmp/full", b"x");
    assert_eq!(raw_errno(full), Some(libc::ENOSPC));
}
const FULL_DISK_BODY_END: u32 = line!();

#[test]
fn the_report_names_the_body_s_source_line() {
    let report = Sandbox::new()
        .inject(Inject::new("write", Fault::Errno(Errno::ENOSPC)).path("/tmp/full"))
        .unwrap()
        .run(writes_to_a_full_disk);
    assert!(report.outcome.is_passed(), "{report:?}");
    let fault = &report.seccomp.injected[..];
    assert_eq!(fault.len(), 1, "{fault:?}");
    let at = fault[0].user_frame().expect("the body's frame");
    let file = at.file.as_deref().unwrap_or_default();
    assert!(file.ends_with("tests/fault_injection.rs"), "{at:?}");
    let line = at.line.expect("a line number");
    assert!(
        (FULL_DISK_BODY_START..FULL_DISK_BODY_END).contains(&line),
        "{at:?} is not in writes_to_a_full_disk"
    );
    let location = format!("at {file}:{line}");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("inject: ") && n.contains(&location)),
        "{location} in {:?}",
        report.notes
    );
}

fn connects_and_writes() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = TcpStream::connect(server.local_addr().unwrap()).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EACCES),
        "the policy answers first"
    );
    std::fs::create_dir("/tmp/app").unwrap();
    let err = std::fs::write("/tmp/app/x", b"x").unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENOSPC),
        "allowed calls are injected"
    );
}

#[test]
fn the_policy_refuses_before_anything_is_injected() {
    let rules = Rules::new(["connect"])
        .unwrap()
        .on_violation(OnViolation::Errno(Errno::EACCES));
    let report = Sandbox::new()
        .seccomp_deny(rules)
        .unwrap()
        .inject(Inject::new("connect", Fault::Errno(Errno::ECONNREFUSED)))
        .unwrap()
        .inject(Inject::new("write", Fault::Errno(Errno::ENOSPC)).path("/tmp/app/*"))
        .unwrap()
        .run(connects_and_writes);
    assert!(report.outcome.is_passed(), "{report:?}");
    assert_eq!(report.seccomp.violations.len(), 1);
    assert_eq!(report.seccomp.violations[0].syscall, "connect");
    let injected: Vec<&str> = report
        .seccomp
        .injected
        .iter()
        .map(|i| i.syscall.as_str())
        .collect();
    assert_eq!(injected, ["write"]);
}

#[test]
fn a_syscall_unknown_here_is_an_error_naming_it() {
    let err = Sandbox::new()
        .inject(Inject::new("no_such_call", Fault::Retval(0)))
        .unwrap_err();
    assert!(err.to_string().contains("no_such_call"), "{err}");
}

#[test]
fn bad_rules_on_the_builder_are_errors_of_the_call() {
    let err = |rule: Inject| Sandbox::new().inject(rule).unwrap_err().to_string();
    let glob = err(Inject::new("write", Fault::Errno(Errno::EIO)).path("/tmp/[unclosed"));
    assert!(glob.contains("bad path glob"), "{glob}");
    let no_path = err(Inject::new("getpid", Fault::Retval(7)).path("/tmp/x"));
    assert!(no_path.contains("takes no path or descriptor"), "{no_path}");
    let exit = err(Inject::new("exit_group", Fault::Errno(Errno::EIO)));
    assert!(exit.contains("cannot be injected"), "{exit}");
}

fn writes_under_app() {
    std::fs::create_dir("/tmp/app").unwrap();
    assert_eq!(
        raw_errno(std::fs::write("/tmp/app/x", b"x")),
        Some(libc::ENOSPC)
    );
}

#[test]
fn record_mode_records_and_injects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorded.json");
    let report = Sandbox::new()
        .seccomp_record(&path)
        .inject(Inject::new("write", Fault::Errno(Errno::ENOSPC)).path("/tmp/app/*"))
        .unwrap()
        .run(writes_under_app);
    assert!(report.outcome.is_passed(), "{report:?}");
    assert!(report
        .seccomp
        .recorded
        .iter()
        .any(|n| n == "mkdir" || n == "mkdirat"));
    assert_eq!(report.seccomp.injected.len(), 1);
    assert!(path.exists());
}

#[sandboxed(
    inject(syscall = "write", errno = "EIO"),
    inject(syscall = "@network-io", errno = "ENETDOWN")
)]
fn injecting_every_write_and_send_still_reports_the_verdict() {
    assert!(std::io::stdout().write_all(b"lost\n").is_err());
}

fn panics() {
    panic!("the message cannot be written");
}

#[test]
fn a_panic_is_reported_although_writes_fail() {
    let report = Sandbox::new()
        .inject(Inject::new("write", Fault::Errno(Errno::EIO)))
        .unwrap()
        .inject(Inject::new("sendmsg", Fault::Errno(Errno::EIO)))
        .unwrap()
        .run(panics);
    assert!(
        matches!(report.outcome, Outcome::Panicked { .. }),
        "{report:?}"
    );
}
