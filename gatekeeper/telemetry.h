/*
 * telemetry.h - the collector of the SDKs' migration telemetry: an nng PULL socket (default
 * tcp://127.0.0.1:7403) receiving batches (proto/README.md, "Telemetry") and merging them into
 * counters per flag, stage and operation, plus when each flag's old origin was last read.
 *
 * A batch is applied whole or not at all: one that is not JSON, not "v": 1, or has an entry of
 * the wrong shape is ignored and counted ("malformed"). Counters only grow while the daemon
 * runs (nothing is persisted); "lastOldReadAt" is the daemon's wall clock (unix s) when it
 * received the last batch in which the flag had oldReads > 0 (a client's clock is not trusted).
 *
 * THREAD SAFETY: batches are applied on an nng task thread (an aio callback); every function
 * below may be called from any thread meanwhile (one mutex), except _open and _close.
 */
#ifndef GKD_TELEMETRY_H
#define GKD_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"

/* Default telemetry endpoint. */
#define GKD_TELEMETRY_DEFAULT_URL "tcp://127.0.0.1:7403"
/* Largest batch accepted, in bytes (nng drops a larger message and its connection). */
#define GKD_TELEMETRY_MAX_BYTES (4u * 1024u * 1024u)
/* Histogram buckets merged (the SDK's log2 scale in µs: bucket i < 2^i µs, the last open). */
#define GKD_TELEMETRY_BUCKETS 26
/* Most flags tracked; entries for more are ignored (and counted). */
#define GKD_TELEMETRY_MAX_FLAGS 10000

typedef struct gkd_telemetry gkd_telemetry;

/*
 * gkd_telemetry_open - listen on every URL and start receiving.
 * bound  optional, nurls entries, as for gkd_server_open (malloc'd, caller frees).
 * Returns GK_OK, GK_EADDRINUSE, GK_EINVAL, GK_EIO, GK_ENOMEM; diag names the URL.
 */
gk_err gkd_telemetry_open(gkd_telemetry **tp, const char *const *urls, size_t nurls, char **bound,
                          gk_diag *diag);

/* gkd_telemetry_close - stop receiving (waits for a batch being applied), close, free. NULL ok. */
void gkd_telemetry_close(gkd_telemetry *t);

/*
 * gkd_telemetry_flag - what is known of one flag, a new reference (NULL only without memory):
 *   {"stages": {"shadow": {"read": OP, "write": OP}, ...}, "lastOldReadAt": unix s | null}
 * with only the stages and operations seen, where OP is
 *   {"calls", "invoked": {"old","new"}, "errors": {"old","new"}, "mismatches", "checks",
 *    "oldReads", "latencyUs": {"old": {"p50","p99"}, "new": {"p50","p99"}}}
 * Percentiles are the upper bound of the histogram bucket holding them, in µs (the lower bound
 * for the last, open bucket), null without samples. An unknown flag gives {"stages": {},
 * "lastOldReadAt": null}.
 */
json_t *gkd_telemetry_flag(gkd_telemetry *t, const char *key);

/*
 * gkd_telemetry_state - every flag seen, a new reference (NULL only without memory):
 *   {"orders.migration": {"lastOldReadAt": 1763737200 | null}, ...}
 */
json_t *gkd_telemetry_state(gkd_telemetry *t);

/* Counters of the collector (tests, diagnostics). */
typedef struct gkd_telemetry_counts {
    uint64_t batches;         /* applied */
    uint64_t malformed;       /* ignored: not a well-formed v1 batch */
    uint64_t entries_dropped; /* entries of flags beyond GKD_TELEMETRY_MAX_FLAGS */
} gkd_telemetry_counts;

void gkd_telemetry_get_counts(gkd_telemetry *t, gkd_telemetry_counts *out);

#endif
