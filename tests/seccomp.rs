//! Seccomp end to end: each policy, through `#[sandboxed]` and through `Sandbox::run`.

mod common;

use std::path::PathBuf;

use sandbox_test::seccomp::{OnViolation, Rules};
use sandbox_test::{sandboxed, Errno, Outcome, Report, Sandbox};

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A sandbox with this `deny` list.
fn deny(names: &[&str], mode: OnViolation) -> Sandbox {
    let rules = Rules::new(names).unwrap().on_violation(mode);
    Sandbox::new().seccomp_deny(rules).unwrap()
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seccomp")
        .join(name)
}

fn violation(report: &Report) -> &sandbox_test::seccomp::Violation {
    match &report.outcome {
        Outcome::SeccompViolation(v) => v,
        other => panic!("expected a seccomp violation, got: {other}\n{report:?}"),
    }
}

// --- baseline -------------------------------------------------------------------------

#[sandboxed]
fn baseline_denies_escape_calls_with_eperm() {
    // SAFETY: keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0).
    assert_eq!(unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) }, -1);
    assert_eq!(errno(), libc::EPERM);
    // SAFETY: plain unshare.
    assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWUSER) }, -1);
    assert_eq!(errno(), libc::EPERM);
    // SAFETY: bpf with no arguments.
    assert_eq!(unsafe { libc::syscall(libc::SYS_bpf, 0, 0, 0) }, -1);
    assert_eq!(errno(), libc::EPERM);
    // Ordinary work goes on: threads, files, subprocesses.
    assert_eq!(std::thread::spawn(|| 5).join().unwrap(), 5);
    assert!(std::process::Command::new("true")
        .status()
        .unwrap()
        .success());
}

#[sandboxed(seccomp = "off")]
fn off_means_no_filter() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(status.contains("Seccomp:\t0"), "{status}");
}

