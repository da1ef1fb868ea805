//! A delegated cgroup v2 subtree (Documentation/admin-guide/cgroup-v2.rst, "Delegation").
//!
//! The test process may use cgroups when:
//! - it belongs to the unified hierarchy (`0::<path>` in /proc/self/cgroup) and a cgroup2
//!   filesystem is mounted that shows that path;
//! - its own cgroup was delegated to it: the directory, `cgroup.procs` and
//!   `cgroup.subtree_control` are writable (the delegation model grants exactly these);
//! - the needed controllers (`memory`, `pids`) are available to it (`cgroup.controllers`).
//!
//! Using it ([`Delegation::prepare`]): the "no internal processes" rule forbids enabling
//! controllers for children of a cgroup that holds processes, so every process of the
//! delegated cgroup first moves to a leaf (`sandbox-test.supervisor`); then the
//! controllers are enabled in `cgroup.subtree_control`. Each sandbox gets a sibling
//! cgroup with `memory.max` (and `memory.swap.max = 0`, so the limit is not stretched by
//! swap) and `pids.max`, which its supervisor enters before it unshares anything; after
//! the sandbox exits its event counters are read (`memory.events: oom_kill`,
//! `pids.events: max`) and the cgroup is removed.
//!
//! Nothing here runs on a machine without such a delegation: there, rlimits enforce.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::unistd::{access, AccessFlags};

use crate::filesystem::mountinfo;

use super::Limits;

/// Leaf that receives the processes of the delegated cgroup.
const SUPERVISOR_LEAF: &str = "sandbox-test.supervisor";
/// How often to sweep the delegated cgroup's processes into the leaf before giving up.
const MOVE_PASSES: usize = 16;

/// A cgroup v2 directory the test process may manage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// The process's own cgroup directory.
    pub dir: PathBuf,
    /// Controllers available in it (`cgroup.controllers`).
    pub controllers: Vec<String>,
}

/// Finds the delegation of the current process, if any (`/` is the real root; tests pass
/// a fake tree).
pub fn detect(root: &Path) -> Option<Delegation> {
    let own = fs::read_to_string(root.join("proc/self/cgroup")).ok()?;
    let path = unified_path(&own)?;
    let mounts =
        mountinfo::parse(&fs::read_to_string(root.join("proc/self/mountinfo")).ok()?).ok()?;
    let dir = mounts
        .iter()
        .filter(|m| m.fs_type == "cgroup2")
        .find_map(|mount| {
            let relative = path.strip_prefix(&mount.root).ok()?;
            let point = mount.mount_point.strip_prefix("/").ok()?;
            Some(root.join(point).join(relative))
        })?;
    let controllers: Vec<String> = fs::read_to_string(dir.join("cgroup.controllers"))
        .ok()?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let writable = |path: &Path| access(path, AccessFlags::W_OK).is_ok();
    let delegated = writable(&dir)
        && writable(&dir.join("cgroup.procs"))
        && writable(&dir.join("cgroup.subtree_control"));
    delegated.then_some(Delegation { dir, controllers })
}

/// The unified-hierarchy path (`0::/a/b`) of a /proc/<pid>/cgroup file.
fn unified_path(proc_cgroup: &str) -> Option<PathBuf> {
    proc_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(PathBuf::from)
}

impl Delegation {
    /// Whether this delegation can enforce every cgroup-enforced limit in `limits`.
    pub fn covers(&self, limits: &Limits) -> bool {
        let has = |name: &str| self.controllers.iter().any(|c| c == name);
        (limits.memory.is_none() || has("memory")) && (limits.pids.is_none() || has("pids"))
    }

    /// Moves every process of the delegated cgroup into the supervisor leaf and enables
    /// the `memory` and `pids` controllers for the children. Idempotent.
    pub fn prepare(&self) -> io::Result<()> {
        let leaf = self.dir.join(SUPERVISOR_LEAF);
        create_dir_if_missing(&leaf)?;
        // Processes may fork while they are moved: repeat until the cgroup is empty.
        for _pass in 0..MOVE_PASSES {
            let pids = fs::read_to_string(self.dir.join("cgroup.procs"))?;
            let pids: Vec<&str> = pids.split_whitespace().collect();
            if pids.is_empty() {
                return self.enable_controllers();
            }
            for pid in pids {
                match fs::write(leaf.join("cgroup.procs"), pid) {
                    // The process exited meanwhile.
                    Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                    other => other?,
                }
            }
            if !cgroup_procs_is_live_file(&self.dir) {
                return self.enable_controllers();
            }
        }
        Err(io::Error::other(format!(
            "{} still holds processes after {MOVE_PASSES} passes moving them to {SUPERVISOR_LEAF}",
            self.dir.display()
        )))
    }

