/*
 * service.c - the orders service's traffic through gk_migration_read()/gk_migration_write().
 *
 * Threads: one writer (inserts, so ids are allocated in one place and the read watermark is
 * simply "the last id whose write returned"), `readers` reader threads, and the main thread,
 * which prints the per-second counters and rewrites the stats file. Each thread has its own
 * SQLite connection; the gk_client and the per-tenant contexts are shared (the SDK's client is
 * thread-safe; a context nobody modifies may be read by many evaluations at once).
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatekeeper.h"
#include "orders_db.h"
#include "service.h"

#define STAGES 6

typedef struct counters {
    atomic_llong stage_ops[STAGES];
    atomic_llong reads, writes;
    atomic_llong reads_old, reads_new, writes_old, writes_new;
    atomic_llong err_old, err_new, failed;
    atomic_llong checks, mismatches;
    atomic_llong us_old, us_new;
    atomic_llong disabled, fallbacks;
} counters;

typedef struct service {
    const orders_service_opts *o;
    gk_client *client;
    gk_context **ctx; /* per tenant */
    char (*tenant)[ORDERS_TENANT_MAX];
    atomic_int *tenant_stage; /* last stage seen per tenant, -1 none */
    int tenants;
    uint64_t seed;
    gk_stage fallback;
    atomic_llong next_id;   /* the writer's next id */
    atomic_llong watermark; /* every id <= this has finished its write */
    counters c;
} service;

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
    (void) sig;
    stop_requested = 1;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
