/*
 * telemetry.c - the migration telemetry collector (telemetry.h).
 *
 * One receive aio stays posted on the PULL socket; its callback decodes the batch outside the
 * lock, checks every entry, and only then merges them under the mutex, so a malformed batch
 * changes nothing and readers ("gkctl status", the policies) never see half a batch. Flags live
 * in one array searched linearly: the flags under migration at any time are few.
 */
#include "telemetry.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>

#include "listen.h"
#include "log.h"

#define NSTAGES 6
#define NOPS    2

static const char *const stage_names[NSTAGES] = {"off",  "dualwrite", "shadow",
                                                 "live", "rampdown",  "complete"};
static const char *const op_names[NOPS] = {"read", "write"};
static const char *const side_names[2] = {"old", "new"};

typedef struct op_counts {
    uint64_t calls;
    uint64_t invoked[2]; /* [0] old, [1] new */
    uint64_t errors[2];
    uint64_t mismatches;
    uint64_t checks;
    uint64_t old_reads;
    uint64_t hist[2][GKD_TELEMETRY_BUCKETS];
} op_counts;

typedef struct flag_stats {
    char key[GK_FLAG_KEY_MAX];
    int64_t last_old_read_at; /* unix s; 0: never */
    bool seen[NSTAGES][NOPS];
    op_counts ops[NSTAGES][NOPS];
} flag_stats;

/* One decoded, checked entry of a batch. */
typedef struct entry {
    const char *key;
    int stage;
    int op;
    op_counts counts;
} entry;

struct gkd_telemetry {
    nng_socket sock;
    nng_aio *aio;
    pthread_mutex_t lock; /* guards flags, nflags, cap, counts */
    flag_stats *flags;
    size_t nflags;
    size_t cap;
    gkd_telemetry_counts counts;
};

/* ---- decoding --------------------------------------------------------------------------- */

