/*
 * telemetry.h - the SDK's migration telemetry: aggregates of gk_migration_read/_write calls per
 * flag, stage and operation, sent once a second as one batch on an nng PUSH socket (message
 * format: proto/README.md, "Telemetry").
 *
 * Recording takes one mutex for a few counter increments; it never does I/O. Sending runs on an
 * nng timer (nng_sleep_aio) whose callback runs on an nng task thread: it swaps the aggregates
 * out under the mutex, encodes them, and queues the batch with NNG_FLAG_NONBLOCK, so a collector
 * that is down or slow makes the batch be dropped (and counted), never anybody wait.
 *
 * THREAD SAFETY: gks_telemetry_record, _flush and _counts may be called from any thread while
 * the telemetry is open; _open and _close once each, by the client's owner.
 */
#ifndef GKS_TELEMETRY_H
#define GKS_TELEMETRY_H

#include <stdint.h>

#include "gatekeeper.h"

/* Latency histogram: bucket i counts latencies < GKS_TELEMETRY_BOUND_US(i) µs and >= the bound
 * of i-1; the last bucket is unbounded. Bounds 1, 2, 4, ... 2^(n-2) µs (log-scale, base 2). */
#define GKS_TELEMETRY_BUCKETS     26
#define GKS_TELEMETRY_BOUND_US(i) (UINT64_C(1) << (i))
/* How often the aggregates are sent, in ms. */
#define GKS_TELEMETRY_INTERVAL_MS 1000
/* How long gks_telemetry_close waits for its last batch to be queued and sent, in ms: at most
 * CLOSE_MS - LINGER_MS for a connected collector to take it, then LINGER_MS for the bytes to
 * leave before the socket closes. */
#define GKS_TELEMETRY_CLOSE_MS  100
#define GKS_TELEMETRY_LINGER_MS 10

typedef enum gks_telemetry_op {
    GKS_TELEMETRY_READ = 0,
    GKS_TELEMETRY_WRITE,
} gks_telemetry_op;

typedef struct gks_telemetry gks_telemetry;

/*
 * gks_telemetry_open - open an nng PUSH socket, dial `url` without blocking and arm the timer.
 * service  the client's name for batches; copied.
 * Returns GK_OK, GK_EINVAL (a URL nng cannot parse), GK_ENOMEM, GK_EIO; diag names the URL.
 */
gk_err gks_telemetry_open(gks_telemetry **tp, const char *url, const char *service, gk_diag *diag);

/*
 * gks_telemetry_close - stop the timer, send what is aggregated (bounded by
 * GKS_TELEMETRY_CLOSE_MS), close the socket and free (NULL ignored).
 */
void gks_telemetry_close(gks_telemetry *t);

/* gks_telemetry_record - add one migration call's measurements (NULL t: nothing). */
void gks_telemetry_record(gks_telemetry *t, const char *flag_key, gks_telemetry_op op,
                          const gk_migration_result *r);

/*
 * gks_telemetry_flush - encode and queue a batch of what is aggregated now, as the timer does
 * (tests use it to avoid waiting a second). Returns 0 when a batch was queued, 1 when there was
 * nothing to send, -1 when it was dropped.
 */
int gks_telemetry_flush(gks_telemetry *t);

/* Counters of the sender, for tests and diagnostics. */
typedef struct gks_telemetry_counts {
    uint64_t batches_sent;    /* queued on the socket */
    uint64_t batches_dropped; /* not queued: queue full, no peer, or no memory */
    uint64_t records;         /* calls recorded */
    uint64_t records_lost;    /* calls not aggregated (too many flags in one interval, no memory) */
} gks_telemetry_counts;

void gks_telemetry_get_counts(gks_telemetry *t, gks_telemetry_counts *out);

/* gks_telemetry_bucket - the histogram bucket of a latency in µs. */
unsigned gks_telemetry_bucket(uint32_t us);

#endif
