//! Syscall names and `@groups` resolved by the running libseccomp, and numbers resolved
//! back to names for reports.
//!
//! The group table itself is [`crate::spec::seccomp::GROUPS`] (systemd's
//! `SystemCallFilter=` sets), shared with the macro so an unknown group is a compile error.

use std::ffi::CStr;

use libseccomp::ScmpSyscall;

use super::{debug_note, SeccompError};
use crate::spec::seccomp::{expand, SyscallItem};

/// Names resolved to native syscall numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// `(name, native number)`, sorted by name.
    pub syscalls: Vec<(String, i32)>,
    /// Names skipped: unknown to the running libseccomp (from a group) or not a syscall
    /// of the native architecture.
    pub skipped: Vec<String>,
}

/// How libseccomp knows a name on the native architecture.
pub(crate) enum Lookup {
    /// A native syscall number.
    Native(i32),
    /// Known to libseccomp, but not a syscall of this architecture (a negative pseudo
    /// number): it cannot be called natively.
    OtherArch,
    /// Unknown to this libseccomp.
    Unknown,
}

/// Looks a name up on the native architecture.
pub(crate) fn lookup(name: &str) -> Lookup {
    match ScmpSyscall::from_name(name) {
        Ok(nr) if nr.as_raw_syscall() >= 0 => Lookup::Native(nr.as_raw_syscall()),
        Ok(_) => Lookup::OtherArch,
        Err(_) => Lookup::Unknown,
    }
}

/// Resolves list items. A plain name libseccomp does not know is an error; names from a
/// group that it does not know, and names of other architectures, are skipped with a
/// debug note.
pub fn resolve(items: &[SyscallItem]) -> Result<Resolved, SeccompError> {
    for item in items {
        if let SyscallItem::Syscall(name) = item {
            if let Lookup::Unknown = lookup(name) {
                return Err(SeccompError::UnknownSyscall { name: name.clone() });
            }
        }
    }
    let mut out = Resolved::default();
    for name in expand(items) {
        match lookup(name) {
            Lookup::Native(nr) => out.syscalls.push((name.to_owned(), nr)),
            Lookup::OtherArch => {
                debug_note(&format!(
                    "`{name}` is not a syscall of this architecture: skipped"
                ));
                out.skipped.push(name.to_owned());
            }
            Lookup::Unknown => {
                debug_note(&format!("libseccomp does not know `{name}`: skipped"));
                out.skipped.push(name.to_owned());
            }
        }
    }
    Ok(out)
}

/// Resolves names that must all exist natively (the harness set).
pub(crate) fn resolve_names(names: &[&str]) -> Result<Vec<(String, i32)>, SeccompError> {
    names
        .iter()
        .map(|n| match lookup(n) {
            Lookup::Native(nr) => Ok(((*n).to_owned(), nr)),
            _ => Err(SeccompError::UnknownSyscall {
                name: (*n).to_owned(),
            }),
        })
        .collect()
}

/// The audit architecture of this process (`AUDIT_ARCH_*`, libseccomp's arch token).
pub fn native_arch() -> u32 {
    // SAFETY: a pure query.
    unsafe { libseccomp_sys::seccomp_arch_native() }
}

/// The x32 ABI's syscall-number bit on x86_64.
pub const X32_SYSCALL_BIT: i32 = 0x4000_0000;

/// The name of syscall `nr` on audit arch `arch` (x32 numbers on x86_64 are looked up in
/// the x32 table), or `None` when libseccomp does not know it.
pub fn syscall_name(arch: u32, nr: i32) -> Option<String> {
    let arch = if arch == libseccomp_sys::SCMP_ARCH_X86_64 && nr & X32_SYSCALL_BIT != 0 {
        libseccomp_sys::SCMP_ARCH_X32
    } else {
        arch
    };
    // SAFETY: libseccomp returns NULL or a malloc'd NUL-terminated string we must free.
    unsafe {
        let ptr = libseccomp_sys::seccomp_syscall_resolve_num_arch(arch, nr);
        if ptr.is_null() {
            return None;
        }
        let name = CStr::from_ptr(ptr).to_string_lossy().into_owned();
        libc::free(ptr as *mut libc::c_void);
        Some(name)
    }
}

/// A readable name of an audit architecture.
pub fn arch_name(arch: u32) -> String {
    match arch {
        libseccomp_sys::SCMP_ARCH_X86_64 => "x86_64".into(),
        libseccomp_sys::SCMP_ARCH_X86 => "i386".into(),
        libseccomp_sys::SCMP_ARCH_X32 => "x32".into(),
        libseccomp_sys::SCMP_ARCH_AARCH64 => "aarch64".into(),
        libseccomp_sys::SCMP_ARCH_ARM => "arm".into(),
        other => format!("{other:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_unknown_name_is_an_error_naming_it() {
        let items = [SyscallItem::parse("definitely_not_a_syscall").unwrap()];
        let err = resolve(&items).unwrap_err();
        assert!(
            err.to_string().contains("definitely_not_a_syscall"),
            "{err}"
        );
    }

    #[test]
    fn groups_resolve_and_skip_foreign_names() {
        let items = [SyscallItem::parse("@chown").unwrap()];
        let r = resolve(&items).unwrap();
        let names: Vec<_> = r.syscalls.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"fchownat"), "{names:?}");
        if cfg!(target_arch = "x86_64") {
            // chown32 exists only on 32-bit arches.
            assert!(r.skipped.contains(&"chown32".to_owned()), "{:?}", r.skipped);
        }
    }

    #[test]
    fn numbers_resolve_back_to_names() {
        let arch = native_arch();
        assert_eq!(
            syscall_name(arch, libc::SYS_getpid as i32).as_deref(),
            Some("getpid")
        );
        if cfg!(target_arch = "x86_64") {
            assert_eq!(arch_name(arch), "x86_64");
            assert_eq!(
                syscall_name(libseccomp_sys::SCMP_ARCH_X86, 20).as_deref(),
                Some("getpid")
            );
            assert_eq!(
                syscall_name(arch, X32_SYSCALL_BIT | 39).as_deref(),
                Some("getpid")
            );
        }
    }
}
