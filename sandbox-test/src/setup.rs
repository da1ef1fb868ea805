//! The sandbox's setup sequence, in order, as the article's script would write it:
//!
//! ```sh
//! unshare --user --map-root-user --pid --fork --mount --mount-proc --uts --ipc --net \
//!         --cgroup [--time --monotonic ... --boottime ...] \
//!     sh -c 'mount -t tmpfs tmpfs /tmp; (cat hosts-entries /etc/hosts) >/tmp/h;
//!            mount --bind -o ro /tmp/h /etc/hosts; rm /tmp/h;
//!            hostname sandbox; ip link set lo up; exec test-body'
//! ```
//!
//! Three processes: the *first process* (forked by the fork server, still in the host's pid
//! namespace) creates the namespaces; the *init* (pid 1 inside) sets up what lives in them
//! and reaps; the *body* (pid 2) sheds its privileges and runs the test. A first process
//! the fork server prepares ahead of a request forks its init before the request comes
//! (`prepared_main`); that init runs its steps that need no plan, forks the body, which
//! waits for its `Start` (`waiting_body`), and takes the request. With
//! `net(hosts = [...])` the init also creates the hosts (`ip netns add` for each, a bridge,
//! veth pairs), the body enters the first host, and on the body's request the init forks a
//! *keeper* (a sub-reaper holding everything the spawned fn starts), which forks the *host
//! process*: it enters another host, mounts that host's /sys in a mount namespace of its
//! own, and sheds privileges as the body does. Every step is a named function of its
//! concept's module; a step that fails ends the sandbox with a `SetupFailed` (or
//! `Unsupported`) message and the body never runs.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::outcome::SetupFailure;
use crate::plan::{Plan, Preparation};
use crate::protocol::{self, Message};
use crate::step::{StepError, CHANNEL_FD, PLAN_FD, STATUS_FD, WAITING_BODY_FD};
use crate::{
    body, capabilities, coverage, filesystem, kernel, limits, namespaces, net, process_tree,
    seccomp, step, time, trace,
};
use nix::sched::CloneFlags;

/// Exit code of a sandbox process that stopped because a step failed.
const SETUP_FAILED: i32 = 125;