#[sandboxed]
fn the_baseline_filter_is_loaded_with_no_new_privs() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(status.contains("Seccomp:\t2"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
}

// --- the three violation modes ----------------------------------------------------------

fn calls_getppid() {
    // SAFETY: getppid has no arguments.
    unsafe { libc::syscall(libc::SYS_getppid) };
}

#[test]
fn fail_mode_names_the_call_and_the_line() {
    let report = deny(&["getppid"], OnViolation::Fail).run(calls_getppid);
    let v = violation(&report);
    assert_eq!(v.syscall, "getppid");
    assert_eq!(v.errno, None);
    let at = v
        .user_frame()
        .and_then(|f| f.location())
        .unwrap_or_default();
    assert!(at.contains("tests/seccomp.rs:"), "{v}");
    let text = report.outcome.to_string();
    assert!(text.contains("forbidden syscall `getppid`"), "{text}");
    assert!(text.contains("tests/seccomp.rs:"), "{text}");
}

#[sandboxed(seccomp(deny = ["getppid"]))]
#[should_panic(expected = "forbidden syscall `getppid`")]
fn fail_mode_through_the_attribute() {
    calls_getppid();
}

#[sandboxed(seccomp(deny = ["getppid"], on_violation = "kill"))]
#[should_panic(expected = "killed by seccomp")]
fn kill_mode_through_the_attribute() {
    calls_getppid();
}

fn denied_twice_with_eacces() {
    // SAFETY: getppid has no arguments.
    assert_eq!(unsafe { libc::syscall(libc::SYS_getppid) }, -1);
    assert_eq!(errno(), libc::EACCES);
    let mut uts = unsafe { std::mem::zeroed() };
    // SAFETY: uname into a local.
    assert_eq!(unsafe { libc::uname(&mut uts) }, -1);
    assert_eq!(errno(), libc::EACCES);
}

#[test]
fn errno_mode_goes_on_and_lists_every_violation() {
    let report = deny(&["getppid", "uname"], OnViolation::Errno(Errno::EACCES))
        .run(denied_twice_with_eacces);
    assert!(report.outcome.is_passed(), "{}", report.outcome);
    let names: Vec<_> = report
        .seccomp
        .violations
        .iter()
        .map(|v| v.syscall.as_str())
        .collect();
    assert_eq!(names, ["getppid", "uname"]);
    assert!(
        report.notes.iter().any(|n| n.contains("`uname`")),
        "{:?}",
        report.notes
    );
}

/// With a `pids` limit the body enters a user namespace of its own, below the one its
/// supervisor (forked by the sandbox's init, with no capability) lives in: the supervisor
/// still takes the body's listener, reads its calls and answers them.
#[test]
fn a_body_in_a_user_namespace_of_its_own_is_supervised_too() {
    let report = deny(&["getppid", "uname"], OnViolation::Errno(Errno::EACCES))
        .pids(32)
        .unwrap()
        .run(denied_twice_with_eacces);
    assert!(report.outcome.is_passed(), "{}", report.outcome);
    let calls: Vec<_> = report
        .seccomp
        .violations
        .iter()
        .map(|v| (v.syscall.as_str(), v.pid))
        .collect();
    assert_eq!(calls, [("getppid", 2), ("uname", 2)]);
}

#[sandboxed(seccomp(deny = ["getppid", "uname"], on_violation = "errno", errno = "EACCES"))]
fn errno_mode_through_the_attribute() {
    denied_twice_with_eacces();
}

#[test]
fn kill_mode_is_reported_as_killed_by_seccomp() {
    let report = deny(&["getppid"], OnViolation::Kill).run(calls_getppid);
    let Outcome::KilledBySeccomp(v) = &report.outcome else {
        panic!("{}", report.outcome)
    };
    assert_eq!((v.syscall.as_str(), v.pid), ("getppid", 2), "{v}");
    let at = v
        .user_frame()
        .and_then(|f| f.location())
        .unwrap_or_default();
    assert!(at.contains("tests/seccomp.rs:"), "{v}");
}

fn allowlisted_body() {
    println!("only the allowed calls");
}

#[test]
fn allow_list_admits_the_listed_calls_and_the_harness() {
    let report = Sandbox::new()
        .seccomp_allow(Rules::new(["getpid"]).unwrap())
        .unwrap()
        .run(allowlisted_body);
    assert!(report.outcome.is_passed(), "{}", report.outcome);
    assert_eq!(report.stdout.text(), "only the allowed calls\n");
    let report = Sandbox::new()
        .seccomp_allow(Rules::new(["getpid"]).unwrap())
        .unwrap()
        .run(calls_getppid);
    assert_eq!(violation(&report).syscall, "getppid");
}

#[sandboxed(seccomp(deny = ["@mount", "@keyring"], on_violation = "errno"))]
fn groups_expand() {
    // SAFETY: umount2 of a path string.
    assert_eq!(unsafe { libc::umount2(c"/tmp".as_ptr(), 0) }, -1);
    assert_eq!(errno(), libc::EPERM);
}

// --- the article's two profiles and Docker's ---------------------------------------------

#[sandboxed(seccomp(profile = "tests/fixtures/seccomp/seed-block-clock_nanosleep.json"))]
fn article_profile_denies_clock_nanosleep() {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1000,
    };
    // SAFETY: a short relative sleep.
    let rc = unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &ts, std::ptr::null_mut()) };
    assert_eq!(rc, libc::EPERM);
}

fn reads_a_file() {
    std::fs::read("/proc/self/status").expect("reading a file");
}

#[test]
fn article_allowlist_fails_and_names_the_first_call_needed() {
    let report = Sandbox::new()
        .seccomp_profile(fixture("seed-minimal-allowlist.json"))
        .unwrap()
        .run(reads_a_file);
    assert!(
        matches!(report.outcome, Outcome::Panicked { .. }),
        "{}",
        report.outcome
    );
    let first = &report.seccomp.violations[0];
    assert!(first.syscall.starts_with("open"), "{first}");
    assert_eq!(first.errno, Some(libc::EPERM));
    assert!(
        report.notes[0].contains(&first.syscall),
        "{:?}",
        report.notes
    );
}

#[sandboxed(seccomp(profile = "tests/fixtures/seccomp/moby-default.json"))]
fn docker_default_passes_an_ordinary_body_and_denies_mount_and_keyctl() {
    std::fs::write("/tmp/x", b"data").unwrap();
    assert_eq!(std::fs::read("/tmp/x").unwrap(), b"data");
    assert_eq!(std::thread::spawn(|| 3).join().unwrap(), 3);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    // SAFETY: a tmpfs mount attempt.
    let rc = unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/mnt".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    assert_eq!((rc, errno()), (-1, libc::EPERM));
    // SAFETY: keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0).
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) };
    assert_eq!((rc, errno()), (-1, libc::EPERM));
}

#[test]
fn every_fixture_profile_loads_in_a_sandbox() {
    for entry in std::fs::read_dir(fixture("")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let report = Sandbox::new().seccomp_profile(&path).unwrap().run(|| {});
        // The minimal allowlist still lets an empty body report; all others pass it too.
        assert!(
            report.outcome.is_passed(),
            "{}: {}",
            path.display(),
            report.outcome
        );
    }
}

