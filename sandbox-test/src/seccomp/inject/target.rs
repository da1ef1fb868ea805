//! What a call's `path` is: its path argument (resolved against the caller's cwd or
//! dirfd) or what its descriptor refers to, read by the supervisor from the caller.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::seccomp::decode::{self, ProcessMemory};

/// Where a syscall names the file it works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Target {
    /// A path argument, relative to the caller's cwd.
    Path { path: u8 },
    /// A path argument relative to a dirfd argument (`AT_FDCWD`: the cwd; an empty path or
    /// NULL: the dirfd itself).
    At { dirfd: u8, path: u8 },
    /// A descriptor argument: what `/proc/PID/fd/N` names.
    Fd { fd: u8 },
}

/// The argument layout of the calls that take a path or a descriptor (by libseccomp's
/// names); `None` for the others, which `path` cannot apply to.
pub(crate) fn target(name: &str) -> Option<Target> {
    const PATH_0: &[&str] = &[
        "open",
        "creat",
        "stat",
        "lstat",
        "access",
        "truncate",
        "mkdir",
        "rmdir",
        "unlink",
        "chdir",
        "chmod",
        "chown",
        "lchown",
        "readlink",
        "statfs",
        "execve",
        "utime",
        "utimes",
        "mknod",
        "rename",
        "link",
        "setxattr",
        "lsetxattr",
        "getxattr",
        "lgetxattr",
        "listxattr",
        "llistxattr",
        "removexattr",
        "lremovexattr",
        "chroot",
        "acct",
        "swapon",
        "swapoff",
        "uselib",
    ];
    const PATH_1: &[&str] = &["symlink", "inotify_add_watch"];
    const AT_0_1: &[&str] = &[
        "openat",
        "openat2",
        "mkdirat",
        "mknodat",
        "fchownat",
        "futimesat",
        "newfstatat",
        "unlinkat",
        "renameat",
        "renameat2",
        "linkat",
        "readlinkat",
        "fchmodat",
        "fchmodat2",
        "faccessat",
        "faccessat2",
        "utimensat",
        "execveat",
        "statx",
        "name_to_handle_at",
        "open_tree",
    ];
    const FD_0: &[&str] = &[
        "read",
        "write",
        "pread64",
        "pwrite64",
        "readv",
        "writev",
        "preadv",
        "pwritev",
        "preadv2",
        "pwritev2",
        "fsync",
        "fdatasync",
        "fstat",
        "ftruncate",
        "fallocate",
        "lseek",
        "fchmod",
        "fchown",
        "fcntl",
        "ioctl",
        "flock",
        "getdents",
        "getdents64",
        "connect",
        "bind",
        "accept",
        "accept4",
        "sendto",
        "recvfrom",
        "sendmsg",
        "recvmsg",
        "sendmmsg",
        "recvmmsg",
        "shutdown",
        "listen",
        "getsockname",
        "getpeername",
        "setsockopt",
        "getsockopt",
        "close",
        "fchdir",
        "fstatfs",
        "fgetxattr",
        "fsetxattr",
        "flistxattr",
        "fremovexattr",
        "fadvise64",
        "sync_file_range",
        "syncfs",
        "readahead",
        "copy_file_range",
        "splice",
        "tee",
        "vmsplice",
        "dup",
        "dup2",
        "dup3",
        "sendfile",
    ];
    if PATH_0.contains(&name) {
        Some(Target::Path { path: 0 })
    } else if PATH_1.contains(&name) {
        Some(Target::Path { path: 1 })
    } else if AT_0_1.contains(&name) {
        Some(Target::At { dirfd: 0, path: 1 })
    } else if name == "symlinkat" {
        Some(Target::At { dirfd: 1, path: 2 })
    } else if FD_0.contains(&name) {
        Some(Target::Fd { fd: 0 })
    } else if name == "mmap" {
        Some(Target::Fd { fd: 4 })
    } else {
        None
    }
}

/// The longest path read from the caller (PATH_MAX).
const PATH_MAX: usize = 4096;

/// The file a stopped call works on, as an absolute path (lexically normalised; symlinks
/// are not followed). `None` when it cannot be read (the caller's memory is gone, a
/// descriptor is closed).
pub(crate) fn resolve(pid: u32, target: Target, args: &[u64; 6]) -> Option<PathBuf> {
    let arg = |i: u8| args[usize::from(i)];
    match target {
        Target::Fd { fd } => fd_path(pid, arg(fd) as i32),
        Target::Path { path } => {
            let path = read_c_string(pid, arg(path))?;
            anchor(pid, libc::AT_FDCWD, path)
        }
        Target::At { dirfd, path } => {
            let dirfd = arg(dirfd) as i32;
            match arg(path) {
                0 => fd_path(pid, dirfd),
                address => {
                    let path = read_c_string(pid, address)?;
                    if path.as_os_str().is_empty() {
                        fd_path(pid, dirfd)
                    } else {
                        anchor(pid, dirfd, path)
                    }
                }
            }
        }
    }
}

/// `path` made absolute against the caller's cwd or `dirfd`.
fn anchor(pid: u32, dirfd: i32, path: PathBuf) -> Option<PathBuf> {
    if path.is_absolute() {
        return Some(normalize(&path));
    }
    let base = if dirfd == libc::AT_FDCWD {
        std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?
    } else {
        fd_path(pid, dirfd)?
    };
    Some(normalize(&base.join(path)))
}

/// What the caller's descriptor refers to (`/proc/PID/fd/N`: a path, `socket:[…]`, …).
fn fd_path(pid: u32, fd: i32) -> Option<PathBuf> {
    if fd < 0 {
        return None;
    }
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()
}

/// Drops `.` and folds `..` (textually, as `realpath -s` does).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// A whole NUL-terminated path from the caller's memory (`None` if it is cut or unreadable).
fn read_c_string(pid: u32, address: u64) -> Option<PathBuf> {
    if address == 0 {
        return None;
    }
    let memory = ProcessMemory::new(pid as i32);
    match decode::read_c_string(&memory, address, PATH_MAX)? {
        (bytes, true) => Some(PathBuf::from(OsString::from_vec(bytes))),
        (_, false) => None,
    }
}

/// For reports: the path as text.
pub(crate) fn display(path: &Path) -> String {
    String::from_utf8_lossy(path.as_os_str().as_bytes()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert_eq!(target("write"), Some(Target::Fd { fd: 0 }));
        assert_eq!(target("openat"), Some(Target::At { dirfd: 0, path: 1 }));
        assert_eq!(target("symlinkat"), Some(Target::At { dirfd: 1, path: 2 }));
        assert_eq!(target("unlink"), Some(Target::Path { path: 0 }));
        assert_eq!(target("getpid"), None);
    }

    #[test]
    fn normalizes_textually() {
        assert_eq!(normalize(Path::new("/a/./b/../c//d")), Path::new("/a/c/d"));
        assert_eq!(normalize(Path::new("/../x")), Path::new("/x"));
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let text = c"/some/where";
        let got = read_c_string(pid, text.as_ptr() as u64).unwrap();
        assert_eq!(got, Path::new("/some/where"));
        let args = [libc::AT_FDCWD as u64, text.as_ptr() as u64, 0, 0, 0, 0];
        assert_eq!(
            resolve(pid, Target::At { dirfd: 0, path: 1 }, &args).unwrap(),
            Path::new("/some/where")
        );
        let relative = c"rel/x";
        let args = [relative.as_ptr() as u64, 0, 0, 0, 0, 0];
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            resolve(pid, Target::Path { path: 0 }, &args).unwrap(),
            cwd.join("rel/x")
        );
    }
}
