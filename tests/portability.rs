//! Older kernels, simulated: the test binary re-runs itself, to run one of the ignored
//! probes below, under a seccomp filter that makes one newer syscall or flag fail as a
//! kernel without it answers (ENOSYS for a syscall, EINVAL for a flag). The filter is
//! loaded before `exec`, so the fork server (started before `main`) and every sandbox
//! inherit it. A missing feature must cost only the tests that need it: the probe either
//! passes (the runtime falls back) or ends with the one-line diagnosis naming the feature,
//! which `SANDBOX_TEST_UNSUPPORTED=skip` turns into a pass.

use std::os::unix::process::CommandExt;
use std::process::Command;

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use sandbox_test::sandboxed;

#[sandboxed]
#[ignore = "run by the tests below, under a filter that simulates an older kernel"]
fn probe_default() {
    // Nothing the fork server held is left open in the body: 0-2, the channel (3) and
    // the directory being listed.
    let open: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(open.len() <= 5, "descriptors left open: {open:?}");
    println!("the body ran");
}

#[sandboxed(time(monotonic = "+1d"))]
#[ignore = "run by the tests below, under a filter that simulates an older kernel"]
fn probe_monotonic() {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    assert!(now.tv_sec() >= 86_400);
    println!("the body ran");
}

/// The body of the seccomp probes: `getppid` fails with EPERM, and the body goes on.
fn getppid_is_refused() {
    // SAFETY: a plain syscall without arguments.
    let ppid = unsafe { libc::syscall(libc::SYS_getppid) };
    assert_eq!(
        (ppid, std::io::Error::last_os_error().raw_os_error()),
        (-1, Some(libc::EPERM))
    );
    println!("the body ran");
}

#[sandboxed(seccomp(deny = ["getppid"], on_violation = "errno"))]
#[ignore = "run by the tests below, under a filter that simulates an older kernel"]
fn probe_seccomp_errno() {
    getppid_is_refused();
}

#[sandboxed(seccomp(profile = "tests/fixtures/seccomp/wait-killable-recv.json"))]
#[ignore = "run by the tests below, under a filter that simulates an older kernel"]
fn probe_wait_killable_profile() {
    getppid_is_refused();
}

#[sandboxed(readonly_root)]
#[ignore = "run by the tests below, under a filter that simulates an older kernel"]
fn probe_readonly_root() {
    // Setting the root directory's mode to what it is: harmless should it succeed.
    let mode = std::fs::metadata("/").unwrap().permissions();
    let error = std::fs::set_permissions("/", mode).unwrap_err();
    assert_eq!(error.raw_os_error(), Some(libc::EROFS));
    println!("the body ran");
}

/// What the simulated older kernel lacks.
#[derive(Clone, Copy, Debug)]
enum Missing {
    /// Linux < 5.6, or built without CONFIG_TIME_NS, or gVisor: `unshare`/`clone` with
    /// CLONE_NEWTIME fail with EINVAL; `clone3` (whose flags the filter cannot read, and
    /// which older kernels lack) with ENOSYS.
    TimeNamespaces,
    /// A syscall the kernel does not have: ENOSYS.
    Syscall(&'static str),
    /// Syscalls the kernel does not have: ENOSYS for each.
    Syscalls(&'static [&'static str]),
    /// Linux < 5.4: `waitid(P_PIDFD, ...)` fails with EINVAL.
    WaitidPidfd,
    /// Linux < 5.0: `seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER)`
    /// fails with EINVAL.
    NewListener,
    /// Linux < 5.19: `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` fails with EINVAL.
    WaitKillableRecv,
}

