//! Filesystem isolation on top of the sandbox's private mounts: `readonly_root`,
//! `writable`, `hide` and `bind`.
//!
//! All steps run in the sandbox's init process, in its own mount namespace, after the
//! core has made every mount private and mounted /proc, /tmp and the workdir. The order
//! is [`apply`]: hide, bind, read-only pass. The body cannot undo a read-only mount: it
//! keeps no capability in the sandbox's user namespace, and the kernel locks the flags of
//! every mount it copies into a namespace owned by a less privileged user namespace (one
//! the body could create with `seccomp = "off"`).

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use serde::{Deserialize, Serialize};

use super::mountinfo;
use crate::filesystem::Workdir;
pub use crate::spec::host_socket::HostSocket;
use crate::step::StepError;

/// How much of the host's filesystem the body may write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HostAccess {
    /// The default: every host mount is read-only inside, except the test's package
    /// directory and the cargo target directory (and /tmp, /proc, `writable`, read-write
    /// binds, an explicit workdir).
    #[default]
    BuildDirsWritable,
    /// `readonly_root`: as the default, with the package and target directories read-only
    /// too.
    ReadOnly,
    /// `writable_host`: the host's mounts stay as writable as they are outside.
    Writable,
}

/// The filesystem options of one sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsIsolation {
    /// What the body may write of the host's filesystem.
    pub host: HostAccess,
    /// Paths that stay writable on a read-only host.
    pub writable: Vec<PathBuf>,
    /// Paths covered by an empty tmpfs (directories) or by /dev/null (other files).
    pub hide: Vec<PathBuf>,
    /// Host paths mounted inside the sandbox.
    pub bind: Vec<Bind>,
    /// Host control sockets the test reaches on purpose; every other one is hidden.
    /// Resolved in the parent (into [`FsPlan::host_sockets`]): not sent to the sandbox.
    #[serde(skip)]
    pub expose: Vec<HostSocket>,
    /// The test's package directory as the attribute saw it at compile time (used when
    /// `CARGO_MANIFEST_DIR` is not set at run time, e.g. a test binary run by hand).
    /// Resolved in the parent (into [`FsPlan::build_dirs`]): not sent to the sandbox.
    #[serde(skip)]
    pub package_dir: Option<PathBuf>,
}

/// What the init does, resolved in the parent from [`FsIsolation`] and the parent's
/// environment: which paths to hide, which to keep writable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsPlan {
    /// The options as given.
    pub options: FsIsolation,
    /// The host control sockets that exist, minus those exposed.
    pub host_sockets: Vec<PathBuf>,
    /// The package and target directories, when the host is otherwise read-only.
    pub build_dirs: Vec<PathBuf>,
    /// The working directory, writable too: the one the test gave (`workdir = "/path"`),
    /// or the one the caller moved to, unless that is the package directory (cargo's
    /// default), which `readonly_root` closes.
    pub given_workdir: Option<PathBuf>,
}

/// One bind mount, parsed from the `"/host:/inside[:ro]"` form (`sandbox_test_spec::bind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// The host path.
    pub source: PathBuf,
    /// Where it appears inside the sandbox.
    pub target: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
}