#[test]
fn a_bad_profile_names_the_file_and_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(
        &path,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["write"],"action":"SCMP_ACT_ERRNO","args":[{"index":9,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
    )
    .unwrap();
    let error = Sandbox::new()
        .seccomp_profile(&path)
        .unwrap_err()
        .to_string();
    assert!(error.contains("bad.json"), "{error}");
    assert!(error.contains("syscalls[1]"), "{error}");
    assert!(error.contains("index 9"), "{error}");
}

#[test]
fn an_unknown_syscall_name_is_refused_by_the_call_naming_it() {
    let error = Rules::new(["not_a_syscall"]).unwrap_err();
    assert!(error.to_string().contains("`not_a_syscall`"), "{error}");
}

// The attribute checks a name's shape; only libseccomp knows whether it exists, so an
// unknown one fails the test before the body runs.
#[sandboxed(seccomp(deny = ["not_a_syscall"]))]
#[should_panic(expected = "the body did not run: seccomp: unknown syscall `not_a_syscall`")]
fn an_unknown_syscall_in_the_attribute_fails_the_test_before_the_body() {
    panic!("the body ran");
}

// --- record, then replay ----------------------------------------------------------------

fn recorded_body() {
    // SAFETY: getppid has no arguments.
    assert!(unsafe { libc::syscall(libc::SYS_getppid) } > 0);
    std::fs::read("/proc/self/status").unwrap();
    assert_eq!(std::thread::spawn(|| 1).join().unwrap(), 1);
}

#[test]
fn record_then_replay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recorded.json");
    let report = Sandbox::new().seccomp_record(&path).run(recorded_body);
    assert!(report.outcome.is_passed(), "{}", report.outcome);
    assert!(report.seccomp.recorded.iter().any(|n| n == "getppid"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"SCMP_ACT_ERRNO\""), "{text}");
    assert!(text.contains("\"getppid\""), "{text}");

    let replay = Sandbox::new()
        .seccomp_profile(&path)
        .unwrap()
        .run(recorded_body);
    assert!(
        replay.outcome.is_passed(),
        "{}\n{:?}",
        replay.outcome,
        replay.notes
    );
    assert!(replay.seccomp.violations.is_empty(), "{:?}", replay.notes);

    // The recording is minimal: the same profile without getppid refuses it.
    let trimmed = text.replace("\"getppid\",", "");
    std::fs::write(&path, trimmed).unwrap();
    let replay = Sandbox::new()
        .seccomp_profile(&path)
        .unwrap()
        .run(recorded_body);
    assert!(!replay.outcome.is_passed());
    assert_eq!(replay.seccomp.violations[0].syscall, "getppid");
}

// --- foreign arches, threads, subprocesses ------------------------------------------------

#[cfg(target_arch = "x86_64")]
fn int80_getpid() -> i64 {
    let r: i64;
    // SAFETY: i386 getpid (20) through the compat entry; touches no memory.
    unsafe { std::arch::asm!("int 0x80", inlateout("rax") 20i64 => r, options(nostack)) };
    r
}

#[cfg(target_arch = "x86_64")]
#[sandboxed]
fn int80_and_x32_never_succeed() {
    assert_eq!(int80_getpid(), -i64::from(libc::EPERM));
    // SAFETY: x32 getpid: the filter answers EPERM where the kernel alone says ENOSYS.
    assert_eq!(unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) }, -1);
    assert_eq!(errno(), libc::EPERM);
}

#[cfg(target_arch = "x86_64")]
fn int80_in_fail_mode() {
    int80_getpid();
}

#[cfg(target_arch = "x86_64")]
#[test]
fn int80_is_a_violation_named_with_its_arch() {
    let report = deny(&["getppid"], OnViolation::Fail).run(int80_in_fail_mode);
    let v = violation(&report);
    assert_eq!(
        (v.syscall.as_str(), v.arch.as_str()),
        ("getpid", "i386"),
        "{v}"
    );
}

fn violates_in_a_second_thread() {
    std::thread::spawn(calls_getppid).join().unwrap();
    // Not reached: the violation ended the whole process.
    std::thread::sleep(std::time::Duration::from_secs(30));
}

#[test]
fn a_violation_in_a_second_thread_ends_the_test() {
    let report = deny(&["getppid"], OnViolation::Fail)
        .timeout(std::time::Duration::from_secs(20))
        .run(violates_in_a_second_thread);
    assert_eq!(violation(&report).syscall, "getppid");
}

