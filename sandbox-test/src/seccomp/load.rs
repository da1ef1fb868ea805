//! The child side: the last setup step (after `capabilities::set_no_new_privs`). Installs what the filter needs
//! around it (the SIGSYS handler, the notification supervisor), and loads the BPF that
//! the parent compiled. The filter is inherited by every thread and subprocess the body
//! starts.
//!
//! The body's notification supervisor is forked by the sandbox's init once it forked or
//! started the body ([`start_supervisor`]; the two share a page made before the body's
//! fork, [`handoff_page`]): its fork runs while the body takes its own steps, and the body
//! only waits, before its filter, until the test thread was told of it
//! ([`wait_for_supervisor`]). A process the filter is loaded in any other way (a host process, the unit
//! tests' [`apply`]) forks its own.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use super::bpf::Program;
use super::compile::{CompiledFilter, NotifyReply};
use super::record::supervise;
use super::report::{install_sigsys_handler, EventSink, SeccompEvent};
use super::violation::Violations;
use super::SeccompError;
use crate::step::StepError;

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
/// `wrap` encodes one event as one protocol message; `own_pid_namespace`: the caller is
/// the body of a sandbox with its own pid namespace, whose processes a violation ends.
/// Returns a note for the test's output when the kernel made the filter differ from what
/// was asked (a flag it does not know).
pub fn apply(
    filter: &CompiledFilter,
    channel: RawFd,
    wrap: impl Fn(&SeccompEvent) -> Vec<u8>,
    own_pid_namespace: bool,
) -> Result<Option<String>, SeccompError> {
    apply_with(
        filter,
        channel,
        wrap,
        Supervisor::Fork { own_pid_namespace },
    )
}

/// Where the notification supervisor of a filter that needs one comes from.
enum Supervisor {
    /// The caller forks it (see [`spawn_supervisor`]).
    Fork { own_pid_namespace: bool },
    /// The sandbox's init forked it ([`start_supervisor`]) and announced it.
    Started(Announced),
}

/// [`apply`], with the supervisor from `supervisor`.
fn apply_with(
    filter: &CompiledFilter,
    channel: RawFd,
    wrap: impl Fn(&SeccompEvent) -> Vec<u8>,
    supervisor: Supervisor,
) -> Result<Option<String>, SeccompError> {
    let handoff = if needs_supervisor(filter) {
        let (handoff, pid, sink) = match supervisor {
            Supervisor::Fork { own_pid_namespace } => {
                crate::kernel::check_pidfd_getfd().map_err(SeccompError::Unsupported)?;
                let sink = event_sink(channel, &wrap)?;
                let (handoff, pid) = spawn_supervisor(filter, &sink, own_pid_namespace)?;
                announce(&sink, pid)?;
                (handoff, pid, sink)
            }
            Supervisor::Started(Announced { handoff, pid }) => {
                (handoff, pid, event_sink(channel, &wrap)?)
            }
        };
        // Under Yama's ptrace_scope=1 the supervisor may take a descriptor of the body only
        // if the body says so; without Yama this fails harmlessly.
        // SAFETY: plain prctl.
        unsafe { libc::prctl(libc::PR_SET_PTRACER, pid as libc::c_ulong, 0, 0, 0) };
        // The handler takes the supervisor's requests about the body's own violations
        // (every mode but record) and injected faults.
        let asks =
            filter.notify.is_some_and(|r| r != NotifyReply::Continue) || filter.inject.is_some();
        if asks {
            install_sigsys_handler(sink, pid)?;
        }
        Some(handoff)
    } else {
        None
    };
    let (listener, note) = load_bpf(filter, handoff.is_some())?;
    if let (Some(handoff), Some(listener)) = (handoff, listener) {
        // Tell the supervisor the listener's number; it takes the descriptor itself with
        // pidfd_getfd(2). The listener stays open here (close-on-exec) so that it is still
        // there when the supervisor takes it.
        handoff.publish(listener.into_raw_fd());
    }
    Ok(note)
}