impl FsIsolation {
    /// Resolves, in the parent, what the init needs from the parent's environment: the
    /// host control sockets that exist (minus the exposed ones) and, on the default
    /// read-only host, the package and target directories. `workdir` is the option,
    /// `at_run_time` what [`Workdir::at_run_time`] made of it.
    pub(crate) fn resolve(&self, workdir: &Workdir, at_run_time: &Workdir) -> FsPlan {
        let env = |key: &str| std::env::var(key).ok();
        let mut runtime_dirs: Vec<PathBuf> = env("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute())
            .into_iter()
            .collect();
        runtime_dirs.push(PathBuf::from(format!(
            "/run/user/{}",
            nix::unistd::Uid::current()
        )));
        let mut host_sockets: Vec<PathBuf> = HostSocket::ALL
            .into_iter()
            .filter(|socket| !self.expose.contains(socket))
            .flat_map(|socket| socket.paths(&runtime_dirs, env))
            // Most candidates do not exist: one stat each (canonicalize would fail on them
            // too) rather than its walk of a readlink per component, on every test.
            .filter(|path| path.exists())
            // The real path, once: /var/run is often a link to /run.
            .filter_map(|path| std::fs::canonicalize(path).ok())
            .collect();
        host_sockets.sort();
        host_sockets.dedup();
        // The package directory's real path, looked up at most once.
        let package = std::cell::OnceCell::new();
        let package = || {
            package
                .get_or_init(|| {
                    package_dir(self.package_dir.as_deref())
                        .and_then(|dir| std::fs::canonicalize(dir).ok())
                })
                .as_deref()
        };
        let build_dirs = match self.host {
            HostAccess::BuildDirsWritable => build_dirs(package()),
            HostAccess::ReadOnly | HostAccess::Writable => Vec::new(),
        }
        .into_iter()
        // A build directory under a path the test hides stays hidden: the test asked for it.
        .filter(|dir| !self.is_hidden(dir))
        .collect();
        FsPlan {
            options: self.clone(),
            host_sockets,
            build_dirs,
            given_workdir: match workdir {
                Workdir::Path(path) => Some(path.clone()),
                // The directory the caller moved to, unless it is (in) the package
                // directory, cargo's default, which `readonly_root` closes.
                Workdir::Inherit => at_run_time
                    .path()
                    .filter(|cwd| !package().is_some_and(|package| cwd.starts_with(package)))
                    .map(Path::to_path_buf),
                Workdir::Temp => None,
            },
        }
    }

    /// Whether `path` lies under one of the paths the test hides (as given or resolved).
    pub(crate) fn is_hidden(&self, path: &Path) -> bool {
        self.hide.iter().any(|hidden| {
            path.starts_with(hidden)
                || std::fs::canonicalize(hidden).is_ok_and(|real| path.starts_with(real))
        })
    }
}

/// The package directory (its real path, from [`package_dir`]) and the cargo target
/// directory, those that exist.
fn build_dirs(package: Option<&Path>) -> Vec<PathBuf> {
    let package = package.map(Path::to_owned);
    // Both the directory cargo was told about and the one this executable lives in: they
    // differ when the binaries were moved (a nextest archive run with CARGO_TARGET_DIR
    // still set from the build).
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
    let exe_target = exe_target_dir().map(Path::to_owned);
    let mut dirs: Vec<PathBuf> = [package, target, exe_target]
        .into_iter()
        .flatten()
        .filter(|dir| dir.is_absolute())
        .filter_map(|dir| std::fs::canonicalize(dir).ok())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// The package directory: `CARGO_MANIFEST_DIR` at run time, else `compiled`.
fn package_dir(compiled: Option<&Path>) -> Option<PathBuf> {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| compiled.map(Path::to_owned))
}

/// The target directory of this executable, looked up once per process (the executable
/// does not move while it runs).
fn exe_target_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| super::executable().and_then(target_dir_of))
        .as_deref()
}

/// The cargo target directory a test executable lives in: cargo puts test binaries in
/// `<target>/<profile>/deps/` (or `<target>/<triple>/<profile>/deps/`), and writes a
/// `CACHEDIR.TAG` at the target directory's root. The nearest ancestor with that tag;
/// failing that (an unpacked nextest archive, a copied tree), the directory above the
/// profile directory.
pub(crate) fn target_dir_of(exe: &Path) -> Option<PathBuf> {
    let tagged = exe
        .ancestors()
        .skip(1)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file());
    tagged.map(Path::to_owned).or_else(|| {
        let deps = exe.parent().filter(|dir| dir.ends_with("deps"))?;
        deps.parent()?.parent().map(Path::to_owned)
    })
}

/// Why a filesystem step failed.
#[derive(Debug)]
pub enum FsError {
    /// /proc/self/mountinfo could not be read.
    Mounts(io::Error),
    /// A path the step needs does not exist or cannot be inspected.
    Path {
        role: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    /// A bind target outside the sandbox's own tmpfs does not exist (the sandbox never
    /// creates paths on the host's filesystems).
    MissingTarget(PathBuf),
    /// A mount call failed.
    Mount {
        action: &'static str,
        path: PathBuf,
        errno: Errno,
    },
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::Mounts(e) => write!(f, "cannot read /proc/self/mountinfo: {e}"),
            FsError::Path { role, path, error } => write!(f, "{role} {}: {error}", path.display()),
            FsError::MissingTarget(path) => write!(
                f,
                "bind target {} does not exist; create it on the host, or bind below /tmp or a hidden path where the sandbox creates it",
                path.display()
            ),
            FsError::Mount { action, path, errno } => {
                write!(f, "cannot {action} {}: {errno}", path.display())
            }
        }
    }
}

