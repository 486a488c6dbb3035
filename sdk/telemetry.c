/*
 * telemetry.c - migration telemetry (telemetry.h): aggregates per (flag, stage, operation), a
 * batch a second on an nng PUSH socket.
 *
 * The aggregates live in one array behind one mutex; a migration call finds its entry by a
 * linear scan (a service migrates a handful of flags at a time, so the array stays short within
 * one interval) and bumps counters. The timer callback takes the whole array under the mutex,
 * leaves an empty one behind, and encodes and sends outside it, so a call never waits on JSON
 * or sockets. The send is nng_sendmsg with NNG_FLAG_NONBLOCK: when no collector is connected or
 * its queue is full the batch is dropped and counted ("batches_dropped"); losing a second of
 * counts is the price of never blocking a service's request path on its telemetry.
 *
 * The collector is dialled on the first recorded call, not at open: a client that never runs a
 * migration helper opens no connection (and a test suite full of such clients does not race a
 * collector's handshake at close). The URL is still checked at open (nng_dialer_create).
 *
 * nng_sleep_aio drives the interval: its completion runs on an nng task thread, re-arms itself,
 * and is stopped by nng_aio_stop in gks_telemetry_close, which waits for a running callback.
 */
#include "telemetry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "nng_err.h"
#include "vocab.h"

/* Most aggregates kept within one interval; calls beyond it are counted, not kept. */
#define MAX_AGGS 4096
/* Batches nng may hold for a slow collector before a send is refused. */
#define SEND_BUFFER_MSGS 4

typedef struct agg {
    char key[GK_FLAG_KEY_MAX];
    gk_stage stage;
    gks_telemetry_op op;
    uint64_t calls;
    uint64_t invoked[2]; /* [0] old, [1] new */
    uint64_t errors[2];
    uint64_t mismatches;
    uint64_t checks;
    uint64_t old_reads;
    uint64_t hist[2][GKS_TELEMETRY_BUCKETS];
} agg;

struct gks_telemetry {
    nng_socket sock;
    nng_dialer dialer;
    atomic_bool dialed; /* the dialer was started (first record) */
    nng_aio *timer;
    char *service;
    pthread_mutex_t lock; /* guards aggs, naggs, cap, old_reads */
    agg *aggs;
    size_t naggs;
    size_t cap;
    uint64_t old_reads; /* read calls that invoked old, this interval */
    atomic_uint_fast64_t sent;
    atomic_uint_fast64_t dropped;
    atomic_uint_fast64_t records;
    atomic_uint_fast64_t lost_records; /* beyond MAX_AGGS */
};

unsigned
gks_telemetry_bucket(uint32_t us)
{
    unsigned i = 0;

    while (i + 1 < GKS_TELEMETRY_BUCKETS && us >= GKS_TELEMETRY_BOUND_US(i)) {
        i++;
    }
    return i;
}

static const char *
op_name(gks_telemetry_op op)
{
    return op == GKS_TELEMETRY_READ ? "read" : "write";
}

/* ---- recording ------------------------------------------------------------------------------ */

/* The entry of (key, stage, op), created when absent; NULL when full or out of memory. */
static agg *
find_agg(gks_telemetry *t, const char *key, gk_stage stage, gks_telemetry_op op)
{
    agg *a;

    for (size_t i = 0; i < t->naggs; i++) {
        a = &t->aggs[i];
        if (a->stage == stage && a->op == op && strcmp(a->key, key) == 0) {
            return a;
        }
    }
    if (t->naggs == t->cap) {
        size_t cap = t->cap == 0 ? 8 : t->cap * 2;
        agg *grown;

        if (t->cap >= MAX_AGGS) {
            return NULL;
        }
        grown = realloc(t->aggs, cap * sizeof(*grown));
        if (grown == NULL) {
            return NULL;
        }
        t->aggs = grown;
        t->cap = cap;
    }
    a = &t->aggs[t->naggs++];
    memset(a, 0, sizeof(*a));
    snprintf(a->key, sizeof(a->key), "%s", key);
    a->stage = stage;
    a->op = op;
    return a;
}

static void
add_side(agg *a, int side, int invoked, int error, uint32_t us)
{
    if (!invoked) {
        return;
    }
    a->invoked[side]++;
    a->errors[side] += error != 0;
    a->hist[side][gks_telemetry_bucket(us)]++;
}

