/*
 * clock.c - the daemon's clocks in microseconds, for the paths that time a change or stamp it, and
 * a thread's CPU time.
 */
#include "clock.h"

int64_t
gkd_clock_mono_us(void)
{
    return (int64_t) (gkd_clock_mono_ns() / 1000u);
}

int64_t
gkd_clock_wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t
gkd_clock_thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}
