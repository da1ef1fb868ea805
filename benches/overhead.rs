//! `cargo bench --bench overhead [-- RUNS]`: what a sandbox costs per test.
//!
//! 1. Latency: ways to run an empty test body, RUNS times each (default 500), interleaved
//!    round-robin, each on a fresh thread (libtest runs every test on a thread of its own),
//!    timed from before the thread is spawned to after it is joined:
//!    - plain: the body called on the thread, as a plain `#[test]` is;
//!    - `Sandbox::run` (what `#[sandboxed]` calls): the default sandbox (baseline seccomp
//!      filter), `seccomp = "off"`, `net = "host"`, Docker's default profile, and a
//!      `deny` list (whose violations go through the notification supervisor, one more
//!      process per test);
//!    - rusty-fork 0.3 (re-executes the test binary for the one test; no namespaces);
//!    - the floor: fork → unshare of the namespaces a default sandbox has (user, pid,
//!      mount, uts, ipc, net, cgroup; no time namespace unless asked) → uid/gid map → fork pid 1 →
//!      mount /proc → lo up → exit, written straight on the system calls; and the same
//!      without the network namespace (the floor of `net = "host"`).
//!
//!    The ratios of the targets are computed on the cost *over a plain test*.
//! 2. Throughput of the default sandbox with 1 and 2 test threads, in alternating blocks.
//! 3. The same default sandbox from a harness holding 1 GiB and 16 threads, in blocks
//!    alternating with the small harness.
//! 4. CPU per test: the busy time of all cores (`/proc/stat`) over RUNS tests in a row of
//!    the default sandbox, `net = "host"` and the two floors, and from it the most two test
//!    threads can gain over one on this machine.
//!
//! `cargo bench --bench overhead -- steps [default|host|docker]` instead prints the
//! median time of every setup step (from `SANDBOX_TEST_TRACE=1`) over RUNS sandboxes.
//! Arguments are words, not flags, because rusty-fork re-executes this binary with them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use sandbox_test::{NetMode, Sandbox};

const DOCKER_PROFILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/seccomp/moby-default.json"
);

fn empty_body() {}

fn median_and_p90(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() * 9 / 10])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One test: spawn a thread, run `one` on it, join.
fn time_once(one: fn()) -> Duration {
    let start = Instant::now();
    std::thread::spawn(one).join().unwrap();
    start.elapsed()
}

fn plain() {
    let _ = std::panic::catch_unwind(empty_body);
}

fn sandboxed() {
    Sandbox::new().run(empty_body).assert_passed();
}

fn sandboxed_without_seccomp() {
    Sandbox::new().seccomp_off().run(empty_body).assert_passed();
}

fn sandboxed_deny_list() {
    Sandbox::new()
        .seccomp_deny(sandbox_test::seccomp::Rules::new(["socket"]).unwrap())
        .unwrap()
        .run(empty_body)
        .assert_passed();
}

fn sandboxed_two_hosts() {
    Sandbox::new()
        .hosts(["app", "db"])
        .unwrap()
        .run(empty_body)
        .assert_passed();
}

fn sandboxed_four_hosts() {
    Sandbox::new()
        .hosts(["a", "b", "c", "d"])
        .unwrap()
        .run(empty_body)
        .assert_passed();
}

fn sandboxed_host_network() {
    Sandbox::new()
        .net(NetMode::Host)
        .run(empty_body)
        .assert_passed();
}

/// As `#[sandboxed(seccomp_profile = "...")]` does it: the builder call on every test.
fn sandboxed_docker_profile() {
    Sandbox::new()
        .seccomp_profile(DOCKER_PROFILE)
        .unwrap()
        .run(empty_body)
        .assert_passed();
}

const RUSTY_FORK_TEST: &str = "rusty_fork_empty";

/// What `rusty_fork_test!` generates for an empty test: re-execute this binary for the
/// one test and wait for it. In the re-executed child, the same call runs the body.
fn rusty_fork() {
    rusty_fork::fork(
        RUSTY_FORK_TEST,
        rusty_fork::rusty_fork_id!(),
        |_| {},
        |child, _| {
            let status = child.wait().expect("waiting for rusty-fork's child");
            assert!(status.success(), "rusty-fork's child failed: {status:?}");
        },
        empty_body,
    )
    .expect("rusty-fork");
}

/// Exits the calling child with 1 if `ok` is false.
fn check(ok: bool) {
    if !ok {
        // SAFETY: leaving a forked child at once.
        unsafe { libc::_exit(1) }
    }
}

