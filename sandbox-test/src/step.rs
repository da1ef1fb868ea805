//! What every setup step shares, whatever its concept: the error a step returns, the fd
//! the sandbox's processes report on, and how a sandbox process leaves.
//!
//! A leaf: it imports nothing of this crate, so every concept module can return a
//! [`StepError`] without depending on the sequence (`setup.rs`) that runs its steps.

use std::os::fd::RawFd;

use nix::errno::Errno;

/// The fd every sandbox process reports on (the channel to the test thread).
pub(crate) const CHANNEL_FD: RawFd = 3;

/// The fd on which the init tells the test thread how the body ended (`BodyExited`): only
/// the first process and the init hold it, every process the init forks closes it first
/// thing, so nothing the body runs can forge what arrives there.
pub(crate) const STATUS_FD: RawFd = 4;

/// The fd on which an init whose body it forked before the request keeps the plan, to
/// hand it to that body (`Message::Start`).
pub(crate) const PLAN_FD: RawFd = 5;

/// The fd on which a prepared init keeps its socket to the body it forked before the
/// request (`WaitingBody`).
pub(crate) const WAITING_BODY_FD: RawFd = 6;

/// Why a step failed.
#[derive(Debug)]
pub(crate) enum StepError {
    /// A system call failed: what was being done, and the errno.
    Sys(String, Errno),
    /// Anything else, said for a person.
    Other(String),
    /// The host cannot do this at all: the cause and the fix.
    Unsupported(String),
}

impl From<Errno> for StepError {
    fn from(errno: Errno) -> Self {
        StepError::Sys(errno.desc().to_owned(), errno)
    }
}

/// Leaves a sandbox process without running the test process's exit handlers.
pub(crate) fn exit(code: i32) -> ! {
    // SAFETY: _exit is always safe to call; it does not return.
    unsafe { libc::_exit(code) }
}
