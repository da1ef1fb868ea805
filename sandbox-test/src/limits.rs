//! Resource limits: `memory`, `pids`, `cpu` (CPU time) and `files` (open files).
//!
//! Two mechanisms:
//! - a delegated cgroup v2 subtree ([`cgroup`]) when the test process has one it can
//!   write: `memory.max` and `pids.max` on a cgroup of the whole sandbox;
//! - rlimits otherwise, set in the body's process right before the body runs:
//!   - `memory` → `RLIMIT_DATA`: the body's data segment plus private writable mappings,
//!     which is where heap allocations live. Not `RLIMIT_AS`, which also counts address
//!     space that is only reserved (glibc reserves 64 MiB per malloc arena, every thread
//!     stack counts) and would fail ordinary multi-threaded bodies long before they use
//!     the memory. Per process: a forked child gets its own budget.
//!   - `pids` → `RLIMIT_NPROC`, which since Linux 5.14 counts the tasks (processes and
//!     threads) of a user *in its user namespace*, so only the sandbox's own tasks count
//!     (see the `nproc_counts_per_user_namespace` test). The sandbox's supervisors in that
//!     namespace are added, so `pids = N` allows N tasks to the body.
//!   - `cpu` → `RLIMIT_CPU` with soft limit = the budget (SIGXCPU) and hard limit one
//!     second later (SIGKILL), per process, whole seconds.
//!
//! `cpu` and `files` have no cgroup v2 equivalent (`cpu.max` throttles a rate; it does
//! not bound a total) and always use `RLIMIT_CPU` and `RLIMIT_NOFILE`.
//!
//! When a limit is why the body died or failed, [`attribution`] names the limit and the
//! mechanism from the evidence the parent has: how the body ended, its CPU time, its
//! output, and the cgroup's event counters.

pub mod attribution;
pub mod cgroup;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::unistd::{geteuid, getuid, setresuid, Uid};
use serde::{Deserialize, Serialize};

use crate::spec::cpu::whole_seconds;

/// The limits of one sandbox. `None` means unlimited (inherited).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes of memory.
    pub memory: Option<u64>,
    /// Tasks (processes and threads) the body may have, itself included.
    pub pids: Option<u64>,
    /// CPU time, enforced in whole seconds (rounded up).
    pub cpu: Option<Duration>,
    /// Open file descriptors.
    pub files: Option<u64>,
}

impl Limits {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }
}

/// Which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitKind {
    /// `memory`
    Memory,
    /// `pids`
    Pids,
    /// `cpu`
    Cpu,
    /// `files`
    Files,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::Memory => "memory",
            LimitKind::Pids => "pids",
            LimitKind::Cpu => "cpu",
            LimitKind::Files => "files",
        })
    }
}

/// What enforced a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mechanism {
    /// `RLIMIT_DATA`
    RlimitData,
    /// `RLIMIT_NPROC`
    RlimitNproc,
    /// `RLIMIT_CPU`
    RlimitCpu,
    /// `RLIMIT_NOFILE`
    RlimitNofile,
    /// cgroup v2 `memory.max`
    CgroupMemoryMax,
    /// cgroup v2 `pids.max`
    CgroupPidsMax,
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mechanism::RlimitData => "RLIMIT_DATA",
            Mechanism::RlimitNproc => "RLIMIT_NPROC",
            Mechanism::RlimitCpu => "RLIMIT_CPU",
            Mechanism::RlimitNofile => "RLIMIT_NOFILE",
            Mechanism::CgroupMemoryMax => "cgroup v2 memory.max",
            Mechanism::CgroupPidsMax => "cgroup v2 pids.max",
        })
    }
}

/// The limits and how they are enforced: decided in the parent, carried in the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enforcement {
    /// The configured limits.
    pub limits: Limits,
    /// The sandbox's own cgroup (below a delegated cgroup v2 subtree), which enforces
    /// `memory` and `pids`; `None` means rlimits enforce them.
    pub cgroup: Option<PathBuf>,
}

