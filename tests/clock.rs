//! `sandbox_test::clock`: the test moves the wall clock while it runs, and every thread and
//! every process of the sandbox sees the move.

mod common;

use common::{installed, run};

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{Datelike, Utc};
use sandbox_test::clock::{self, ClockError};
use sandbox_test::{sandboxed, Outcome, Sandbox, Shift, TimeTravel};

const DAY: u64 = 86_400;
/// 2031-06-01T12:00:00Z
const START: i64 = 1_938_081_600;

/// The wall clock in seconds since 1970 as `SystemTime`, chrono and `libc::time` read it.
fn readings() -> [(&'static str, i64); 3] {
    let since_1970 = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let chrono = Utc::now().timestamp();
    // SAFETY: time() with a null pointer only returns the value.
    let libc_time = unsafe { libc::time(std::ptr::null_mut()) };
    [
        ("SystemTime::now()", since_1970.as_secs() as i64),
        ("chrono::Utc::now()", chrono),
        ("libc::time()", libc_time),
    ]
}

/// A second thread that reads the clock when asked.
struct Reader {
    ask: mpsc::Sender<()>,
    answer: mpsc::Receiver<[(&'static str, i64); 3]>,
}

impl Reader {
    fn spawn() -> Self {
        let (ask, asked) = mpsc::channel::<()>();
        let (tell, answer) = mpsc::channel();
        std::thread::spawn(move || {
            for () in asked {
                tell.send(readings()).unwrap();
            }
        });
        Reader { ask, answer }
    }

    fn read(&self) -> [(&'static str, i64); 3] {
        self.ask.send(()).unwrap();
        self.answer.recv().unwrap()
    }
}

/// Both threads read `expected` (within `tolerance` seconds, later only) with every API.
fn assert_both_threads_read(reader: &Reader, expected: i64, tolerance: i64, what: &str) {
    for (thread, readings) in [("body", readings()), ("second", reader.read())] {
        for (api, secs) in readings {
            assert!(
                (expected..=expected + tolerance).contains(&secs),
                "after {what}: {api} in the {thread} thread reads {secs}, expected \
                 {expected} (+{tolerance})"
            );
        }
    }
}

#[sandboxed(time(realtime = "2031-06-01T12:00:00Z"))]
fn advance_set_freeze_and_resume_move_every_thread() -> Result<(), ClockError> {
    let reader = Reader::spawn();
    assert_both_threads_read(&reader, START, 30, "the start");

    clock::advance(Duration::from_secs(400 * DAY))?;
    assert_both_threads_read(&reader, START + 400 * DAY as i64, 30, "advance(400d)");
    assert_eq!(Utc::now().year(), 2032);

    clock::set(UNIX_EPOCH + Duration::from_secs(2_000_000_000))?;
    assert_both_threads_read(&reader, 2_000_000_000, 30, "set(2_000_000_000)");

    clock::freeze()?;
    let frozen = SystemTime::now();
    std::thread::sleep(Duration::from_millis(1_100));
    assert_eq!(SystemTime::now(), frozen, "a frozen clock stands still");
    let frozen_secs = frozen.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    assert_both_threads_read(&reader, frozen_secs, 0, "freeze()");

    clock::advance(Duration::from_secs(3_600))?;
    assert_eq!(
        SystemTime::now(),
        frozen + Duration::from_secs(3_600),
        "advance moves a frozen clock and it stays frozen"
    );
    assert_both_threads_read(&reader, frozen_secs + 3_600, 0, "advance(1h) while frozen");

    clock::set(UNIX_EPOCH + Duration::from_secs(1_000_000_000))?;
    assert_eq!(
        SystemTime::now(),
        UNIX_EPOCH + Duration::from_secs(1_000_000_000),
        "set on a frozen clock moves it back, frozen"
    );

    clock::resume()?;
    std::thread::sleep(Duration::from_millis(1_100));
    let resumed = SystemTime::now()
        .duration_since(UNIX_EPOCH + Duration::from_secs(1_000_000_000))
        .expect("the clock ticks on from where it stood");
    assert!(
        resumed >= Duration::from_secs(1) && resumed < Duration::from_secs(60),
        "{resumed:?}"
    );
    assert_both_threads_read(&reader, 1_000_000_001, 60, "resume()");
    Ok(())
}

#[sandboxed(time(realtime = "2031-06-01T12:00:00Z", freeze))]
fn a_frozen_start_resumes_and_freezes_again() -> Result<(), ClockError> {
    assert_eq!(readings()[0].1, START);
    clock::resume()?;
    std::thread::sleep(Duration::from_millis(1_100));
    assert!(readings()[0].1 > START);
    clock::freeze()?;
    let now = SystemTime::now();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(SystemTime::now(), now);
    Ok(())
}

// Subprocesses: started before a move, and after it

/// A child that prints a reading of the clock for every line it reads on stdin.
struct Interactive {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Interactive {
    fn start(program: &str, args: &[&str]) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Interactive {
            child,
            stdin,
            stdout,
        }
    }

    fn read(&mut self) -> String {
        writeln!(self.stdin).unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the child ended: {:?}", self.child.wait());
        line.trim().to_owned()
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PYTHON_READS: &str = "import sys, time, datetime\n\
    for _ in sys.stdin:\n    \
        print(datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d'), \
              int(time.time()), flush=True)";

#[sandboxed(time(realtime = "2031-06-01T12:00:00Z"))]
fn subprocesses_started_before_and_after_a_move_see_it() -> Result<(), ClockError> {
    if !installed("python3") {
        return Ok(());
    }
    let mut python = Interactive::start("python3", &["-c", PYTHON_READS]);
    let mut shell = Interactive::start("sh", &["-c", "while read x; do date -u +%F; done"]);
    assert!(python.read().starts_with("2031-06-01 "));
    assert_eq!(shell.read(), "2031-06-01");

    clock::advance(Duration::from_secs(400 * DAY))?;
    // Already running: the next read sees the jump.
    let reading = python.read();
    assert!(reading.starts_with("2032-07-05 "), "python: {reading}");
    let python_secs: i64 = reading.split(' ').nth(1).unwrap().parse().unwrap();
    assert!((python_secs - readings()[0].1).abs() <= 5, "{reading}");
    assert_eq!(shell.read(), "2032-07-05");
    // Started after the move.
    assert_eq!(run("date", &["-u", "+%F"]), "2032-07-05");

    clock::set(UNIX_EPOCH + Duration::from_secs(2_000_000_000))?;
    clock::freeze()?;
    assert!(python.read().starts_with("2033-05-18 2000000000"));
    assert_eq!(shell.read(), "2033-05-18");
    assert_eq!(run("date", &["-u", "+%s"]), "2000000000");
    let python_now = run(
        "python3",
        &[
            "-c",
            "import time; time.sleep(0.2); print(int(time.time()))",
        ],
    );
    assert_eq!(python_now, "2000000000", "frozen, even across a sleep");
    Ok(())
}

#[sandboxed(time(realtime = "+0s"))]
fn a_forked_child_shares_the_clock() -> Result<(), ClockError> {
    // Forked without exec: the child keeps the body's mapping of the clock.
    let (read, write) = nix::unistd::pipe().unwrap();
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            drop(write);
            let mut byte = [0u8];
            let _ = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&read), &mut byte);
            let year = Utc::now().year();
            unsafe { libc::_exit(if year >= 2126 { 0 } else { 1 }) };
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(read);
            clock::advance(Duration::from_secs(100 * 366 * DAY))?;
            nix::unistd::write(&write, b"x").unwrap();
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(
                status,
                nix::sys::wait::WaitStatus::Exited(child, 0),
                "the forked child saw the move"
            );
        }
    }
    Ok(())
}

// Expiry: a JWT and a certificate

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

#[sandboxed(time(realtime = "+0s"))]
fn a_jwt_valid_now_is_rejected_two_hours_later() -> Result<(), ClockError> {
    use jsonwebtoken::{decode, encode, errors::ErrorKind, DecodingKey, EncodingKey};
    let secret = b"sandbox-test";
    let claims = Claims {
        sub: "user".into(),
        exp: jsonwebtoken::get_current_timestamp() + 3_600,
    };
    let token = encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap();
    let validation = jsonwebtoken::Validation::default();
    let key = DecodingKey::from_secret(secret);
    decode::<Claims>(&token, &key, &validation).expect("valid for an hour");

    clock::advance(Duration::from_secs(2 * 3_600))?;
    let error = decode::<Claims>(&token, &key, &validation).unwrap_err();
    assert_eq!(*error.kind(), ErrorKind::ExpiredSignature);
    Ok(())
}

/// `openssl x509 -checkend 0`: whether the certificate is still valid now.
fn certificate_is_valid(certificate: &str) -> bool {
    let status = Command::new("openssl")
        .args(["x509", "-checkend", "0", "-noout", "-in", certificate])
        .stdout(Stdio::null())
        .status()
        .expect("openssl runs");
    status.success()
}

#[sandboxed(time(realtime = "2031-06-01T12:00:00Z"), workdir = "temp")]
fn a_one_day_certificate_expires_when_the_clock_passes_two_days() -> Result<(), ClockError> {
    if !installed("openssl") {
        return Ok(());
    }
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "1",
            "-subj",
            "/CN=sandbox-test",
        ])
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
    // Issued under the moved clock, which openssl reads too.
    let not_before = run(
        "openssl",
        &["x509", "-noout", "-startdate", "-in", "cert.pem"],
    );
    assert!(not_before.contains("2031"), "{not_before}");
    assert!(certificate_is_valid("cert.pem"));
    clock::advance(Duration::from_secs(12 * 3_600))?;
    assert!(certificate_is_valid("cert.pem"), "valid after 12 hours");
    clock::advance(Duration::from_secs(2 * DAY))?;
    assert!(!certificate_is_valid("cert.pem"), "expired after 2 days");
    clock::set(UNIX_EPOCH + Duration::from_secs(START as u64 + 3_600))?;
    assert!(certificate_is_valid("cert.pem"), "valid again, set back");
    Ok(())
}

