//! Syscalls: what the default sandbox refuses, each with the documented errno (EPERM),
//! with arguments that would do no harm even if a call went through. i386/x32 calls and a
//! violation in a second thread are `tests/seccomp.rs` (`int80_and_x32_never_succeed`,
//! `a_violation_in_a_second_thread_ends_the_test`).

use std::ffi::CString;
use std::os::fd::AsRawFd;

use sandbox_test::sandboxed;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The errno of a raw syscall, or None when it succeeded.
fn refused(result: libc::c_long) -> Option<i32> {
    (result == -1).then(errno)
}

#[sandboxed]
fn escape_class_calls_answer_eperm() {
    let none = std::ptr::null::<libc::c_void>();
    let empty = c"".as_ptr();
    let ns = std::fs::File::open("/proc/self/ns/net").unwrap();
    let now = {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a local timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
        ts
    };
    let swap = CString::new("/nonexistent-swap").unwrap();
    // SAFETY: every call below is refused before it acts; were it not, its arguments
    // are harmless (null pointers, missing paths, the current time, invalid flags).
    let calls: Vec<(&str, libc::c_long)> = unsafe {
        vec![
            // A nested user namespace, by clone; its child, if any, leaves at once.
            ("clone(CLONE_NEWUSER)", {
                let pid = libc::syscall(
                    libc::SYS_clone,
                    libc::CLONE_NEWUSER | libc::SIGCHLD,
                    0,
                    0,
                    0,
                    0,
                );
                if pid == 0 {
                    libc::_exit(0);
                }
                pid
            }),
            (
                "unshare(CLONE_NEWUSER)",
                libc::unshare(libc::CLONE_NEWUSER).into(),
            ),
            (
                "unshare(CLONE_NEWNS)",
                libc::unshare(libc::CLONE_NEWNS).into(),
            ),
            ("setns", libc::setns(ns.as_raw_fd(), 0).into()),
            (
                "open_by_handle_at",
                libc::syscall(libc::SYS_open_by_handle_at, libc::AT_FDCWD, none, 0),
            ),
            ("keyctl", libc::syscall(libc::SYS_keyctl, 0, -3, 0)),
            (
                "add_key",
                libc::syscall(libc::SYS_add_key, empty, empty, none, 0, 0),
            ),
            (
                "request_key",
                libc::syscall(libc::SYS_request_key, empty, empty, none, 0),
            ),
            (
                "io_uring_setup",
                libc::syscall(libc::SYS_io_uring_setup, 1, none),
            ),
            ("bpf", libc::syscall(libc::SYS_bpf, 0, none, 0)),
            (
                "perf_event_open",
                libc::syscall(libc::SYS_perf_event_open, none, 0, -1, -1, 0),
            ),
            ("userfaultfd", libc::syscall(libc::SYS_userfaultfd, 0)),
            (
                "kexec_load",
                libc::syscall(libc::SYS_kexec_load, 0, 0, none, 0xffff_ffffu64),
            ),
            (
                "kexec_file_load",
                libc::syscall(libc::SYS_kexec_file_load, -1, -1, 0, empty, 0xffff_ffffu64),
            ),
            (
                "init_module",
                libc::syscall(libc::SYS_init_module, none, 0, empty),
            ),
            (
                "finit_module",
                libc::syscall(libc::SYS_finit_module, -1, empty, 0),
            ),
            (
                "delete_module",
                libc::syscall(
                    libc::SYS_delete_module,
                    c"sandbox_test_none".as_ptr(),
                    libc::O_NONBLOCK,
                ),
            ),
            (
                "personality(ADDR_NO_RANDOMIZE)",
                libc::personality(0x0040000).into(),
            ),
            (
                "personality(READ_IMPLIES_EXEC)",
                libc::personality(0x0400000).into(),
            ),
            (
                "acct",
                libc::syscall(libc::SYS_acct, c"/nonexistent-acct".as_ptr()),
            ),
            ("swapon", libc::swapon(swap.as_ptr(), 0).into()),
            ("swapoff", libc::swapoff(swap.as_ptr()).into()),
            ("settimeofday", {
                let tv = libc::timeval {
                    tv_sec: now.tv_sec,
                    tv_usec: 0,
                };
                libc::settimeofday(&tv, std::ptr::null()).into()
            }),
            (
                "clock_settime",
                libc::clock_settime(libc::CLOCK_REALTIME, &now).into(),
            ),
            ("adjtimex(ADJ_FREQUENCY)", {
                let mut tx: libc::timex = std::mem::zeroed();
                libc::adjtimex(&mut tx);
                tx.modes = libc::ADJ_FREQUENCY;
                libc::adjtimex(&mut tx).into()
            }),
        ]
    };
    let wrong: Vec<String> = calls
        .into_iter()
        .filter(|(_, result)| refused(*result) != Some(libc::EPERM))
        .map(|(name, result)| format!("{name}: {result} (errno {})", errno()))
        .collect();
    assert!(wrong.is_empty(), "not refused with EPERM: {wrong:?}");
}

#[sandboxed]
fn the_personality_query_and_the_default_persona_still_work() {
    // SAFETY: the query changes nothing; 0 is the default persona.
    let current = unsafe { libc::personality(0xffff_ffff) };
    assert!(current >= 0, "query refused: errno {}", errno());
    assert!(unsafe { libc::personality(0) } >= 0);
}

#[sandboxed]
fn no_new_privs_cannot_be_lifted() {
    // SAFETY: plain prctl calls.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0), -1);
        assert_eq!(libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
}
