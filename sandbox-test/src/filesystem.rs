//! The sandbox's view of the filesystem: its own mount namespace, a fresh /proc, a private
//! /tmp, the working directory.

pub(crate) mod isolation;
pub(crate) mod mountinfo;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use nix::mount::{mount, MsFlags};
use serde::{Deserialize, Serialize};

use crate::step::StepError;

/// Where the body starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Workdir {
    /// The calling test's current directory when the sandbox runs (cargo starts a test in
    /// its package's root; a test that changed directory is followed).
    #[default]
    Inherit,
    /// A fresh directory in the sandbox's private /tmp, gone with the sandbox.
    Temp,
    /// This absolute path, which must exist.
    Path(PathBuf),
}

impl Workdir {
    /// In the parent, when a sandbox runs: `Inherit` becomes the caller's current
    /// directory now (the sandbox is forked from a fork server that kept the directory the
    /// test binary started in).
    pub(crate) fn at_run_time(&self) -> std::io::Result<Workdir> {
        match self {
            Workdir::Inherit => std::env::current_dir().map(Workdir::Path),
            other => Ok(other.clone()),
        }
    }

    /// The directory the body starts in, when it is a given one (a plan's workdir is
    /// never `Inherit`: [`Workdir::at_run_time`] made it a path).
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            Workdir::Path(path) => Some(path),
            Workdir::Inherit | Workdir::Temp => None,
        }
    }
}

fn mount_error(what: &str) -> impl Fn(nix::errno::Errno) -> StepError + '_ {
    move |errno| StepError::Sys(what.to_owned(), errno)
}

/// `mount --make-rprivate /`: nothing mounted here propagates to the host.
pub(crate) fn make_mounts_private() -> Result<(), StepError> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(mount_error("making / private (MS_REC|MS_PRIVATE)"))
}

/// `mount -t proc proc /proc`, showing only the sandbox's processes.
pub(crate) fn mount_proc() -> Result<(), StepError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>)
        .map_err(mount_error("mounting proc on /proc"))
}

/// `mount -t sysfs sysfs /sys`: the sysfs of the sandbox's own network namespace, so that
/// `/sys/class/net` lists only its interfaces, not the host's. Only with a network
/// namespace of its own: the kernel lets only its owner mount sysfs.
/// Read-only: the kernel's settings under /sys are not the test's to change.
pub(crate) fn mount_sysfs() -> Result<(), StepError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY;
    mount(Some("sysfs"), "/sys", Some("sysfs"), flags, None::<&str>)
        .map_err(mount_error("mounting sysfs on /sys"))
}

/// Host process step, on its host: `unshare --mount` (a copy of the sandbox's mounts: the
/// same files) and [`mount_sysfs`] there, so that `/sys/class/net` lists the host's own
/// interfaces (the init mounted the first host's, the body's). Read-only like the first,
/// and locked with the rest by the process's mount lock.
pub(crate) fn mount_own_sysfs() -> Result<(), StepError> {
    crate::namespaces::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    mount_sysfs()
}

/// `mount -t tmpfs tmpfs /dev/shm`: POSIX shared memory of the sandbox's own, as its
/// SysV IPC is, and writable on the read-only host. A host without /dev/shm is left so.
pub(crate) fn mount_private_shm() -> Result<(), StepError> {
    if !std::path::Path::new(SHM).is_dir() {
        return Ok(());
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(Some("tmpfs"), SHM, Some("tmpfs"), flags, Some("mode=1777"))
        .map_err(mount_error("mounting a tmpfs on /dev/shm"))
}

/// Where the sandbox's private shared memory is mounted.
pub(crate) const SHM: &str = "/dev/shm";

/// The kernel's knobs under /proc: read-only in every sandbox, whatever the filesystem
/// options. When the test runs as root, root inside is root outside for their permission
/// checks: `/proc/sysrq-trigger` would reboot the machine and `/proc/sys` would set the
/// host's kernel parameters. They stay read-only: the body has no capability to remount
/// them, and the kernel locks them in any namespace the body creates.
const KERNEL_INTERFACES: [&str; 5] = [
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/proc/fs",
];

/// Init step, after the filesystem options: bind-mounts each of [`KERNEL_INTERFACES`]
/// that exists onto itself, read-only.
pub(crate) fn protect_kernel_interfaces() -> Result<(), StepError> {
    for path in KERNEL_INTERFACES {
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        mount(
            Some(path),
            path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|errno| StepError::Sys(format!("bind-mounting {path} onto itself"), errno))?;
        isolation::remount_readonly(std::path::Path::new(path)).map_err(StepError::from)?;
    }
    Ok(())
}

/// The running executable's path, looked up once per process (the executable does not
/// move while it runs); the fork server looks it up before it forks any sandbox.
fn executable() -> Option<&'static Path> {
    static EXE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    EXE.get_or_init(|| std::env::current_exe().ok()).as_deref()
}

