//! The parent's side of one sandbox run: ask the fork server for a sandbox, collect its
//! output and messages, enforce the timeout, and turn what it heard into an `Outcome`.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::fork_server;
use crate::limits::{attribution, Enforcement};
use crate::outcome::{ExitStatus, LiveOutput, Outcome, Output, Report, SetupFailure, Verdict};
use crate::plan::Plan;
use crate::protocol::{self, ChannelError, Message, MAX_MESSAGE};
use crate::seccomp::report::{Ending, SeccompEvent};

/// How long to wait for a killed sandbox to be gone before giving up on it.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// Everything heard from one sandbox.
#[derive(Default)]
struct Heard {
    pidfd: Option<OwnedFd>,
    verdict: Option<Verdict>,
    setup_failed: Option<SetupFailure>,
    unsupported: Option<String>,
    body_exit: Option<ExitStatus>,
    body_cpu_time: Option<Duration>,
    sandbox_exit: Option<ExitStatus>,
    notes: Vec<String>,
    seccomp: Vec<crate::seccomp::SeccompEvent>,
    garbled: Option<String>,
    /// With `SANDBOX_TEST_TRACE`: the sandbox's points and the test thread's.
    trace: Option<Vec<(String, u64)>>,
    /// The init said every process of the sandbox but itself is gone.
    nothing_left: bool,
    /// The seccomp supervisors watched: announced, not yet said to leave, not yet seen
    /// to exit (pid and pidfd).
    seccomp_supervisors: Vec<(i32, OwnedFd)>,
    /// Supervisors seen to exit before their last message was read.
    seccomp_supervisors_exited: Vec<i32>,
    /// A supervisor died while the body ran, without saying so: killed.
    seccomp_supervisor_lost: bool,
}

fn failure(step: &str, detail: impl Into<String>, errno: Option<Errno>) -> Report {
    Report::setup_failed(SetupFailure {
        step: step.to_owned(),
        errno: errno.map(|e| e as i32),
        detail: detail.into(),
    })
}

/// Runs `plan` in a new sandbox and waits for it to be gone. `live`: also write the
/// sandbox's output into the calling thread's output as it arrives (see `LiveOutput`).
/// With `plan.trace`, prints where the time went (see `trace`).
pub(crate) fn supervise(plan: &Plan, timeout: Duration, live: bool) -> Report {
    let started_at = crate::trace::now();
    let (report, trace) = supervise_traced(plan, timeout, live);
    if let Some(points) = trace {
        crate::trace::print(started_at, points);
    }
    report
}

/// [`supervise`], returning the trace's points (the sandbox's and the test thread's) when
/// `plan.trace` asks for them.
pub(crate) fn supervise_traced(
    plan: &Plan,
    timeout: Duration,
    live: bool,
) -> (Report, Option<Vec<(String, u64)>>) {
    let failure =
        |step: &str, detail: String, errno: Option<Errno>| (failure(step, detail, errno), None);
    let server = match fork_server::socket() {
        Ok(server) => server,
        Err(why) => return failure("reach the fork server", why, None),
    };
    let plan_fd = match plan.to_memfd() {
        Ok(fd) => fd,
        Err(e) => return failure("write the plan", e.to_string(), None),
    };
    let pair = crate::kernel::socket_pair;
    let sockets = pair().and_then(|channel| pair().map(|status| (channel, status)));
    let pipes = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .and_then(|out| nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map(|err| (out, err)));
    let (
        ((channel, channel_child), (status, status_child)),
        ((out_read, out_write), (err_read, err_write)),
    ) = match (sockets, pipes) {
        (Ok(sockets), Ok(pipes)) => (sockets, pipes),
        (Err(errno), _) | (_, Err(errno)) => {
            return failure("create the channel", errno.desc().to_owned(), Some(errno))
        }
    };
    let fds = [
        plan_fd.as_raw_fd(),
        channel_child.as_raw_fd(),
        status_child.as_raw_fd(),
        out_write.as_raw_fd(),
        err_write.as_raw_fd(),
    ];
    let prepared = plan.prepared_ahead();
    if let Err(e) = protocol::send(server, &Message::Spawn { prepared }, &fds) {
        return failure(
            "ask the fork server for a sandbox",
            format!("the fork server is gone: {e}"),
            None,
        );
    }
    drop((plan_fd, channel_child, status_child, out_write, err_write));
    let trace = plan.trace.then(|| {
        vec![(
            "test thread: write the plan and send the request".to_owned(),
            crate::trace::now(),
        )]
    });
    let (report, trace) = collect(
        [channel, status],
        [out_read, err_read],
        timeout,
        &plan.limits,
        live,
        trace,
    );
    let trace = trace.map(|mut points| {
        points.push(("test thread: verdict".to_owned(), crate::trace::now()));
        points
    });
    (report, trace)
}

