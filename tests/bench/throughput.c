/*
 * throughput.c - figure 2: decisions per second with 1, 4 and 16 concurrent clients, each a
 * separate process with its own SDK client (cache off) making sequential requests over tcp, next
 * to the same number of echo clients (the same round-trip function) against the echo server.
 *
 * Every client connects and warms up first, says "ready", and starts on the harness's "go", so
 * that all of them run over the same window; each reports its count and its own elapsed time, and
 * a point's rate is the sum of the clients' rates. Echo and decision runs alternate per
 * repetition.
 *
 * Two more servers are measured in the same alternation, each an echo that spins (in CPU time)
 * before each reply: for figure 4's pool-empty median, what one request costs a saturated
 * gatekeeper in process (parse, engine, policies, claims and an inline Ed25519 signature: a nonce
 * pool is refilled ahead only when a CPU is idle), and for that run's signing stage alone, the one
 * cost that signing every decision as a standard JWS (RFC 7515, EdDSA per RFC 8037) makes
 * unavoidable. Their rates are those of servers that do exactly that work and nothing else:
 * ceilings for any gatekeeper with that in-process cost, and for any that signs each decision, on
 * this machine.
 *
 * Both vCPUs are shared by the clients and the server, so a point is CPU-bound: the progress
 * lines also say what one request cost in CPU time and context switches, on the client side (the
 * clients' own getrusage over their window) and on the server side (/proc over the same window:
 * utime + stime of /proc/PID/stat, the switches of every thread in /proc/PID/task/TID/status).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "echo.h"

#define MAX_CLIENTS 16
#define MAX_REPS    3

/* What a process has used so far: CPU time (user + system, ns) and context switches. */
typedef struct usage {
    double cpu_ns;
    double switches;
} usage;

/* Per request of a point: CPU µs and context switches, clients' and server's. */
typedef struct cost {
    double client_us, client_cs, server_us, server_cs;
} cost;

/* The usage of process `pid` from /proc; zeros when it cannot be read. */
static usage
proc_usage(pid_t pid)
{
    usage u = {0, 0};
    unsigned long long ut, st;
    char path[96], buf[1024], *p;
    FILE *f;
    DIR *d;
    struct dirent *e;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long) pid);
    f = fopen(path, "r");
    if (f != NULL) {
        /* fields 14 and 15 (utime, stime), counted after the ")" that ends the command name */
        if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) ==
                2) {
            u.cpu_ns = (double) (ut + st) * 1e9 / (double) sysconf(_SC_CLK_TCK);
        }
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%ld/task", (long) pid);
    d = opendir(path);
    while (d != NULL && (e = readdir(d)) != NULL) {
        unsigned long long n;

        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/status", (long) pid, e->d_name);
        f = fopen(path, "r");
        while (f != NULL && fgets(buf, sizeof(buf), f) != NULL) {
            if (sscanf(buf, "voluntary_ctxt_switches: %llu", &n) == 1 ||
                sscanf(buf, "nonvoluntary_ctxt_switches: %llu", &n) == 1) {
                u.switches += (double) n;
            }
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return u;
}

/* A server the clients of a point talk to: the daemon ("sdk" clients) or an echo ("echo"). */
typedef struct target {
    const char *kind;
    const char *name; /* for messages: which server */
    const char *url;
    pid_t pid;
} target;

/*
 * One run of `nclients` client processes against `t`; requests per second summed, or -1. *c gets
 * the cost of one request.
 */
static double
run_point(gkb_run *run, const target *t, int nclients, double seconds, cost *c)
{
    const char *kind = t->kind;
    pid_t server = t->pid;
    usage s0, s1;
    double requests = 0, client_ns = 0, client_cs = 0;
    gkb_child kids[MAX_CLIENTS];
    char secs[32], reply_bytes[32], line[128];
    const char *argv[] = {run->self, "--client", kind, "--url", t->url, "--jwks",
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
            fprintf(stderr, "gk-bench: %s client %d of the %s did not get ready\n", kind, i,
                    t->name);
            ok = 0;
        }
    }
    s0 = proc_usage(server);
    for (int i = 0; ok && i < started; i++) {
        ok = gkb_child_write(&kids[i], "go") == 0;
    }
    for (int i = 0; ok && i < started; i++) {
        unsigned long long count, errors, elapsed, cpu, switches;

        if (gkb_child_readline(&kids[i], line, sizeof(line), (int) (seconds * 1000) + 20000) != 0 ||
            sscanf(line, "%llu %llu %llu %llu %llu", &count, &errors, &elapsed, &cpu, &switches) !=
                5 ||
            elapsed == 0) {
            fprintf(stderr, "gk-bench: %s client %d of the %s reported nothing\n", kind, i,
                    t->name);
            ok = 0;
            break;
        }
        if (errors > 0) {
            fprintf(stderr, "gk-bench: %s client %d of the %s: %llu of %llu requests failed\n",
                    kind, i, t->name, errors, errors + count);
            ok = 0;
        }
        rate += (double) count / ((double) elapsed / 1e9);
        requests += (double) count;
        client_ns += (double) cpu;
        client_cs += (double) switches;
    }
    s1 = proc_usage(server);
    if (requests > 0) {
        c->client_us = client_ns / 1e3 / requests;
        c->client_cs = client_cs / requests;
        c->server_us = (s1.cpu_ns - s0.cpu_ns) / 1e3 / requests;
        c->server_cs = (s1.switches - s0.switches) / requests;
    }
    for (int i = 0; i < started; i++) {
        if (gkb_child_finish(&kids[i], 10000) != 0) {
            ok = 0;
        }
    }
    return ok ? rate : -1;
}

