//! Testing error paths without mocks: the kernel itself fails the calls. Run with
//! `cargo run --example fault_injection`.
//!
//! In a test suite the same rules are one attribute away:
//! `#[sandboxed(inject(syscall = "write", errno = "ENOSPC", when = "3+", path = "/tmp/app/*"))]`.

use std::io::Write;
use std::time::{Duration, Instant};

use sandbox_test::{Errno, Fault, Inject, Sandbox, When};

/// Code under test: appends records, and must say which one did not make it to disk.
fn append_records(path: &str, count: usize) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("open {path}: {e}"))?;
    for i in 1..=count {
        file.write_all(format!("record {i}\n").as_bytes())
            .map_err(|e| format!("record {i} was not written: {e}"))?;
    }
    file.sync_all().map_err(|e| format!("sync: {e}"))
}

fn disk_fills_up() {
    std::fs::create_dir("/tmp/app").unwrap();
    let result = append_records("/tmp/app/log", 5);
    println!("append_records: {result:?}");
    assert_eq!(
        result,
        Err("record 3 was not written: No space left on device (os error 28)".into())
    );
}

fn sync_fails() {
    let result = append_records("/tmp/log", 2);
    println!("append_records: {result:?}");
    assert!(result.unwrap_err().starts_with("sync:"));
}

fn slow_disk() {
    std::fs::write("/tmp/slow", b"data").unwrap();
    let started = Instant::now();
    let _ = std::fs::read("/tmp/slow").unwrap();
    println!("reading /tmp/slow took {:?}", started.elapsed());
}

fn main() -> Result<(), sandbox_test::seccomp::SeccompError> {
    println!("== write fails with ENOSPC from the 3rd write under /tmp/app on");
    let report = Sandbox::new()
        .inject(
            Inject::new("write", Fault::Errno(Errno::ENOSPC))
                .when(When::from_nth(3))
                .path("/tmp/app/*"),
        )?
        .run(disk_fills_up);
    print!("{}", report.stdout.text());
    println!("outcome: {}", report.outcome);
    for injection in &report.seccomp.injected {
        println!("{injection}");
    }

    println!("\n== fsync and fdatasync fail with EIO");
    let report = Sandbox::new()
        .inject(Inject::new("fsync", Fault::Errno(Errno::EIO)))?
        .inject(Inject::new("fdatasync", Fault::Errno(Errno::EIO)))?
        .run(sync_fails);
    print!("{}", report.stdout.text());
    println!("outcome: {}", report.outcome);

    println!("\n== every read of /tmp/slow runs 200ms late");
    let report = Sandbox::new()
        .inject(Inject::new("read", Fault::Delay(Duration::from_millis(200))).path("/tmp/slow"))?
        .run(slow_disk);
    print!("{}", report.stdout.text());
    println!(
        "outcome: {}, {} reads delayed",
        report.outcome,
        report.seccomp.injected.len()
    );
    Ok(())
}
