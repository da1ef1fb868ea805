/* The cost of one wall-clock read, for benches/clock_reads.sh: N calls of clock_gettime,
 * gettimeofday and time, in ns per call. */
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static double monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(void) {
    const int n = 5000000;
    volatile long sink = 0;
    struct timespec ts;
    struct timeval tv;
    double a = monotonic_ns();
    for (int i = 0; i < n; i++) {
        clock_gettime(CLOCK_REALTIME, &ts);
        sink += ts.tv_nsec;
    }
    double b = monotonic_ns();
    for (int i = 0; i < n; i++) {
        gettimeofday(&tv, 0);
        sink += tv.tv_usec;
    }
    double c = monotonic_ns();
    for (int i = 0; i < n; i++)
        sink += time(0);
    double d = monotonic_ns();
    printf("%.1f %.1f %.1f %ld\n", (b - a) / n, (c - b) / n, (d - c) / n, (long)time(0));
    return 0;
}
