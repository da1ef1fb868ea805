//! The notification supervisor, and the profile written by `record = "path.json"`.
//!
//! Notified calls (every violation of a `deny`/`allow` list, a profile's errno default,
//! record mode) stop in the kernel until the supervisor answers. The supervisor is forked
//! by the body before the filter is loaded, so it is not filtered; it receives the
//! listener descriptor, reports each call over the channel *before* answering it (so
//! every report is sent before the caller can go on or exit), and answers with an errno
//! (`SECCOMP_USER_NOTIF` error; what a violation does is in `violation`) or with
//! `SECCOMP_USER_NOTIF_FLAG_CONTINUE` (record). It exits when no filtered task is left.
//! The calls `inject(...)` stops go to the `Injector` (`seccomp/inject/`), which may hold
//! one for a delay: poll's timeout then wakes the loop to let it run.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use super::bpf::Program;
use super::compile::NotifyReply;
use super::groups::{native_arch, resolve_names, syscall_name};
use super::inject::{InjectPlan, Injector};
use super::profile::{Profile, SyscallRule};
use super::report::{EventSink, SeccompEvent};
use super::violation::{Answer, Violations};
use super::{SeccompError, HARNESS_SYSCALLS};

/// Answers notifications on `listener` until no filtered task is left: the policy's
/// (`reply`; `as_written`: the profile that decides [`NotifyReply::AsWritten`]), and the
/// calls `inject(...)` stops, which the policy allowed.
pub(crate) fn supervise(
    listener: &OwnedFd,
    reply: Option<NotifyReply>,
    as_written: &Program,
    inject: Option<&InjectPlan>,
    sink: &EventSink,
    mut violations: Violations,
) {
    let fd = listener.as_raw_fd();
    let mut seen = BTreeSet::new();
    let mut injector = inject.map(|plan| Injector::new(plan, violations.body()));
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let timeout = injector.as_ref().map_or(-1, Injector::poll_timeout);
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if let Some(injector) = &mut injector {
            injector.release_due(fd);
        }
        if rc < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        if rc == 0 {
            continue;
        }
        if pfd.revents & libc::POLLIN == 0 {
            // POLLHUP: every filtered task has exited.
            return;
        }
        // SAFETY: an all-zero seccomp_notif is what RECV expects.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: req is the right size for the ioctl.
        if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } < 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                // The caller died or was interrupted before we read it.
                Some(libc::ENOENT) | Some(libc::EINTR) => continue,
                _ => return,
            }
        }
        let mut resp = libc::seccomp_notif_resp {
            id: req.id,
            val: 0,
            error: 0,
            flags: 0,
        };
        // A notification is the policy's unless an injection asked for it.
        let policy = reply.filter(|_| {
            injector
                .as_ref()
                .is_none_or(|i| i.policy_notified(&req.data))
        });
        let decided = match policy {
            Some(NotifyReply::AsWritten) => Some(
                as_written
                    .run(&req.data)
                    .map_or(NotifyReply::Fail, NotifyReply::from_action),
            ),
            other => other,
        };
        match decided {
            Some(NotifyReply::Continue) | None => {
                let recording = policy == Some(NotifyReply::Continue);
                if recording && seen.insert((req.data.arch, req.data.nr)) {
                    let _ = sink.send(&SeccompEvent::Recorded {
                        arch: req.data.arch,
                        nr: req.data.nr,
                    });
                }
                resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32;
                // What the policy lets run may be injected.
                if let Some(injector) = &mut injector {
                    match injector.decide(fd, &req, sink) {
                        Some(answer) => resp = answer,
                        None => continue,
                    }
                }
            }
            Some(
                decided @ (NotifyReply::Errno(_)
                | NotifyReply::Fail
                | NotifyReply::Kill
                | NotifyReply::AsWritten),
            ) => match violations.handle(fd, &req, decided, sink) {
                Answer::Errno(errno) => resp.error = -errno,
                Answer::None => continue,
            },
        }
        // SAFETY: resp is the right size for the ioctl. ENOENT (the caller died) is fine.
        unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    }
}

/// libseccomp's name of the native architecture, for `architectures`.
fn native_scmp_arch() -> &'static str {
    super::profile::Environment::sandbox().scmp_arch
}

/// The minimal allowlist profile for the recorded calls (native arch only) plus the
/// harness's own, names sorted.
pub fn recorded_profile(recorded: &[(u32, i32)]) -> Result<Profile, SeccompError> {
    let arch = native_arch();
    let mut names: BTreeSet<String> = resolve_names(HARNESS_SYSCALLS)?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for &(a, nr) in recorded {
        if a == arch {
            if let Some(name) = syscall_name(a, nr) {
                names.insert(name);
            }
        }
    }
    Ok(Profile {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(libc::EPERM as u32),
        architectures: vec![native_scmp_arch().into()],
        syscalls: vec![SyscallRule {
            names: names.into_iter().collect(),
            action: "SCMP_ACT_ALLOW".into(),
            ..SyscallRule::default()
        }],
        ..Profile::default()
    })
}

/// Writes the recorded profile to `path` (pretty JSON, a trailing newline).
pub fn write_profile(path: &Path, profile: &Profile) -> Result<(), SeccompError> {
    let mut text =
        serde_json::to_string_pretty(profile).map_err(|e| SeccompError::RecordWrite {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        })?;
    text.push('\n');
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| SeccompError::RecordWrite {
            path: path.to_owned(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| SeccompError::RecordWrite {
        path: path.to_owned(),
        source,
    })
}