/// The event loop: output, messages, the deadline, until the body's end is heard on the
/// status socket (then what is already queued is read, and nothing more is awaited), or,
/// when more is still to come, until every writer is gone.
fn collect(
    [channel, status]: [OwnedFd; 2],
    [out, err]: [OwnedFd; 2],
    timeout: Duration,
    limits: &Enforcement,
    live: bool,
    trace: Option<Vec<(String, u64)>>,
) -> (Report, Option<Vec<(String, u64)>>) {
    let mut heard = Heard {
        trace,
        ..Heard::default()
    };
    let mut stdout = Output::default();
    let mut stderr = Output::default();
    let mut live_out = live.then(LiveOutput::stdout);
    let mut live_err = live.then(LiveOutput::stderr);
    let mut open = [Some(channel), Some(status), Some(out), Some(err)];
    let mut buffer = vec![0u8; MAX_MESSAGE];
    let deadline = Instant::now() + timeout;
    let mut killed_at: Option<Instant> = None;
    // The pidfd may arrive after the deadline: kill once it is there.
    let mut kill_sent = false;
    // What may still come after the body's end and is worth waiting for: the coverage
    // counts of the init and the first process (an instrumented build), and the end of
    // every process in the sandbox's cgroup, which is removed after the run.
    let wait_for_all = crate::coverage::counters().is_some() || limits.cgroup.is_some();

    while open.iter().any(Option::is_some) {
        // The init killed and reaped every other process of the sandbox before it said
        // so: all the sandbox said is queued, nothing more will come.
        let ended = heard.nothing_left && killed_at.is_none() && !wait_for_all;
        let now = Instant::now();
        if killed_at.is_none() && now >= deadline && !ended {
            killed_at = Some(now);
        }
        let kill_now = killed_at.is_some() || heard.seccomp_supervisor_lost;
        if let (true, Some(pidfd), false) = (kill_now, &heard.pidfd, kill_sent) {
            kill(pidfd);
            kill_sent = true;
        }
        if killed_at.is_some_and(|at| now >= at + KILL_GRACE) {
            heard
                .notes
                .push("the sandbox did not go away within 10s of being killed".into());
            break;
        }
        let wait = match killed_at {
            None => deadline.saturating_duration_since(now),
            Some(at) => (at + KILL_GRACE)
                .saturating_duration_since(now)
                .min(Duration::from_millis(100)),
        };
        let watched = heard.seccomp_supervisors.iter().map(|(_, fd)| fd);
        let mut fds: Vec<PollFd> = open
            .iter()
            .flatten()
            .chain(watched)
            .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
            .collect();
        let timeout = match ended {
            // All is queued: read it without waiting.
            true => PollTimeout::ZERO,
            false => PollTimeout::try_from(wait.as_millis().clamp(1, i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX),
        };
        match poll(&mut fds, timeout) {
            Ok(0) if ended => break,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => {
                heard.garbled = Some(format!("poll failed: {errno}"));
                break;
            }
        }
        let ready: Vec<bool> = fds.iter().map(|fd| fd.any().unwrap_or(true)).collect();
        drop(fds);
        // The watched supervisors come after the open slots; read which exited before a
        // message below changes the list.
        let slots = open.iter().flatten().count();
        let gone: Vec<i32> = heard
            .seccomp_supervisors
            .iter()
            .zip(&ready[slots..])
            .filter_map(|((pid, _), exited)| exited.then_some(*pid))
            .collect();
        let mut ready = ready.into_iter();
        // Whether a message waited on the channel or the init's status socket.
        let mut message_ready = false;
        for (slot, index) in open.iter_mut().zip(0..) {
            let Some(fd) = slot else { continue };
            if !ready.next().unwrap_or(false) {
                continue;
            }
            message_ready |= index <= 1;
            let still_open = match index {
                0 => receive(fd, &mut buffer, &mut heard, Sender::Sandbox),
                1 => receive(fd, &mut buffer, &mut heard, Sender::Init),
                2 => drain(fd, &mut stdout, live_out.as_mut()),
                _ => drain(fd, &mut stderr, live_err.as_mut()),
            };
            if !still_open {
                *slot = None;
            }
        }
        // One whose last message came in this round is no longer watched.
        for pid in gone {
            if let Some(at) = heard
                .seccomp_supervisors
                .iter()
                .position(|(p, _)| *p == pid)
            {
                heard.seccomp_supervisors.swap_remove(at);
                heard.seccomp_supervisors_exited.push(pid);
            }
        }
        // A supervisor's last message is sent before it exits, and the init says the body
        // ended before it kills what is left: once neither socket holds anything more, a
        // supervisor gone without its last message while the body runs was killed.
        if !message_ready && heard.body_exit.is_none() && killed_at.is_none() {
            heard.seccomp_supervisor_lost |= !heard.seccomp_supervisors_exited.is_empty();
        }
    }
    for live in [&mut live_out, &mut live_err].into_iter().flatten() {
        live.finish();
    }
    let (seccomp, ended) = crate::seccomp::SeccompReport::from_events(&heard.seccomp);
    let outcome = judge(&heard, killed_at.map(|_| timeout), ended);
    let outcome = attribution::attribute_outcome(
        limits,
        outcome,
        heard.body_exit,
        heard.body_cpu_time,
        &[&stdout, &stderr],
    );
    let mut notes = heard.notes;
    if let Some(garbled) = heard.garbled {
        notes.push(garbled);
    }
    let report = Report {
        outcome,
        stdout,
        stderr,
        notes,
        seccomp,
    };
    (report, heard.trace)
}

fn kill(pidfd: &OwnedFd) {
    // SAFETY: pidfd_send_signal on a pidfd we own; the pidfd pins the process identity.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<()>(),
            0,
        );
    }
}

