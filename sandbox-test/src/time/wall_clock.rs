//! The user-space wall clock of the body process.
//!
//! CLOCK_REALTIME is never virtualized by the kernel, so the runtime crate exports
//! `clock_gettime`, `gettimeofday`, `time` and `timespec_get`, and the waits with an
//! absolute CLOCK_REALTIME deadline: `clock_nanosleep`, `sem_timedwait` and
//! `pthread_mutex_timedlock`. The executable's definitions win over glibc's for every
//! caller linked into the test binary (std's `SystemTime`, chrono, the `time` crate, the
//! `libc` crate), and, as the executable exports them, for the shared libraries it loads.
//! Each one passes through to the next definition (`dlsym(RTLD_NEXT, ...)`, resolved once
//! in a constructor) while no travel is installed: one atomic load and an indirect call.
//!
//! When a travel is installed, CLOCK_REALTIME, CLOCK_REALTIME_COARSE and CLOCK_TAI read
//! `real + delta`, or stand still at an instant. CLOCK_MONOTONIC and CLOCK_BOOTTIME are
//! left alone: the time namespace owns them.
//!
//! The state is the sandbox's clock page ([`super::shared_clock`]), which the library
//! preloaded into the body's subprocesses reads too: one clock for every process. A
//! reader (any thread, a signal handler too) uses atomics only, no lock.

use std::ffi::{c_int, c_void};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::SystemTime;

use libc::{clockid_t, timespec, timeval};

use crate::spec::time::{format_rfc3339, system_time_from_unix, unix_parts};

const NANOS_PER_SEC: u32 = 1_000_000_000;
/// `TIME_UTC` of C11 `timespec_get`.
const TIME_UTC: c_int = 1;

/// A point or a distance on the wall clock: whole seconds (floored) and nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timespec {
    pub secs: i64,
    pub nanos: u32,
}

impl Timespec {
    pub(crate) fn from_system_time(time: SystemTime) -> Self {
        let (secs, nanos) = unix_parts(time);
        Timespec { secs, nanos }
    }

    pub(crate) fn to_system_time(self) -> SystemTime {
        system_time_from_unix(self.secs, self.nanos)
    }

    fn from_libc(ts: &timespec) -> Self {
        Timespec {
            secs: ts.tv_sec,
            nanos: ts.tv_nsec as u32,
        }
    }

    fn write_to(self, ts: &mut timespec) {
        ts.tv_sec = self.secs;
        ts.tv_nsec = self.nanos.into();
    }

    /// Saturating at the ends of `i64` seconds: a "wait forever" deadline such as
    /// `{i64::MAX, 0}` stays forever instead of overflowing (a panic in an interposed C
    /// function is an abort).
    pub(crate) fn plus(self, other: Timespec) -> Timespec {
        let nanos = self.nanos + other.nanos;
        let carry = i64::from(nanos >= NANOS_PER_SEC);
        Timespec {
            secs: self.secs.saturating_add(other.secs).saturating_add(carry),
            nanos: nanos % NANOS_PER_SEC,
        }
    }

    /// Saturating, as [`plus`](Self::plus).
    pub(crate) fn minus(self, other: Timespec) -> Timespec {
        let borrow = self.nanos < other.nanos;
        Timespec {
            secs: self
                .secs
                .saturating_sub(other.secs)
                .saturating_sub(i64::from(borrow)),
            nanos: if borrow {
                self.nanos + NANOS_PER_SEC - other.nanos
            } else {
                self.nanos - other.nanos
            },
        }
    }

    /// Signed nanoseconds, saturating (for comparisons with a tolerance).
    pub(crate) fn as_nanos(self) -> i128 {
        i128::from(self.secs) * i128::from(NANOS_PER_SEC) + i128::from(self.nanos)
    }
}

/// The moved wall clock in effect in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Travel {
    /// The real wall clock plus a delta.
    Shift(Timespec),
    /// The wall clock stands still at an instant.
    Frozen(Timespec),
}

/// The travel in effect: the sandbox's clock page, read with atomics only
/// (async-signal-safe); `None` outside a sandbox with a moved wall clock.
#[inline]
pub(crate) fn current() -> Option<Travel> {
    super::shared_clock::current()
}

