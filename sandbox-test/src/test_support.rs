//! Unit-test helpers: run a closure in a forked child, optionally inside fresh namespaces.

use std::io::{Read, Write};

use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getgid, getuid, pipe, ForkResult, Pid};

/// Forks; the child unshares a user namespace (mapping the caller to root) plus `flags`,
/// runs `body` and reports its result back. Returns the body's result as seen by the parent.
pub(crate) fn in_namespaces(
    flags: CloneFlags,
    body: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    in_namespaces_mapped(flags, &format!("0 {} 1", getuid()), body)
}

/// [`in_namespaces`] with the given uid map, written by the parent (which may then map
/// more than its own uid when it is privileged). The gid map maps root to the caller's gid.
pub(crate) fn in_namespaces_mapped(
    flags: CloneFlags,
    uid_map: &str,
    body: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let (report_read, report_write) = pipe().expect("pipe");
    let (ready_read, ready_write) = pipe().expect("pipe");
    let (go_read, go_write) = pipe().expect("pipe");
    // SAFETY: the child only runs `body` and exits; glibc keeps malloc usable after fork.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop((report_read, ready_read, go_write));
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                unshare(CloneFlags::CLONE_NEWUSER | flags).map_err(|e| format!("unshare: {e}"))?;
                std::fs::File::from(ready_write)
                    .write_all(b"r")
                    .map_err(|e| e.to_string())?;
                let mut go = [0u8];
                std::fs::File::from(go_read)
                    .read_exact(&mut go)
                    .map_err(|e| format!("maps: {e}"))?;
                body()
            }))
            .unwrap_or_else(|_| Err("body panicked".to_owned()));
            let code = match result {
                Ok(()) => 0,
                Err(message) => {
                    let _ = std::fs::File::from(report_write).write_all(message.as_bytes());
                    1
                }
            };
            // SAFETY: leave the forked child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop((report_write, ready_write, go_read));
            let mut ready = [0u8];
            let mapped = std::fs::File::from(ready_read)
                .read_exact(&mut ready)
                .map_err(|e| e.to_string())
                .and_then(|()| write_maps(child, uid_map));
            if mapped.is_ok() {
                let _ = std::fs::File::from(go_write).write_all(b"g");
            }
            let mut message = String::new();
            let _ = std::fs::File::from(report_read).read_to_string(&mut message);
            let status = waitpid(child, None).expect("waitpid");
            mapped?;
            match status {
                WaitStatus::Exited(_, 0) => Ok(()),
                WaitStatus::Exited(_, _) => Err(message),
                other => Err(format!("child ended with {other:?}: {message}")),
            }
        }
    }
}

fn write_maps(child: Pid, uid_map: &str) -> Result<(), String> {
    let proc = format!("/proc/{child}");
    let write = |file: &str, text: &str| {
        std::fs::write(format!("{proc}/{file}"), text).map_err(|e| format!("{file}: {e}"))
    };
    write("setgroups", "deny")?;
    write("uid_map", uid_map)?;
    write("gid_map", &format!("0 {} 1", getgid()))
}

/// Forks; the child runs `body` and exits with its code. Returns how the child ended.
pub(crate) fn in_child(body: impl FnOnce() -> i32) -> WaitStatus {
    // SAFETY: the child only runs `body` and exits; glibc keeps malloc usable after fork.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(101);
            // SAFETY: leave the forked child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => waitpid(child, None).expect("waitpid"),
    }
}
