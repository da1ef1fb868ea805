//! The body process's last part: run the test body, catch its panic, report its verdict.

use std::ffi::OsString;
use std::fmt::Debug;
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::sync::Mutex;

use crate::outcome::Verdict;
use crate::protocol::{self, Message};
use crate::step::StepError;

/// What a sandboxed test body may return: `()` or `Result<(), E: Debug>`.
pub trait TestBody {
    /// `Err` carries the `Debug` text of the error the body returned.
    #[doc(hidden)]
    fn into_result(self) -> Result<(), String>;
}

impl TestBody for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Debug> TestBody for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| format!("{e:?}"))
    }
}

/// The trampoline the sandbox calls with the body's address.
type Entry = fn(usize) -> Result<(), String>;

fn call<R: TestBody>(body: usize) -> Result<(), String> {
    // SAFETY: `body` is the address of an `fn() -> R` taken in `entry_for::<R>` by the same
    // binary image (the sandbox is a fork of a fork of the test process, never an exec).
    let body: fn() -> R = unsafe { std::mem::transmute::<usize, fn() -> R>(body) };
    body().into_result()
}

/// The addresses that go into the plan: the trampoline for `R`, and the body.
pub(crate) fn addresses<R: TestBody>(body: fn() -> R) -> (usize, usize) {
    (call::<R> as Entry as usize, body as usize)
}

/// The environment the fork server inherited (taken before `main`, before the fork).
static INHERITED: std::sync::OnceLock<Vec<(OsString, OsString)>> = std::sync::OnceLock::new();

/// Fork server's constructor: remembers the environment every sandbox starts with.
pub(crate) fn snapshot_inherited_environment() {
    let _ = INHERITED.set(std::env::vars_os().collect());
}

/// Parent: `env` for the plan, or `None` when it is the environment the sandbox inherits
/// from the fork server anyway (the usual case: nothing to send, decode or set).
pub(crate) fn environment_for_plan(
    env: Vec<(OsString, OsString)>,
) -> Option<Vec<(OsString, OsString)>> {
    match INHERITED.get() {
        Some(inherited) if *inherited == env => None,
        _ => Some(env),
    }
}

/// `env -i KEY=VALUE ...`: the body's whole environment, as the parent decided it
/// (`None`: the inherited one, unchanged).
pub(crate) fn set_environment(env: Option<&[(OsString, OsString)]>) -> Result<(), StepError> {
    // `Some` only when it differs from the inherited one (`environment_for_plan`).
    let Some(env) = env else { return Ok(()) };
    for (key, _) in std::env::vars_os() {
        std::env::remove_var(key);
    }
    for (key, value) in env {
        std::env::set_var(key, value);
    }
    Ok(())
}

/// What the panic hook saw of the body thread's panic.
struct PanicCapture {
    message: String,
    location: Option<String>,
    backtrace: Option<String>,
}

static PANIC: Mutex<Option<PanicCapture>> = Mutex::new(None);

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// Like Rust's own short backtraces: only the frames between the panic machinery and the
/// sandbox's trampoline, unless `RUST_BACKTRACE=full`.
fn short_backtrace(full: &str) -> String {
    if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v == "full") {
        return full.to_owned();
    }
    // A frame is a line "  N: symbol", followed by "at file:line" lines.
    let mut frames: Vec<Vec<&str>> = Vec::new();
    for line in full.lines() {
        let is_frame = line
            .trim_start()
            .split_once(": ")
            .is_some_and(|(n, _)| n.parse::<u32>().is_ok());
        match frames.last_mut() {
            Some(frame) if !is_frame => frame.push(line),
            _ => frames.push(vec![line]),
        }
    }
    let symbol = |frame: &Vec<&str>| {
        frame[0]
            .trim_start()
            .split_once(": ")
            .map_or("", |(_, s)| s)
            .to_owned()
    };
    let end = frames
        .iter()
        .position(|f| symbol(f).starts_with("sandbox_test::body::call"))
        .unwrap_or(frames.len());
    let start = frames[..end]
        .iter()
        .rposition(|f| {
            let s = symbol(f);
            s.starts_with("core::panicking::")
                || s.starts_with("std::panicking::")
                || s.contains("rust_begin_unwind")
        })
        .map_or(0, |i| i + 1);
    let mut short = String::new();
    for (number, frame) in frames[start..end].iter().enumerate() {
        short.push_str(&format!("{number:>4}: {}\n", symbol(frame)));
        frame[1..]
            .iter()
            .for_each(|line| short.push_str(&format!("{line}\n")));
    }
    short.push_str("note: frames of the panic machinery and of sandbox-test are left out; RUST_BACKTRACE=full shows them\n");
    short
}

