//! Filters loaded for real, in forked processes, without the rest of the sandbox: what
//! each policy does to a body.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use nix::errno::Errno;
use serde::Serialize;

use super::compile::compile_uncached;
use super::load::apply;
use super::policy::{OnViolation, Policy, Rules};
use super::record::write_profile;
use super::report::{SeccompEvent, Violation, TRAP_EXIT_STATUS};

#[derive(Serialize)]
enum Message<'a> {
    Seccomp(&'a SeccompEvent),
}

#[derive(serde::Deserialize)]
enum Incoming {
    Seccomp(SeccompEvent),
}

/// How the forked body ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Exited(i32),
    Signaled(i32),
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/seccomp")
        .join(name)
}

/// Forks, loads `policy`'s filter, runs `body` (its return value is the exit status),
/// collects the events the child sent.
fn run(policy: &Policy, body: fn() -> i32) -> (Vec<SeccompEvent>, End) {
    let filter = compile_uncached(policy).expect("compiles");
    let (ours, theirs) = crate::kernel::socket_pair().expect("a socket pair");
    // SAFETY: the child only loads a filter and runs the body, then _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        drop(ours);
        // The filter lets the harness send on the sandbox's channel descriptor only.
        let channel = crate::step::CHANNEL_FD;
        // SAFETY: in the forked child; whatever was on the channel's number is replaced.
        unsafe { libc::dup2(theirs.as_raw_fd(), channel) };
        // As the setup sequence does before loading a filter.
        crate::capabilities::set_no_new_privs().unwrap();
        let status = match &filter {
            Some(f) => match apply(
                f,
                channel,
                |e| serde_json::to_vec(&Message::Seccomp(e)).unwrap(),
                false,
            ) {
                Ok(_) => body(),
                Err(_) => 120,
            },
            None => body(),
        };
        // SAFETY: leave without unwinding into the test harness.
        unsafe { libc::_exit(status) };
    }
    drop(theirs);
    let mut events = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(ours.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            break;
        }
        let Incoming::Seccomp(e) = serde_json::from_slice(&buf[..n as usize]).unwrap();
        // The supervisor's comings and goings are for the test thread's watch, not reports.
        if !matches!(
            e,
            SeccompEvent::SupervisorUp { .. } | SeccompEvent::SupervisorDone { .. }
        ) {
            events.push(e);
        }
    }
    let mut status = 0;
    // SAFETY: our own child.
    assert_eq!(pid, unsafe { libc::waitpid(pid, &mut status, 0) });
    let end = if libc::WIFEXITED(status) {
        End::Exited(libc::WEXITSTATUS(status))
    } else {
        End::Signaled(libc::WTERMSIG(status))
    };
    (events, end)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `syscall(nr)` returning `Err(errno)`.
fn sys0(nr: libc::c_long) -> Result<libc::c_long, i32> {
    // SAFETY: argument-less syscalls only.
    let r = unsafe { libc::syscall(nr) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

fn deny(items: &[&str], mode: OnViolation) -> Policy {
    Policy::Deny(Rules::new(items).unwrap().on_violation(mode))
}

fn violations(events: &[SeccompEvent]) -> Vec<Violation> {
    super::SeccompReport::from_events(events).0.violations
}

#[cfg(target_arch = "x86_64")]
fn int80_getpid() -> i64 {
    let r: i64;
    // SAFETY: i386 getpid (20) through the compat entry; no memory is touched.
    unsafe { std::arch::asm!("int 0x80", inlateout("rax") 20i64 => r, options(nostack)) };
    r
}

#[test]
fn every_fixture_profile_compiles() {
    let dir = fixture("");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let f = compile_uncached(&Policy::Profile(path.clone()))
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap();
            assert!(f.instructions() > 3, "{}", path.display());
            count += 1;
        }
    }
    assert!(count >= 6, "{count} fixtures");
}

