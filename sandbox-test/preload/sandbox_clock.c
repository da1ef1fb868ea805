/*
 * The sandbox's wall clock for the programs a sandboxed test executes.
 *
 * build.rs compiles this file into a shared library that the runtime embeds; the body
 * process writes it into the sandbox's private /tmp and preloads it (LD_PRELOAD) in every
 * program it starts. The library maps the sandbox's clock page (the file named by
 * SANDBOX_TEST_CLOCK) read-only; the body process maps the same page read-write and is
 * the only writer (sandbox_test::clock), so that every process of the sandbox reads one
 * clock, and a move is seen by a program already running on its next read.
 *
 * Layout of the page (sandbox-test/src/time/shared_clock.rs writes the same):
 *   u32 magic, u32 seq, u32 mode, u32 nanos, i64 secs
 * `seq` is a sequence lock: odd while the writer changes the page. `mode` is 0 (the real
 * clock), 1 (the real clock plus secs.nanos) or 2 (frozen at secs.nanos).
 *
 * Moved: CLOCK_REALTIME, CLOCK_REALTIME_COARSE and CLOCK_TAI through clock_gettime,
 * gettimeofday, time and timespec_get; absolute CLOCK_REALTIME/CLOCK_TAI deadlines of
 * clock_nanosleep, sem_timedwait and pthread_mutex_timedlock are translated to the real
 * clock. CLOCK_MONOTONIC and CLOCK_BOOTTIME pass through untouched: the time namespace
 * owns them (so a sleep to an absolute monotonic deadline, as Python's time.sleep does,
 * is the kernel's business alone).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CLOCK_PAGE_MAGIC 0x53425443u /* "SBTC", layout version 1 */
#define MODE_OFF 0u
#define MODE_SHIFT 1u
#define MODE_FROZEN 2u
#define NANOS 1000000000L

struct clock_page {
    uint32_t magic;
    uint32_t seq;
    uint32_t mode;
    uint32_t nanos;
    int64_t secs;
};

struct travel {
    uint32_t mode;
    int64_t secs;
    long nanos;
};

static const struct clock_page *page;

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct timeval *, void *);
typedef time_t (*time_fn)(time_t *);
typedef int (*timespec_get_fn)(struct timespec *, int);
typedef int (*clock_nanosleep_fn)(clockid_t, int, const struct timespec *, struct timespec *);
typedef int (*sem_timedwait_fn)(sem_t *, const struct timespec *);
typedef int (*mutex_timedlock_fn)(pthread_mutex_t *, const struct timespec *);

static clock_gettime_fn next_clock_gettime;
static gettimeofday_fn next_gettimeofday;
static time_fn next_time;
static timespec_get_fn next_timespec_get;
static clock_nanosleep_fn next_clock_nanosleep;
static sem_timedwait_fn next_sem_timedwait;
static mutex_timedlock_fn next_mutex_timedlock;

static int syscall_clock_gettime(clockid_t clock, struct timespec *ts) {
    return (int)syscall(SYS_clock_gettime, clock, ts);
}

/* The next definition of `name`, or `fallback` (resolved in the constructor; lazily when
 * another library's constructor reads the clock first). */
static void *next(void **cache, const char *name, void *fallback) {
    void *function = __atomic_load_n(cache, __ATOMIC_RELAXED);
    if (function)
        return function;
    function = dlsym(RTLD_NEXT, name);
    if (!function)
        function = fallback;
    __atomic_store_n(cache, function, __ATOMIC_RELAXED);
    return function;
}

#define NEXT(name, fallback) \
    ((name##_fn)next((void **)&next_##name, #name, (void *)(fallback)))

/* The travel in effect: 0 when there is none (no page, or the real clock). */
static int current(struct travel *travel) {
    const struct clock_page *p = __atomic_load_n(&page, __ATOMIC_ACQUIRE);
    if (!p)
        return 0;
    for (unsigned spins = 0; spins < (1u << 24); spins++) {
        uint32_t before = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE);
        if (before & 1) {
            /* The writer is another process (the body), maybe preempted in its few
             * stores: after a short spin, give it the CPU rather than burn the budget
             * and fall back to the real clock (a wrong reading) on a busy machine. */
            if (spins >= 1024)
                sched_yield();
            continue;
        }
        travel->mode = __atomic_load_n(&p->mode, __ATOMIC_RELAXED);
        travel->secs = __atomic_load_n(&p->secs, __ATOMIC_RELAXED);
        travel->nanos = __atomic_load_n(&p->nanos, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&p->seq, __ATOMIC_RELAXED) == before)
            return travel->mode != MODE_OFF;
    }
    /* A writer that died half-way (the sandbox is ending): the real clock rather than a
     * hang. */
    return 0;
}