#[sandboxed(seccomp(deny = ["uname"], on_violation = "errno"))]
fn a_subprocess_is_filtered_too() {
    let out = std::process::Command::new("uname").output().unwrap();
    assert!(!out.status.success(), "uname ran: {out:?}");
}

#[sandboxed(seccomp(deny = ["uname"], on_violation = "errno"))]
fn the_supervisor_is_not_a_child_of_the_body() {
    std::process::Command::new("true").status().unwrap();
    // Reap every child: only the one above exists, so this ends.
    loop {
        // SAFETY: waiting for any child.
        if unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) } == -1 {
            assert_eq!(errno(), libc::ECHILD);
            break;
        }
    }
}

#[test]
fn a_subprocess_violation_is_listed() {
    let report = deny(&["uname"], OnViolation::Errno(Errno::EPERM)).run(|| {
        let _ = std::process::Command::new("uname").output();
    });
    let v = report
        .seccomp
        .violations
        .iter()
        .find(|v| v.syscall == "uname");
    assert!(
        v.is_some_and(|v| v.pid != 2),
        "{:?}",
        report.seccomp.violations
    );
}

#[test]
fn a_deny_list_naming_a_harness_call_is_refused_by_the_call() {
    let rules = Rules::new(["exit_group"]).unwrap();
    let error = Sandbox::new().seccomp_deny(rules).unwrap_err();
    assert!(
        error.to_string().contains("`exit_group` cannot be denied"),
        "{error}"
    );
}

#[test]
fn the_last_policy_given_is_the_one_applied() {
    // `off` after a deny list: getppid is not a violation.
    let report = deny(&["getppid"], OnViolation::Fail)
        .seccomp_off()
        .run(calls_getppid);
    assert!(report.outcome.is_passed(), "{}", report.outcome);
    assert!(report.seccomp.violations.is_empty());
}

// --- a profile's actions, as written ------------------------------------------------------

fn profile_with(action: &str) -> (tempfile::TempDir, PathBuf) {
    profile_for("getppid", action)
}

fn profile_for(syscall: &str, action: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one-rule.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {{"names":["{syscall}"],"action":"{action}","errnoRet":13}}]}}"#
        ),
    )
    .unwrap();
    (dir, path)
}

fn getppid_result() -> (i64, i32) {
    // SAFETY: getppid has no arguments.
    let r = unsafe { libc::syscall(libc::SYS_getppid) };
    (r, errno())
}

#[test]
fn profile_actions_are_honoured_as_written() {
    let (_d, trap) = profile_with("SCMP_ACT_TRAP");
    let report = Sandbox::new()
        .seccomp_profile(&trap)
        .unwrap()
        .run(calls_getppid);
    assert_eq!(violation(&report).syscall, "getppid");

    let (_d, kill) = profile_with("SCMP_ACT_KILL_PROCESS");
    let report = Sandbox::new()
        .seccomp_profile(&kill)
        .unwrap()
        .run(calls_getppid);
    let Outcome::KilledBySeccomp(v) = &report.outcome else {
        panic!("{}", report.outcome)
    };
    assert_eq!(v.syscall, "getppid");

    let (_d, errno) = profile_with("SCMP_ACT_ERRNO");
    let report = Sandbox::new().seccomp_profile(&errno).unwrap().run(|| {
        assert_eq!(getppid_result(), (-1, libc::EACCES));
    });
    assert!(report.outcome.is_passed(), "{}", report.outcome);

    // No tracer attached: the kernel answers ENOSYS.
    let (_d, trace) = profile_with("SCMP_ACT_TRACE");
    let report = Sandbox::new().seccomp_profile(&trace).unwrap().run(|| {
        assert_eq!(getppid_result(), (-1, libc::ENOSYS));
    });
    assert!(report.outcome.is_passed(), "{}", report.outcome);

    let (_d, log) = profile_with("SCMP_ACT_LOG");
    let report = Sandbox::new().seccomp_profile(&log).unwrap().run(|| {
        assert!(getppid_result().0 > 0);
    });
    assert!(report.outcome.is_passed(), "{}", report.outcome);

    let (_d, notify) = profile_with("SCMP_ACT_NOTIFY");
    let error = Sandbox::new().seccomp_profile(&notify).unwrap_err();
    assert!(
        error.to_string().contains("syscalls[0]") && error.to_string().contains("SCMP_ACT_NOTIFY"),
        "{error}"
    );
}

