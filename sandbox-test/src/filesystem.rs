//! The sandbox's view of the filesystem: its own mount namespace, a fresh /proc, a private
//! /tmp, the working directory.

pub(crate) mod isolation;
pub(crate) mod mountinfo;

use std::path::PathBuf;

use nix::mount::{mount, MsFlags};
use serde::{Deserialize, Serialize};

use crate::setup::StepError;

/// Where the body starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Workdir {
    /// The test's own working directory (cargo sets it to the package root).
    #[default]
    Inherit,
    /// A fresh directory in the sandbox's private /tmp, gone with the sandbox.
    Temp,
    /// This absolute path, which must exist.
    Path(PathBuf),
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

/// `mount -t tmpfs tmpfs /tmp`.
pub(crate) fn mount_private_tmp() -> Result<(), StepError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        flags,
        Some("mode=1777"),
    )
    .map_err(mount_error("mounting a tmpfs on /tmp"))
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
