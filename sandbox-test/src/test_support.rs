//! Unit-test helper: run a closure in a forked child inside fresh namespaces.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getgid, getuid, pipe, ForkResult};

/// Forks; the child unshares a user namespace (mapping the caller to root) plus `flags`,
/// runs `body` and reports its result back. Returns the body's result as seen by the parent.
pub(crate) fn in_namespaces(
    flags: CloneFlags,
    body: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let (read_end, write_end) = pipe().expect("pipe");
    let (uid, gid) = (getuid(), getgid());
    // SAFETY: the child only runs `body` and exits; glibc keeps malloc usable after fork.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(read_end);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                enter(flags, uid.as_raw(), gid.as_raw())?;
                body()
            }))
            .unwrap_or_else(|_| Err("body panicked".to_owned()));
            let mut report = std::fs::File::from(write_end);
            let code = match result {
                Ok(()) => 0,
                Err(message) => {
                    let _ = report.write_all(message.as_bytes());
                    1
                }
            };
            // SAFETY: leave the forked child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let message = read_all(read_end);
            match waitpid(child, None).expect("waitpid") {
                WaitStatus::Exited(_, 0) => Ok(()),
                WaitStatus::Exited(_, _) => Err(message),
                other => Err(format!("child ended with {other:?}: {message}")),
            }
        }
    }
}

fn enter(flags: CloneFlags, uid: u32, gid: u32) -> Result<(), String> {
    unshare(CloneFlags::CLONE_NEWUSER | flags).map_err(|e| format!("unshare: {e}"))?;
    std::fs::write("/proc/self/setgroups", "deny").map_err(|e| format!("setgroups: {e}"))?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))
        .map_err(|e| format!("uid_map: {e}"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))
        .map_err(|e| format!("gid_map: {e}"))?;
    Ok(())
}

fn read_all(fd: OwnedFd) -> String {
    let mut text = String::new();
    let _ = std::fs::File::from(fd).read_to_string(&mut text);
    text
}