#[test]
fn baseline_denies_escape_calls_with_eperm() {
    let (events, end) = run(&Policy::Baseline, || {
        let checks = [
            sys0(libc::SYS_getpid).is_ok(),
            // SAFETY: keyctl(KEYCTL_GET_KEYRING_ID=0, KEY_SPEC_SESSION_KEYRING=-3, 0).
            unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) } == -1 && errno() == libc::EPERM,
            // SAFETY: plain unshare.
            unsafe { libc::unshare(libc::CLONE_NEWUSER) } == -1 && errno() == libc::EPERM,
            // SAFETY: personality(ADDR_NO_RANDOMIZE).
            unsafe { libc::personality(0x0040000) } == -1 && errno() == libc::EPERM,
            // SAFETY: the default persona is fine.
            unsafe { libc::personality(0) } >= 0,
            // SAFETY: the query changes nothing.
            unsafe { libc::personality(0xffff_ffff) } == 0,
            // SAFETY: TIOCSTI on stdin, refused before the kernel looks at the fd; with
            // garbage in the high half of the request too (the kernel reads 32 bits).
            unsafe { libc::ioctl(0, libc::TIOCSTI, c"x".as_ptr()) } == -1 && errno() == libc::EPERM,
            // SAFETY: as above.
            unsafe {
                libc::syscall(
                    libc::SYS_ioctl,
                    0,
                    0x1_0000_0000 | libc::TIOCSTI,
                    c"x".as_ptr(),
                )
            } == -1
                && errno() == libc::EPERM,
            // SAFETY: TIOCLINUX subcode 3 (paste selection).
            unsafe { libc::ioctl(0, libc::TIOCLINUX, c"\x03".as_ptr()) } == -1
                && errno() == libc::EPERM,
            sys0(libc::SYS_bpf) == Err(libc::EPERM),
            // clone3 answers ENOSYS, so libc falls back to clone; threads still work.
            std::thread::spawn(|| 7).join().ok() == Some(7),
        ];
        checks
            .iter()
            .position(|ok| !ok)
            .map_or(0, |i| 10 + i as i32)
    });
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(end, End::Exited(0));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn foreign_arches_never_execute() {
    // Unfiltered, int 0x80 getpid works on this kernel: the filter is what stops it.
    assert_eq!(int80_getpid(), i64::from(std::process::id()));
    let (events, end) = run(&Policy::Baseline, || {
        let i386 = int80_getpid() == -i64::from(libc::EPERM);
        // x32 getpid: EPERM from the filter, where the kernel alone says ENOSYS or runs it.
        let x32 = sys0(0x4000_0000 | libc::SYS_getpid) == Err(libc::EPERM);
        match (i386, x32) {
            (true, true) => 0,
            (false, _) => 1,
            (_, false) => 2,
        }
    });
    assert!(events.is_empty());
    assert_eq!(end, End::Exited(0));

    // Under fail mode the same calls are violations, named with their arch.
    let (events, end) = run(&deny(&["getppid"], OnViolation::Fail), || {
        int80_getpid();
        0
    });
    assert_eq!(end, End::Exited(TRAP_EXIT_STATUS));
    let v = violations(&events);
    assert_eq!(
        (v[0].syscall.as_str(), v[0].arch.as_str()),
        ("getpid", "i386"),
        "{}",
        v[0]
    );

    let (events, end) = run(
        &deny(&["getppid"], OnViolation::Errno(Errno::EACCES)),
        || (sys0(0x4000_0000 | libc::SYS_getpid) != Err(libc::EACCES)) as i32,
    );
    assert_eq!(end, End::Exited(0));
    let v = violations(&events);
    assert_eq!(
        (v[0].syscall.as_str(), v[0].arch.as_str()),
        ("getpid", "x32"),
        "{}",
        v[0]
    );
}

#[inline(never)]
fn call_getppid() -> i32 {
    let _ = sys0(libc::SYS_getppid);
    0
}

