//! Files, fds and host sockets: the default sandbox reads the host but writes only its
//! /tmp, the package and the target directories; the kernel's knobs, its own executable
//! and the host's control sockets are out of reach; it inherits no fd but its own.
//! `readonly_root`'s remount refusal is `tests/isolation.rs`.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use sandbox_test::{sandboxed, Sandbox};

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} not set"))
}

fn errno<T>(result: std::io::Result<T>) -> Option<i32> {
    result.err().map(|e| e.raw_os_error().unwrap_or(0))
}

/// A directory the user may write outside: /var/tmp stands for `$HOME` and the user's
/// other projects (the sandbox's /tmp is private, so /tmp would prove nothing).
fn host_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/var/tmp").unwrap()
}

/// Whether this user can create a file in `dir` outside any sandbox.
fn writable_outside(dir: &Path) -> bool {
    tempfile::tempfile_in(dir).is_ok()
}

fn the_default_writes() {
    // The host: read-only, whoever owns it.
    let elsewhere = PathBuf::from(env("ELSEWHERE"));
    assert_eq!(
        errno(std::fs::write(elsewhere.join("new"), "x")),
        Some(libc::EROFS)
    );
    assert_eq!(
        errno(std::fs::write(elsewhere.join("old"), "x")),
        Some(libc::EROFS)
    );
    assert_eq!(
        errno(std::fs::remove_file(elsewhere.join("old"))),
        Some(libc::EROFS)
    );
    assert_eq!(
        errno(std::fs::write("/etc/sandbox-test-probe", "x")),
        Some(libc::EROFS)
    );
    // $HOME, unless it is one of the writable places (CI runs nextest with HOME set to
    // the package directory).
    let writable = [env("PACKAGE"), env("TARGET"), "/tmp".to_owned()];
    if let Ok(home) = std::env::var("HOME") {
        let kept = writable.iter().any(|dir| Path::new(&home).starts_with(dir));
        if Path::new(&home).is_dir() && home != "/" && !kept {
            let written = std::fs::write(Path::new(&home).join(".sandbox-test-probe"), "x");
            assert_eq!(errno(written), Some(libc::EROFS), "$HOME = {home}");
        }
    }
    // /tmp, /dev/shm, the package and the target directories: as writable as outside.
    std::fs::write("/tmp/scratch", "ok").unwrap();
    std::fs::write("/dev/shm/scratch", "ok").unwrap();
    for (dir, expect) in [
        ("PACKAGE", "PACKAGE_WRITABLE"),
        ("TARGET", "TARGET_WRITABLE"),
    ] {
        let file = Path::new(&env(dir)).join(format!("sandbox-test-probe-{}", env("TAG")));
        let written = std::fs::write(&file, "inside");
        match env(expect).as_str() {
            "yes" => written.unwrap_or_else(|e| panic!("{}: {e}", file.display())),
            _ => assert_eq!(errno(written), Some(libc::EACCES), "{}", file.display()),
        }
    }
}

#[test]
fn by_default_only_tmp_the_package_and_the_target_dir_are_writable() {
    let elsewhere = host_dir();
    std::fs::write(elsewhere.path().join("old"), "original").unwrap();
    let package = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // The target directory as the runtime finds it: above this executable's deps dir.
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().unwrap().parent().unwrap().to_owned();
    let tag = std::process::id().to_string();
    let yes_no = |dir: &Path| if writable_outside(dir) { "yes" } else { "no" };
    let report = Sandbox::new()
        .package_dir(&package)
        .unwrap()
        .env("ELSEWHERE", elsewhere.path())
        .env("PACKAGE", &package)
        .env("PACKAGE_WRITABLE", yes_no(&package))
        .env("TARGET", &profile)
        .env("TARGET_WRITABLE", yes_no(&profile))
        .env("TAG", &tag)
        .run(the_default_writes);
    // The host side: nothing changed outside the writable places.
    let left: Vec<_> = std::fs::read_dir(elsewhere.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["old"]);
    assert_eq!(
        std::fs::read_to_string(elsewhere.path().join("old")).unwrap(),
        "original"
    );
    assert!(!Path::new("/etc/sandbox-test-probe").exists());
    for dir in [&package, &profile] {
        let file = dir.join(format!("sandbox-test-probe-{tag}"));
        if writable_outside(dir) {
            assert_eq!(std::fs::read_to_string(&file).unwrap(), "inside");
            std::fs::remove_file(&file).unwrap();
        }
    }
    report.assert_passed();
}