void
gks_telemetry_record(gks_telemetry *t, const char *flag_key, gks_telemetry_op op,
                     const gk_migration_result *r)
{
    bool old_read;
    agg *a;

    if (t == NULL) {
        return;
    }
    if (!atomic_load(&t->dialed) && !atomic_exchange(&t->dialed, true)) {
        /* Non-blocking: connects (and reconnects) in the background; batches wait in the
         * send buffer meanwhile. A failure here leaves batches to be dropped and counted. */
        (void) nng_dialer_start(t->dialer, NNG_FLAG_NONBLOCK);
    }
    old_read = op == GKS_TELEMETRY_READ && r->old_invoked;
    atomic_fetch_add(&t->records, 1);
    pthread_mutex_lock(&t->lock);
    a = find_agg(t, flag_key, r->stage, op);
    if (a != NULL) {
        a->calls++;
        add_side(a, 0, r->old_invoked, r->old_error, r->old_us);
        add_side(a, 1, r->new_invoked, r->new_error, r->new_us);
        a->checks += r->consistency >= 0;
        a->mismatches += r->consistency == 0;
        a->old_reads += old_read;
    }
    t->old_reads += old_read;
    pthread_mutex_unlock(&t->lock);
    if (a == NULL) {
        atomic_fetch_add(&t->lost_records, 1);
    }
}

/* ---- sending -------------------------------------------------------------------------------- */

static json_t *
side_json(const agg *a, int side)
{
    json_t *buckets = json_array();

    for (unsigned i = 0; buckets != NULL && i < GKS_TELEMETRY_BUCKETS; i++) {
        if (json_array_append_new(buckets, json_integer((json_int_t) a->hist[side][i])) != 0) {
            json_decref(buckets);
            buckets = NULL;
        }
    }
    return json_pack("{s:o*}", "buckets", buckets);
}

static json_t *
agg_json(const agg *a)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:{s:I, s:I}, s:{s:I, s:I}, s:I, s:I, s:I,"
                     " s:{s:o*, s:o*}}",
                     "key", a->key, "stage", gk_stage_str(a->stage), "op", op_name(a->op), "calls",
                     (json_int_t) a->calls, "invoked", "old", (json_int_t) a->invoked[0], "new",
                     (json_int_t) a->invoked[1], "errors", "old", (json_int_t) a->errors[0], "new",
                     (json_int_t) a->errors[1], "mismatches", (json_int_t) a->mismatches, "checks",
                     (json_int_t) a->checks, "oldReads", (json_int_t) a->old_reads, "latencyUs",
                     "old", side_json(a, 0), "new", side_json(a, 1));
}

