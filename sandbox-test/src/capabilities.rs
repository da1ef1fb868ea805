//! Privileges: the body runs with no capabilities at all and with no_new_privs.

use nix::errno::Errno;

use crate::step::StepError;

/// Empties the bounding, ambient, inheritable, permitted and effective sets. With the
/// bounding set empty, not even an `execve` as uid 0 gets a capability back.
pub(crate) fn drop_all() -> Result<(), StepError> {
    // Every capability up to the last one this kernel knows: PR_CAPBSET_DROP says EINVAL
    // past it (cheaper than reading /proc/sys/kernel/cap_last_cap in every sandbox).
    for cap in 0..=libc::c_ulong::from(u8::MAX) {
        // SAFETY: plain prctl calls.
        match Errno::result(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) }) {
            Ok(_) => {}
            Err(Errno::EINVAL) if cap > 0 => break,
            Err(errno) => {
                return Err(StepError::Sys(
                    format!("dropping capability {cap} from the bounding set"),
                    errno,
                ))
            }
        }
    }
    // SAFETY: plain prctl call.
    Errno::result(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    })
    .map_err(|errno| StepError::Sys("clearing the ambient capabilities".into(), errno))?;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset reads a v3 header and two data words, which we pass.
    Errno::result(unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) })
        .map_err(|errno| StepError::Sys("capset to nothing".into(), errno))?;
    Ok(())
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: no execve can grant privileges again.
pub(crate) fn set_no_new_privs() -> Result<(), StepError> {
    nix::sys::prctl::set_no_new_privs()
        .map_err(|errno| StepError::Sys("prctl(PR_SET_NO_NEW_PRIVS)".into(), errno))
}

/// `prctl(PR_SET_DUMPABLE, dumpable)`. A process that is not dumpable cannot be traced, and
/// its `/proc/PID/mem` (and the rest of `/proc/PID` that needs ptrace access) cannot be
/// opened, by anyone without `CAP_SYS_PTRACE` over the host's user namespace: the way the
/// sandbox's less restricted processes (the init, the seccomp supervisor) stay out of the
/// body's reach. Children inherit the setting: the body sets it back.
pub(crate) fn set_dumpable(dumpable: bool) -> Result<(), StepError> {
    nix::sys::prctl::set_dumpable(dumpable)
        .map_err(|errno| StepError::Sys(format!("prctl(PR_SET_DUMPABLE, {dumpable})"), errno))
}
