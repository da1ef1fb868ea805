//! The messages that cross the sandbox's sockets.
//!
//! Every socket is a `SOCK_SEQPACKET` unix socket: one message is one packet, so several
//! processes (the fork server, the sandbox's init and its body) can write to the same
//! channel without interleaving. A message is JSON; file descriptors ride along as
//! `SCM_RIGHTS`.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use serde::{Deserialize, Serialize};

use crate::outcome::{ExitStatus, SetupFailure, Verdict};

/// The largest message a channel carries (a violation report with its backtrace is the
/// biggest; the plan travels in a memfd, not in a message).
pub(crate) const MAX_MESSAGE: usize = 192 * 1024;

/// Everything that is said over a sandbox socket, by whom to whom.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Message {
    /// Test thread → fork server: fork a sandbox. Carries five fds: the plan (a memfd),
    /// the channel, the status socket, stdout, stderr. `prepared`: what the first process
    /// and the init do before the plan, when the plan needs no step of theirs before that
    /// (`Plan::prepared_ahead`): then an init the server prepared ahead so may take the
    /// request (the server hands it the same message and fds).
    Spawn {
        prepared: Option<crate::plan::Preparation>,
    },
    /// Prepared init → fork server: its namespaces exist and its steps before the plan are
    /// done; it waits for a `Spawn`.
    Prepared,
    /// Init → the body it forked before its request: the sandbox is set up, run the test.
    /// Carries the plan, the channel, stdout, stderr and, when the test moves the
    /// monotonic or boottime clock, the time namespace to enter.
    Start,
    /// Fork server → test thread: the sandbox's first process exists. Carries its pidfd.
    Spawned { pid: i32 },
    /// Any sandbox process → test thread: a setup step failed; the body never ran.
    SetupFailed(SetupFailure),
    /// Sandbox → test thread: this host cannot run sandboxes (why, and the fix).
    Unsupported { reason: String },
    /// Body → test thread: how the test body itself ended.
    Verdict(Verdict),
    /// Any sandbox process → test thread: something the test output should mention.
    Note(String),
    /// Body (its SIGSYS handler) or its seccomp supervisor → test thread: a forbidden
    /// call, or a recorded one.
    Seccomp(crate::seccomp::SeccompEvent),
    /// Init (pid 1) → test thread on the status socket, after `BodyExited` when a `cpu`
    /// limit is set: the CPU time of the body's processes the init reaped.
    BodyUsage { cpu_time: std::time::Duration },
    /// Any sandbox process of an instrumented build → test thread, as it leaves: the
    /// coverage counts it made. Carries a memfd (see `coverage`).
    Coverage,
    /// Init (pid 1) → test thread on the status socket (`step::STATUS_FD`), which the body
    /// does not hold: how the body process ended, as soon as it is reaped.
    BodyExited(ExitStatus),
    /// Init → test thread on the status socket, after `BodyExited` (and `BodyUsage`):
    /// every other process of the sandbox is killed and reaped; nothing more will come.
    NothingLeft,
    /// Body → test thread, just before the body runs when the plan says `trace`: the
    /// sandbox's per-step timestamps (see `trace`).
    Trace(Vec<(String, u64)>),
    /// Fork server → test thread: the sandbox's first process was reaped. Nothing follows.
    /// Heard only when the test thread waits for everything (a timeout, coverage counts,
    /// a cgroup to remove) or a setup step failed: otherwise it has returned by then.
    SandboxExited(ExitStatus),
    /// Body → init, in a sandbox with hosts: spawn, kill, partition, heal.
    Host(crate::net::hosts::HostRequest),
    /// Init → body: the answer to a `Host` request (a spawned process's verdict socket
    /// rides along). On that socket the process sends its `Verdict`, the init its
    /// `BodyExited`.
    HostReply(crate::net::hosts::HostReply),
}

/// A failure to talk over a channel.
#[derive(Debug)]
pub(crate) enum ChannelError {
    Io(Errno),
    /// The peer closed the socket.
    Closed,
    /// A packet that is not a `Message` (or was cut off).
    Garbled(String),
}

impl std::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelError::Io(errno) => write!(f, "{errno}"),
            ChannelError::Closed => write!(f, "the other end closed the channel"),
            ChannelError::Garbled(why) => write!(f, "garbled message: {why}"),
        }
    }
}

/// Sends one message, with `fds` attached.
pub(crate) fn send(
    socket: BorrowedFd<'_>,
    message: &Message,
    fds: &[RawFd],
) -> Result<(), ChannelError> {
    let bytes = serde_json::to_vec(message).map_err(|e| ChannelError::Garbled(e.to_string()))?;
    if bytes.len() > MAX_MESSAGE {
        return Err(ChannelError::Garbled(format!(
            "a message of {} bytes exceeds the limit of {MAX_MESSAGE}",
            bytes.len()
        )));
    }
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    loop {
        match sendmsg::<()>(
            socket.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(Errno::EPIPE | Errno::ECONNRESET) => return Err(ChannelError::Closed),
            Err(errno) => return Err(ChannelError::Io(errno)),
        }
    }
}

/// Receives one message and the fds attached to it. `buffer` must hold `MAX_MESSAGE` bytes.
pub(crate) fn receive(
    socket: BorrowedFd<'_>,
    buffer: &mut [u8],
) -> Result<(Message, Vec<OwnedFd>), ChannelError> {
    let mut cmsg_space = nix::cmsg_space!([RawFd; 5]);
    let (len, fds) = loop {
        let mut iov = [IoSliceMut::new(buffer)];
        match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => {
                let mut fds = Vec::new();
                for cmsg in msg.cmsgs().map_err(ChannelError::Io)? {
                    if let ControlMessageOwned::ScmRights(received) = cmsg {
                        // SAFETY: the kernel just installed these fds in this process for us.
                        fds.extend(
                            received
                                .into_iter()
                                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                        );
                    }
                }
                if msg.flags.contains(MsgFlags::MSG_TRUNC) {
                    return Err(ChannelError::Garbled("message truncated".into()));
                }
                break (msg.bytes, fds);
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => return Err(ChannelError::Closed),
            Err(errno) => return Err(ChannelError::Io(errno)),
        }
    };
    if len == 0 {
        return Err(ChannelError::Closed);
    }
    Ok((decode(&buffer[..len])?, fds))
}

/// One packet's bytes as a message. The bytes come from the sandbox, where the body can
/// write anything on its channel: anything but a whole message is `Garbled`.
pub(crate) fn decode(packet: &[u8]) -> Result<Message, ChannelError> {
    serde_json::from_slice(packet).map_err(|e| ChannelError::Garbled(e.to_string()))
}
