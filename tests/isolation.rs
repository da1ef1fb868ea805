//! Network modes, filesystem isolation and resource limits (issue 5), end to end.
//!
//! A body is a plain `fn`: what the parent prepared (a port, a path) reaches it through
//! the environment.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::mount::{mount, MsFlags};
use sandbox_test::{sandboxed, LimitKind, Mechanism, NetMode, Outcome, Report, Sandbox};

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} is not set"))
}

fn errno<T: std::fmt::Debug>(result: std::io::Result<T>) -> i32 {
    result
        .expect_err("expected an error")
        .raw_os_error()
        .unwrap_or(0)
}

#[track_caller]
fn assert_passed(report: &Report) {
    assert!(
        report.outcome.is_passed(),
        "{}\nstderr: {}",
        report.outcome,
        report.stderr.text()
    );
}

/// A directory on a host filesystem (not /tmp, which is private inside the sandbox).
fn host_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/var/tmp").unwrap()
}

// ---- net ----------------------------------------------------------------------------

fn echo_over_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
}

#[sandboxed]
fn loopback_is_the_default_and_carries_a_server_and_client() {
    echo_over_loopback();
}

#[sandboxed(net = "loopback")]
fn loopback_mode_carries_a_server_and_client() {
    echo_over_loopback();
}

fn connect_to_target() {
    let target: SocketAddr = env("TARGET").parse().unwrap();
    match env("EXPECT").as_str() {
        "reachable" => {
            let mut stream = TcpStream::connect(target).expect("the parent's listener");
            stream.write_all(b"inside").unwrap();
        }
        "refused" => assert_eq!(errno(TcpStream::connect(target)), libc::ECONNREFUSED),
        "unreachable" => assert_eq!(errno(TcpStream::connect(target)), libc::ENETUNREACH),
        other => panic!("EXPECT={other}"),
    }
}

fn run_against_parent_listener(mode: NetMode, expect: &str) -> (Report, Option<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let report = Sandbox::new()
        .net(mode)
        .env("TARGET", listener.local_addr().unwrap().to_string())
        .env("EXPECT", expect)
        .run(connect_to_target);
    let received = match listener.accept() {
        Ok((mut stream, _)) => {
            stream.set_nonblocking(false).unwrap();
            let mut bytes = Vec::new();
            stream.read_to_end(&mut bytes).unwrap();
            Some(bytes)
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(e) => panic!("{e}"),
    };
    (report, received)
}

#[test]
fn loopback_cannot_reach_the_parents_tcp_listener() {
    let (report, received) = run_against_parent_listener(NetMode::Loopback, "refused");
    assert_passed(&report);
    assert_eq!(received, None);
}

#[test]
fn none_cannot_connect_to_127_0_0_1() {
    let (report, received) = run_against_parent_listener(NetMode::None, "unreachable");
    assert_passed(&report);
    assert_eq!(received, None);
}

#[test]
fn host_reaches_the_parents_tcp_listener() {
    let (report, received) = run_against_parent_listener(NetMode::Host, "reachable");
    assert_passed(&report);
    assert_eq!(received.as_deref(), Some(&b"inside"[..]));
}

#[sandboxed(net = "none")]
fn none_has_no_working_loopback_even_inside() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    assert_eq!(
        errno(TcpStream::connect(listener.local_addr().unwrap())),
        libc::ENETUNREACH
    );
}

fn connect_abstract() {
    let name = env("ABSTRACT");
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let result = UnixStream::connect_addr(&address);
    match env("EXPECT").as_str() {
        "reachable" => drop(result.expect("the parent's abstract socket")),
        _ => assert_eq!(errno(result), libc::ECONNREFUSED),
    }
}

#[test]
fn abstract_unix_sockets_are_per_network_namespace() {
    let name = format!("sandbox-test-isolation-{}", std::process::id());
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _listener = UnixListener::bind_addr(&address).unwrap();
    for (mode, expect) in [
        (NetMode::Loopback, "refused"),
        (NetMode::None, "refused"),
        (NetMode::Host, "reachable"),
    ] {
        let report = Sandbox::new()
            .net(mode)
            .env("ABSTRACT", &name)
            .env("EXPECT", expect)
            .run(connect_abstract);
        assert!(report.outcome.is_passed(), "{mode}: {}", report.outcome);
    }
}

// ---- filesystem ---------------------------------------------------------------------

