/*
 * latency.c - figures 1 and 3: a fresh signed single-flag decision through the SDK with its cache
 * off, over tcp and ipc, next to the echo floor; and one request for all 20 flags.
 *
 * Over tcp a second floor: an echo server that busy-waits figure 4's median (the daemon's
 * in-process work, measured earlier in the run) before each reply. On a small machine a server
 * busy for W µs adds more than W µs to a round trip (the other threads go idle meanwhile), so
 * this floor says how much of the decision's latency the daemon's own work explains; the
 * "client-side share" is what the decision adds beyond it (the SDK's work and everything else).
 *
 * Requests are sequential from one thread. Each repetition runs the echo, the spun echo, the
 * single-flag decision and (over tcp) the 20-flag request back to back, so a slow moment of the
 * machine lands on all of them rather than on one; the p50 and p99 of each repetition are kept,
 * and the figure is their median over repetitions with the spread.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "echo.h"
#include "gatekeeper.h"
#include "stats.h"

#define MAX_REPS 5

typedef int (*call_fn)(void *arg);

/* What a decision call needs, and what it checks. */
typedef struct sdk_caller {
    gk_client *client;
    gk_context *ctx;
    int all;    /* gk_client_eval_all instead of one flag */
    char why[320];
} sdk_caller;

static int
sdk_call(void *arg)
{
    sdk_caller *c = arg;
    gk_detail detail;
    bool on;

    if (c->all) {
        gk_decision_set *set = NULL;
        size_t count;

        if (gk_client_eval_all(c->client, c->ctx, &set, &detail) != GK_OK) {
            snprintf(c->why, sizeof(c->why), "gk_client_eval_all failed");
            return -1;
        }
        count = gk_decision_set_count(set);
        gk_decision_set_free(set);
        if (count != GKB_FLAGS_IN_DOC) {
            snprintf(c->why, sizeof(c->why), "gk_client_eval_all gave %zu decisions, not %d (%s)",
                     count, GKB_FLAGS_IN_DOC, detail.error_message);
            return -1;
        }
        return 0;
    }
    if (gk_client_eval_bool(c->client, GKB_FLAG, c->ctx, false, &on, &detail) != GK_OK ||
        detail.reason == GK_REASON_ERROR || detail.reason == GK_REASON_STALE ||
        detail.reason == GK_REASON_CACHED || detail.snapshot_version == 0) {
        snprintf(c->why, sizeof(c->why), "%s: reason %s, %s", GKB_FLAG,
                 gk_reason_str(detail.reason), detail.error_message);
        return -1;
    }
    return 0;
}

static int
echo_call(void *arg)
{
    return gkb_echo_call(arg);
}

/* n sequential calls; p50 and p99 in µs. Returns 0, or -1 when a call failed. */
static int
run_rep(call_fn fn, void *arg, double *samples, size_t n, double *p50, double *p99)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = gkd_clock_mono_ns();
        if (fn(arg) != 0) {
            return -1;
        }
        samples[i] = (double) (gkd_clock_mono_ns() - t0) / 1e3;
    }
    gkb_sort(samples, n);
    *p50 = gkb_percentile(samples, n, 50);
    *p99 = gkb_percentile(samples, n, 99);
    return 0;
}

static int
open_sdk(gkb_run *run, sdk_caller *c, const char *url, int all)
{
    gk_options *opts = NULL;
    gk_diag diag = {0};
    int ok;

    memset(c, 0, sizeof(*c));
    c->all = all;
    if (gk_options_new(&opts) != GK_OK) {
        return -1;
    }
    ok = gk_options_add_endpoint(opts, url) == GK_OK &&
         gk_options_set_jwks_file(opts, run->daemon.jwks_path) == GK_OK &&
         gk_options_set_cache_disabled(opts, true) == GK_OK &&
         gk_options_set_timeout_ms(opts, 1000) == GK_OK &&
         gk_options_set_events_endpoint(opts, NULL) == GK_OK &&
         gk_options_set_telemetry_endpoint(opts, NULL) == GK_OK &&
         gk_client_open(&c->client, opts, &diag) == GK_OK;
    gk_options_free(opts);
    ok = ok && gk_context_new(&c->ctx, "tenant-42") == GK_OK &&
         gk_context_set_string(c->ctx, "tenantId", "tenant-42") == GK_OK &&
         gk_context_set_string(c->ctx, "service", GKB_SERVICE) == GK_OK;
    if (!ok) {
        fprintf(stderr, "gk-bench: cannot open an SDK client on %s: %s\n", url, diag.text);
        gk_client_close(c->client);
        c->client = NULL;
        return -1;
    }
    return 0;
}