/// Whether `filter` has calls only a notification supervisor answers.
fn needs_supervisor(filter: &CompiledFilter) -> bool {
    filter.notify.is_some() || filter.inject.is_some()
}

fn event_sink(
    channel: RawFd,
    wrap: &impl Fn(&SeccompEvent) -> Vec<u8>,
) -> Result<EventSink, SeccompError> {
    EventSink::new(channel, wrap).map_err(|_| SeccompError::Load {
        step: "encoding seccomp events in the protocol",
        errno: libc::EINVAL,
    })
}

/// A shared page through which the body tells the supervisor the listener's number
/// without a syscall: from the moment the filter is loaded, any call may be one that only
/// the supervisor can answer (an injected `write`), and it is not listening yet. When the
/// init forks the supervisor, the init also says there that the test thread was told of
/// it.
#[derive(Clone, Copy)]
pub(crate) struct Handoff {
    page: &'static Page,
}

/// The shared page's words (futex words, in a `MAP_SHARED` page: waits and wakes are
/// shared between processes).
#[repr(C)]
struct Page {
    /// The listener's number in the body; -1 until the filter is loaded.
    listener: AtomicI32,
    /// The supervisor's pid, once the test thread was told of it; 0 until then.
    announced: AtomicI32,
}

impl Handoff {
    fn new() -> Result<Self, SeccompError> {
        // SAFETY: a fresh anonymous shared mapping; never unmapped (one page for the
        // body's life), so the 'static reference stays valid in every process that
        // inherits it.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return Err(SeccompError::Load {
                step: "mmap (seccomp listener handoff)",
                errno: errno(),
            });
        }
        // SAFETY: the page is zeroed, aligned and lives as long as the process; `Page`
        // is two atomics, for which zero bytes are a valid value.
        let page = unsafe { &*(page as *const Page) };
        page.listener.store(-1, Ordering::Release);
        Ok(Self { page })
    }

    /// In the body: a plain store, then a futex wake. The wake only saves the supervisor
    /// its next timeout: if the filter stops it (an injected `futex`), the supervisor
    /// still finds the number within a millisecond and answers it.
    fn publish(&self, listener: RawFd) {
        self.page.listener.store(listener, Ordering::Release);
        wake(&self.page.listener);
    }

    /// In the init, once the test thread was told of the supervisor `pid`: lets the body
    /// load its filter, and the supervisor start.
    fn announce(&self, pid: libc::pid_t) {
        self.page.announced.store(pid, Ordering::Release);
        wake(&self.page.announced);
    }

    /// In the body and the init's supervisor: waits until the init announced the
    /// supervisor; returns its pid. The init either announces it or exits, and the
    /// kernel then kills every process of its pid namespace, this one with them.
    fn wait_announced(&self) -> libc::pid_t {
        loop {
            let pid = self.page.announced.load(Ordering::Acquire);
            if pid != 0 {
                return pid;
            }
            // SAFETY: FUTEX_WAIT (shared: the word is in a MAP_SHARED page) while the word
            // is still 0, no timeout.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.page.announced.as_ptr(),
                    libc::FUTEX_WAIT,
                    0,
                    std::ptr::null::<libc::timespec>(),
                )
            };
        }
    }

    /// In the supervisor: waits for the number, or for the body to exit (its filter
    /// failed to load).
    fn wait(&self, body: &OwnedFd) -> Option<RawFd> {
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        };
        loop {
            let number = self.page.listener.load(Ordering::Acquire);
            if number >= 0 {
                return Some(number);
            }
            // SAFETY: FUTEX_WAIT (shared: the word is in a MAP_SHARED page) while the word
            // is still -1, for at most the timeout.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.page.listener.as_ptr(),
                    libc::FUTEX_WAIT,
                    -1,
                    &timeout as *const libc::timespec,
                )
            };
            let mut pfd = libc::pollfd {
                fd: body.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; a pidfd is readable once the process exited.
            if self.page.listener.load(Ordering::Acquire) < 0
                && unsafe { libc::poll(&mut pfd, 1, 0) } > 0
            {
                return None;
            }
        }
    }
}