/// The BPF of the filter that simulates the kernel without `missing`.
fn simulating(missing: Missing) -> Vec<u8> {
    let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).unwrap();
    let syscall = |name: &str| ScmpSyscall::from_name(name).unwrap();
    let flag_set =
        |arg: u32, flag: u64| ScmpArgCompare::new(arg, ScmpCompareOp::MaskedEqual(flag), flag);
    let einval = ScmpAction::Errno(libc::EINVAL);
    let enosys = ScmpAction::Errno(libc::ENOSYS);
    let newtime = libc::CLONE_NEWTIME as u64;
    match missing {
        Missing::TimeNamespaces => {
            ctx.add_rule_conditional(einval, syscall("unshare"), &[flag_set(0, newtime)])
                .unwrap();
            ctx.add_rule_conditional(einval, syscall("clone"), &[flag_set(0, newtime)])
                .unwrap();
            ctx.add_rule(enosys, syscall("clone3")).unwrap();
        }
        Missing::Syscall(name) => {
            ctx.add_rule(enosys, syscall(name)).unwrap();
        }
        Missing::Syscalls(names) => {
            for name in names {
                ctx.add_rule(enosys, syscall(name)).unwrap();
            }
        }
        Missing::WaitidPidfd => {
            ctx.add_rule_conditional(
                einval,
                syscall("waitid"),
                &[ScmpArgCompare::new(
                    0,
                    ScmpCompareOp::Equal,
                    libc::P_PIDFD as u64,
                )],
            )
            .unwrap();
        }
        Missing::NewListener | Missing::WaitKillableRecv => {
            let flag = match missing {
                Missing::NewListener => libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                _ => libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
            };
            ctx.add_rule_conditional(
                einval,
                syscall("seccomp"),
                &[
                    ScmpArgCompare::new(
                        0,
                        ScmpCompareOp::Equal,
                        libc::SECCOMP_SET_MODE_FILTER as u64,
                    ),
                    flag_set(1, flag),
                ],
            )
            .unwrap();
        }
    }
    // no_new_privs is set by the pre_exec hook itself.
    ctx.set_ctl_nnp(false).unwrap();
    let mut file = tempfile::tempfile().unwrap();
    ctx.export_bpf(&file).unwrap();
    let mut bpf = Vec::new();
    use std::io::{Read, Seek};
    file.rewind().unwrap();
    file.read_to_end(&mut bpf).unwrap();
    bpf
}

/// The end of one probe run under the simulated kernel.
struct Run {
    success: bool,
    output: String,
}

