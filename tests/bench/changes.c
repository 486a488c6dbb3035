/*
 * changes.c - figures 7 and 8, the admin plane: how long after the daemon committed a kill switch
 * an SDK client has dropped the flag's cached decision (the SDK's change handler runs right after
 * it has), and the round trip of a committed admin change (signed request, policies, fsync'd
 * journal record, snapshot swap, reply).
 *
 * Kill-switch latency is the handler's CLOCK_REALTIME minus the commit time the change event
 * carries (the daemon's CLOCK_REALTIME): both clocks are this machine's, so no skew enters.
 * Changes are made one at a time as the release manager "rita" (an actor of the test daemon).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"
#include "gatekeeper.h"
#include "stats.h"

#define MAX_REPS 5
#define MAX_PER  10

/* What the change handler saw last, under `lock`. */
typedef struct watch {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned long events;       /* every event */
    unsigned long flag_events;  /* events naming GKB_FLAG (or any flag) */
    int64_t committed_at_us;    /* of the last such event */
    int64_t arrived_us;         /* CLOCK_REALTIME when the handler ran for it */
} watch;

static void
on_change(const gk_change_event *event, void *user)
{
    int64_t now = gkd_clock_wall_us();
    watch *w = user;
    int named = event->nflags == 0;

    for (size_t i = 0; i < event->nflags && !named; i++) {
        named = strcmp(event->flags[i], GKB_FLAG) == 0;
    }
    pthread_mutex_lock(&w->lock);
    w->events++;
    if (named) {
        w->flag_events++;
        w->committed_at_us = event->committed_at_us;
        w->arrived_us = now;
    }
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Waits at most timeout_ms for *counter (events or flag_events) to pass `seen`; 0 or -1. */
static int
wait_event(watch *w, const unsigned long *counter, unsigned long seen, int timeout_ms)
{
    struct timespec until;
    int rv = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (*counter <= seen && rv == 0) {
        rv = pthread_cond_timedwait(&w->cond, &w->lock, &until);
    }
    rv = *counter > seen ? 0 : -1;
    pthread_mutex_unlock(&w->lock);
    return rv;
}

static unsigned long
counter_now(watch *w, const unsigned long *counter)
{
    unsigned long v;

    pthread_mutex_lock(&w->lock);
    v = *counter;
    pthread_mutex_unlock(&w->lock);
    return v;
}

int
gkb_admin_try(const gkt_daemon *d, const char *op, const char *args, const char *why,
              char *message, size_t size)
{
    char *reply = NULL;
    json_t *doc;
    int rv = gkt_admin(d, 0, op, args, why, 0, &reply), ok;

    doc = rv == 0 && reply != NULL ? json_loads(reply, 0, NULL) : NULL;
    ok = json_is_true(json_object_get(doc, "ok"));
    if (!ok && size > 0) {
        snprintf(message, size, "%s", reply != NULL ? reply : "no reply");
    }
    json_decref(doc);
    free(reply);
    return ok ? 0 : -1;
}

int
gkb_admin_change(gkb_run *run, const gkt_daemon *d, const char *op, const char *args,
                 const char *why)
{
    char message[512];

    if (gkb_admin_try(d, op, args, why, message, sizeof(message)) != 0) {
        gkb_fail(run, "admin %s %s was not done: %s", op, args, message);
        return -1;
    }
    return 0;
}

static int
open_watching_client(gkb_run *run, watch *w, gk_client **clientp, gk_context **ctxp)
{
    gk_options *opts = NULL;
    gk_diag diag = {0};
    int ok;

    if (gk_options_new(&opts) != GK_OK) {
        return -1;
    }
    ok = gk_options_add_endpoint(opts, run->daemon.tcp_url) == GK_OK &&
         gk_options_set_jwks_file(opts, run->daemon.jwks_path) == GK_OK &&
         gk_options_set_cache_ttl_ms(opts, 3600000) == GK_OK &&
         gk_options_set_timeout_ms(opts, 1000) == GK_OK &&
         gk_options_set_events_endpoint(opts, run->daemon.events_url) == GK_OK &&
         gk_options_set_change_handler(opts, on_change, w) == GK_OK &&
         gk_options_set_telemetry_endpoint(opts, NULL) == GK_OK &&
         gk_client_open(clientp, opts, &diag) == GK_OK && gk_context_new(ctxp, "tenant-42") == GK_OK &&
         gk_context_set_string(*ctxp, "tenantId", "tenant-42") == GK_OK &&
         gk_context_set_string(*ctxp, "service", GKB_SERVICE) == GK_OK;
    gk_options_free(opts);
    if (!ok) {
        fprintf(stderr, "gk-bench: cannot open a subscribed SDK client: %s\n", diag.text);
    }
    return ok ? 0 : -1;
}

/* Figure 8: rollout.set round trips, alternating 20 % and 30 %; also warms the subscription. */
static int
bench_commit(gkb_run *run, watch *w, int reps, int per)
{
    gkb_figure *f50 = gkb_figure_add(run, "8 admin change commit p50", "ms");
    gkb_figure *f99 = gkb_figure_add(run, "8 admin change commit p99", "ms");
    double p50[MAX_REPS], p99[MAX_REPS], samples[MAX_PER];
    int k = 0;

    if (f50 == NULL || f99 == NULL) {
        return -1;
    }
    gkb_progress("admin commits: %d reps of %d rollout.set changes", reps, per);
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < per; i++, k++) {
            char args[96];
            uint64_t t0;
            unsigned long seen = counter_now(w, &w->events);

            snprintf(args, sizeof(args), "{\"key\": \"bench.flag_00000\", \"percent\": %d}",
                     k % 2 == 0 ? 30 : 20);
            t0 = gkd_clock_mono_ns();
            if (gkb_admin_change(run, &run->daemon, "rollout.set", args,
                                 "benchmark: admin commit latency") != 0) {
                gkb_figure_not_measured(f50, "a change was refused");
                gkb_figure_not_measured(f99, "a change was refused");
                return -1;
            }
            samples[i] = (double) (gkd_clock_mono_ns() - t0) / 1e6;
            /* let the event pass before the next change (and know the subscription is up) */
            wait_event(w, &w->events, seen, k < 3 ? 3000 : 1000);
        }
        gkb_sort(samples, (size_t) per);
        p50[r] = gkb_percentile(samples, (size_t) per, 50);
        p99[r] = gkb_percentile(samples, (size_t) per, 99);
    }
    gkb_figure_set(f50, p50, (size_t) reps);
    gkb_figure_set(f99, p99, (size_t) reps);
    return 0;
}

