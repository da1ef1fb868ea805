//! Terminal and signals: a body can neither type into the user's terminal nor signal
//! anything outside its sandbox. Each case's host side is checked here, in the parent.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_test::{sandboxed, Outcome, Sandbox};

/// What the probes push into a terminal, one byte per TIOCSTI. Assembled at run time so
/// that the marker itself never appears in the probes' own output.
fn injection() -> String {
    format!("echo {}{}\n", "INJ", "ECTED")
}

/// Pushes `text` into the terminal behind `fd`, one byte per TIOCSTI. Ok when every byte
/// went in.
fn push(fd: i32, text: &str) -> std::io::Result<()> {
    for byte in text.bytes() {
        // SAFETY: TIOCSTI reads one byte from the pointer.
        if unsafe { libc::ioctl(fd, libc::TIOCSTI, &byte as *const u8) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Every way a body could reach a terminal: /dev/tty, fds 0–2, and every pty under
/// /dev/pts it can open (the user's terminal among them). Returns what happened, for the
/// record; the parent judges by what reached the terminal.
fn push_everywhere() -> Vec<String> {
    let text = injection();
    let mut results = Vec::new();
    let mut paths = vec!["/dev/tty".to_owned()];
    if let Ok(entries) = std::fs::read_dir("/dev/pts") {
        paths.extend(entries.flatten().map(|e| e.path().display().to_string()));
    }
    for path in paths {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(file) => {
                use std::os::fd::AsRawFd;
                results.push(format!("{path}: {:?}", push(file.as_raw_fd(), &text)));
            }
            Err(e) => results.push(format!("{path}: open: {e}")),
        }
    }
    for fd in 0..3 {
        results.push(format!("fd {fd}: {:?}", push(fd, &text)));
    }
    results
}

#[sandboxed]
#[ignore = "run under a pty by tiocsti_from_a_sandbox_never_reaches_the_terminal"]
fn tiocsti_probe() {
    // Under `script` the test process has a controlling terminal; the sandbox, in a
    // session of its own, has none.
    let tty = std::fs::File::open("/dev/tty").map(drop);
    assert_eq!(tty.map_err(|e| e.raw_os_error()), Err(Some(libc::ENXIO)));
    eprintln!("{:?}", push_everywhere());
}

#[sandboxed(seccomp = "off")]
#[ignore = "run under a pty by tiocsti_from_a_sandbox_never_reaches_the_terminal"]
fn tiocsti_probe_without_seccomp() {
    eprintln!("{:?}", push_everywhere());
}

#[test]
#[ignore = "run under a pty by tiocsti_from_a_sandbox_never_reaches_the_terminal"]
fn tiocsti_control_unsandboxed() {
    eprintln!("{:?}", push(0, &injection()));
}

/// Runs one probe of this binary under `script`, which gives it a fresh pty as its
/// controlling terminal, and returns everything that appeared on that terminal.
fn terminal_of(probe: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    let command = format!(
        "{} {probe} --exact --ignored --nocapture --test-threads=1",
        exe.display()
    );
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("`script` (util-linux) runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn tiocsti_from_a_sandbox_never_reaches_the_terminal() {
    let marker = format!("{}{}", "INJ", "ECTED");
    // The control: the same push from an unsandboxed test does reach the terminal (the
    // line discipline echoes what it receives). Where the kernel refuses TIOCSTI to
    // everyone (dev.tty.legacy_tiocsti = 0), the control shows nothing and the sandbox's
    // refusal below is the kernel's as well.
    let control = terminal_of("tiocsti_control_unsandboxed");
    let legacy = std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti")
        .map(|v| v.trim() != "0")
        .unwrap_or(true);
    if legacy {
        assert!(
            control.contains(&marker),
            "the unsandboxed control did not reach the terminal: {control}"
        );
    } else {
        eprintln!("dev.tty.legacy_tiocsti = 0: the control cannot inject here");
    }
    for probe in ["tiocsti_probe", "tiocsti_probe_without_seccomp"] {
        let terminal = terminal_of(probe);
        assert!(terminal.contains("1 passed"), "{probe}: {terminal}");
        assert!(
            !terminal.contains(&marker),
            "{probe}: input reached the terminal: {terminal}"
        );
    }
}

/// Sends `signal` to the host process group `group` (killpg), to every process it can
/// (-1) and to its own group (0), in that order; the last one ends the sandbox.
fn signal_everyone() {
    let group: i32 = std::env::var("HOST_GROUP").unwrap().parse().unwrap();
    // SAFETY: plain signal calls; the body blocks SIGTERM for itself first.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let by_group = libc::killpg(group, libc::SIGTERM);
        let by_all = libc::kill(-1, libc::SIGTERM);
        println!("killpg {by_group}, kill(-1) {by_all}");
        libc::kill(0, libc::SIGTERM);
        libc::kill(0, libc::SIGKILL);
    }
}

#[test]
fn signals_from_the_body_reach_nothing_outside_the_sandbox() {
    // A canary in a process group of its own, and one in this test process's group (where
    // every sandbox process used to be).
    let spawn_canary = |own_group: bool| {
        let mut command = Command::new("sleep");
        command.arg("60");
        if own_group {
            command.process_group(0);
        }
        command.spawn().unwrap()
    };
    let mut apart = spawn_canary(true);
    let mut beside = spawn_canary(false);
    // SAFETY: plain query.
    let own_group = unsafe { libc::getpgid(0) };
    for group in [apart.id() as i32, own_group] {
        let report = Sandbox::new()
            .env("HOST_GROUP", group.to_string())
            .timeout(Duration::from_secs(30))
            .run(signal_everyone);
        assert!(
            !matches!(report.outcome, Outcome::Passed | Outcome::TimedOut { .. }),
            "{report:?}"
        );
    }
    // Give a stray signal time to land.
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        assert!(apart.try_wait().unwrap().is_none(), "the canary apart died");
        assert!(
            beside.try_wait().unwrap().is_none(),
            "the canary beside died"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for canary in [&mut apart, &mut beside] {
        canary.kill().unwrap();
        canary.wait().unwrap();
    }
}