static int is_moved_clock(clockid_t clock) {
    return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI;
}

/* Adds secs.nanos (|nanos| < 1 s) to a valid `ts`, saturating at the ends of time_t: a
 * "wait forever" deadline such as {INT64_MAX, 0} stays forever instead of wrapping into
 * the past (signed overflow is undefined in C anyway). */
static void add(struct timespec *ts, int64_t secs, long nanos) {
    int64_t tv_sec = ts->tv_sec;
    long tv_nsec = ts->tv_nsec + nanos;
    if (tv_nsec >= NANOS) {
        tv_nsec -= NANOS;
        secs = secs == INT64_MAX ? secs : secs + 1;
    } else if (tv_nsec < 0) {
        tv_nsec += NANOS;
        secs = secs == INT64_MIN ? secs : secs - 1;
    }
    if (__builtin_add_overflow(tv_sec, secs, &tv_sec)) {
        tv_sec = secs > 0 ? INT64_MAX : INT64_MIN;
        tv_nsec = secs > 0 ? NANOS - 1 : 0;
    }
    ts->tv_sec = (time_t)tv_sec;
    ts->tv_nsec = tv_nsec;
}

/* A deadline the kernel accepts; anything else is passed on untranslated, so that the real
 * call reports EINVAL as it would without the library. */
static int valid(const struct timespec *ts) {
    return ts->tv_nsec >= 0 && ts->tv_nsec < NANOS;
}

static int real_clock_gettime(clockid_t clock, struct timespec *ts) {
    return NEXT(clock_gettime, syscall_clock_gettime)(clock, ts);
}

/* Moves `ts`, a real reading of the moved `clock`. */
static void move(const struct travel *travel, clockid_t clock, struct timespec *ts) {
    if (travel->mode == MODE_SHIFT) {
        add(ts, travel->secs, travel->nanos);
        return;
    }
    /* Frozen. CLOCK_TAI keeps its distance (whole seconds) to CLOCK_REALTIME. */
    int64_t tai_secs = 0;
    if (clock == CLOCK_TAI) {
        struct timespec realtime;
        real_clock_gettime(CLOCK_REALTIME, &realtime);
        int64_t distance = (int64_t)(ts->tv_sec - realtime.tv_sec) * NANOS
                           + (ts->tv_nsec - realtime.tv_nsec);
        tai_secs = (distance + NANOS / 2) / NANOS;
    }
    ts->tv_sec = travel->secs + tai_secs;
    ts->tv_nsec = travel->nanos;
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    int result = real_clock_gettime(clock, ts);
    struct travel travel;
    if (result == 0 && is_moved_clock(clock) && current(&travel))
        move(&travel, clock, ts);
    return result;
}

static int syscall_gettimeofday(struct timeval *tv, void *tz) {
    return (int)syscall(SYS_gettimeofday, tv, tz);
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    gettimeofday_fn real = NEXT(gettimeofday, syscall_gettimeofday);
    struct travel travel;
    if (!current(&travel))
        return real(tv, tz);
    /* One read of the fine clock; the obsolete timezone, if asked for, from libc. */
    if (tz && real(NULL, tz) != 0)
        return -1;
    struct timespec now;
    if (real_clock_gettime(CLOCK_REALTIME, &now) != 0)
        return -1;
    move(&travel, CLOCK_REALTIME, &now);
    tv->tv_sec = now.tv_sec;
    tv->tv_usec = now.tv_nsec / 1000;
    return 0;
}

static time_t syscall_time(time_t *t) {
    struct timespec now;
    if (syscall_clock_gettime(CLOCK_REALTIME, &now) != 0)
        return (time_t)-1;
    if (t)
        *t = now.tv_sec;
    return now.tv_sec;
}

time_t time(time_t *t) {
    struct travel travel;
    if (!current(&travel))
        return NEXT(time, syscall_time)(t);
    /* The fine clock, so that time() never reads a second before the instant it was
     * moved to (glibc's time() reads the coarse one). */
    struct timespec now;
    real_clock_gettime(CLOCK_REALTIME, &now);
    move(&travel, CLOCK_REALTIME, &now);
    if (t)
        *t = now.tv_sec;
    return now.tv_sec;
}

static int syscall_timespec_get(struct timespec *ts, int base) {
    return base == TIME_UTC && syscall_clock_gettime(CLOCK_REALTIME, ts) == 0 ? base : 0;
}

int timespec_get(struct timespec *ts, int base) {
    int result = NEXT(timespec_get, syscall_timespec_get)(ts, base);
    struct travel travel;
    if (result == TIME_UTC && base == TIME_UTC && current(&travel))
        move(&travel, CLOCK_REALTIME, ts);
    return result;
}

