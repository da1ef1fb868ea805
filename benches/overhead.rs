//! `cargo bench --bench overhead [-- RUNS]`: what a sandbox costs per test.
//!
//! Ways to run an empty test body, RUNS times each (default 500), interleaved, on a fresh
//! thread each time (libtest runs every test on a thread of its own):
//! - plain: the body called on the thread, as a plain `#[test]` is;
//! - sandboxed: `Sandbox::run`, which is what `#[sandboxed]` calls (the default sandbox,
//!   baseline seccomp filter included), two lighter variants that show what the
//!   network namespace and the filter cost, and a `deny` list (whose violations go
//!   through the notification supervisor, one more process per test);
//! - raw: fork, unshare the same seven namespaces, map root, fork pid 1, wait — the
//!   kernel's floor for the same isolation, without the harness.

use std::time::{Duration, Instant};

use sandbox_test::{NetMode, Sandbox};

fn empty_body() {}

fn median_and_p90(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() * 9 / 10])
}

/// One run of `one` on a fresh thread, timed on that thread.
fn time_once(one: fn()) -> Duration {
    std::thread::spawn(move || {
        let start = Instant::now();
        one();
        start.elapsed()
    })
    .join()
    .unwrap()
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

fn sandboxed_host_network() {
    Sandbox::new()
        .net(NetMode::Host)
        .run(empty_body)
        .assert_passed();
}

fn raw() {
    use nix::sched::CloneFlags;
    let flags = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWCGROUP;
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    // SAFETY: the child only makes system calls and leaves with _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => unsafe {
            let ok = nix::sched::unshare(flags).is_ok()
                && std::fs::write("/proc/self/setgroups", "deny").is_ok()
                && std::fs::write("/proc/self/uid_map", format!("0 {uid} 1")).is_ok()
                && std::fs::write("/proc/self/gid_map", format!("0 {gid} 1")).is_ok();
            if !ok {
                libc::_exit(1);
            }
            match nix::unistd::fork() {
                Ok(nix::unistd::ForkResult::Child) => libc::_exit(0),
                Ok(nix::unistd::ForkResult::Parent { child }) => {
                    let ok = nix::sys::wait::waitpid(child, None).is_ok();
                    libc::_exit(if ok { 0 } else { 1 })
                }
                Err(_) => libc::_exit(1),
            }
        },
        nix::unistd::ForkResult::Parent { child } => {
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
        }
    }
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse().expect("RUNS is a number"))
        .unwrap_or(500);
    println!("per-test cost over {runs} runs each, interleaved (median / p90):");
    let variants = [
        ("plain #[test]", plain as fn()),
        ("#[sandboxed]", sandboxed),
        ("  seccomp = \"off\"", sandboxed_without_seccomp),
        ("  net = \"host\"", sandboxed_host_network),
        ("  seccomp(deny)", sandboxed_deny_list),
        ("raw fork+unshare", raw),
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
    for ((name, _), samples) in variants.iter().zip(samples) {
        let (median, p90) = median_and_p90(samples);
        println!(
            "  {name:<20} {:>9.3} ms / {:>9.3} ms",
            median.as_secs_f64() * 1e3,
            p90.as_secs_f64() * 1e3
        );
    }
}
