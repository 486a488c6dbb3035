/*
 * backfill.c - the resumable, throttled copy of v1 orders into orders_v2 (see backfill.h).
 *
 * The chunk's rows are read and written inside one BEGIN IMMEDIATE transaction, so the service's
 * dual writes wait at most one chunk (a few milliseconds) and never interleave with it. The
 * throttle sleeps so that the run never goes faster than `rate` rows per second on average, which
 * keeps the write lock free most of the time for the service.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backfill.h"
#include "orders_db.h"

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
sleep_s(double s)
{
    struct timespec ts;

    if (s <= 0) {
        return;
    }
    ts.tv_sec = (time_t) s;
    ts.tv_nsec = (long) ((s - (double) ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

static int64_t
count_of(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;

    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* One chunk: copy up to `chunk` rows above *last_id, advance the checkpoint, in one transaction.
 * Returns the rows scanned (0: nothing left) or -1; *copied gets the rows newly inserted. */
static int64_t
copy_chunk(orders_db *db, int64_t chunk, int64_t *last_id, int64_t *copied)
{
    sqlite3 *h = orders_db_handle(db);
    sqlite3_stmt *sel = NULL, *ins = NULL, *cp = NULL;
    int64_t n = 0, id = *last_id;
    int rc;

    *copied = 0;
    if (orders_db_exec(db, "BEGIN IMMEDIATE") != 0) {
        return -1;
    }
    if (sqlite3_prepare_v2(h,
                           "SELECT id, tenant_id, customer_name, customer_email, total_cents, "
                           "status, created_at FROM orders WHERE id > ?1 ORDER BY id LIMIT ?2",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h, "INSERT OR IGNORE INTO orders_v2 VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                              "?7, ?8)",
                           -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h,
                           "UPDATE backfill_checkpoint SET last_id = ?1, rows_done = rows_done + "
                           "?2, rows_copied = rows_copied + ?3, updated_at = strftime('%s', "
                           "'now') WHERE name = 'orders_v2'",
                           -1, &cp, NULL) != SQLITE_OK) {
        fprintf(stderr, "backfill: %s\n", sqlite3_errmsg(h));
        goto fail;
    }
    sqlite3_bind_int64(sel, 1, *last_id);
    sqlite3_bind_int64(sel, 2, chunk);
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        orders_row row;
        const unsigned char *t;

        memset(&row, 0, sizeof(row));
        row.id = sqlite3_column_int64(sel, 0);
        t = sqlite3_column_text(sel, 2);
        snprintf(row.customer_name, sizeof(row.customer_name), "%s",
                 t != NULL ? (const char *) t : "");
        orders_split_name(&row);
        sqlite3_bind_int64(ins, 1, row.id);
        sqlite3_bind_value(ins, 2, sqlite3_column_value(sel, 1));
        sqlite3_bind_text(ins, 3, row.first_name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 4, row.last_name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_value(ins, 5, sqlite3_column_value(sel, 3));
        sqlite3_bind_value(ins, 6, sqlite3_column_value(sel, 4));
        sqlite3_bind_value(ins, 7, sqlite3_column_value(sel, 5));
        sqlite3_bind_value(ins, 8, sqlite3_column_value(sel, 6));
        if (sqlite3_step(ins) != SQLITE_DONE) {
            fprintf(stderr, "backfill: insert of order %lld: %s\n", (long long) row.id,
                    sqlite3_errmsg(h));
            goto fail;
        }
        *copied += sqlite3_changes(h);
        sqlite3_reset(ins);
        id = row.id;
        n++;
    }
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "backfill: %s\n", sqlite3_errmsg(h));
        goto fail;
    }
    sqlite3_bind_int64(cp, 1, id);
    sqlite3_bind_int64(cp, 2, n);
    sqlite3_bind_int64(cp, 3, *copied);
    if (sqlite3_step(cp) != SQLITE_DONE) {
        fprintf(stderr, "backfill: checkpoint: %s\n", sqlite3_errmsg(h));
        goto fail;
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_finalize(cp);
    if (orders_db_exec(db, "COMMIT") != 0) {
        return -1;
    }
    *last_id = id;
    return n;

fail:
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    sqlite3_finalize(cp);
    orders_db_exec(db, "ROLLBACK");
    return -1;
}

