//! The `Plan`: everything a sandbox's processes need to know, decided in the parent.
//!
//! The parent builds it from a [`Sandbox`](crate::Sandbox), writes it to a memfd and hands
//! that to the fork server; the sandbox's first process reads it back. The encoding is
//! postcard's compact binary, not JSON: decoding it is on every sandbox's path, and a JSON
//! environment (an `OsString` is an array of numbers there) took the first process longer
//! to decode than the kernel took to fork it.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::{BorrowedFd, OwnedFd};

use serde::{Deserialize, Serialize};

use crate::filesystem::Workdir;
use crate::time::TimePlan;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Plan {
    /// Address of the monomorphised trampoline that calls the body (same image: the
    /// sandbox is a fork of a fork of this process, without exec).
    pub entry: usize,
    /// Address of the body function, handed to `entry`.
    pub body: usize,
    /// The UTS hostname inside (with hosts: the init's; each host has its name).
    pub hostname: String,
    /// The hosts of `net(hosts = [...])`, in order; empty for a sandbox of one host.
    pub hosts: Vec<String>,
    /// The body's whole environment; `None` when it is the one the fork server inherited.
    pub env: Option<Vec<(OsString, OsString)>>,
    pub workdir: Workdir,
    /// The seccomp filter, compiled in the parent; `None` for `seccomp = "off"`.
    pub seccomp: Option<crate::seccomp::CompiledFilter>,
    #[serde(with = "crate::net::serde_mode")]
    pub net: crate::net::NetMode,
    pub fs: crate::filesystem::isolation::FsPlan,
    pub limits: crate::limits::Enforcement,
    /// Time-namespace offsets and the body's wall clock.
    pub time: TimePlan,
    /// Record per-step timestamps (`SANDBOX_TEST_TRACE`, see `trace`).
    pub trace: bool,
}

/// What a sandbox's first process and init do before they read the plan: the namespaces
/// the first process creates, whether the init brings up `lo` in a network namespace of
/// its own and mounts its /sys (`net = "loopback"` without hosts), and whether it forks
/// the body (without hosts, whose network the body enters). With the mounts every sandbox
/// has (/proc, /dev/shm), that is the same for every plan of one `Preparation`, so the
/// fork server prepares ahead a first process and init that did it, and the init takes
/// the next request of the same `Preparation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Preparation {
    /// The namespaces (clone flags) the first process unshares.
    pub unshare: i32,
    /// `lo` up and /sys mounted in the init's own network namespace, before the plan.
    pub loopback: bool,
    /// The body forked before the plan, waiting for its `Start`.
    pub body_ahead: bool,
}

impl Preparation {
    pub(crate) fn flags(self) -> nix::sched::CloneFlags {
        nix::sched::CloneFlags::from_bits_truncate(self.unshare)
    }
}

impl Plan {
    /// What the first process and the init do before the plan (see [`Preparation`]).
    pub(crate) fn preparation(&self) -> Preparation {
        Preparation {
            unshare: crate::net::namespace_flags(crate::namespaces::ALL, self.net).bits(),
            loopback: self.net == crate::net::NetMode::Loopback && self.hosts.is_empty(),
            body_ahead: self.hosts.is_empty(),
        }
    }

    /// The preparation, when no step of the first process before the `unshare` depends on
    /// the plan (no cgroup to enter, no `pids` rlimit that changes the real uid): then a
    /// first process prepared ahead can run the plan.
    pub(crate) fn prepared_ahead(&self) -> Option<Preparation> {
        (self.limits.cgroup.is_none() && self.limits.limits.pids.is_none())
            .then(|| self.preparation())
    }

    /// Writes the plan to a fresh memfd, ready to hand over.
    pub(crate) fn to_memfd(&self) -> std::io::Result<OwnedFd> {
        let mut file = crate::kernel::anonymous_file(c"sandbox-test-plan")?;
        let bytes = postcard::to_allocvec(self)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        file.write_all(&bytes)?;
        Ok(file.into())
    }

    /// Reads a plan back from the memfd (which stays open for the caller).
    pub(crate) fn from_memfd(fd: BorrowedFd<'_>) -> Result<Plan, String> {
        let mut file = fd
            .try_clone_to_owned()
            .map(File::from)
            .map_err(|e| format!("reading the plan: {e}"))?;
        let mut bytes = Vec::new();
        file.rewind()
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|e| format!("reading the plan: {e}"))?;
        postcard::from_bytes(&bytes).map_err(|e| format!("decoding the plan: {e}"))
    }
}
