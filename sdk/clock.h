/*
 * clock.h - the two clocks the SDK reads: monotonic milliseconds for TTLs, deadlines and
 * back-off, and wall-clock milliseconds for token iat/exp (RFC 7519 NumericDate is wall time).
 *
 * THREAD SAFETY: both functions are reentrant (clock_gettime).
 */
#ifndef GKS_CLOCK_H
#define GKS_CLOCK_H

#include <stdint.h>

/* gks_clock_mono_ms - CLOCK_MONOTONIC in milliseconds (arbitrary origin, never goes back). */
int64_t gks_clock_mono_ms(void);

/* gks_clock_mono_us - the monotonic clock in microseconds (for origin latencies). */
int64_t gks_clock_mono_us(void);

/* gks_clock_wall_ms - CLOCK_REALTIME in milliseconds since the Unix epoch. */
int64_t gks_clock_wall_ms(void);

#endif