/* Encode a batch (NULL when out of memory). */
static char *
encode(const gks_telemetry *t, const agg *aggs, size_t naggs, uint64_t old_reads)
{
    json_t *flags = json_array();
    json_t *doc;
    char *text;

    for (size_t i = 0; flags != NULL && i < naggs; i++) {
        if (json_array_append_new(flags, agg_json(&aggs[i])) != 0) {
            json_decref(flags);
            flags = NULL;
        }
    }
    doc = json_pack("{s:i, s:s, s:o*, s:I, s:I}", "v", 1, "service", t->service, "flags", flags,
                    "oldReads", (json_int_t) old_reads, "sentAt",
                    (json_int_t) (gks_clock_wall_ms() / 1000));
    if (doc == NULL || json_object_get(doc, "flags") == NULL) {
        json_decref(doc);
        return NULL;
    }
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/*
 * Take the aggregates and send them. `aio` NULL: NNG_FLAG_NONBLOCK (the timer's way); else the
 * send waits on `aio` for its timeout (gks_telemetry_close's bounded last batch).
 */
static int
flush(gks_telemetry *t, nng_aio *aio)
{
    agg *aggs;
    size_t naggs;
    uint64_t old_reads;
    nng_msg *msg = NULL;
    char *text;
    int rv;

    pthread_mutex_lock(&t->lock);
    aggs = t->aggs;
    naggs = t->naggs;
    old_reads = t->old_reads;
    t->aggs = NULL;
    t->naggs = 0;
    t->cap = 0;
    t->old_reads = 0;
    pthread_mutex_unlock(&t->lock);
    if (naggs == 0) {
        free(aggs);
        return 1;
    }
    text = encode(t, aggs, naggs, old_reads);
    free(aggs);
    rv = text != NULL ? nng_msg_alloc(&msg, 0) : NNG_ENOMEM;
    if (rv == 0) {
        rv = nng_msg_append(msg, text, strlen(text));
    }
    free(text);
    if (rv == 0 && aio == NULL) {
        rv = nng_sendmsg(t->sock, msg, NNG_FLAG_NONBLOCK);
    } else if (rv == 0) {
        nng_aio_set_msg(aio, msg);
        nng_send_aio(t->sock, aio);
        nng_aio_wait(aio);
        rv = nng_aio_result(aio);
    }
    if (rv != 0) {
        nng_msg_free(msg); /* NULL-safe; on failure the message is still ours */
        atomic_fetch_add(&t->dropped, 1);
        return -1;
    }
    atomic_fetch_add(&t->sent, 1);
    return 0;
}

int
gks_telemetry_flush(gks_telemetry *t)
{
    return t != NULL ? flush(t, NULL) : 1;
}

static void
on_timer(void *arg)
{
    gks_telemetry *t = arg;

    if (nng_aio_result(t->timer) != 0) {
        return; /* stopped by gks_telemetry_close */
    }
    (void) flush(t, NULL);
    nng_sleep_aio(GKS_TELEMETRY_INTERVAL_MS, t->timer);
}

void
gks_telemetry_get_counts(gks_telemetry *t, gks_telemetry_counts *out)
{
    memset(out, 0, sizeof(*out));
    if (t == NULL) {
        return;
    }
    out->batches_sent = atomic_load(&t->sent);
    out->batches_dropped = atomic_load(&t->dropped);
    out->records = atomic_load(&t->records);
    out->records_lost = atomic_load(&t->lost_records);
}

/* ---- open / close --------------------------------------------------------------------------- */

gk_err
gks_telemetry_open(gks_telemetry **tp, const char *url, const char *service, gk_diag *diag)
{
    gks_telemetry *t;
    size_t len = strlen(service) + 1;
    gk_err err = GK_ENOMEM;
    int rv;

    *tp = NULL;
    t = calloc(1, sizeof(*t));
    if (t == NULL || (t->service = malloc(len)) == NULL) {
        free(t);
        return gkp_diag_set(diag, GK_ENOMEM, NULL, 0, "out of memory");
    }
    memcpy(t->service, service, len);
    atomic_init(&t->dialed, false);
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t->service);
        free(t);
        return gkp_diag_set(diag, GK_ENOMEM, NULL, 0, "cannot create a mutex");
    }
    rv = nng_push0_open(&t->sock);
    if (rv != 0) {
        err = gkp_diag_set(diag, gks_nng_err(rv), NULL, 0, "cannot open an nng PUSH socket: %s",
                           nng_strerror(rv));
        goto fail_lock;
    }
    rv = nng_socket_set_int(t->sock, NNG_OPT_SENDBUF, SEND_BUFFER_MSGS);
    if (rv == 0) {
        /* Checks the URL now; started by the first gks_telemetry_record. */
        rv = nng_dialer_create(&t->dialer, t->sock, url);
        if (rv != 0) {
            err = gkp_diag_set(diag, gks_nng_err(rv), url, 0,
                               "cannot dial telemetry endpoint \"%.60s\": %s (expected e.g. "
                               "tcp://127.0.0.1:7403)",
                               url, nng_strerror(rv));
            goto fail_sock;
        }
    }
    if (rv == 0) {
        rv = nng_aio_alloc(&t->timer, on_timer, t);
    }
    if (rv != 0) {
        err = gkp_diag_set(diag, gks_nng_err(rv), NULL, 0, "telemetry: %s", nng_strerror(rv));
        goto fail_sock;
    }
    nng_sleep_aio(GKS_TELEMETRY_INTERVAL_MS, t->timer);
    *tp = t;
    return GK_OK;

fail_sock:
    nng_close(t->sock);
fail_lock:
    pthread_mutex_destroy(&t->lock);
    free(t->service);
    free(t);
    return err;
}

void
gks_telemetry_close(gks_telemetry *t)
{
    nng_aio *aio = NULL;

    if (t == NULL) {
        return;
    }
    nng_aio_stop(t->timer); /* waits for a running callback; no new one starts */
    nng_aio_free(t->timer);
    if (nng_aio_alloc(&aio, NULL, NULL) == 0) {
        nng_aio_set_timeout(aio, GKS_TELEMETRY_CLOSE_MS - GKS_TELEMETRY_LINGER_MS);
        if (flush(t, aio) == 0) {
            /*
             * nng hands the batch to a connected pipe before the bytes leave; closing the
             * socket now could discard them. Give the pipe the rest of a short, fixed slice.
             */
            nng_msleep(GKS_TELEMETRY_LINGER_MS);
        }
        nng_aio_free(aio);
    }
    nng_close(t->sock);
    pthread_mutex_destroy(&t->lock);
    free(t->aggs);
    free(t->service);
    free(t);
}