/// The mount point `path` lives on, from the longest matching mountinfo entry.
fn mount_point_of(path: &Path) -> PathBuf {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .map(|line| PathBuf::from(line.split(' ').nth(4).unwrap()))
        .filter(|point| path.starts_with(point))
        .max_by_key(|point| point.components().count())
        .unwrap()
}

fn write_outside_tmp() {
    let file = PathBuf::from(env("FILE"));
    assert_eq!(errno(std::fs::write(&file, "changed")), libc::EROFS);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "original");
    let point = mount_point_of(&file);
    let remount = mount(
        None::<&str>,
        &point,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND,
        None::<&str>,
    );
    assert_eq!(
        remount,
        Err(nix::errno::Errno::EPERM),
        "remounting {} read-write",
        point.display()
    );
    assert_eq!(errno(std::fs::write(&file, "changed")), libc::EROFS);
    // What stays writable: /tmp, and the paths given as writable.
    std::fs::write("/tmp/scratch", "fine").unwrap();
    std::fs::write(Path::new(&env("KEPT")).join("new"), "kept").unwrap();
}

#[test]
fn readonly_root_refuses_writes_and_remounts() {
    let dir = host_dir();
    let file = dir.path().join("owned.txt");
    std::fs::write(&file, "original").unwrap();
    let kept = host_dir();
    let report = Sandbox::new()
        .readonly_root()
        .writable(kept.path())
        .unwrap()
        .env("FILE", &file)
        .env("KEPT", kept.path())
        .run(write_outside_tmp);
    assert_passed(&report);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "original");
    assert_eq!(
        std::fs::read_to_string(kept.path().join("new")).unwrap(),
        "kept"
    );
}

fn write_in_tmp_and_workdir() {
    std::fs::write("/tmp/x", "ok").unwrap();
    std::fs::write("in-workdir", "ok").unwrap();
    assert_eq!(
        errno(std::fs::write(Path::new(&env("ELSEWHERE")).join("x"), "x")),
        libc::EROFS
    );
}

#[test]
fn readonly_root_keeps_tmp_and_the_workdir_writable() {
    let workdir = host_dir();
    let elsewhere = host_dir();
    let report = Sandbox::new()
        .readonly_root()
        .workdir(workdir.path())
        .unwrap()
        .env("ELSEWHERE", elsewhere.path())
        .run(write_in_tmp_and_workdir);
    assert_passed(&report);
    assert_eq!(
        std::fs::read_to_string(workdir.path().join("in-workdir")).unwrap(),
        "ok"
    );
}

#[sandboxed(readonly_root)]
fn readonly_root_from_the_attribute() {
    std::fs::write("/tmp/x", "ok").unwrap();
    assert_eq!(
        errno(std::fs::write("/etc/sandbox-test-probe", "x")),
        libc::EROFS
    );
}

fn connect_hidden() {
    let socket = PathBuf::from(env("SOCKET"));
    match env("EXPECT").as_str() {
        "reachable" => drop(UnixStream::connect(&socket).expect("the parent's socket")),
        _ => {
            assert_eq!(errno(UnixStream::connect(&socket)), libc::ENOENT);
            assert_eq!(
                std::fs::read_dir(socket.parent().unwrap()).unwrap().count(),
                0
            );
        }
    }
}

#[test]
fn hide_makes_a_socket_in_the_hidden_dir_unreachable() {
    let dir = host_dir();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let socket = run.join("agent.sock");
    let _listener = UnixListener::bind(&socket).unwrap();
    let sandbox = Sandbox::new().env("SOCKET", &socket);
    // Control: without `hide` the socket is reachable from inside.
    assert_passed(
        &sandbox
            .clone()
            .env("EXPECT", "reachable")
            .run(connect_hidden),
    );
    assert_passed(
        &sandbox
            .hide(&run)
            .unwrap()
            .env("EXPECT", "hidden")
            .run(connect_hidden),
    );
    UnixStream::connect(&socket).expect("the host still reaches its socket");
}

// Not /var/tmp: CI's unprivileged pass runs the suite from a copy there, and a body cannot
// start in a directory it hides (tests/workdir.rs).
#[sandboxed(hide = ["/usr/share", "/run/user/does-not-exist"])]
fn hide_covers_a_directory_with_an_empty_tmpfs() {
    assert_eq!(std::fs::read_dir("/usr/share").unwrap().count(), 0);
}

fn use_binds() {
    assert_eq!(
        std::fs::read_to_string("/tmp/rw/data").unwrap(),
        "host data"
    );
    std::fs::write("/tmp/rw/written", "from inside").unwrap();
    assert_eq!(
        std::fs::read_to_string("/tmp/ro/data").unwrap(),
        "host data"
    );
    assert_eq!(errno(std::fs::write("/tmp/ro/other", "no")), libc::EROFS);
    assert_eq!(errno(std::fs::write("/tmp/ro/data", "no")), libc::EROFS);
}

