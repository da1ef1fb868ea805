//! Every default of the sandbox, proven from inside a sandboxed test.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;

use sandbox_test::{sandboxed, Sandbox};

/// The pids /proc lists.
fn proc_pids() -> BTreeSet<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.unwrap().file_name().to_str()?.parse().ok())
        .collect()
}

#[sandboxed(env(HOST_PID = std::process::id()))]
fn the_body_is_pid_2_under_a_minimal_init_and_sees_only_the_sandbox() {
    assert_eq!(std::process::id(), 2, "the body is never pid 1");
    assert_eq!(
        std::os::unix::process::parent_id(),
        1,
        "the sandbox's init is the parent"
    );
    assert_eq!(proc_pids(), BTreeSet::from([1, 2]));
    let host_pid: u32 = std::env::var("HOST_PID").unwrap().parse().unwrap();
    assert!(host_pid > 2, "the harness runs in the host's pid namespace");
    assert!(!std::path::Path::new(&format!("/proc/{host_pid}")).exists());
}

fn create_a_file_in_the_shared_dir() {
    assert_eq!(nix::unistd::getuid().as_raw(), 0, "uid 0 inside");
    assert_eq!(nix::unistd::getgid().as_raw(), 0, "gid 0 inside");
    let dir = std::env::var("SHARED_DIR").unwrap();
    std::fs::write(format!("{dir}/made-inside"), "x").unwrap();
    assert_eq!(
        std::fs::metadata(format!("{dir}/made-inside"))
            .unwrap()
            .uid(),
        0
    );
}

#[test]
fn root_inside_is_the_caller_outside() {
    // /var/tmp: shared with the sandbox (its /tmp is private) and writable by any user;
    // read-only inside unless made writable.
    let shared = tempfile::tempdir_in("/var/tmp").unwrap();
    let report = Sandbox::new()
        .writable(shared.path())
        .unwrap()
        .env("SHARED_DIR", shared.path())
        .run(create_a_file_in_the_shared_dir);
    report.assert_passed();
    let made = std::fs::metadata(shared.path().join("made-inside")).unwrap();
    assert_eq!(made.uid(), nix::unistd::getuid().as_raw());
    assert_eq!(made.gid(), nix::unistd::getgid().as_raw());
}

#[sandboxed]
fn the_hostname_is_sandbox() {
    assert_eq!(nix::unistd::gethostname().unwrap(), "sandbox");
}

#[sandboxed(hostname = "box-7")]
fn the_hostname_can_be_chosen() {
    assert_eq!(nix::unistd::gethostname().unwrap(), "box-7");
}

fn the_hostname_resolves() {
    use std::net::ToSocketAddrs;
    let hostname = nix::unistd::gethostname().unwrap().into_string().unwrap();
    let addresses: Vec<_> = format!("{hostname}:80")
        .to_socket_addrs()
        .unwrap()
        .collect();
    assert_eq!(addresses, ["127.0.1.1:80".parse().unwrap()]);
    let etc_hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    assert!(
        etc_hosts.contains(&format!("127.0.1.1\t{hostname}\n")),
        "{etc_hosts}"
    );
    assert!(
        etc_hosts.contains(&std::env::var("HOST_ETC_HOSTS").unwrap()),
        "the host's entries are kept: {etc_hosts}"
    );
    // It is the sandbox's: read-only, and nothing of it is left in the private /tmp.
    assert!(std::fs::OpenOptions::new()
        .append(true)
        .open("/etc/hosts")
        .is_err());
    assert!(!std::path::Path::new("/tmp/.sandbox-test-hosts").exists());
}

#[test]
fn the_hostname_resolves_inside_and_the_hosts_etc_hosts_is_untouched() {
    let before = std::fs::read_to_string("/etc/hosts").unwrap();
    let modified = std::fs::metadata("/etc/hosts").unwrap().modified().unwrap();
    for sandbox in [Sandbox::new(), Sandbox::new().hostname("box-7").unwrap()] {
        sandbox
            .env("HOST_ETC_HOSTS", &before)
            .run(the_hostname_resolves)
            .assert_passed();
    }
    assert_eq!(std::fs::read_to_string("/etc/hosts").unwrap(), before);
    assert_eq!(
        std::fs::metadata("/etc/hosts").unwrap().modified().unwrap(),
        modified
    );
}

#[sandboxed]
fn the_network_has_only_lo_and_it_is_up() {
    let interfaces: Vec<_> = nix::ifaddrs::getifaddrs().unwrap().collect();
    let names: BTreeSet<String> = interfaces
        .iter()
        .map(|i| i.interface_name.clone())
        .collect();
    assert_eq!(names, BTreeSet::from(["lo".to_owned()]));
    assert!(interfaces
        .iter()
        .all(|i| i.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP)));
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    let listed: Vec<&str> = dev
        .lines()
        .skip(2)
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(listed, ["lo"]);
    let sysfs: Vec<_> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(sysfs, ["lo"], "/sys is the sandbox's own sysfs");
}

/// Each of four tests binds the same fixed port and holds it while the others run.
fn bind_the_fixed_port() {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:47123").expect("the port is free in this sandbox");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _client = std::net::TcpStream::connect("127.0.0.1:47123").unwrap();
    listener.accept().unwrap();
}

#[sandboxed]
fn the_same_port_1() {
    bind_the_fixed_port();
}

#[sandboxed]
fn the_same_port_2() {
    bind_the_fixed_port();
}

#[sandboxed]
fn the_same_port_3() {
    bind_the_fixed_port();
}

#[sandboxed]
fn the_same_port_4() {
    bind_the_fixed_port();
}