impl std::error::Error for FsError {}

/// The sandbox's own writable mounts.
const SANDBOX_PROC: &str = "/proc";
/// The sandbox's private tmpfs, where bind targets may be created.
const SANDBOX_TMP: &str = "/tmp";

/// Init step, after /proc, /tmp and /dev/shm are mounted: [`apply`] with the sandbox's own
/// writable places (/proc, /tmp, /dev/shm, an explicit workdir).
pub(crate) fn apply_in_sandbox(plan: &FsPlan) -> Result<(), StepError> {
    let mut writable = vec![
        Path::new(SANDBOX_PROC),
        Path::new(SANDBOX_TMP),
        Path::new(super::SHM),
    ];
    writable.extend(plan.given_workdir.as_deref());
    writable.extend(plan.build_dirs.iter().map(PathBuf::as_path));
    writable.retain(|path| path.exists());
    apply(plan, &writable, &[Path::new(SANDBOX_TMP)]).map_err(StepError::from)
}

impl From<FsError> for StepError {
    fn from(error: FsError) -> Self {
        match &error {
            FsError::Mount { errno, .. } => StepError::Sys(error.to_string(), *errno),
            _ => StepError::Other(error.to_string()),
        }
    }
}

/// Setup step: applies `plan` in order (hide, bind, read-only pass). `sandbox_writable`
/// are the writable places of the sandbox (/tmp, /proc, the workdir, the build
/// directories); `scratch` are the sandbox's private tmpfs mounts below which missing bind
/// targets may be created (/tmp).
pub fn apply(plan: &FsPlan, sandbox_writable: &[&Path], scratch: &[&Path]) -> Result<(), FsError> {
    let config = &plan.options;
    hide(&plan.host_sockets)?;
    hide(&config.hide)?;
    let mut private: Vec<&Path> = scratch.to_vec();
    private.extend(config.hide.iter().map(PathBuf::as_path));
    mount_binds(&config.bind, &private)?;
    if config.host != HostAccess::Writable {
        let mut keep: Vec<&Path> = sandbox_writable.to_vec();
        keep.extend(config.writable.iter().map(PathBuf::as_path));
        keep.extend(
            config
                .bind
                .iter()
                .filter(|b| !b.read_only)
                .map(|b| b.target.as_path()),
        );
        // The scratch tmpfs (/tmp) is opened alone: what is mounted below it came from the
        // host (a build directory, the workdir or the executable bound back, a bind), and
        // is writable only if kept itself.
        make_root_readonly(&keep, scratch)?;
        // Opening a kept path again opened the `:ro` binds below it too.
        for bind in config.bind.iter().filter(|b| b.read_only) {
            remount_readonly_under(&bind.target, &[], &[])?;
        }
    }
    Ok(())
}

