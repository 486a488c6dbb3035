/*
 * clock.c - monotonic and wall clocks in milliseconds.
 *
 * TTLs and deadlines use the monotonic clock so that a wall-clock step (NTP, an operator) neither
 * extends nor cuts them; only token iat/exp, which are wall-clock by definition, use
 * CLOCK_REALTIME.
 */
#include "clock.h"

#include <time.h>

int64_t
gks_clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
gks_clock_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
gks_clock_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
