//! The init's side of a sandbox with hosts: while the body runs, the init answers its
//! requests (spawn a process on a host, kill it, partition, heal), reaps the processes it
//! spawned and tells the body how they ended, and copies their output into the test's,
//! each line prefixed with the host's name.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use super::hosts::{HostReply, HostRequest, Network};
use crate::outcome::ExitStatus;
use crate::protocol::{self, Message, MAX_MESSAGE};
use crate::step::StepError;

/// What a new host process gets from the init.
pub(crate) struct HostProcess {
    pub host: usize,
    pub entry: usize,
    pub func: usize,
    /// Its end of the socket its verdict goes to (the body holds the other end).
    pub verdict: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Setup step (host process): its stdout and stderr go to the init's pipes.
pub(crate) fn install_output(process: &HostProcess) -> Result<(), StepError> {
    nix::unistd::dup2(process.stdout.as_raw_fd(), 1)?;
    nix::unistd::dup2(process.stderr.as_raw_fd(), 2)?;
    Ok(())
}

/// Keeper step: its own copy of the process's verdict socket, for the exit status.
pub(crate) fn verdict_copy(process: &HostProcess) -> Result<OwnedFd, StepError> {
    process.verdict.try_clone().map_err(|e| {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
        StepError::Sys("duplicating the verdict socket".into(), errno)
    })
}

/// Where a host process keeps its verdict socket: after the channel.
const VERDICT_FD: RawFd = crate::step::CHANNEL_FD + 1;

/// Setup step (host process, after entering its host; its keeper): keeps stdin, stdout,
/// stderr, the channel and `verdict` (moved to fd 4), and closes the rest of what the init
/// had open: the hosts' namespaces, other processes' pipes and sockets.
pub(crate) fn close_all_but(verdict: OwnedFd) -> Result<BorrowedFd<'static>, StepError> {
    let verdict = crate::kernel::move_fd(verdict, VERDICT_FD)?;
    // Closes fds above the five kept; the process owns nothing else it still uses (the
    // `OwnedFd`s of the init's tables are never dropped in this process).
    crate::kernel::close_from(VERDICT_FD + 1)?;
    Ok(verdict)
}

/// One spawned process whose keeper the init has not reaped yet (the keeper reports the
/// process's exit status, and leaves once its whole tree is gone).
struct Spawned {
    keeper: Pid,
}

/// One output pipe of a spawned process, copied line by line with a prefix.
struct Prefixed {
    pipe: OwnedFd,
    /// 1 or 2: where the lines go.
    target: RawFd,
    prefix: String,
    pending: Vec<u8>,
}

impl Prefixed {
    /// Reads what is there; false at end of file.
    fn copy(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let open = loop {
            match nix::unistd::read(self.pipe.as_raw_fd(), &mut chunk) {
                Ok(0) => break false,
                Ok(n) => {
                    self.pending.extend_from_slice(&chunk[..n]);
                    break true;
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => break true,
                Err(_) => break false,
            }
        };
        let complete = match (open, self.pending.iter().rposition(|&b| b == b'\n')) {
            (true, Some(end)) => end + 1,
            (true, None) => 0,
            (false, _) => self.pending.len(),
        };
        let mut text = Vec::new();
        for line in self.pending[..complete].split_inclusive(|&b| b == b'\n') {
            text.extend_from_slice(self.prefix.as_bytes());
            text.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                text.push(b'\n');
            }
        }
        self.pending.drain(..complete);
        write_all(self.target, &text);
        open
    }
}

fn write_all(fd: RawFd, mut bytes: &[u8]) {
    // SAFETY: fd 1 and 2 stay open for the init's whole life.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}

fn shaped(result: Result<(), Result<String, String>>) -> (HostReply, Vec<OwnedFd>) {
    let reply = match result {
        Ok(()) => HostReply::Done,
        Err(Ok(why)) => HostReply::Refused(why),
        Err(Err(why)) => HostReply::Unsupported(why),
    };
    (reply, Vec::new())
}

/// Forks a host process's keeper; returns its pid (the child never returns).
pub(crate) type Fork<'a> = dyn FnMut(&Network, HostProcess) -> Result<Pid, StepError> + 'a;

/// The init's loop for a sandbox with hosts: like `namespaces::reap_and_forward`, it reaps
/// every child and forwards `signals` to the body until the body has exited, and it serves
/// `control` (the body's requests).
pub(crate) fn serve(
    network: &mut Network,
    control: OwnedFd,
    body: Pid,
    signals: &SigSet,
    fork: &mut Fork<'_>,
) -> ExitStatus {
    let signal_fd = match SignalFd::with_flags(signals, SfdFlags::SFD_CLOEXEC) {
        Ok(fd) => fd,
        // Without a signalfd the init can still reap and forward; nobody is served.
        Err(_) => return crate::namespaces::reap_and_forward(body, signals),
    };
    let mut control = Some(control);
    let mut spawned: BTreeMap<u32, Spawned> = BTreeMap::new();
    let mut outputs: Vec<Prefixed> = Vec::new();
    let mut next_id = 1;
    let mut buffer = vec![0u8; MAX_MESSAGE];
    loop {
        let mut fds = vec![PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN)];
        if let Some(control) = &control {
            fds.push(PollFd::new(control.as_fd(), PollFlags::POLLIN));
        }
        fds.extend(
            outputs
                .iter()
                .map(|o| PollFd::new(o.pipe.as_fd(), PollFlags::POLLIN)),
        );
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return crate::namespaces::reap_and_forward(body, signals),
        }
        let ready: Vec<bool> = fds.iter().map(|fd| fd.any().unwrap_or(true)).collect();
        drop(fds);
        let (signal_ready, rest) = ready.split_first().unwrap_or((&false, &[]));
        let (control_ready, output_ready) = match control {
            Some(_) => rest.split_first().map_or((false, rest), |(c, o)| (*c, o)),
            None => (false, rest),
        };
        let mut index = 0;
        outputs.retain_mut(|output| {
            let keep = !output_ready.get(index).copied().unwrap_or(false) || output.copy();
            index += 1;
            keep
        });
        if control_ready {
            let Some(socket) = &control else { continue };
            match protocol::receive(socket.as_fd(), &mut buffer) {
                Ok((Message::Host(request), _)) => {
                    let (reply, fds) = answer(
                        network,
                        request,
                        &mut spawned,
                        &mut outputs,
                        &mut next_id,
                        fork,
                    );
                    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
                    let _ = protocol::send(socket.as_fd(), &Message::HostReply(reply), &raw);
                }
                Ok(_) => {
                    let reply = HostReply::Refused("not a request the init serves".into());
                    let _ = protocol::send(socket.as_fd(), &Message::HostReply(reply), &[]);
                }
                Err(_) => control = None,
            }
        }
        if *signal_ready {
            if let Some(status) = handle_signals(&signal_fd, body, &mut spawned) {
                // The body is gone: copy what the hosts' processes have written so far.
                outputs.iter_mut().for_each(|output| {
                    output.copy();
                });
                return status;
            }
        }
    }
}