fn wake(word: &AtomicI32) {
    // SAFETY: FUTEX_WAKE on a word of a shared mapping that stays mapped.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
}

/// Before the body's fork (in the init, or in a prepared init before its request): the
/// page the body will share with the supervisor the init may fork for it.
pub(crate) fn handoff_page() -> Result<Handoff, StepError> {
    Handoff::new().map_err(step_error)
}

/// `filter`, when it has calls only a notification supervisor answers.
pub(crate) fn supervised(filter: Option<&CompiledFilter>) -> Option<&CompiledFilter> {
    filter.filter(|filter| needs_supervisor(filter))
}

/// The supervisor the init forked for this process, once the test thread was told of it.
pub(crate) struct Announced {
    handoff: Handoff,
    pid: libc::pid_t,
}

/// In the body, before its filter: when `filter` needs a supervisor and the init shares
/// `handoff` with the body (it then forks one: [`start_supervisor`]), waits until the init
/// announced it to the test thread; most often it already has.
pub(crate) fn wait_for_supervisor(
    filter: Option<&CompiledFilter>,
    handoff: Option<Handoff>,
) -> Result<Option<Announced>, StepError> {
    Ok(supervised(filter).and(handoff).map(|handoff| Announced {
        handoff,
        pid: handoff.wait_announced(),
    }))
}

/// In the sandbox's init, right after it forked `body`: forks the body's supervisor (its
/// child, reaped by it), hands the test thread a pidfd of it on `channel` (so that it sees
/// the supervisor die: the body's `kill(-1)` can kill it, and the calls only it answers
/// would then wait forever), then lets the body load its filter: no body code runs
/// before the test thread watches. The supervisor starts as the init is: not dumpable,
/// so out of the body's reach from its first instant; it keeps only the channel, sheds
/// the capabilities it never needs, and waits for the announcement before it says
/// anything itself.
pub(crate) fn start_supervisor(
    filter: &CompiledFilter,
    handoff: Handoff,
    body: nix::unistd::Pid,
    channel: BorrowedFd<'_>,
    wrap: impl Fn(&SeccompEvent) -> Vec<u8>,
) -> Result<(), StepError> {
    crate::kernel::check_pidfd_getfd().map_err(StepError::Unsupported)?;
    let sink = event_sink(channel.as_raw_fd(), &wrap).map_err(step_error)?;
    // The init is not dumpable already; said again so that the supervisor's first instant
    // does not depend on where the init's steps put that.
    crate::capabilities::set_dumpable(false)?;
    let Some(supervisor) = crate::namespaces::fork()? else {
        let ready = leave_the_init(channel.as_raw_fd())
            .and_then(|()| {
                crate::namespaces::unblock_signals(&crate::namespaces::forwarded_signals())
            })
            .and_then(|()| crate::capabilities::drop_all());
        if ready.is_err() {
            // Gone before a word: the test thread, told of it, ends the test as
            // `SeccompSupervisorKilled`.
            crate::step::exit(1)
        }
        handoff.wait_announced();
        supervisor_main(filter, handoff, body.as_raw(), &sink, true)
    };
    announce(&sink, supervisor.as_raw()).map_err(step_error)?;
    handoff.announce(supervisor.as_raw());
    Ok(())
}

/// In the supervisor the init forked: closes every descriptor of the init's but the
/// channel (the status socket above all: it is the init's alone).
fn leave_the_init(channel: RawFd) -> Result<(), StepError> {
    (0..channel).for_each(|fd| {
        // SAFETY: the supervisor never uses the init's standard descriptors.
        unsafe { libc::close(fd) };
    });
    crate::kernel::close_from(channel + 1)?;
    Ok(())
}