/// Moves a real reading of one of the moved clocks.
#[inline]
fn moved(travel: Travel, clock: clockid_t, real: Timespec) -> Timespec {
    match travel {
        Travel::Shift(delta) => real.plus(delta),
        // CLOCK_TAI keeps its distance to CLOCK_REALTIME (whole seconds) when frozen.
        Travel::Frozen(instant) if clock == libc::CLOCK_TAI => {
            let distance = real.minus(real_now()).as_nanos();
            let whole_secs =
                (distance + i128::from(NANOS_PER_SEC / 2)).div_euclid(i128::from(NANOS_PER_SEC));
            instant.plus(Timespec {
                secs: whole_secs as i64,
                nanos: 0,
            })
        }
        Travel::Frozen(instant) => instant,
    }
}

fn is_moved_clock(clock: clockid_t) -> bool {
    matches!(
        clock,
        libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_COARSE | libc::CLOCK_TAI
    )
}

/// The real CLOCK_REALTIME, whatever is installed.
pub(crate) fn real_now() -> Timespec {
    let mut ts = MaybeUninit::<timespec>::zeroed();
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { real::clock_gettime()(libc::CLOCK_REALTIME, ts.as_mut_ptr()) };
    // SAFETY: zero-initialized, and written on success.
    Timespec::from_libc(unsafe { &ts.assume_init() })
}

/// CLOCK_REALTIME straight from the kernel, bypassing the vDSO and every interposer.
pub(crate) fn raw_syscall_now() -> Timespec {
    let mut ts = MaybeUninit::<timespec>::zeroed();
    // SAFETY: clock_gettime writes one timespec to a valid pointer.
    unsafe {
        libc::syscall(
            libc::SYS_clock_gettime,
            libc::CLOCK_REALTIME,
            ts.as_mut_ptr(),
        )
    };
    // SAFETY: zero-initialized, and written on success.
    Timespec::from_libc(unsafe { &ts.assume_init() })
}

/// The interposed `clock_gettime`.
///
/// # Safety
/// `tp` must be valid for writing a `timespec`, as for the C function.
#[no_mangle]
pub unsafe extern "C" fn clock_gettime(clock: clockid_t, tp: *mut timespec) -> c_int {
    let result = real::clock_gettime()(clock, tp);
    if result != 0 || tp.is_null() || !is_moved_clock(clock) {
        return result;
    }
    if let Some(travel) = current() {
        let real = Timespec::from_libc(&*tp);
        moved(travel, clock, real).write_to(&mut *tp);
    }
    result
}

/// The interposed `gettimeofday`.
///
/// # Safety
/// As for the C function.
#[no_mangle]
pub unsafe extern "C" fn gettimeofday(tv: *mut timeval, tz: *mut c_void) -> c_int {
    let Some(travel) = current() else {
        return real::gettimeofday()(tv, tz);
    };
    if tv.is_null() {
        return real::gettimeofday()(tv, tz);
    }
    // One read of the fine clock; the obsolete timezone, if asked for, from glibc.
    if !tz.is_null() && real::gettimeofday()(std::ptr::null_mut(), tz) != 0 {
        return -1;
    }
    let now = moved(travel, libc::CLOCK_REALTIME, real_now());
    (*tv).tv_sec = now.secs;
    (*tv).tv_usec = (now.nanos / 1_000).into();
    0
}

/// The interposed `time`.
///
/// # Safety
/// `t` is null or valid for writing a `time_t`, as for the C function.
#[no_mangle]
pub unsafe extern "C" fn time(t: *mut libc::time_t) -> libc::time_t {
    let Some(travel) = current() else {
        return real::time()(t);
    };
    // glibc's time() reads the coarse clock; a moved one uses the fine clock so that
    // time() never reads a second before the instant it was moved to.
    let secs = moved(travel, libc::CLOCK_REALTIME, real_now()).secs;
    if !t.is_null() {
        *t = secs;
    }
    secs
}

/// The interposed C11 `timespec_get`.
///
/// # Safety
/// `ts` must be valid for writing a `timespec`, as for the C function.
#[no_mangle]
pub unsafe extern "C" fn timespec_get(ts: *mut timespec, base: c_int) -> c_int {
    let result = real::timespec_get()(ts, base);
    if result != base || base != TIME_UTC || ts.is_null() {
        return result;
    }
    if let Some(travel) = current() {
        let real = Timespec::from_libc(&*ts);
        moved(travel, libc::CLOCK_REALTIME, real).write_to(&mut *ts);
    }
    result
}

/// `deadline` is a timespec the kernel accepts (nanoseconds below a second). Any other is
/// passed on untranslated, for the real function's EINVAL.
///
/// # Safety
/// `deadline` is null or valid for reading a `timespec`.
unsafe fn valid_deadline(deadline: *const timespec) -> bool {
    !deadline.is_null() && (0..i64::from(NANOS_PER_SEC)).contains(&(*deadline).tv_nsec)
}