fn bring_lo_up() -> bool {
    // SAFETY: plain socket and ioctls on a zeroed ifreq naming `lo`.
    unsafe {
        let socket = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        let mut request: libc::ifreq = std::mem::zeroed();
        request.ifr_name[0] = b'l' as libc::c_char;
        request.ifr_name[1] = b'o' as libc::c_char;
        let ok = libc::ioctl(socket, libc::SIOCGIFFLAGS, &mut request) == 0 && {
            request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            libc::ioctl(socket, libc::SIOCSIFFLAGS, &request) == 0
        };
        libc::close(socket);
        ok
    }
}

/// The kernel's floor for the sandbox's isolation, without any harness.
fn floor(with_net: bool) {
    let mut flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWCGROUP;
    if with_net {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let uid_map = format!("0 {} 1", nix::unistd::getuid());
    let gid_map = format!("0 {} 1", nix::unistd::getgid());
    // SAFETY: the children only make system calls and leave with _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            check(nix::sched::unshare(flags).is_ok());
            check(std::fs::write("/proc/self/setgroups", "deny").is_ok());
            check(std::fs::write("/proc/self/uid_map", &uid_map).is_ok());
            check(std::fs::write("/proc/self/gid_map", &gid_map).is_ok());
            match unsafe { nix::unistd::fork() } {
                Ok(nix::unistd::ForkResult::Child) => {
                    use nix::mount::{mount, MsFlags};
                    let proc_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
                    check(
                        mount(
                            Some("proc"),
                            "/proc",
                            Some("proc"),
                            proc_flags,
                            None::<&str>,
                        )
                        .is_ok(),
                    );
                    check(!with_net || bring_lo_up());
                    unsafe { libc::_exit(0) }
                }
                Ok(nix::unistd::ForkResult::Parent { child }) => {
                    let status = nix::sys::wait::waitpid(child, None);
                    let ok = status == Ok(nix::sys::wait::WaitStatus::Exited(child, 0));
                    unsafe { libc::_exit(if ok { 0 } else { 1 }) }
                }
                Err(_) => unsafe { libc::_exit(1) },
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
        }
    }
}

fn floor_with_net() {
    floor(true)
}

fn floor_without_net() {
    floor(false)
}

struct Row {
    name: &'static str,
    median: Duration,
    p90: Duration,
}

fn latency(runs: usize) -> Vec<Row> {
    let variants: [(&'static str, fn()); 11] = [
        ("plain #[test]", plain),
        ("#[sandboxed]", sandboxed),
        ("  seccomp = \"off\"", sandboxed_without_seccomp),
        ("  net = \"host\"", sandboxed_host_network),
        ("  net(hosts = 2)", sandboxed_two_hosts),
        ("  net(hosts = 4)", sandboxed_four_hosts),
        ("  Docker's default profile", sandboxed_docker_profile),
        ("rusty-fork 0.3", rusty_fork),
        ("floor", floor_with_net),
        ("floor without netns", floor_without_net),
        ("  seccomp(deny)", sandboxed_deny_list),
    ];
    // One warm-up run each, so that first-time page faults do not count.
    variants.iter().for_each(|(_, one)| one());
    // Round-robin, so that the machine's mood affects every variant alike.
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); variants.len()];
    for _ in 0..runs {
        for ((_, one), samples) in variants.iter().zip(&mut samples) {
            samples.push(time_once(*one));
        }
    }
    variants
        .iter()
        .zip(samples)
        .map(|((name, _), samples)| {
            let (median, p90) = median_and_p90(samples);
            Row { name, median, p90 }
        })
        .collect()
}