fn writes_where_told() {
    std::fs::write(Path::new(&env("DIR")).join("new"), "inside").unwrap();
}

#[test]
fn writable_and_writable_host_open_the_host_again() {
    for writable_host in [false, true] {
        let dir = host_dir();
        let sandbox = Sandbox::new().env("DIR", dir.path());
        let sandbox = match writable_host {
            true => sandbox.writable_host(),
            false => sandbox.writable(dir.path()).unwrap(),
        };
        sandbox.run(writes_where_told).assert_passed();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("new")).unwrap(),
            "inside"
        );
    }
}

#[sandboxed(readonly_root)]
fn readonly_root_closes_the_package_dir_too() {
    let package = env!("CARGO_MANIFEST_DIR");
    let written = std::fs::write(Path::new(package).join("sandbox-test-probe"), "x");
    assert_eq!(errno(written), Some(libc::EROFS));
    std::fs::write("/tmp/scratch", "ok").unwrap();
}

/// The kernel's knobs: opening them for writing fails (nothing is ever written: were the
/// protection missing, a test run as root must not reboot the machine).
#[sandboxed]
fn the_kernels_knobs_cannot_be_opened_for_writing() {
    for path in [
        "/proc/sysrq-trigger",
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/vm/drop_caches",
        "/proc/sys/kernel/hostname",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/kernel/uevent_helper",
        "/sys/class/net/lo/mtu",
    ] {
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        let opened = std::fs::OpenOptions::new().write(true).open(path);
        assert!(opened.is_err(), "{path} opened for writing");
    }
    // Remounting or unmounting the read-only /proc/sys: refused (the body has no
    // capability; `namespaces_of_its_own_keep_read_only_mounts_read_only` for the rest).
    let remount = nix::mount::mount(
        None::<&str>,
        "/proc/sys",
        None::<&str>,
        nix::mount::MsFlags::MS_REMOUNT | nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    );
    assert_eq!(remount, Err(nix::errno::Errno::EPERM), "remount /proc/sys");
    let unmount = nix::mount::umount2("/proc/sys", nix::mount::MntFlags::MNT_DETACH);
    assert!(unmount.is_err(), "unmounting /proc/sys");
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/sys/kernel/hostname");
    assert!(opened.is_err(), "/proc/sys writable after the attempts");
}

