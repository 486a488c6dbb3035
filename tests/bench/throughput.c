/*
 * throughput.c - figure 2: decisions per second with 1, 4 and 16 concurrent clients, each a
 * separate process with its own SDK client (cache off) making sequential requests over tcp, next
 * to the same number of echo clients (the same round-trip function) against the echo server.
 *
 * Every client connects and warms up first, says "ready", and starts on the harness's "go", so
 * that all of them run over the same window; each reports its count and its own elapsed time, and
 * a point's rate is the sum of the clients' rates. Echo and decision runs alternate per
 * repetition.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_CLIENTS 16
#define MAX_REPS    3

/* One run of `nclients` client processes of `kind`; requests per second summed, or -1. */
static double
run_point(gkb_run *run, const char *kind, int nclients, double seconds)
{
    gkb_child kids[MAX_CLIENTS];
    char secs[32], reply_bytes[32], line[128];
    const char *url = strcmp(kind, "echo") == 0 ? run->echo_tcp_url : run->daemon.tcp_url;
    const char *argv[] = {run->self, "--client", kind, "--url", url, "--jwks",
                          run->daemon.jwks_path, "--reply-bytes", reply_bytes, "--seconds", secs,
                          NULL};
    double rate = 0;
    int started = 0, ok = 1;

    snprintf(secs, sizeof(secs), "%g", seconds);
    snprintf(reply_bytes, sizeof(reply_bytes), "%zu", run->reply_bytes);
    for (; started < nclients; started++) {
        if (gkb_spawn(&kids[started], argv) != 0) {
            ok = 0;
            break;
        }
    }
    for (int i = 0; ok && i < started; i++) {
        if (gkb_child_readline(&kids[i], line, sizeof(line), 20000) != 0 ||
            strcmp(line, "ready") != 0) {
            fprintf(stderr, "gk-bench: %s client %d did not get ready\n", kind, i);
            ok = 0;
        }
    }
    for (int i = 0; ok && i < started; i++) {
        ok = gkb_child_write(&kids[i], "go") == 0;
    }
    for (int i = 0; ok && i < started; i++) {
        unsigned long long count, errors, elapsed;

        if (gkb_child_readline(&kids[i], line, sizeof(line), (int) (seconds * 1000) + 20000) != 0 ||
            sscanf(line, "%llu %llu %llu", &count, &errors, &elapsed) != 3 || elapsed == 0) {
            fprintf(stderr, "gk-bench: %s client %d reported nothing\n", kind, i);
            ok = 0;
            break;
        }
        if (errors > 0) {
            fprintf(stderr, "gk-bench: %s client %d: %llu of %llu requests failed\n", kind, i,
                    errors, errors + count);
            ok = 0;
        }
        rate += (double) count / ((double) elapsed / 1e9);
    }
    for (int i = 0; i < started; i++) {
        if (gkb_child_finish(&kids[i], 10000) != 0) {
            ok = 0;
        }
    }
    return ok ? rate : -1;
}

int
gkb_bench_throughput(gkb_run *run)
{
    static const int points[] = {1, 4, 16};
    int reps = run->quick ? 1 : MAX_REPS;
    double seconds = run->quick ? 0.5 : 2.0;

    for (size_t p = 0; p < sizeof(points) / sizeof(points[0]); p++) {
        int n = points[p];
        double dec[MAX_REPS], echo[MAX_REPS];
        char label[80];
        gkb_figure *f_dec, *f_echo;
        int ok = 1;

        snprintf(label, sizeof(label), "2 throughput, %d client%s, tcp", n, n == 1 ? "" : "s");
        f_dec = gkb_figure_add(run, label, "req/s");
        snprintf(label, sizeof(label), "  floor: echo, %d client%s, tcp", n, n == 1 ? "" : "s");
        f_echo = gkb_figure_add(run, label, "req/s");
        if (f_dec == NULL || f_echo == NULL) {
            return 0;
        }
        gkb_progress("throughput with %d client process%s: %d reps of %.1f s (echo, decisions)",
                     n, n == 1 ? "" : "es", reps, seconds);
        for (int r = 0; ok && r < reps; r++) {
            echo[r] = run_point(run, "echo", n, seconds);
            dec[r] = echo[r] >= 0 ? run_point(run, "sdk", n, seconds) : -1;
            ok = echo[r] > 0 && dec[r] > 0;
            if (ok) {
                gkb_progress("  %d clients rep %d/%d: %.0f decisions/s, echo %.0f/s", n, r + 1,
                             reps, dec[r], echo[r]);
            }
        }
        if (!ok) {
            gkb_fail(run, "a throughput run with %d clients failed", n);
            gkb_figure_not_measured(f_dec, "a client failed");
            gkb_figure_not_measured(f_echo, "a client failed");
            continue;
        }
        gkb_figure_set(f_echo, echo, (size_t) reps);
        gkb_figure_set(f_dec, dec, (size_t) reps);
        gkb_figure_bar(f_dec, GKB_BAR_RATIO_MIN, 0.7, f_echo->median);
    }
    return 0;
}
