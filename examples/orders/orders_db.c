/*
 * orders_db.c - SQLite storage of the orders example: schema, deterministic data, the two sides.
 *
 * The v1 table `orders` and the v2 table `orders_v2` have the same key and index (tenant_id, id),
 * so a read of "the first order of tenant T from id X on" names the same row on both sides when
 * they agree. The v2 side stores the name split at its first space; the logical content compared
 * and hashed is always the v1 shape (customer_name = first_name + " " + last_name).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "orders_db.h"

struct orders_db {
    sqlite3 *db;
    sqlite3_stmt *read[2];
    sqlite3_stmt *insert[2];
    sqlite3_stmt *ledger;
    int reported; /* an error was printed on this connection */
};

static const char *const first_names[] = {
    "Ada",   "Alan",  "Grace",  "Edsger", "Barbara", "Donald", "Frances", "John",   "Margaret",
    "Dennis", "Ken",  "Radia",  "Leslie", "Niklaus", "Tony",   "Sophie",  "Hedy",   "Karen",
    "Linus", "Guido", "Anita",  "Bjarne", "Jean",    "Carl",   "Lynn",    "Mary",   "Yukihiro",
    "Shafi", "Whitfield", "Ivan", "Annie", "Joan",   "Rosalind", "Fran",  "Adele",  "Xiaoyun",
};
static const char *const last_names[] = {
    "Lovelace", "Turing",  "Hopper",    "Dijkstra", "Liskov",   "Knuth",      "Allen",
    "McCarthy", "Hamilton", "Ritchie",  "Thompson", "Perlman",  "Lamport",    "Wirth",
    "Hoare",    "Wilson",  "Lamarr",    "Sparck Jones", "Torvalds", "van Rossum", "Borg",
    "Stroustrup", "Sammet", "Petri",    "Conway",   "Keller",   "Matsumoto",  "Goldwasser",
    "Diffie",   "Sutherland", "Easley", "Clarke",   "Franklin", "Allen",      "Goldberg",
    "Wang",     "de la Cruz", "Nakamoto", "Baran",  "Kahn",
};
static const char *const statuses[] = {"new", "paid", "shipped", "delivered", "cancelled"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int
report(orders_db *db, const char *what)
{
    if (!db->reported) {
        fprintf(stderr, "orders: %s: %s\n", what, sqlite3_errmsg(db->db));
        db->reported = 1;
    }
    return -1;
}

orders_db *
orders_db_open(const char *path, int create)
{
    orders_db *db = calloc(1, sizeof(*db));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);

    if (db == NULL) {
        return NULL;
    }
    if (sqlite3_open_v2(path, &db->db, flags, NULL) != SQLITE_OK) {
        fprintf(stderr, "orders: cannot open %s: %s\n", path,
                db->db != NULL ? sqlite3_errmsg(db->db) : "out of memory");
        sqlite3_close(db->db);
        free(db);
        return NULL;
    }
    sqlite3_busy_timeout(db->db, 10000);
    if (orders_db_exec(db, "PRAGMA journal_mode=WAL") != 0 ||
        orders_db_exec(db, "PRAGMA synchronous=NORMAL") != 0) {
        orders_db_close(db);
        return NULL;
    }
    return db;
}

void
orders_db_close(orders_db *db)
{
    if (db == NULL) {
        return;
    }
    for (int s = 0; s < 2; s++) {
        sqlite3_finalize(db->read[s]);
        sqlite3_finalize(db->insert[s]);
    }
    sqlite3_finalize(db->ledger);
    sqlite3_close(db->db);
    free(db);
}

sqlite3 *
orders_db_handle(orders_db *db)
{
    return db->db;
}

int
orders_db_exec(orders_db *db, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(db->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "orders: %s: %s\n", sql, err != NULL ? err : sqlite3_errmsg(db->db));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

int
orders_db_meta_get(orders_db *db, const char *key, int64_t *value)
{
    sqlite3_stmt *st = NULL;
    int rv = -1;

    if (sqlite3_prepare_v2(db->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) !=
        SQLITE_OK) {
        return report(db, "meta");
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *value = sqlite3_column_int64(st, 0);
        rv = 0;
    }
    sqlite3_finalize(st);
    return rv;
}

int
orders_db_meta_set(orders_db *db, const char *key, int64_t value)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", -1,
                           &st, NULL) != SQLITE_OK) {
        return report(db, "meta");
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, value);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : report(db, "meta");
}

