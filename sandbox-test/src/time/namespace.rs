//! The time-namespace step: CLOCK_MONOTONIC and CLOCK_BOOTTIME offsets.
//!
//! After `unshare(CLONE_NEWTIME)` the calling process stays in its old time namespace;
//! its children enter the new one. The offsets are written to `/proc/self/timens_offsets`
//! in that window, before the first child is forked: once a process has entered, the
//! kernel refuses them.

use std::io::Write;
use std::time::Duration;

use crate::spec::time::{NamespaceClock, MAX_NAMESPACE_CLOCK_SECS};

use super::TimeError;

const OFFSETS_PATH: &str = "/proc/self/timens_offsets";

/// Offsets of the two clocks a time namespace moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NamespaceOffsets {
    pub monotonic: Duration,
    pub boottime: Duration,
}

impl NamespaceOffsets {
    pub fn is_zero(&self) -> bool {
        self.monotonic.is_zero() && self.boottime.is_zero()
    }

    /// The text the kernel reads: one `<clock> <secs> <nanos>` line per clock.
    fn render(&self) -> String {
        format!(
            "monotonic {} {}\nboottime {} {}\n",
            self.monotonic.as_secs(),
            self.monotonic.subsec_nanos(),
            self.boottime.as_secs(),
            self.boottime.subsec_nanos()
        )
    }
}

/// `unshare(CLONE_NEWTIME)`: the caller's children will enter a new time namespace.
pub(crate) fn unshare() -> Result<(), nix::errno::Errno> {
    nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(
        libc::CLONE_NEWTIME,
    ))
}

/// The time namespace the caller's children enter (after `unshare`), as an fd another
/// process can `setns` into: `/proc/self/ns/time_for_children`.
pub(crate) fn for_children() -> Result<std::os::fd::OwnedFd, nix::errno::Errno> {
    let fd = nix::fcntl::open(
        "/proc/self/ns/time_for_children",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: `open` returned a new fd that nothing else owns.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// `setns(fd, CLONE_NEWTIME)`: a single-threaded caller enters the time namespace at
/// once (its vDSO reads the namespace's clocks from then on), and so do its children.
pub(crate) fn enter(fd: std::os::fd::BorrowedFd<'_>) -> Result<(), nix::errno::Errno> {
    nix::sched::setns(
        fd,
        nix::sched::CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    )
}

/// Checks that `offset` keeps `clock`, as it reads now, within the kernel's range.
fn check_range(clock: NamespaceClock, offset: Duration) -> Result<(), TimeError> {
    let id = match clock {
        NamespaceClock::Monotonic => nix::time::ClockId::CLOCK_MONOTONIC,
        NamespaceClock::Boottime => nix::time::ClockId::CLOCK_BOOTTIME,
    };
    let now = nix::time::clock_gettime(id).map_err(|errno| TimeError::WriteOffsets {
        offsets: format!("{} (reading the clock)", clock.name()),
        source: errno.into(),
    })?;
    let reaches = (now.tv_sec() as u64).saturating_add(offset.as_secs());
    if reaches > MAX_NAMESPACE_CLOCK_SECS {
        return Err(TimeError::ClockOffsetOutOfRange {
            clock,
            offset_secs: offset.as_secs(),
            clock_secs: now.tv_sec() as u64,
        });
    }
    Ok(())
}

/// Writes the offsets of the time namespace this process has just unshared. Call it in
/// the process that called `unshare(CLONE_NEWTIME)`, before it forks.
pub fn write_namespace_offsets(offsets: &NamespaceOffsets) -> Result<(), TimeError> {
    if offsets.is_zero() {
        return Ok(());
    }
    check_range(NamespaceClock::Monotonic, offsets.monotonic)?;
    check_range(NamespaceClock::Boottime, offsets.boottime)?;
    let text = offsets.render();
    let written = std::fs::OpenOptions::new()
        .write(true)
        .open(OFFSETS_PATH)
        .and_then(|mut file| file.write_all(text.as_bytes()));
    written.map_err(|source| TimeError::WriteOffsets {
        offsets: text.trim_end().replace('\n', ", "),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sched::{unshare, CloneFlags};
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    #[test]
    fn renders_the_kernel_format() {
        let offsets = NamespaceOffsets {
            monotonic: Duration::from_secs(49 * 86_400 + 17 * 3_600),
            boottime: Duration::new(497 * 86_400, 5),
        };
        assert_eq!(
            offsets.render(),
            "monotonic 4294800 0\nboottime 42940800 5\n"
        );
    }

    #[test]
    fn an_offset_past_the_kernels_range_is_refused_with_the_numbers() {
        let error = check_range(
            NamespaceClock::Boottime,
            Duration::from_secs(MAX_NAMESPACE_CLOCK_SECS),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("CLOCK_BOOTTIME"), "{error}");
        assert!(error.contains("4611686018"), "{error}");
    }

    /// Forks a child that unshares user and time namespaces, writes offsets and forks a
    /// grandchild in the new namespace; the grandchild's exit code says what it saw.
    fn grandchild_sees(offsets: NamespaceOffsets) -> i32 {
        // SAFETY: the child only unshares, writes a file, forks and exits.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = (|| {
                    unshare(
                        CloneFlags::CLONE_NEWUSER
                            | CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
                    )
                    .map_err(|_| 10)?;
                    write_namespace_offsets(&offsets).map_err(|_| 11)?;
                    // SAFETY: as above.
                    match unsafe { fork() }.map_err(|_| 12)? {
                        ForkResult::Child => {
                            let mono =
                                nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
                                    .map_err(|_| 13)?;
                            let boot = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
                                .map_err(|_| 14)?;
                            let uptime = std::fs::read_to_string("/proc/uptime").map_err(|_| 15)?;
                            let uptime: f64 = uptime
                                .split_whitespace()
                                .next()
                                .and_then(|s| s.parse().ok())
                                .ok_or(16)?;
                            let ok = mono.tv_sec() as u64 >= offsets.monotonic.as_secs()
                                && boot.tv_sec() as u64 >= offsets.boottime.as_secs()
                                && uptime >= offsets.boottime.as_secs() as f64;
                            Err(if ok { 0 } else { 17 })
                        }
                        ForkResult::Parent { child } => match waitpid(child, None) {
                            Ok(WaitStatus::Exited(_, code)) => Err(code),
                            _ => Err(18),
                        },
                    }
                })()
                .unwrap_or_else(|code: i32| code);
                // SAFETY: leave the forked test process without running its destructors.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
                WaitStatus::Exited(_, code) => code,
                other => panic!("child ended with {other:?}"),
            },
        }
    }

    #[test]
    fn processes_in_the_namespace_see_the_offsets() {
        let offsets = NamespaceOffsets {
            monotonic: Duration::from_secs(49 * 86_400 + 17 * 3_600),
            boottime: Duration::from_secs(497 * 86_400),
        };
        assert_eq!(grandchild_sees(offsets), 0);
    }
}