fn remounts_in_a_namespace_of_its_own() {
    let file = PathBuf::from(env("FILE"));
    let hidden = PathBuf::from(env("HIDDEN"));
    // What the baseline filter refuses, and `seccomp = "off"` allows: a user namespace of
    // the body's own, where it holds every capability (no id mapped: mapping root would
    // take CAP_SETFCAP, which the body does not have; the mount calls need none), with a
    // mount namespace.
    nix::sched::unshare(
        nix::sched::CloneFlags::CLONE_NEWUSER | nix::sched::CloneFlags::CLONE_NEWNS,
    )
    .expect("unshare(CLONE_NEWUSER | CLONE_NEWNS) with seccomp off");
    let remount = |path: &Path| {
        nix::mount::mount(
            None::<&str>,
            path,
            None::<&str>,
            nix::mount::MsFlags::MS_REMOUNT | nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    for path in [Path::new("/proc/sys"), Path::new("/")] {
        assert_eq!(
            remount(path),
            Err(nix::errno::Errno::EPERM),
            "remounting {} read-write",
            path.display()
        );
    }
    assert_eq!(errno(std::fs::write(&file, "changed")), Some(libc::EROFS));
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/sys/kernel/hostname");
    assert!(
        opened.is_err(),
        "/proc/sys writable in a namespace of its own"
    );
    // The mount that hides a directory cannot be taken away to show what it covers.
    let unmount = nix::mount::umount2(&hidden, nix::mount::MntFlags::MNT_DETACH);
    assert!(
        unmount.is_err(),
        "unmounting the mount over {}",
        hidden.display()
    );
    assert!(
        std::fs::read_dir(&hidden).unwrap().next().is_none(),
        "hidden files show"
    );
}

/// A body may create namespaces of its own when seccomp is off; the kernel then locks the
/// mounts it copies (read-only stays read-only, a covering mount stays), so the host and
/// the kernel's knobs stay as the init left them without a lock step of the harness's.
#[test]
fn namespaces_of_its_own_keep_read_only_mounts_read_only() {
    let dir = host_dir();
    let file = dir.path().join("owned.txt");
    std::fs::write(&file, "original").unwrap();
    let hidden = host_dir();
    std::fs::write(hidden.path().join("secret"), "secret").unwrap();
    let report = Sandbox::new()
        .seccomp_off()
        .hide(hidden.path())
        .unwrap()
        .env("FILE", &file)
        .env("HIDDEN", hidden.path())
        .run(remounts_in_a_namespace_of_its_own);
    report.assert_passed();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "original");
}

#[sandboxed]
fn the_sandboxs_own_executable_cannot_be_written() {
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/exe");
    assert!(opened.is_err(), "/proc/self/exe opened for writing");
}

fn fds_inside() {
    let listing = std::fs::read_dir("/proc/self/fd").unwrap();
    let mut fds: Vec<i32> = Vec::new();
    for entry in listing.flatten() {
        let fd: i32 = entry.file_name().to_str().unwrap().parse().unwrap();
        // The listing's own descriptor.
        let target = std::fs::read_link(entry.path()).unwrap_or_default();
        if !target.starts_with("/proc") {
            fds.push(fd);
        }
    }
    fds.sort_unstable();
    assert_eq!(fds, [0, 1, 2, 3], "stdin, stdout, stderr, the channel");
}

#[test]
fn the_body_inherits_only_its_standard_fds_and_the_channel() {
    let files: Vec<std::fs::File> = (0..30)
        .map(|_| std::fs::File::open("/dev/null").unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let socket = UnixListener::bind(dir.path().join("s")).unwrap();
    let without_cloexec = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    Sandbox::new().run(fds_inside).assert_passed();
    drop((files, socket));
    nix::unistd::close(without_cloexec).unwrap();
}

/// The sockets a test of this file creates under its own `XDG_RUNTIME_DIR`.
const RUNTIME_SOCKETS: [&str; 4] = [
    "bus",
    "docker.sock",
    "podman/podman.sock",
    "systemd/private",
];

fn connect_each(runtime: &str) -> Vec<(&'static str, std::io::Result<UnixStream>)> {
    RUNTIME_SOCKETS
        .iter()
        .map(|name| (*name, UnixStream::connect(Path::new(runtime).join(name))))
        .collect()
}

#[sandboxed]
#[ignore = "run with a runtime dir by host_control_sockets_are_hidden_unless_exposed"]
fn control_sockets_hidden_probe() {
    for (name, connected) in connect_each(&env("XDG_RUNTIME_DIR")) {
        assert!(connected.is_err(), "{name} reached");
    }
}

#[sandboxed(expose = ["session-bus", "docker", "podman", "systemd-user"])]
#[ignore = "run with a runtime dir by host_control_sockets_are_hidden_unless_exposed"]
fn control_sockets_exposed_probe() {
    for (name, connected) in connect_each(&env("XDG_RUNTIME_DIR")) {
        connected.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn host_control_sockets_are_hidden_unless_exposed() {
    let runtime = host_dir();
    let listeners: Vec<UnixListener> = RUNTIME_SOCKETS
        .iter()
        .map(|name| {
            let path = runtime.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            UnixListener::bind(path).unwrap()
        })
        .collect();
    for probe in [
        "control_sockets_hidden_probe",
        "control_sockets_exposed_probe",
    ] {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([probe, "--exact", "--ignored", "--nocapture"])
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env_remove("DOCKER_HOST")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(text.contains("1 passed"), "{probe}: {text}");
    }
    // The host still reaches them.
    for name in RUNTIME_SOCKETS {
        UnixStream::connect(runtime.path().join(name)).unwrap();
    }
    drop(listeners);
}
