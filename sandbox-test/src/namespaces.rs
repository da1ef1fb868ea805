//! Namespaces: `unshare`, the uid/gid maps, the hostname, the pid namespace's init.

use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::unistd::{fork as nix_fork, ForkResult, Gid, Pid, Uid};

use crate::outcome::ExitStatus;
use crate::step::StepError;

/// Every namespace a sandbox gets: user, pid, mount, uts, ipc, net, cgroup. (A time
/// namespace only when the test moves the monotonic or boottime clock: `time::namespace`.)
pub(crate) const ALL: CloneFlags = CloneFlags::CLONE_NEWUSER
    .union(CloneFlags::CLONE_NEWPID)
    .union(CloneFlags::CLONE_NEWNS)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWNET)
    .union(CloneFlags::CLONE_NEWCGROUP);

/// The caller's ids outside, to map to root inside.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallerIds {
    uid: Uid,
    gid: Gid,
}

pub(crate) fn caller_ids() -> CallerIds {
    CallerIds {
        uid: Uid::current(),
        gid: Gid::current(),
    }
}

/// The effective ids (the real uid may be the overflow uid, see `limits`).
pub(crate) fn effective_ids() -> CallerIds {
    CallerIds {
        uid: Uid::effective(),
        gid: Gid::effective(),
    }
}

/// `unshare(flags)`; a failure that means "this host cannot" is reported as such.
pub(crate) fn unshare(flags: CloneFlags) -> Result<(), StepError> {
    nix::sched::unshare(flags).map_err(|errno| match diagnose(errno, Path::new("/proc")) {
        Some(reason) => StepError::Unsupported(reason),
        None => StepError::Sys(format!("unshare({flags:?})"), errno),
    })
}

/// `--map-root-user`: the caller becomes uid and gid 0 inside.
pub(crate) fn map_root_user(ids: CallerIds) -> Result<(), StepError> {
    let root = CallerIds {
        uid: Uid::from_raw(0),
        gid: Gid::from_raw(0),
    };
    map_ids(root, ids)
}

/// Writes a new user namespace's maps: `inside` are the ids `outside` appear as.
pub(crate) fn map_ids(inside: CallerIds, outside: CallerIds) -> Result<(), StepError> {
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text).map_err(|e| {
            let errno = Errno::from_raw(e.raw_os_error().unwrap_or(0));
            match errno {
                Errno::EPERM | Errno::EACCES => StepError::Unsupported(format!(
                    "writing /proc/self/{file} in a new user namespace was refused ({errno}): a \
                     security module restricts unprivileged user namespaces here. Fix: allow them \
                     (on Ubuntu: `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, \
                     or an AppArmor profile with `userns,` for the test binary)"
                )),
                _ => StepError::Sys(format!("writing /proc/self/{file}"), errno),
            }
        })
    };
    write("setgroups", "deny".to_owned())?;
    write("uid_map", format!("{} {} 1", inside.uid, outside.uid))?;
    write("gid_map", format!("{} {} 1", inside.gid, outside.gid))?;
    Ok(())
}

/// Moves the caller into a new user and mount namespace, keeping its ids. Mounts copied
/// into a namespace owned by a less privileged user namespace are locked by the kernel:
/// the read-only flag can no longer be cleared and covering mounts can no longer be
/// removed, even by root inside. Must run single-threaded.
pub(crate) fn enter_own_user_namespace() -> Result<(), StepError> {
    // Keeping the effective ids: the real uid may be the overflow uid, which has no mapping.
    let ids = effective_ids();
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)?;
    map_ids(ids, ids)
}

/// `hostname NAME`, in the new uts namespace.
pub(crate) fn set_hostname(name: &str) -> Result<(), StepError> {
    nix::unistd::sethostname(name)
        .map_err(|errno| StepError::Sys(format!("sethostname({name:?})"), errno))
}

/// `setsid`: a session and a process group of the sandbox's own, without a controlling
/// terminal. A body then cannot push input into the user's terminal (`TIOCSTI` needs the
/// terminal to be the caller's controlling one), and `kill(0, sig)` or `killpg` reach only
/// the sandbox's processes, never the test process, the fork server or `cargo`.
pub(crate) fn new_session() -> Result<(), StepError> {
    nix::unistd::setsid()
        .map(drop)
        .map_err(|errno| StepError::Sys("setsid()".into(), errno))
}

