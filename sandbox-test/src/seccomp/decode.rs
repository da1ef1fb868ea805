//! Syscall arguments as strace prints them: paths read from the caller's memory, flags
//! and constants by name, socket addresses spelled out; plain numbers otherwise.
//!
//! ```text
//! socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP)
//! openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC)
//! connect(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("10.0.0.1")}, 16)
//! ```
//!
//! The API is two functions and a trait: [`call`] (the whole call) and [`arguments`] (one
//! string per argument), reading the caller's memory through a [`Memory`] —
//! [`ProcessMemory`] for another process (`process_vm_readv(2)`, so the reader needs
//! ptrace access to it), [`NoMemory`] when there is none (pointers are printed as such).
//! Only native (x86_64 / aarch64) calls are decoded; a name this module does not know
//! gets its six words in hex.

use std::fmt::Write as _;

/// Read access to the caller's memory.
pub trait Memory {
    /// Copies bytes at `addr` into `buf`; returns how many could be read (0: none).
    fn read(&self, addr: u64, buf: &mut [u8]) -> usize;
}

/// No memory to read: pointers are printed as addresses.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMemory;

impl Memory for NoMemory {
    fn read(&self, _addr: u64, _buf: &mut [u8]) -> usize {
        0
    }
}

/// Another process's memory, read with `process_vm_readv(2)` (the reader needs ptrace
/// access to it: same user, the target dumpable).
#[derive(Debug, Clone, Copy)]
pub struct ProcessMemory {
    pid: i32,
}

impl ProcessMemory {
    /// The memory of process (or thread) `pid`, in the reader's pid namespace.
    pub fn new(pid: i32) -> Self {
        Self { pid }
    }
}

impl Memory for ProcessMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> usize {
        let mut local = [std::io::IoSliceMut::new(buf)];
        let remote = [nix::sys::uio::RemoteIoVec {
            base: addr as usize,
            len: local[0].len(),
        }];
        nix::sys::uio::process_vm_readv(nix::unistd::Pid::from_raw(self.pid), &mut local, &remote)
            .unwrap_or(0)
    }
}

/// The longest string read from the caller (strace's `-s` is 32; paths deserve more).
const MAX_STRING: usize = 256;

/// `name(arg, arg, ...)`, strace style.
pub fn call(name: &str, args: &[u64; 6], memory: &dyn Memory) -> String {
    format!("{name}({})", arguments(name, args, memory).join(", "))
}

/// One string per argument `name` takes, strace style; all six words in hex for a call
/// this module does not know.
pub fn arguments(name: &str, args: &[u64; 6], memory: &dyn Memory) -> Vec<String> {
    let Some(kinds) = signature(name) else {
        return args.iter().map(|a| format!("{a:#x}")).collect();
    };
    let context = Context { args, memory };
    // open(2)'s mode is read only with O_CREAT or O_TMPFILE; strace leaves it out otherwise.
    let creates = |flags: u64| {
        let flags = flags as i32;
        flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE
    };
    let shown = match kinds.iter().position(|k| *k == OpenFlags) {
        Some(at) if !creates(args[at]) => at + 1,
        _ => kinds.len(),
    };
    kinds[..shown]
        .iter()
        .enumerate()
        .map(|(i, kind)| context.render(*kind, args[i]))
        .collect()
}

/// How one argument is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A signed number.
    Int,
    /// An address or an opaque word: hex, `NULL` for 0.
    Ptr,
    /// A descriptor.
    Fd,
    /// A descriptor or `AT_FDCWD`.
    DirFd,
    /// A NUL-terminated string in the caller's memory.
    Str,
    /// An octal mode.
    Mode,
    /// `O_*` flags (with the access mode).
    OpenFlags,
    /// `AT_*` flags.
    AtFlags,
    /// `R_OK|W_OK|X_OK` or `F_OK`.
    AccessMode,
    /// `AF_*`.
    Domain,
    /// `SOCK_*` with `SOCK_CLOEXEC|SOCK_NONBLOCK`.
    SocketType,
    /// `IPPROTO_*` (for the domain in argument 0).
    Protocol,
    /// A `struct sockaddr *` whose length is the next argument.
    SockAddr,
    /// `CLONE_*` flags and the exit signal in the low byte.
    CloneFlags,
    /// `struct clone_args *`: its flags and exit signal.
    Clone3Args,
    /// `CLONE_NEW*` flags (unshare, setns).
    NamespaceFlags,
    /// `PROT_*`.
    Prot,
    /// `MAP_*`.
    MapFlags,
    /// An ioctl request by name.
    IoctlRequest,
    /// A signal by name.
    Signal,
    /// `MS_*`.
    MountFlags,
    /// `MNT_*` / `UMOUNT_NOFOLLOW`.
    UmountFlags,
    /// `PTRACE_*`.
    PtraceRequest,
    /// `PR_*`.
    PrctlOption,
    /// `argv` / `envp`: an array of strings.
    StrArray,
}

