/*
 * stats.h - the few statistics the harness reports: nearest-rank percentiles of one repetition's
 * samples, and the median and spread (max - min) of a figure over its repetitions.
 *
 * THREAD SAFETY: pure functions on the caller's arrays.
 */
#ifndef GKB_STATS_H
#define GKB_STATS_H

#include <stddef.h>

/* gkb_sort - sort n doubles ascending, in place. */
void gkb_sort(double *v, size_t n);

/*
 * gkb_percentile - the nearest-rank p-th percentile (0 < p <= 100) of n samples already sorted
 * ascending: the smallest sample with at least p % of the samples at or below it. 0 when n is 0.
 */
double gkb_percentile(const double *sorted, size_t n, double p);

/*
 * gkb_median_spread - median (the mean of the two middle values for an even n) and spread
 * (max - min) of n values; sorts v in place. Both 0 when n is 0.
 */
void gkb_median_spread(double *v, size_t n, double *median, double *spread);

#endif
