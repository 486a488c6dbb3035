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
    return (int64_t) (gkd_clock_ns(CLOCK_REALTIME) / 1000u);
}

uint64_t
gkd_clock_thread_cpu_ns(void)
{
    return gkd_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}
