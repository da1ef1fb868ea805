//! A process and everything it starts, as one tree that can be killed whole: its *keeper*
//! is a child sub-reaper (`PR_SET_CHILD_SUBREAPER`) that forks it, so whatever it starts
//! stays a descendant of the keeper even when its parent exits (a shell's `cmd &`, a
//! daemon's double fork, `setsid`); process groups and sessions cannot hold that. No
//! cgroup is needed.
//!
//! ```sh
//! prctl PR_SET_CHILD_SUBREAPER; fork the process
//! until no child is left: reap; on SIGTERM: SIGKILL every child (but seccomp
//! supervisors, which leave by themselves), reap, again
//! ```
//!
//! The keeper reports how its process ended on the process's verdict socket, as the init
//! does for the body, and leaves once the process and everything it started are gone.

use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;

use crate::outcome::ExitStatus;
use crate::protocol::{self, Message};
use crate::step::StepError;

/// What asks a keeper to kill its tree.
pub(crate) const KILL_TREE: Signal = Signal::SIGTERM;

/// Keeper step: orphans of its descendants become its children, not the init's.
pub(crate) fn become_subreaper() -> Result<(), StepError> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|errno| StepError::Sys("prctl(PR_SET_CHILD_SUBREAPER)".into(), errno))
}

/// The keeper's loop (its signals blocked, [`KILL_TREE`] and SIGCHLD among them): reaps
/// every descendant that ends, sends `process`'s exit status on `report` when it ends, and
/// returns once no descendant is left, or once [`KILL_TREE`] came and it killed them all.
/// `filtered`: `process` runs under a seccomp filter, so its only unfiltered descendants are
/// its seccomp supervisors (forked before the filter); those are not killed but leave by
/// themselves once the filtered tasks are gone, and say so to the test (a killed one would
/// end the test as a supervisor killed under the body).
pub(crate) fn keep(process: Pid, report: BorrowedFd<'_>, filtered: bool) {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGCHLD);
    signals.add(KILL_TREE);
    let mut ended = |pid: Pid, status: ExitStatus| {
        if pid == process {
            let _ = protocol::send(report.as_fd(), &Message::BodyExited(status), &[]);
        }
    };
    loop {
        if !crate::namespaces::reap_children(&mut ended) {
            return;
        }
        if signals.wait() == Ok(KILL_TREE) {
            kill_all(&mut ended, filtered);
            return;
        }
    }
}

/// SIGKILLs every child and reaps, until none is left: a killed process's own children
/// become the keeper's as it dies, and are killed in the next round. With `filtered`, the
/// unfiltered children (seccomp supervisors) are left to leave by themselves.
fn kill_all(ended: &mut impl FnMut(Pid, ExitStatus), filtered: bool) {
    let me = nix::unistd::getpid();
    let mut status = 0;
    loop {
        for child in children_of(me) {
            if filtered && !under_seccomp(child) {
                continue;
            }
            let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
        }
        // SAFETY: waitpid with a valid out pointer.
        match unsafe { libc::waitpid(-1, &mut status, 0) } {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return,
            pid => ended(Pid::from_raw(pid), ExitStatus::from_wait_status(status)),
        }
    }
}

/// The processes whose parent is `parent`, from `/proc/PID/stat` (this kernel may lack
/// `/proc/PID/task/TID/children`, which needs CONFIG_PROC_CHILDREN).
fn children_of(parent: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent_of(pid) == Some(parent))
        .map(Pid::from_raw)
        .collect()
}

/// Whether `pid` runs under a seccomp filter (`Seccomp: 2` in its status); a process whose
/// status cannot be read counts as filtered (it is gone, or going).
fn under_seccomp(pid: Pid) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("Seccomp:"))
        .is_none_or(|mode| mode.trim() != "0")
}

/// The fourth field of `/proc/PID/stat`, after the command name in parentheses (which may
/// itself hold spaces and parentheses).
fn parent_of(pid: i32) -> Option<Pid> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let ppid = after_name.split_whitespace().nth(1)?.parse().ok()?;
    Some(Pid::from_raw(ppid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_own_children_by_their_parent() {
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let children = children_of(nix::unistd::getpid());
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            children.contains(&Pid::from_raw(child.id() as i32)),
            "{children:?}"
        );
        assert_eq!(parent_of(child.id() as i32), None, "reaped: no stat left");
        assert_eq!(
            parent_of(std::process::id() as i32),
            Some(nix::unistd::getppid())
        );
    }

    #[test]
    fn a_process_that_is_gone_counts_as_filtered() {
        // (tests/hosts.rs kills a tree with a seccomp supervisor in it.)
        assert!(under_seccomp(Pid::from_raw(i32::MAX)));
    }
}