#[sandboxed(seccomp(deny = ["getppid"]))]
#[should_panic(expected = "tests/seccomp.rs:")]
fn the_attribute_report_shows_this_file() {
    calls_getppid();
}

// --- any process of the sandbox; reports that read like strace ----------------------------

const PYTHON_SOCKET: &str = "import socket; socket.socket()";

/// Python, set to make no call but the one under test: without `HOME` its start-up looks
/// the user up (`site` → `getpwuid`), which asks nscd over a unix socket first.
fn python() -> std::process::Command {
    let mut python = std::process::Command::new(common::native_program("python3"));
    python.env("HOME", "/tmp");
    python
}

/// A subprocess (after exec) makes the forbidden call.
fn python_opens_a_socket() {
    let _ = python().args(["-c", PYTHON_SOCKET]).status();
}

/// A grandchild: body → sh -c → python3.
fn sh_runs_python_that_opens_a_socket() {
    let python = common::native_program("python3");
    let script = format!(
        "HOME=/tmp {} -c '{PYTHON_SOCKET}'; echo after",
        python.display()
    );
    let _ = std::process::Command::new("sh")
        .args(["-c", &script])
        .status();
    // Reached only if the violation did not end the test.
    std::thread::sleep(std::time::Duration::from_secs(30));
}

fn assert_python_socket(v: &sandbox_test::seccomp::Violation) {
    assert_eq!(v.syscall, "socket", "{v}");
    assert_ne!(v.pid, 2, "the subprocess, not the body: {v}");
    let command = v.command.as_deref().unwrap_or_default();
    assert!(command.contains("python3 -c"), "{v}");
    assert!(command.contains(PYTHON_SOCKET), "{v}");
    assert_eq!(v.decoded[0], "AF_INET", "{v}");
    assert!(v.decoded[1].starts_with("SOCK_STREAM"), "{v}");
    assert!(v.backtrace.is_empty(), "no stack for another program: {v}");
}

#[test]
fn a_subprocess_violation_fails_the_test_naming_the_subprocess() {
    let report = deny(&["socket"], OnViolation::Fail)
        .timeout(std::time::Duration::from_secs(30))
        .run(python_opens_a_socket);
    let v = violation(&report);
    assert_python_socket(v);
    let text = report.outcome.to_string();
    assert!(text.contains("socket(AF_INET, SOCK_STREAM"), "{text}");
    assert!(text.contains("python3 -c"), "{text}");
}

#[test]
fn a_subprocess_violation_in_kill_mode_is_killed_by_seccomp() {
    let report = deny(&["socket"], OnViolation::Kill)
        .timeout(std::time::Duration::from_secs(30))
        .run(python_opens_a_socket);
    let Outcome::KilledBySeccomp(v) = &report.outcome else {
        panic!("{}\n{report:?}", report.outcome)
    };
    assert_python_socket(v);
}

#[test]
fn a_subprocess_violation_in_errno_mode_passes_and_is_listed() {
    let report = deny(&["socket"], OnViolation::Errno(Errno::EPERM)).run(|| {
        let status = python().args(["-c", PYTHON_SOCKET]).status().unwrap();
        // Python saw the EPERM (PermissionError), it was not killed.
        assert_eq!(status.code(), Some(1));
    });
    assert!(report.outcome.is_passed(), "{}", report.outcome);
    let v = &report.seccomp.violations[0];
    assert_python_socket(v);
    assert_eq!(v.errno, Some(libc::EPERM));
    assert!(
        report.notes.iter().any(|n| n.contains("python3 -c")),
        "{:?}",
        report.notes
    );
}

#[test]
fn a_grandchild_violation_is_reported() {
    for mode in [OnViolation::Fail, OnViolation::Kill] {
        let report = deny(&["socket"], mode)
            .timeout(std::time::Duration::from_secs(20))
            .run(sh_runs_python_that_opens_a_socket);
        let v = match &report.outcome {
            Outcome::SeccompViolation(v) if mode == OnViolation::Fail => v,
            Outcome::KilledBySeccomp(v) if mode == OnViolation::Kill => v,
            other => panic!("{mode:?}: {other}\n{report:?}"),
        };
        assert_python_socket(v);
        assert!(
            !report.stdout.text().contains("after"),
            "{mode:?}: the test went on after the violation"
        );
    }
}

#[sandboxed(seccomp(deny = ["socket"]))]
#[should_panic(expected = "python3 -c")]
fn a_subprocess_violation_fails_the_attribute_test() {
    python_opens_a_socket();
}