/// Forks the supervisor before the filter exists (so it is not filtered), in a process
/// whose init did not ([`start_supervisor`]). In a sandbox (`own_pid_namespace`: a host
/// process) it is cloned with `CLONE_PARENT`: a child of the process's parent, which reaps
/// it, not of the process, so that its own `wait(-1)` never sees it; one fork, and the
/// process waits for nobody. Outside one (the unit tests) it is the caller's child.
/// Returns the handoff through which the caller will tell it the listener's number, and
/// the supervisor's pid.
fn spawn_supervisor(
    filter: &CompiledFilter,
    sink: &EventSink,
    own_pid_namespace: bool,
) -> Result<(Handoff, libc::pid_t), SeccompError> {
    let handoff = Handoff::new()?;
    // SAFETY: getpid has no preconditions.
    let body = unsafe { libc::getpid() };
    // Not dumpable across the fork: the supervisor's memory starts "not dumpable" (it
    // inherits the flag) and so is never reachable, not even for an instant; the body
    // becomes dumpable again right after.
    crate::capabilities::set_dumpable(false).map_err(|_| SeccompError::Load {
        step: "prctl(PR_SET_DUMPABLE, 0) (seccomp supervisor)",
        errno: errno(),
    })?;
    let flags = match own_pid_namespace {
        true => libc::CLONE_PARENT,
        false => libc::SIGCHLD,
    };
    // SAFETY: a fork (no new stack: the child continues on a copy of this one) of a
    // single-threaded process; the child only makes system calls and runs the supervisor
    // loop, then leaves with _exit. CLONE_PARENT is refused only to a pid namespace's init.
    let clone = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    let cloned = check("clone(CLONE_PARENT) (seccomp supervisor)", clone);
    if clone == 0 {
        // SAFETY: closing the standard fds in the supervisor: it never uses them.
        unsafe {
            libc::close(0);
            libc::close(1);
            libc::close(2);
        }
        supervisor_main(filter, handoff, body, sink, own_pid_namespace)
    }
    let dumpable = crate::capabilities::set_dumpable(true);
    let supervisor = cloned? as libc::pid_t;
    dumpable.map_err(|_| SeccompError::Load {
        step: "prctl(PR_SET_DUMPABLE, 1) (seccomp supervisor)",
        errno: errno(),
    })?;
    Ok((handoff, supervisor))
}

/// The supervisor, however it was forked: takes the listener from `body` once it is
/// published, answers the notifications until no filtered task is left, says so, and
/// leaves.
fn supervisor_main(
    filter: &CompiledFilter,
    handoff: Handoff,
    body: libc::pid_t,
    sink: &EventSink,
    own_pid_namespace: bool,
) -> ! {
    let status = match take_listener(&handoff, body) {
        Some(listener) => {
            let violations = Violations::new(body, own_pid_namespace);
            let as_written = Program::from_bytes(&filter.as_written);
            let inject = filter.inject.as_ref();
            supervise(
                &listener,
                filter.notify,
                &as_written,
                inject,
                sink,
                violations,
            );
            0
        }
        // The body ended before it loaded the filter.
        None => 1,
    };
    // Leaving on its own: said before the exit the test thread watches for.
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() };
    let _ = sink.send(&SeccompEvent::SupervisorDone { pid });
    // SAFETY: leaving the supervisor without the test binary's exit handlers.
    unsafe { libc::_exit(status) }
}

/// Before the filter exists (in the init that forked the supervisor, or in the process
/// that did): hands the test thread a pidfd of the supervisor, so that it sees the
/// supervisor die before any filtered call of the body.
fn announce(sink: &EventSink, supervisor: libc::pid_t) -> Result<(), SeccompError> {
    let pidfd =
        crate::namespaces::pidfd_open(nix::unistd::Pid::from_raw(supervisor)).map_err(|errno| {
            SeccompError::Load {
                step: "pidfd_open (seccomp supervisor)",
                errno: errno as i32,
            }
        })?;
    let up = SeccompEvent::SupervisorUp { pid: supervisor };
    sink.send_with_fd(&up, pidfd.as_raw_fd())
        .map_err(|e| SeccompError::Load {
            step: "announce the seccomp supervisor",
            errno: e.raw_os_error().unwrap_or(libc::EIO),
        })
}

