//! The sandbox's clock for the programs the body executes: a small library of this crate's
//! own, preloaded into every one of them.
//!
//! `build.rs` compiles `preload/sandbox_clock.c` with the target's C compiler; the bytes
//! are embedded here. The body process writes them into the sandbox's private `/tmp`
//! (nothing is written on the host, whose filesystem may be read-only) and sets, for
//! every program it starts:
//! - `LD_PRELOAD`: the library, ahead of any preload already set;
//! - `SANDBOX_TEST_CLOCK`: the clock page ([`super::shared_clock`]) the library maps
//!   read-only, the same page the body's own clock functions read.
//!
//! The library moves CLOCK_REALTIME (and its coarse and TAI variants) only, through the
//! libc entry points; CLOCK_MONOTONIC and CLOCK_BOOTTIME belong to the time namespace.
//! It reaches dynamically linked programs only: not statically linked ones, not setuid
//! ones (the loader ignores `LD_PRELOAD` for them), not programs that read the vDSO or
//! make the system call themselves (Go).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::shared_clock::{DIR, PAGE_ENV};

/// The library, as built for the target.
static LIBRARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libsandbox_clock.so"));
/// Its name in [`DIR`].
const LIBRARY_NAME: &str = "libsandbox_clock.so";

/// Creates [`DIR`] and writes the library into it; returns the library's path.
pub(crate) fn install() -> std::io::Result<PathBuf> {
    std::fs::DirBuilder::new().mode(0o755).create(DIR)?;
    let path = Path::new(DIR).join(LIBRARY_NAME);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(&path)?;
    file.write_all(LIBRARY)?;
    Ok(path)
}

/// The variables that make programs started from this process read the clock `page`.
pub(crate) fn environment(
    library: &Path,
    page: &Path,
    existing_preload: Option<&str>,
) -> Vec<(&'static str, String)> {
    // The loader splits LD_PRELOAD on colons and spaces; a preload of the same path
    // (a sandbox started inside a sandbox) is not repeated.
    let library = library.display().to_string();
    let others = existing_preload
        .unwrap_or_default()
        .split([':', ' '])
        .filter(|entry| !entry.is_empty() && *entry != library);
    let preload = std::iter::once(library.as_str())
        .chain(others)
        .collect::<Vec<_>>()
        .join(":");
    vec![
        ("LD_PRELOAD", preload),
        (PAGE_ENV, page.display().to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_goes_first_in_ld_preload() {
        let vars = environment(
            Path::new("/tmp/.sandbox-test/libsandbox_clock.so"),
            Path::new("/tmp/.sandbox-test/clock"),
            Some("/other.so"),
        );
        assert_eq!(
            vars,
            [
                (
                    "LD_PRELOAD",
                    "/tmp/.sandbox-test/libsandbox_clock.so:/other.so".to_owned()
                ),
                ("SANDBOX_TEST_CLOCK", "/tmp/.sandbox-test/clock".to_owned()),
            ]
        );
        let vars = environment(Path::new("/l.so"), Path::new("/p"), Some(" "));
        assert_eq!(vars[0], ("LD_PRELOAD", "/l.so".to_owned()));
        let vars = environment(Path::new("/l.so"), Path::new("/p"), Some("/l.so /a.so"));
        assert_eq!(vars[0], ("LD_PRELOAD", "/l.so:/a.so".to_owned()));
    }

    #[test]
    fn the_embedded_library_is_a_shared_object_with_the_clock_functions() {
        assert_eq!(&LIBRARY[..4], b"\x7fELF");
        for name in [
            "clock_gettime",
            "gettimeofday",
            "timespec_get",
            "clock_nanosleep",
            "sem_timedwait",
            "pthread_mutex_timedlock",
        ] {
            assert!(
                LIBRARY
                    .windows(name.len() + 1)
                    .any(|w| &w[..name.len()] == name.as_bytes() && w[name.len()] == 0),
                "{name} is not in the library"
            );
        }
    }
}