/// The real deadline an absolute deadline on the moved `clock` stands for. A frozen clock
/// never reaches a later deadline; the wait ends after the real time remaining to it
/// instead of hanging.
///
/// # Safety
/// Reads the real clock through the next `clock_gettime`; `clock` is a clock id it takes.
unsafe fn real_deadline(travel: Travel, clock: clockid_t, deadline: &timespec) -> timespec {
    let deadline = Timespec::from_libc(deadline);
    let real = match travel {
        Travel::Shift(delta) => deadline.minus(delta),
        Travel::Frozen(_) => {
            let mut now = MaybeUninit::<timespec>::zeroed();
            real::clock_gettime()(clock, now.as_mut_ptr());
            let now = Timespec::from_libc(&now.assume_init());
            let left = deadline.minus(moved(travel, clock, now));
            if left.secs < 0 {
                now
            } else {
                now.plus(left)
            }
        }
    };
    let mut translated = MaybeUninit::<timespec>::zeroed().assume_init();
    real.write_to(&mut translated);
    translated
}

/// The interposed `clock_nanosleep`: an absolute CLOCK_REALTIME or CLOCK_TAI deadline on
/// the moved clock is turned into the real deadline it stands for.
///
/// # Safety
/// As for the C function.
#[no_mangle]
pub unsafe extern "C" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    request: *const timespec,
    remain: *mut timespec,
) -> c_int {
    match current() {
        Some(travel)
            if flags & libc::TIMER_ABSTIME != 0
                && valid_deadline(request)
                && matches!(clock, libc::CLOCK_REALTIME | libc::CLOCK_TAI) =>
        {
            let request = real_deadline(travel, clock, &*request);
            real::clock_nanosleep()(clock, flags, &request, remain)
        }
        _ => real::clock_nanosleep()(clock, flags, request, remain),
    }
}

/// The interposed `sem_timedwait`, whose deadline is on CLOCK_REALTIME.
///
/// # Safety
/// As for the C function.
#[no_mangle]
pub unsafe extern "C" fn sem_timedwait(sem: *mut libc::sem_t, deadline: *const timespec) -> c_int {
    match current() {
        Some(travel) if valid_deadline(deadline) => {
            let deadline = real_deadline(travel, libc::CLOCK_REALTIME, &*deadline);
            real::sem_timedwait()(sem, &deadline)
        }
        _ => real::sem_timedwait()(sem, deadline),
    }
}

/// The interposed `pthread_mutex_timedlock`, whose deadline is on CLOCK_REALTIME.
///
/// # Safety
/// As for the C function.
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_timedlock(
    mutex: *mut libc::pthread_mutex_t,
    deadline: *const timespec,
) -> c_int {
    match current() {
        Some(travel) if valid_deadline(deadline) => {
            let deadline = real_deadline(travel, libc::CLOCK_REALTIME, &*deadline);
            real::pthread_mutex_timedlock()(mutex, &deadline)
        }
        _ => real::pthread_mutex_timedlock()(mutex, deadline),
    }
}

/// The travel that makes the wall clock read `instant` now.
pub(crate) fn starting_at(instant: Timespec) -> Travel {
    Travel::Shift(instant.minus(real_now()))
}

/// Why a moved wall clock is not what the test process reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInEffect {
    pub function: &'static str,
    pub reads: String,
    pub expected: String,
}

impl std::fmt::Display for NotInEffect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let build = if cfg!(target_feature = "crt-static") {
            "this test binary is statically linked"
        } else if !cfg!(target_env = "gnu") {
            "this test binary is not linked against glibc"
        } else {
            "another definition of the clock functions took precedence"
        };
        write!(
            f,
            "the moved wall clock is not in effect: {} reads {}, expected {}. sandbox-test \
             moves the wall clock by exporting clock_gettime, gettimeofday, time and \
             timespec_get from the test binary, which needs a dynamically linked glibc \
             target; {build}",
            self.function, self.reads, self.expected
        )
    }
}

/// Checks that what callers of the test binary read is the installed travel: std's
/// `SystemTime::now()` and libc's `time()` against a raw `clock_gettime` syscall.
pub(crate) fn verify() -> Result<(), NotInEffect> {
    let Some(travel) = current() else {
        return Ok(());
    };
    let expected = moved(travel, libc::CLOCK_REALTIME, raw_syscall_now());
    let std_now = Timespec::from_system_time(SystemTime::now());
    // SAFETY: time() with a null pointer only returns the value.
    let libc_time = unsafe { libc::time(std::ptr::null_mut()) };
    compare(expected, std_now, libc_time)
}

