//! The child side: the last setup step. Sets no_new_privs, installs what the filter needs
//! around it (the SIGSYS handler, the notification supervisor), and loads the BPF that
//! the parent compiled. The filter is inherited by every thread and subprocess the body
//! starts.

use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use super::compile::CompiledFilter;
use super::record::supervise;
use super::report::{install_trap_handler, EventSink, SeccompEvent};
use super::SeccompError;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn check(step: &'static str, rc: libc::c_long) -> Result<libc::c_long, SeccompError> {
    if rc < 0 {
        Err(SeccompError::Load {
            step,
            errno: errno(),
        })
    } else {
        Ok(rc)
    }
}

/// Loads `filter` in the calling (body) process. `channel` is the descriptor events go to;
/// `wrap` encodes one event as one protocol message.
pub fn apply(
    filter: &CompiledFilter,
    channel: RawFd,
    wrap: impl Fn(&SeccompEvent) -> Vec<u8>,
) -> Result<(), SeccompError> {
    let sink = || {
        EventSink::new(channel, &wrap).map_err(|_| SeccompError::Load {
            step: "encoding seccomp events in the protocol",
            errno: libc::EINVAL,
        })
    };
    // SAFETY: plain prctl.
    check("prctl(PR_SET_NO_NEW_PRIVS)", unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) as libc::c_long
    })?;
    if filter.trap {
        install_trap_handler(sink()?)?;
    }
    let supervisor = match filter.notify {
        Some(reply) => Some(spawn_supervisor(reply, sink()?)?),
        None => None,
    };
    let listener = load_bpf(filter, supervisor.is_some())?;
    if let (Some(socket), Some(listener)) = (supervisor, listener) {
        let sent = send_fd(&socket, &listener);
        // Plain close(2): dropping an OwnedFd checks it with fcntl in debug builds, a
        // call the filter may refuse.
        // SAFETY: both descriptors are ours and closed once.
        unsafe {
            libc::close(socket.into_raw_fd());
            libc::close(listener.into_raw_fd());
        }
        sent?;
    }
    Ok(())
}

/// Forks the supervisor before the filter exists (so it is not filtered). It waits for
/// the listener descriptor on the returned socket.
fn spawn_supervisor(
    reply: super::compile::NotifyReply,
    sink: EventSink,
) -> Result<OwnedFd, SeccompError> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    check("socketpair", unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        ) as libc::c_long
    })?;
    // SAFETY: both are fresh descriptors we own.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the body process is single-threaded during setup.
    let pid = check("fork (seccomp supervisor)", unsafe { libc::fork() as libc::c_long })?;
    if pid == 0 {
        drop(ours);
        // Don't hold the test's output pipes open.
        // SAFETY: closing our own copies of stdin/stdout/stderr.
        unsafe {
            libc::close(0);
            libc::close(1);
            libc::close(2);
        }
        let status = match recv_fd(&theirs) {
            Some(listener) => {
                drop(theirs);
                supervise(&listener, reply, &sink);
                0
            }
            None => 1,
        };
        // SAFETY: leave without running the parent's atexit handlers.
        unsafe { libc::_exit(status) };
    }
    Ok(ours)
}

fn load_bpf(filter: &CompiledFilter, listen: bool) -> Result<Option<OwnedFd>, SeccompError> {
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.instructions()).map_err(|_| SeccompError::Load {
            step: "seccomp(2): filter longer than 65535 instructions",
            errno: libc::E2BIG,
        })?,
        filter: filter.bpf.as_ptr() as *mut libc::sock_filter,
    };
    let mut flags = libc::c_ulong::from(filter.flags);
    if listen {
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    }
    // SAFETY: prog points at filter.bpf, which outlives the call.
    let rc = check("seccomp(SECCOMP_SET_MODE_FILTER)", unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    })?;
    // SAFETY: with NEW_LISTENER the return value is a fresh descriptor.
    Ok(listen.then(|| unsafe { OwnedFd::from_raw_fd(rc as RawFd) }))
}

fn send_fd(socket: &OwnedFd, fd: &OwnedFd) -> Result<(), SeccompError> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds = [fd.as_raw_fd()];
    let iov = [std::io::IoSlice::new(b"L")];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| SeccompError::Load {
        step: "passing the listener to the supervisor",
        errno: e as i32,
    })?;
    Ok(())
}

fn recv_fd(socket: &OwnedFd) -> Option<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    for cmsg in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: received descriptors are ours.
            return fds.first().map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    None
}

/// The last setup step, in the body process right before the body: loads the plan's
/// filter, reporting events as protocol messages on `channel`.
pub(crate) fn load_in_body(
    filter: Option<&CompiledFilter>,
    channel: std::os::fd::BorrowedFd<'_>,
) -> Result<(), crate::outcome::SetupFailure> {
    let Some(filter) = filter else { return Ok(()) };
    apply(filter, channel.as_raw_fd(), |event| {
        serde_json::to_vec(&crate::protocol::Message::Seccomp(event.clone())).unwrap_or_default()
    })
    .map_err(|e| crate::outcome::SetupFailure {
        step: "load the seccomp filter".into(),
        errno: match e {
            SeccompError::Load { errno, .. } => Some(errno),
            _ => None,
        },
        detail: e.to_string(),
    })
}
