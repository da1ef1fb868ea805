//! The sandbox's one wall clock: a page of shared memory that every process of the
//! sandbox reads.
//!
//! The body process creates the page as a file in the sandbox's private `/tmp`
//! ([`PAGE_PATH`]) and maps it read-write; its interposed clock functions
//! ([`super::wall_clock`]) read it, and so do, through the file, the clock library preloaded
//! into every program it executes ([`super::preload`], `preload/sandbox_clock.c`), which
//! maps it read-only. A process forked without exec keeps the mapping. One write is
//! therefore seen by every thread and every process of the sandbox on its next read,
//! programs already running included.
//!
//! Layout (the C library reads the same): `u32 magic, u32 seq, u32 mode, u32 nanos,
//! i64 secs`. `seq` is a sequence lock: a writer makes it odd (a compare-and-swap, which
//! also excludes other writers, in any process), writes, and makes it even again; a
//! reader retries while it is odd or changed under it. Readers use atomics only: a signal
//! handler may read the clock.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicPtr, AtomicU32, Ordering};

use super::wall_clock::{Timespec, Travel};

/// The directory in the sandbox's private `/tmp` that holds the page and the library.
pub(crate) const DIR: &str = "/tmp/.sandbox-test";
/// The page's file.
pub(crate) const PAGE_PATH: &str = "/tmp/.sandbox-test/clock";
/// The variable that names the page for the preloaded library.
pub(crate) const PAGE_ENV: &str = "SANDBOX_TEST_CLOCK";

/// "SBTC", layout version 1 (`CLOCK_PAGE_MAGIC` in the C library).
const MAGIC: u32 = 0x5342_5443;
const MODE_OFF: u32 = 0;
const MODE_SHIFT: u32 = 1;
const MODE_FROZEN: u32 = 2;
const PAGE_SIZE: usize = 4096;

#[repr(C)]
pub(crate) struct ClockPage {
    magic: AtomicU32,
    seq: AtomicU32,
    mode: AtomicU32,
    nanos: AtomicU32,
    secs: AtomicI64,
}

/// The page this process reads, once attached.
static PAGE: AtomicPtr<ClockPage> = AtomicPtr::new(std::ptr::null_mut());

/// Creates the page at `path` (a new file), maps it read-write and makes it this
/// process's clock, showing `travel`.
pub(crate) fn create(path: &Path, travel: Travel) -> io::Result<()> {
    let name = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the path"))?;
    // SAFETY: open with a NUL-terminated path; the fd is owned below.
    let fd = unsafe {
        libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ftruncate and mmap of an fd we own; the mapping is never unmapped.
    let mapped = unsafe {
        if libc::ftruncate(fd.as_raw_fd(), PAGE_SIZE as libc::off_t) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::mmap(
            std::ptr::null_mut(),
            PAGE_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if mapped == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let page = mapped.cast::<ClockPage>();
    // SAFETY: a fresh, zeroed, page-aligned mapping of PAGE_SIZE bytes, alive forever.
    let page_ref = unsafe { &*page };
    write_fields(page_ref, Some(travel));
    page_ref.magic.store(MAGIC, Ordering::Release);
    PAGE.store(page, Ordering::Release);
    Ok(())
}

fn page() -> Option<&'static ClockPage> {
    // SAFETY: PAGE is null or a mapping that is never unmapped.
    unsafe { PAGE.load(Ordering::Acquire).as_ref() }
}

/// The travel in effect: `None` without a page or on the real clock.
#[inline]
pub(crate) fn current() -> Option<Travel> {
    let page = page()?;
    for _ in 0..MAX_SPINS {
        let before = page.seq.load(Ordering::Acquire);
        if before & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let travel = read_fields(page);
        std::sync::atomic::fence(Ordering::Acquire);
        if page.seq.load(Ordering::Relaxed) == before {
            return travel;
        }
    }
    // A writer that died half-way (or this very thread, interrupted while writing, read
    // from a signal handler): the real clock rather than a hang, as in the C library.
    None
}

/// How long a reader waits for a writer (a write is a few stores).
const MAX_SPINS: u32 = 1 << 24;

fn read_fields(page: &ClockPage) -> Option<Travel> {
    let value = Timespec {
        secs: page.secs.load(Ordering::Relaxed),
        nanos: page.nanos.load(Ordering::Relaxed),
    };
    match page.mode.load(Ordering::Relaxed) {
        MODE_SHIFT => Some(Travel::Shift(value)),
        MODE_FROZEN => Some(Travel::Frozen(value)),
        _ => None,
    }
}

fn write_fields(page: &ClockPage, travel: Option<Travel>) {
    let (mode, value) = match travel {
        None => (MODE_OFF, Timespec { secs: 0, nanos: 0 }),
        Some(Travel::Shift(delta)) => (MODE_SHIFT, delta),
        Some(Travel::Frozen(instant)) => (MODE_FROZEN, instant),
    };
    page.mode.store(mode, Ordering::Relaxed);
    page.secs.store(value.secs, Ordering::Relaxed);
    page.nanos.store(value.nanos, Ordering::Relaxed);
}

/// Replaces the travel with `change(current)` for every reader at once, if this process
/// has a page; `change` may refuse (`Err`), and the page stays as it was. Writers in any
/// process are serialized by the sequence lock.
pub(crate) fn update<E>(
    change: impl FnOnce(Option<Travel>) -> Result<Option<Travel>, E>,
) -> Option<Result<(), E>> {
    let page = page()?;
    let locked = loop {
        let seq = page.seq.load(Ordering::Relaxed);
        if seq & 1 == 0
            && page
                .seq
                .compare_exchange_weak(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            break seq + 1;
        }
        std::hint::spin_loop();
    };
    std::sync::atomic::fence(Ordering::Release);
    // Unlocks even if `change` panics: a lock left odd would make every reader spin to its
    // limit on every read and every later writer wait forever.
    let _unlock = Unlock {
        seq: &page.seq,
        value: locked.wrapping_add(1),
    };
    Some(change(read_fields(page)).map(|travel| write_fields(page, travel)))
}

/// Releases the page's write lock when dropped.
struct Unlock<'a> {
    seq: &'a AtomicU32,
    value: u32,
}

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        self.seq.store(self.value, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_the_c_librarys() {
        assert_eq!(std::mem::size_of::<ClockPage>(), 24);
        assert_eq!(std::mem::offset_of!(ClockPage, seq), 4);
        assert_eq!(std::mem::offset_of!(ClockPage, mode), 8);
        assert_eq!(std::mem::offset_of!(ClockPage, nanos), 12);
        assert_eq!(std::mem::offset_of!(ClockPage, secs), 16);
    }
}
