//! A tour of sandbox-test: `cargo run --example tour`.
//!
//! Runs three sandboxes through the programmatic API and prints what happened: the
//! sandbox's own view of the machine, a passing body, and a failure report.

use std::time::Duration;

use sandbox_test::{Outcome, Sandbox};

/// Prints what the world looks like from inside.
fn look_around() {
    let pids: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .parse::<u32>()
                .ok()
                .map(|p| p.to_string())
        })
        .collect();
    let interfaces: Vec<String> = interfaces();
    println!(
        "  pid:        {} (processes in /proc: {})",
        std::process::id(),
        pids.join(", ")
    );
    println!(
        "  uid:        {}",
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap()
    );
    println!(
        "  hostname:   {}",
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
    );
    println!("  interfaces: {}", interfaces.join(", "));
    println!(
        "  /tmp:       {} entries",
        std::fs::read_dir("/tmp").unwrap().count()
    );
}

/// Interface names from /proc/net/dev (the sandbox's own network namespace).
fn interfaces() -> Vec<String> {
    std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .skip(2)
        .filter_map(|l| Some(l.split(':').next()?.trim().to_owned()))
        .collect()
}

fn passes() {
    let listener = std::net::TcpListener::bind("127.0.0.1:8080").unwrap();
    println!(
        "  bound {} — the host's port 8080 is untouched",
        listener.local_addr().unwrap()
    );
}

fn fails() {
    let parsed: u32 = "forty-two".parse().unwrap_or(41);
    assert_eq!(parsed, 42, "the parser fell back to its default");
}

fn main() -> Result<(), sandbox_test::OptionError> {
    println!(
        "The host: pid {}, hostname {}",
        std::process::id(),
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
    );

    println!("\n1. The sandbox's own view:");
    let report = Sandbox::new().run(look_around);
    print!("{}", report.stdout.text());
    println!("   outcome: {}", report.outcome);

    println!("\n2. A passing body that binds a fixed port:");
    let report = Sandbox::new().hostname("tour")?.run(passes);
    print!("{}", report.stdout.text());
    println!("   outcome: {}", report.outcome);

    println!("\n3. A failing body, and the report a test would show:");
    let report = Sandbox::new().timeout(Duration::from_secs(10)).run(fails);
    for line in report.outcome.to_string().lines() {
        println!("   {line}");
    }
    if let Outcome::Unsupported { .. } | Outcome::SetupFailed(_) = report.outcome {
        std::process::exit(1);
    }
    Ok(())
}