int
orders_db_has_v2(orders_db *db)
{
    sqlite3_stmt *st = NULL;
    int found = 0;

    if (sqlite3_prepare_v2(db->db,
                           "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'orders_v2'",
                           -1, &st, NULL) != SQLITE_OK) {
        return 0;
    }
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

void
orders_tenant_name(int index, char out[ORDERS_TENANT_MAX])
{
    snprintf(out, ORDERS_TENANT_MAX, "tenant-%03d", index + 1);
}

/* splitmix64: a small, well-mixed, deterministic generator (Steele, Lea, Flood 2014). */
static uint64_t
mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

int
orders_gen_tenant(uint64_t seed, int64_t id, int tenants)
{
    return (int) (mix64(seed ^ mix64((uint64_t) id * 2 + 1)) % (uint64_t) tenants);
}

void
orders_copy(char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size) {
        len = size - 1;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}

void
orders_split_name(orders_row *row)
{
    const char *sp = strchr(row->customer_name, ' ');

    if (sp == NULL) {
        orders_copy(row->first_name, sizeof(row->first_name), row->customer_name,
                    strlen(row->customer_name));
        row->last_name[0] = '\0';
        return;
    }
    orders_copy(row->first_name, sizeof(row->first_name), row->customer_name,
                (size_t) (sp - row->customer_name));
    orders_copy(row->last_name, sizeof(row->last_name), sp + 1, strlen(sp + 1));
}

void
orders_join_name(orders_row *row)
{
    size_t f = strlen(row->first_name), l = strlen(row->last_name);

    orders_copy(row->customer_name, sizeof(row->customer_name), row->first_name, f);
    if (l > 0 && f + 1 < sizeof(row->customer_name)) {
        row->customer_name[f] = ' ';
        orders_copy(row->customer_name + f + 1, sizeof(row->customer_name) - f - 1,
                    row->last_name, l);
    }
}

void
orders_gen_row(uint64_t seed, int64_t id, const char *tenant, orders_row *row)
{
    uint64_t r = mix64(seed ^ mix64((uint64_t) id * 2));
    const char *first = first_names[r % COUNT(first_names)];
    const char *last = last_names[(r >> 8) % COUNT(last_names)];
    char mail_last[ORDERS_PART_MAX];
    size_t j = 0;

    memset(row, 0, sizeof(*row));
    row->id = id;
    snprintf(row->tenant_id, sizeof(row->tenant_id), "%s", tenant);
    snprintf(row->customer_name, sizeof(row->customer_name), "%s %s", first, last);
    orders_split_name(row);
    for (const char *p = last; *p != '\0' && j + 1 < sizeof(mail_last); p++) {
        if (*p != ' ') {
            mail_last[j++] = (char) (*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        }
    }
    mail_last[j] = '\0';
    snprintf(row->customer_email, sizeof(row->customer_email), "%c.%s+%lld@example.com",
             first[0] - 'A' + 'a', mail_last, (long long) (r >> 40) % 1000);
    row->total_cents = 100 + (int64_t) ((r >> 16) % 99900);
    snprintf(row->status, sizeof(row->status), "%s", statuses[(r >> 32) % COUNT(statuses)]);
    row->created_at = 1767225600 + id * 37; /* 2026-01-01 on */
}

uint64_t
orders_row_hash(const orders_row *row)
{
    char text[512];
    unsigned char h[8];
    int n;

    n = snprintf(text, sizeof(text), "%lld\x1f%s\x1f%s\x1f%s\x1f%lld\x1f%s\x1f%lld",
                 (long long) row->id, row->tenant_id, row->customer_name, row->customer_email,
                 (long long) row->total_cents, row->status, (long long) row->created_at);
    crypto_generichash(h, sizeof(h), (const unsigned char *) text, (size_t) n, NULL, 0);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | h[i];
    }
    return v;
}

int
orders_row_equal(const orders_row *a, const orders_row *b)
{
    return a->id == b->id && strcmp(a->tenant_id, b->tenant_id) == 0 &&
           strcmp(a->customer_name, b->customer_name) == 0 &&
           strcmp(a->customer_email, b->customer_email) == 0 && a->total_cents == b->total_cents &&
           strcmp(a->status, b->status) == 0 && a->created_at == b->created_at;
}

int
orders_db_generate(orders_db *db, uint64_t seed, int64_t orders, int tenants)
{
    sqlite3_stmt *st = NULL;
    char tenant[ORDERS_TENANT_MAX];
    orders_row row;

    if (orders_db_exec(db, "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, "
                           "value INTEGER NOT NULL)") != 0 ||
        orders_db_exec(db, "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, "
                           "tenant_id TEXT NOT NULL, customer_name TEXT NOT NULL, "
                           "customer_email TEXT NOT NULL, total_cents INTEGER NOT NULL, "
                           "status TEXT NOT NULL, created_at INTEGER NOT NULL)") != 0 ||
        orders_db_exec(db, "CREATE INDEX IF NOT EXISTS orders_tenant ON orders (tenant_id, id)") !=
            0 ||
        orders_db_exec(db, "CREATE TABLE IF NOT EXISTS write_ledger (id INTEGER PRIMARY KEY, "
                           "tenant_id TEXT NOT NULL, row_hash INTEGER NOT NULL, "
                           "stage TEXT NOT NULL, at INTEGER NOT NULL)") != 0 ||
        orders_db_exec(db, "BEGIN") != 0) {
        return -1;
    }
    if (sqlite3_prepare_v2(db->db, "INSERT INTO orders VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1,
                           &st, NULL) != SQLITE_OK) {
        report(db, "generate");
        goto fail;
    }
    for (int64_t id = 1; id <= orders; id++) {
        orders_tenant_name(orders_gen_tenant(seed, id, tenants), tenant);
        orders_gen_row(seed, id, tenant, &row);
        sqlite3_bind_int64(st, 1, row.id);
        sqlite3_bind_text(st, 2, row.tenant_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, row.customer_name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, row.customer_email, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, row.total_cents);
        sqlite3_bind_text(st, 6, row.status, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, row.created_at);
        if (sqlite3_step(st) != SQLITE_DONE) {
            report(db, "generate");
            goto fail;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (orders_db_meta_set(db, "seed", (int64_t) seed) != 0 ||
        orders_db_meta_set(db, "tenants", tenants) != 0 ||
        orders_db_meta_set(db, "orders", orders) != 0) {
        goto fail;
    }
    return orders_db_exec(db, "COMMIT");

fail:
    sqlite3_finalize(st);
    orders_db_exec(db, "ROLLBACK");
    return -1;
}

int
orders_db_expand(orders_db *db)
{
    return orders_db_exec(db, "CREATE TABLE IF NOT EXISTS orders_v2 (id INTEGER PRIMARY KEY, "
                              "tenant_id TEXT NOT NULL, first_name TEXT NOT NULL DEFAULT '', "
                              "last_name TEXT NOT NULL DEFAULT '', customer_email TEXT NOT NULL, "
                              "total_cents INTEGER NOT NULL, status TEXT NOT NULL, "
                              "created_at INTEGER NOT NULL)") != 0
               ? -1
               : orders_db_exec(db, "CREATE INDEX IF NOT EXISTS orders_v2_tenant "
                                    "ON orders_v2 (tenant_id, id)");
}

static const char *const read_sql[2] = {
    "SELECT id, tenant_id, customer_name, '', customer_email, total_cents, status, created_at "
    "FROM orders WHERE tenant_id = ?1 AND id >= ?2 AND id <= ?3 ORDER BY id LIMIT 1",
    "SELECT id, tenant_id, first_name, last_name, customer_email, total_cents, status, created_at "
    "FROM orders_v2 WHERE tenant_id = ?1 AND id >= ?2 AND id <= ?3 ORDER BY id LIMIT 1",
};

static void
copy_text(char *dst, size_t size, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    snprintf(dst, size, "%s", t != NULL ? (const char *) t : "");
}

static int
read_step(orders_db *db, orders_side side, sqlite3_stmt *st, orders_row *row)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        memset(row, 0, sizeof(*row));
        row->id = sqlite3_column_int64(st, 0);
        copy_text(row->tenant_id, sizeof(row->tenant_id), st, 1);
        if (side == ORDERS_OLD) {
            copy_text(row->customer_name, sizeof(row->customer_name), st, 2);
            orders_split_name(row);
        } else {
            copy_text(row->first_name, sizeof(row->first_name), st, 2);
            copy_text(row->last_name, sizeof(row->last_name), st, 3);
            orders_join_name(row);
        }
        copy_text(row->customer_email, sizeof(row->customer_email), st, 4);
        row->total_cents = sqlite3_column_int64(st, 5);
        copy_text(row->status, sizeof(row->status), st, 6);
        row->created_at = sqlite3_column_int64(st, 7);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : report(db, "read");
}

int
orders_db_read_one(orders_db *db, orders_side side, const char *tenant, int64_t lo, int64_t hi,
                   orders_row *row)
{
    int rv;

    if (db->read[side] == NULL &&
        sqlite3_prepare_v2(db->db, read_sql[side], -1, &db->read[side], NULL) != SQLITE_OK) {
        return report(db, "read");
    }
    sqlite3_bind_text(db->read[side], 1, tenant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(db->read[side], 2, lo);
    sqlite3_bind_int64(db->read[side], 3, hi);
    rv = read_step(db, side, db->read[side], row);
    if (rv != 0 || lo <= 1) {
        return rv;
    }
    sqlite3_bind_text(db->read[side], 1, tenant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(db->read[side], 2, 1);
    sqlite3_bind_int64(db->read[side], 3, hi);
    return read_step(db, side, db->read[side], row);
}

int
orders_db_insert(orders_db *db, orders_side side, const orders_row *row)
{
    static const char *const sql[2] = {
        "INSERT INTO orders VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        "INSERT INTO orders_v2 VALUES (?1, ?2, ?3, ?8, ?4, ?5, ?6, ?7)",
    };
    sqlite3_stmt *st;
    int rc;

    if (db->insert[side] == NULL &&
        sqlite3_prepare_v2(db->db, sql[side], -1, &db->insert[side], NULL) != SQLITE_OK) {
        return report(db, "insert");
    }
    st = db->insert[side];
    sqlite3_bind_int64(st, 1, row->id);
    sqlite3_bind_text(st, 2, row->tenant_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, side == ORDERS_OLD ? row->customer_name : row->first_name, -1,
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, row->customer_email, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, row->total_cents);
    sqlite3_bind_text(st, 6, row->status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, row->created_at);
    if (side == ORDERS_NEW) {
        sqlite3_bind_text(st, 8, row->last_name, -1, SQLITE_TRANSIENT);
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : report(db, "insert");
}

static int64_t
max_of(orders_db *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;

    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

int64_t
orders_db_max_id(orders_db *db)
{
    int64_t a = max_of(db, "SELECT coalesce(max(id), 0) FROM orders");
    int64_t b = orders_db_has_v2(db) ? max_of(db, "SELECT coalesce(max(id), 0) FROM orders_v2") : 0;

    return a > b ? a : b;
}

int
orders_db_ledger_add(orders_db *db, const orders_row *row, const char *stage)
{
    int rc;

    if (db->ledger == NULL &&
        sqlite3_prepare_v2(db->db,
                           "INSERT OR REPLACE INTO write_ledger VALUES (?1, ?2, ?3, ?4, "
                           "strftime('%s', 'now'))",
                           -1, &db->ledger, NULL) != SQLITE_OK) {
        return report(db, "ledger");
    }
    sqlite3_bind_int64(db->ledger, 1, row->id);
    sqlite3_bind_text(db->ledger, 2, row->tenant_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(db->ledger, 3, (int64_t) orders_row_hash(row));
    sqlite3_bind_text(db->ledger, 4, stage, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(db->ledger);
    sqlite3_reset(db->ledger);
    return rc == SQLITE_DONE ? 0 : report(db, "ledger");
}