/// Who can write on a socket the test thread reads.
#[derive(Clone, Copy, PartialEq)]
enum Sender {
    /// The channel: every sandbox process, the body included, and the fork server.
    Sandbox,
    /// The status socket: the init (and the first process) only.
    Init,
}

/// Reads one message; false once the socket is closed.
fn receive(channel: &OwnedFd, buffer: &mut [u8], heard: &mut Heard, from: Sender) -> bool {
    let (message, fds) = match protocol::receive(channel.as_fd(), buffer) {
        Ok(received) => received,
        Err(ChannelError::Closed) => return false,
        Err(e) => {
            heard.garbled = Some(format!("the sandbox's channel failed: {e}"));
            return false;
        }
    };
    if let Some(trace) = &mut heard.trace {
        let name = match &message {
            Message::Spawned { .. } => "test thread: heard Spawned",
            Message::Verdict(_) => "test thread: heard the verdict",
            Message::BodyExited(_) => "test thread: heard BodyExited",
            Message::SandboxExited(_) => "test thread: heard SandboxExited",
            _ => "test thread: heard a message",
        };
        trace.push((name.to_owned(), crate::trace::now()));
    }
    match (from, message) {
        // Only the init may say how the body ended: a body could forge it on the channel.
        (Sender::Init, Message::BodyUsage { cpu_time }) => heard.body_cpu_time = Some(cpu_time),
        (Sender::Init, Message::BodyExited(status)) => heard.body_exit = Some(status),
        (Sender::Init, Message::NothingLeft) => heard.nothing_left = true,
        (Sender::Init, message)
        | (
            Sender::Sandbox,
            message @ (Message::BodyUsage { .. } | Message::BodyExited(_) | Message::NothingLeft),
        ) => {
            heard.garbled = Some(format!(
                "a message on the wrong socket (the init's status socket carries only how the \
                 body ended): {message:?}"
            ))
        }
        (_, message) => receive_from_sandbox(message, fds, heard),
    }
    true
}