/// Dies with SIGKILL when the parent does, and checks it is not already too late.
pub(crate) fn die_with_parent(parent: Pid) -> Result<(), StepError> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    if nix::unistd::getppid() != parent {
        return Err(StepError::Other("the parent exited during setup".into()));
    }
    Ok(())
}

/// A pipe whose write end only the parent holds, so that a child in another pid namespace
/// (where `getppid()` says 0) can tell whether its parent is still alive.
pub(crate) struct Lifeline {
    read: OwnedFd,
    write: OwnedFd,
}

impl Lifeline {
    pub(crate) fn new() -> Result<Self, StepError> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        Ok(Lifeline { read, write })
    }

    /// In the child: dies with SIGKILL when the parent does.
    pub(crate) fn die_with_parent(self) -> Result<(), StepError> {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
        drop(self.write);
        let mut fds = [nix::poll::PollFd::new(
            self.read.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO)?;
        if fds[0].any().unwrap_or(true) {
            return Err(StepError::Other("the parent exited during setup".into()));
        }
        Ok(())
    }
}

/// `fork()`: `None` in the child, `Some(pid)` in the parent.
pub(crate) fn fork() -> Result<Option<Pid>, StepError> {
    // SAFETY: every sandbox process is single-threaded while it sets up.
    match unsafe { nix_fork() }? {
        ForkResult::Child => Ok(None),
        ForkResult::Parent { child } => Ok(Some(child)),
    }
}

/// A pidfd of `pid`: a handle that stays valid when the pid is reused.
pub(crate) fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall; on success it returns a new fd that we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    Errno::result(fd).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Waits for one child.
pub(crate) fn wait_for(child: Pid) -> ExitStatus {
    let mut status = 0;
    loop {
        // SAFETY: plain waitpid on our own child.
        if unsafe { libc::waitpid(child.as_raw(), &mut status, 0) } == child.as_raw() {
            return ExitStatus::from_wait_status(status);
        }
        if Errno::last() != Errno::EINTR {
            return ExitStatus::Signal {
                signal: libc::SIGKILL,
                core_dumped: false,
            };
        }
    }
}

/// The signals the init passes on to the body (it handles SIGCHLD itself).
const FORWARDED: [Signal; 7] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
];

/// SIGCHLD and the forwarded signals: what the init blocks to take them with `sigwait`.
pub(crate) fn forwarded_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    FORWARDED.iter().for_each(|&s| set.add(s));
    set
}

/// Blocks [`forwarded_signals`], so the init can take them with `sigwait`.
pub(crate) fn block_forwarded_signals() -> Result<SigSet, StepError> {
    let set = forwarded_signals();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    Ok(set)
}

pub(crate) fn unblock_signals(set: &SigSet) -> Result<(), StepError> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(set), None)?;
    Ok(())
}

/// The init's loop: reaps every child (orphans of the body included) and forwards
/// signals to the body, until the body has exited.
pub(crate) fn reap_and_forward(body: Pid, signals: &SigSet) -> ExitStatus {
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => {
                let mut body_status = None;
                reap_children(|pid, status| {
                    if pid == body {
                        body_status = Some(status);
                    }
                });
                if let Some(status) = body_status {
                    return status;
                }
            }
            Ok(signal) => {
                let _ = nix::sys::signal::kill(body, signal);
            }
            Err(_) => {}
        }
    }
}

/// The init, once the body has exited: SIGKILLs every other process of the pid namespace
/// (what the body left behind, the seccomp supervisor, host processes) and reaps them
/// all. Every process of the namespace is the init's child or descends from one (orphans
/// are reparented to the init), so once `waitpid` finds no child, none is left running.
pub(crate) fn kill_and_reap_the_rest() {
    // From the init, kill(-1) reaches every process of its pid namespace but the init.
    let _ = nix::sys::signal::kill(Pid::from_raw(-1), Signal::SIGKILL);
    let mut status = 0;
    loop {
        // SAFETY: reaping our own children.
        if unsafe { libc::waitpid(-1, &mut status, 0) } < 0 && Errno::last() != Errno::EINTR {
            return;
        }
    }
}