/// Prepares the body process to catch the body's panic (message, location, backtrace) and,
/// as any Rust program does, to see EPIPE rather than die of SIGPIPE.
pub(crate) fn catch_panics() -> Result<(), StepError> {
    // As in any Rust program: a write to a closed pipe is an EPIPE error, not a signal.
    // SAFETY: setting a signal disposition in a single-threaded process.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let body_thread = std::thread::current().id();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != body_thread {
            // Another thread of the body: say it as Rust would.
            return default_hook(info);
        }
        let backtrace = std::backtrace::Backtrace::capture();
        let capture = PanicCapture {
            message: panic_message(info.payload()),
            location: info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())),
            backtrace: (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
                .then(|| short_backtrace(&backtrace.to_string())),
        };
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(capture);
    }));
    Ok(())
}

/// Runs the body `function` through its trampoline `entry` (both from [`addresses`]) and
/// reports its verdict on `verdict_to` (the channel, for the body; the body's socket, for a
/// host process). Its coverage counts go to the test process on the channel. Never returns.
pub(crate) fn run(entry: usize, function: usize, verdict_to: BorrowedFd<'_>) -> ! {
    // SAFETY: `entry` is `call::<R>` of this very image (see `addresses`).
    let entry: Entry = unsafe { std::mem::transmute::<usize, Entry>(entry) };
    let verdict = match std::panic::catch_unwind(|| entry(function)) {
        Ok(Ok(())) => Verdict::Passed,
        Ok(Err(debug)) => Verdict::ReturnedErr { debug },
        Err(payload) => match PANIC.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(c) => Verdict::Panicked {
                message: c.message,
                location: c.location,
                backtrace: c.backtrace,
            },
            None => Verdict::Panicked {
                message: panic_message(&*payload),
                location: None,
                backtrace: None,
            },
        },
    };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    if protocol::send(verdict_to, &Message::Verdict(verdict), &[]).is_err() {
        crate::step::exit(124);
    }
    // SAFETY: the channel is open on its number in every sandbox process (`setup.rs`).
    let channel = unsafe { BorrowedFd::borrow_raw(crate::step::CHANNEL_FD) };
    if crate::coverage::send(channel) {
        // An instrumented build: `exit` would run the profile runtime's exit handler, which
        // writes a file from inside the sandbox (and makes system calls the seccomp filter
        // may refuse). The counts are sent; flush the C library's buffers and leave.
        // SAFETY: fflush(NULL) flushes every C stream.
        unsafe { libc::fflush(std::ptr::null_mut()) };
        crate::step::exit(0);
    }
    // A normal exit, so the C library flushes its buffers and the status says it was clean.
    std::process::exit(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_changed_environment_travels_in_the_plan() {
        let inherited = INHERITED
            .get()
            .expect("the fork server's constructor took the environment")
            .clone();
        assert_eq!(environment_for_plan(inherited.clone()), None);
        let mut changed = inherited;
        changed.push(("SANDBOX_TEST_CHANGED".into(), "1".into()));
        assert_eq!(environment_for_plan(changed.clone()), Some(changed));
        assert_eq!(environment_for_plan(Vec::new()), Some(Vec::new()));
    }
}