#[test]
fn four_sandboxes_bind_the_same_port_at_the_same_time() {
    let handles: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| Sandbox::new().run(bind_the_fixed_port)))
        .collect();
    for handle in handles {
        handle.join().unwrap().assert_passed();
    }
}

fn tmp_is_private() {
    let host_file = std::env::var("HOST_TMP_FILE").unwrap();
    assert!(
        !std::path::Path::new(&host_file).exists(),
        "the host's /tmp is not visible"
    );
    // Empty, but for the test's own directories when the repository or the test binary
    // (e.g. unpacked from a nextest archive) lives in /tmp.
    let own = [
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        std::env::current_exe().unwrap(),
    ];
    let entries: Vec<_> = std::fs::read_dir("/tmp")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        entries.iter().all(|e| own.iter().any(|o| o.starts_with(e))),
        "{entries:?}"
    );
    std::fs::write("/tmp/made-inside-sandbox", "x").unwrap();
    let mount = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        mount.lines().any(|l| l.starts_with("tmpfs /tmp tmpfs")),
        "{mount}"
    );
}

#[test]
fn tmp_is_a_private_tmpfs() {
    let host_file = tempfile::NamedTempFile::new_in("/tmp").unwrap();
    let report = Sandbox::new()
        .env("HOST_TMP_FILE", host_file.path())
        .run(tmp_is_private);
    report.assert_passed();
    assert!(!std::path::Path::new("/tmp/made-inside-sandbox").exists());
}

const QUEUE_KEY: libc::key_t = 0x005b_7e57;

fn create_a_message_queue() {
    // SAFETY: plain SysV IPC call.
    let id = unsafe { libc::msgget(QUEUE_KEY, libc::IPC_CREAT | 0o600) };
    assert!(id >= 0, "msgget: {}", std::io::Error::last_os_error());
    let again = unsafe { libc::msgget(QUEUE_KEY, 0) };
    assert_eq!(again, id, "the queue exists inside");
}

#[test]
fn a_sysv_message_queue_made_inside_is_not_visible_outside() {
    let report = Sandbox::new().run(create_a_message_queue);
    report.assert_passed();
    // SAFETY: plain SysV IPC call.
    let outside = unsafe { libc::msgget(QUEUE_KEY, 0) };
    let error = std::io::Error::last_os_error();
    assert_eq!(outside, -1);
    assert_eq!(error.raw_os_error(), Some(libc::ENOENT));
}

#[sandboxed]
fn no_capabilities_and_no_new_privs() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(field("CapEff:"), "0000000000000000");
    assert_eq!(field("CapPrm:"), "0000000000000000");
    assert_eq!(field("CapBnd:"), "0000000000000000");
    assert_eq!(field("NoNewPrivs:"), "1");
    // Being uid 0 inside grants nothing: changing the hostname needs CAP_SYS_ADMIN.
    assert_eq!(
        nix::unistd::sethostname("other"),
        Err(nix::errno::Errno::EPERM)
    );
}

/// The namespaces of every sandbox (a time namespace only with clock offsets: see
/// `tests/portability.rs`).
const NAMESPACES: [&str; 7] = ["user", "pid", "mnt", "uts", "ipc", "net", "cgroup"];

fn every_namespace_is_new() {
    for ns in NAMESPACES {
        let inside = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let host = std::env::var(format!("HOST_NS_{ns}")).unwrap();
        assert_ne!(inside.to_str().unwrap(), host, "{ns} namespace");
    }
}

#[test]
fn namespaces_differ_from_the_hosts() {
    let mut sandbox = Sandbox::new();
    for ns in NAMESPACES {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        sandbox = sandbox.env(format!("HOST_NS_{ns}"), host);
    }
    sandbox.run(every_namespace_is_new).assert_passed();
}

#[sandboxed(env(GREETING = "hello", ANSWER = 6 * 7, FROM_PARENT = format!("pid {}", std::process::id())))]
fn env_values_are_evaluated_in_the_parent() {
    assert_eq!(std::env::var("GREETING").unwrap(), "hello");
    assert_eq!(std::env::var("ANSWER").unwrap(), "42");
    let from_parent = std::env::var("FROM_PARENT").unwrap();
    assert_ne!(
        from_parent, "pid 2",
        "evaluated in the parent, not in the sandbox"
    );
    assert!(
        std::env::var_os("PATH").is_some(),
        "the rest of the environment is inherited"
    );
}

#[sandboxed(clear_env, env(ONLY = "this"))]
fn clear_env_leaves_only_the_given_variables() {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    assert_eq!(vars, [("ONLY".to_owned(), "this".to_owned())]);
}

#[sandboxed(workdir = "temp")]
fn workdir_temp_is_a_fresh_empty_directory() {
    let cwd = std::env::current_dir().unwrap();
    assert!(cwd.starts_with("/tmp"), "{}", cwd.display());
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
    std::fs::write("scratch", "x").unwrap();
}

#[sandboxed(workdir = "/proc")]
fn workdir_can_be_an_absolute_path() {
    assert_eq!(
        std::env::current_dir().unwrap(),
        std::path::Path::new("/proc")
    );
}

#[sandboxed]
fn the_working_directory_is_inherited_by_default() {
    assert_eq!(
        std::env::current_dir().unwrap(),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
    );
}

#[test]
fn a_bad_hostname_is_refused_by_the_call_that_gave_it() {
    let error = Sandbox::new().hostname("no spaces").unwrap_err();
    assert_eq!(error.option(), "hostname");
    assert!(error.to_string().contains("contains ' '"), "{error}");
}