/// Readings taken a few microseconds apart; a generous tolerance covers preemption.
fn compare(expected: Timespec, std_now: Timespec, libc_time: i64) -> Result<(), NotInEffect> {
    const TOLERANCE_NANOS: i128 = 500_000_000;
    if std_now.minus(expected).as_nanos().abs() > TOLERANCE_NANOS {
        return Err(NotInEffect {
            function: "std::time::SystemTime::now()",
            reads: format_rfc3339(std_now.to_system_time()),
            expected: format_rfc3339(expected.to_system_time()),
        });
    }
    if (libc_time - expected.secs).abs() > 1 {
        return Err(NotInEffect {
            function: "libc time()",
            reads: format!("{libc_time} s"),
            expected: format!("{} s", expected.secs),
        });
    }
    Ok(())
}

/// Resolves the real functions now (a later first call may be in a signal handler), and
/// keeps the exported definitions in every binary that links the setup sequence.
pub(crate) fn prepare() {
    std::hint::black_box((
        clock_gettime as real::ClockGettime,
        gettimeofday as real::Gettimeofday,
        time as real::Time,
        timespec_get as real::TimespecGet,
        clock_nanosleep as real::ClockNanosleep,
        sem_timedwait as real::SemTimedwait,
        pthread_mutex_timedlock as real::PthreadMutexTimedlock,
    ));
    real::resolve_all();
}

/// The next definitions of the interposed functions (glibc's), resolved once.
mod real {
    use super::*;

    pub(crate) type ClockGettime = unsafe extern "C" fn(clockid_t, *mut timespec) -> c_int;
    pub(crate) type Gettimeofday = unsafe extern "C" fn(*mut timeval, *mut c_void) -> c_int;
    pub(crate) type Time = unsafe extern "C" fn(*mut libc::time_t) -> libc::time_t;
    pub(crate) type TimespecGet = unsafe extern "C" fn(*mut timespec, c_int) -> c_int;
    pub(crate) type SemTimedwait = unsafe extern "C" fn(*mut libc::sem_t, *const timespec) -> c_int;
    pub(crate) type PthreadMutexTimedlock =
        unsafe extern "C" fn(*mut libc::pthread_mutex_t, *const timespec) -> c_int;
    pub(crate) type ClockNanosleep =
        unsafe extern "C" fn(clockid_t, c_int, *const timespec, *mut timespec) -> c_int;

    /// Resolves every function before `main`, so that the first call in a signal handler
    /// or a forked child never runs `dlsym`.
    #[used]
    #[link_section = ".init_array"]
    static RESOLVE_BEFORE_MAIN: extern "C" fn() = resolve_all;

    pub(crate) extern "C" fn resolve_all() {
        clock_gettime();
        gettimeofday();
        time();
        timespec_get();
        clock_nanosleep();
        sem_timedwait();
        pthread_mutex_timedlock();
    }

    /// The cached pointer, else `dlsym(RTLD_NEXT, name)`, else the syscall `fallback`
    /// (a static binary, or a libc without the function). `name` ends with a NUL.
    #[inline]
    fn resolve(
        cache: &AtomicPtr<c_void>,
        name: &'static str,
        fallback: *mut c_void,
    ) -> *mut c_void {
        let cached = cache.load(Ordering::Relaxed);
        if !cached.is_null() {
            return cached;
        }
        debug_assert!(name.ends_with('\0'));
        // SAFETY: dlsym with a NUL-terminated name.
        let found = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
        let function = if found.is_null() { fallback } else { found };
        cache.store(function, Ordering::Relaxed);
        function
    }

    /// `fn $name() -> $type`: the next definition of the C function `$name`.
    macro_rules! next_definition {
        ($($name:ident: $type:ty = $fallback:ident;)*) => {$(
            #[inline]
            pub(crate) fn $name() -> $type {
                static CACHE: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
                let name = concat!(stringify!($name), "\0");
                let function = resolve(&CACHE, name, $fallback as *mut c_void);
                // SAFETY: the C function `$name` has this signature.
                unsafe { std::mem::transmute::<*mut c_void, $type>(function) }
            }
        )*};
    }

    next_definition! {
        clock_gettime: ClockGettime = fallback_clock_gettime;
        gettimeofday: Gettimeofday = fallback_gettimeofday;
        time: Time = fallback_time;
        timespec_get: TimespecGet = fallback_timespec_get;
        clock_nanosleep: ClockNanosleep = fallback_clock_nanosleep;
        sem_timedwait: SemTimedwait = fallback_sem_timedwait;
        pthread_mutex_timedlock: PthreadMutexTimedlock = fallback_pthread_mutex_timedlock;
    }

