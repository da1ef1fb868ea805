//! The fork server: a process forked once, before `main`, while the test binary is still
//! single-threaded and small. Every sandbox is a fork of it, so no sandbox inherits a lock
//! that one of libtest's threads held, and forking stays cheap however big the harness grows.
//!
//! A test thread asks for a sandbox by sending [`Message::Spawn`] with five fds (plan,
//! channel, status socket, stdout, stderr) over the server socket. The server forks the
//! sandbox's first process, answers `Spawned` with a pidfd on the test's channel, and, when
//! it reaps that process, `SandboxExited` (which the test thread no longer waits for once
//! the init said how the body ended, unless more is to come: see `supervisor`). It dies
//! with the test process (`PR_SET_PDEATHSIG`) and when the test process closes its end of
//! the socket.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fork, getpid, getppid, ForkResult, Pid};

use crate::outcome::{ExitStatus, SetupFailure};
use crate::plan::Preparation;
use crate::protocol::{self, ChannelError, Message, MAX_MESSAGE};

/// The test process's end of the server socket, or -1.
static SERVER: AtomicI32 = AtomicI32::new(-1);
/// Why the server could not start, if it could not.
static START_ERROR: OnceLock<String> = OnceLock::new();

/// Runs before `main` (glibc calls `.init_array` entries in the executable and its
/// libraries before handing control to `main`), so libtest has no threads yet.
#[used]
#[link_section = ".init_array"]
static START_FORK_SERVER: extern "C" fn() = start;

extern "C" fn start() {
    // Before the fork, so that both the test process and the server hold it.
    crate::body::snapshot_inherited_environment();
    match spawn() {
        Ok(fd) => SERVER.store(fd, Ordering::Release),
        Err(errno) => {
            let _ = START_ERROR.set(format!("forking the fork server failed: {errno}"));
        }
    }
}

/// The server socket, for sending `Spawn` requests.
pub(crate) fn socket() -> Result<BorrowedFd<'static>, String> {
    // Touch the constructor's static so the linker keeps the object that holds it.
    let _ = std::hint::black_box(&START_FORK_SERVER);
    match SERVER.load(Ordering::Acquire) {
        // SAFETY: the fd is opened once, before main, and never closed in this process.
        fd if fd >= 0 => Ok(unsafe { BorrowedFd::borrow_raw(fd) }),
        _ => Err(START_ERROR.get().cloned().unwrap_or_else(|| {
            "the fork server is not running in this process (it starts before `main` in a \
             program that links sandbox_test; a sandboxed test's body cannot start another \
             sandbox)"
                .to_owned()
        })),
    }
}

fn spawn() -> Result<RawFd, Errno> {
    let (client, server) = crate::kernel::socket_pair()?;
    let test_process = getpid();
    // SAFETY: we are before `main`: single-threaded, no locks held.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(client);
            let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
            if getppid() == test_process {
                serve(server);
            }
            // SAFETY: leaving the forked server without running the parent's atexit handlers.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { .. } => {
            drop(server);
            Ok(client.into_raw_fd())
        }
    }
}

/// A sandbox the server forked and has not reaped yet.
struct Live {
    pid: Pid,
    pidfd: OwnedFd,
    channel: OwnedFd,
}

/// How long after a request the fork server prepares the next first process of its kind:
/// by then the request's own first process has run (it need not share a core with the
/// fork), and a one-threaded suite's next request, a test later, finds it ready.
const PREPARE_AFTER: Duration = Duration::from_micros(300);

/// How many first processes of one kind the server keeps prepared: two, so that two test
/// threads asking at once both find one (a request that finds none pays for the
/// namespaces on its own path).
const PREPARED_PER_KIND: usize = 2;

/// A first process forked ahead of a request (`setup::prepared_main`): its namespaces
/// created and its init's steps before the plan done, the init waits on `socket` for one
/// request of the same `Preparation`.
struct Prepared {
    kind: Preparation,
    pid: Pid,
    pidfd: OwnedFd,
    socket: OwnedFd,
    /// It said `Prepared`: its namespaces exist.
    ready: bool,
}