static int
name_index(const json_t *v, const char *const *names, int n)
{
    const char *s = json_string_value(v);

    for (int i = 0; s != NULL && i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* A count: absent is 0 (when optional), else a non-negative integer. */
static bool
get_count(const json_t *obj, const char *name, bool required, uint64_t *out)
{
    const json_t *v = json_object_get(obj, name);

    if (v == NULL) {
        *out = 0;
        return !required;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return false;
    }
    *out = (uint64_t) json_integer_value(v);
    return true;
}

/* {"old": n, "new": n}, either absent meaning 0. */
static bool
get_pair(const json_t *obj, const char *name, uint64_t out[2])
{
    const json_t *v = json_object_get(obj, name);

    if (v == NULL) {
        out[0] = out[1] = 0;
        return true;
    }
    return json_is_object(v) && get_count(v, "old", false, &out[0]) &&
           get_count(v, "new", false, &out[1]);
}

/* "latencyUs": {"old": {"buckets": [...]}, "new": {...}}; longer arrays fold into the last. */
static bool
get_hist(const json_t *obj, uint64_t hist[2][GKD_TELEMETRY_BUCKETS])
{
    const json_t *lat = json_object_get(obj, "latencyUs");

    memset(hist, 0, sizeof(uint64_t) * 2 * GKD_TELEMETRY_BUCKETS);
    if (lat == NULL) {
        return true;
    }
    if (!json_is_object(lat)) {
        return false;
    }
    for (int s = 0; s < 2; s++) {
        const json_t *side = json_object_get(lat, side_names[s]);
        const json_t *buckets;
        const json_t *v;
        size_t i;

        if (side == NULL) {
            continue;
        }
        buckets = json_object_get(side, "buckets");
        if (!json_is_object(side) || !json_is_array(buckets) || json_array_size(buckets) > 64) {
            return false;
        }
        json_array_foreach (buckets, i, v) {
            size_t b = i < GKD_TELEMETRY_BUCKETS ? i : GKD_TELEMETRY_BUCKETS - 1;

            if (!json_is_integer(v) || json_integer_value(v) < 0) {
                return false;
            }
            hist[s][b] += (uint64_t) json_integer_value(v);
        }
    }
    return true;
}

static bool
decode_entry(const json_t *e, entry *out)
{
    const char *key = json_string_value(json_object_get(e, "key"));
    size_t len = key != NULL ? strlen(key) : 0;
    op_counts *c = &out->counts;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(e) || len == 0 || len >= GK_FLAG_KEY_MAX) {
        return false;
    }
    out->key = key;
    out->stage = name_index(json_object_get(e, "stage"), stage_names, NSTAGES);
    out->op = name_index(json_object_get(e, "op"), op_names, NOPS);
    return out->stage >= 0 && out->op >= 0 && get_count(e, "calls", true, &c->calls) &&
           get_pair(e, "invoked", c->invoked) && get_pair(e, "errors", c->errors) &&
           get_count(e, "mismatches", false, &c->mismatches) &&
           get_count(e, "checks", false, &c->checks) &&
           get_count(e, "oldReads", false, &c->old_reads) && get_hist(e, c->hist);
}

/* Decodes a whole batch into *entriesp (malloc'd, *nentries long); false when malformed. */
static bool
decode_batch(const json_t *doc, entry **entriesp, size_t *nentries)
{
    const json_t *flags = json_object_get(doc, "flags");
    const json_t *v = json_object_get(doc, "v");
    const json_t *e;
    entry *entries;
    size_t i;

    *entriesp = NULL;
    *nentries = 0;
    if (!json_is_object(doc) || !json_is_integer(v) || json_integer_value(v) != 1 ||
        !json_is_string(json_object_get(doc, "service")) || !json_is_array(flags)) {
        return false;
    }
    if (json_array_size(flags) == 0) {
        return true;
    }
    entries = calloc(json_array_size(flags), sizeof(*entries));
    if (entries == NULL) {
        return false;
    }
    json_array_foreach (flags, i, e) {
        if (!decode_entry(e, &entries[i])) {
            free(entries);
            return false;
        }
    }
    *entriesp = entries;
    *nentries = json_array_size(flags);
    return true;
}

/* ---- merging ---------------------------------------------------------------------------- */

static flag_stats *
find_flag(gkd_telemetry *t, const char *key, bool create)
{
    flag_stats *f;

    for (size_t i = 0; i < t->nflags; i++) {
        if (strcmp(t->flags[i].key, key) == 0) {
            return &t->flags[i];
        }
    }
    if (!create || t->nflags >= GKD_TELEMETRY_MAX_FLAGS) {
        return NULL;
    }
    if (t->nflags == t->cap) {
        size_t cap = t->cap == 0 ? 16 : t->cap * 2;
        flag_stats *grown = realloc(t->flags, cap * sizeof(*grown));

        if (grown == NULL) {
            return NULL;
        }
        t->flags = grown;
        t->cap = cap;
    }
    f = &t->flags[t->nflags++];
    memset(f, 0, sizeof(*f));
    memcpy(f->key, key, strlen(key) + 1);
    return f;
}

static void
merge(op_counts *into, const op_counts *from)
{
    into->calls += from->calls;
    into->mismatches += from->mismatches;
    into->checks += from->checks;
    into->old_reads += from->old_reads;
    for (int s = 0; s < 2; s++) {
        into->invoked[s] += from->invoked[s];
        into->errors[s] += from->errors[s];
        for (int b = 0; b < GKD_TELEMETRY_BUCKETS; b++) {
            into->hist[s][b] += from->hist[s][b];
        }
    }
}

static void
apply(gkd_telemetry *t, const entry *entries, size_t n, int64_t now)
{
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < n; i++) {
        flag_stats *f = find_flag(t, entries[i].key, true);

        if (f == NULL) {
            t->counts.entries_dropped++;
            continue;
        }
        merge(&f->ops[entries[i].stage][entries[i].op], &entries[i].counts);
        f->seen[entries[i].stage][entries[i].op] = true;
        if (entries[i].counts.old_reads > 0) {
            f->last_old_read_at = now;
        }
    }
    t->counts.batches++;
    pthread_mutex_unlock(&t->lock);
}

static void
on_recv(void *arg)
{
    gkd_telemetry *t = arg;
    nng_msg *msg;
    json_t *doc;
    entry *entries = NULL;
    size_t n = 0;

    if (nng_aio_result(t->aio) != 0) {
        return; /* closed (or a receive error while closing): stop */
    }
    msg = nng_aio_get_msg(t->aio);
    doc = json_loadb(nng_msg_body(msg), nng_msg_len(msg), 0, NULL);
    if (decode_batch(doc, &entries, &n)) {
        apply(t, entries, n, (int64_t) time(NULL));
    } else {
        pthread_mutex_lock(&t->lock);
        t->counts.malformed++;
        pthread_mutex_unlock(&t->lock);
        gkd_log(GKD_LOG_DEBUG, "telemetry: ignored a malformed batch (%zu bytes)",
                nng_msg_len(msg));
    }
    free(entries);
    json_decref(doc); /* entries' keys point into it */
    nng_msg_free(msg);
    nng_recv_aio(t->sock, t->aio);
}

/* ---- reading ---------------------------------------------------------------------------- */

/* The p-th percentile (0 < p < 1) of a histogram in µs; -1 without samples. */
static json_int_t
percentile(const uint64_t hist[GKD_TELEMETRY_BUCKETS], double p)
{
    uint64_t total = 0;
    uint64_t seen = 0;
    uint64_t rank;

    for (int b = 0; b < GKD_TELEMETRY_BUCKETS; b++) {
        total += hist[b];
    }
    if (total == 0) {
        return -1;
    }
    rank = (uint64_t) ((double) total * p);
    if ((double) rank < (double) total * p) {
        rank++; /* ceil: the rank-th smallest sample, 1-based */
    }
    if (rank == 0) {
        rank = 1;
    }
    for (int b = 0; b < GKD_TELEMETRY_BUCKETS; b++) {
        seen += hist[b];
        if (seen >= rank) {
            return b == GKD_TELEMETRY_BUCKETS - 1 ? (json_int_t) 1 << (b - 1) : (json_int_t) 1 << b;
        }
    }
    return -1;
}

