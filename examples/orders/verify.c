/*
 * verify.c - the baseline and the verifier (see verify.h).
 *
 * The expectation is streamed in id order: first the generated orders 1..N (their tenant and
 * content recomputed from the seed), then the ledger's acknowledged writes (ids above N, as the
 * service allocates them). The side is read in id order too, so the walk is a merge in constant
 * memory.
 */
#include <stdio.h>
#include <string.h>

#include "orders_db.h"
#include "verify.h"

typedef struct side_report {
    const char *table;
    int64_t rows, lost, altered, unacked, on_old_retired;
    uint64_t checksum;
} side_report;

#define SHOW_MAX 5

static int
side_row(sqlite3_stmt *st, orders_side side, orders_row *row)
{
    const unsigned char *t;

    memset(row, 0, sizeof(*row));
    row->id = sqlite3_column_int64(st, 0);
    t = sqlite3_column_text(st, 1);
    snprintf(row->tenant_id, sizeof(row->tenant_id), "%s", t ? (const char *) t : "");
    if (side == ORDERS_OLD) {
        t = sqlite3_column_text(st, 2);
        snprintf(row->customer_name, sizeof(row->customer_name), "%s", t ? (const char *) t : "");
    } else {
        const unsigned char *f = sqlite3_column_text(st, 2), *l = sqlite3_column_text(st, 3);
        snprintf(row->first_name, sizeof(row->first_name), "%s", f ? (const char *) f : "");
        snprintf(row->last_name, sizeof(row->last_name), "%s", l ? (const char *) l : "");
        orders_join_name(row);
    }
    t = sqlite3_column_text(st, 4);
    snprintf(row->customer_email, sizeof(row->customer_email), "%s", t ? (const char *) t : "");
    row->total_cents = sqlite3_column_int64(st, 5);
    t = sqlite3_column_text(st, 6);
    snprintf(row->status, sizeof(row->status), "%s", t ? (const char *) t : "");
    row->created_at = sqlite3_column_int64(st, 7);
    return 0;
}

/* The expectation stream: generated orders, then the ledger. */
typedef struct expect_iter {
    uint64_t seed;
    int64_t orders, next_id;
    int tenants;
    sqlite3_stmt *ledger;
    int64_t id;
    uint64_t hash;
    char stage[16];
    int done;
} expect_iter;

static void
expect_next(expect_iter *it)
{
    if (it->next_id <= it->orders) {
        char tenant[ORDERS_TENANT_MAX];
        orders_row row;

        orders_tenant_name(orders_gen_tenant(it->seed, it->next_id, it->tenants), tenant);
        orders_gen_row(it->seed, it->next_id, tenant, &row);
        it->id = it->next_id++;
        it->hash = orders_row_hash(&row);
        snprintf(it->stage, sizeof(it->stage), "generated");
        return;
    }
    if (sqlite3_step(it->ledger) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(it->ledger, 2);
        it->id = sqlite3_column_int64(it->ledger, 0);
        it->hash = (uint64_t) sqlite3_column_int64(it->ledger, 1);
        snprintf(it->stage, sizeof(it->stage), "%s", t ? (const char *) t : "");
        return;
    }
    it->done = 1;
}

static int
meta(orders_db *db, uint64_t *seed, int64_t *orders, int *tenants)
{
    int64_t s, o, t;

    if (orders_db_meta_get(db, "seed", &s) != 0 || orders_db_meta_get(db, "orders", &o) != 0 ||
        orders_db_meta_get(db, "tenants", &t) != 0) {
        fprintf(stderr, "verify: the database has no generated data (gk-orders init)\n");
        return -1;
    }
    *seed = (uint64_t) s;
    *orders = o;
    *tenants = (int) t;
    return 0;
}