/// In the supervisor: waits for the listener's number, takes it from the body.
fn take_listener(handoff: &Handoff, body: libc::pid_t) -> Option<OwnedFd> {
    let pidfd = crate::namespaces::pidfd_open(nix::unistd::Pid::from_raw(body)).ok()?;
    let target = handoff.wait(&pidfd)?;
    // SAFETY: pidfd_getfd returns a fresh descriptor or -1.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0);
        (fd >= 0).then(|| OwnedFd::from_raw_fd(fd as RawFd))
    }
}

/// Loads the BPF; with `listen`, returns the notification listener. A profile's
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19) is dropped, with a note, by a
/// kernel that refuses it: it only changes how a notified call waits for its answer.
fn load_bpf(
    filter: &CompiledFilter,
    listen: bool,
) -> Result<(Option<OwnedFd>, Option<String>), SeccompError> {
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
    } else {
        // Only meaningful (and only accepted) with a listener.
        flags &= !libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    }
    let load = |flags: libc::c_ulong| {
        // SAFETY: prog points at filter.bpf, which outlives the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        (rc, errno())
    };
    let mut note = None;
    let (mut rc, mut error) = load(flags);
    let killable = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    if rc < 0 && error == libc::EINVAL && flags & killable != 0 {
        flags &= !killable;
        (rc, error) = load(flags);
        if rc >= 0 {
            note = Some(
                "this kernel does not know SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19): \
                 the profile's filter is loaded without it, so a signal may interrupt a call \
                 waiting for the seccomp supervisor's answer"
                    .to_owned(),
            );
        }
    }
    if rc < 0 && error == libc::EINVAL && listen {
        return Err(SeccompError::Unsupported(
            crate::kernel::Feature::SeccompUserNotification.missing(
                "seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER) failed \
                 with EINVAL",
            ),
        ));
    }
    if rc < 0 {
        return Err(SeccompError::Load {
            step: "seccomp(SECCOMP_SET_MODE_FILTER)",
            errno: error,
        });
    }
    // SAFETY: with NEW_LISTENER the return value is a fresh descriptor.
    let listener = listen.then(|| unsafe { OwnedFd::from_raw_fd(rc as RawFd) });
    Ok((listener, note))
}

/// The last setup step, in the body process right before the body: loads the plan's
/// filter, reporting events on `channel` as `encode` writes them (the protocol's message).
/// `started`: the supervisor the init forked for this process ([`wait_for_supervisor`]);
/// without it, a filter that needs a supervisor forks its own.
pub(crate) fn load_in_body(
    filter: Option<&CompiledFilter>,
    started: Option<Announced>,
    channel: BorrowedFd<'_>,
    encode: impl Fn(&SeccompEvent) -> Vec<u8>,
) -> Result<Option<String>, StepError> {
    let Some(filter) = filter else {
        return Ok(None);
    };
    match started {
        Some(announced) => apply_with(
            filter,
            channel.as_raw_fd(),
            encode,
            Supervisor::Started(announced),
        ),
        None => apply(filter, channel.as_raw_fd(), encode, true),
    }
    .map_err(step_error)
}

fn step_error(e: SeccompError) -> StepError {
    match e {
        SeccompError::Load { errno, .. } => {
            StepError::Sys(e.to_string(), nix::errno::Errno::from_raw(errno))
        }
        SeccompError::Unsupported(reason) => StepError::Unsupported(reason),
        _ => StepError::Other(e.to_string()),
    }
}
