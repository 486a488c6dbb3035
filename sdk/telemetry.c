/*
 * telemetry.c - migration telemetry (telemetry.h). This first version aggregates nothing yet:
 * gks_telemetry_open answers with no telemetry object, so every call below is a no-op.
 */
#include "telemetry.h"

#include <string.h>

gk_err
gks_telemetry_open(gks_telemetry **tp, const char *url, const char *service, gk_diag *diag)
{
    (void) url;
    (void) service;
    (void) diag;
    *tp = NULL;
    return GK_OK;
}

void
gks_telemetry_close(gks_telemetry *t)
{
    (void) t;
}

void
gks_telemetry_record(gks_telemetry *t, const char *flag_key, gks_telemetry_op op,
                     const gk_migration_result *r)
{
    (void) t;
    (void) flag_key;
    (void) op;
    (void) r;
}

int
gks_telemetry_flush(gks_telemetry *t)
{
    (void) t;
    return 1;
}

void
gks_telemetry_get_counts(gks_telemetry *t, gks_telemetry_counts *out)
{
    (void) t;
    memset(out, 0, sizeof(*out));
}

unsigned
gks_telemetry_bucket(uint32_t us)
{
    unsigned i = 0;

    while (i + 1 < GKS_TELEMETRY_BUCKETS && us >= GKS_TELEMETRY_BOUND_US(i)) {
        i++;
    }
    return i;
}