/// Tests per second running `tests` default sandboxes on `threads` test threads.
fn throughput(threads: usize, tests: usize) -> f64 {
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|worker| {
            std::thread::spawn(move || {
                for _ in (worker..tests).step_by(threads) {
                    time_once(sandboxed);
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().unwrap());
    tests as f64 / start.elapsed().as_secs_f64()
}

/// A harness grown to 1 GiB of touched heap and 16 more threads, until dropped.
struct BigHarness {
    _heap: Vec<u8>,
    release: Arc<Barrier>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BigHarness {
    fn grow() -> Self {
        let mut heap = vec![0u8; 1 << 30];
        heap.iter_mut().step_by(4096).for_each(|b| *b = 1);
        let release = Arc::new(Barrier::new(17));
        let threads = (0..16)
            .map(|_| {
                let release = Arc::clone(&release);
                std::thread::spawn(move || {
                    release.wait();
                })
            })
            .collect();
        BigHarness {
            _heap: heap,
            release,
            threads,
        }
    }
}

impl Drop for BigHarness {
    fn drop(&mut self) {
        self.release.wait();
        self.threads.drain(..).for_each(|t| t.join().unwrap());
    }
}

fn default_block(tests: usize) -> Vec<Duration> {
    (0..tests).map(|_| time_once(sandboxed)).collect()
}

/// Busy time of all CPUs so far, from `/proc/stat` (user, nice, system, irq, softirq).
fn busy_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").expect("reading /proc/stat");
    let line = stat.lines().next().expect("the cpu line of /proc/stat");
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().expect("a number in /proc/stat"))
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6].iter().map(|&i| ticks[i]).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_micros(busy * 1_000_000 / hz)
}

/// CPU time (all cores, whatever process spent it: the sandboxes' and the kernel's work
/// for them) and wall time per test, over `tests` tests in a row.
fn cpu_per_test(one: fn(), tests: usize) -> (Duration, Duration) {
    one();
    let (cpu, wall) = (busy_cpu_time(), Instant::now());
    (0..tests).for_each(|_| {
        time_once(one);
    });
    let per = |d: Duration| d / tests as u32;
    (per(busy_cpu_time() - cpu), per(wall.elapsed()))
}

/// `steps` mode: runs this binary again with `SANDBOX_TEST_TRACE=1`, and prints the median
/// time each step takes.
fn steps(variant: &str, runs: usize) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["steps-child", variant, &runs.to_string()])
        .env("SANDBOX_TEST_TRACE", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut order: Vec<String> = Vec::new();
    let mut deltas: HashMap<String, Vec<f64>> = HashMap::new();
    let mut totals: Vec<f64> = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 4 || fields[0] != "sandbox-test trace" {
            eprintln!("{line}");
            continue;
        }
        let (name, since_start, delta) = (fields[1], fields[2], fields[3]);
        if !deltas.contains_key(name) {
            order.push(name.to_owned());
        }
        deltas
            .entry(name.to_owned())
            .or_default()
            .push(delta.parse().unwrap());
        if name == "test thread: verdict" {
            totals.push(since_start.parse().unwrap());
        }
    }
    assert!(child.wait().unwrap().success());
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    println!("median µs each step took, over {runs} `{variant}` sandboxes (SANDBOX_TEST_TRACE=1):");
    for name in order {
        let values = deltas.get_mut(&name).unwrap();
        println!("  {:>8.1}  {name}", median(values));
    }
    println!("  {:>8.1}  total (request to verdict)", median(&mut totals));
}

fn steps_child(variant: &str, runs: usize) {
    let one: fn() = match variant {
        "default" => sandboxed,
        "host" => sandboxed_host_network,
        "docker" => sandboxed_docker_profile,
        "off" => sandboxed_without_seccomp,
        "floor" => floor_with_net,
        "floor-host" => floor_without_net,
        "plain" => plain,
        other => {
            panic!("unknown variant {other} (default, host, docker, off, floor, floor-host, plain)")
        }
    };
    for _ in 0..runs {
        time_once(one);
    }
}

