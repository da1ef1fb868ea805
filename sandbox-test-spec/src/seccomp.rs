//! Seccomp option values: violation modes, errno names, syscall-name shape and the
//! syscall groups (systemd's `SystemCallFilter=` set names).
//!
//! std only: the macro includes this file, so a bad group name, errno name or mode is a
//! compile error produced by the same parser the runtime uses. Whether a syscall *name*
//! exists is only known to libseccomp, which the proc-macro does not link: names are
//! checked for shape here and resolved at setup by the runtime.

use std::fmt;

/// What happens when the body makes a syscall the policy forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnViolation {
    /// The first forbidden call ends the test as failed, with a report (SECCOMP_RET_TRAP).
    #[default]
    Fail,
    /// The call fails with an errno, the body goes on; every violation is reported.
    Errno,
    /// The kernel kills the body process (SECCOMP_RET_KILL_PROCESS).
    Kill,
}

impl OnViolation {
    /// Parses `"fail"`, `"errno"` or `"kill"`.
    pub fn parse(text: &str) -> Result<Self, SeccompSpecError> {
        match text {
            "fail" => Ok(Self::Fail),
            "errno" => Ok(Self::Errno),
            "kill" => Ok(Self::Kill),
            other => Err(SeccompSpecError::OnViolation(other.to_owned())),
        }
    }

    /// The attribute spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Errno => "errno",
            Self::Kill => "kill",
        }
    }
}

/// A bad seccomp option value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeccompSpecError {
    /// `on_violation` is not fail, errno or kill.
    OnViolation(String),
    /// Not a Linux errno name.
    Errno(String),
    /// Not one of the groups in `GROUPS`.
    UnknownGroup(String),
    /// Not shaped like a syscall name (lowercase letters, digits, `_`).
    SyscallName(String),
}

impl fmt::Display for SeccompSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OnViolation(v) => write!(
                f,
                "unknown on_violation `{v}`: expected \"fail\", \"errno\" or \"kill\""
            ),
            Self::Errno(v) => write!(
                f,
                "unknown errno `{v}`: expected a Linux errno name such as \"EPERM\" or \"EACCES\""
            ),
            Self::UnknownGroup(v) => {
                write!(f, "unknown syscall group `{v}`: known groups are ")?;
                for (i, (name, _)) in GROUPS.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(name)?;
                }
                Ok(())
            }
            Self::SyscallName(v) => write!(
                f,
                "`{v}` is not a syscall name (lowercase letters, digits and `_`) or a group (`@name`)"
            ),
        }
    }
}

impl std::error::Error for SeccompSpecError {}