/// Runs `probe` of this binary under the filter simulating a kernel without `missing`.
fn run(probe: &str, missing: Missing, policy: Option<&str>) -> Run {
    let bpf = simulating(missing);
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([probe, "--exact", "--ignored", "--nocapture"])
        .env_remove("SANDBOX_TEST_UNSUPPORTED");
    if let Some(policy) = policy {
        command.env("SANDBOX_TEST_UNSUPPORTED", policy);
    }
    let prog = libc::sock_fprog {
        len: (bpf.len() / std::mem::size_of::<libc::sock_filter>()) as u16,
        filter: bpf.as_ptr() as *mut libc::sock_filter,
    };
    let prog_address = &prog as *const libc::sock_fprog as usize;
    // SAFETY: the hook makes two async-signal-safe syscalls; `prog` and `bpf` outlive the
    // spawn.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    prog_address as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().unwrap();
    drop(bpf);
    Run {
        success: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// The probe passed: the runtime fell back.
fn assert_passes(probe: &str, missing: Missing) -> String {
    let run = run(probe, missing, None);
    assert!(
        run.success && run.output.contains("the body ran"),
        "{missing:?}: {}",
        run.output
    );
    run.output
}

/// The probe ended with the diagnosis naming `feature`, and is skipped on request.
fn assert_diagnosed(probe: &str, missing: Missing, feature: &str, version: &str) {
    let run_ = run(probe, missing, None);
    let output = &run_.output;
    assert!(!run_.success, "{missing:?}: {output}");
    let line = output
        .lines()
        .find(|line| line.contains("this host cannot run this sandboxed test: "))
        .unwrap_or_else(|| panic!("{missing:?}: no diagnosis in {output}"));
    assert!(line.contains(feature), "{missing:?}: {line}");
    assert!(
        line.contains(&format!("Linux {version} or later")),
        "{line}"
    );
    assert!(line.contains("Fix: "), "{line}");
    assert!(!output.contains("sandbox setup failed"), "{output}");
    assert!(!output.contains("the body ran"), "{output}");

    let skipped = run(probe, missing, Some("skip"));
    assert!(skipped.success, "{missing:?}: {}", skipped.output);
    assert!(
        skipped.output.contains("skipped: ") && skipped.output.contains(feature),
        "{}",
        skipped.output
    );
    assert!(
        !skipped.output.contains("the body ran"),
        "{}",
        skipped.output
    );
}

/// A default test passes without the feature; `probe`, which needs it, is diagnosed.
fn costs_only_the_probe(probe: &str, missing: Missing, feature: &str, version: &str) {
    assert_passes("probe_default", missing);
    assert_diagnosed(probe, missing, feature, version);
}

#[test]
fn without_time_namespaces_a_default_test_passes() {
    assert_passes("probe_default", Missing::TimeNamespaces);
}

#[test]
fn without_time_namespaces_a_monotonic_offset_is_diagnosed() {
    assert_diagnosed(
        "probe_monotonic",
        Missing::TimeNamespaces,
        "time namespaces",
        "5.6",
    );
}

#[test]
fn with_time_namespaces_the_probes_pass() {
    // The same filter machinery, removing nothing the probes need.
    for probe in [
        "probe_monotonic",
        "probe_seccomp_errno",
        "probe_readonly_root",
    ] {
        assert_passes(probe, Missing::Syscall("mount_setattr"));
    }
}

#[test]
fn without_clone3_glibc_falls_back_to_clone() {
    assert_passes("probe_default", Missing::Syscall("clone3"));
}

#[test]
fn without_close_range_the_fds_are_closed_one_by_one() {
    assert_passes("probe_default", Missing::Syscall("close_range"));
}

#[test]
fn without_memfd_create_the_plan_travels_in_a_temporary_file() {
    assert_passes("probe_default", Missing::Syscall("memfd_create"));
    assert_passes("probe_seccomp_errno", Missing::Syscall("memfd_create"));
}

#[test]
fn without_waitid_p_pidfd_the_fork_server_waits_by_pid() {
    assert_passes("probe_default", Missing::WaitidPidfd);
}

#[test]
fn without_pidfd_open_every_sandbox_is_diagnosed() {
    assert_diagnosed(
        "probe_default",
        Missing::Syscall("pidfd_open"),
        "pidfd_open",
        "5.3",
    );
}

#[test]
fn without_pidfd_send_signal_every_sandbox_is_diagnosed() {
    assert_diagnosed(
        "probe_default",
        Missing::Syscall("pidfd_send_signal"),
        "pidfd_send_signal",
        "5.3",
    );
}

#[test]
fn without_pidfd_getfd_only_seccomp_notification_is_diagnosed() {
    costs_only_the_probe(
        "probe_seccomp_errno",
        Missing::Syscall("pidfd_getfd"),
        "pidfd_getfd",
        "5.6",
    );
}

#[test]
fn without_user_notification_only_seccomp_errno_and_record_are_diagnosed() {
    costs_only_the_probe(
        "probe_seccomp_errno",
        Missing::NewListener,
        "seccomp user notification",
        "5.5",
    );
}

#[test]
fn without_wait_killable_recv_a_profile_loads_without_the_flag() {
    let output = assert_passes("probe_wait_killable_profile", Missing::WaitKillableRecv);
    assert!(
        output.contains("does not know SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19)"),
        "{output}"
    );
}

#[test]
fn without_mount_setattr_or_statx_mount_ids_the_host_is_still_read_only() {
    // Linux 5.8–5.11: no mount_setattr, each mount is remounted. Before 5.8 statx gives no
    // mount ids either (glibc emulates a refused statx with fstatat): by path.
    for missing in [
        Missing::Syscall("mount_setattr"),
        Missing::Syscall("statx"),
        Missing::Syscalls(&["mount_setattr", "statx"]),
    ] {
        assert_passes("probe_default", missing);
        assert_passes("probe_readonly_root", missing);
    }
}

/// The time namespace of the process reading it, as `time:[inode]`.
fn time_namespace() -> std::path::PathBuf {
    std::fs::read_link("/proc/self/ns/time").unwrap()
}

#[sandboxed(env(HOST_TIME_NS = time_namespace()))]
fn a_default_sandbox_creates_no_time_namespace() {
    assert_eq!(
        time_namespace(),
        std::path::PathBuf::from(std::env::var_os("HOST_TIME_NS").unwrap())
    );
}

#[sandboxed(time(boottime = "+1d"), env(HOST_TIME_NS = time_namespace()))]
fn a_sandbox_with_clock_offsets_has_its_own_time_namespace() {
    assert_ne!(
        time_namespace(),
        std::path::PathBuf::from(std::env::var_os("HOST_TIME_NS").unwrap())
    );
}