    fn enable_controllers(&self) -> io::Result<()> {
        let enable: Vec<String> = ["memory", "pids"]
            .into_iter()
            .filter(|c| self.controllers.iter().any(|have| have == c))
            .map(|c| format!("+{c}"))
            .collect();
        fs::write(self.dir.join("cgroup.subtree_control"), enable.join(" "))
    }

    /// Creates the cgroup of one sandbox (`name` must be unique, e.g. from the pid and a
    /// counter) with the limits cgroups enforce.
    pub fn create(&self, name: &str, limits: &Limits) -> io::Result<SandboxCgroup> {
        let dir = self.dir.join(name);
        fs::create_dir(&dir)?;
        let cgroup = SandboxCgroup { dir };
        let configured = cgroup.configure(limits);
        if configured.is_err() {
            let _ = cgroup.remove();
        }
        configured.map(|()| cgroup)
    }
}

/// A real cgroupfs `cgroup.procs` reads back what is in the cgroup; a regular file (a
/// fake tree) reads back what was last written, so the move loop stops after one pass.
fn cgroup_procs_is_live_file(dir: &Path) -> bool {
    nix::sys::statfs::statfs(dir)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

fn create_dir_if_missing(dir: &Path) -> io::Result<()> {
    match fs::create_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// The cgroup of one sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxCgroup {
    /// Its directory.
    pub dir: PathBuf,
}

/// Event counters of a sandbox cgroup after the sandbox ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupEvents {
    /// Processes the OOM killer killed because of `memory.max` (`memory.events: oom_kill`).
    pub oom_kills: u64,
    /// Forks that failed because of `pids.max` (`pids.events: max`).
    pub pids_max: u64,
}