/// What the fork server hands the sandbox's first process.
pub(crate) struct SandboxFds {
    pub plan: OwnedFd,
    pub channel: OwnedFd,
    /// Where the init reports the body's end (`STATUS_FD`); none for a body.
    pub status: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

impl SandboxFds {
    /// The fds of a `Spawn` request, in order.
    pub(crate) fn from_request(fds: Vec<OwnedFd>) -> Option<Self> {
        let [plan, channel, status, stdout, stderr]: [OwnedFd; 5] = fds.try_into().ok()?;
        Some(SandboxFds {
            plan,
            channel,
            status: Some(status),
            stdout,
            stderr,
        })
    }
}

/// Entry of the sandbox's first process, right after the fork server forked it.
pub(crate) fn sandbox_main(fork_server: Pid, requested_at: u64, fds: SandboxFds) -> ! {
    let started_at = trace::now();
    let (plan, step) = take_request(
        fds,
        Keep::Status,
        &[
            ("fork server: fork the first process", requested_at),
            ("first process: start", started_at),
        ],
    );
    step.run(
        "die with the fork server",
        namespaces::die_with_parent(fork_server),
    );
    step.run("prepare to send the coverage counts", coverage::start());
    first_process(&plan, &step)
}

/// Entry of a first process the fork server prepares ahead of a request (for a plan of
/// this `Preparation`, `Plan::prepared_ahead`): it creates the namespaces and forks the
/// init, which runs its steps before the plan, says so and waits for the request. What they
/// do before the request is the same for every test of the kind, and each prepared process
/// takes one request. A failure there only ends it: the fork server then forks the first
/// process afresh for the request, which reports the failure.
pub(crate) fn prepared_main(fork_server: Pid, socket: OwnedFd, kind: Preparation) -> ! {
    // Only the socket to the fork server stays open, on fd 3 until the request's fds
    // replace it: nothing of the fork server's other sandboxes.
    let prepared = keep_only(socket)
        .map(drop)
        .map_err(StepError::from)
        .and_then(|()| namespaces::die_with_parent(fork_server))
        .and_then(|()| first_process_namespaces(kind.flags()))
        .and_then(|()| namespaces::Lifeline::new());
    let Ok(lifeline) = prepared else {
        exit(SETUP_FAILED)
    };
    // --fork, ahead of the request: the init takes it.
    match namespaces::fork() {
        // Its counts so far are this process's, which never sends them: no
        // `coverage::forget_inherited`.
        Ok(None) => prepared_init(kind, lifeline),
        Ok(Some(init)) => {
            // The init's socket now.
            let _ = nix::unistd::close(CHANNEL_FD);
            stay_with_the_init(init, lifeline)
        }
        Err(_) => exit(SETUP_FAILED),
    }
}

/// The init a prepared first process forked: runs its steps before the plan, says
/// `Prepared` to the fork server, takes the request, and runs the init's steps for it.
fn prepared_init(kind: Preparation, lifeline: namespaces::Lifeline) -> ! {
    // SAFETY: fd 3 is the socket to the fork server (`prepared_main`).
    let socket = unsafe { BorrowedFd::borrow_raw(CHANNEL_FD) };
    if lifeline.die_with_parent().is_err() {
        exit(SETUP_FAILED)
    }
    // Until the request, a failed step is said to the fork server, which then prepares
    // this kind no more (the request's own init reports it).
    let before = Steps {
        channel: socket,
        trace: false,
    };
    init_before_the_plan(kind, &before);
    // --fork, ahead of the request too (but with hosts): the body waits for its `Start`.
    let body = kind.body_ahead.then(|| fork_the_waiting_body(&before));
    let request = protocol::send(socket, &Message::Prepared, &[])
        .and_then(|()| protocol::receive(socket, &mut vec![0u8; protocol::MAX_MESSAGE]));
    let fds = match request {
        Ok((Message::Spawn { .. }, fds)) => SandboxFds::from_request(fds),
        _ => None,
    };
    let Some(fds) = fds else { exit(SETUP_FAILED) };
    let keep = match body {
        Some(_) => Keep::Plan,
        None => Keep::Status,
    };
    let (plan, step) = take_request(
        fds,
        keep,
        &[("prepared init: take the request", trace::now())],
    );
    step.run(
        "check the plan fits the prepared namespaces",
        match plan.prepared_ahead() {
            Some(needed) if needed == kind => Ok(()),
            needed => Err(StepError::Other(format!(
                "the fork server handed a plan that needs {needed:?} to a first process \
                 prepared with {kind:?}"
            ))),
        },
    );
    init(&plan, &step, body)
}

/// Who takes a request: what `take_request` keeps of its fds besides the standard ones
/// and the status socket (which a body is never given).
#[derive(Clone, Copy, PartialEq)]
enum Keep {
    /// An init forked for the request.
    Status,
    /// A prepared init: the plan too (fd 5), for its waiting body.
    Plan,
    /// A waiting body.
    Nothing,
}

/// Reads the plan and installs the request's fds (closing every other one but what `keep`
/// says); with the plan's `trace`, starts the trace at `points`.
fn take_request(
    fds: SandboxFds,
    keep: Keep,
    points: &[(&'static str, u64)],
) -> (Plan, Steps<'static>) {
    // Read the plan before the fds are rearranged (that closes every other fd).
    let plan = Plan::from_memfd(fds.plan.as_fd());
    let plan_fd = (keep == Keep::Plan).then_some(fds.plan);
    let channel =
        match install_standard_fds(fds.channel, fds.status, fds.stdout, fds.stderr, plan_fd) {
            Ok(channel) => channel,
            // Without a channel there is nobody to tell; the parent sees the exit code.
            Err(_) => exit(SETUP_FAILED),
        };
    let mut step = Steps {
        channel,
        trace: false,
    };
    let read = match keep {
        Keep::Nothing => "waiting body: read the plan",
        Keep::Status | Keep::Plan => "read the plan",
    };
    let plan = step.run(read, plan.map_err(StepError::Other));
    if plan.trace {
        step.trace = true;
        trace::reset();
        points
            .iter()
            .for_each(|(name, at)| trace::mark_at(name, *at));
        trace::mark(read);
    }
    (plan, step)
}

/// The first process: creates the namespaces, then forks the init.
fn first_process(plan: &Plan, step: &Steps) -> ! {
    // setsid: no controlling terminal, no process group shared with the test process
    step.run("leave the test's session", namespaces::new_session());
    let ids = namespaces::caller_ids();
    step.run(
        "enter the sandbox's cgroup",
        limits::enter_cgroup(&plan.limits).map_err(StepError::from),
    );
    step.run(
        "make RLIMIT_NPROC apply",
        limits::leave_exempt_real_uid(&plan.limits).map_err(StepError::from),
    );
    // unshare --user --pid --mount --uts --ipc --net --cgroup (--net unless host)
    step.run(
        "unshare namespaces",
        namespaces::unshare(net::namespace_flags(namespaces::ALL, plan.net)),
    );
    // --map-root-user
    step.run("map the caller to root", namespaces::map_root_user(ids));
    fork_the_init(plan, step)
}

/// A prepared first process's steps before any request: `first_process`'s, but for the
/// plan's cgroup and uid (a prepared process serves only plans without them).
fn first_process_namespaces(flags: CloneFlags) -> Result<(), StepError> {
    namespaces::new_session()?;
    let ids = namespaces::caller_ids();
    namespaces::unshare(flags)?;
    namespaces::map_root_user(ids)
}

/// The first process's last step: the init.
fn fork_the_init(plan: &Plan, step: &Steps) -> ! {
    // --fork: the next process is pid 1 of the new pid namespace
    let lifeline = step.run("create the init's lifeline", namespaces::Lifeline::new());
    match step.run("fork the init", namespaces::fork()) {
        None => {
            coverage::forget_inherited();
            step.run("die with the first process", lifeline.die_with_parent());
            init_before_the_plan(plan.preparation(), step);
            init(plan, step, None)
        }
        Some(init) => stay_with_the_init(init, lifeline),
    }
}

/// The first process, once it forked the init: stays until the init exits (holding the
/// lifeline's write end is what keeps the init alive), and exits as it did.
fn stay_with_the_init(init: Pid, lifeline: namespaces::Lifeline) -> ! {
    let status = namespaces::wait_for(init);
    drop(lifeline);
    exit(match status {
        crate::outcome::ExitStatus::Code(code) => code,
        crate::outcome::ExitStatus::Signal { .. } => SETUP_FAILED,
    })
}

/// Pid 1's first steps, which depend on nothing of the plan but its `Preparation`: a
/// prepared init runs them before its request.
fn init_before_the_plan(kind: Preparation, step: &Steps) {
    // --mount-proc, and a private /dev/shm
    step.run("make mounts private", filesystem::make_mounts_private());
    step.run("mount /proc", filesystem::mount_proc());
    step.run("mount a private /dev/shm", filesystem::mount_private_shm());
    if kind.loopback {
        // The init's own network namespace: its /sys, and ip link set lo up
        step.run("mount /sys", filesystem::mount_sysfs());
        step.run(
            "configure the network",
            net::configure(net::NetMode::Loopback).map_err(StepError::from),
        );
    }
}

/// Pid 1's last step before a request it is prepared for: forks the body, which waits
/// for its `Start` (`waiting_body`). Forwarded signals are blocked before, as for a body
/// forked after the setup.
fn fork_the_waiting_body(step: &Steps) -> WaitingBody {
    let (init_end, body_end) = step.run(
        "open the waiting body's socket",
        kernel::socket_pair().map_err(StepError::from),
    );
    let forwarded = step.run(
        "block the signals init forwards",
        namespaces::block_forwarded_signals(),
    );
    // For a plan with a seccomp supervisor, which the init forks once it started the body.
    let handoff = step.run(
        "share a page with the seccomp supervisor",
        seccomp::load::handoff_page(),
    );
    match step.run("fork the body", namespaces::fork()) {
        None => {
            coverage::forget_inherited();
            drop(init_end);
            waiting_body(body_end, handoff)
        }
        Some(pid) => WaitingBody {
            pid,
            handoff,
            // Where the request's fds will not replace it.
            socket: step.run(
                "keep the waiting body's socket",
                kernel::move_fd(init_end, WAITING_BODY_FD).map_err(StepError::from),
            ),
            forwarded,
        },
    }
}

/// A body its init forked before the request, waiting on `socket`.
struct WaitingBody {
    pid: Pid,
    /// The page it shares with the seccomp supervisor the init forks, if the plan has one.
    handoff: seccomp::load::Handoff,
    socket: BorrowedFd<'static>,
    forwarded: nix::sys::signal::SigSet,
}

impl WaitingBody {
    /// `Start`: the plan, the channel, stdout, stderr (the init's fds 5, 3, 1, 2: its
    /// `take_request` kept the plan) and the time namespace, if any. Returns the body's pid
    /// and the signals the init forwards.
    fn start(
        self,
        time_namespace: Option<OwnedFd>,
    ) -> Result<(Pid, nix::sys::signal::SigSet), StepError> {
        let mut fds = vec![PLAN_FD, CHANNEL_FD, 1, 2];
        fds.extend(time_namespace.as_ref().map(AsRawFd::as_raw_fd));
        protocol::send(self.socket, &Message::Start, &fds)
            .map_err(|e| StepError::Other(format!("starting the body: {e}")))?;
        Ok((self.pid, self.forwarded))
    }
}

/// A body forked before its init's request: waits for `Start` (nothing more is open but
/// its socket to the init), takes the request's fds, enters the time namespace, and runs
/// the body's steps. If the init dies first, the pid namespace dies with it.
fn waiting_body(socket: OwnedFd, handoff: seccomp::load::Handoff) -> ! {
    let start = keep_only(socket)
        .ok()
        .and_then(|socket| protocol::receive(socket, &mut vec![0u8; protocol::MAX_MESSAGE]).ok());
    let Some((Message::Start, mut fds)) = start else {
        exit(SETUP_FAILED)
    };
    let started_at = trace::now();
    // --time: a body forked before its init unshared the time namespace enters it now,
    // before the request's fds replace every other (the step is reported below).
    let entered = (fds.len() == 5)
        .then(|| fds.pop())
        .flatten()
        .map(|namespace| time::enter_namespace(namespace.as_fd()));
    let [plan, channel, stdout, stderr]: [OwnedFd; 4] = match fds.try_into() {
        Ok(fds) => fds,
        Err(_) => exit(SETUP_FAILED),
    };
    // The init keeps the status socket: the body gets none (fd 4 stays closed).
    let fds = SandboxFds {
        plan,
        channel,
        status: None,
        stdout,
        stderr,
    };
    let (plan, step) = take_request(
        fds,
        Keep::Nothing,
        &[("waiting body: take the start", started_at)],
    );
    if let Some(entered) = entered {
        step.run("enter the time namespace", entered);
    }
    step.run(
        "unblock signals",
        namespaces::unblock_signals(&namespaces::forwarded_signals()),
    );
    body_process(&plan, &step, Some(handoff))
}

/// Pid 1 of the sandbox, once its steps before the plan are done: sets up what lives in
/// the new namespaces for the plan, starts the body (forks it, or starts the one it
/// forked before the request), reaps.
fn init(plan: &Plan, step: &Steps, waiting: Option<WaitingBody>) -> ! {
    let prepared = plan.preparation();
    step.run("prepare to send the coverage counts", coverage::start());
    // --time --monotonic ... --boottime ...: only when the test moves those clocks. The
    // init stays outside; the body, and every process forked after it, enters. Before the
    // init is not dumpable (its /proc/self/timens_offsets would then be the host root's).
    let mut time_namespace = None;
    if plan.time.needs_namespace() {
        step.run("unshare the time namespace", time::unshare_namespace());
        step.run(
            "set the time namespace offsets",
            time::set_namespace_offsets(&plan.time),
        );
        // A body forked before the request enters it with setns.
        if waiting.is_some() {
            time_namespace = Some(step.run(
                "open the time namespace for the body",
                time::namespace_for_the_body(),
            ));
        }
    }
    // The init keeps privileges the body sheds: out of the body's ptrace and /proc/1/mem.
    step.run(
        "keep the init out of reach",
        capabilities::set_dumpable(false),
    );
    // net(hosts = [...]): ip netns add, ip link add ... type veth/bridge, ip address add
    let mut network = (!plan.hosts.is_empty())
        .then(|| step.run("create the hosts", net::hosts::Network::create(&plan.hosts)));
    if net::needs_namespace(plan.net) && !prepared.loopback {
        // With hosts, the first host's: the body's.
        let sysfs = match &network {
            None => filesystem::mount_sysfs(),
            Some(network) => network.in_host(0, filesystem::mount_sysfs),
        };
        step.run("mount /sys", sysfs);
    }
    step.run(
        "mount a private /tmp",
        filesystem::mount_private_tmp(&plan.workdir, &plan.fs.build_dirs),
    );
    if let Some(note) = step.run(
        "write the sandbox's /etc/hosts",
        net::etc_hosts::install(&net::own_names(&plan.hostname, &plan.hosts)),
    ) {
        let _ = protocol::send(step.channel, &Message::Note(note), &[]);
    }
    // hide the host's control sockets; hide, bind; the read-only host (but for the build
    // directories, writable, readonly_root, writable_host)
    step.run(
        "isolate the filesystem",
        filesystem::isolation::apply_in_sandbox(&plan.fs),
    );
    step.run(
        "make the kernel's knobs read-only",
        filesystem::protect_kernel_interfaces(),
    );
    // hostname sandbox
    step.run("set the hostname", namespaces::set_hostname(&plan.hostname));
    // ip link set lo up (net = "loopback" with hosts: the init's namespace)
    if !prepared.loopback {
        step.run(
            "configure the network",
            net::configure(plan.net).map_err(StepError::from),
        );
    }
    let control = network.as_ref().map(|_| {
        step.run(
            "open the hosts' control socket",
            kernel::socket_pair().map_err(StepError::from),
        )
    });
    let (body, forwarded, handoff) = match waiting {
        // Forked before the request: it takes the plan now. The init's trace points go
        // first, as they would inside a body forked here.
        Some(waiting) => {
            if step.trace {
                let _ = protocol::send(step.channel, &Message::Trace(trace::points()), &[]);
            }
            let handoff = waiting.handoff;
            let (body, forwarded) =
                step.run("start the waiting body", waiting.start(time_namespace));
            (body, forwarded, Some(handoff))
        }
        None => {
            let forwarded = step.run(
                "block the signals init forwards",
                namespaces::block_forwarded_signals(),
            );
            // The page the body shares with the seccomp supervisor forked after it.
            let handoff = seccomp::load::supervised(plan.seccomp.as_ref()).map(|_| {
                step.run(
                    "share a page with the seccomp supervisor",
                    seccomp::load::handoff_page(),
                )
            });
            match step.run("fork the body", namespaces::fork()) {
                None => {
                    coverage::forget_inherited();
                    step.run("close the init's status socket", close_status());
                    step.run("unblock signals", namespaces::unblock_signals(&forwarded));
                    if let (Some(network), Some((init_end, body_end))) = (network, control) {
                        drop(init_end);
                        // The body runs on the first host.
                        step.run("enter the first host", network.enter(0));
                        drop(network);
                        step.run(
                            "connect to the hosts' init",
                            net::client::connect(&plan.hosts, body_end),
                        );
                    }
                    body_process(plan, step, handoff)
                }
                Some(body) => (body, forwarded, handoff),
            }
        }
    };
    // While the body takes its own steps: it waits for its supervisor only before its
    // filter.
    if let (Some(filter), Some(handoff)) =
        (seccomp::load::supervised(plan.seccomp.as_ref()), handoff)
    {
        step.run(
            "fork the seccomp supervisor",
            seccomp::load::start_supervisor(filter, handoff, body, step.channel, encode),
        );
    }
    let status = match (&mut network, control) {
        (Some(network), Some((init_end, body_end))) => {
            drop(body_end);
            let mut fork = |network: &net::hosts::Network, process| {
                fork_host_process(plan, step, network, process)
            };
            net::service::serve(network, init_end, body, &forwarded, &mut fork)
        }
        _ => namespaces::reap_and_forward(body, &forwarded),
    };
    // SAFETY: fd 4 is the status socket in the init (`install_standard_fds`).
    let status_socket = unsafe { BorrowedFd::borrow_raw(STATUS_FD) };
    // First, before anything else of the sandbox ends: a seccomp supervisor killed below
    // is not one killed while the body ran.
    let _ = protocol::send(status_socket, &Message::BodyExited(status), &[]);
    if plan.limits.limits.cpu.is_some() {
        let cpu_time = limits::reaped_cpu_time();
        let _ = protocol::send(status_socket, &Message::BodyUsage { cpu_time }, &[]);
    }
    // What the body left behind (and the seccomp supervisor) is killed and reaped before
    // the test thread hears that nothing is left: it returns the verdict then, without
    // waiting for the namespaces to be torn down.
    namespaces::kill_and_reap_the_rest();
    let _ = protocol::send(status_socket, &Message::NothingLeft, &[]);
    exit(0)
}

/// Pid 2: sheds everything the test should not have, then runs the body. `handoff`: the
/// page it shares with the seccomp supervisor the init forks after it, if any.
fn body_process(plan: &Plan, step: &Steps, handoff: Option<seccomp::load::Handoff>) -> ! {
    step.run("prepare to send the coverage counts", coverage::start());
    shed_privileges(plan, step, handoff);
    if step.trace {
        let _ = protocol::send(step.channel, &Message::Trace(trace::points()), &[]);
    }
    body::run(plan.entry, plan.body, step.channel)
}

/// Forks the keeper of a process on a host for `net::Host::spawn`; returns the keeper's pid
/// (the child never returns).
fn fork_host_process(
    plan: &Plan,
    step: &Steps,
    network: &net::hosts::Network,
    process: net::service::HostProcess,
) -> Result<Pid, StepError> {
    match namespaces::fork()? {
        Some(keeper) => Ok(keeper),
        None => {
            coverage::forget_inherited();
            keeper(plan, step, network, process)
        }
    }
}

/// A host process's keeper: a sub-reaper that forks it, so that what it starts stays in its
/// tree; reports how it ended, reaps the tree, and kills it all on `Spawned::kill`.
fn keeper(
    plan: &Plan,
    step: &Steps,
    network: &net::hosts::Network,
    process: net::service::HostProcess,
) -> ! {
    // prctl PR_SET_CHILD_SUBREAPER
    step.run("adopt the tree's orphans", process_tree::become_subreaper());
    let report = step.run(
        "keep the verdict socket",
        net::service::verdict_copy(&process),
    );
    match step.run("fork the host process", namespaces::fork()) {
        None => {
            coverage::forget_inherited();
            step.run("close the init's status socket", close_status());
            host_process(plan, step, network, process)
        }
        Some(pid) => {
            drop(process);
            let report = step.run(
                "close the init's descriptors",
                net::service::close_all_but(report),
            );
            step.run("prepare to send the coverage counts", coverage::start());
            process_tree::keep(pid, report, plan.seccomp.is_some());
            exit(0)
        }
    }
}

/// A process spawned on a host: like the body, on another host, reporting to the body.
fn host_process(
    plan: &Plan,
    step: &Steps,
    network: &net::hosts::Network,
    process: net::service::HostProcess,
) -> ! {
    step.run(
        "unblock signals",
        namespaces::unblock_signals(&namespaces::forwarded_signals()),
    );
    step.run(
        "send the output to the init",
        net::service::install_output(&process),
    );
    step.run("lead a process group", namespaces::new_process_group());
    step.run("enter the host", network.enter(process.host));
    // unshare --mount; mount -t sysfs sysfs /sys: the host's own interfaces
    step.run("mount the host's /sys", filesystem::mount_own_sysfs());
    let verdict = step.run(
        "close the init's descriptors",
        net::service::close_all_but(process.verdict),
    );
    step.run("prepare to send the coverage counts", coverage::start());
    // Its seccomp supervisor, if any, it forks itself.
    shed_privileges(plan, step, None);
    body::run(process.entry, process.func, verdict.as_fd())
}

/// The body's steps (and a host process's): everything above needs root in the user
/// namespace; nothing after does.
fn shed_privileges(plan: &Plan, step: &Steps, handoff: Option<seccomp::load::Handoff>) {
    // Undo what the init set for itself: the body's own /proc/self belongs to it again
    // (a user namespace of its own writes its maps there), and its subprocesses can be
    // traced and dumped as usual.
    step.run("become dumpable again", capabilities::set_dumpable(true));
    step.run(
        "keep the channel from subprocesses",
        set_cloexec(step.channel),
    );
    step.run(
        "set the environment",
        body::set_environment(plan.env.as_deref()),
    );
    step.run(
        "enter the working directory",
        filesystem::enter_workdir(&plan.workdir),
    );
    // Read-only mounts (the kernel's knobs, the host) stay read-only without a step of
    // their own: the body keeps no capability, and the kernel locks the mounts of any
    // namespace it could create. With a `pids` rlimit, the body gets a user namespace of
    // its own, where RLIMIT_NPROC counts its tasks and not the init's.
    if limits::needs_own_user_namespace(&plan.limits) {
        step.run(
            "enter a user namespace of the body's own",
            namespaces::enter_own_user_namespace(),
        );
    }
    // Everything above needed root in the user namespace; nothing below does.
    step.run("drop capabilities", capabilities::drop_all());
    step.run("set no_new_privs", capabilities::set_no_new_privs());
    // After the environment: it preloads the clock library into subprocesses.
    step.run("move the wall clock", time::move_wall_clock(&plan.time));
    step.run(
        "apply the limits",
        limits::apply_rlimits(&plan.limits).map_err(StepError::from),
    );
    step.run("catch the body's panics", body::catch_panics());
    // Before any filtered call, the test thread watches the seccomp supervisor the init
    // forked while the body took the steps above.
    let supervisor = step.run(
        "wait for the seccomp supervisor",
        seccomp::load::wait_for_supervisor(plan.seccomp.as_ref(), handoff),
    );
    // Last, so that nothing of the harness's own preparation runs under the filter.
    let note = step.run(
        "load the seccomp filter",
        seccomp::load::load_in_body(plan.seccomp.as_ref(), supervisor, step.channel, encode),
    );
    if let Some(note) = note {
        let _ = protocol::send(step.channel, &Message::Note(note), &[]);
    }
}

/// A seccomp event as the protocol's message.
fn encode(event: &seccomp::SeccompEvent) -> Vec<u8> {
    serde_json::to_vec(&Message::Seccomp(event.clone())).unwrap_or_default()
}

/// Runs steps, reporting the first failure on the channel and ending the process.
struct Steps<'a> {
    channel: BorrowedFd<'a>,
    /// Record when each step ends (`SANDBOX_TEST_TRACE`).
    trace: bool,
}

impl Steps<'_> {
    fn run<T>(&self, name: &'static str, result: Result<T, StepError>) -> T {
        let message = match result {
            Ok(value) => {
                if self.trace {
                    trace::mark(name);
                }
                return value;
            }
            Err(StepError::Sys(detail, errno)) => Message::SetupFailed(SetupFailure {
                step: name.to_owned(),
                errno: Some(errno as i32),
                detail,
            }),
            Err(StepError::Other(detail)) => Message::SetupFailed(SetupFailure {
                step: name.to_owned(),
                errno: None,
                detail,
            }),
            Err(StepError::Unsupported(reason)) => Message::Unsupported { reason },
        };
        let _ = protocol::send(self.channel, &message, &[]);
        exit(SETUP_FAILED)
    }
}

/// In a process that waits before its request: keeps `socket` alone open beyond the
/// standard fds, on fd 3 (where the request's channel will replace it).
fn keep_only(socket: OwnedFd) -> Result<BorrowedFd<'static>, Errno> {
    let socket = kernel::move_fd(socket, CHANNEL_FD)?;
    kernel::close_from(CHANNEL_FD + 1)?;
    Ok(socket)
}

