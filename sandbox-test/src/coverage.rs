//! Coverage across the fork: the counts a sandbox's processes make reach the test
//! process's profile.
//!
//! A binary built with `-C instrument-coverage` counts in a section of its own memory,
//! `__llvm_prf_cnts` (and, for MC/DC, bitmap bytes in `__llvm_prf_bits`); the LLVM profile
//! runtime writes them to `LLVM_PROFILE_FILE` when the process exits normally. Sandbox
//! processes leave with `_exit` (the profile runtime's exit handler would run inside the
//! sandbox: a read-only root, a private `/tmp`, a seccomp filter, and pid 2 for every
//! body), so their counts would be lost. Instead:
//!
//! 1. the fork server finds the two sections in its own image (`/proc/self/exe`'s section
//!    headers; nothing in an uninstrumented build): every sandbox process is its fork and
//!    has the same addresses;
//! 2. each sandbox process, first thing after its fork, zeroes the counts it inherited
//!    (they were counted by the process it was forked from: [`forget_inherited`]), and,
//!    as its first setup step, prepares a memfd mapped as large as the sections
//!    ([`start`]);
//! 3. before it leaves, it copies its counts into that memfd, with no system call, and
//!    sends the memfd on the channel ([`send`]): one `sendmsg`, which the seccomp filter
//!    always allows on the channel;
//! 4. the test process adds them to its own counters ([`merge`]), and its profile runtime
//!    writes them, with its own, where `LLVM_PROFILE_FILE` says, when the test process
//!    exits. Nothing is written inside the sandbox, so nothing can collide or be out of
//!    reach, and `cargo llvm-cov` sees the bodies' lines as any test's.
//!
//! Counts add up the way `llvm-profdata merge` adds two profiles of one binary: counters
//! are summed, bitmap bytes or-ed.

use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};
use object::elf::FileHeader64;
use object::read::elf::{FileHeader, SectionHeader};
use object::{Endianness, SectionIndex};

use crate::protocol::{self, Message};
use crate::step::StepError;

/// The counter and bitmap sections of this image, as mapped in memory. Every sandbox
/// process is a fork of the fork server, so the addresses hold in all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counters {
    counters: Region,
    bitmap: Region,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Region {
    start: usize,
    len: usize,
}

/// The counters of this test binary when it was built with `-C instrument-coverage`;
/// `None` otherwise (looked up once, from the section headers of `/proc/self/exe`).
pub(crate) fn counters() -> Option<Counters> {
    static COUNTERS: OnceLock<Option<Counters>> = OnceLock::new();
    *COUNTERS.get_or_init(|| find_counters().ok().flatten())
}

fn find_counters() -> Result<Option<Counters>, Box<dyn std::error::Error>> {
    let file = std::fs::File::open("/proc/self/exe")?;
    // Reads the ELF header, the section headers and their names only (a few reads), not
    // the symbol tables or the rest of the binary.
    let cache = object::ReadCache::new(file);
    let header = FileHeader64::<Endianness>::parse(&cache)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, &cache)?;
    let names = sections
        .section(SectionIndex(header.shstrndx(endian, &cache)? as usize))?
        .data(endian, &cache)?;
    let find = |wanted: &[u8]| {
        sections.iter().find(|section| {
            let start = section.sh_name(endian) as usize;
            names.get(start..).and_then(|n| n.split(|&b| b == 0).next()) == Some(wanted)
        })
    };
    let Some(counters) = find(b"__llvm_prf_cnts") else {
        return Ok(None);
    };
    let (address, size) = (counters.sh_addr(endian), counters.sh_size(endian));
    // Coverage counters are 64 bits wide (rustc never uses LLVM's single-byte counters).
    if size % 8 != 0 || address % 8 != 0 {
        return Ok(None);
    }
    // Section addresses are the link-time ones; a position-independent executable is
    // loaded at an offset, which the entry point shows.
    // SAFETY: getauxval only reads the auxiliary vector.
    let entry = unsafe { libc::getauxval(libc::AT_ENTRY) };
    let bias = entry.wrapping_sub(header.e_entry(endian)) as usize;
    let region = |address: u64, size: u64| Region {
        start: bias.wrapping_add(address as usize),
        len: size as usize,
    };
    let bitmap = find(b"__llvm_prf_bits").map_or(Region { start: 0, len: 0 }, |s| {
        region(s.sh_addr(endian), s.sh_size(endian))
    });
    Ok(Some(Counters {
        counters: region(address, size),
        bitmap,
    }))
}