impl SandboxCgroup {
    fn configure(&self, limits: &Limits) -> io::Result<()> {
        if let Some(bytes) = limits.memory {
            fs::write(self.dir.join("memory.max"), bytes.to_string())?;
            // Absent when the kernel has no swap accounting.
            match fs::write(self.dir.join("memory.swap.max"), "0") {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
        if let Some(pids) = limits.pids {
            let tasks = pids.saturating_add(super::SUPERVISOR_TASKS);
            fs::write(self.dir.join("pids.max"), tasks.to_string())?;
        }
        Ok(())
    }

    /// Reads the event counters (missing files count as zero events).
    pub fn events(&self) -> CgroupEvents {
        let counter = |file: &str, key: &str| {
            fs::read_to_string(self.dir.join(file))
                .ok()
                .and_then(|text| flat_keyed(&text, key))
                .unwrap_or(0)
        };
        CgroupEvents {
            oom_kills: counter("memory.events", "oom_kill"),
            pids_max: counter("pids.events", "max"),
        }
    }

    /// Removes the (empty) cgroup.
    pub fn remove(&self) -> io::Result<()> {
        fs::remove_dir(&self.dir)
    }
}

/// Moves the calling process into the cgroup at `dir` (`0` in `cgroup.procs` means the
/// writer itself).
pub fn enter(dir: &Path) -> io::Result<()> {
    fs::write(dir.join("cgroup.procs"), "0")
}

/// A value of a flat-keyed file (`key value` lines).
fn flat_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake root: /proc/self/{cgroup,mountinfo} and a cgroup2 mount at /sys/fs/cgroup
    /// whose own cgroup is `own`, with `controllers` available.
    fn fake_root(
        proc_cgroup: &str,
        fs_type: &str,
        controllers: &str,
    ) -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("proc/self")).unwrap();
        fs::write(root.path().join("proc/self/cgroup"), proc_cgroup).unwrap();
        fs::write(
            root.path().join("proc/self/mountinfo"),
            format!(
                "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                 35 22 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - {fs_type} cgroup2 rw,nsdelegate\n"
            ),
        )
        .unwrap();
        let own = root.path().join(
            "sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/test.scope",
        );
        fs::create_dir_all(&own).unwrap();
        fs::write(own.join("cgroup.controllers"), controllers).unwrap();
        fs::write(own.join("cgroup.procs"), "4242\n4243\n").unwrap();
        fs::write(own.join("cgroup.subtree_control"), "").unwrap();
        (root, own)
    }

    const UNIFIED: &str = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/test.scope\n";

    #[test]
    fn detects_a_delegated_unified_cgroup() {
        let (root, own) = fake_root(UNIFIED, "cgroup2", "cpu memory pids\n");
        let delegation = detect(root.path()).expect("delegation");
        assert_eq!(delegation.dir, own);
        assert_eq!(delegation.controllers, ["cpu", "memory", "pids"]);
        assert!(delegation.covers(&Limits {
            memory: Some(1 << 20),
            pids: Some(8),
            ..Limits::default()
        }));
    }

    #[test]
    fn no_delegation_on_cgroup_v1_or_without_controllers_or_write_access() {
        // cgroup v1 only: /proc/self/cgroup has no `0::` line.
        let (root, _) = fake_root(
            "12:pids:/user.slice\n1:name=systemd:/user.slice\n",
            "cgroup2",
            "memory pids",
        );
        assert_eq!(detect(root.path()), None);
        // A `0::` line but the unified hierarchy is not mounted.
        let (root, _) = fake_root(UNIFIED, "tmpfs", "memory pids");
        assert_eq!(detect(root.path()), None);
        // Hybrid systems: the unified hierarchy has no controllers, so none is covered.
        let (root, _) = fake_root(UNIFIED, "cgroup2", "");
        let delegation = detect(root.path()).expect("writable");
        assert!(!delegation.covers(&Limits {
            memory: Some(1 << 20),
            ..Limits::default()
        }));
        assert!(delegation.covers(&Limits {
            cpu: Some(std::time::Duration::from_secs(1)),
            ..Limits::default()
        }));
        // Not delegated: the subtree_control file is missing (a real one exists but is not
        // writable; root passes every permission check, so the fake removes it).
        let (root, own) = fake_root(UNIFIED, "cgroup2", "memory pids");
        fs::remove_file(own.join("cgroup.subtree_control")).unwrap();
        assert_eq!(detect(root.path()), None);
    }

    #[test]
    fn resolves_paths_below_the_mount_root() {
        // In a cgroup namespace, or with a cgroup2 mount of a subtree, the mount root is not `/`.
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("proc/self")).unwrap();
        fs::write(root.path().join("proc/self/cgroup"), "0::/ci/job-7\n").unwrap();
        fs::write(
            root.path().join("proc/self/mountinfo"),
            "40 22 0:30 /ci /mnt/cg rw - cgroup2 cgroup2 rw\n",
        )
        .unwrap();
        let own = root.path().join("mnt/cg/job-7");
        fs::create_dir_all(&own).unwrap();
        for file in [
            "cgroup.controllers",
            "cgroup.procs",
            "cgroup.subtree_control",
        ] {
            fs::write(own.join(file), "memory").unwrap();
        }
        assert_eq!(detect(root.path()).map(|d| d.dir), Some(own));
    }

    #[test]
    fn prepare_and_create_write_the_documented_files() {
        let (root, own) = fake_root(UNIFIED, "cgroup2", "cpu memory pids");
        let delegation = detect(root.path()).unwrap();
        delegation.prepare().unwrap();
        // The fake's files record the last write: the last pid moved, the controllers enabled.
        assert_eq!(
            fs::read_to_string(own.join(SUPERVISOR_LEAF).join("cgroup.procs")).unwrap(),
            "4243"
        );
        assert_eq!(
            fs::read_to_string(own.join("cgroup.subtree_control")).unwrap(),
            "+memory +pids"
        );
        let limits = Limits {
            memory: Some(64 << 20),
            pids: Some(32),
            ..Limits::default()
        };
        let cgroup = delegation.create("sandbox-1", &limits).unwrap();
        assert_eq!(
            fs::read_to_string(cgroup.dir.join("memory.max")).unwrap(),
            "67108864"
        );
        assert_eq!(
            fs::read_to_string(cgroup.dir.join("memory.swap.max")).unwrap(),
            "0"
        );
        assert_eq!(
            fs::read_to_string(cgroup.dir.join("pids.max")).unwrap(),
            "34"
        );
        // The kernel's counters after an OOM kill and failed forks.
        fs::write(
            cgroup.dir.join("memory.events"),
            "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n",
        )
        .unwrap();
        fs::write(cgroup.dir.join("pids.events"), "max 3\n").unwrap();
        assert_eq!(
            cgroup.events(),
            CgroupEvents {
                oom_kills: 1,
                pids_max: 3
            }
        );
    }
}