/// Fork server, once: what every sandbox's mounts need from the host and inherits.
pub(crate) fn prepare_for_sandboxes() {
    let _ = executable();
}

/// `mount -t tmpfs tmpfs /tmp`. The test's own files stay where they are: when the test
/// binary, the body's working directory or a build directory (the package and target
/// directories the read-only host keeps writable) lives under /tmp (a clone checked out
/// there, an unpacked nextest archive, a temporary directory the test moved into), it is
/// bind-mounted back at its path in the new tmpfs, so that backtraces can read the
/// binary's debug info, `current_exe()` can be re-run, the body finds its directory and
/// build outputs reach the host.
pub(crate) fn mount_private_tmp(
    workdir: &Workdir,
    build_dirs: &[PathBuf],
) -> Result<(), StepError> {
    let exe = executable();
    let cwd = workdir.path();
    let mut keep: Vec<PathBuf> = Vec::new();
    let candidates = build_dirs
        .iter()
        .map(PathBuf::as_path)
        .chain(cwd)
        .chain(exe);
    for path in candidates.filter(|p| p.starts_with("/tmp")) {
        if !keep.iter().any(|k| path.starts_with(k)) {
            keep.retain(|k| !k.starts_with(path));
            keep.push(path.to_path_buf());
        }
    }
    // O_PATH handles taken before the tmpfs hides the paths.
    let handles: Vec<(PathBuf, OwnedFd)> = keep
        .into_iter()
        .map(|path| {
            let fd = nix::fcntl::open(&path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(|errno| StepError::Sys(format!("opening {}", path.display()), errno))?;
            // SAFETY: `open` returned a new fd that nothing else owns.
            Ok((path, unsafe { OwnedFd::from_raw_fd(fd) }))
        })
        .collect::<Result<_, StepError>>()?;

    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        flags,
        Some("mode=1777"),
    )
    .map_err(mount_error("mounting a tmpfs on /tmp"))?;

    for (path, fd) in handles {
        let is_dir = nix::sys::stat::fstat(fd.as_raw_fd())
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .unwrap_or(false);
        create_mount_point(&path, is_dir).map_err(|e| {
            StepError::Other(format!(
                "recreating {} in the private /tmp: {e}",
                path.display()
            ))
        })?;
        let source = format!("/proc/self/fd/{}", fd.as_raw_fd());
        mount(
            Some(source.as_str()),
            &path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|errno| {
            StepError::Sys(
                format!("bind-mounting {} back into /tmp", path.display()),
                errno,
            )
        })?;
    }
    Ok(())
}

/// Creates an empty mount point at `path`: a directory, or, for a file, its parent
/// directories and an empty file.
pub(crate) fn create_mount_point(path: &std::path::Path, directory: bool) -> std::io::Result<()> {
    if directory {
        std::fs::create_dir_all(path)
    } else {
        path.parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::File::create(path).map(drop))
    }
}

/// `cd` into the working directory the test asked for.
pub(crate) fn enter_workdir(workdir: &Workdir) -> Result<(), StepError> {
    let path = match workdir {
        Workdir::Inherit => return Ok(()),
        Workdir::Temp => tempfile::Builder::new()
            .prefix("sandbox-test-")
            .tempdir_in("/tmp")
            .map_err(|e| StepError::Other(format!("creating a temp dir in /tmp: {e}")))?
            // The directory goes away with the sandbox's tmpfs.
            .keep(),
        Workdir::Path(path) => path.clone(),
    };
    nix::unistd::chdir(&path)
        .map_err(|errno| StepError::Sys(format!("chdir({})", path.display()), errno))
}