int
orders_backfill_run(const char *path, const orders_backfill_opts *opts)
{
    orders_db *db = orders_db_open(path, 0);
    int64_t chunk = opts->chunk > 0 ? opts->chunk : 2000;
    int64_t last_id, done_before, total, run_rows = 0, run_copied = 0;
    double t0, last_report = 0;
    int rv = 1;

    if (db == NULL) {
        return 1;
    }
    if (!orders_db_has_v2(db)) {
        fprintf(stderr, "backfill: orders_v2 does not exist: run `gk-orders expand` first\n");
        goto out;
    }
    if (orders_db_exec(db, "CREATE TABLE IF NOT EXISTS backfill_checkpoint (name TEXT PRIMARY "
                           "KEY, last_id INTEGER NOT NULL, rows_done INTEGER NOT NULL, "
                           "rows_copied INTEGER NOT NULL, runs INTEGER NOT NULL, done INTEGER "
                           "NOT NULL, started_at INTEGER, updated_at INTEGER)") != 0 ||
        orders_db_exec(db, "INSERT OR IGNORE INTO backfill_checkpoint VALUES ('orders_v2', 0, 0, "
                           "0, 0, 0, strftime('%s', 'now'), strftime('%s', 'now'))") != 0 ||
        orders_db_exec(db, "UPDATE backfill_checkpoint SET runs = runs + 1, done = 0 "
                           "WHERE name = 'orders_v2'") != 0) {
        goto out;
    }
    last_id = count_of(orders_db_handle(db),
                       "SELECT last_id FROM backfill_checkpoint WHERE name = 'orders_v2'");
    done_before = count_of(orders_db_handle(db),
                           "SELECT rows_done FROM backfill_checkpoint WHERE name = 'orders_v2'");
    total = count_of(orders_db_handle(db), "SELECT count(*) FROM orders");
    if (last_id > 0) {
        printf("backfill: resuming from the checkpoint: %lld rows done, next id above %lld\n",
               (long long) done_before, (long long) last_id);
    } else {
        printf("backfill: starting: %lld orders to copy in chunks of %lld", (long long) total,
               (long long) chunk);
        if (opts->rate > 0) {
            printf(", at most %lld rows/s", (long long) opts->rate);
        }
        printf("\n");
    }
    fflush(stdout);
    t0 = now_s();
    for (;;) {
        int64_t copied, want = chunk, n;

        if (opts->stop_after > 0 && opts->stop_after - run_rows < want) {
            want = opts->stop_after - run_rows;
        }
        if (want <= 0) {
            printf("backfill: stopped after %lld rows in this run (checkpoint: id %lld, %lld/%lld "
                   "rows done); run it again to resume\n",
                   (long long) run_rows, (long long) last_id, (long long) (done_before + run_rows),
                   (long long) total);
            rv = 3;
            goto out;
        }
        n = copy_chunk(db, want, &last_id, &copied);
        if (n < 0) {
            goto out;
        }
        run_rows += n;
        run_copied += copied;
        double el = now_s() - t0;
        if (n == 0 || el - last_report >= 1.0) {
            int64_t done = done_before + run_rows;
            if (done > total) {
                total = done;
            }
            printf("backfill: %lld/%lld rows (%.1f %%), %.0f rows/s, checkpoint id %lld\n",
                   (long long) done, (long long) total, total > 0 ? 100.0 * (double) done /
                   (double) total : 100.0, el > 0 ? (double) run_rows / el : 0.0,
                   (long long) last_id);
            fflush(stdout);
            last_report = el;
        }
        if (n == 0) {
            break;
        }
        if (opts->rate > 0) {
            sleep_s((double) run_rows / (double) opts->rate - (now_s() - t0));
        }
    }
    if (orders_db_exec(db, "UPDATE backfill_checkpoint SET done = 1 WHERE name = 'orders_v2'") !=
        0) {
        goto out;
    }
    double el = now_s() - t0;
    printf("backfill: complete: %lld rows in this run, %lld copied, %lld already dual-written, "
           "%.1f s (%.0f rows/s)\n",
           (long long) run_rows, (long long) run_copied, (long long) (run_rows - run_copied), el,
           el > 0 ? (double) run_rows / el : 0.0);
    rv = 0;
out:
    fflush(stdout);
    orders_db_close(db);
    return rv;
}