/// A message of the channel.
fn receive_from_sandbox(message: Message, mut fds: Vec<OwnedFd>, heard: &mut Heard) {
    match message {
        Message::Spawned { .. } => heard.pidfd = fds.pop(),
        Message::Trace(points) => heard.trace.get_or_insert_with(Vec::new).extend(points),
        Message::SetupFailed(f) => heard.setup_failed = heard.setup_failed.take().or(Some(f)),
        Message::Unsupported { reason } => heard.unsupported = Some(reason),
        Message::Verdict(v) => heard.verdict = Some(v),
        Message::Note(note) => heard.notes.push(note),
        Message::Seccomp(SeccompEvent::SupervisorUp { pid }) => heard
            .seccomp_supervisors
            .extend(fds.pop().map(|pidfd| (pid, pidfd))),
        Message::Seccomp(SeccompEvent::SupervisorDone { pid }) => {
            heard.seccomp_supervisors.retain(|(p, _)| *p != pid);
            heard.seccomp_supervisors_exited.retain(|p| *p != pid);
        }
        Message::Seccomp(event) => heard.seccomp.push(event),
        Message::SandboxExited(status) => heard.sandbox_exit = Some(status),
        Message::Coverage => {
            let merged = fds.pop().ok_or_else(|| "no memfd".to_owned());
            if let Err(why) = merged.and_then(crate::coverage::merge) {
                heard
                    .notes
                    .push(format!("coverage counts of the sandbox lost: {why}"));
            }
        }
        Message::Spawn { .. }
        | Message::Prepared
        | Message::Start
        | Message::Host(_)
        | Message::HostReply(_)
        | Message::BodyUsage { .. }
        | Message::BodyExited(_)
        | Message::NothingLeft => {
            heard.garbled = Some(format!(
                "the sandbox sent a request meant for another: {message:?}"
            ))
        }
    }
}

/// Reads what is there (and writes what is kept to `live`); false at end of file.
fn drain(pipe: &OwnedFd, output: &mut Output, live: Option<&mut LiveOutput>) -> bool {
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match nix::unistd::read(pipe.as_raw_fd(), &mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                let kept = output.push(&chunk[..n]);
                if let Some(live) = live {
                    live.write(kept);
                }
                return true;
            }
            Err(Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// What happened, from what was heard. A pass needs the body's `Passed` *and* a clean exit
/// of the body (from the init) and, when it was heard, of the sandbox.
/// `seccomp_ended`: how a forbidden call ended the test (any process's; seccomp's `fail`
/// and `kill` modes).
fn judge(heard: &Heard, timed_out: Option<Duration>, seccomp_ended: Option<Ending>) -> Outcome {
    if let Some(after) = timed_out {
        return Outcome::TimedOut { after };
    }
    if let Some(reason) = &heard.unsupported {
        return Outcome::Unsupported {
            reason: reason.clone(),
        };
    }
    if let Some(failure) = &heard.setup_failed {
        return Outcome::SetupFailed(failure.clone());
    }
    match seccomp_ended {
        Some(Ending::Failed(v)) => return Outcome::SeccompViolation(Box::new(v)),
        Some(Ending::Killed(v)) => return Outcome::KilledBySeccomp(Box::new(v)),
        None => {}
    }
    if heard.seccomp_supervisor_lost {
        return Outcome::SeccompSupervisorKilled;
    }
    match heard.body_exit {
        Some(exit) => match Outcome::of_process(heard.verdict.as_ref(), exit) {
            Outcome::Passed
                if heard
                    .sandbox_exit
                    .is_some_and(|status| status != ExitStatus::Code(0)) =>
            {
                incomplete(format!(
                    "the body passed, but the sandbox's first process ended with {:?}",
                    heard.sandbox_exit
                ))
            }
            outcome => outcome,
        },
        None => incomplete(match (heard.sandbox_exit, &heard.garbled) {
            (_, Some(garbled)) => garbled.clone(),
            (Some(status), None) => format!("the sandbox ended ({status:?}) before its body did"),
            (None, None) => "the fork server went away before the sandbox ended".into(),
        }),
    }
}

fn incomplete(detail: String) -> Outcome {
    Outcome::SetupFailed(SetupFailure {
        step: "supervise the sandbox".into(),
        errno: None,
        detail,
    })
}
