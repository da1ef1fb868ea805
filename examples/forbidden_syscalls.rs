//! Proving that code avoids forbidden syscalls, and what the report looks like when it
//! does not. Run with `cargo run --example forbidden_syscalls`.
//!
//! In a test suite the same policies are one attribute away:
//! `#[sandboxed(seccomp(deny = ["@network-io"]))]`,
//! `#[sandboxed(seccomp(profile = "docker-default.json"))]`, ...

use sandbox_test::seccomp::{OnViolation, Rules, SeccompError};
use sandbox_test::{Errno, Outcome, Sandbox};

/// Code that should never touch the network, but does.
fn phones_home() {
    let _ = std::net::TcpStream::connect("127.0.0.1:9");
}

/// Code that runs a program, which opens a socket.
fn runs_a_program_that_phones_home() {
    let _ = std::process::Command::new("python3")
        .args(["-c", "import socket; socket.socket()"])
        .status();
}

/// Code that tries a privileged call and copes with EPERM.
fn tries_to_mount() {
    // SAFETY: a mount attempt with static strings.
    let rc = unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/mnt".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    println!("mount returned {rc}: {}", std::io::Error::last_os_error());
}

fn main() -> Result<(), SeccompError> {
    println!("== deny = [\"@network-io\"], on_violation = \"fail\"");
    let report = Sandbox::new()
        .seccomp_deny(Rules::new(["@network-io"])?)?
        .run(phones_home);
    println!("{}\n", report.outcome);
    assert!(matches!(report.outcome, Outcome::SeccompViolation(_)));

    println!("== the same, on_violation = \"errno\": the call fails, the body goes on");
    let report = Sandbox::new()
        .seccomp_deny(Rules::new(["@network-io"])?.on_violation(OnViolation::Errno(Errno::EPERM)))?
        .run(phones_home);
    println!("outcome: {}", report.outcome);
    for v in &report.seccomp.violations {
        println!("violation: {v}");
    }
    println!();

    println!("== a program the body runs: its call fails the test too, naming it");
    let report = Sandbox::new()
        .seccomp_deny(Rules::new(["@network-io"])?)?
        .run(runs_a_program_that_phones_home);
    println!("{}\n", report.outcome);

    println!("== on_violation = \"kill\"");
    let report = Sandbox::new()
        .seccomp_deny(Rules::new(["@network-io"])?.on_violation(OnViolation::Kill))?
        .run(phones_home);
    println!("{}\n", report.outcome);

    println!("== Docker's default profile: mount is refused with EPERM");
    let profile = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seccomp/moby-default.json"
    );
    let report = Sandbox::new().seccomp_profile(profile)?.run(tries_to_mount);
    print!("{}", report.stdout.text());
    println!("outcome: {}", report.outcome);
    for v in &report.seccomp.violations {
        println!("violation: {v}");
    }
    Ok(())
}