/* The real deadline an absolute deadline on the moved `clock` stands for. A frozen clock
 * never reaches a later deadline: the wait ends after the real time remaining to it. */
static struct timespec real_deadline(const struct travel *travel, clockid_t clock,
                                     const struct timespec *deadline) {
    struct timespec real = *deadline;
    if (travel->mode == MODE_SHIFT) {
        add(&real, -travel->secs, -(long)travel->nanos);
        return real;
    }
    struct timespec now, moved;
    real_clock_gettime(clock, &now);
    moved = now;
    move(travel, clock, &moved);
    int64_t left_secs;
    long left_nanos = deadline->tv_nsec - moved.tv_nsec;
    if (__builtin_sub_overflow((int64_t)deadline->tv_sec, (int64_t)moved.tv_sec, &left_secs))
        left_secs = deadline->tv_sec > moved.tv_sec ? INT64_MAX : INT64_MIN;
    if (left_secs < 0 || (left_secs == 0 && left_nanos < 0))
        return now;
    add(&now, left_secs, left_nanos);
    return now;
}

static int syscall_clock_nanosleep(clockid_t clock, int flags, const struct timespec *request,
                                   struct timespec *remain) {
    return syscall(SYS_clock_nanosleep, clock, flags, request, remain) == 0 ? 0 : errno;
}

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request,
                    struct timespec *remain) {
    clock_nanosleep_fn real = NEXT(clock_nanosleep, syscall_clock_nanosleep);
    struct travel travel;
    if ((flags & TIMER_ABSTIME) && request && valid(request)
        && (clock == CLOCK_REALTIME || clock == CLOCK_TAI) && current(&travel)) {
        struct timespec deadline = real_deadline(&travel, clock, request);
        return real(clock, flags, &deadline, remain);
    }
    return real(clock, flags, request, remain);
}

static int missing_sem_timedwait(sem_t *sem, const struct timespec *deadline) {
    (void)sem;
    (void)deadline;
    errno = ENOSYS;
    return -1;
}

int sem_timedwait(sem_t *restrict sem, const struct timespec *restrict deadline) {
    sem_timedwait_fn real = NEXT(sem_timedwait, missing_sem_timedwait);
    struct travel travel;
    if (deadline && valid(deadline) && current(&travel)) {
        struct timespec translated = real_deadline(&travel, CLOCK_REALTIME, deadline);
        return real(sem, &translated);
    }
    return real(sem, deadline);
}

static int missing_mutex_timedlock(pthread_mutex_t *mutex, const struct timespec *deadline) {
    (void)mutex;
    (void)deadline;
    return ENOSYS;
}

int pthread_mutex_timedlock(pthread_mutex_t *restrict mutex,
                            const struct timespec *restrict deadline) {
    mutex_timedlock_fn real = (mutex_timedlock_fn)next(
        (void **)&next_mutex_timedlock, "pthread_mutex_timedlock", (void *)missing_mutex_timedlock);
    struct travel travel;
    if (deadline && valid(deadline) && current(&travel)) {
        struct timespec translated = real_deadline(&travel, CLOCK_REALTIME, deadline);
        return real(mutex, &translated);
    }
    return real(mutex, deadline);
}

/* Resolves the next definitions and maps the clock page. Without SANDBOX_TEST_CLOCK, or
 * when the page cannot be mapped, every function passes through. */
__attribute__((constructor)) static void attach(void) {
    NEXT(clock_gettime, syscall_clock_gettime);
    NEXT(gettimeofday, syscall_gettimeofday);
    NEXT(time, syscall_time);
    NEXT(timespec_get, syscall_timespec_get);
    NEXT(clock_nanosleep, syscall_clock_nanosleep);
    NEXT(sem_timedwait, missing_sem_timedwait);
    next((void **)&next_mutex_timedlock, "pthread_mutex_timedlock",
         (void *)missing_mutex_timedlock);
    const char *path = getenv("SANDBOX_TEST_CLOCK");
    if (!path || !*path)
        return;
    int saved_errno = errno;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        void *mapped = mmap(NULL, sizeof(struct clock_page), PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (mapped != MAP_FAILED) {
            const struct clock_page *p = mapped;
            if (__atomic_load_n(&p->magic, __ATOMIC_ACQUIRE) == CLOCK_PAGE_MAGIC)
                __atomic_store_n(&page, p, __ATOMIC_RELEASE);
            else
                munmap(mapped, sizeof(struct clock_page));
        }
    }
    errno = saved_errno;
}