use Kind::*;

/// The arguments of the calls people meet (the x86_64 / aarch64 generic argument order).
fn signature(name: &str) -> Option<&'static [Kind]> {
    Some(match name {
        "socket" => &[Domain, SocketType, Protocol],
        "socketpair" => &[Domain, SocketType, Protocol, Ptr],
        "connect" | "bind" => &[Fd, SockAddr, Int],
        "accept" | "accept4" | "getsockname" | "getpeername" => &[Fd, Ptr, Ptr],
        "sendto" => &[Fd, Ptr, Int, Int, SockAddr, Int],
        "listen" => &[Fd, Int],
        "open" => &[Str, OpenFlags, Mode],
        "openat" => &[DirFd, Str, OpenFlags, Mode],
        "openat2" => &[DirFd, Str, Ptr, Int],
        "creat" => &[Str, Mode],
        "access" => &[Str, AccessMode],
        "faccessat" => &[DirFd, Str, AccessMode],
        "faccessat2" => &[DirFd, Str, AccessMode, AtFlags],
        "stat" | "lstat" => &[Str, Ptr],
        "newfstatat" | "fstatat64" => &[DirFd, Str, Ptr, AtFlags],
        "statx" => &[DirFd, Str, AtFlags, Int, Ptr],
        "readlink" => &[Str, Ptr, Int],
        "readlinkat" => &[DirFd, Str, Ptr, Int],
        "unlink" | "rmdir" | "chdir" | "chroot" | "acct" | "swapoff" | "uselib" => &[Str],
        "unlinkat" => &[DirFd, Str, AtFlags],
        "mkdir" => &[Str, Mode],
        "mkdirat" => &[DirFd, Str, Mode],
        "mknod" => &[Str, Mode, Int],
        "mknodat" => &[DirFd, Str, Mode, Int],
        "chmod" => &[Str, Mode],
        "fchmodat" => &[DirFd, Str, Mode],
        "chown" | "lchown" => &[Str, Int, Int],
        "fchownat" => &[DirFd, Str, Int, Int, AtFlags],
        "truncate" => &[Str, Int],
        "rename" | "link" | "symlink" | "pivot_root" => &[Str, Str],
        "renameat" | "linkat" => &[DirFd, Str, DirFd, Str],
        "renameat2" => &[DirFd, Str, DirFd, Str, Int],
        "symlinkat" => &[Str, DirFd, Str],
        "execve" => &[Str, StrArray, Ptr],
        "execveat" => &[DirFd, Str, StrArray, Ptr, AtFlags],
        "mount" => &[Str, Str, Str, MountFlags, Str],
        "umount2" => &[Str, UmountFlags],
        "swapon" => &[Str, Int],
        "clone" => &[CloneFlags, Ptr, Ptr, Ptr, Ptr],
        "clone3" => &[Clone3Args, Int],
        "unshare" => &[NamespaceFlags],
        "setns" => &[Fd, NamespaceFlags],
        "mmap" => &[Ptr, Int, Prot, MapFlags, Fd, Ptr],
        "mprotect" => &[Ptr, Int, Prot],
        "pkey_mprotect" => &[Ptr, Int, Prot, Int],
        "ioctl" => &[Fd, IoctlRequest, Ptr],
        "kill" => &[Int, Signal],
        "tkill" => &[Int, Signal],
        "tgkill" => &[Int, Int, Signal],
        "ptrace" => &[PtraceRequest, Int, Ptr, Ptr],
        "prctl" => &[PrctlOption, Ptr, Ptr, Ptr, Ptr],
        "sethostname" | "setdomainname" => &[Str, Int],
        "getppid" | "getpid" | "gettid" | "getuid" | "geteuid" | "getgid" | "getegid" | "sync"
        | "vhangup" | "munlockall" | "fork" | "vfork" | "setsid" | "pause" => &[],
        "uname" | "sysinfo" => &[Ptr],
        "close" | "fsync" | "fdatasync" | "fchdir" | "dup" => &[Fd],
        "read" | "write" => &[Fd, Ptr, Int],
        "setuid" | "setgid" | "personality" => &[Ptr],
        _ => return None,
    })
}

struct Context<'a> {
    args: &'a [u64; 6],
    memory: &'a dyn Memory,
}