/// Covers each existing path: a directory with an empty tmpfs, anything else (a socket,
/// a file) with /dev/null. A path that does not exist has nothing to hide.
pub fn hide(paths: &[PathBuf]) -> Result<(), FsError> {
    for path in paths {
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(FsError::Path {
                    role: "hide",
                    path: path.clone(),
                    error,
                })
            }
        };
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        let result = if metadata.is_dir() {
            mount(Some("tmpfs"), path, Some("tmpfs"), flags, Some("mode=0755"))
        } else {
            mount(
                Some("/dev/null"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        result.map_err(|errno| FsError::Mount {
            action: "hide",
            path: path.clone(),
            errno,
        })?;
    }
    Ok(())
}

/// Bind-mounts each source at its target (recursively, so mounts below the source come
/// along), then makes `:ro` binds read-only. A missing target is created only below one
/// of `private` (tmpfs mounts that belong to the sandbox).
pub fn mount_binds(binds: &[Bind], private: &[&Path]) -> Result<(), FsError> {
    for bind in binds {
        let source = std::fs::metadata(&bind.source).map_err(|error| FsError::Path {
            role: "bind source",
            path: bind.source.clone(),
            error,
        })?;
        if !bind.target.exists() {
            create_target(&bind.target, source.is_dir(), private)?;
        }
        mount(
            Some(&bind.source),
            &bind.target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|errno| FsError::Mount {
            action: "bind-mount onto",
            path: bind.target.clone(),
            errno,
        })?;
        if bind.read_only {
            remount_readonly_under(&bind.target, &[], &[])?;
        }
    }
    Ok(())
}

fn create_target(target: &Path, directory: bool, private: &[&Path]) -> Result<(), FsError> {
    if !private
        .iter()
        .any(|root| target.starts_with(root) && target != *root)
    {
        return Err(FsError::MissingTarget(target.to_owned()));
    }
    super::create_mount_point(target, directory).map_err(|error| FsError::Path {
        role: "bind target",
        path: target.to_owned(),
        error,
    })
}

/// Makes every mount read-only except those at or below a path in `keep`. Each kept
/// path that is not a mount point yet is first bind-mounted onto itself, so it keeps
/// its writability when the mount it lives on becomes read-only. Where the kernel has
/// `mount_setattr` (5.12), one recursive call closes the whole tree and one per kept path
/// opens it again; elsewhere each mount is remounted.
/// `alone`: kept paths opened without the mounts below them.
pub fn make_root_readonly(keep: &[&Path], alone: &[&Path]) -> Result<(), FsError> {
    // Read only if some kept path cannot say itself whether it is a mount's root.
    let mut mounts: Option<Vec<mountinfo::MountInfo>> = None;
    for path in keep {
        let is_mount_root = match is_mount_root(path).map_err(|error| FsError::Path {
            role: "writable path",
            path: path.to_path_buf(),
            error,
        })? {
            Some(known) => known,
            None => {
                if mounts.is_none() {
                    mounts = Some(mountinfo::read().map_err(FsError::Mounts)?);
                }
                let mounts = mounts.as_deref().unwrap_or_default();
                mounts.iter().any(|m| m.mount_point == *path)
            }
        };
        if !is_mount_root {
            mount(
                Some(*path),
                *path,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|errno| FsError::Mount {
                action: "keep writable",
                path: path.to_path_buf(),
                errno,
            })?;
        }
    }
    match set_readonly_recursive(Path::new("/"), true) {
        Err(Errno::ENOSYS) => return remount_readonly_under(Path::new("/"), keep, alone),
        result => result.map_err(|errno| FsError::Mount {
            action: "make read-only (mount_setattr)",
            path: "/".into(),
            errno,
        })?,
    }
    for path in keep {
        let flags = if alone.contains(path) {
            0
        } else {
            libc::AT_RECURSIVE
        };
        match set_readonly(path, false, flags) {
            Ok(()) => {}
            // A mount below that was read-only on the host, which the kernel locked when
            // it copied it into the sandbox: open the others one by one; it stays as it is
            // outside.
            Err(Errno::EPERM) => reopen_each_under(path)?,
            Err(errno) => {
                return Err(FsError::Mount {
                    action: "keep writable (mount_setattr)",
                    path: path.to_path_buf(),
                    errno,
                })
            }
        }
    }
    Ok(())
}

/// `struct mount_attr` of `mount_setattr(2)` (not in the libc crate).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// `mount_setattr(path, AT_RECURSIVE, {set or clear MOUNT_ATTR_RDONLY})`: the mount at
/// `path` and every mount below it, shadowed ones included, in one call.
fn set_readonly_recursive(path: &Path, read_only: bool) -> Result<(), Errno> {
    set_readonly(path, read_only, libc::AT_RECURSIVE)
}

fn set_readonly(path: &Path, read_only: bool, flags: libc::c_int) -> Result<(), Errno> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let attr = MountAttr {
        attr_set: if read_only { MOUNT_ATTR_RDONLY } else { 0 },
        attr_clr: if read_only { 0 } else { MOUNT_ATTR_RDONLY },
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a NUL-terminated path and a mount_attr of the size passed.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            flags | libc::AT_NO_AUTOMOUNT,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(result).map(drop)
}

/// Clears the read-only flag of each reachable mount at or below `base`, leaving those
/// the kernel keeps read-only.
fn reopen_each_under(base: &Path) -> Result<(), FsError> {
    let mounts = mountinfo::read().map_err(FsError::Mounts)?;
    for entry in mounts.iter().filter(|m| m.mount_point.starts_with(base)) {
        match set_readonly(&entry.mount_point, false, 0) {
            Ok(()) | Err(Errno::EPERM) | Err(Errno::ENOENT) => {}
            Err(errno) => {
                return Err(FsError::Mount {
                    action: "keep writable (mount_setattr)",
                    path: entry.mount_point.clone(),
                    errno,
                })
            }
        }
    }
    Ok(())
}

/// Remounts every mount at or below `base` read-only, skipping mounts at or below a path
/// in `keep` (only at it for a path also in `alone`) and mounts that are shadowed by a
/// later mount (not reachable by path).
pub fn remount_readonly_under(base: &Path, keep: &[&Path], alone: &[&Path]) -> Result<(), FsError> {
    let mounts = mountinfo::read().map_err(FsError::Mounts)?;
    let kept = |point: &Path| {
        keep.iter().any(|kept| match alone.contains(kept) {
            true => point == *kept,
            false => point.starts_with(kept),
        })
    };
    for entry in &mounts {
        let point = entry.mount_point.as_path();
        if !point.starts_with(base) || kept(point) {
            continue;
        }
        match mount_id_at(point) {
            MountId::Is(id) if id == entry.mount_id => remount_readonly(point)?,
            // Covered by another mount, or not reachable with our credentials: the body
            // cannot reach it by this path either.
            MountId::Is(_) | MountId::Unreachable => continue,
            // Before Linux 5.8: by path. A covered mount's path reaches the mount covering
            // it, which is not kept either (kept paths were skipped above), or a directory
            // that is no mount point any more (EINVAL).
            MountId::Unknown => match remount_readonly(point) {
                Err(FsError::Mount {
                    errno: Errno::EACCES | Errno::ENOENT | Errno::EINVAL,
                    ..
                }) => continue,
                other => other?,
            },
        }
    }
    Ok(())
}

/// Remounts the mount at `path` read-only, keeping its other per-mount flags. In a user
/// namespace the kernel locks nosuid, nodev, noexec and the atime flags of mounts
/// inherited from the host: a remount that drops one fails with EPERM, so they are read
/// back from statvfs and passed again.
pub fn remount_readonly(path: &Path) -> Result<(), FsError> {
    let current = statvfs(path).map_err(|errno| FsError::Mount {
        action: "inspect",
        path: path.to_owned(),
        errno,
    })?;
    let flags =
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | kept_flags(current.flags());
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>).map_err(|errno| FsError::Mount {
        action: "remount read-only",
        path: path.to_owned(),
        errno,
    })
}