fn serve(server: OwnedFd) {
    // Once here rather than in every body: what the sandboxes inherit, they need not redo.
    crate::time::prepare_for_sandboxes();
    crate::seccomp::report::prepare_for_sandboxes();
    crate::filesystem::prepare_for_sandboxes();
    // Looked up once, here, rather than in every sandbox.
    let _ = crate::coverage::counters();
    let server_pid = getpid();
    // Without pidfds no sandbox can be watched: every request gets the diagnosis instead.
    let pidfds = crate::kernel::check_pidfds();
    let mut buffer = vec![0u8; MAX_MESSAGE];
    let mut live: Vec<Live> = Vec::new();
    // Up to `PREPARED_PER_KIND` prepared first processes per kind, forked after the first
    // request of that kind, and again each time one is taken: it creates its namespaces
    // while the test that took the previous one runs (on the core a one-threaded suite
    // leaves idle). A kind whose preparation failed is not prepared again.
    let mut prepared: Vec<Prepared> = Vec::new();
    let mut unpreparable: Vec<Preparation> = Vec::new();
    // The kinds to prepare next, and when: a little after the request that used the last
    // one, so that the fork does not delay that request's own first process.
    let mut to_prepare: Vec<(Preparation, Instant)> = Vec::new();
    loop {
        let mut fds = vec![PollFd::new(server.as_fd(), PollFlags::POLLIN)];
        fds.extend(
            live.iter()
                .map(|l| PollFd::new(l.pidfd.as_fd(), PollFlags::POLLIN)),
        );
        fds.extend(
            prepared
                .iter()
                .map(|p| PollFd::new(p.socket.as_fd(), PollFlags::POLLIN)),
        );
        let timeout = to_prepare
            .iter()
            .map(|(_, at)| *at)
            .min()
            .map(|at| TimeSpec::from_duration(at.saturating_duration_since(Instant::now())));
        match ppoll(&mut fds, timeout, None) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return,
        }
        let request_ready = fds[0].any().unwrap_or(false);
        let exited: Vec<usize> = (0..live.len())
            .filter(|&i| fds[i + 1].any().unwrap_or(false))
            .collect();
        let spoke: Vec<usize> = (0..prepared.len())
            .filter(|&i| fds[i + 1 + live.len()].any().unwrap_or(false))
            .collect();
        drop(fds);
        let now = Instant::now();
        let due = to_prepare.iter().filter(|(_, at)| now >= *at).count();
        to_prepare.sort_by_key(|(_, at)| *at);
        for (kind, _) in to_prepare.drain(..due).collect::<Vec<_>>() {
            if !unpreparable.contains(&kind) {
                prepared.extend(prepare(server_pid, kind));
            }
        }
        for index in exited.into_iter().rev() {
            let sandbox = live.swap_remove(index);
            let status = reap(sandbox.pidfd.as_fd(), sandbox.pid);
            let _ = protocol::send(
                sandbox.channel.as_fd(),
                &Message::SandboxExited(status),
                &[],
            );
        }
        for index in spoke.into_iter().rev() {
            match protocol::receive(prepared[index].socket.as_fd(), &mut buffer) {
                Ok((Message::Prepared, _)) => prepared[index].ready = true,
                // It failed (or said something else): gone, and not prepared again.
                _ => {
                    let failed = prepared.swap_remove(index);
                    unpreparable.push(failed.kind);
                    discard(failed);
                }
            }
        }
        if request_ready {
            match protocol::receive(server.as_fd(), &mut buffer) {
                Ok((Message::Spawn { prepared: kind }, fds)) => {
                    let sandbox = match kind
                        .and_then(|kind| prepared.iter().position(|p| p.kind == kind && p.ready))
                    {
                        Some(index) => {
                            hand_over(server_pid, prepared.swap_remove(index), fds, &pidfds)
                        }
                        None => fork_sandbox(server_pid, fds, &pidfds),
                    };
                    live.extend(sandbox);
                    if let Some(kind) = kind.filter(|kind| !unpreparable.contains(kind)) {
                        let have = prepared.iter().filter(|p| p.kind == kind).count()
                            + to_prepare.iter().filter(|(k, _)| *k == kind).count();
                        let at = Instant::now() + PREPARE_AFTER;
                        to_prepare.extend(std::iter::repeat_n(
                            (kind, at),
                            PREPARED_PER_KIND.saturating_sub(have),
                        ));
                    }
                }
                Ok(_) | Err(ChannelError::Garbled(_)) => {}
                // The test process is gone.
                Err(ChannelError::Closed | ChannelError::Io(_)) => return,
            }
        }
    }
}