static void
close_sdk(sdk_caller *c)
{
    gk_context_free(c->ctx);
    gk_client_close(c->client);
}

/* The spun-echo rows of the tcp figures. */
typedef struct spun_rows {
    gkb_figure *p50, *p99, *share;
    double v50[MAX_REPS], v99[MAX_REPS];
} spun_rows;

static int
spun_rows_add(gkb_run *run, spun_rows *s)
{
    s->p50 = gkb_figure_add(run, "  floor: echo + in-process decision time p50, tcp", "us");
    s->p99 = gkb_figure_add(run, "  floor: echo + in-process decision time p99, tcp", "us");
    s->share = gkb_figure_add(run, "  client-side share: decision - spun echo p50, tcp", "us");
    return s->p50 != NULL && s->p99 != NULL && s->share != NULL ? 0 : -1;
}

static void
spun_rows_set(spun_rows *s, const double *dec50, int reps, double e50, double e99)
{
    double share[MAX_REPS];

    for (int r = 0; r < reps; r++) {
        share[r] = dec50[r] - s->v50[r];
    }
    gkb_figure_set(s->p50, s->v50, (size_t) reps);
    gkb_figure_bar(s->p50, GKB_BAR_NONE, 0, e50);
    gkb_figure_set(s->p99, s->v99, (size_t) reps);
    gkb_figure_bar(s->p99, GKB_BAR_NONE, 0, e99);
    gkb_figure_set(s->share, share, (size_t) reps);
}

static void
spun_rows_not_measured(spun_rows *s, const char *why)
{
    gkb_figure_not_measured(s->p50, "%s", why);
    gkb_figure_not_measured(s->p99, "%s", why);
    gkb_figure_not_measured(s->share, "%s", why);
}

/*
 * Figures of one transport: decision and echo p50/p99. For tcp also the 20-flag request and,
 * when spun_url is not NULL, the spun echo.
 */