/* The figure `label` ("2 throughput" or "  floor: ..."), N clients, in req/s; NULL when full. */
static gkb_figure *
point_figure(gkb_run *run, const char *label, int n)
{
    char name[120];

    snprintf(name, sizeof(name), "%s, %d client%s, tcp", label, n, n == 1 ? "" : "s");
    return gkb_figure_add(run, name, "req/s");
}

/* A spun echo of the run: a floor row per point, spinning `us` of CPU per request. */
typedef struct spun_floor {
    const char *label; /* the rows' name, before ", N clients, tcp" */
    const char *name;  /* the server, in messages */
    const char *what;  /* what it spins, for the progress lines */
    double us;
    gkb_child child;
    target t;
    char url[256];
    int up;
} spun_floor;

#define NSPUN 2

/* Starts f's echo server (f->up says whether it did). */
static void
spun_start(gkb_run *run, spun_floor *f, int i)
{
    char ipc[300];

    f->t = (target){"echo", f->name, f->url, -1};
    if (f->us <= 0) {
        return;
    }
    snprintf(ipc, sizeof(ipc), "ipc://%s/echo-spun-throughput-%d.sock", run->dir, i);
    gkb_progress("starting an echo server that spins %.1f us of CPU (%s) before each reply", f->us,
                 f->what);
    f->up = gkb_echo_start(&f->child, run->self, ipc, run->reply_bytes, f->us, f->url,
                           sizeof(f->url)) == 0;
    f->t.pid = f->up ? f->child.pid : -1;
}