sleep_until(double t)
{
    double d = t - now_s();
    struct timespec ts;

    if (d <= 0) {
        return;
    }
    ts.tv_sec = (time_t) d;
    ts.tv_nsec = (long) ((d - (double) ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

static uint64_t
rnd(uint64_t *s)
{
    /* xorshift64*: per-thread, good enough to pick tenants and ids */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* ---- the origins ------------------------------------------------------------------------- */

typedef struct read_job {
    orders_db *db;
    const char *tenant;
    int64_t lo, hi;
} read_job;

static int
read_side(read_job *j, orders_side side, void **resultp)
{
    orders_row *row = calloc(1, sizeof(*row));
    int rv;

    if (row == NULL) {
        return -1;
    }
    *resultp = row;
    rv = orders_db_read_one(j->db, side, j->tenant, j->lo, j->hi, row);
    if (rv == 0) {
        row->id = 0; /* no order for this tenant yet: an empty, successful answer */
    }
    return rv < 0 ? -1 : 0;
}

static int
read_old(void *arg, void **resultp)
{
    return read_side(arg, ORDERS_OLD, resultp);
}

static int
read_new(void *arg, void **resultp)
{
    return read_side(arg, ORDERS_NEW, resultp);
}

static int
compare_rows(void *arg, const void *a, const void *b)
{
    const orders_row *x = a, *y = b;

    (void) arg;
    if (x->id == 0 || y->id == 0) {
        return x->id == y->id;
    }
    return orders_row_equal(x, y);
}

static void
free_row(void *arg, void *result)
{
    (void) arg;
    free(result);
}

typedef struct write_job {
    orders_db *db;
    const orders_row *row;
} write_job;

static int
write_old(void *arg, void **resultp)
{
    write_job *j = arg;

    (void) resultp;
    return orders_db_insert(j->db, ORDERS_OLD, j->row);
}

static int
write_new(void *arg, void **resultp)
{
    write_job *j = arg;

    (void) resultp;
    return orders_db_insert(j->db, ORDERS_NEW, j->row);
}

/* ---- counting ---------------------------------------------------------------------------- */

static void
count(service *s, int tenant, int is_read, const gk_migration_result *r)
{
    counters *c = &s->c;

    if ((unsigned) r->stage < STAGES) {
        atomic_fetch_add(&c->stage_ops[r->stage], 1);
        atomic_store(&s->tenant_stage[tenant], (int) r->stage);
    }
    atomic_fetch_add(is_read ? &c->reads : &c->writes, 1);
    if (r->old_invoked) {
        atomic_fetch_add(is_read ? &c->reads_old : &c->writes_old, 1);
        atomic_fetch_add(&c->us_old, r->old_us);
    }
    if (r->new_invoked) {
        atomic_fetch_add(is_read ? &c->reads_new : &c->writes_new, 1);
        atomic_fetch_add(&c->us_new, r->new_us);
    }
    if (r->old_error) {
        atomic_fetch_add(&c->err_old, 1);
    }
    if (r->new_error) {
        atomic_fetch_add(&c->err_new, 1);
    }
    if (!r->ok) {
        atomic_fetch_add(&c->failed, 1);
    }
    if (r->consistency >= 0) {
        atomic_fetch_add(&c->checks, 1);
        if (r->consistency == 0) {
            atomic_fetch_add(&c->mismatches, 1);
        }
    }
    if (r->detail.reason == GK_REASON_DISABLED) {
        atomic_fetch_add(&c->disabled, 1);
    } else if (r->detail.reason == GK_REASON_ERROR) {
        atomic_fetch_add(&c->fallbacks, 1);
    }
}

/* ---- threads ----------------------------------------------------------------------------- */

typedef struct worker {
    service *s;
    pthread_t thread;
    double rate;
    uint64_t rng;
    int is_writer;
} worker;

static void
do_read(service *s, orders_db *db, uint64_t *rng)
{
    int t = (int) (rnd(rng) % (uint64_t) s->tenants);
    int64_t hi = atomic_load(&s->watermark);
    read_job job = {db, s->tenant[t], hi > 0 ? 1 + (int64_t) (rnd(rng) % (uint64_t) hi) : 1, hi};
    gk_migration_read_ops ops = {
        .size = sizeof(ops),
        .read_old = read_old,
        .read_new = read_new,
        .compare = compare_rows,
        .free_result = free_row,
        .arg = &job,
        .check_ratio = s->o->check_ratio,
    };
    gk_migration_result r = {.size = sizeof(r)};

    if (gk_migration_read(s->client, s->o->flag, s->ctx[t], s->fallback, &ops, &r) != GK_OK) {
        atomic_fetch_add(&s->c.failed, 1);
        return;
    }
    count(s, t, 1, &r);
    free(r.result);
}

static void
do_write(service *s, orders_db *db, uint64_t *rng)
{
    int t = (int) (rnd(rng) % (uint64_t) s->tenants);
    int64_t id = atomic_fetch_add(&s->next_id, 1);
    orders_row row;
    write_job job = {db, &row};
    gk_migration_write_ops ops = {
        .size = sizeof(ops),
        .write_old = write_old,
        .write_new = write_new,
        .free_result = free_row,
        .arg = &job,
    };
    gk_migration_result r = {.size = sizeof(r)};

    orders_gen_row(s->seed, id, s->tenant[t], &row);
    if (gk_migration_write(s->client, s->o->flag, s->ctx[t], s->fallback, &ops, &r) != GK_OK) {
        atomic_fetch_add(&s->c.failed, 1);
    } else {
        count(s, t, 0, &r);
        if (r.ok && orders_db_ledger_add(db, &row, gk_stage_str(r.stage)) != 0) {
            atomic_fetch_add(&s->c.failed, 1);
        }
        free(r.result);
    }
    atomic_store(&s->watermark, id);
}

static void *
worker_main(void *arg)
{
    worker *w = arg;
    service *s = w->s;
    orders_db *db = orders_db_open(s->o->db_path, 0);
    double interval, next;

    if (db == NULL || w->rate <= 0) {
        orders_db_close(db);
        return NULL;
    }
    interval = 1.0 / w->rate;
    next = now_s();
    while (!stop_requested) {
        if (w->is_writer) {
            do_write(s, db, &w->rng);
        } else {
            do_read(s, db, &w->rng);
        }
        next += interval;
        double now = now_s();
        if (next < now - 1.0) {
            next = now - 1.0; /* fell behind: do not make up more than a second of work */
        }
        sleep_until(next);
    }
    orders_db_close(db);
    return NULL;
}

/* ---- reporting --------------------------------------------------------------------------- */

typedef struct snap {
    long long v[32];
} snap;

enum {
    S_READS, S_WRITES, S_ROLD, S_RNEW, S_WOLD, S_WNEW, S_EOLD, S_ENEW, S_FAILED, S_CHECKS,
    S_MISMATCH, S_USOLD, S_USNEW, S_DISABLED, S_FALLBACK, S_STAGE0
};

static void
take(service *s, snap *p)
{
    counters *c = &s->c;

    memset(p, 0, sizeof(*p));
    p->v[S_READS] = atomic_load(&c->reads);
    p->v[S_WRITES] = atomic_load(&c->writes);
    p->v[S_ROLD] = atomic_load(&c->reads_old);
    p->v[S_RNEW] = atomic_load(&c->reads_new);
    p->v[S_WOLD] = atomic_load(&c->writes_old);
    p->v[S_WNEW] = atomic_load(&c->writes_new);
    p->v[S_EOLD] = atomic_load(&c->err_old);
    p->v[S_ENEW] = atomic_load(&c->err_new);
    p->v[S_FAILED] = atomic_load(&c->failed);
    p->v[S_CHECKS] = atomic_load(&c->checks);
    p->v[S_MISMATCH] = atomic_load(&c->mismatches);
    p->v[S_USOLD] = atomic_load(&c->us_old);
    p->v[S_USNEW] = atomic_load(&c->us_new);
    p->v[S_DISABLED] = atomic_load(&c->disabled);
    p->v[S_FALLBACK] = atomic_load(&c->fallbacks);
    for (int i = 0; i < STAGES; i++) {
        p->v[S_STAGE0 + i] = atomic_load(&c->stage_ops[i]);
    }
}

/* The tenants' split over the stages, from the last decision each one got. */
static void
tenant_split(service *s, int split[STAGES], char *buf, size_t size)
{
    size_t n = 0;

    memset(split, 0, sizeof(int) * STAGES);
    for (int t = 0; t < s->tenants; t++) {
        int st = atomic_load(&s->tenant_stage[t]);
        if (st >= 0 && st < STAGES) {
            split[st]++;
        }
    }
    buf[0] = '\0';
    for (int i = 0; i < STAGES && n < size; i++) {
        if (split[i] > 0) {
            n += (size_t) snprintf(buf + n, size - n, "%s%s %d", n ? ", " : "",
                                   gk_stage_str((gk_stage) i), split[i]);
        }
    }
    if (buf[0] == '\0') {
        snprintf(buf, size, "-");
    }
}

static void
write_stats(service *s, const snap *p, double elapsed, const int split[STAGES])
{
    char tmp[4200];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", s->o->stats_file);
    f = fopen(tmp, "w");
    if (f == NULL) {
        return;
    }
    fprintf(f,
            "elapsed=%.1f\nreads=%lld\nwrites=%lld\nreads_old=%lld\nreads_new=%lld\n"
            "writes_old=%lld\nwrites_new=%lld\nerrors_old=%lld\nerrors_new=%lld\nfailed=%lld\n"
            "checks=%lld\nmismatches=%lld\nus_old=%lld\nus_new=%lld\ndisabled=%lld\n"
            "fallbacks=%lld\nnext_id=%lld\n",
            elapsed, p->v[S_READS], p->v[S_WRITES], p->v[S_ROLD], p->v[S_RNEW], p->v[S_WOLD],
            p->v[S_WNEW], p->v[S_EOLD], p->v[S_ENEW], p->v[S_FAILED], p->v[S_CHECKS],
            p->v[S_MISMATCH], p->v[S_USOLD], p->v[S_USNEW], p->v[S_DISABLED], p->v[S_FALLBACK],
            (long long) atomic_load(&s->next_id));
    for (int i = 0; i < STAGES; i++) {
        fprintf(f, "tenants_%s=%d\nops_%s=%lld\n", gk_stage_str((gk_stage) i), split[i],
                gk_stage_str((gk_stage) i), p->v[S_STAGE0 + i]);
    }
    if (fclose(f) == 0) {
        rename(tmp, s->o->stats_file);
    }
}

static void
report_second(service *s, const snap *a, const snap *b, double elapsed)
{
    int split[STAGES];
    char sp[256];
#define D(k) (b->v[k] - a->v[k])

    tenant_split(s, split, sp, sizeof(sp));
    if (s->o->quiet) {
        return;
    }
    if (s->o->readonly) {
        printf("[%s %5.0fs] reads %lld/s (v1 %lld, v2 %lld) mismatches %lld errors %lld | "
               "tenants: %s\n",
               s->o->service, elapsed, D(S_READS), D(S_ROLD), D(S_RNEW), D(S_MISMATCH),
               D(S_EOLD) + D(S_ENEW) + D(S_FAILED), sp);
    } else {
        printf("[%s %5.0fs] reads %lld/s (old %lld, new %lld) writes %lld/s (old %lld, new %lld) "
               "checks %lld mismatches %lld errors %lld%s | tenants: %s\n",
               s->o->service, elapsed, D(S_READS), D(S_ROLD), D(S_RNEW), D(S_WRITES), D(S_WOLD),
               D(S_WNEW), D(S_CHECKS), D(S_MISMATCH), D(S_EOLD) + D(S_ENEW) + D(S_FAILED),
               D(S_DISABLED) > 0 ? " KILLED (fallback stage)" : "", sp);
    }
    fflush(stdout);
#undef D
}

static void
report_total(service *s, const snap *p, double elapsed)
{
    printf("[%s] done after %.1f s: %lld reads (old %lld, new %lld), %lld writes (old %lld, new "
           "%lld), %lld consistency checks, %lld mismatches, errors old %lld new %lld, %lld "
           "failed, %lld answered by the fallback stage while killed, %lld without a decision\n",
           s->o->service, elapsed, p->v[S_READS], p->v[S_ROLD], p->v[S_RNEW], p->v[S_WRITES],
           p->v[S_WOLD], p->v[S_WNEW], p->v[S_CHECKS], p->v[S_MISMATCH], p->v[S_EOLD],
           p->v[S_ENEW], p->v[S_FAILED], p->v[S_DISABLED], p->v[S_FALLBACK]);
    fflush(stdout);
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int
open_client(service *s, bool fresh)
{
    const orders_service_opts *o = s->o;
    gk_options *opts = NULL;
    gk_diag diag = {0};
    gk_err rv;

    if (gk_options_new(&opts) != GK_OK) {
        return -1;
    }
    rv = gk_options_set_jwks_file(opts, o->jwks);
    if (rv == GK_OK && o->endpoint != NULL) {
        rv = gk_options_add_endpoint(opts, o->endpoint);
    }
    if (rv == GK_OK && o->events != NULL) {
        rv = gk_options_set_events_endpoint(opts, o->events);
    }
    if (rv == GK_OK && o->telemetry != NULL) {
        rv = gk_options_set_telemetry_endpoint(opts, o->telemetry);
    }
    if (rv == GK_OK) {
        rv = gk_options_set_service_name(opts, o->service);
    }
    if (rv == GK_OK && fresh) {
        rv = gk_options_set_cache_disabled(opts, true);
    }
    if (rv == GK_OK && o->timeout_ms > 0) {
        rv = gk_options_set_timeout_ms(opts, o->timeout_ms);
    }
    if (rv == GK_OK && o->check_ratio > 0) {
        rv = gk_options_set_check_ratio(opts, o->check_ratio);
    }
    if (rv == GK_OK) {
        rv = gk_client_open(&s->client, opts, &diag);
    }
    gk_options_free(opts);
    if (rv != GK_OK) {
        fprintf(stderr, "%s: cannot open the gatekeeper client: %s %s\n", o->service,
                gk_strerror(rv), diag.text);
        return -1;
    }
    return 0;
}

static int
make_contexts(service *s)
{
    s->ctx = calloc((size_t) s->tenants, sizeof(*s->ctx));
    s->tenant = calloc((size_t) s->tenants, sizeof(*s->tenant));
    s->tenant_stage = calloc((size_t) s->tenants, sizeof(*s->tenant_stage));
    if (s->ctx == NULL || s->tenant == NULL || s->tenant_stage == NULL) {
        return -1;
    }
    for (int t = 0; t < s->tenants; t++) {
        orders_tenant_name(t, s->tenant[t]);
        atomic_init(&s->tenant_stage[t], -1);
        if (gk_context_new(&s->ctx[t], s->tenant[t]) != GK_OK ||
            gk_context_set_string(s->ctx[t], "tenantId", s->tenant[t]) != GK_OK ||
            gk_context_set_string(s->ctx[t], "service", s->o->service) != GK_OK) {
            return -1;
        }
    }
    return 0;
}

static void
free_service(service *s)
{
    gk_client_close(s->client);
    for (int t = 0; s->ctx != NULL && t < s->tenants; t++) {
        gk_context_free(s->ctx[t]);
    }
    free(s->ctx);
    free(s->tenant);
    free(s->tenant_stage);
}

int
orders_service_stages(const orders_service_opts *o)
{
    service s = {0};
    int split[STAGES] = {0}, errors = 0, killed = 0, rv = 1;
    orders_db *db = orders_db_open(o->db_path, 0);
    int64_t v;
    char line[256];
    size_t n = 0;

    s.o = o;
    if (db == NULL) {
        return 1;
    }
    s.tenants = orders_db_meta_get(db, "tenants", &v) == 0 ? (int) v : 1;
    orders_db_close(db);
    if (gk_stage_parse(o->fallback, &s.fallback) != GK_OK) {
        fprintf(stderr, "%s: --fallback-stage: not a stage: %s\n", o->service, o->fallback);
        return 1;
    }
    if (make_contexts(&s) != 0 || open_client(&s, true) != 0) {
        goto out;
    }
    for (int t = 0; t < s.tenants; t++) {
        gk_stage st = GK_STAGE_OFF;
        gk_detail d;
        gk_err rv2;
        /* An answer that did not come in time starts the SDK's back-off (at most 1 s): ask again
         * for up to 3 s before counting the tenant as without a decision. */
        for (int tries = 0;; tries++) {
            rv2 = gk_client_eval_stage(s.client, o->flag, s.ctx[t], s.fallback, &st, &d);
            if ((rv2 == GK_OK && d.reason != GK_REASON_ERROR) || tries >= 12) {
                break;
            }
            sleep_until(now_s() + 0.25);
        }
        if (rv2 != GK_OK || d.reason == GK_REASON_ERROR) {
            errors++;
        } else if (d.reason == GK_REASON_DISABLED) {
            killed++;
        }
        if ((unsigned) st < STAGES) {
            split[st]++;
        }
    }
    line[0] = '\0';
    for (int i = 0; i < STAGES && n < sizeof(line); i++) {
        if (split[i] > 0) {
            n += (size_t) snprintf(line + n, sizeof(line) - n, "%s%s %d", n ? ", " : "",
                                   gk_stage_str((gk_stage) i), split[i]);
        }
    }
    printf("%s (%d tenants as %s sees them%s%s)\n", line, s.tenants, o->service,
           killed ? "; KILLED: every tenant on the caller's fallback" : "",
           errors ? "; some without a decision" : "");
    rv = 0;
out:
    free_service(&s);
    return rv;
}

int
orders_service_run(const orders_service_opts *o)
{
    service s = {0};
    worker *w = NULL;
    int nworkers = 0, rv = 1;
    orders_db *db;
    int64_t v;
    struct sigaction sa = {0};

    s.o = o;
    db = orders_db_open(o->db_path, 0);
    if (db == NULL) {
        return 1;
    }
    if (orders_db_meta_get(db, "seed", &v) != 0) {
        fprintf(stderr, "%s: %s holds no orders (gk-orders init)\n", o->service, o->db_path);
        orders_db_close(db);
        return 1;
    }
    s.seed = (uint64_t) v;
    s.tenants = orders_db_meta_get(db, "tenants", &v) == 0 ? (int) v : 1;
    atomic_init(&s.next_id, orders_db_max_id(db) + 1);
    atomic_init(&s.watermark, atomic_load(&s.next_id) - 1);
    orders_db_close(db);
    if (gk_stage_parse(o->fallback, &s.fallback) != GK_OK) {
        fprintf(stderr, "%s: --fallback-stage: not a stage: %s\n", o->service, o->fallback);
        return 1;
    }
    if (make_contexts(&s) != 0 || open_client(&s, false) != 0) {
        goto out;
    }

    /* The client dials in the background: wait (at most 5 s) for a first verified decision, so the
     * first operations run the flag's stage rather than the fallback. */
    for (int i = 0; i < 100; i++) {
        gk_stage st;
        gk_detail d;
        if (gk_client_eval_stage(s.client, o->flag, s.ctx[0], s.fallback, &st, &d) == GK_OK &&
            d.reason != GK_REASON_ERROR) {
            break;
        }
        sleep_until(now_s() + 0.05);
    }

    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int readers = o->readers > 0 ? o->readers : 1;
    double write_rate = o->readonly ? 0 : o->rate * o->write_pct / 100.0;
    double read_rate = o->rate - write_rate;
    w = calloc((size_t) readers + 1, sizeof(*w));
    if (w == NULL) {
        goto out;
    }
    for (int i = 0; i <= readers; i++) {
        w[i].s = &s;
        w[i].is_writer = i == readers;
        w[i].rate = w[i].is_writer ? write_rate : read_rate / readers;
        w[i].rng = 0x9e3779b97f4a7c15ULL * (uint64_t) (i + 1) ^ s.seed ^ (uint64_t) time(NULL);
        if (w[i].rate <= 0) {
            continue;
        }
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            w[i].rate = 0;
            continue;
        }
        nworkers++;
    }
    printf("[%s] %s: %d tenants, %.0f ops/s (%.0f reads, %.0f writes) on %d threads, flag %s, "
           "fallback stage %s\n",
           o->service, o->db_path, s.tenants, o->rate, read_rate, write_rate, nworkers, o->flag,
           o->fallback);
    fflush(stdout);

    /* Counters are printed once a second and written to the stats file every 200 ms, so that a
     * reader of the file (the demo's account) is never more than 200 ms behind. */
    double t0 = now_s(), next = t0 + 1.0, tick = t0;
    snap prev, cur;
    int split[STAGES];
    char sp[256];
    take(&s, &prev);
    while (!stop_requested && (o->duration_s <= 0 || now_s() - t0 < o->duration_s)) {
        tick += 0.2;
        sleep_until(o->duration_s > 0 ? fmin(tick, t0 + o->duration_s) : tick);
        take(&s, &cur);
        if (o->stats_file != NULL) {
            tenant_split(&s, split, sp, sizeof(sp));
            write_stats(&s, &cur, now_s() - t0, split);
        }
        if (now_s() >= next) {
            report_second(&s, &prev, &cur, now_s() - t0);
            prev = cur;
            next += 1.0;
        }
    }
    stop_requested = 1;
    for (int i = 0; i <= readers; i++) {
        if (w[i].rate > 0) {
            pthread_join(w[i].thread, NULL);
        }
    }
    take(&s, &cur);
    if (o->stats_file != NULL) {
        tenant_split(&s, split, sp, sizeof(sp));
        write_stats(&s, &cur, now_s() - t0, split);
    }
    report_total(&s, &cur, now_s() - t0);
    rv = 0;
out:
    free(w);
    free_service(&s);
    return rv;
}