/// The mount flags to pass again on a remount, from the statvfs flags of the mount.
fn kept_flags(current: FsFlags) -> MsFlags {
    [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ]
    .into_iter()
    .filter(|(st, _)| current.contains(*st))
    .fold(MsFlags::empty(), |acc, (_, ms)| acc | ms)
}

/// What `statx` says of the mount a path reaches.
enum MountId {
    Is(u64),
    /// The path cannot be resolved with our credentials.
    Unreachable,
    /// This kernel gives no mount ids (before Linux 5.8, or glibc's `stat`-based emulation
    /// of a `statx` the kernel refuses).
    Unknown,
}

/// Whether `path` exists and is the root of a mount: `statx`'s `STATX_ATTR_MOUNT_ROOT`
/// (Linux 5.8), `None` where the kernel does not say.
fn is_mount_root(path: &Path) -> io::Result<Option<bool>> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: statx is plain old data; all zeroes is a valid value.
    let mut buffer: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a NUL-terminated path and `buffer` a valid statx out-buffer.
    let result = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::AT_NO_AUTOMOUNT,
            libc::STATX_TYPE,
            &mut buffer,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    let mount_root = libc::STATX_ATTR_MOUNT_ROOT as u64;
    Ok((buffer.stx_attributes_mask & mount_root != 0)
        .then_some(buffer.stx_attributes & mount_root != 0))
}

