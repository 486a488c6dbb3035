/*
 * orders_db.h - the orders database of the example service: a SQLite file in WAL mode holding
 * the v1 table `orders` (customer_name), the v2 table `orders_v2` (first_name, last_name) that
 * the expand step adds, and the bookkeeping tables of the migration (the backfill checkpoint, the
 * verification baseline and the ledger of acknowledged writes).
 *
 * Every order's content is a pure function of (seed, id, tenant): `orders_gen_row`. The data
 * generator, the service's writes and the verifier all use it, so the verifier can name any row
 * that was lost or altered.
 *
 * THREAD SAFETY: one orders_db per thread (a SQLite connection is not shared); any number of
 * connections and processes may use one file at once (WAL, busy timeout).
 */
#ifndef ORDERS_DB_H
#define ORDERS_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define ORDERS_TENANT_MAX 32
#define ORDERS_NAME_MAX   96
#define ORDERS_PART_MAX   64
#define ORDERS_EMAIL_MAX  128
#define ORDERS_STATUS_MAX 16

/* One order in its logical (v1) shape, with the v2 split alongside. */
typedef struct orders_row {
    int64_t id;
    char tenant_id[ORDERS_TENANT_MAX];
    char customer_name[ORDERS_NAME_MAX]; /* v1; on the v2 side first_name + " " + last_name */
    char first_name[ORDERS_PART_MAX];    /* v2 */
    char last_name[ORDERS_PART_MAX];     /* v2 */
    char customer_email[ORDERS_EMAIL_MAX];
    int64_t total_cents;
    char status[ORDERS_STATUS_MAX];
    int64_t created_at; /* seconds since the epoch */
} orders_row;

/* Which table: the v1 ("old") or the v2 ("new") side. */
typedef enum orders_side { ORDERS_OLD = 0, ORDERS_NEW = 1 } orders_side;

typedef struct orders_db orders_db;

/* orders_db_open - open (creating when `create`) the file in WAL mode with a 10 s busy timeout.
 * Returns NULL and prints why on failure. */
orders_db *orders_db_open(const char *path, int create);
void orders_db_close(orders_db *db);
sqlite3 *orders_db_handle(orders_db *db);

/* orders_db_exec - run SQL without results; 0 or -1 (printed). */
int orders_db_exec(orders_db *db, const char *sql);

/* orders_db_meta_get/_set - the `meta` table: seed, tenants, orders of the generated data. */
int orders_db_meta_get(orders_db *db, const char *key, int64_t *value);
int orders_db_meta_set(orders_db *db, const char *key, int64_t value);

/* orders_db_has_v2 - 1 when the expand step has made orders_v2. */
int orders_db_has_v2(orders_db *db);

/* orders_tenant_name - "tenant-001" .. for index 0 .. */
void orders_tenant_name(int index, char out[ORDERS_TENANT_MAX]);

/* orders_gen_row - the order `id` of `tenant` for `seed` (deterministic). */
void orders_gen_row(uint64_t seed, int64_t id, const char *tenant, orders_row *row);

/* orders_gen_tenant - the tenant index the generator gives order `id` (0 .. tenants-1). */
int orders_gen_tenant(uint64_t seed, int64_t id, int tenants);

/* orders_split_name - the v2 split of a v1 customer_name: first word, then the rest. */
void orders_split_name(orders_row *row);

/* orders_join_name - the v1 customer_name of a v2 row: first_name, a space, last_name (no space
 * when last_name is empty), so that join(split(name)) == name for every generated name. */
void orders_join_name(orders_row *row);

/* orders_copy - copy `len` bytes of `src` into `dst` of `size`, truncated, NUL-terminated. */
void orders_copy(char *dst, size_t size, const char *src, size_t len);

/* orders_row_hash - 64-bit keyed-free hash of the row's logical v1 content (BLAKE2b). */
uint64_t orders_row_hash(const orders_row *row);

/* orders_row_equal - same logical v1 content. */
int orders_row_equal(const orders_row *a, const orders_row *b);

/* orders_db_generate - make the v1 schema and `orders` rows for `tenants` tenants; 0 or -1. */
int orders_db_generate(orders_db *db, uint64_t seed, int64_t orders, int tenants);

/* orders_db_expand - the expand step: create orders_v2 and its index (idempotent); 0 or -1. */
int orders_db_expand(orders_db *db);

/*
 * orders_db_read_one - an order of `tenant` on `side`: the first with lo <= id <= hi, or when none
 * the first with id <= hi. Returns 1 found, 0 none, -1 error (printed once per connection).
 */
int orders_db_read_one(orders_db *db, orders_side side, const char *tenant, int64_t lo, int64_t hi,
                       orders_row *row);

/* orders_db_insert - insert `row` on `side` (v2: split name); 0 or -1. */
int orders_db_insert(orders_db *db, orders_side side, const orders_row *row);

/* orders_db_max_id - the highest id on either side (0 when empty). */
int64_t orders_db_max_id(orders_db *db);

/* orders_db_ledger_add - record an acknowledged write (id, tenant, hash); 0 or -1. */
int orders_db_ledger_add(orders_db *db, const orders_row *row, const char *stage);

#endif