#[test]
fn fail_mode_reports_the_call_and_this_file() {
    let (events, end) = run(
        &deny(&["getppid", "@mount"], OnViolation::Fail),
        call_getppid,
    );
    assert_eq!(end, End::Exited(TRAP_EXIT_STATUS));
    let v = violations(&events);
    assert_eq!(v.len(), 1, "{events:?}");
    assert_eq!(v[0].syscall, "getppid");
    assert_eq!(v[0].errno, None);
    // This file is the runtime's own source, so it is not "user code" here: look for it.
    let at = v[0]
        .backtrace
        .iter()
        .find_map(|f| f.location().filter(|l| l.contains("seccomp/tests.rs:")));
    assert!(at.is_some(), "{}", v[0]);
    assert!(v[0].to_string().contains("`getppid`"));
}

#[test]
fn errno_mode_fails_calls_and_lists_every_violation() {
    let (events, end) = run(
        &deny(&["getppid", "uname"], OnViolation::Errno(Errno::EACCES)),
        || {
            let a = sys0(libc::SYS_getppid) == Err(libc::EACCES);
            // SAFETY: uname into a local.
            let b =
                unsafe { libc::uname(&mut std::mem::zeroed()) } == -1 && errno() == libc::EACCES;
            let c = sys0(libc::SYS_getppid) == Err(libc::EACCES);
            if a && b && c {
                0
            } else {
                1
            }
        },
    );
    assert_eq!(end, End::Exited(0));
    let names: Vec<_> = violations(&events).into_iter().map(|v| v.syscall).collect();
    assert_eq!(names, ["getppid", "uname", "getppid"]);
}

#[test]
fn kill_mode_kills_the_process() {
    let (events, end) = run(&deny(&["getppid"], OnViolation::Kill), call_getppid);
    // The body's own call: its handler sends the stack and ends it.
    assert_eq!(end, End::Exited(TRAP_EXIT_STATUS));
    assert!(
        matches!(&events[0], SeccompEvent::Killed(r) if r.pid > 0),
        "{events:?}"
    );
    let v = &violations(&events)[0];
    assert_eq!(v.syscall, "getppid");
    assert!(
        v.backtrace.iter().any(|f| f
            .function
            .as_deref()
            .is_some_and(|n| n.contains("call_getppid"))),
        "{v}"
    );
}

#[test]
fn allow_list_traps_anything_else() {
    let policy = Policy::Allow(Rules::new(["getpid"]).unwrap());
    let (events, end) = run(&policy, || {
        let _ = sys0(libc::SYS_getpid);
        call_getppid()
    });
    assert_eq!(end, End::Exited(TRAP_EXIT_STATUS));
    assert_eq!(violations(&events)[0].syscall, "getppid");
}

#[test]
fn a_violation_in_a_second_thread_ends_the_process() {
    let (events, end) = run(&deny(&["getppid"], OnViolation::Fail), || {
        let t = std::thread::spawn(call_getppid);
        let _ = t.join();
        // Only reached if the thread's violation did not end the process.
        std::thread::sleep(std::time::Duration::from_secs(5));
        0
    });
    assert_eq!(end, End::Exited(TRAP_EXIT_STATUS));
    let v = violations(&events);
    assert_eq!(v[0].syscall, "getppid");
}

#[test]
fn subprocesses_are_filtered_too() {
    let (events, end) = run(&deny(&["uname"], OnViolation::Errno(Errno::EPERM)), || {
        let out = std::process::Command::new("uname").output();
        match out {
            Ok(o) if !o.status.success() => 0,
            Ok(_) => 1,
            Err(_) => 2,
        }
    });
    assert_eq!(end, End::Exited(0));
    let v = violations(&events);
    assert!(v.iter().any(|v| v.syscall == "uname"), "{events:?}");
}

#[test]
fn article_profile_denies_clock_nanosleep() {
    let policy = Policy::Profile(fixture("seed-block-clock_nanosleep.json"));
    let (events, end) = run(&policy, || {
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1000,
        };
        // SAFETY: a short relative sleep.
        let rc =
            unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &ts, std::ptr::null_mut()) };
        (rc != libc::EPERM) as i32
    });
    assert!(events.is_empty());
    assert_eq!(end, End::Exited(0));
}