static void
bench_transport(gkb_run *run, const char *name, const char *daemon_url, const char *echo_url,
                int tcp, const char *spun_url)
{
    size_t n = run->quick ? 300 : 5000, warm = run->quick ? 50 : 500;
    int reps = run->quick ? 3 : MAX_REPS, ok = 1;
    double *samples = malloc(n * sizeof(double));
    double dec50[MAX_REPS], dec99[MAX_REPS], echo50[MAX_REPS], echo99[MAX_REPS];
    double all50[MAX_REPS], all99[MAX_REPS], e50, e99;
    sdk_caller single, all;
    gkb_echo_client echo, spun = {0};
    spun_rows sr = {0};
    char label[80];
    gkb_figure *f_dec50, *f_dec99, *f_echo50, *f_echo99, *f_all = NULL;

    snprintf(label, sizeof(label), "1 fresh decision p50, %s", name);
    f_dec50 = gkb_figure_add(run, label, "us");
    snprintf(label, sizeof(label), "1 fresh decision p99, %s", name);
    f_dec99 = gkb_figure_add(run, label, "us");
    snprintf(label, sizeof(label), "  floor: echo p50, %s", name);
    f_echo50 = gkb_figure_add(run, label, "us");
    snprintf(label, sizeof(label), "  floor: echo p99, %s", name);
    f_echo99 = gkb_figure_add(run, label, "us");
    if (tcp && spun_rows_add(run, &sr) != 0) {
        free(samples);
        return;
    }
    if (tcp) {
        f_all = gkb_figure_add(run, "3 all 20 flags in one request p50, tcp", "us");
    }
    if (samples == NULL || f_dec50 == NULL || f_dec99 == NULL || f_echo50 == NULL ||
        f_echo99 == NULL || (tcp && f_all == NULL)) {
        free(samples);
        return;
    }
    if (tcp && spun_url == NULL) {
        spun_rows_not_measured(&sr, run->decision_us > 0 ? "the spun echo server did not start"
                                                         : "figure 4 was not measured");
    }
    if (open_sdk(run, &single, daemon_url, 0) != 0) {
        free(samples);
        return;
    }
    if (tcp && open_sdk(run, &all, daemon_url, 1) != 0) {
        close_sdk(&single);
        free(samples);
        return;
    }
    if (gkb_echo_client_open(&echo, echo_url, run->reply_bytes) != 0) {
        fprintf(stderr, "gk-bench: cannot dial the echo server at %s\n", echo_url);
        ok = 0;
    }
    if (ok && spun_url != NULL && gkb_echo_client_open(&spun, spun_url, run->reply_bytes) != 0) {
        fprintf(stderr, "gk-bench: cannot dial the spun echo server at %s\n", spun_url);
        ok = 0;
    }
    gkb_progress("latency over %s: %d reps of %zu sequential requests each (echo%s, decision%s)",
                 name, reps, n, spun_url != NULL ? ", spun echo" : "", tcp ? ", 20 flags" : "");
    for (size_t i = 0; ok && i < warm; i++) {
        ok = sdk_call(&single) == 0 && echo_call(&echo) == 0 &&
             (spun_url == NULL || echo_call(&spun) == 0) && (!tcp || sdk_call(&all) == 0);
    }
    for (int r = 0; ok && r < reps; r++) {
        if (run_rep(echo_call, &echo, samples, n, &echo50[r], &echo99[r]) != 0 ||
            (spun_url != NULL &&
             run_rep(echo_call, &spun, samples, n, &sr.v50[r], &sr.v99[r]) != 0) ||
            run_rep(sdk_call, &single, samples, n, &dec50[r], &dec99[r]) != 0 ||
            (tcp && run_rep(sdk_call, &all, samples, n, &all50[r], &all99[r]) != 0)) {
            ok = 0;
            break;
        }
        gkb_progress("  %s rep %d/%d: decision p50 %.0f us p99 %.0f us, echo p50 %.0f us p99 "
                     "%.0f us",
                     name, r + 1, reps, dec50[r], dec99[r], echo50[r], echo99[r]);
        if (spun_url != NULL) {
            gkb_progress("  %s rep %d/%d: echo spinning %.1f us p50 %.0f us p99 %.0f us", name,
                         r + 1, reps, run->decision_us, sr.v50[r], sr.v99[r]);
        }
    }
    if (!ok) {
        const char *why = single.why[0] ? single.why : tcp && all.why[0] ? all.why
                                                                           : "an echo failed";
        gkb_fail(run, "a request over %s failed: %s", name, why);
        gkb_figure_not_measured(f_dec50, "a request failed");
        gkb_figure_not_measured(f_dec99, "a request failed");
        if (spun_url != NULL) {
            spun_rows_not_measured(&sr, "a request failed");
        }
    } else {
        gkb_figure_set(f_echo50, echo50, (size_t) reps);
        gkb_figure_set(f_echo99, echo99, (size_t) reps);
        e50 = f_echo50->median;
        e99 = f_echo99->median;
        gkb_figure_set(f_dec50, dec50, (size_t) reps);
        gkb_figure_bar(f_dec50, GKB_BAR_RATIO_MAX, 1.3, e50);
        gkb_figure_set(f_dec99, dec99, (size_t) reps);
        gkb_figure_bar(f_dec99, GKB_BAR_RATIO_MAX, 1.5, e99);
        if (spun_url != NULL) {
            spun_rows_set(&sr, dec50, reps, e50, e99);
        }
        if (tcp) {
            run->single_p50_tcp_us = f_dec50->median;
            gkb_figure_set(f_all, all50, (size_t) reps);
            gkb_figure_bar(f_all, GKB_BAR_RATIO_MAX, 1.5, run->single_p50_tcp_us);
        }
    }
    if (spun.req != NULL) {
        gkb_echo_client_close(&spun);
    }
    if (echo.req != NULL) {
        gkb_echo_client_close(&echo);
    }
    if (tcp) {
        close_sdk(&all);
    }
    close_sdk(&single);
    free(samples);
}

int
gkb_bench_latency(gkb_run *run)
{
    gkb_child spun;
    char ipc_url[300], tcp_url[256];
    int spun_up = 0;

    if (run->decision_us > 0) {
        snprintf(ipc_url, sizeof(ipc_url), "ipc://%s/echo-spun.sock", run->dir);
        gkb_progress("starting an echo server that spins %.1f us (figure 4) before each reply",
                     run->decision_us);
        spun_up = gkb_echo_start(&spun, run->self, ipc_url, run->reply_bytes, run->decision_us,
                                 tcp_url, sizeof(tcp_url)) == 0;
    }
    bench_transport(run, "tcp", run->daemon.tcp_url, run->echo_tcp_url, 1,
                    spun_up ? tcp_url : NULL);
    if (spun_up) {
        gkb_child_finish(&spun, 5000);
    }
    bench_transport(run, "ipc", run->daemon.ipc_url, run->echo_ipc_url, 0, NULL);
    return 0;
}
