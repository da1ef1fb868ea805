//! Processes: the host's processes are out of sight and out of reach, and so is every
//! process of the sandbox that is less restricted than the body (the init, the seccomp
//! supervisor). Killing the harness mid-test is `tests/lifetime.rs`; a daemon left behind
//! is `tests/outcomes.rs` (`processes_that_outlive_the_body_are_killed`).

use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use sandbox_test::{sandboxed, Outcome, Sandbox};

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// What the body can do to `pid`: ptrace attach, read /proc/PID/mem, process_vm_readv,
/// pidfd_getfd. Each entry is `None` when refused, `Some(what)` when it worked.
fn reach(pid: i32) -> Vec<(&'static str, Result<(), i32>)> {
    let mut results = Vec::new();
    // SAFETY: PTRACE_ATTACH on a pid; detached again below when it worked.
    let attach = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0) };
    results.push((
        "ptrace attach",
        if attach == 0 { Ok(()) } else { Err(errno()) },
    ));
    if attach == 0 {
        // SAFETY: waiting for the stop of the tracee we attached, then detaching.
        unsafe {
            libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL);
            libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
        }
    }
    // Opening is the access check; what is at offset 0 does not matter.
    let mem = std::fs::File::open(format!("/proc/{pid}/mem"));
    results.push((
        "open /proc/PID/mem",
        mem.map(drop).map_err(|e| e.raw_os_error().unwrap_or(0)),
    ));
    let mem_rw = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/mem"));
    results.push((
        "open /proc/PID/mem for writing",
        mem_rw.map(drop).map_err(|e| e.raw_os_error().unwrap_or(0)),
    ));
    let mut byte = [0u8; 1];
    let local = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // Any address: a refusal comes before the address is looked at.
    let remote = libc::iovec {
        iov_base: 0x1000 as *mut libc::c_void,
        iov_len: 1,
    };
    // SAFETY: one local buffer of one byte.
    let read = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    // EFAULT means the access check passed and only the address was bad.
    results.push((
        "process_vm_readv",
        if read >= 0 || errno() == libc::EFAULT {
            Ok(())
        } else {
            Err(errno())
        },
    ));
    // SAFETY: pidfd_open returns a fresh fd or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let getfd = if pidfd < 0 {
        Err(errno())
    } else {
        // SAFETY: pidfd is ours; pidfd_getfd returns a fresh fd or -1.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
        let fd = unsafe {
            libc::syscall(
                libc::SYS_pidfd_getfd,
                std::os::fd::AsRawFd::as_raw_fd(&pidfd),
                0,
                0,
            )
        };
        if fd >= 0 {
            // SAFETY: a fresh fd of ours.
            drop(unsafe { OwnedFd::from_raw_fd(fd as i32) });
            Ok(())
        } else {
            Err(errno())
        }
    };
    results.push(("pidfd_getfd", getfd));
    results
}

/// The other processes of the sandbox, by pid.
fn other_pids() -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .collect()
}

/// The body's own child is reachable (there is no Yama here to stop it): the control that
/// shows the checks can fail. The init and the supervisor are not.
fn the_less_restricted_are_out_of_reach() {
    let helpers = other_pids();
    assert!(helpers.contains(&1), "no init in {helpers:?}");
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let control = reach(child.id() as i32);
    child.kill().unwrap();
    child.wait().unwrap();
    for (what, result) in &control {
        assert!(
            result.is_ok(),
            "control: {what} on the body's own child: {result:?}"
        );
    }
    for pid in helpers {
        for (what, result) in reach(pid) {
            assert!(result.is_err(), "{what} reached pid {pid}");
        }
    }
}

#[sandboxed]
fn the_init_is_out_of_the_bodys_reach() {
    the_less_restricted_are_out_of_reach();
}

#[sandboxed(seccomp(deny = ["mknod"], on_violation = "errno"))]
fn the_errno_supervisor_is_out_of_the_bodys_reach() {
    // The supervisor is a process of its own beside the init.
    assert!(other_pids().len() >= 2, "{:?}", other_pids());
    the_less_restricted_are_out_of_reach();
}

/// The body can signal the supervisor (same uid, same pid namespace): `kill(-1)` kills
/// it. Every call only it answers would then wait forever; the test fails at once
/// instead, and names why (not a timeout with no report).
fn kills_everything_then_makes_the_forbidden_call() {
    // SAFETY: kill(-1) reaches every process of the sandbox the body may signal.
    assert_eq!(unsafe { libc::kill(-1, libc::SIGKILL) }, 0);
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: the call the policy refuses.
    unsafe { libc::getppid() };
    println!("the forbidden call came back");
}

#[test]
fn a_killed_supervisor_fails_the_test_at_once() {
    use sandbox_test::seccomp::{OnViolation, Rules};
    use sandbox_test::Errno;
    for mode in [OnViolation::Fail, OnViolation::Errno(Errno::EPERM)] {
        let rules = Rules::new(["getppid"]).unwrap().on_violation(mode);
        let report = Sandbox::new()
            .seccomp_deny(rules)
            .unwrap()
            .timeout(Duration::from_secs(60))
            .run(kills_everything_then_makes_the_forbidden_call);
        assert_eq!(
            report.outcome,
            Outcome::SeccompSupervisorKilled,
            "{mode:?}: {report:?}"
        );
        assert!(!report.stdout.text().contains("came back"), "{report:?}");
    }
}

/// The control: a body that signals nothing runs beside a supervisor that leaves on its
/// own, again and again, and passes (a supervisor's own end is never taken for a kill).
#[test]
fn a_supervisor_that_leaves_on_its_own_is_not_taken_for_killed() {
    use sandbox_test::seccomp::Rules;
    let sandbox = Sandbox::new()
        .seccomp_deny(Rules::new(["mknod"]).unwrap())
        .unwrap();
    for _ in 0..50 {
        let report = sandbox.run(|| {});
        assert!(report.outcome.is_passed(), "{report:?}");
    }
}

#[test]
fn the_record_supervisor_is_out_of_the_bodys_reach() {
    let dir = tempfile::tempdir().unwrap();
    let report = Sandbox::new()
        .seccomp_record(dir.path().join("profile.json"))
        .timeout(Duration::from_secs(60))
        .run(|| {
            assert!(other_pids().len() >= 2, "{:?}", other_pids());
            the_less_restricted_are_out_of_reach();
        });
    assert!(matches!(report.outcome, Outcome::Passed), "{report:?}");
}

/// Host pids: not in /proc, and kill, ptrace, process_vm_readv and pidfd_open all say
/// there is no such process.
#[sandboxed(env(HOST_PID = std::process::id()))]
fn host_pids_are_out_of_sight_and_reach() {
    let host: i32 = std::env::var("HOST_PID").unwrap().parse().unwrap();
    let visible = other_pids();
    assert!(visible.iter().all(|&pid| pid < 10), "{visible:?}");
    for pid in [host, 1000, 4_000_000] {
        if visible.contains(&pid) {
            continue;
        }
        // SAFETY: signal 0 only checks.
        assert_eq!(unsafe { libc::kill(pid, 0) }, -1);
        assert_eq!(errno(), libc::ESRCH, "kill({pid})");
        for (what, result) in reach(pid) {
            // /proc/PID does not exist, or the call finds no such process.
            assert!(
                matches!(result, Err(libc::ESRCH | libc::ENOENT)),
                "{what} on {pid}: {result:?}"
            );
        }
    }
}