impl Context<'_> {
    fn render(&self, kind: Kind, value: u64) -> String {
        match kind {
            Int => (value as i64).to_string(),
            Ptr => pointer(value),
            Fd => (value as i32).to_string(),
            DirFd if value as i32 == libc::AT_FDCWD => "AT_FDCWD".into(),
            DirFd => (value as i32).to_string(),
            Str => self.string(value),
            Mode => format!("0{:02o}", value as u32),
            OpenFlags => open_flags(value as i32),
            AtFlags => flags(value, AT_FLAGS, "0"),
            AccessMode if value == 0 => "F_OK".into(),
            AccessMode => flags(value, ACCESS_MODES, "0"),
            Domain => constant(value as i32 as u64, DOMAINS),
            SocketType => socket_type(value as i32),
            Protocol => protocol(self.args[0] as i32, value as i32),
            SockAddr => self.sockaddr(value),
            CloneFlags => clone_flags(value),
            Clone3Args => self.clone3(value),
            NamespaceFlags => namespace_flags(value),
            Prot if value == 0 => "PROT_NONE".into(),
            Prot => flags(value, PROT_FLAGS, "0"),
            MapFlags => flags(value, MAP_FLAGS, "0"),
            IoctlRequest => constant(value as u32 as u64, IOCTLS),
            Signal => signal(value as i32),
            MountFlags => flags(value, MOUNT_FLAGS, "0"),
            UmountFlags => flags(value, UMOUNT_FLAGS, "0"),
            PtraceRequest => constant(value as i32 as u64, PTRACE_REQUESTS),
            PrctlOption => constant(value as i32 as u64, PRCTL_OPTIONS),
            StrArray => self.string_array(value),
        }
    }

    fn string(&self, addr: u64) -> String {
        if addr == 0 {
            return "NULL".into();
        }
        match read_string(self.memory, addr) {
            Some((bytes, complete)) => quote(&bytes, !complete),
            None => pointer(addr),
        }
    }

    fn string_array(&self, addr: u64) -> String {
        if addr == 0 {
            return "NULL".into();
        }
        let mut items = Vec::new();
        for i in 0..32u64 {
            let mut word = [0u8; 8];
            if self.memory.read(addr + i * 8, &mut word) != 8 {
                return if i == 0 {
                    pointer(addr)
                } else {
                    format!("[{}, ...]", items.join(", "))
                };
            }
            match u64::from_ne_bytes(word) {
                0 => return format!("[{}]", items.join(", ")),
                p => items.push(self.string(p)),
            }
        }
        format!("[{}, ...]", items.join(", "))
    }

    /// The `struct sockaddr` at `addr`, whose length is the next argument.
    fn sockaddr(&self, addr: u64) -> String {
        if addr == 0 {
            return "NULL".into();
        }
        let position = self.args.iter().position(|a| *a == addr).unwrap_or(0);
        let len = (self.args.get(position + 1).copied().unwrap_or(0) as usize).min(128);
        let mut buf = [0u8; 128];
        let got = self.memory.read(addr, &mut buf[..len.max(2)]);
        if got < 2 {
            return pointer(addr);
        }
        sockaddr(&buf[..got.min(len)])
    }

    fn clone3(&self, addr: u64) -> String {
        // struct clone_args { u64 flags, pidfd, child_tid, parent_tid, exit_signal, ... }
        let mut buf = [0u8; 40];
        if addr == 0 || self.memory.read(addr, &mut buf) != buf.len() {
            return pointer(addr);
        }
        let word =
            |i: usize| u64::from_ne_bytes(buf[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        format!(
            "{{flags={}, exit_signal={}}}",
            match (word(0) & 0xffff_ffff, word(0) >> 32 << 32) {
                (low, 0) => flags(low, CLONE_FLAGS, "0"),
                (0, high) => flags(high, CLONE3_FLAGS, "0"),
                (low, high) => format!(
                    "{}|{}",
                    flags(low, CLONE_FLAGS, "0"),
                    flags(high, CLONE3_FLAGS, "0")
                ),
            },
            signal(word(4) as i32)
        )
    }
}

fn pointer(value: u64) -> String {
    if value == 0 {
        "NULL".into()
    } else {
        format!("{value:#x}")
    }
}

/// Reads a NUL-terminated string, page by page (a string may end just before an unmapped
/// page). `None` if nothing could be read; the flag says whether the NUL was found.
fn read_string(memory: &dyn Memory, addr: u64) -> Option<(Vec<u8>, bool)> {
    read_c_string(memory, addr, MAX_STRING)
}

/// Reads a NUL-terminated string of at most `max` bytes, page by page (a string may end
/// just before an unmapped page). `None` if nothing could be read; the flag says whether
/// the NUL was found.
pub(crate) fn read_c_string(memory: &dyn Memory, addr: u64, max: usize) -> Option<(Vec<u8>, bool)> {
    const PAGE: u64 = 4096;
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < max {
        let to_page_end = (PAGE - at % PAGE) as usize;
        let mut chunk = vec![0u8; to_page_end.min(max - out.len())];
        let got = memory.read(at, &mut chunk);
        if got == 0 {
            break;
        }
        if let Some(nul) = chunk[..got].iter().position(|b| *b == 0) {
            out.extend_from_slice(&chunk[..nul]);
            return Some((out, true));
        }
        out.extend_from_slice(&chunk[..got]);
        at += got as u64;
    }
    (!out.is_empty()).then_some((out, false))
}

/// A C string as strace quotes it: `"..."`, escapes for quotes and control bytes, `...`
/// after a cut.
fn quote(bytes: &[u8], cut: bool) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    if cut {
        s.push_str("...");
    }
    s
}