// Sleeping while the clock moves

#[sandboxed(time(realtime = "2031-06-01T12:00:00Z"))]
fn python_sleeps_through_moves_of_the_clock() -> Result<(), ClockError> {
    if !installed("python3") {
        return Ok(());
    }
    let mut python = Interactive::start(
        "python3",
        &[
            "-c",
            "import sys, time\n\
             for _ in sys.stdin:\n    \
                 t = time.monotonic(); time.sleep(0.2)\n    \
                 print(round(time.monotonic() - t, 1), time.gmtime().tm_year, flush=True)",
        ],
    );
    assert_eq!(python.read(), "0.2 2031");
    clock::freeze()?;
    assert_eq!(python.read(), "0.2 2031");
    clock::advance(Duration::from_secs(400 * DAY))?;
    assert_eq!(python.read(), "0.2 2032");
    clock::resume()?;
    assert_eq!(python.read(), "0.2 2032");
    Ok(())
}

// A deadline at the end of time: the clock library translates absolute deadlines without
// wrapping. A program waiting for {INT64_MAX, 0} ("forever") under a clock moved to the past
// must keep waiting (here until its alarm interrupts it), not time out at once.

const WAIT_FOREVER: &str = r#"
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
static void on_alarm(int signal) { (void)signal; }
int main(void) {
    sem_t never;
    sem_init(&never, 0, 0);
    struct sigaction action = {0};
    action.sa_handler = on_alarm;
    sigaction(SIGALRM, &action, NULL);
    alarm(1);
    struct timespec forever = {INT64_MAX, 0};
    int waited = sem_timedwait(&never, &forever);
    int sem_errno = errno;
    struct timespec bad = {1, 2000000000L};
    int slept = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &bad, NULL);
    printf("%s %s\n", waited == -1 && sem_errno == EINTR ? "interrupted" : "timed-out",
           slept == EINVAL ? "einval" : "accepted");
    return 0;
}
"#;