/// Forks a first process that creates the namespaces of `kind`, whose init does its steps
/// before the plan and waits for a request.
fn prepare(server: Pid, kind: Preparation) -> Option<Prepared> {
    let (socket, theirs) = crate::kernel::socket_pair().ok()?;
    // SAFETY: the fork server is single-threaded.
    match unsafe { fork() }.ok()? {
        ForkResult::Child => {
            crate::coverage::forget_inherited();
            drop(socket);
            crate::setup::prepared_main(server, theirs, kind)
        }
        ForkResult::Parent { child } => {
            drop(theirs);
            let prepared = crate::namespaces::pidfd_open(child).map(|pidfd| Prepared {
                kind,
                pid: child,
                pidfd,
                socket,
                ready: false,
            });
            match prepared {
                Ok(prepared) => Some(prepared),
                Err(_) => {
                    kill_and_reap(child);
                    None
                }
            }
        }
    }
}

/// Ends a prepared first process that will not be used, and reaps it.
fn discard(prepared: Prepared) {
    kill_and_reap(prepared.pid);
}

/// SIGKILLs our child `pid` and reaps it.
fn kill_and_reap(pid: Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

/// Hands one `Spawn` request to a prepared first process; forks one afresh if it is gone.
fn hand_over(
    server: Pid,
    prepared: Prepared,
    fds: Vec<OwnedFd>,
    pidfds: &Result<(), String>,
) -> Option<Live> {
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let request = Message::Spawn {
        prepared: Some(prepared.kind),
    };
    if raw.len() != 5 || protocol::send(prepared.socket.as_fd(), &request, &raw).is_err() {
        discard(prepared);
        return fork_sandbox(server, fds, pidfds);
    }
    let channel = fds.into_iter().nth(1)?;
    spawned(prepared.pid, prepared.pidfd, channel)
}

/// Tells the test thread its sandbox's first process exists (with a pidfd of it), and
/// keeps what reaping it needs.
fn spawned(pid: Pid, pidfd: OwnedFd, channel: OwnedFd) -> Option<Live> {
    let _ = protocol::send(
        channel.as_fd(),
        &Message::Spawned { pid: pid.as_raw() },
        &[pidfd.as_raw_fd()],
    );
    Some(Live {
        pid,
        pidfd,
        channel,
    })
}

/// Forks the sandbox's first process for one `Spawn` request.
fn fork_sandbox(server: Pid, fds: Vec<OwnedFd>, pidfds: &Result<(), String>) -> Option<Live> {
    let fds = crate::setup::SandboxFds::from_request(fds)?;
    if let Err(reason) = pidfds {
        let reason = reason.clone();
        let _ = protocol::send(fds.channel.as_fd(), &Message::Unsupported { reason }, &[]);
        return None;
    }
    let requested_at = crate::trace::now();
    // SAFETY: the fork server is single-threaded.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            crate::coverage::forget_inherited();
            crate::setup::sandbox_main(server, requested_at, fds)
        }
        Ok(ForkResult::Parent { child }) => match crate::namespaces::pidfd_open(child) {
            Ok(pidfd) => spawned(child, pidfd, fds.channel),
            Err(errno) => {
                // Cannot happen for a child we have not reaped; kill it rather than lose it.
                kill_and_reap(child);
                fail(&fds.channel, "open a pidfd for the sandbox", errno);
                None
            }
        },
        Err(errno) => {
            fail(&fds.channel, "fork the sandbox", errno);
            None
        }
    }
}

fn fail(channel: &OwnedFd, step: &str, errno: Errno) {
    let failure = SetupFailure {
        step: step.to_owned(),
        errno: Some(errno as i32),
        detail: errno.desc().to_owned(),
    };
    let _ = protocol::send(channel.as_fd(), &Message::SetupFailed(failure), &[]);
}

/// Waits for the process behind `pidfd` (our child `pid`) and returns how it ended.
fn reap(pidfd: BorrowedFd<'_>, pid: Pid) -> ExitStatus {
    match crate::kernel::wait_exited(pidfd, pid) {
        Ok(info) => ExitStatus::from_siginfo(&info),
        // Not our child any more: nothing better to say than that it is gone.
        Err(_) => ExitStatus::Signal {
            signal: libc::SIGKILL,
            core_dumped: false,
        },
    }
}