/// Linux errno names and their numbers on the target this crate is built for (libc's
/// constants: they differ between architectures, e.g. on mips). The attribute macro
/// checks names against this table and writes the name, never the number, so a
/// cross-compiled test gets its target's numbers.
pub const ERRNOS: &[(&str, i32)] = &[
    ("EPERM", libc::EPERM),
    ("ENOENT", libc::ENOENT),
    ("ESRCH", libc::ESRCH),
    ("EINTR", libc::EINTR),
    ("EIO", libc::EIO),
    ("ENXIO", libc::ENXIO),
    ("E2BIG", libc::E2BIG),
    ("ENOEXEC", libc::ENOEXEC),
    ("EBADF", libc::EBADF),
    ("ECHILD", libc::ECHILD),
    ("EAGAIN", libc::EAGAIN),
    ("ENOMEM", libc::ENOMEM),
    ("EACCES", libc::EACCES),
    ("EFAULT", libc::EFAULT),
    ("EBUSY", libc::EBUSY),
    ("EEXIST", libc::EEXIST),
    ("EXDEV", libc::EXDEV),
    ("ENODEV", libc::ENODEV),
    ("ENOTDIR", libc::ENOTDIR),
    ("EISDIR", libc::EISDIR),
    ("EINVAL", libc::EINVAL),
    ("ENFILE", libc::ENFILE),
    ("EMFILE", libc::EMFILE),
    ("ENOTTY", libc::ENOTTY),
    ("ETXTBSY", libc::ETXTBSY),
    ("EFBIG", libc::EFBIG),
    ("ENOSPC", libc::ENOSPC),
    ("ESPIPE", libc::ESPIPE),
    ("EROFS", libc::EROFS),
    ("EMLINK", libc::EMLINK),
    ("EPIPE", libc::EPIPE),
    ("EDOM", libc::EDOM),
    ("ERANGE", libc::ERANGE),
    ("EDEADLK", libc::EDEADLK),
    ("ENAMETOOLONG", libc::ENAMETOOLONG),
    ("ENOLCK", libc::ENOLCK),
    ("ENOSYS", libc::ENOSYS),
    ("ENOTEMPTY", libc::ENOTEMPTY),
    ("ELOOP", libc::ELOOP),
    ("ENOMSG", libc::ENOMSG),
    ("ENODATA", libc::ENODATA),
    ("ETIME", libc::ETIME),
    ("EOVERFLOW", libc::EOVERFLOW),
    ("ENOTSOCK", libc::ENOTSOCK),
    ("EDESTADDRREQ", libc::EDESTADDRREQ),
    ("EMSGSIZE", libc::EMSGSIZE),
    ("EPROTOTYPE", libc::EPROTOTYPE),
    ("ENOPROTOOPT", libc::ENOPROTOOPT),
    ("EPROTONOSUPPORT", libc::EPROTONOSUPPORT),
    ("EOPNOTSUPP", libc::EOPNOTSUPP),
    ("EAFNOSUPPORT", libc::EAFNOSUPPORT),
    ("EADDRINUSE", libc::EADDRINUSE),
    ("EADDRNOTAVAIL", libc::EADDRNOTAVAIL),
    ("ENETDOWN", libc::ENETDOWN),
    ("ENETUNREACH", libc::ENETUNREACH),
    ("ECONNABORTED", libc::ECONNABORTED),
    ("ECONNRESET", libc::ECONNRESET),
    ("ENOBUFS", libc::ENOBUFS),
    ("EISCONN", libc::EISCONN),
    ("ENOTCONN", libc::ENOTCONN),
    ("ETIMEDOUT", libc::ETIMEDOUT),
    ("ECONNREFUSED", libc::ECONNREFUSED),
    ("EHOSTUNREACH", libc::EHOSTUNREACH),
    ("EALREADY", libc::EALREADY),
    ("EINPROGRESS", libc::EINPROGRESS),
    ("ECANCELED", libc::ECANCELED),
];

/// Parses an errno name (`"EPERM"`) into its number.
pub fn parse_errno(name: &str) -> Result<i32, SeccompSpecError> {
    ERRNOS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| SeccompSpecError::Errno(name.to_owned()))
}

/// The name of an errno number, if it is in [`ERRNOS`].
pub fn errno_name(number: i32) -> Option<&'static str> {
    ERRNOS.iter().find(|(_, v)| *v == number).map(|(n, _)| *n)
}

/// One entry of a `deny`/`allow` list: a syscall name or a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SyscallItem {
    /// A syscall name, resolved by libseccomp at setup.
    Syscall(String),
    /// A group from `GROUPS`, with its `@`.
    Group(String),
}

impl SyscallItem {
    /// Parses `"connect"` or `"@network-io"`; a group must be in `GROUPS`.
    pub fn parse(text: &str) -> Result<Self, SeccompSpecError> {
        if text.starts_with('@') {
            if group(text).is_some() {
                Ok(Self::Group(text.to_owned()))
            } else {
                Err(SeccompSpecError::UnknownGroup(text.to_owned()))
            }
        } else if !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            Ok(Self::Syscall(text.to_owned()))
        } else {
            Err(SeccompSpecError::SyscallName(text.to_owned()))
        }
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Syscall(s) | Self::Group(s) => s,
        }
    }
}

