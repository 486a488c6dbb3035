/*
 * clock.h - the daemon's clocks: the monotonic clock for durations and deadlines (decision stage
 * times, policy time budgets, snapshot build times) and the wall clock for times that name a
 * moment for others to read (commit times, a policy's gk.now_ms()).
 *
 * Durations and deadlines use CLOCK_MONOTONIC so that a wall-clock step (NTP, an operator) neither
 * stretches nor cuts them; only a time that means a date uses CLOCK_REALTIME.
 *
 * ERRORS: none. The clocks are always present (POSIX; CLOCK_THREAD_CPUTIME_ID on Linux since
 * 2.6.12), so a read cannot fail and is not checked.
 *
 * THREAD SAFETY: every function is safe from any thread (clock_gettime is).
 */
#ifndef GKD_CLOCK_H
#define GKD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* gkd_clock_ns - the POSIX clock `id` in nanoseconds; what the functions below read. */
static inline uint64_t
gkd_clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/*
 * gkd_clock_mono_ns - CLOCK_MONOTONIC in nanoseconds (arbitrary origin, never goes back).
 *
 * Inline, so that the decision path's stage times and the policy budget's deadline check cost the
 * clock read and nothing more.
 */
static inline uint64_t
gkd_clock_mono_ns(void)
{
    return gkd_clock_ns(CLOCK_MONOTONIC);
}

/* gkd_clock_mono_us - CLOCK_MONOTONIC in microseconds (gkd_clock_mono_ns truncated). */
int64_t gkd_clock_mono_us(void);

/*
 * gkd_clock_thread_cpu_ns - CPU time the calling thread has used, in nanoseconds
 * (CLOCK_THREAD_CPUTIME_ID): what a piece of work cost, not counting the time the thread waited
 * for a CPU (the nonce pool's refill thread runs at idle priority and is preempted often).
 */
uint64_t gkd_clock_thread_cpu_ns(void);

/* gkd_clock_wall_us - CLOCK_REALTIME in microseconds since the Unix epoch (may step either way). */
int64_t gkd_clock_wall_us(void);

#endif
