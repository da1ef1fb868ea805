//! The kernel features the runtime relies on that a host may lack, with the Linux version
//! that brought each: a fallback where one is sound, otherwise a diagnosis that ends only
//! the tests that need the feature (as `Unsupported`, which `SANDBOX_TEST_UNSUPPORTED`
//! turns into a skip). README's "Supported hosts" is this module for people.
//!
//! | feature | Linux | without it |
//! | --- | --- | --- |
//! | `pidfd_open`, `pidfd_send_signal` | 5.3 (5.1) | every sandbox: [`Feature::Pidfd`] |
//! | `waitid(P_PIDFD)` | 5.4 | [`wait_exited`] falls back to `waitid(P_PID)` on the child it owns |
//! | `close_range` | 5.9 | [`close_from`] closes what `/proc/self/fd` lists |
//! | `memfd_create` | 3.17 | [`anonymous_file`] makes an unlinked temporary file |
//! | `CLONE_NEWTIME` | 5.6 | `time(monotonic, boottime)` only: [`Feature::TimeNamespaces`] |
//! | seccomp user notification | 5.0 (continue: 5.5) | `seccomp` `errno`/`record`: [`Feature::SeccompUserNotification`] |
//! | `pidfd_getfd` | 5.6 | `seccomp` `errno`/`record`: [`Feature::PidfdGetfd`] |
//! | `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` | 5.19 | a profile's flag is dropped, with a note |
//! | `mount_setattr` | 5.12 | the read-only host: each mount remounted (with `statx(STATX_MNT_ID)`, 5.8, to skip covered mounts; by path before) |
//! | `RLIMIT_NPROC` per user namespace | 5.14 | `pids` without a delegated cgroup v2: [`Feature::NprocPerUserNamespace`] |
//!
//! `SECCOMP_USER_NOTIF_FLAG_CONTINUE` (5.5, `record`) needs no check of its own: the
//! notification supervisor needs `pidfd_getfd` (5.6), which is checked first.
//! `clone3` (5.3) is never called directly: glibc falls back to `clone` when it answers
//! ENOSYS, as the baseline seccomp filter makes it do anyway.

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// A kernel feature without a sound fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Feature {
    /// Process file descriptors: how a sandbox is watched, reaped and killed.
    Pidfd,
    /// Time namespaces: the monotonic and boottime offsets.
    TimeNamespaces,
    /// Seccomp user notification: the supervisor that answers `errno`/`record` calls.
    SeccompUserNotification,
    /// `pidfd_getfd`: how that supervisor takes the filter's listener from the body.
    PidfdGetfd,
    /// `RLIMIT_NPROC` counted per user namespace: `pids` without a delegated cgroup v2.
    NprocPerUserNamespace,
}

impl Feature {
    /// What the feature is, the kernel that brought it, and who needs it.
    fn describe(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Feature::Pidfd => (
                "process file descriptors (pidfd_open, pidfd_send_signal)",
                "5.3",
                "every sandbox",
            ),
            Feature::TimeNamespaces => (
                "time namespaces (CLONE_NEWTIME; also absent when built without CONFIG_TIME_NS, \
                 and under gVisor)",
                "5.6",
                "`time(monotonic = ..., boottime = ...)`",
            ),
            Feature::SeccompUserNotification => (
                "seccomp user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER, \
                 SECCOMP_USER_NOTIF_FLAG_CONTINUE)",
                "5.5",
                "`seccomp(on_violation = \"errno\")`, `seccomp(record = ...)` and profiles \
                 whose default action is an errno",
            ),
            Feature::PidfdGetfd => (
                "pidfd_getfd",
                "5.6",
                "`seccomp(on_violation = \"errno\")`, `seccomp(record = ...)` and profiles \
                 whose default action is an errno",
            ),
            Feature::NprocPerUserNamespace => (
                "RLIMIT_NPROC counted per user namespace (before, it counts every task of \
                 the user on the host)",
                "5.14",
                "`pids = N` without a delegated cgroup v2",
            ),
        }
    }

    /// The one-line diagnosis: the cause, the feature, the kernel that has it, the fix.
    pub(crate) fn missing(self, cause: &str) -> String {
        let (what, since, needed_by) = self.describe();
        let workaround = match self {
            Feature::TimeNamespaces => "; or leave out the monotonic and boottime offsets",
            Feature::SeccompUserNotification | Feature::PidfdGetfd => {
                "; or use `on_violation = \"fail\"` or `\"kill\"`"
            }
            Feature::NprocPerUserNamespace => {
                "; or give the test process a delegated cgroup v2, e.g. `systemd-run --user \
                 --scope -p Delegate=yes cargo test`"
            }
            Feature::Pidfd => "",
        };
        format!(
            "{cause}: this kernel lacks {what} (Linux {since} or later has it), needed by \
             {needed_by}. Fix: run the test on Linux {since} or later{workaround}"
        )
    }
}