type Names = &'static [(u64, &'static str)];

/// `(libc::NAME as u64, "NAME")` for each name.
macro_rules! names {
    ($($name:ident),* $(,)?) => {
        &[$((libc::$name as u64, stringify!($name))),*]
    };
}

/// The name of `value`, or the number.
fn constant(value: u64, names: Names) -> String {
    names
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, n)| (*n).to_owned())
        .unwrap_or_else(|| (value as i64).to_string())
}

/// `A|B|0x40` for the bits of `value`; `zero` when no bit is set.
fn flags(value: u64, names: Names, zero: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = value;
    for &(bit, name) in names {
        if bit != 0 && rest & bit == bit {
            parts.push(name.to_owned());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        zero.to_owned()
    } else {
        parts.join("|")
    }
}

const ACCESS_MODES: Names = names![R_OK, W_OK, X_OK];

const OPEN_FLAGS: Names = names![
    O_CREAT,
    O_EXCL,
    O_NOCTTY,
    O_TRUNC,
    O_APPEND,
    O_NONBLOCK,
    O_DSYNC,
    O_ASYNC,
    O_DIRECT,
    O_LARGEFILE,
    O_NOFOLLOW,
    O_NOATIME,
    O_CLOEXEC,
    O_PATH
];

fn open_flags(value: i32) -> String {
    let access = match value & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        libc::O_RDWR => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let mut rest = (value & !libc::O_ACCMODE) as u32 as u64;
    let mut parts = vec![access.to_owned()];
    // O_TMPFILE includes O_DIRECTORY; O_SYNC includes O_DSYNC.
    for (bits, name) in [
        (libc::O_TMPFILE as u64, "O_TMPFILE"),
        (libc::O_DIRECTORY as u64, "O_DIRECTORY"),
        (libc::O_SYNC as u64, "O_SYNC"),
    ] {
        if rest & bits == bits {
            parts.push(name.to_owned());
            rest &= !bits;
        }
    }
    if rest != 0 {
        parts.push(flags(rest, OPEN_FLAGS, ""));
    }
    parts.join("|")
}

const AT_FLAGS: Names = names![
    AT_SYMLINK_NOFOLLOW,
    AT_REMOVEDIR,
    AT_SYMLINK_FOLLOW,
    AT_NO_AUTOMOUNT,
    AT_EMPTY_PATH,
    AT_EACCESS
];

const DOMAINS: Names = names![
    AF_UNSPEC,
    AF_UNIX,
    AF_INET,
    AF_AX25,
    AF_IPX,
    AF_APPLETALK,
    AF_NETROM,
    AF_BRIDGE,
    AF_ATMPVC,
    AF_X25,
    AF_INET6,
    AF_ROSE,
    AF_DECnet,
    AF_NETBEUI,
    AF_SECURITY,
    AF_KEY,
    AF_NETLINK,
    AF_PACKET,
    AF_ASH,
    AF_ECONET,
    AF_ATMSVC,
    AF_RDS,
    AF_SNA,
    AF_IRDA,
    AF_PPPOX,
    AF_WANPIPE,
    AF_LLC,
    AF_CAN,
    AF_TIPC,
    AF_BLUETOOTH,
    AF_IUCV,
    AF_RXRPC,
    AF_ISDN,
    AF_PHONET,
    AF_IEEE802154,
    AF_CAIF,
    AF_ALG,
    AF_NFC,
    AF_VSOCK,
    AF_XDP,
];

const SOCKET_TYPES: Names = names![
    SOCK_STREAM,
    SOCK_DGRAM,
    SOCK_RAW,
    SOCK_RDM,
    SOCK_SEQPACKET,
    SOCK_DCCP
];

fn socket_type(value: i32) -> String {
    let base = (value & 0xf) as u64;
    let mut s = constant(base, SOCKET_TYPES);
    let rest = (value & !0xf) as u32 as u64;
    if rest != 0 {
        s.push('|');
        s.push_str(&flags(rest, names![SOCK_CLOEXEC, SOCK_NONBLOCK], ""));
    }
    s
}

const IP_PROTOCOLS: Names = names![
    IPPROTO_IP,
    IPPROTO_ICMP,
    IPPROTO_IGMP,
    IPPROTO_IPIP,
    IPPROTO_TCP,
    IPPROTO_EGP,
    IPPROTO_PUP,
    IPPROTO_UDP,
    IPPROTO_IDP,
    IPPROTO_TP,
    IPPROTO_DCCP,
    IPPROTO_IPV6,
    IPPROTO_RSVP,
    IPPROTO_GRE,
    IPPROTO_ESP,
    IPPROTO_AH,
    IPPROTO_ICMPV6,
    IPPROTO_MTP,
    IPPROTO_BEETPH,
    IPPROTO_ENCAP,
    IPPROTO_PIM,
    IPPROTO_COMP,
    IPPROTO_SCTP,
    IPPROTO_UDPLITE,
    IPPROTO_MPLS,
    IPPROTO_RAW,
    IPPROTO_MPTCP,
];

const NETLINK_PROTOCOLS: Names = names![
    NETLINK_ROUTE,
    NETLINK_USERSOCK,
    NETLINK_FIREWALL,
    NETLINK_SOCK_DIAG,
    NETLINK_NFLOG,
    NETLINK_XFRM,
    NETLINK_SELINUX,
    NETLINK_ISCSI,
    NETLINK_AUDIT,
    NETLINK_FIB_LOOKUP,
    NETLINK_CONNECTOR,
    NETLINK_NETFILTER,
    NETLINK_IP6_FW,
    NETLINK_DNRTMSG,
    NETLINK_KOBJECT_UEVENT,
    NETLINK_GENERIC,
    NETLINK_SCSITRANSPORT,
    NETLINK_ECRYPTFS,
    NETLINK_RDMA,
    NETLINK_CRYPTO,
];

fn protocol(domain: i32, value: i32) -> String {
    match domain {
        libc::AF_INET | libc::AF_INET6 => constant(value as u64, IP_PROTOCOLS),
        libc::AF_NETLINK => constant(value as u64, NETLINK_PROTOCOLS),
        _ => value.to_string(),
    }
}

/// A socket address as strace prints it.
fn sockaddr(bytes: &[u8]) -> String {
    let family = u16::from_ne_bytes([bytes[0], bytes[1]]);
    let name = constant(u64::from(family), DOMAINS);
    let body = &bytes[2..];
    let detail = match i32::from(family) {
        libc::AF_INET if body.len() >= 6 => format!(
            "sin_port=htons({}), sin_addr=inet_addr(\"{}\")",
            u16::from_be_bytes([body[0], body[1]]),
            std::net::Ipv4Addr::new(body[2], body[3], body[4], body[5])
        ),
        libc::AF_INET6 if body.len() >= 22 => {
            let octets: [u8; 16] = body[6..22].try_into().unwrap_or([0; 16]);
            format!(
                "sin6_port=htons({}), sin6_addr=inet_pton(AF_INET6, \"{}\")",
                u16::from_be_bytes([body[0], body[1]]),
                std::net::Ipv6Addr::from(octets)
            )
        }
        libc::AF_UNIX => {
            if body.first() == Some(&0) && body.len() > 1 {
                format!("sun_path=@{}", quote(&body[1..], false))
            } else {
                let end = body.iter().position(|b| *b == 0).unwrap_or(body.len());
                format!("sun_path={}", quote(&body[..end], false))
            }
        }
        libc::AF_NETLINK if body.len() >= 10 => format!(
            "nl_pid={}, nl_groups={:#010x}",
            u32::from_ne_bytes([body[2], body[3], body[4], body[5]]),
            u32::from_ne_bytes([body[6], body[7], body[8], body[9]])
        ),
        _ => {
            let mut hex = String::new();
            for b in body {
                let _ = write!(hex, "\\x{b:02x}");
            }
            format!("sa_data=\"{hex}\"")
        }
    };
    format!("{{sa_family={name}, {detail}}}")
}

const CLONE_FLAGS: Names = names![
    CLONE_VM,
    CLONE_FS,
    CLONE_FILES,
    CLONE_SIGHAND,
    CLONE_PIDFD,
    CLONE_PTRACE,
    CLONE_VFORK,
    CLONE_PARENT,
    CLONE_THREAD,
    CLONE_NEWNS,
    CLONE_SYSVSEM,
    CLONE_SETTLS,
    CLONE_PARENT_SETTID,
    CLONE_CHILD_CLEARTID,
    CLONE_DETACHED,
    CLONE_UNTRACED,
    CLONE_CHILD_SETTID,
    CLONE_NEWCGROUP,
    CLONE_NEWUTS,
    CLONE_NEWIPC,
    CLONE_NEWUSER,
    CLONE_NEWPID,
    CLONE_NEWNET,
    CLONE_IO,
];

/// clone3-only flags (above 32 bits).
const CLONE3_FLAGS: Names = &[
    (1 << 32, "CLONE_CLEAR_SIGHAND"),
    (1 << 33, "CLONE_INTO_CGROUP"),
];

/// clone(2)'s flags: the `CLONE_*` bits, and the exit signal in the low byte.
fn clone_flags(value: u64) -> String {
    let exit_signal = (value & 0xff) as i32;
    let mut s = flags(value & !0xff, CLONE_FLAGS, "");
    if exit_signal != 0 {
        if !s.is_empty() {
            s.push('|');
        }
        s.push_str(&signal(exit_signal));
    }
    if s.is_empty() {
        "0".into()
    } else {
        s
    }
}

/// unshare(2) / setns(2) flags: clone's bits, and CLONE_NEWTIME, which in clone's flags
/// would be part of the exit signal.
fn namespace_flags(value: u64) -> String {
    let time = libc::CLONE_NEWTIME as u64;
    let mut s = flags(value & !time, CLONE_FLAGS, "");
    if value & time != 0 {
        if !s.is_empty() {
            s.push('|');
        }
        s.push_str("CLONE_NEWTIME");
    }
    if s.is_empty() {
        "0".into()
    } else {
        s
    }
}

const PROT_FLAGS: Names = names![
    PROT_READ,
    PROT_WRITE,
    PROT_EXEC,
    PROT_GROWSDOWN,
    PROT_GROWSUP
];

const MAP_FLAGS: Names = names![
    MAP_SHARED_VALIDATE,
    MAP_SHARED,
    MAP_PRIVATE,
    MAP_FIXED,
    MAP_ANONYMOUS,
    MAP_GROWSDOWN,
    MAP_DENYWRITE,
    MAP_EXECUTABLE,
    MAP_LOCKED,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_NONBLOCK,
    MAP_STACK,
    MAP_HUGETLB,
    MAP_SYNC,
    MAP_FIXED_NOREPLACE,
];

const MOUNT_FLAGS: Names = names![
    MS_RDONLY,
    MS_NOSUID,
    MS_NODEV,
    MS_NOEXEC,
    MS_SYNCHRONOUS,
    MS_REMOUNT,
    MS_MANDLOCK,
    MS_DIRSYNC,
    MS_NOATIME,
    MS_NODIRATIME,
    MS_BIND,
    MS_MOVE,
    MS_REC,
    MS_SILENT,
    MS_POSIXACL,
    MS_UNBINDABLE,
    MS_PRIVATE,
    MS_SLAVE,
    MS_SHARED,
    MS_RELATIME,
    MS_KERNMOUNT,
    MS_I_VERSION,
    MS_STRICTATIME,
    MS_LAZYTIME,
    MS_ACTIVE,
    MS_NOUSER,
];

const UMOUNT_FLAGS: Names = names![MNT_FORCE, MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW];

const IOCTLS: Names = names![
    TCGETS,
    TCSETS,
    TCSETSW,
    TCSETSF,
    TCGETA,
    TCSETA,
    TCSETAW,
    TCSETAF,
    TCSBRK,
    TCXONC,
    TCFLSH,
    TIOCEXCL,
    TIOCNXCL,
    TIOCSCTTY,
    TIOCGPGRP,
    TIOCSPGRP,
    TIOCOUTQ,
    TIOCSTI,
    TIOCGWINSZ,
    TIOCSWINSZ,
    TIOCMGET,
    TIOCMBIS,
    TIOCMBIC,
    TIOCMSET,
    TIOCGSOFTCAR,
    TIOCSSOFTCAR,
    FIONREAD,
    TIOCLINUX,
    TIOCCONS,
    TIOCGSERIAL,
    TIOCSSERIAL,
    TIOCPKT,
    FIONBIO,
    TIOCNOTTY,
    TIOCSETD,
    TIOCGETD,
    TCSBRKP,
    TIOCSBRK,
    TIOCCBRK,
    TIOCGSID,
    TIOCGPTN,
    TIOCSPTLCK,
    TIOCGDEV,
    TIOCSIG,
    TIOCVHANGUP,
    TIOCGPKT,
    TIOCGPTLCK,
    TIOCGEXCL,
    TIOCGPTPEER,
    FIONCLEX,
    FIOCLEX,
    FIOASYNC,
    FIOQSIZE,
    SIOCGIFNAME,
    SIOCGIFCONF,
    SIOCGIFFLAGS,
    SIOCSIFFLAGS,
    SIOCGIFADDR,
    SIOCSIFADDR,
    SIOCGIFNETMASK,
    SIOCSIFNETMASK,
    SIOCGIFMTU,
    SIOCSIFMTU,
    SIOCSIFNAME,
    SIOCGIFHWADDR,
    SIOCSIFHWADDR,
    SIOCGIFINDEX,
    SIOCADDRT,
    SIOCDELRT,
    FICLONE,
    FICLONERANGE,
    FS_IOC_GETFLAGS,
    FS_IOC_SETFLAGS,
    TUNSETIFF,
    NS_GET_USERNS,
    NS_GET_PARENT,
    NS_GET_NSTYPE,
    NS_GET_OWNER_UID,
];

const PTRACE_REQUESTS: Names = names![
    PTRACE_TRACEME,
    PTRACE_PEEKTEXT,
    PTRACE_PEEKDATA,
    PTRACE_PEEKUSER,
    PTRACE_POKETEXT,
    PTRACE_POKEDATA,
    PTRACE_POKEUSER,
    PTRACE_CONT,
    PTRACE_KILL,
    PTRACE_SINGLESTEP,
    PTRACE_GETREGS,
    PTRACE_SETREGS,
    PTRACE_ATTACH,
    PTRACE_DETACH,
    PTRACE_SYSCALL,
    PTRACE_SETOPTIONS,
    PTRACE_GETEVENTMSG,
    PTRACE_GETSIGINFO,
    PTRACE_SETSIGINFO,
    PTRACE_GETREGSET,
    PTRACE_SETREGSET,
    PTRACE_SEIZE,
    PTRACE_INTERRUPT,
    PTRACE_LISTEN,
    PTRACE_PEEKSIGINFO,
];

const PRCTL_OPTIONS: Names = names![
    PR_SET_PDEATHSIG,
    PR_GET_PDEATHSIG,
    PR_GET_DUMPABLE,
    PR_SET_DUMPABLE,
    PR_GET_KEEPCAPS,
    PR_SET_KEEPCAPS,
    PR_SET_NAME,
    PR_GET_NAME,
    PR_GET_SECCOMP,
    PR_SET_SECCOMP,
    PR_CAPBSET_READ,
    PR_CAPBSET_DROP,
    PR_GET_SECUREBITS,
    PR_SET_SECUREBITS,
    PR_SET_TIMERSLACK,
    PR_GET_TIMERSLACK,
    PR_SET_MM,
    PR_SET_PTRACER,
    PR_SET_CHILD_SUBREAPER,
    PR_GET_CHILD_SUBREAPER,
    PR_SET_NO_NEW_PRIVS,
    PR_GET_NO_NEW_PRIVS,
    PR_SET_THP_DISABLE,
    PR_GET_THP_DISABLE,
    PR_CAP_AMBIENT,
];

/// A signal's name (`SIGCHLD`), or its number.
fn signal(value: i32) -> String {
    match nix::sys::signal::Signal::try_from(value) {
        Ok(s) => s.as_str().to_owned(),
        Err(_) if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&value) => {
            format!("SIGRT_{}", value - libc::SIGRTMIN())
        }
        Err(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake caller: bytes at fixed addresses.
    struct Fake(Vec<(u64, Vec<u8>)>);

    impl Memory for Fake {
        fn read(&self, addr: u64, buf: &mut [u8]) -> usize {
            for (base, bytes) in &self.0 {
                if addr >= *base && addr < base + bytes.len() as u64 {
                    let from = &bytes[(addr - base) as usize..];
                    let n = from.len().min(buf.len());
                    buf[..n].copy_from_slice(&from[..n]);
                    return n;
                }
            }
            0
        }
    }

    fn args(a: &[u64]) -> [u64; 6] {
        let mut out = [0; 6];
        out[..a.len()].copy_from_slice(a);
        out
    }

    #[test]
    fn socket_by_name() {
        let a = args(&[2, libc::SOCK_STREAM as u64 | libc::SOCK_CLOEXEC as u64, 0]);
        assert_eq!(
            call("socket", &a, &NoMemory),
            "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP)"
        );
        let a = args(&[libc::AF_NETLINK as u64, libc::SOCK_RAW as u64, 0]);
        assert_eq!(
            call("socket", &a, &NoMemory),
            "socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)"
        );
    }

    #[test]
    fn openat_reads_the_path() {
        let memory = Fake(vec![(0x1000, b"/etc/passwd\0junk".to_vec())]);
        let flags = (libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC) as u64;
        let a = args(&[libc::AT_FDCWD as u64, 0x1000, flags, 0o644]);
        assert_eq!(
            call("openat", &a, &memory),
            "openat(AT_FDCWD, \"/etc/passwd\", O_WRONLY|O_CREAT|O_CLOEXEC, 0644)"
        );
        // Unreadable memory: the pointer.
        assert_eq!(arguments("openat", &a, &NoMemory)[1], "0x1000");
    }

    #[test]
    fn connect_spells_the_address() {
        let mut sin = vec![0u8; 16];
        sin[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        sin[2..4].copy_from_slice(&80u16.to_be_bytes());
        sin[4..8].copy_from_slice(&[10, 0, 0, 1]);
        let memory = Fake(vec![(0x2000, sin)]);
        assert_eq!(
            call("connect", &args(&[3, 0x2000, 16]), &memory),
            "connect(3, {sa_family=AF_INET, sin_port=htons(80), \
             sin_addr=inet_addr(\"10.0.0.1\")}, 16)"
        );
        let mut sun = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        sun.extend_from_slice(b"/run/x.sock\0");
        let memory = Fake(vec![(0x3000, sun)]);
        assert_eq!(
            arguments("connect", &args(&[4, 0x3000, 14]), &memory)[1],
            "{sa_family=AF_UNIX, sun_path=\"/run/x.sock\"}"
        );
    }

    #[test]
    fn clone_ioctl_mount_mmap() {
        let flags = (libc::CLONE_VM | libc::CLONE_VFORK) as u64 | libc::SIGCHLD as u64;
        assert_eq!(
            arguments("clone", &args(&[flags]), &NoMemory)[0],
            "CLONE_VM|CLONE_VFORK|SIGCHLD"
        );
        let unshare = (libc::CLONE_NEWUSER | libc::CLONE_NEWTIME) as u64;
        assert_eq!(
            arguments("unshare", &args(&[unshare]), &NoMemory)[0],
            "CLONE_NEWUSER|CLONE_NEWTIME"
        );
        assert_eq!(
            arguments("ioctl", &args(&[1, libc::TIOCSTI, 0]), &NoMemory)[1],
            "TIOCSTI"
        );
        let memory = Fake(vec![
            (0x10, b"none\0".to_vec()),
            (0x20, b"/mnt\0".to_vec()),
            (0x30, b"tmpfs\0".to_vec()),
        ]);
        let a = args(&[0x10, 0x20, 0x30, libc::MS_NOSUID | libc::MS_NODEV, 0]);
        assert_eq!(
            call("mount", &a, &memory),
            "mount(\"none\", \"/mnt\", \"tmpfs\", MS_NOSUID|MS_NODEV, NULL)"
        );
        let a = args(&[0, 4096, 3, (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64]);
        assert_eq!(
            &arguments("mmap", &a, &NoMemory)[2..4],
            ["PROT_READ|PROT_WRITE", "MAP_PRIVATE|MAP_ANONYMOUS"]
        );
    }

    #[test]
    fn unknown_calls_and_values_stay_numbers() {
        assert_eq!(
            arguments("nosuchcall", &args(&[1, 0x20]), &NoMemory),
            ["0x1", "0x20", "0x0", "0x0", "0x0", "0x0"]
        );
        assert_eq!(arguments("socket", &args(&[9999]), &NoMemory)[0], "9999");
        assert_eq!(flags(0x8000_0000, UMOUNT_FLAGS, "0"), "0x80000000");
    }

    #[test]
    fn strings_are_quoted_and_cut() {
        let long = vec![b'a'; 400];
        let memory = Fake(vec![(0x100, long), (0x900, b"a\"b\n\x01\0".to_vec())]);
        let cut = arguments("unlink", &args(&[0x100]), &memory)[0].clone();
        assert!(cut.ends_with("\"..."), "{cut}");
        assert_eq!(
            arguments("unlink", &args(&[0x900]), &memory)[0],
            "\"a\\\"b\\n\\x01\""
        );
    }

    #[test]
    fn reads_this_process() {
        let path = c"/proc/self/status";
        let own = ProcessMemory::new(std::process::id() as i32);
        assert_eq!(
            arguments("open", &args(&[path.as_ptr() as u64, 0]), &own)[..2],
            ["\"/proc/self/status\"", "O_RDONLY"]
        );
    }
}