/// Reaps every child that has exited, telling `reaped` each pid and status. Returns
/// whether a child is still running (false: none is left).
pub(crate) fn reap_children(mut reaped: impl FnMut(Pid, ExitStatus)) -> bool {
    let mut status = 0;
    loop {
        // SAFETY: reaping our own children.
        match unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } {
            0 => return true,
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return false,
            pid => reaped(Pid::from_raw(pid), ExitStatus::from_wait_status(status)),
        }
    }
}

/// `setpgid(0, 0)`: the caller leads a process group of its own, which its subprocesses
/// join, so that one signal reaches them all.
pub(crate) fn new_process_group() -> Result<(), StepError> {
    nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
    Ok(())
}

/// Explains an `unshare` failure that means the host cannot run sandboxes, with the fix.
/// `proc` is the procfs to read the host's settings from.
pub(crate) fn diagnose(errno: Errno, proc: &Path) -> Option<String> {
    let read = |path: &str| {
        std::fs::read_to_string(proc.join(path))
            .ok()
            .map(|s| s.trim().to_owned())
    };
    if read("sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Some(
            "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0). \
             Fix: `sudo sysctl -w kernel.unprivileged_userns_clone=1`"
                .into(),
        );
    }
    if read("sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Some(
            "user namespaces are disabled (user.max_user_namespaces = 0). \
             Fix: `sudo sysctl -w user.max_user_namespaces=15000`"
                .into(),
        );
    }
    if errno == Errno::ENOSPC {
        return Some(
            "the limit on namespaces is reached (user.max_user_namespaces or a sibling limit in \
             /proc/sys/user). Fix: raise it, e.g. `sudo sysctl -w user.max_user_namespaces=15000`"
                .into(),
        );
    }
    if read("sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return Some(
            "AppArmor restricts unprivileged user namespaces \
             (kernel.apparmor_restrict_unprivileged_userns = 1). Fix: \
             `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, or an AppArmor \
             profile with `userns,` for the test binary"
                .into(),
        );
    }
    let seccomp = read("self/status").and_then(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Seccomp:").map(|v| v.trim().to_owned()))
    });
    if errno == Errno::EPERM && seccomp.as_deref() == Some("2") {
        return Some(
            "this process runs under a seccomp filter that refuses unshare (a container's \
             default profile does that). Fix: run the container with a profile that allows \
             unshare and clone with namespace flags, e.g. `docker run --security-opt \
             seccomp=unconfined`"
                .into(),
        );
    }
    if errno == Errno::EPERM {
        return Some(
            "creating namespaces was refused (EPERM) although no known switch forbids it; a \
             security module or a container runtime may. Fix: allow unprivileged user \
             namespaces for this process"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_proc(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn names_the_switch_and_the_fix() {
        let proc = fake_proc(&[("sys/kernel/unprivileged_userns_clone", "0\n")]);
        let reason = diagnose(Errno::EPERM, proc.path()).unwrap();
        assert!(reason.contains("unprivileged_userns_clone = 0"), "{reason}");
        assert!(
            reason.contains("sysctl -w kernel.unprivileged_userns_clone=1"),
            "{reason}"
        );

        let proc = fake_proc(&[("sys/user/max_user_namespaces", "0")]);
        assert!(diagnose(Errno::ENOSPC, proc.path())
            .unwrap()
            .contains("max_user_namespaces = 0"));

        let proc = fake_proc(&[("sys/kernel/apparmor_restrict_unprivileged_userns", "1")]);
        assert!(diagnose(Errno::EPERM, proc.path())
            .unwrap()
            .contains("AppArmor"));

        let proc = fake_proc(&[("self/status", "Name:\tx\nSeccomp:\t2\n")]);
        assert!(diagnose(Errno::EPERM, proc.path())
            .unwrap()
            .contains("seccomp=unconfined"));
    }

    #[test]
    fn an_ordinary_failure_is_not_a_host_problem() {
        let proc = fake_proc(&[("self/status", "Seccomp:\t0\n")]);
        assert_eq!(diagnose(Errno::EINVAL, proc.path()), None);
    }
}