impl Counters {
    fn total_len(&self) -> usize {
        self.counters.len + self.bitmap.len
    }
}

/// Where this sandbox process will put its counts: a memfd, mapped.
struct Outbox {
    counters: Counters,
    memfd: OwnedFd,
    mapping: std::ptr::NonNull<std::ffi::c_void>,
}

// SAFETY: the mapping belongs to the outbox alone; it is only touched under OUTBOX's lock.
unsafe impl Send for Outbox {}

impl Drop for Outbox {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `start` with this length and is not used after.
        let _ = unsafe { munmap(self.mapping, self.counters.total_len()) };
    }
}

/// This process's outbox; set by `start`, taken by `send`.
static OUTBOX: Mutex<Option<Outbox>> = Mutex::new(None);

/// In the child, right after a fork and before it calls anything else: forgets the counts
/// inherited with the fork (the parent counted them), so that this process's counts are
/// its own. (The fork returns twice but was counted once: the line of the child's arm of
/// the fork shows the parent's count; everything after it counts right.)
pub(crate) fn forget_inherited() {
    // The parent's outbox (shared with it through MAP_SHARED) is not this process's. Closed
    // now, while its number surely still names the parent's memfd: a later step may close
    // the process's descriptors and reuse that number.
    drop(OUTBOX.lock().unwrap_or_else(|e| e.into_inner()).take());
    if let Some(counters) = counters() {
        reset(&counters);
    }
}

/// A sandbox process's step: prepares the memfd its counts will leave in. Does nothing in
/// an uninstrumented build.
pub(crate) fn start() -> Result<(), StepError> {
    let mut outbox = OUTBOX.lock().unwrap_or_else(|e| e.into_inner());
    // The parent's outbox, where `forget_inherited` did not already drop it.
    drop(outbox.take());
    let Some(counters) = counters() else {
        return Ok(());
    };
    let memfd = OwnedFd::from(
        crate::kernel::anonymous_file(c"sandbox-test-coverage").map_err(|e| {
            let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
            StepError::Sys("memfd_create".into(), errno)
        })?,
    );
    nix::unistd::ftruncate(&memfd, counters.total_len() as libc::off_t)
        .map_err(|e| StepError::Sys("ftruncate".into(), e))?;
    let length = NonZeroUsize::new(counters.total_len())
        .ok_or_else(|| StepError::Other("the coverage counters section is empty".into()))?;
    // SAFETY: a fresh shared mapping of our own memfd, at an address the kernel picks.
    let mapping = unsafe {
        mmap(
            None,
            length,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
            memfd.as_fd(),
            0,
        )
    }
    .map_err(|e| StepError::Sys("mmap".into(), e))?;
    *outbox = Some(Outbox {
        counters,
        memfd,
        mapping,
    });
    Ok(())
}

/// Zeroes this process's counters and bitmap bytes.
fn reset(counters: &Counters) {
    for region in [counters.counters, counters.bitmap] {
        if region.len > 0 {
            // SAFETY: the region is a writable section of this image (see `find_counters`).
            unsafe { std::ptr::write_bytes(region.start as *mut u8, 0, region.len) };
        }
    }
}