/// The members of a group (`"@mount"`), which may name other groups.
pub fn group(name: &str) -> Option<&'static [&'static str]> {
    GROUPS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

/// Expands items into syscall names: groups recursively, duplicates removed, sorted.
/// Names a given libseccomp may not know (other arches, newer kernels) are kept: the
/// runtime skips those it cannot resolve with a debug note.
pub fn expand(items: &[SyscallItem]) -> Vec<&str> {
    fn add<'a>(name: &'a str, out: &mut Vec<&'a str>, seen_groups: &mut Vec<&'a str>) {
        if name.starts_with('@') {
            if seen_groups.contains(&name) {
                return;
            }
            seen_groups.push(name);
            for member in group(name).unwrap_or(&[]) {
                add(member, out, seen_groups);
            }
        } else {
            out.push(name);
        }
    }
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for item in items {
        add(item.as_str(), &mut out, &mut seen);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The baseline deny set used when a test names no `seccomp(...)`: escape-class calls,
/// answered with EPERM, `unshare` and `setns` among them. The runtime adds argument
/// filters for the rest of nested namespace creation (`clone` with namespace flags;
/// `clone3` gets ENOSYS so libc falls back to `clone`) and for non-default `personality`
/// values.
pub const BASELINE_DENY: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "delete_module",
    "finit_module",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "open_by_handle_at",
    "perf_event_open",
    "reboot",
    "request_key",
    "setns",
    "swapoff",
    "swapon",
    "unshare",
    "userfaultfd",
];

/// systemd's `SystemCallFilter=` sets (as of systemd 252, `systemd-analyze
/// syscall-filter`), one table. An entry starting with `@` includes another set.
pub const GROUPS: &[(&str, &[&str])] = &[
    (
        "@aio",
        &[
            "io_cancel",
            "io_destroy",
            "io_getevents",
            "io_pgetevents",
            "io_pgetevents_time64",
            "io_setup",
            "io_submit",
            "io_uring_enter",
            "io_uring_register",
            "io_uring_setup",
        ],
    ),
    (
        "@basic-io",
        &[
            "_llseek",
            "close",
            "close_range",
            "dup",
            "dup2",
            "dup3",
            "lseek",
            "pread64",
            "preadv",
            "preadv2",
            "pwrite64",
            "pwritev",
            "pwritev2",
            "read",
            "readv",
            "write",
            "writev",
        ],
    ),
    (
        "@chown",
        &[
            "chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32",
        ],
    ),
    (
        "@clock",
        &[
            "adjtimex",
            "clock_adjtime",
            "clock_adjtime64",
            "clock_settime",
            "clock_settime64",
            "settimeofday",
        ],
    ),
    (
        "@cpu-emulation",
        &[
            "modify_ldt",
            "subpage_prot",
            "switch_endian",
            "vm86",
            "vm86old",
        ],
    ),
    (
        "@debug",
        &[
            "lookup_dcookie",
            "perf_event_open",
            "pidfd_getfd",
            "ptrace",
            "rtas",
            "s390_runtime_instr",
            "sys_debug_setcontext",
        ],
    ),
    (
        "@default",
        &[
            "arch_prctl",
            "brk",
            "cacheflush",
            "clock_getres",
            "clock_getres_time64",
            "clock_gettime",
            "clock_gettime64",
            "clock_nanosleep",
            "clock_nanosleep_time64",
            "execve",
            "exit",
            "exit_group",
            "futex",
            "futex_time64",
            "futex_waitv",
            "get_robust_list",
            "get_thread_area",
            "getegid",
            "getegid32",
            "geteuid",
            "geteuid32",
            "getgid",
            "getgid32",
            "getgroups",
            "getgroups32",
            "getpgid",
            "getpgrp",
            "getpid",
            "getppid",
            "getrandom",
            "getresgid",
            "getresgid32",
            "getresuid",
            "getresuid32",
            "getrlimit",
            "getsid",
            "gettid",
            "gettimeofday",
            "getuid",
            "getuid32",
            "membarrier",
            "mmap",
            "mmap2",
            "mprotect",
            "munmap",
            "nanosleep",
            "pause",
            "prlimit64",
            "restart_syscall",
            "riscv_flush_icache",
            "rseq",
            "rt_sigreturn",
            "sched_getaffinity",
            "sched_yield",
            "set_robust_list",
            "set_thread_area",
            "set_tid_address",
            "set_tls",
            "sigreturn",
            "time",
            "ugetrlimit",
        ],
    ),
    (
        "@file-system",
        &[
            "access",
            "chdir",
            "chmod",
            "close",
            "creat",
            "faccessat",
            "faccessat2",
            "fallocate",
            "fchdir",
            "fchmod",
            "fchmodat",
            "fcntl",
            "fcntl64",
            "fgetxattr",
            "flistxattr",
            "fremovexattr",
            "fsetxattr",
            "fstat",
            "fstat64",
            "fstatat64",
            "fstatfs",
            "fstatfs64",
            "ftruncate",
            "ftruncate64",
            "futimesat",
            "getcwd",
            "getdents",
            "getdents64",
            "getxattr",
            "inotify_add_watch",
            "inotify_init",
            "inotify_init1",
            "inotify_rm_watch",
            "lgetxattr",
            "link",
            "linkat",
            "listxattr",
            "llistxattr",
            "lremovexattr",
            "lsetxattr",
            "lstat",
            "lstat64",
            "mkdir",
            "mkdirat",
            "mknod",
            "mknodat",
            "newfstatat",
            "oldfstat",
            "oldlstat",
            "oldstat",
            "open",
            "openat",
            "openat2",
            "readlink",
            "readlinkat",
            "removexattr",
            "rename",
            "renameat",
            "renameat2",
            "rmdir",
            "setxattr",
            "stat",
            "stat64",
            "statfs",
            "statfs64",
            "statx",
            "symlink",
            "symlinkat",
            "truncate",
            "truncate64",
            "unlink",
            "unlinkat",
            "utime",
            "utimensat",
            "utimensat_time64",
            "utimes",
        ],
    ),
    (
        "@io-event",
        &[
            "_newselect",
            "epoll_create",
            "epoll_create1",
            "epoll_ctl",
            "epoll_ctl_old",
            "epoll_pwait",
            "epoll_pwait2",
            "epoll_wait",
            "epoll_wait_old",
            "eventfd",
            "eventfd2",
            "poll",
            "ppoll",
            "ppoll_time64",
            "pselect6",
            "pselect6_time64",
            "select",
        ],
    ),
    (
        "@ipc",
        &[
            "ipc",
            "memfd_create",
            "mq_getsetattr",
            "mq_notify",
            "mq_open",
            "mq_timedreceive",
            "mq_timedreceive_time64",
            "mq_timedsend",
            "mq_timedsend_time64",
            "mq_unlink",
            "msgctl",
            "msgget",
            "msgrcv",
            "msgsnd",
            "pipe",
            "pipe2",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "semctl",
            "semget",
            "semop",
            "semtimedop",
            "semtimedop_time64",
            "shmat",
            "shmctl",
            "shmdt",
            "shmget",
        ],
    ),
    ("@keyring", &["add_key", "keyctl", "request_key"]),
    (
        "@memlock",
        &["mlock", "mlock2", "mlockall", "munlock", "munlockall"],
    ),
    ("@module", &["delete_module", "finit_module", "init_module"]),
    (
        "@mount",
        &[
            "chroot",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "pivot_root",
            "umount",
            "umount2",
        ],
    ),
    (
        "@network-io",
        &[
            "accept",
            "accept4",
            "bind",
            "connect",
            "getpeername",
            "getsockname",
            "getsockopt",
            "listen",
            "recv",
            "recvfrom",
            "recvmmsg",
            "recvmmsg_time64",
            "recvmsg",
            "send",
            "sendmmsg",
            "sendmsg",
            "sendto",
            "setsockopt",
            "shutdown",
            "socket",
            "socketcall",
            "socketpair",
        ],
    ),
    (
        "@obsolete",
        &[
            "_sysctl",
            "afs_syscall",
            "bdflush",
            "break",
            "create_module",
            "ftime",
            "get_kernel_syms",
            "getpmsg",
            "gtty",
            "idle",
            "lock",
            "mpx",
            "prof",
            "profil",
            "putpmsg",
            "query_module",
            "security",
            "sgetmask",
            "ssetmask",
            "stime",
            "stty",
            "sysfs",
            "tuxcall",
            "ulimit",
            "uselib",
            "ustat",
            "vserver",
        ],
    ),
    ("@pkey", &["pkey_alloc", "pkey_free", "pkey_mprotect"]),
    (
        "@privileged",
        &[
            "@chown",
            "@clock",
            "@module",
            "@raw-io",
            "@reboot",
            "@swap",
            "_sysctl",
            "acct",
            "bpf",
            "capset",
            "chroot",
            "fanotify_init",
            "fanotify_mark",
            "nfsservctl",
            "open_by_handle_at",
            "pivot_root",
            "quotactl",
            "setdomainname",
            "setfsuid",
            "setfsuid32",
            "setgroups",
            "setgroups32",
            "sethostname",
            "setresuid",
            "setresuid32",
            "setreuid",
            "setreuid32",
            "setuid",
            "setuid32",
            "vhangup",
        ],
    ),
    (
        "@process",
        &[
            "capget",
            "clone",
            "clone3",
            "execveat",
            "fork",
            "getrusage",
            "kill",
            "pidfd_open",
            "pidfd_send_signal",
            "prctl",
            "rt_sigqueueinfo",
            "rt_tgsigqueueinfo",
            "setns",
            "swapcontext",
            "tgkill",
            "times",
            "tkill",
            "unshare",
            "vfork",
            "wait4",
            "waitid",
            "waitpid",
        ],
    ),
    (
        "@raw-io",
        &[
            "ioperm",
            "iopl",
            "pciconfig_iobase",
            "pciconfig_read",
            "pciconfig_write",
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
        ],
    ),
    ("@reboot", &["kexec_file_load", "kexec_load", "reboot"]),
    (
        "@resources",
        &[
            "ioprio_set",
            "mbind",
            "migrate_pages",
            "move_pages",
            "nice",
            "sched_setaffinity",
            "sched_setattr",
            "sched_setparam",
            "sched_setscheduler",
            "set_mempolicy",
            "setpriority",
            "setrlimit",
        ],
    ),
    (
        "@sandbox",
        &[
            "landlock_add_rule",
            "landlock_create_ruleset",
            "landlock_restrict_self",
            "seccomp",
        ],
    ),
    (
        "@setuid",
        &[
            "setgid",
            "setgid32",
            "setgroups",
            "setgroups32",
            "setregid",
            "setregid32",
            "setresgid",
            "setresgid32",
            "setresuid",
            "setresuid32",
            "setreuid",
            "setreuid32",
            "setuid",
            "setuid32",
        ],
    ),
    (
        "@signal",
        &[
            "rt_sigaction",
            "rt_sigpending",
            "rt_sigprocmask",
            "rt_sigsuspend",
            "rt_sigtimedwait",
            "rt_sigtimedwait_time64",
            "sigaction",
            "sigaltstack",
            "signal",
            "signalfd",
            "signalfd4",
            "sigpending",
            "sigprocmask",
            "sigsuspend",
        ],
    ),
    ("@swap", &["swapoff", "swapon"]),
    (
        "@sync",
        &[
            "fdatasync",
            "fsync",
            "msync",
            "sync",
            "sync_file_range",
            "sync_file_range2",
            "syncfs",
        ],
    ),
    (
        "@system-service",
        &[
            "@aio",
            "@basic-io",
            "@chown",
            "@default",
            "@file-system",
            "@io-event",
            "@ipc",
            "@keyring",
            "@memlock",
            "@network-io",
            "@process",
            "@resources",
            "@setuid",
            "@signal",
            "@sync",
            "@timer",
            "brk",
            "capget",
            "capset",
            "copy_file_range",
            "fadvise64",
            "fadvise64_64",
            "flock",
            "get_mempolicy",
            "getcpu",
            "getpriority",
            "ioctl",
            "ioprio_get",
            "kcmp",
            "madvise",
            "mremap",
            "name_to_handle_at",
            "oldolduname",
            "olduname",
            "personality",
            "readahead",
            "readdir",
            "remap_file_pages",
            "sched_get_priority_max",
            "sched_get_priority_min",
            "sched_getaffinity",
            "sched_getattr",
            "sched_getparam",
            "sched_getscheduler",
            "sched_rr_get_interval",
            "sched_rr_get_interval_time64",
            "sched_yield",
            "sendfile",
            "sendfile64",
            "setfsgid",
            "setfsgid32",
            "setfsuid",
            "setfsuid32",
            "setpgid",
            "setsid",
            "splice",
            "sysinfo",
            "tee",
            "umask",
            "uname",
            "userfaultfd",
            "vmsplice",
        ],
    ),
    (
        "@timer",
        &[
            "alarm",
            "getitimer",
            "setitimer",
            "timer_create",
            "timer_delete",
            "timer_getoverrun",
            "timer_gettime",
            "timer_gettime64",
            "timer_settime",
            "timer_settime64",
            "timerfd_create",
            "timerfd_gettime",
            "timerfd_gettime64",
            "timerfd_settime",
            "timerfd_settime64",
            "times",
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_reject() {
        assert_eq!(OnViolation::parse("fail"), Ok(OnViolation::Fail));
        assert_eq!(OnViolation::parse("errno"), Ok(OnViolation::Errno));
        assert_eq!(OnViolation::parse("kill"), Ok(OnViolation::Kill));
        let err = OnViolation::parse("panic").unwrap_err();
        assert!(err.to_string().contains("`panic`"), "{err}");
    }

    #[test]
    fn errno_names_round_trip() {
        assert_eq!(parse_errno("EPERM"), Ok(1));
        assert_eq!(parse_errno("EACCES"), Ok(13));
        assert_eq!(errno_name(38), Some("ENOSYS"));
        assert!(parse_errno("eperm").is_err());
        assert!(parse_errno("EWHATEVER").is_err());
    }

    #[test]
    fn items_parse_names_and_groups() {
        assert_eq!(
            SyscallItem::parse("connect"),
            Ok(SyscallItem::Syscall("connect".into()))
        );
        assert_eq!(
            SyscallItem::parse("@network-io"),
            Ok(SyscallItem::Group("@network-io".into()))
        );
        let err = SyscallItem::parse("@netwrk").unwrap_err();
        assert!(err.to_string().contains("@network-io"), "{err}");
        assert!(SyscallItem::parse("Connect").is_err());
        assert!(SyscallItem::parse("").is_err());
        assert!(SyscallItem::parse("open at").is_err());
    }

    #[test]
    fn every_group_reference_exists_and_table_is_sorted() {
        for (name, members) in GROUPS {
            assert!(name.starts_with('@'));
            for m in *members {
                if m.starts_with('@') {
                    assert!(group(m).is_some(), "{name} includes unknown {m}");
                }
            }
        }
        let names: Vec<_> = GROUPS.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn expand_follows_nested_groups() {
        let items = [
            SyscallItem::parse("@privileged").unwrap(),
            SyscallItem::parse("mount").unwrap(),
        ];
        let names = expand(&items);
        // From @privileged directly, through @clock and @reboot, and the plain name.
        for n in ["acct", "settimeofday", "kexec_load", "mount", "chown"] {
            assert!(names.contains(&n), "{n} missing");
        }
        assert!(!names.contains(&"read"));
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
