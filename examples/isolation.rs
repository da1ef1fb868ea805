//! Network modes, filesystem isolation and resource limits, with the programmatic API.
//!
//! `cargo run --example isolation` runs a few bodies in sandboxes and prints what each
//! outcome says. The same options exist on the attribute:
//!
//! ```ignore
//! #[sandboxed(net = "none", readonly_root, writable = ["/var/cache/app"],
//!             hide = ["/run/user"], bind = ["/srv/fixtures:/tmp/fixtures:ro"],
//!             memory = "256M", pids = 64, cpu = "10s", files = 256)]
//! fn my_test() { /* ... */ }
//! ```

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use sandbox_test::{NetMode, Outcome, Sandbox};

/// Tries the parent's listener (its address comes in through the environment).
fn call_home() {
    let target = std::env::var("TARGET").unwrap();
    match TcpStream::connect(&target) {
        Ok(mut stream) => {
            stream.write_all(b"hello").unwrap();
            println!("reached {target}");
        }
        Err(e) => panic!("cannot reach {target}: {e}"),
    }
}

/// Tries to change a host file.
fn scribble() {
    let file = std::env::var("FILE").unwrap();
    std::fs::write(&file, "changed").unwrap_or_else(|e| panic!("writing {file}: {e}"));
}

/// Reads what the host mounted for it.
fn read_fixture() {
    let text = std::fs::read_to_string("/tmp/fixtures/greeting").unwrap();
    println!("fixture says {text:?}");
    std::fs::write("/tmp/fixtures/greeting", "overwritten").expect("a read-only bind");
}

fn memory_bomb() {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1; 1 << 20]);
    }
}

fn fork_bomb() {
    loop {
        // SAFETY: the children only sleep.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => loop {
                std::thread::sleep(Duration::from_secs(1));
            },
            Ok(_) => {}
            Err(errno) => panic!("fork: {errno}"),
        }
    }
}

fn busy_loop() {
    let mut x = 0u64;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

fn show(what: &str, outcome: &Outcome) {
    let text = outcome.to_string();
    // The sandbox's backtrace (when RUST_BACKTRACE is set) is not the point here.
    let text = text
        .split("\nbacktrace (from the sandbox)")
        .next()
        .unwrap_or_default();
    println!("{what}:\n    {}\n", text.replace('\n', "\n    "));
}

fn main() -> Result<(), sandbox_test::OptionError> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap().to_string();
    for mode in [NetMode::Loopback, NetMode::None, NetMode::Host] {
        let report = Sandbox::new()
            .net(mode)
            .env("TARGET", &target)
            .run(call_home);
        show(
            &format!("net = \"{mode}\", connecting to the parent's {target}"),
            &report.outcome,
        );
    }

    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let file = dir.path().join("precious");
    std::fs::write(&file, "original").unwrap();
    let report = Sandbox::new()
        .readonly_root()
        .env("FILE", &file)
        .run(scribble);
    show("readonly_root, writing a host file", &report.outcome);
    println!(
        "    the file still says {:?}\n",
        std::fs::read_to_string(&file).unwrap()
    );

    std::fs::write(dir.path().join("greeting"), "hello from the host").unwrap();
    let report = Sandbox::new()
        .bind_ro(dir.path(), "/tmp/fixtures")?
        .run(read_fixture);
    show("bind_ro, reading then writing", &report.outcome);

    let report = Sandbox::new().memory(64 << 20)?.run(memory_bomb);
    show("memory = \"64M\", a memory bomb", &report.outcome);

    let report = Sandbox::new().pids(32)?.run(fork_bomb);
    show("pids = 32, a fork bomb", &report.outcome);

    let report = Sandbox::new().cpu(Duration::from_secs(1))?.run(busy_loop);
    show("cpu = \"1s\", a busy loop", &report.outcome);
    Ok(())
}