/// Puts /dev/null on 0, stdout on 1, stderr on 2, the channel on 3, the status socket (if
/// given) on 4, the plan (if kept) on 5, and closes every other fd inherited from the fork
/// server (other tests' channels among them), but a prepared init's fd 6.
fn install_standard_fds(
    channel: OwnedFd,
    status: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
    plan: Option<OwnedFd>,
) -> Result<BorrowedFd<'static>, Errno> {
    let null = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: `open` returned a new fd that nothing else owns.
    let null = unsafe { OwnedFd::from_raw_fd(null) };
    let kept_plan = plan.is_some();
    let sources = [
        Some(null),
        Some(stdout),
        Some(stderr),
        Some(channel),
        status,
        plan,
    ];
    // Lift the sources above the targets first, so that no dup2 clobbers a source.
    let lifted: Vec<Option<OwnedFd>> = sources
        .iter()
        .map(|fd| {
            fd.as_ref()
                .map(|fd| nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_DUPFD(10)))
                .transpose()
        })
        // SAFETY: F_DUPFD returned a new fd that nothing else owns.
        .map(|fd| fd.map(|fd| fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })))
        .collect::<Result<_, _>>()?;
    drop(sources);
    for (target, fd) in lifted.iter().enumerate() {
        match fd {
            Some(fd) => drop(nix::unistd::dup2(fd.as_raw_fd(), target as RawFd)?),
            // Not given: nothing stays open there.
            None => drop(nix::unistd::close(target as RawFd)),
        }
    }
    drop(lifted);
    // Nothing in this fresh process uses the fds above the ones we keep (with the plan, a
    // prepared init's: its socket to its waiting body too).
    kernel::close_from(match kept_plan {
        true => WAITING_BODY_FD + 1,
        false => PLAN_FD + 1,
    })?;
    // SAFETY: fd 3 is the channel, installed above and kept open for the process's life.
    Ok(unsafe { BorrowedFd::borrow_raw(CHANNEL_FD) })
}

/// In every process the init forks, first thing: the status socket is the init's alone.
fn close_status() -> Result<(), StepError> {
    nix::unistd::close(STATUS_FD)?;
    Ok(())
}

fn set_cloexec(fd: BorrowedFd<'_>) -> Result<(), StepError> {
    nix::fcntl::fcntl(
        fd.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    Ok(())
}

/// Leaves a sandbox process: first its coverage counts go to the test process (in an
/// instrumented build), then `_exit`, which skips the test process's exit handlers (the
/// profile runtime's among them, which would write a file inside the sandbox).
fn exit(code: i32) -> ! {
    // SAFETY: fd 3 is the channel in every sandbox process (`install_standard_fds`).
    coverage::send(unsafe { BorrowedFd::borrow_raw(CHANNEL_FD) });
    step::exit(code)
}