#[test]
fn bind_and_bind_ro() {
    let source = host_dir();
    std::fs::write(source.path().join("data"), "host data").unwrap();
    let report = Sandbox::new()
        .bind(source.path(), "/tmp/rw")
        .unwrap()
        .bind_ro(source.path(), "/tmp/ro")
        .unwrap()
        .run(use_binds);
    assert_passed(&report);
    assert_eq!(
        std::fs::read_to_string(source.path().join("written")).unwrap(),
        "from inside"
    );
    assert!(!source.path().join("other").exists());
    assert_eq!(
        std::fs::read_to_string(source.path().join("data")).unwrap(),
        "host data"
    );
}

#[sandboxed(bind = ["/etc:/tmp/host-etc:ro"])]
fn bind_ro_from_the_attribute() {
    assert!(std::fs::metadata("/tmp/host-etc/passwd").unwrap().is_file());
    assert_eq!(
        errno(std::fs::write("/tmp/host-etc/sandbox-test", "x")),
        libc::EROFS
    );
}

#[test]
fn bad_paths_are_refused_by_the_call_and_missing_sources_before_the_body() {
    let error = Sandbox::new().writable("relative/path").unwrap_err();
    assert_eq!(error.option(), "writable");
    assert!(
        error
            .reason()
            .contains("`relative/path` is a relative path"),
        "{error}"
    );
    let error = Sandbox::new().bind("/srv", "../escape").unwrap_err();
    assert_eq!(error.option(), "bind target");
    let error = Sandbox::new().memory(0).unwrap_err();
    assert_eq!(error.to_string(), "memory: must be greater than zero");
    // The source's existence is the host's state when the sandbox starts.
    let report = Sandbox::new()
        .bind("/does/not/exist", "/tmp/x")
        .unwrap()
        .run(echo_over_loopback);
    let Outcome::SetupFailed(failure) = &report.outcome else {
        panic!("{}", report.outcome)
    };
    assert!(
        failure.detail.contains("bind source /does/not/exist"),
        "{failure}"
    );
}

// ---- limits -------------------------------------------------------------------------

#[track_caller]
fn assert_limit(report: &Report, limit: LimitKind, mechanism: Mechanism) -> &Outcome {
    match &report.outcome {
        Outcome::LimitExceeded { hit, outcome } => {
            assert_eq!((hit.limit, hit.mechanism), (limit, mechanism), "{hit}");
            outcome
        }
        other => panic!(
            "expected a {limit} limit, got: {other}\nstderr: {}",
            report.stderr.text()
        ),
    }
}

fn fork_bomb() {
    let mut children = 0u32;
    loop {
        // SAFETY: the children only fork and sleep.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => loop {
                // SAFETY: as above; failures are the point.
                let _ = unsafe { nix::unistd::fork() };
                std::thread::sleep(Duration::from_millis(10));
            },
            Ok(nix::unistd::ForkResult::Parent { .. }) => children += 1,
            Err(errno) => panic!("fork failed after {children} children: {errno}"),
        }
    }
}

#[test]
fn a_fork_bomb_under_pids_32_is_stopped_and_reported() {
    let report = Sandbox::new()
        .pids(32)
        .unwrap()
        .timeout(Duration::from_secs(60))
        .run(fork_bomb);
    let outcome = assert_limit(&report, LimitKind::Pids, Mechanism::RlimitNproc);
    assert!(
        matches!(outcome, Outcome::Panicked { message, .. } if message.contains("EAGAIN")),
        "{outcome}"
    );
}

fn count_tasks() {
    let mut children = Vec::new();
    let failure = loop {
        // SAFETY: the children only sleep until the sandbox ends.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => loop {
                std::thread::sleep(Duration::from_secs(60));
            },
            Ok(nix::unistd::ForkResult::Parent { child }) => children.push(child),
            Err(errno) => break errno,
        }
    };
    assert_eq!(failure, nix::errno::Errno::EAGAIN);
    assert_eq!(
        children.len(),
        7,
        "pids = 8 counts the body itself and 7 children"
    );
}

#[sandboxed(pids = 8)]
fn pids_counts_the_bodys_tasks() {
    count_tasks();
}

#[sandboxed(pids = 8, readonly_root)]
fn pids_counts_the_bodys_tasks_with_locked_mounts() {
    count_tasks();
}