/// `"6.18.0-foo"` or `"4.8"` → `(6, 18)`.
pub(crate) fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// The running kernel's `(major, minor)` from `uname`, `(0, 0)` if it cannot be read.
pub(crate) fn running_version() -> (u32, u32) {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| parse_version(&u.release().to_string_lossy()))
        .unwrap_or((0, 0))
}

/// Checks that this kernel has pidfds: `pidfd_open` of the caller, and
/// `pidfd_send_signal` with signal 0 on it.
pub(crate) fn check_pidfds() -> Result<(), String> {
    let missing = |call: &str| Feature::Pidfd.missing(&format!("{call} failed with ENOSYS"));
    let pidfd = match crate::namespaces::pidfd_open(nix::unistd::getpid()) {
        Err(Errno::ENOSYS) => return Err(missing("pidfd_open")),
        Err(_) => return Ok(()),
        Ok(pidfd) => pidfd,
    };
    // SAFETY: signal 0 only checks that the process can be signalled.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            0,
            std::ptr::null::<()>(),
            0,
        )
    };
    match Errno::result(rc) {
        Err(Errno::ENOSYS) => Err(missing("pidfd_send_signal")),
        _ => Ok(()),
    }
}

/// Checks that `pidfd_getfd` exists (it answers EBADF for a bad pidfd, ENOSYS if absent).
pub(crate) fn check_pidfd_getfd() -> Result<(), String> {
    // SAFETY: -1 is never a descriptor; the call only fails.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_getfd, -1, 0, 0) };
    match Errno::result(rc) {
        Err(Errno::ENOSYS) => Err(Feature::PidfdGetfd.missing("pidfd_getfd failed with ENOSYS")),
        _ => Ok(()),
    }
}

/// Waits for `child`, a child of the caller that `pidfd` refers to, to exit.
/// `waitid(P_PIDFD)` (Linux 5.4); before it, `waitid(P_PID)`, which is as exact here:
/// nobody else reaps the caller's children, so the pid cannot be reused before this call.
pub(crate) fn wait_exited(pidfd: BorrowedFd<'_>, child: Pid) -> Result<libc::siginfo_t, Errno> {
    let mut by_pidfd = true;
    loop {
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let (idtype, id) = if by_pidfd {
            (libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t)
        } else {
            (libc::P_PID, child.as_raw() as libc::id_t)
        };
        // SAFETY: plain waitid into a local.
        match Errno::result(unsafe { libc::waitid(idtype, id, &mut info, libc::WEXITED) }) {
            Ok(_) => return Ok(info),
            Err(Errno::EINTR) => {}
            // A kernel that does not know P_PIDFD.
            Err(Errno::EINVAL) if by_pidfd => by_pidfd = false,
            Err(errno) => return Err(errno),
        }
    }
}