impl Enforcement {
    /// The mechanism enforcing `kind`.
    pub fn mechanism(&self, kind: LimitKind) -> Mechanism {
        match (kind, self.cgroup.is_some()) {
            (LimitKind::Memory, true) => Mechanism::CgroupMemoryMax,
            (LimitKind::Memory, false) => Mechanism::RlimitData,
            (LimitKind::Pids, true) => Mechanism::CgroupPidsMax,
            (LimitKind::Pids, false) => Mechanism::RlimitNproc,
            (LimitKind::Cpu, _) => Mechanism::RlimitCpu,
            (LimitKind::Files, _) => Mechanism::RlimitNofile,
        }
    }
}

/// Why a limit could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    /// `setrlimit` failed.
    Set {
        mechanism: Mechanism,
        value: u64,
        errno: Errno,
    },
    /// The requested value is above the hard limit the sandbox inherited, which only a
    /// privileged process could raise.
    AboveHardLimit {
        kind: LimitKind,
        value: u64,
        hard: u64,
    },
    /// The sandbox's root is the host's root and no other uid is mapped, so the kernel
    /// would not enforce `RLIMIT_NPROC`.
    NprocExemptRoot,
    /// Moving into the sandbox's cgroup failed.
    Cgroup { path: PathBuf, error: String },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Set { mechanism, value, errno } => {
                write!(f, "cannot set {mechanism} to {value}: {errno}")
            }
            LimitError::AboveHardLimit { kind, value, hard } => write!(
                f,
                "{kind} = {value} is above the inherited hard limit {hard}, which an unprivileged sandbox cannot raise"
            ),
            LimitError::NprocExemptRoot => f.write_str(
                "pids: the sandbox runs as the host's root, which RLIMIT_NPROC never limits, and no other uid is mapped to move to; no delegated cgroup v2 is available either"
            ),
            LimitError::Cgroup { path, error } => {
                write!(f, "cannot enter the sandbox cgroup {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for LimitError {}

/// Tasks of the sandbox's user in its user namespace that are not the body: the
/// sandbox's supervisor and its init (see DESIGN.md, process tree). They count against
/// `RLIMIT_NPROC` unless the body moved into its own user namespace (mount lock).
const SUPERVISOR_TASKS: u64 = 2;

/// Body step, right before the body runs: applies the limits that rlimits enforce.
pub fn apply_rlimits(enforcement: &Enforcement) -> Result<(), LimitError> {
    let limits = &enforcement.limits;
    if enforcement.cgroup.is_none() {
        if let Some(bytes) = limits.memory {
            set(LimitKind::Memory, bytes, bytes)?;
        }
        if let Some(pids) = limits.pids {
            make_nproc_enforceable()?;
            let tasks = pids.saturating_add(supervisors_sharing_user_namespace());
            set(LimitKind::Pids, tasks, tasks)?;
        }
    }
    if let Some(budget) = limits.cpu {
        let seconds = whole_seconds(budget);
        set(LimitKind::Cpu, seconds, seconds.saturating_add(1))?;
    }
    if let Some(files) = limits.files {
        set(LimitKind::Files, files, files)?;
    }
    Ok(())
}

/// Lowers the rlimit enforcing `kind` to `soft`, and the hard limit to `hard` unless the
/// inherited hard limit is already lower.
fn set(kind: LimitKind, soft: u64, hard: u64) -> Result<(), LimitError> {
    let resource = match kind {
        LimitKind::Memory => Resource::RLIMIT_DATA,
        LimitKind::Pids => Resource::RLIMIT_NPROC,
        LimitKind::Cpu => Resource::RLIMIT_CPU,
        LimitKind::Files => Resource::RLIMIT_NOFILE,
    };
    let mechanism = Enforcement::default().mechanism(kind);
    let error = |errno| LimitError::Set {
        mechanism,
        value: soft,
        errno,
    };
    let (_, inherited_hard) = getrlimit(resource).map_err(error)?;
    if soft > inherited_hard {
        return Err(LimitError::AboveHardLimit {
            kind,
            value: soft,
            hard: inherited_hard,
        });
    }
    setrlimit(resource, soft, hard.min(inherited_hard)).map_err(error)
}

/// The kernel never enforces `RLIMIT_NPROC` on tasks whose real uid is the host's root
/// (`INIT_USER` in copy_process), namespace or not. When the sandbox's root is the host's
/// root, the body's real uid moves to another mapped uid whose host uid is not root;
/// its effective and saved uid stay, so file access and capabilities are unchanged.
fn make_nproc_enforceable() -> Result<(), LimitError> {
    let map = std::fs::read_to_string("/proc/self/uid_map").map_err(|e| LimitError::Set {
        mechanism: Mechanism::RlimitNproc,
        value: 0,
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    let ranges = parse_id_map(&map);
    let ruid = getuid().as_raw();
    let host_of = |inside: u32| {
        ranges
            .iter()
            .find(|(start, _, count)| inside >= *start && inside - start < *count)
            .map(|(start, outside, _)| outside + (inside - start))
    };
    if host_of(ruid) != Some(0) {
        return Ok(());
    }
    let other = ranges.iter().find_map(|&(start, outside, count)| {
        (0..count.min(2))
            .map(|i| (start + i, outside + i))
            .find(|&(inside, host)| host != 0 && inside != ruid)
    });
    let Some((inside, _)) = other else {
        return Err(LimitError::NprocExemptRoot);
    };
    let euid = geteuid();
    setresuid(Uid::from_raw(inside), euid, euid).map_err(|errno| LimitError::Set {
        mechanism: Mechanism::RlimitNproc,
        value: u64::from(inside),
        errno,
    })
}

/// `inside outside count` lines of /proc/<pid>/uid_map.
fn parse_id_map(text: &str) -> Vec<(u32, u32, u32)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().map(str::parse::<u32>);
            match (fields.next(), fields.next(), fields.next()) {
                (Some(Ok(inside)), Some(Ok(outside)), Some(Ok(count))) => {
                    Some((inside, outside, count))
                }
                _ => None,
            }
        })
        .collect()
}

/// `SUPERVISOR_TASKS` when the caller shares the user namespace of the sandbox's init
/// (pid 1 of its pid namespace), 0 when it has one of its own.
fn supervisors_sharing_user_namespace() -> u64 {
    let same = |a: &str, b: &str| match (std::fs::read_link(a), std::fs::read_link(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => true,
    };
    if same("/proc/self/ns/user", "/proc/1/ns/user") {
        SUPERVISOR_TASKS
    } else {
        0
    }
}

/// Supervisor step, before the sandbox unshares its namespaces: moves the caller into the
/// sandbox's cgroup, so the sandbox and everything it forks is accounted there.
pub fn enter_cgroup(enforcement: &Enforcement) -> Result<(), LimitError> {
    match &enforcement.cgroup {
        Some(path) => cgroup::enter(Path::new(path)).map_err(|error| LimitError::Cgroup {
            path: path.clone(),
            error: error.to_string(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use nix::sys::signal::Signal;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, pipe, read, ForkResult};

    use super::*;
    use crate::test_support::{in_child, in_namespaces_mapped};

    /// The uid map of a test namespace: root is the caller; when the caller is the host's
    /// root, uid 1 maps to the host's `nobody` so RLIMIT_NPROC can apply.
    fn test_uid_map() -> String {
        match getuid().as_raw() {
            0 => "0 0 1\n1 65534 1".to_owned(),
            uid => format!("0 {uid} 1"),
        }
    }

    #[test]
    fn nproc_counts_per_user_namespace() {
        // Only this process belongs to its uid in the new namespace, so a limit of 5
        // leaves room for exactly 4 children, however many processes the user has on the
        // host.
        in_namespaces_mapped(nix::sched::CloneFlags::empty(), &test_uid_map(), || {
            make_nproc_enforceable().map_err(|e| e.to_string())?;
            setrlimit(Resource::RLIMIT_NPROC, 5, 5).map_err(|e| e.to_string())?;
            let (hold, release) = pipe().map_err(|e| e.to_string())?;
            let mut children = Vec::new();
            let failure = loop {
                // SAFETY: the child only blocks on the pipe and exits.
                match unsafe { fork() } {
                    Ok(ForkResult::Child) => {
                        // SAFETY: close the inherited write end so the pipe can reach EOF.
                        unsafe { libc::close(release.as_raw_fd()) };
                        let _ = read(hold.as_raw_fd(), &mut [0u8]);
                        // SAFETY: leave the forked child immediately.
                        unsafe { libc::_exit(0) }
                    }
                    Ok(ForkResult::Parent { child }) => children.push(child),
                    Err(errno) => break Some(errno),
                }
                if children.len() > 16 {
                    break None;
                }
            };
            drop(release);
            for child in &children {
                let _ = waitpid(*child, None);
            }
            match failure {
                Some(nix::errno::Errno::EAGAIN) if children.len() == 4 => Ok(()),
                _ => Err(format!("{} children, then {failure:?}", children.len())),
            }
        })
        .unwrap();
    }

    #[test]
    fn host_root_without_another_uid_cannot_be_limited() {
        if !getuid().is_root() {
            return assert_eq!(parse_id_map("0 1000 1\n"), [(0, 1000, 1)]);
        }
        in_namespaces_mapped(nix::sched::CloneFlags::empty(), "0 0 1", || {
            match make_nproc_enforceable() {
                Err(LimitError::NprocExemptRoot) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .unwrap();
    }

    fn only(limits: Limits) -> Enforcement {
        Enforcement {
            limits,
            cgroup: None,
        }
    }

    #[test]
    fn memory_limit_fails_large_allocations_only() {
        let status = in_child(|| {
            apply_rlimits(&only(Limits {
                memory: Some(64 << 20),
                ..Limits::default()
            }))
            .unwrap();
            let small: Vec<u8> = vec![1; 16 << 20];
            let mut big: Vec<u8> = Vec::new();
            match (small.len(), big.try_reserve_exact(128 << 20)) {
                (16777216, Err(_)) => 0,
                _ => 1,
            }
        });
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    }

    #[test]
    fn cpu_limit_stops_a_busy_loop_with_sigxcpu() {
        let status = in_child(|| {
            apply_rlimits(&only(Limits {
                cpu: Some(Duration::from_millis(300)),
                ..Limits::default()
            }))
            .unwrap();
            let mut x = 0u64;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        });
        assert_eq!(
            status,
            WaitStatus::Signaled(status.pid().unwrap(), Signal::SIGXCPU, false)
        );
    }

    #[test]
    fn files_limit_gives_emfile() {
        let status = in_child(|| {
            apply_rlimits(&only(Limits {
                files: Some(16),
                ..Limits::default()
            }))
            .unwrap();
            let mut open = Vec::new();
            loop {
                match std::fs::File::open("/dev/null") {
                    Ok(file) => open.push(file),
                    Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return 0,
                    Err(_) => return 2,
                }
                if open.len() > 16 {
                    return 1;
                }
            }
        });
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    }

    #[test]
    fn limits_above_the_hard_limit_are_refused() {
        let status = in_child(|| {
            setrlimit(Resource::RLIMIT_NOFILE, 32, 32).unwrap();
            match apply_rlimits(&only(Limits {
                files: Some(4096),
                ..Limits::default()
            })) {
                Err(LimitError::AboveHardLimit {
                    kind: LimitKind::Files,
                    value: 4096,
                    hard: 32,
                }) => 0,
                _ => 1,
            }
        });
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    }

    #[test]
    fn pids_limit_counts_the_supervisors() {
        let status = in_child(|| {
            apply_rlimits(&only(Limits {
                pids: Some(32),
                ..Limits::default()
            }))
            .unwrap();
            let expected = 32 + supervisors_sharing_user_namespace();
            i32::from(getrlimit(Resource::RLIMIT_NPROC).unwrap() != (expected, expected))
        });
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    }

    #[test]
    fn cgroup_enforced_limits_set_no_rlimit() {
        let status = in_child(|| {
            let before = getrlimit(Resource::RLIMIT_DATA).unwrap();
            let enforcement = Enforcement {
                limits: Limits {
                    memory: Some(1 << 20),
                    ..Limits::default()
                },
                cgroup: Some("/sys/fs/cgroup/x".into()),
            };
            apply_rlimits(&enforcement).unwrap();
            i32::from(getrlimit(Resource::RLIMIT_DATA).unwrap() != before)
        });
        assert_eq!(status, WaitStatus::Exited(status.pid().unwrap(), 0));
    }
}