/* Walk `side` against the expectation; fills *r. Returns 0 or -1 (a database error). */
static int
walk_side(orders_db *db, orders_side side, side_report *r, int verbose)
{
    static const char *const sql[2] = {
        "SELECT id, tenant_id, customer_name, '', customer_email, total_cents, status, "
        "created_at FROM orders ORDER BY id",
        "SELECT id, tenant_id, first_name, last_name, customer_email, total_cents, status, "
        "created_at FROM orders_v2 ORDER BY id",
    };
    sqlite3 *h = orders_db_handle(db);
    sqlite3_stmt *st = NULL;
    expect_iter it = {0};
    int shown = 0, rc;
    orders_row row;

    memset(r, 0, sizeof(*r));
    r->table = side == ORDERS_OLD ? "orders" : "orders_v2";
    if (meta(db, &it.seed, &it.orders, &it.tenants) != 0) {
        return -1;
    }
    it.next_id = 1;
    if (sqlite3_prepare_v2(h, "SELECT id, row_hash, stage FROM write_ledger ORDER BY id", -1,
                           &it.ledger, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h, sql[side], -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "verify: %s\n", sqlite3_errmsg(h));
        sqlite3_finalize(it.ledger);
        return -1;
    }
    expect_next(&it);
    rc = sqlite3_step(st);
    while (rc == SQLITE_ROW || !it.done) {
        int have = rc == SQLITE_ROW;
        if (have) {
            side_row(st, side, &row);
        }
        if (!it.done && (!have || it.id < row.id)) {
            /* expected, missing: a write made only on the new side once the old one was retired
             * (stage complete) is not a loss of the old side */
            if (side == ORDERS_OLD && strcmp(it.stage, "complete") == 0) {
                r->on_old_retired++;
            } else {
                r->lost++;
                if (verbose && shown++ < SHOW_MAX) {
                    printf("    lost: order %lld (%s)\n", (long long) it.id, it.stage);
                }
            }
            expect_next(&it);
            continue;
        }
        uint64_t hv = orders_row_hash(&row);
        r->rows++;
        r->checksum += hv;
        if (it.done || row.id < it.id) {
            r->unacked++;
            if (verbose && shown++ < SHOW_MAX) {
                printf("    unacknowledged: order %lld (%s)\n", (long long) row.id, row.tenant_id);
            }
        } else {
            if (hv != it.hash) {
                r->altered++;
                if (verbose && shown++ < SHOW_MAX) {
                    printf("    altered: order %lld (%s, customer_name \"%s\")\n",
                           (long long) row.id, row.tenant_id, row.customer_name);
                }
            }
            expect_next(&it);
        }
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(it.ledger);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "verify: %s\n", sqlite3_errmsg(h));
        return -1;
    }
    return 0;
}

static int
sum_of(sqlite3 *h, const char *sql, int64_t *count, uint64_t *sum)
{
    sqlite3_stmt *st = NULL;

    *count = 0;
    *sum = 0;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) {
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        (*count)++;
        *sum += (uint64_t) sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return 0;
}