/// The calls people meet, each refused, so the body can make them all.
fn makes_the_calls_people_meet() {
    let path = c"/etc/hostname";
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = 80u16.to_be();
    sin.sin_addr.s_addr = u32::from_be_bytes([10, 1, 2, 3]).to_be();
    // SAFETY: every call below is refused by the filter before the kernel runs it; were
    // one to run, it would only fail (bad descriptors) or create a child that exits.
    unsafe {
        libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK, 0);
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
            0o600,
        );
        libc::connect(
            99,
            &sin as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        let flags = (libc::CLONE_NEWUSER | libc::CLONE_NEWNET | libc::SIGCHLD) as libc::c_ulong;
        if libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) == 0 {
            libc::_exit(0);
        }
        libc::ioctl(99, libc::TIOCSTI, c"x".as_ptr());
        libc::mount(
            c"none".as_ptr(),
            c"/mnt".as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            std::ptr::null(),
        );
    }
}

#[test]
fn reports_decode_arguments_like_strace() {
    let listed = ["socket", "openat", "connect", "clone", "ioctl", "mount"];
    let report = deny(&listed, OnViolation::Errno(Errno::EPERM)).run(makes_the_calls_people_meet);
    assert!(report.outcome.is_passed(), "{}", report.outcome);
    let calls: Vec<String> = report.seccomp.violations.iter().map(|v| v.call()).collect();
    let expected = [
        "socket(AF_INET6, SOCK_DGRAM|SOCK_NONBLOCK, IPPROTO_IP)",
        "openat(AT_FDCWD, \"/etc/hostname\", O_WRONLY|O_CREAT|O_CLOEXEC, 0600)",
        "connect(99, {sa_family=AF_INET, sin_port=htons(80), \
         sin_addr=inet_addr(\"10.1.2.3\")}, 16)",
        "clone(CLONE_NEWUSER|CLONE_NEWNET|SIGCHLD, NULL, NULL, NULL, NULL)",
        "ioctl(99, TIOCSTI, ",
        "mount(\"none\", \"/mnt\", \"tmpfs\", MS_NOSUID|MS_NODEV, NULL)",
    ];
    assert_eq!(calls.len(), expected.len(), "{calls:#?}");
    for (call, want) in calls.iter().zip(expected) {
        assert!(call.starts_with(want), "{call}\nwanted {want}");
    }
    // The raw words are kept next to the decoded form.
    assert_eq!(report.seccomp.violations[0].args[0], libc::AF_INET6 as u64);
    // And the test output (the notes) shows the decoded form.
    assert!(
        report.notes.iter().any(|n| n.contains("\"/etc/hostname\"")),
        "{:?}",
        report.notes
    );
}

#[test]
fn errno_mode_reports_the_bodys_function_and_line() {
    let report = deny(&["getppid", "uname"], OnViolation::Errno(Errno::EACCES))
        .run(denied_twice_with_eacces);
    assert!(report.outcome.is_passed(), "{}", report.outcome);
    for v in &report.seccomp.violations {
        let frame = v
            .user_frame()
            .unwrap_or_else(|| panic!("no user frame: {v}"));
        assert!(
            frame
                .function
                .as_deref()
                .is_some_and(|f| f.contains("denied_twice_with_eacces")),
            "{v}"
        );
        assert!(
            frame
                .location()
                .unwrap_or_default()
                .contains("tests/seccomp.rs:"),
            "{v}"
        );
    }
    assert!(
        report.notes.iter().any(|n| n.contains("tests/seccomp.rs:")),
        "{:?}",
        report.notes
    );
}

#[test]
fn a_profiles_trap_and_kill_reach_subprocesses() {
    let (_d, trap) = profile_for("socket", "SCMP_ACT_TRAP");
    let report = Sandbox::new()
        .timeout(std::time::Duration::from_secs(30))
        .seccomp_profile(&trap)
        .unwrap()
        .run(python_opens_a_socket);
    assert_python_socket(violation(&report));

    let (_d, kill) = profile_for("socket", "SCMP_ACT_KILL_PROCESS");
    let report = Sandbox::new()
        .timeout(std::time::Duration::from_secs(30))
        .seccomp_profile(&kill)
        .unwrap()
        .run(python_opens_a_socket);
    let Outcome::KilledBySeccomp(v) = &report.outcome else {
        panic!("{}", report.outcome)
    };
    assert_python_socket(v);
}