    unsafe extern "C" fn fallback_clock_gettime(clock: clockid_t, tp: *mut timespec) -> c_int {
        libc::syscall(libc::SYS_clock_gettime, clock, tp) as c_int
    }

    unsafe extern "C" fn fallback_gettimeofday(tv: *mut timeval, tz: *mut c_void) -> c_int {
        libc::syscall(libc::SYS_gettimeofday, tv, tz) as c_int
    }

    unsafe extern "C" fn fallback_time(t: *mut libc::time_t) -> libc::time_t {
        let mut ts = MaybeUninit::<timespec>::zeroed();
        if fallback_clock_gettime(libc::CLOCK_REALTIME, ts.as_mut_ptr()) != 0 {
            return -1;
        }
        let secs = ts.assume_init().tv_sec;
        if !t.is_null() {
            *t = secs;
        }
        secs
    }

    unsafe extern "C" fn fallback_timespec_get(ts: *mut timespec, base: c_int) -> c_int {
        if base == TIME_UTC && fallback_clock_gettime(libc::CLOCK_REALTIME, ts) == 0 {
            base
        } else {
            0
        }
    }

    unsafe extern "C" fn fallback_clock_nanosleep(
        clock: clockid_t,
        flags: c_int,
        request: *const timespec,
        remain: *mut timespec,
    ) -> c_int {
        if libc::syscall(libc::SYS_clock_nanosleep, clock, flags, request, remain) == 0 {
            0
        } else {
            *libc::__errno_location()
        }
    }

    /// Without a C library that has them there are no semaphores or mutexes to wait on.
    unsafe extern "C" fn fallback_sem_timedwait(_: *mut libc::sem_t, _: *const timespec) -> c_int {
        *libc::__errno_location() = libc::ENOSYS;
        -1
    }

    unsafe extern "C" fn fallback_pthread_mutex_timedlock(
        _: *mut libc::pthread_mutex_t,
        _: *const timespec,
    ) -> c_int {
        libc::ENOSYS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64, nanos: u32) -> Timespec {
        Timespec { secs, nanos }
    }

    #[test]
    fn timespec_arithmetic_carries_and_borrows() {
        assert_eq!(
            ts(1, 600_000_000).plus(ts(2, 500_000_000)),
            ts(4, 100_000_000)
        );
        assert_eq!(
            ts(1, 100_000_000).minus(ts(2, 500_000_000)),
            ts(-2, 600_000_000)
        );
        assert_eq!(ts(-2, 600_000_000).as_nanos(), -1_400_000_000);
        assert_eq!(ts(5, 0).minus(ts(5, 0)), ts(0, 0));
    }

    #[test]
    fn verification_names_the_function_and_both_readings() {
        let y2038 = ts(2_147_483_648, 0);
        assert_eq!(
            compare(y2038, ts(2_147_483_648, 1_000), 2_147_483_648),
            Ok(())
        );
        let why = compare(y2038, ts(1_795_874_016, 0), 2_147_483_648).unwrap_err();
        let text = why.to_string();
        assert!(
            text.contains("SystemTime::now() reads 2026-11-28T"),
            "{text}"
        );
        assert!(text.contains("expected 2038-01-19T03:14:08Z"), "{text}");
        assert!(text.contains("dynamically linked glibc"), "{text}");
        let why = compare(y2038, y2038, 1_795_874_016).unwrap_err();
        assert_eq!(why.function, "libc time()");
    }

    #[test]
    fn frozen_and_shifted_readings() {
        let frozen = Travel::Frozen(ts(2_000_000_000, 5));
        assert_eq!(
            moved(frozen, libc::CLOCK_REALTIME, ts(7, 0)),
            ts(2_000_000_000, 5)
        );
        assert_eq!(
            moved(frozen, libc::CLOCK_REALTIME_COARSE, ts(7, 0)),
            ts(2_000_000_000, 5)
        );
        let real_tai = real_now();
        let tai = moved(frozen, libc::CLOCK_TAI, real_tai.plus(ts(37, 0)));
        assert_eq!(tai, ts(2_000_000_037, 5));
        let shift = Travel::Shift(ts(-10, 500_000_000));
        assert_eq!(
            moved(shift, libc::CLOCK_TAI, ts(100, 600_000_000)),
            ts(91, 100_000_000)
        );
    }
}