#[test]
fn article_allowlist_names_the_first_call_needed() {
    let policy = Policy::Profile(fixture("seed-minimal-allowlist.json"));
    let (events, end) = run(&policy, || match std::fs::read("/etc/hostname") {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => 0,
        _ => 1,
    });
    assert_eq!(end, End::Exited(0));
    let v = violations(&events);
    assert!(!v.is_empty());
    assert!(v[0].syscall.starts_with("open"), "{}", v[0]);
    assert_eq!(v[0].errno, Some(libc::EPERM));
}

#[test]
fn docker_default_allows_ordinary_bodies_and_denies_mount_and_keyctl() {
    let policy = Policy::Profile(fixture("moby-default.json"));
    let (events, end) = run(&policy, || {
        let ordinary = std::fs::read("/etc/hostname").is_ok()
            && std::thread::spawn(|| 1).join().is_ok()
            && std::process::Command::new("true")
                .status()
                .is_ok_and(|s| s.success());
        // SAFETY: mount of nothing; keyctl query.
        let mount = unsafe {
            libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        } == -1
            && errno() == libc::EPERM;
        // SAFETY: keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0).
        let keyctl =
            unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) } == -1 && errno() == libc::EPERM;
        match (ordinary, mount, keyctl) {
            (true, true, true) => 0,
            (false, _, _) => 1,
            (_, false, _) => 2,
            _ => 3,
        }
    });
    assert_eq!(end, End::Exited(0), "{events:?}");
    let names: Vec<_> = violations(&events).into_iter().map(|v| v.syscall).collect();
    assert!(names.contains(&"mount".to_owned()), "{names:?}");
    assert!(names.contains(&"keyctl".to_owned()), "{names:?}");
}

fn recordable_body() -> i32 {
    let a = sys0(libc::SYS_getppid).is_ok();
    let b = std::fs::read("/etc/hostname").is_ok();
    let c = std::thread::spawn(|| 2).join().is_ok();
    if a && b && c {
        0
    } else {
        1
    }
}

#[test]
fn record_then_replay() {
    let out = std::env::temp_dir().join(format!("sbt-record-{}.json", std::process::id()));
    let (events, end) = run(&Policy::Record(out.clone()), recordable_body);
    assert_eq!(end, End::Exited(0));
    let recorded: Vec<(u32, i32)> = events
        .iter()
        .filter_map(|e| match e {
            SeccompEvent::Recorded { arch, nr } => Some((*arch, *nr)),
            _ => None,
        })
        .collect();
    assert!(recorded
        .iter()
        .any(|&(_, nr)| nr == libc::SYS_getppid as i32));
    write_profile(&out, &super::record::recorded_profile(&recorded).unwrap()).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("\"getppid\"") && text.contains("\"openat\""),
        "{text}"
    );

    let (events, end) = run(&Policy::Profile(out.clone()), recordable_body);
    std::fs::remove_file(&out).unwrap();
    assert_eq!(end, End::Exited(0), "{:?}", violations(&events));
    assert!(violations(&events).is_empty());

    // Without the recording's getppid the replay is refused.
    let mut profile: super::profile::Profile = serde_json::from_str(&text).unwrap();
    profile.syscalls[0].names.retain(|n| n != "getppid");
    std::fs::write(&out, serde_json::to_vec(&profile).unwrap()).unwrap();
    let (events, _) = run(&Policy::Profile(out.clone()), recordable_body);
    std::fs::remove_file(&out).unwrap();
    assert_eq!(violations(&events)[0].syscall, "getppid");
}

#[test]
fn deny_refuses_the_harness_calls_and_unknown_names() {
    let err = compile_uncached(&deny(&["exit_group"], OnViolation::Fail)).unwrap_err();
    assert!(err.to_string().contains("`exit_group`"), "{err}");
    // Through a group, harness calls stay allowed (noted), and sendmsg only elsewhere.
    let f = compile_uncached(&deny(&["@basic-io", "@network-io"], OnViolation::Fail))
        .unwrap()
        .unwrap();
    assert!(f.skipped.contains(&"write".to_owned()), "{:?}", f.skipped);
    // Rules::new refuses an unknown name at the call; the compiler refuses it too.
    let err = Rules::new(["no_such_call"]).unwrap_err();
    assert!(
        err.to_string().contains("unknown syscall `no_such_call`"),
        "{err}"
    );
    let unknown = Policy::Deny(Rules {
        items: vec![super::policy::SyscallItem::Syscall("no_such_call".into())],
        on_violation: OnViolation::Fail,
    });
    let err = compile_uncached(&unknown).unwrap_err();
    assert!(err.to_string().contains("no_such_call"), "{err}");
    assert!(compile_uncached(&Policy::Off).unwrap().is_none());
}