int
gkb_bench_throughput(gkb_run *run)
{
    static const int points[] = {1, 4, 16};
    int reps = run->quick ? 1 : MAX_REPS;
    double seconds = run->quick ? 0.5 : 2.0;
    spun_floor spun[NSPUN] = {
        {.label = "  floor: echo + decision CPU",
         .name = "echo spinning the decision's CPU",
         .what = "figure 4, nonce pool empty",
         .us = run->decision_inline_us},
        {.label = "  floor: echo + signing CPU",
         .name = "echo spinning the signing CPU",
         .what = "figure 4's signing stage, nonce pool empty",
         .us = run->sign_inline_us},
    };
    target t_dec = {"sdk", "gatekeeper", run->daemon.tcp_url, run->daemon.pid};
    target t_echo = {"echo", "echo server", run->echo_tcp_url, run->echo.pid};

    for (int i = 0; i < NSPUN; i++) {
        spun_start(run, &spun[i], i);
    }
    for (size_t p = 0; p < sizeof(points) / sizeof(points[0]); p++) {
        int n = points[p];
        double dec[MAX_REPS], echo[MAX_REPS], sp[NSPUN][MAX_REPS];
        gkb_figure *f_dec = point_figure(run, "2 throughput", n);
        gkb_figure *f_echo = point_figure(run, "  floor: echo", n);
        gkb_figure *f_spun[NSPUN];
        cost c_dec = {0, 0, 0, 0}, c_echo = {0, 0, 0, 0}, c_spun = {0, 0, 0, 0};
        int ok = f_dec != NULL && f_echo != NULL;
        int spun_ok[NSPUN]; /* a spun echo's rows are floors: their failure is their own */

        for (int i = 0; i < NSPUN; i++) {
            f_spun[i] = point_figure(run, spun[i].label, n);
            ok = ok && f_spun[i] != NULL;
            spun_ok[i] = spun[i].up;
        }
        if (!ok) {
            break;
        }
        gkb_progress("throughput with %d client process%s: %d reps of %.1f s (echo, spun echoes, "
                     "decisions)",
                     n, n == 1 ? "" : "es", reps, seconds);
        for (int r = 0; ok && r < reps; r++) {
            echo[r] = run_point(run, &t_echo, n, seconds, &c_echo);
            for (int i = 0; i < NSPUN; i++) {
                sp[i][r] = spun_ok[i] && echo[r] >= 0
                               ? run_point(run, &spun[i].t, n, seconds, &c_spun)
                               : -1;
                spun_ok[i] = spun_ok[i] && sp[i][r] > 0;
                if (spun_ok[i]) {
                    gkb_progress("  %d clients rep %d/%d: echo spinning %.1f us %.0f/s (%.2fx); "
                                 "per request %.0f + %.0f CPU us, %.1f + %.1f switches",
                                 n, r + 1, reps, spun[i].us, sp[i][r], sp[i][r] / echo[r],
                                 c_spun.client_us, c_spun.server_us, c_spun.client_cs,
                                 c_spun.server_cs);
                }
            }
            dec[r] = echo[r] >= 0 ? run_point(run, &t_dec, n, seconds, &c_dec) : -1;
            ok = echo[r] > 0 && dec[r] > 0;
            if (ok) {
                gkb_progress("  %d clients rep %d/%d: %.0f decisions/s, echo %.0f/s (%.2fx); per "
                             "request, client + server: decision %.0f + %.0f CPU us, %.1f + %.1f "
                             "switches; echo %.0f + %.0f CPU us, %.1f + %.1f switches",
                             n, r + 1, reps, dec[r], echo[r], dec[r] / echo[r], c_dec.client_us,
                             c_dec.server_us, c_dec.client_cs, c_dec.server_cs, c_echo.client_us,
                             c_echo.server_us, c_echo.client_cs, c_echo.server_cs);
            }
        }
        if (!ok) {
            gkb_fail(run, "a throughput run with %d clients failed", n);
            gkb_figure_not_measured(f_dec, "a client failed");
            gkb_figure_not_measured(f_echo, "a client failed");
            for (int i = 0; i < NSPUN; i++) {
                gkb_figure_not_measured(f_spun[i], "a client failed");
            }
            continue;
        }
        gkb_figure_set(f_echo, echo, (size_t) reps);
        gkb_figure_set(f_dec, dec, (size_t) reps);
        gkb_figure_bar(f_dec, GKB_BAR_RATIO_MIN, 0.7, f_echo->median);
        for (int i = 0; i < NSPUN; i++) {
            if (spun_ok[i]) {
                gkb_figure_set(f_spun[i], sp[i], (size_t) reps);
                gkb_figure_bar(f_spun[i], GKB_BAR_NONE, 0, f_echo->median);
            } else {
                gkb_figure_not_measured(f_spun[i], "%s",
                                        spun[i].up       ? "a spun echo client failed"
                                        : spun[i].us > 0 ? "the spun echo server did not start"
                                                         : "figure 4 was not measured");
            }
        }
    }
    for (int i = 0; i < NSPUN; i++) {
        if (spun[i].up) {
            gkb_child_finish(&spun[i].child, 5000);
        }
    }
    return 0;
}