fn mount_id_at(path: &Path) -> MountId {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return MountId::Unreachable;
    };
    // SAFETY: statx is plain old data; all zeroes is a valid value.
    let mut buffer: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a NUL-terminated path and `buffer` a valid statx out-buffer.
    let result = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::AT_NO_AUTOMOUNT | libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_MNT_ID,
            &mut buffer,
        )
    };
    match (result, buffer.stx_mask & libc::STATX_MNT_ID != 0) {
        (0, true) => MountId::Is(buffer.stx_mnt_id),
        (0, false) => MountId::Unknown,
        _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) => {
            MountId::Unknown
        }
        _ => MountId::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use std::io::ErrorKind;
    use std::os::unix::net::{UnixListener, UnixStream};

    use nix::sched::CloneFlags;

    use super::*;
    use crate::namespaces;
    use crate::test_support::in_namespaces;

    /// A fresh user + mount namespace whose mounts do not propagate back to the host.
    fn in_private_mounts(body: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
        in_namespaces(CloneFlags::CLONE_NEWNS, || {
            crate::filesystem::make_mounts_private().map_err(|e| format!("{e:?}"))?;
            body()
        })
    }

    fn expect_errno<T>(result: io::Result<T>, errno: i32, what: &str) -> Result<(), String> {
        match result {
            Ok(_) => Err(format!("{what}: succeeded, expected errno {errno}")),
            Err(e) if e.raw_os_error() == Some(errno) => Ok(()),
            Err(e) => Err(format!("{what}: {e}, expected errno {errno}")),
        }
    }

    fn mount_point_of(path: &Path) -> Result<PathBuf, String> {
        let MountId::Is(id) = mount_id_at(path) else {
            return Err("no mount id".into());
        };
        mountinfo::read()
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|m| m.mount_id == id)
            .map(|m| m.mount_point)
            .ok_or_else(|| format!("no mount for {}", path.display()))
    }

    #[test]
    fn readonly_root_refuses_writes_keeps_writable_paths_and_locks() {
        let host = tempfile::tempdir().unwrap();
        let file = host.path().join("owned.txt");
        std::fs::write(&file, "original").unwrap();
        let kept = tempfile::tempdir().unwrap();
        in_private_mounts(|| {
            // The sandbox keeps its own /proc writable; so does this test.
            make_root_readonly(&[kept.path(), Path::new("/proc")], &[])
                .map_err(|e| e.to_string())?;
            expect_errno(
                std::fs::write(&file, "changed"),
                libc::EROFS,
                "write outside",
            )?;
            std::fs::write(kept.path().join("new"), "ok")
                .map_err(|e| format!("write kept: {e}"))?;
            let point = mount_point_of(&file)?;
            // What a body with `seccomp = "off"` could do: a namespace of its own, with
            // every capability there. The kernel locks the copied mounts' flags.
            namespaces::enter_own_user_namespace().map_err(|e| format!("{e:?}"))?;
            let remount = mount(
                None::<&str>,
                &point,
                None::<&str>,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND,
                None::<&str>,
            );
            expect_errno(
                remount.map_err(io::Error::from),
                libc::EPERM,
                "remount read-write",
            )?;
            expect_errno(
                std::fs::write(&file, "changed"),
                libc::EROFS,
                "write after remount attempt",
            )
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "original");
        assert_eq!(
            std::fs::read_to_string(kept.path().join("new")).unwrap(),
            "ok"
        );
    }

    #[test]
    fn remount_keeps_the_flags_the_kernel_locked() {
        let mounts = mountinfo::read().unwrap();
        let locked = mounts
            .iter()
            .map(|m| m.mount_point.clone())
            .find(|p| {
                statvfs(p).is_ok_and(|s| s.flags().contains(FsFlags::ST_NOSUID | FsFlags::ST_NODEV))
                    && matches!(mount_id_at(p), MountId::Is(_))
            })
            .expect("a nosuid,nodev mount (e.g. /dev/shm or /run)");
        in_private_mounts(|| {
            let naive = mount(
                None::<&str>,
                &locked,
                None::<&str>,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
                None::<&str>,
            );
            expect_errno(
                naive.map_err(io::Error::from),
                libc::EPERM,
                "remount dropping nosuid,nodev",
            )?;
            remount_readonly(&locked).map_err(|e| e.to_string())?;
            let flags = statvfs(&locked).map_err(|e| e.to_string())?.flags();
            if flags.contains(FsFlags::ST_RDONLY | FsFlags::ST_NOSUID | FsFlags::ST_NODEV) {
                Ok(())
            } else {
                Err(format!("flags after remount: {flags:?}"))
            }
        })
        .unwrap();
    }

    #[test]
    fn hide_makes_sockets_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let hidden_dir = dir.path().join("run");
        std::fs::create_dir(&hidden_dir).unwrap();
        let in_dir = hidden_dir.join("agent.sock");
        let alone = dir.path().join("docker.sock");
        let _listeners = (
            UnixListener::bind(&in_dir).unwrap(),
            UnixListener::bind(&alone).unwrap(),
        );
        in_private_mounts(|| {
            UnixStream::connect(&in_dir).map_err(|e| format!("connect before hiding: {e}"))?;
            hide(&[
                hidden_dir.clone(),
                alone.clone(),
                dir.path().join("missing"),
            ])
            .map_err(|e| e.to_string())?;
            expect_errno(
                UnixStream::connect(&in_dir),
                libc::ENOENT,
                "connect in hidden dir",
            )?;
            expect_errno(
                UnixStream::connect(&alone),
                libc::ECONNREFUSED,
                "connect hidden socket",
            )?;
            let listing = std::fs::read_dir(&hidden_dir)
                .map_err(|e| e.to_string())?
                .count();
            if listing == 0 {
                Ok(())
            } else {
                Err(format!("hidden dir has {listing} entries"))
            }
        })
        .unwrap();
        UnixStream::connect(&in_dir).expect("the host still reaches its socket");
    }

    #[test]
    fn bind_read_write_and_read_only() {
        let source = tempfile::tempdir().unwrap();
        std::fs::write(source.path().join("data"), "hello").unwrap();
        let rw_target = tempfile::tempdir().unwrap();
        let ro_target = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let binds = [
            Bind {
                source: source.path().into(),
                target: rw_target.path().into(),
                read_only: false,
            },
            Bind {
                source: source.path().into(),
                target: ro_target.path().into(),
                read_only: true,
            },
            Bind {
                source: source.path().join("data"),
                target: scratch.path().join("new/file"),
                read_only: true,
            },
        ];
        in_private_mounts(|| {
            mount_binds(&binds, &[scratch.path()]).map_err(|e| e.to_string())?;
            for seen in [
                rw_target.path().join("data"),
                ro_target.path().join("data"),
                scratch.path().join("new/file"),
            ] {
                let text = std::fs::read_to_string(&seen)
                    .map_err(|e| format!("{}: {e}", seen.display()))?;
                if text != "hello" {
                    return Err(format!("{} reads {text:?}", seen.display()));
                }
            }
            std::fs::write(rw_target.path().join("written"), "inside")
                .map_err(|e| format!("rw bind: {e}"))?;
            expect_errno(
                std::fs::write(ro_target.path().join("x"), "no"),
                libc::EROFS,
                "write to :ro bind",
            )?;
            expect_errno(
                std::fs::write(scratch.path().join("new/file"), "no"),
                libc::EROFS,
                "write to :ro file bind",
            )
        })
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(source.path().join("written")).unwrap(),
            "inside"
        );
        assert!(!source.path().join("x").exists());
    }

    #[test]
    fn bind_never_creates_targets_on_host_filesystems() {
        let source = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        let target = host.path().join("absent");
        let binds = [Bind {
            source: source.path().into(),
            target: target.clone(),
            read_only: false,
        }];
        in_private_mounts(|| match mount_binds(&binds, &[]) {
            Err(FsError::MissingTarget(path)) if path == target => Ok(()),
            other => Err(format!("expected MissingTarget, got {other:?}")),
        })
        .unwrap();
        assert!(!target.exists());
        let missing_source = [Bind {
            source: host.path().join("nope"),
            target: host.path().into(),
            read_only: false,
        }];
        in_private_mounts(|| match mount_binds(&missing_source, &[]) {
            Err(FsError::Path {
                role: "bind source",
                error,
                ..
            }) if error.kind() == ErrorKind::NotFound => Ok(()),
            other => Err(format!("expected a missing source, got {other:?}")),
        })
        .unwrap();
    }

    #[test]
    fn the_target_dir_is_found_from_the_test_executable() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("build");
        let deps = target.join("x86_64-unknown-linux-gnu/debug/deps");
        std::fs::create_dir_all(&deps).unwrap();
        let exe = deps.join("suite-0123");
        // Without the tag (a copied tree): the directory above the profile directory.
        assert_eq!(
            target_dir_of(&exe),
            Some(target.join("x86_64-unknown-linux-gnu"))
        );
        std::fs::write(target.join("CACHEDIR.TAG"), "Signature").unwrap();
        assert_eq!(target_dir_of(&exe), Some(target.clone()));
        assert_eq!(target_dir_of(Path::new("/usr/bin/env")), None);
        let here = std::env::current_exe().unwrap();
        let found = target_dir_of(&here).unwrap();
        assert!(
            here.starts_with(&found) && found.join("debug").exists() || found.ends_with("target"),
            "{}",
            found.display()
        );
    }
}