fn main() {
    // In the child rusty-fork started, this runs the body and exits.
    if std::env::var_os("RUSTY_FORK_OCCURS").is_some() {
        rusty_fork();
    }
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let number = |default| words.iter().find_map(|w| w.parse().ok()).unwrap_or(default);
    let variant = words
        .iter()
        .skip(1)
        .find(|w| w.parse::<usize>().is_err())
        .map_or("default", String::as_str);
    match words.first().map(String::as_str) {
        Some("steps") => return steps(variant, number(300)),
        Some("steps-child") => return steps_child(variant, number(300)),
        _ => {}
    }
    static RUNS: OnceLock<usize> = OnceLock::new();
    let runs = *RUNS.get_or_init(|| number(500));

    println!("per-test cost over {runs} runs each, interleaved (median / p90, wall clock):");
    let rows = latency(runs);
    let plain = rows[0].median;
    for row in &rows {
        println!(
            "  {:<28} {:>7.3} ms / {:>7.3} ms",
            row.name,
            ms(row.median),
            ms(row.p90)
        );
    }
    // By name, not position: rows are added to the table above from time to time.
    let over = |name: &str| {
        let row = rows
            .iter()
            .find(|row| row.name.trim() == name)
            .unwrap_or_else(|| panic!("no row {name:?} in the table"));
        ms(row.median.saturating_sub(plain))
    };
    let (default, off, host, docker, rusty, floor, floor_no_net) = (
        over("#[sandboxed]"),
        over("seccomp = \"off\""),
        over("net = \"host\""),
        over("Docker's default profile"),
        over("rusty-fork 0.3"),
        over("floor"),
        over("floor without netns"),
    );

    let blocks = 3;
    let per_block = (runs / 5).max(20);
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..blocks {
        one.push(throughput(1, per_block));
        two.push(throughput(2, per_block));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (one, two) = (mean(&one), mean(&two));
    println!("throughput of #[sandboxed], {blocks} alternating blocks of {per_block} tests:");
    println!("  1 test thread   {one:>7.1} tests/s");
    println!("  2 test threads  {two:>7.1} tests/s");

    let (mut small, mut big) = (Vec::new(), Vec::new());
    for _ in 0..blocks {
        small.extend(default_block(per_block));
        let harness = BigHarness::grow();
        big.extend(default_block(per_block));
        drop(harness);
    }
    let (small, _) = median_and_p90(small);
    let (big, big_p90) = median_and_p90(big);
    println!("#[sandboxed] from a harness holding 1 GiB and 16 threads ({blocks} alternating blocks of {per_block}):");
    println!("  small harness   {:>7.3} ms", ms(small));
    println!(
        "  1 GiB + 16 thr  {:>7.3} ms / {:>7.3} ms p90",
        ms(big),
        ms(big_p90)
    );

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "CPU per test, all {cores} cores (/proc/stat, {runs} tests in a row each; what the \
         sandbox's processes and the kernel spend, in the background too):"
    );
    let mut default_cpu = Duration::ZERO;
    for (name, one) in [
        ("#[sandboxed]", sandboxed as fn()),
        ("net = \"host\"", sandboxed_host_network),
        ("floor", floor_with_net),
        ("floor without netns", floor_without_net),
    ] {
        let (cpu, wall) = cpu_per_test(one, runs);
        if name == "#[sandboxed]" {
            default_cpu = cpu;
        }
        println!(
            "  {name:<22} {:>6.3} ms CPU over {:>6.3} ms wall: {:.2} cores busy",
            ms(cpu),
            ms(wall),
            cpu.as_secs_f64() / wall.as_secs_f64()
        );
    }
    // What two threads can reach at most: all cores busy with sandboxes at the CPU cost
    // one thread's run showed.
    let ceiling = cores.min(2) as f64 / (default_cpu.as_secs_f64() * one);
    println!(
        "  two threads can reach at most {ceiling:.2}× one: {} cores ÷ ({:.3} ms CPU per test × {one:.1} tests/s)",
        cores.min(2),
        ms(default_cpu)
    );

    println!("targets (costs over a plain test, medians of this run):");
    let (big, small) = (ms(big), ms(small));
    // (what, value, unit, goal, met)
    let targets = [
        (
            "#[sandboxed] / floor",
            default / floor,
            "×",
            "≤ 1.25×",
            default / floor <= 1.25,
        ),
        (
            "#[sandboxed] / rusty-fork",
            default / rusty,
            "×",
            "< 1×",
            default < rusty,
        ),
        (
            "net = \"host\" / floor without netns",
            host / floor_no_net,
            "×",
            "≤ 1.25×",
            host / floor_no_net <= 1.25,
        ),
        (
            "rusty-fork / net = \"host\"",
            rusty / host,
            "×",
            "≥ 2×",
            rusty / host >= 2.0,
        ),
        (
            "throughput, 2 threads / 1 thread",
            two / one,
            "×",
            "≥ 1.7×",
            two / one >= 1.7,
        ),
        (
            "1 GiB + 16 threads harness / small harness",
            big / small,
            "×",
            "≤ 1.1×",
            big / small <= 1.1,
        ),
        (
            "Docker's default profile − seccomp off",
            docker - off,
            " ms",
            "≤ 0.3 ms",
            docker - off <= 0.3,
        ),
        (
            "baseline filter (#[sandboxed] − seccomp off)",
            default - off,
            " ms",
            "≤ 0.1 ms",
            default - off <= 0.1,
        ),
    ];
    for (what, value, unit, goal, met) in targets {
        let value = format!("{value:.2}{unit}");
        let verdict = if met { "met" } else { "NOT met" };
        println!("  {what:<44} {value:>10}   target {goal:<8} {verdict}");
    }
}