/// Closes every descriptor from `first` up: `close_range` (Linux 5.9), or, before it,
/// each descriptor `/proc/self/fd` lists.
pub(crate) fn close_from(first: RawFd) -> Result<(), Errno> {
    // SAFETY: closes descriptors the caller has declared it no longer uses.
    match Errno::result(unsafe { libc::close_range(first as u32, u32::MAX, 0) }) {
        Err(Errno::ENOSYS) => {}
        result => return result.map(drop),
    }
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd >= first)
        .collect();
    for fd in open {
        // SAFETY: as above; the directory's own descriptor is already closed (EBADF).
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// A file that lives in memory only and is gone with its last descriptor: `memfd_create`
/// (Linux 3.17), or an unlinked temporary file.
pub(crate) fn anonymous_file(name: &CStr) -> std::io::Result<File> {
    // SAFETY: memfd_create with a NUL-terminated name; the fd is owned below.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    match Errno::result(fd) {
        // SAFETY: a fresh descriptor nothing else owns.
        Ok(fd) => Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) })),
        Err(Errno::ENOSYS) => tempfile::tempfile(),
        Err(errno) => Err(errno.into()),
    }
}

/// Moves `fd` to the number `target` (closing what was there; close-on-exec there), for
/// the rest of the process's life.
pub(crate) fn move_fd(fd: OwnedFd, target: RawFd) -> Result<BorrowedFd<'static>, Errno> {
    if fd.as_raw_fd() != target {
        // dup3 refuses to copy a descriptor onto itself: hence the test above.
        nix::unistd::dup3(fd.as_raw_fd(), target, nix::fcntl::OFlag::O_CLOEXEC)?;
        drop(fd);
    } else {
        std::mem::forget(fd);
    }
    // SAFETY: `target` is open now, and nothing closes it.
    Ok(unsafe { BorrowedFd::borrow_raw(target) })
}

/// A SEQPACKET socket pair, both ends close-on-exec.
pub(crate) fn socket_pair() -> Result<(OwnedFd, OwnedFd), Errno> {
    nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn every_diagnosis_names_the_feature_the_version_and_the_fix() {
        let reason = Feature::TimeNamespaces.missing("unshare(CLONE_NEWTIME) failed with EINVAL");
        assert!(reason.starts_with("unshare(CLONE_NEWTIME) failed with EINVAL: "));
        assert!(reason.contains("time namespaces"), "{reason}");
        assert!(reason.contains("Linux 5.6 or later"), "{reason}");
        assert!(reason.contains("Fix: "), "{reason}");
        assert!(!reason.contains('\n'), "{reason}");
        for feature in [
            Feature::Pidfd,
            Feature::SeccompUserNotification,
            Feature::PidfdGetfd,
            Feature::NprocPerUserNamespace,
        ] {
            let reason = feature.missing("cause");
            let (what, since, _) = feature.describe();
            assert!(reason.contains(what) && reason.contains(since), "{reason}");
        }
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_version("5.10.0-28-amd64"), Some((5, 10)));
        assert!(parse_version("5.10.0-28-amd64").unwrap() < (5, 14));
        assert_ne!(running_version(), (0, 0));
    }

    #[test]
    fn close_from_closes_every_descriptor_from_the_first() {
        // In a child: closing descriptors of the multi-threaded test process is not ours.
        // SAFETY: the child only opens, closes and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let kept = nix::unistd::dup(0).unwrap();
                let first = kept + 1;
                let extra = [nix::unistd::dup(0).unwrap(), nix::unistd::dup(0).unwrap()];
                let ok = close_from(first).is_ok()
                    && extra
                        .iter()
                        .all(|&fd| nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_err())
                    && nix::fcntl::fcntl(kept, nix::fcntl::FcntlArg::F_GETFD).is_ok();
                // SAFETY: leave the fork without running the test process's handlers.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => assert_eq!(
                nix::sys::wait::waitpid(child, None).unwrap(),
                nix::sys::wait::WaitStatus::Exited(child, 0)
            ),
        }
    }

    #[test]
    fn an_anonymous_file_reads_back_what_was_written() {
        let mut file = anonymous_file(c"sandbox-test-check").unwrap();
        file.write_all(b"plan").unwrap();
        let mut text = String::new();
        file.rewind().unwrap();
        file.read_to_string(&mut text).unwrap();
        assert_eq!(text, "plan");
    }

    #[test]
    fn this_kernel_has_the_features() {
        assert_eq!(check_pidfds(), Ok(()));
        assert_eq!(check_pidfd_getfd(), Ok(()));
    }
}
