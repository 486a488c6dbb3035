/*
 * cache.c - figure 6: one gk_client_eval_bool answered from the SDK's cache (reason CACHED), in
 * nanoseconds per call, on one thread and on two threads sharing the client (each thread timing
 * its own loop; the worse thread is reported).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "gatekeeper.h"

#define MAX_REPS 5

typedef struct cache_loop {
    gk_client *client;
    gk_context *ctx;
    long calls;
    pthread_barrier_t *start;
    double ns_per_call;
    int last_reason;
} cache_loop;

static void *
cache_thread(void *arg)
{
    cache_loop *l = arg;
    gk_detail detail;
    bool on;
    uint64_t t0;

    if (l->start != NULL) {
        pthread_barrier_wait(l->start);
    }
    t0 = gkd_clock_mono_ns();
    for (long i = 0; i < l->calls; i++) {
        gk_client_eval_bool(l->client, GKB_FLAG, l->ctx, false, &on, &detail);
    }
    l->ns_per_call = (double) (gkd_clock_mono_ns() - t0) / (double) l->calls;
    l->last_reason = (int) detail.reason;
    return NULL;
}

/* One rep on `nthreads` threads; the worst ns per call, or -1 when an answer was not CACHED. */
static double
cache_rep(gk_client *client, gk_context *ctx, long calls, int nthreads)
{
    cache_loop loops[2];
    pthread_t threads[2];
    pthread_barrier_t start;
    double worst = 0;

    pthread_barrier_init(&start, NULL, (unsigned) nthreads);
    for (int i = 0; i < nthreads; i++) {
        loops[i] = (cache_loop){client, ctx, calls, nthreads > 1 ? &start : NULL, 0, 0};
    }
    if (nthreads == 1) {
        cache_thread(&loops[0]);
    } else {
        for (int i = 0; i < nthreads; i++) {
            pthread_create(&threads[i], NULL, cache_thread, &loops[i]);
        }
        for (int i = 0; i < nthreads; i++) {
            pthread_join(threads[i], NULL);
        }
    }
    pthread_barrier_destroy(&start);
    for (int i = 0; i < nthreads; i++) {
        if (loops[i].last_reason != GK_REASON_CACHED) {
            return -1;
        }
        worst = loops[i].ns_per_call > worst ? loops[i].ns_per_call : worst;
    }
    return worst;
}

int
gkb_bench_cache(gkb_run *run)
{
    gkb_figure *f1 = gkb_figure_add(run, "6 SDK cache hit, 1 thread", "ns");
    gkb_figure *f2 = gkb_figure_add(run, "6 SDK cache hit, 2 threads (worse)", "ns");
    gk_options *opts = NULL;
    gk_client *client = NULL;
    gk_context *ctx = NULL;
    gk_diag diag = {0};
    gk_detail detail;
    long calls = run->quick ? 300000 : 3000000;
    int reps = run->quick ? 3 : MAX_REPS, ok;
    double one[MAX_REPS], two[MAX_REPS];
    bool on;

    if (f1 == NULL || f2 == NULL || gk_options_new(&opts) != GK_OK) {
        return 0;
    }
    ok = gk_options_add_endpoint(opts, run->daemon.tcp_url) == GK_OK &&
         gk_options_set_jwks_file(opts, run->daemon.jwks_path) == GK_OK &&
         gk_options_set_cache_ttl_ms(opts, 3600000) == GK_OK &&
         gk_options_set_timeout_ms(opts, 1000) == GK_OK &&
         gk_options_set_events_endpoint(opts, NULL) == GK_OK &&
         gk_options_set_telemetry_endpoint(opts, NULL) == GK_OK &&
         gk_client_open(&client, opts, &diag) == GK_OK &&
         gk_context_new(&ctx, "tenant-42") == GK_OK &&
         gk_context_set_string(ctx, "tenantId", "tenant-42") == GK_OK &&
         gk_context_set_string(ctx, "service", GKB_SERVICE) == GK_OK &&
         gk_client_eval_bool(client, GKB_FLAG, ctx, false, &on, &detail) == GK_OK &&
         detail.reason != GK_REASON_ERROR && detail.reason != GK_REASON_STALE &&
         gk_client_eval_bool(client, GKB_FLAG, ctx, false, &on, &detail) == GK_OK &&
         detail.reason == GK_REASON_CACHED;
    gk_options_free(opts);
    if (!ok) {
        gkb_fail(run, "the SDK cache did not answer %s from the cache (%s)", GKB_FLAG,
                 diag.text[0] ? diag.text : detail.error_message);
        gkb_figure_not_measured(f1, "no cached decision");
        gkb_figure_not_measured(f2, "no cached decision");
    } else {
        gkb_progress("SDK cache hits: %d reps of %ld calls on 1 and on 2 threads", reps, calls);
        for (int r = 0; ok && r < reps; r++) {
            one[r] = cache_rep(client, ctx, calls, 1);
            two[r] = cache_rep(client, ctx, calls, 2);
            ok = one[r] > 0 && two[r] > 0;
        }
        if (!ok) {
            gkb_fail(run, "a cache-hit loop got an answer that was not CACHED");
            gkb_figure_not_measured(f1, "an answer was not CACHED");
            gkb_figure_not_measured(f2, "an answer was not CACHED");
        } else {
            gkb_figure_set(f1, one, (size_t) reps);
            gkb_figure_bar(f1, GKB_BAR_MAX, 200, 0);
            gkb_figure_set(f2, two, (size_t) reps);
            gkb_figure_bar(f2, GKB_BAR_MAX, 200, 0);
        }
    }
    gk_context_free(ctx);
    gk_client_close(client);
    return 0;
}