fn memory_bomb() {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
    }
}

#[test]
fn a_memory_bomb_under_64m_is_reported_and_the_harness_survives() {
    let report = Sandbox::new().memory(64 << 20).unwrap().run(memory_bomb);
    let outcome = assert_limit(&report, LimitKind::Memory, Mechanism::RlimitData);
    assert!(
        matches!(
            outcome,
            Outcome::Signaled {
                signal: libc::SIGABRT,
                ..
            }
        ),
        "{outcome}"
    );
    assert!(report
        .stderr
        .text()
        .contains("memory allocation of 1048576 bytes failed"));
    // The harness is still here, and can allocate what the sandbox could not.
    let survivor = vec![1u8; 128 << 20];
    assert_eq!(survivor.len(), 128 << 20);
}

#[sandboxed(memory = "64M")]
#[should_panic(expected = "memory limit 64M enforced by RLIMIT_DATA")]
fn memory_attribute_reports_the_limit() {
    memory_bomb();
}

fn busy_loop() {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

#[test]
fn cpu_1s_stops_a_busy_loop() {
    let report = Sandbox::new()
        .cpu(Duration::from_secs(1))
        .unwrap()
        .timeout(Duration::from_secs(60))
        .run(busy_loop);
    let outcome = assert_limit(&report, LimitKind::Cpu, Mechanism::RlimitCpu);
    assert!(
        matches!(
            outcome,
            Outcome::Signaled {
                signal: libc::SIGXCPU,
                ..
            }
        ),
        "{outcome}"
    );
}

#[sandboxed(cpu = "1s", timeout = "60s")]
#[should_panic(
    expected = "cpu limit 1s enforced by RLIMIT_CPU: the body was killed by SIGXCPU after"
)]
fn cpu_attribute_reports_the_limit() {
    busy_loop();
}

fn busy_loop_ignoring_sigxcpu() {
    // SAFETY: SIG_IGN installs no handler code.
    unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::SIGXCPU,
            nix::sys::signal::SigHandler::SigIgn,
        )
    }
    .unwrap();
    busy_loop();
}

#[test]
fn cpu_kills_with_sigkill_at_the_hard_limit_when_sigxcpu_is_ignored() {
    let report = Sandbox::new()
        .cpu(Duration::from_secs(1))
        .unwrap()
        .timeout(Duration::from_secs(60))
        .run(busy_loop_ignoring_sigxcpu);
    let Outcome::LimitExceeded { hit, outcome } = &report.outcome else {
        panic!("{}", report.outcome)
    };
    assert_eq!(
        (hit.limit, hit.mechanism),
        (LimitKind::Cpu, Mechanism::RlimitCpu)
    );
    assert!(
        hit.evidence
            .starts_with("the body was killed by SIGKILL at the hard limit after"),
        "{hit}"
    );
    assert!(
        matches!(
            **outcome,
            Outcome::Signaled {
                signal: libc::SIGKILL,
                ..
            }
        ),
        "{outcome}"
    );
}

fn open_many_files() {
    let files: Vec<std::fs::File> = (0..64)
        .map(|i| std::fs::File::open("/dev/null").unwrap_or_else(|e| panic!("open #{i}: {e}")))
        .collect();
    drop(files);
}

#[test]
fn files_limit_is_reported_as_emfile() {
    let report = Sandbox::new().files(32).unwrap().run(open_many_files);
    let outcome = assert_limit(&report, LimitKind::Files, Mechanism::RlimitNofile);
    assert!(
        matches!(outcome, Outcome::Panicked { message, .. } if message.contains("os error 24")),
        "{outcome}"
    );
}

#[sandboxed(files = 64, memory = "256M", pids = 64, cpu = "30s")]
fn limits_leave_an_ordinary_body_alone() {
    let threads: Vec<_> = (0..8)
        .map(|i| std::thread::spawn(move || vec![i as u8; 1 << 20].len()))
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), 1 << 20);
    }
    echo_over_loopback();
}

#[test]
fn a_failure_unrelated_to_the_limits_is_not_attributed() {
    fn fails() {
        panic!("an ordinary assertion");
    }
    let report = Sandbox::new()
        .memory(64 << 20)
        .unwrap()
        .pids(16)
        .unwrap()
        .files(64)
        .unwrap()
        .cpu(Duration::from_secs(10))
        .unwrap()
        .run(fails);
    assert!(
        matches!(report.outcome, Outcome::Panicked { .. }),
        "{}",
        report.outcome
    );
}