/// Before a sandbox process leaves: sends the counts it made to the test process. Copying
/// into the prepared memfd makes no system call, and the one `sendmsg` goes to the
/// channel, so this works under any seccomp filter. Returns whether this process counts
/// (an instrumented build), so the caller knows not to leave through `exit`.
pub(crate) fn send(channel: BorrowedFd<'_>) -> bool {
    let Some(outbox) = OUTBOX.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return false;
    };
    let Outbox {
        counters,
        ref memfd,
        mapping,
    } = outbox;
    let target = mapping.as_ptr().cast::<u8>();
    // SAFETY: the mapping is `total_len` bytes long; the sources are this image's sections.
    unsafe {
        std::ptr::copy_nonoverlapping(
            counters.counters.start as *const u8,
            target,
            counters.counters.len,
        );
        if counters.bitmap.len > 0 {
            std::ptr::copy_nonoverlapping(
                counters.bitmap.start as *const u8,
                target.add(counters.counters.len),
                counters.bitmap.len,
            );
        }
    }
    // A failure leaves the counts out of the profile; the test's verdict is unaffected.
    let _ = protocol::send(channel, &Message::Coverage, &[memfd.as_raw_fd()]);
    // The process leaves now: closing and unmapping would be system calls the seccomp
    // filter may refuse (and a debug build's `OwnedFd` drop checks the fd with `fcntl`).
    std::mem::forget(outbox);
    true
}

/// In the test process: adds a sandbox process's counts (the memfd of a `Coverage`
/// message) to this process's counters.
pub(crate) fn merge(memfd: OwnedFd) -> Result<(), String> {
    let Some(counters) = counters() else {
        return Err("coverage counts from a sandbox, but this binary counts nothing".into());
    };
    let file = std::fs::File::from(memfd);
    let metadata = file.metadata().map_err(|e| e.to_string())?;
    // A regular file of exactly the right size: reading it cannot block.
    if !metadata.is_file() || metadata.len() != counters.total_len() as u64 {
        return Err(format!(
            "coverage counts of {} bytes, expected {}",
            metadata.len(),
            counters.total_len()
        ));
    }
    let mut bytes = vec![0u8; counters.total_len()];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut bytes, 0).map_err(|e| e.to_string())?;
    let (counts, bitmap) = bytes.split_at(counters.counters.len);
    // One merge at a time; the test's own threads go on counting meanwhile, as they do.
    static MERGING: Mutex<()> = Mutex::new(());
    let _merging = MERGING.lock().unwrap_or_else(|e| e.into_inner());
    for (i, chunk) in counts.chunks_exact(8).enumerate() {
        let add = u64::from_ne_bytes(chunk.try_into().expect("chunks of 8"));
        if add != 0 {
            // SAFETY: an 8-aligned u64 counter of this image's counter section.
            let counter =
                unsafe { AtomicU64::from_ptr((counters.counters.start as *mut u64).add(i)) };
            counter.fetch_add(add, Ordering::Relaxed);
        }
    }
    for (i, &bits) in bitmap.iter().enumerate() {
        if bits != 0 {
            // SAFETY: a byte of this image's bitmap section.
            let byte = unsafe { AtomicU8::from_ptr((counters.bitmap.start as *mut u8).add(i)) };
            byte.fetch_or(bits, Ordering::Relaxed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_found_exactly_in_an_instrumented_image() {
        // The unit tests are built without -C instrument-coverage unless coverage is
        // being measured; either way the lookup must agree with what the image holds.
        let bytes = std::fs::read("/proc/self/exe").unwrap();
        let image = object::File::parse(&*bytes).unwrap();
        // The profile runtime is linked exactly into instrumented builds; its symbols show
        // it by another route than the section lookup under test.
        let instrumented =
            object::Object::symbol_by_name(&image, "__llvm_profile_runtime").is_some();
        let found = counters();
        assert_eq!(found.is_some(), instrumented);
        if let Some(found) = found {
            assert!(found.counters.len > 0 && found.counters.len % 8 == 0);
        }
    }

    #[test]
    fn without_an_outbox_nothing_is_sent() {
        let (ours, theirs) = std::os::unix::net::UnixDatagram::pair().unwrap();
        theirs.set_nonblocking(true).unwrap();
        // `start` was never called in this process: no outbox, whatever the build.
        assert!(!send(ours.as_fd()));
        let mut buffer = [0u8; 16];
        assert!(theirs.recv(&mut buffer).is_err(), "something was sent");
    }
}