static json_t *
int_or_null(json_int_t v)
{
    return v < 0 ? json_null() : json_integer(v);
}

static json_t *
op_json(const op_counts *c)
{
    return json_pack("{s:I, s:{s:I, s:I}, s:{s:I, s:I}, s:I, s:I, s:I, s:{s:{s:o, s:o},"
                     " s:{s:o, s:o}}}",
                     "calls", (json_int_t) c->calls, "invoked", "old", (json_int_t) c->invoked[0],
                     "new", (json_int_t) c->invoked[1], "errors", "old", (json_int_t) c->errors[0],
                     "new", (json_int_t) c->errors[1], "mismatches", (json_int_t) c->mismatches,
                     "checks", (json_int_t) c->checks, "oldReads", (json_int_t) c->old_reads,
                     "latencyUs", "old", "p50", int_or_null(percentile(c->hist[0], 0.50)), "p99",
                     int_or_null(percentile(c->hist[0], 0.99)), "new", "p50",
                     int_or_null(percentile(c->hist[1], 0.50)), "p99",
                     int_or_null(percentile(c->hist[1], 0.99)));
}

static json_t *
time_or_null(int64_t at)
{
    return at > 0 ? json_integer((json_int_t) at) : json_null();
}

json_t *
gkd_telemetry_flag(gkd_telemetry *t, const char *key)
{
    json_t *stages = json_object();
    json_t *out = NULL;
    const flag_stats *f;
    bool ok = stages != NULL;

    pthread_mutex_lock(&t->lock);
    f = find_flag(t, key, false);
    for (int s = 0; ok && f != NULL && s < NSTAGES; s++) {
        json_t *ops = NULL;

        for (int o = 0; ok && o < NOPS; o++) {
            if (!f->seen[s][o]) {
                continue;
            }
            if (ops == NULL) {
                ops = json_object();
                ok = ops != NULL && json_object_set_new(stages, stage_names[s], ops) == 0;
            }
            ok = ok && json_object_set_new(ops, op_names[o], op_json(&f->ops[s][o])) == 0;
        }
    }
    if (ok) {
        out = json_pack("{s:o, s:o}", "stages", stages, "lastOldReadAt",
                        time_or_null(f != NULL ? f->last_old_read_at : 0));
        stages = NULL; /* "o" took it, also on failure */
    }
    pthread_mutex_unlock(&t->lock);
    json_decref(stages);
    return out;
}

json_t *
gkd_telemetry_state(gkd_telemetry *t)
{
    json_t *out = json_object();

    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; out != NULL && i < t->nflags; i++) {
        json_t *entry_json =
            json_pack("{s:o}", "lastOldReadAt", time_or_null(t->flags[i].last_old_read_at));

        if (json_object_set_new(out, t->flags[i].key, entry_json) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return out;
}

void
gkd_telemetry_get_counts(gkd_telemetry *t, gkd_telemetry_counts *out)
{
    pthread_mutex_lock(&t->lock);
    *out = t->counts;
    pthread_mutex_unlock(&t->lock);
}

/* ---- open / close ----------------------------------------------------------------------- */

gk_err
gkd_telemetry_open(gkd_telemetry **tp, const char *const *urls, size_t nurls, char **bound,
                   gk_diag *diag)
{
    gkd_telemetry *t = calloc(1, sizeof(*t));
    gk_err rv;

    *tp = NULL;
    if (t == NULL) {
        return GK_ENOMEM;
    }
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return GK_ENOMEM;
    }
    if (nng_pull0_open(&t->sock) != 0) {
        pthread_mutex_destroy(&t->lock);
        free(t);
        return GK_ENOMEM;
    }
    if (nng_aio_alloc(&t->aio, on_recv, t) != 0) {
        gkd_telemetry_close(t);
        return GK_ENOMEM;
    }
    rv = gkd_listen_all(t->sock, urls, nurls, GKD_TELEMETRY_MAX_BYTES, "--telemetry-listen", NULL,
                        bound, diag);
    if (rv != GK_OK) {
        gkd_telemetry_close(t);
        return rv;
    }
    nng_recv_aio(t->sock, t->aio);
    *tp = t;
    return GK_OK;
}

void
gkd_telemetry_close(gkd_telemetry *t)
{
    if (t == NULL) {
        return;
    }
    if (t->aio != NULL) {
        nng_aio_stop(t->aio); /* waits for a batch being applied; none starts after */
    }
    nng_close(t->sock);
    nng_aio_free(t->aio);
    pthread_mutex_destroy(&t->lock);
    free(t->flags);
    free(t);
}
