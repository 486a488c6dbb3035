/*
 * backfill.h - copy the v1 orders into orders_v2 in chunks, throttled and resumable.
 *
 * Each chunk (rows with id above the checkpoint, in id order) is copied with INSERT OR IGNORE and
 * the checkpoint row advanced in the same transaction, so a backfill stopped at any moment (kill
 * -9 included) resumes exactly where its last chunk committed, and rows the service has already
 * dual-written are left as they are. The backfill is done when a chunk finds no row above the
 * checkpoint; it then marks the checkpoint done.
 */
#ifndef ORDERS_BACKFILL_H
#define ORDERS_BACKFILL_H

#include <stdint.h>

typedef struct orders_backfill_opts {
    int64_t chunk;      /* rows per transaction (default 2000) */
    int64_t rate;       /* rows per second at most; 0: unthrottled */
    int64_t stop_after; /* stop (resumably) after this many rows in this run; 0: run to the end */
} orders_backfill_opts;

/* orders_backfill_run - run the backfill on the database at `path`; prints progress on stdout.
 * Returns 0 done, 3 stopped by stop_after (resumable), 1 on an error. */
int orders_backfill_run(const char *path, const orders_backfill_opts *opts);

#endif