/// Reaps and forwards; the body's status once it has exited.
fn handle_signals(
    signal_fd: &SignalFd,
    body: Pid,
    spawned: &mut BTreeMap<u32, Spawned>,
) -> Option<ExitStatus> {
    let Ok(Some(info)) = signal_fd.read_signal() else {
        return None;
    };
    match Signal::try_from(info.ssi_signo as i32) {
        Ok(Signal::SIGCHLD) => {
            let mut body_status = None;
            crate::namespaces::reap_children(|pid, status| {
                if pid == body {
                    body_status = Some(status);
                } else {
                    spawned.retain(|_, s| s.keeper != pid);
                }
            });
            body_status
        }
        Ok(signal) => {
            let _ = nix::sys::signal::kill(body, signal);
            None
        }
        Err(_) => None,
    }
}

/// Carries out one request.
fn answer(
    network: &mut Network,
    request: HostRequest,
    spawned: &mut BTreeMap<u32, Spawned>,
    outputs: &mut Vec<Prefixed>,
    next_id: &mut u32,
    fork: &mut Fork<'_>,
) -> (HostReply, Vec<OwnedFd>) {
    let refused = |why: String| (HostReply::Refused(why), Vec::new());
    match request {
        HostRequest::Spawn { host, entry, func } => {
            let name = network.name(host).to_owned();
            let pipes = (|| {
                let out = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
                let err = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
                let verdict = crate::kernel::socket_pair().map_err(|_| Errno::EMFILE)?;
                Ok::<_, Errno>((out, err, verdict))
            })();
            let ((out_read, out_write), (err_read, err_write), (body_end, process_end)) =
                match pipes {
                    Ok(pipes) => pipes,
                    Err(errno) => return refused(format!("cannot create the pipes: {errno}")),
                };
            let process = HostProcess {
                host,
                entry,
                func,
                verdict: process_end,
                stdout: out_write,
                stderr: err_write,
            };
            let keeper = match fork(network, process) {
                Ok(pid) => pid,
                Err(e) => return refused(format!("cannot fork a process on `{name}`: {e:?}")),
            };
            let id = *next_id;
            *next_id += 1;
            for (pipe, target) in [(out_read, 1), (err_read, 2)] {
                let _ = nix::fcntl::fcntl(
                    pipe.as_raw_fd(),
                    nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
                );
                outputs.push(Prefixed {
                    pipe,
                    target,
                    prefix: format!("[{name}] "),
                    pending: Vec::new(),
                });
            }
            spawned.insert(id, Spawned { keeper });
            (HostReply::Spawned { id }, vec![body_end])
        }
        HostRequest::Kill { id } => {
            if let Some(process) = spawned.remove(&id) {
                // Its keeper kills the whole tree, reaps it and leaves: once it is reaped,
                // nothing the process started is left.
                let _ = nix::sys::signal::kill(process.keeper, crate::process_tree::KILL_TREE);
                crate::namespaces::wait_for(process.keeper);
            }
            (HostReply::Done, Vec::new())
        }
        HostRequest::Partition { a, b } => match network.partition(&a, &b) {
            Ok(()) => (HostReply::Done, Vec::new()),
            Err(why) => refused(why),
        },
        HostRequest::LimitRate {
            host,
            bytes_per_second,
        } => shaped(network.shape(host, super::hosts::Qdisc::Rate { bytes_per_second })),
        HostRequest::Delay { host, nanos } => shaped(network.shape(
            host,
            super::hosts::Qdisc::Delay {
                delay: std::time::Duration::from_nanos(nanos),
            },
        )),
        HostRequest::Impair { host, ppm } => shaped(network.impair(host, ppm)),
        HostRequest::Heal => match network.heal() {
            Ok(()) => (HostReply::Done, Vec::new()),
            Err(why) => refused(why),
        },
    }
}