#[sandboxed(time(realtime = "2001-01-01T00:00:00Z"))]
fn a_deadline_at_the_end_of_time_waits_under_a_clock_moved_back() {
    if !installed("cc") {
        return;
    }
    let dir = std::env::temp_dir();
    std::fs::write(dir.join("wait_forever.c"), WAIT_FOREVER).unwrap();
    let program = dir.join("wait_forever");
    run(
        "cc",
        &[
            "-o",
            program.to_str().unwrap(),
            dir.join("wait_forever.c").to_str().unwrap(),
            "-pthread",
        ],
    );
    assert_eq!(
        run(program.to_str().unwrap(), &[]),
        "interrupted einval",
        "a deadline of {{INT64_MAX, 0}} wrapped into the past, or a bad one was made valid"
    );
}

#[sandboxed(time(realtime = "+0s"))]
fn a_move_by_the_largest_duration_is_refused_and_the_clock_moves_again() {
    for by in [Duration::MAX, Duration::from_secs(i64::MAX as u64)] {
        let error = clock::advance(by).unwrap_err();
        assert!(matches!(error, ClockError::OutOfRange(_)), "{error}");
    }
    // The refused moves left the page unlocked and as it was.
    let before = Utc::now().year();
    clock::advance(Duration::from_secs(400 * DAY)).unwrap();
    assert!(
        Utc::now().year() > before,
        "{} after {before}",
        Utc::now().year()
    );
    assert_eq!(run("date", &["-u", "+%Y"]), Utc::now().year().to_string());
}

