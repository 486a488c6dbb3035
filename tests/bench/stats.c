/*
 * stats.c - percentiles, median and spread (see stats.h).
 */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}

void
gkb_sort(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
}

double
gkb_percentile(const double *sorted, size_t n, double p)
{
    double rank;
    size_t i;

    if (n == 0) {
        return 0;
    }
    rank = ceil(p / 100.0 * (double) n);
    i = rank < 1 ? 0 : (size_t) rank - 1;
    return sorted[i < n ? i : n - 1];
}

void
gkb_median_spread(double *v, size_t n, double *median, double *spread)
{
    if (n == 0) {
        *median = 0;
        *spread = 0;
        return;
    }
    gkb_sort(v, n);
    *median = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    *spread = v[n - 1] - v[0];
}