#[test]
fn compile_is_cached_per_policy() {
    let a = super::compile(&Policy::Baseline).unwrap().unwrap();
    let b = super::compile(&Policy::Baseline).unwrap().unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    let c = super::compile(&deny(&["getppid"], OnViolation::Fail))
        .unwrap()
        .unwrap();
    assert_ne!(a.bpf, c.bpf);
}

/// Prints what loading the baseline costs in the child (run with --nocapture).
#[test]
fn baseline_load_cost() {
    let filter = compile_uncached(&Policy::Baseline).unwrap().unwrap();
    let json = serde_json::to_string(&filter).unwrap();
    let back: super::CompiledFilter = serde_json::from_str(&json).unwrap();
    assert_eq!(back, filter);
    let (_, end) = run(&Policy::Off, || {
        let filter = compile_uncached(&Policy::Baseline).unwrap().unwrap();
        crate::capabilities::set_no_new_privs().unwrap();
        let start = std::time::Instant::now();
        let r = apply(&filter, -1, |e| serde_json::to_vec(e).unwrap(), false);
        let took = start.elapsed();
        eprintln!(
            "baseline filter: {} instructions, load in the child took {took:?}",
            filter.instructions()
        );
        r.is_err() as i32
    });
    assert_eq!(end, End::Exited(0));
    // Docker's default: a larger filter, and the notification supervisor to fork.
    let (_, end) = run(&Policy::Off, || {
        let filter = compile_uncached(&Policy::Profile(fixture("moby-default.json")))
            .unwrap()
            .unwrap();
        crate::capabilities::set_no_new_privs().unwrap();
        let start = std::time::Instant::now();
        let r = apply(
            &filter,
            crate::step::CHANNEL_FD,
            |e| serde_json::to_vec(&Message::Seccomp(e)).unwrap(),
            false,
        );
        eprintln!(
            "docker default: {} instructions, load (with the supervisor) took {:?}",
            filter.instructions(),
            start.elapsed()
        );
        r.is_err() as i32
    });
    assert_eq!(end, End::Exited(0));
}

#[test]
fn network_io_is_denied_except_the_harness_channel() {
    let (events, end) = run(
        &deny(&["@network-io"], OnViolation::Errno(Errno::EPERM)),
        || {
            let mut fds = [0; 2];
            // SAFETY: room for two descriptors.
            let pair =
                unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, fds.as_mut_ptr()) };
            (pair != -1) as i32
        },
    );
    assert_eq!(end, End::Exited(0));
    assert_eq!(violations(&events)[0].syscall, "socketpair");

    // sendto on another descriptor is a violation; on the channel it is the harness's.
    let (events, end) = run(&deny(&["sendto"], OnViolation::Errno(Errno::EPERM)), || {
        // SAFETY: sending on stdout's descriptor number (not a socket).
        let r = unsafe { libc::send(1, b"x".as_ptr().cast(), 1, 0) };
        (r != -1 || errno() != libc::EPERM) as i32
    });
    assert_eq!(end, End::Exited(0));
    assert_eq!(violations(&events)[0].syscall, "sendto");
}

#[test]
fn profile_flags_are_loaded() {
    let dir = std::env::temp_dir().join(format!("sbt-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flags.json");
    std::fs::write(
        &path,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_TSYNC",
            "SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    let (events, end) = run(&Policy::Profile(path.clone()), || {
        (sys0(libc::SYS_getppid) != Err(libc::EPERM)) as i32
    });
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(end, End::Exited(0), "{events:?}");
    assert_eq!(violations(&events)[0].syscall, "getppid");
}