int
orders_baseline_take(const char *path)
{
    orders_db *db = orders_db_open(path, 0);
    sqlite3_stmt *st = NULL;
    int64_t rows = 0;
    uint64_t sum = 0;
    orders_row row;
    int rv = 1;

    if (db == NULL) {
        return 1;
    }
    if (sqlite3_prepare_v2(orders_db_handle(db),
                           "SELECT id, tenant_id, customer_name, '', customer_email, total_cents, "
                           "status, created_at FROM orders ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "baseline: %s\n", sqlite3_errmsg(orders_db_handle(db)));
        goto out;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        side_row(st, ORDERS_OLD, &row);
        rows++;
        sum += orders_row_hash(&row);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (orders_db_exec(db, "CREATE TABLE IF NOT EXISTS verify_baseline (taken_at INTEGER, "
                           "rows INTEGER, checksum INTEGER)") != 0 ||
        orders_db_exec(db, "DELETE FROM verify_baseline") != 0 ||
        sqlite3_prepare_v2(orders_db_handle(db),
                           "INSERT INTO verify_baseline VALUES (strftime('%s', 'now'), ?1, ?2)", -1,
                           &st, NULL) != SQLITE_OK) {
        goto out;
    }
    sqlite3_bind_int64(st, 1, rows);
    sqlite3_bind_int64(st, 2, (int64_t) sum);
    if (sqlite3_step(st) != SQLITE_DONE) {
        fprintf(stderr, "baseline: %s\n", sqlite3_errmsg(orders_db_handle(db)));
        goto out;
    }
    printf("baseline: %lld orders, checksum %016llx (v1 table, before the migration)\n",
           (long long) rows, (unsigned long long) sum);
    rv = 0;
out:
    sqlite3_finalize(st);
    orders_db_close(db);
    return rv;
}

static void
print_side(const char *label, const side_report *r)
{
    printf("  %-9s %lld orders, checksum %016llx (%s)", label, (long long) r->rows,
           (unsigned long long) r->checksum, r->table);
    printf(": lost %lld, altered %lld, unacknowledged %lld", (long long) r->lost,
           (long long) r->altered, (long long) r->unacked);
    if (r->on_old_retired > 0) {
        printf(", %lld written after the old side was retired", (long long) r->on_old_retired);
    }
    printf("\n");
}

int
orders_verify_run(const char *path, const char *side)
{
    orders_db *db = orders_db_open(path, 0);
    sqlite3 *h;
    int64_t base_rows = -1, ledger_rows = 0;
    uint64_t base_sum = 0, ledger_sum = 0;
    int want[2] = {0, 0}, ok = 1;
    sqlite3_stmt *st = NULL;

    if (db == NULL) {
        return 1;
    }
    h = orders_db_handle(db);
    if (strcmp(side, "auto") == 0) {
        int64_t done = 0;
        if (orders_db_has_v2(db) &&
            sqlite3_prepare_v2(h, "SELECT done FROM backfill_checkpoint WHERE name = 'orders_v2'",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            done = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        st = NULL;
        side = done ? "new" : "old";
    }
    want[ORDERS_OLD] = strcmp(side, "old") == 0 || strcmp(side, "both") == 0;
    want[ORDERS_NEW] = strcmp(side, "new") == 0 || strcmp(side, "both") == 0;
    if (!want[0] && !want[1]) {
        fprintf(stderr, "verify: --side is old, new, both or auto, not \"%s\"\n", side);
        orders_db_close(db);
        return 2;
    }
    if (want[ORDERS_NEW] && !orders_db_has_v2(db)) {
        fprintf(stderr, "verify: orders_v2 does not exist (the expand step has not run)\n");
        orders_db_close(db);
        return 1;
    }
    if (sqlite3_prepare_v2(h, "SELECT rows, checksum FROM verify_baseline", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        base_rows = sqlite3_column_int64(st, 0);
        base_sum = (uint64_t) sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    sum_of(h, "SELECT row_hash FROM write_ledger", &ledger_rows, &ledger_sum);

    if (strcmp(side, "both") == 0) {
        printf("verify: both sides\n");
    } else {
        printf("verify: the %s side\n", side);
    }
    if (base_rows >= 0) {
        printf("  before:   %lld orders, checksum %016llx (baseline)\n", (long long) base_rows,
               (unsigned long long) base_sum);
        printf("  written:  %lld acknowledged writes (ledger), checksum %016llx\n",
               (long long) ledger_rows, (unsigned long long) ledger_sum);
        printf("  expected: %lld orders, checksum %016llx\n",
               (long long) (base_rows + ledger_rows), (unsigned long long) (base_sum + ledger_sum));
    } else {
        printf("  no baseline was taken (gk-orders baseline); checking against the generator\n");
    }
    for (int s = 0; s < 2; s++) {
        side_report r;
        if (!want[s]) {
            continue;
        }
        if (walk_side(db, (orders_side) s, &r, 1) != 0) {
            ok = 0;
            continue;
        }
        print_side(s == ORDERS_OLD ? "after:" : "after:", &r);
        if (r.lost != 0 || r.altered != 0) {
            ok = 0;
        }
        if (base_rows >= 0 && r.unacked == 0 && r.on_old_retired == 0 &&
            (r.rows != base_rows + ledger_rows || r.checksum != base_sum + ledger_sum)) {
            printf("  %s: count or checksum differs from the expectation\n", r.table);
            ok = 0;
        }
    }
    printf("verify: %s\n", ok ? "OK: nothing lost or changed" : "FAILED: orders were lost or changed");
    orders_db_close(db);
    return ok ? 0 : 1;
}