/* Figure 7: kill -> the SDK's handler, per kill; every kill is undone before the next. */
static void
bench_kill(gkb_run *run, watch *w, gk_client *client, gk_context *ctx, int reps, int per,
           gkb_figure *f50, gkb_figure *f99)
{
    static const char *const args = "{\"key\": \"" GKB_FLAG "\"}";
    double p50[MAX_REPS], p99[MAX_REPS], samples[MAX_PER];
    const char *problem = NULL;
    gk_detail detail;
    bool on;

    if (f50 == NULL || f99 == NULL) {
        return;
    }
    gkb_progress("kill switch: %d reps of %d kills (each undone)", reps, per);
    for (int r = 0; r < reps && problem == NULL; r++) {
        for (int i = 0; i < per && problem == NULL; i++) {
            unsigned long seen;
            int64_t committed, arrived;

            /* the decision is in the cache before each kill */
            gk_client_eval_bool(client, GKB_FLAG, ctx, false, &on, &detail);
            gk_client_eval_bool(client, GKB_FLAG, ctx, false, &on, &detail);
            if (detail.reason != GK_REASON_CACHED) {
                problem = "the decision was not cached before the kill";
                break;
            }
            seen = counter_now(w, &w->flag_events);
            if (gkb_admin_change(run, &run->daemon, "flag.kill", args,
                                 "benchmark: kill switch latency") != 0) {
                problem = "flag.kill was refused";
                break;
            }
            if (wait_event(w, &w->flag_events, seen, 2000) != 0) {
                problem = "no change event reached the SDK within 2 s";
                break;
            }
            pthread_mutex_lock(&w->lock);
            committed = w->committed_at_us;
            arrived = w->arrived_us;
            pthread_mutex_unlock(&w->lock);
            if (committed <= 0) {
                problem = "the change event carries no commit time";
                break;
            }
            samples[i] = (double) (arrived - committed) / 1e3;
            if (r == 0 && i == 0) {
                gk_client_eval_bool(client, GKB_FLAG, ctx, false, &on, &detail);
                if (detail.reason != GK_REASON_DISABLED) {
                    gkb_fail(run, "after the kill switch %s answered %s, not DISABLED", GKB_FLAG,
                             gk_reason_str(detail.reason));
                    problem = "the killed flag was not DISABLED";
                    break;
                }
            }
            seen = counter_now(w, &w->flag_events);
            if (gkb_admin_change(run, &run->daemon, "flag.unkill", args,
                                 "benchmark: kill switch latency, undone") != 0 ||
                wait_event(w, &w->flag_events, seen, 2000) != 0) {
                problem = "flag.unkill was refused or not announced";
                break;
            }
        }
        if (problem == NULL) {
            gkb_sort(samples, (size_t) per);
            p50[r] = gkb_percentile(samples, (size_t) per, 50);
            p99[r] = gkb_percentile(samples, (size_t) per, 99);
        }
    }
    if (problem != NULL) {
        gkb_fail(run, "kill switch: %s", problem);
        gkb_figure_not_measured(f50, "%s", problem);
        gkb_figure_not_measured(f99, "%s", problem);
        return;
    }
    gkb_figure_set(f50, p50, (size_t) reps);
    gkb_figure_bar(f50, GKB_BAR_MAX, 5, 0);
    gkb_figure_set(f99, p99, (size_t) reps);
    gkb_figure_bar(f99, GKB_BAR_MAX, 5, 0);
}

int
gkb_bench_changes(gkb_run *run)
{
    static watch w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};
    gk_client *client = NULL;
    gk_context *ctx = NULL;
    int reps = run->quick ? 2 : MAX_REPS, per = run->quick ? 4 : MAX_PER;
    gkb_figure *f50, *f99;

    if (open_watching_client(run, &w, &client, &ctx) != 0) {
        gk_client_close(client);
        gkb_fail(run, "no SDK client for the change figures");
        return 0;
    }
    /* the commits run first: they also make sure the subscription is up before the kills */
    f50 = gkb_figure_add(run, "7 kill switch -> SDK cache dropped p50", "ms");
    f99 = gkb_figure_add(run, "7 kill switch -> SDK cache dropped p99", "ms");
    if (bench_commit(run, &w, reps, per) == 0) {
        bench_kill(run, &w, client, ctx, reps, per, f50, f99);
    } else if (f50 != NULL && f99 != NULL) {
        gkb_figure_not_measured(f50, "admin changes failed");
        gkb_figure_not_measured(f99, "admin changes failed");
    }
    gk_context_free(ctx);
    gk_client_close(client);
    return 0;
}