/// The body's own interposed functions translate the same deadlines without overflow.
#[sandboxed(time(realtime = "2001-01-01T00:00:00Z"))]
fn the_bodys_wait_for_ever_waits_under_a_clock_moved_back() {
    struct Semaphore(std::cell::UnsafeCell<libc::sem_t>);
    // SAFETY: a POSIX semaphore is made to be shared between threads.
    unsafe impl Sync for Semaphore {}
    static NEVER: std::sync::OnceLock<Semaphore> = std::sync::OnceLock::new();
    let semaphore = NEVER.get_or_init(|| {
        // SAFETY: a zeroed sem_t, initialised before any use.
        let semaphore = Semaphore(unsafe { std::mem::zeroed() });
        assert_eq!(unsafe { libc::sem_init(semaphore.0.get(), 0, 0) }, 0);
        semaphore
    });
    let bad = libc::timespec {
        tv_sec: 1,
        tv_nsec: 2_000_000_000,
    };
    // SAFETY: a live semaphore and a timespec on the stack.
    let refused = unsafe { libc::sem_timedwait(semaphore.0.get(), &bad) };
    assert_eq!(
        (refused, std::io::Error::last_os_error().raw_os_error()),
        (-1, Some(libc::EINVAL))
    );
    let poster = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: a live semaphore.
        unsafe { libc::sem_post(NEVER.get().unwrap().0.get()) };
    });
    let forever = libc::timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    };
    // SAFETY: as above.
    let waited = unsafe { libc::sem_timedwait(semaphore.0.get(), &forever) };
    let error = std::io::Error::last_os_error();
    assert_eq!(waited, 0, "the wait ended without the post: {error}");
    poster.join().unwrap();
}

// Where the clock cannot move: an error that says why

#[test]
fn outside_a_sandbox_the_clock_does_not_move() {
    let error = clock::advance(Duration::from_secs(3_600)).unwrap_err();
    assert_eq!(error, ClockError::NotInSandbox);
    assert!(error.to_string().contains("not the body"), "{error}");
    assert_eq!(clock::freeze(), Err(ClockError::NotInSandbox));
}

#[sandboxed]
fn without_time_travel_the_clock_does_not_move() {
    let error = clock::advance(Duration::from_secs(3_600)).unwrap_err();
    assert_eq!(error, ClockError::NoWallClock);
    assert!(
        error.to_string().contains("time(realtime = \"+0s\")"),
        "{error}"
    );
    assert_eq!(clock::resume(), Err(ClockError::NoWallClock));
    assert!(std::env::var_os("LD_PRELOAD").is_none());
}

#[sandboxed(time(monotonic = "+1d"))]
fn namespace_offsets_alone_do_not_make_the_wall_clock_movable() {
    assert_eq!(
        clock::set(UNIX_EPOCH + Duration::from_secs(2_000_000_000)),
        Err(ClockError::NoWallClock)
    );
}

#[sandboxed(time(realtime = "9999-12-31T00:00:00Z", freeze))]
fn a_move_past_year_9999_is_refused_and_the_clock_stays() {
    let before = SystemTime::now();
    let error = clock::advance(Duration::from_secs(2 * DAY)).unwrap_err();
    assert!(matches!(error, ClockError::OutOfRange(_)), "{error}");
    assert!(error.to_string().contains("outside the years 0000 to 9999"));
    assert!(
        error.to_string().contains("9999-12-31T00:00:00Z"),
        "{error}"
    );
    assert_eq!(SystemTime::now(), before);
}

// The builder

fn moves_to_2033() {
    clock::set(UNIX_EPOCH + Duration::from_secs(2_000_000_000)).unwrap();
    assert_eq!(run("date", &["-u", "+%Y"]), "2033");
}

#[test]
fn the_builders_sandbox_has_a_movable_clock() {
    let travel = TimeTravel::new()
        .realtime(Shift::Forward(Duration::ZERO))
        .unwrap();
    let report = Sandbox::new().time(travel).run(moves_to_2033);
    assert_eq!(report.outcome, Outcome::Passed, "{report:?}");
}
