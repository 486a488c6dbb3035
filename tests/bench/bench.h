/*
 * bench.h - what the parts of gk-bench share: the run's settings, the figures it collects (each a
 * median over repetitions with its spread, and the bar it is held to), progress lines, and the
 * entry points of each group of figures.
 *
 * Clocks are the daemon's (gatekeeper/clock.h, included here): gkd_clock_mono_ns for durations,
 * gkd_clock_wall_us for times compared with the daemon's commit times.
 *
 * THREAD SAFETY: everything here is for the harness's main thread; the clocks may be read from any.
 */
#ifndef GKB_BENCH_H
#define GKB_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "gatekeeper/clock.h"
#include "gk_test.h"
#include "procs.h"

/* How a figure is judged. */
typedef enum gkb_bar_kind {
    GKB_BAR_NONE,      /* reported only */
    GKB_BAR_RATIO_MAX, /* median / floor <= bar */
    GKB_BAR_RATIO_MIN, /* median / floor >= bar */
    GKB_BAR_MAX,       /* median <= bar, in the figure's unit */
} gkb_bar_kind;

/*
 * One figure: median and spread (max - min) over `reps` repetitions, in `unit`.
 * measured  0 when the figure could not be taken (why in `note`); it is then printed as
 *           "not measured", never as a number.
 * floor     the figure it is compared with (has_floor), e.g. the echo's p50 in the same run.
 */
typedef struct gkb_figure {
    char name[80];
    char unit[8];
    int measured;
    double median, spread;
    int reps;
    int has_floor;
    double floor;
    gkb_bar_kind bar_kind;
    double bar;
    char note[120];
} gkb_figure;

#define GKB_MAX_FIGURES 64

/* Settings and shared state of one run. */
typedef struct gkb_run {
    int quick;                /* --quick: fewer, shorter repetitions (a smoke run) */
    char self[4096];          /* this executable, for re-executing it as a child process */
    char dir[256];            /* the run's temp directory */
    char flags20_path[300];   /* the 20-flag bootstrap (config/flags.json + generated flags) */
    gkt_daemon daemon;        /* the daemon on flags20_path with the shipped policies */
    int daemon_up;
    size_t req_bytes;         /* the SDK's single-flag request, in bytes */
    size_t reply_bytes;       /* the daemon's reply to it, in bytes */
    gkb_child echo;           /* the echo server (the floor), answering with reply_bytes */
    int echo_up;
    char echo_tcp_url[256];   /* its tcp URL (kernel-chosen port) */
    char echo_ipc_url[300];   /* its ipc URL (in dir) */
    double single_p50_tcp_us; /* figure 1's p50 over tcp (the 20-flag figure's floor); 0 unknown */
    double decision_us;       /* figure 4's median (what the spun echo spins); 0 unknown */
    double decision_inline_us; /* figure 4 with the nonce pool empty (what a saturated
                                  gatekeeper pays per request: throughput's spun echo); 0 unknown */
    double sign_inline_us;     /* its signing stage alone (the other spun echo); 0 unknown */
    gkb_figure figs[GKB_MAX_FIGURES];
    size_t nfigs;
    int failed;               /* a correctness check failed: exit 1 */
} gkb_run;

/* The gatekeeper's --nonce-pool in the run, and the in-process pool of figure 4: 512 pairs, 32 KiB. */
#define GKB_NONCE_POOL 512

/* The flag and context of the single-flag figures (a schema-migration flag: every policy runs). */
#define GKB_FLAG          "orders.read_v2"
#define GKB_SERVICE       "billing"
#define GKB_FLAGS_IN_DOC  20
#define GKB_BIG_FLAGS     10000

/* gkb_progress - one progress line on stderr ("gk-bench: ..."), printf-like. */
void gkb_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* gkb_fail - a correctness check failed: say what on stderr and make the run exit 1. */
void gkb_fail(gkb_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * gkb_figure_add - append a figure named `name` in `unit` (both copied), not yet measured, with
 * no floor and no bar; returns it (owned by run), or NULL when the table is full (GKB_MAX_FIGURES),
 * which fails the run (gkb_fail) so that no figure goes missing silently.
 */
gkb_figure *gkb_figure_add(gkb_run *run, const char *name, const char *unit);

/*
 * gkb_figure_set - record a figure's median and spread over `n` per-repetition values (`reps`,
 * reordered), and mark it measured.
 */
void gkb_figure_set(gkb_figure *fig, double *reps, size_t n);

/*
 * gkb_figure_bar - set the figure's floor and bar. The floor is ignored for GKB_BAR_MAX; with
 * GKB_BAR_NONE a floor > 0 is kept, so the table shows the ratio without judging it.
 */
void gkb_figure_bar(gkb_figure *fig, gkb_bar_kind kind, double bar, double floor);

/* gkb_figure_not_measured - mark a figure "not measured" with a reason (printf-like). */
void gkb_figure_not_measured(gkb_figure *fig, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * gkb_figure_ratio / gkb_figure_met - the figure's median / floor (0 without a floor); whether it
 * meets its bar (1), misses it (0), or has none or was not measured (-1).
 */
double gkb_figure_ratio(const gkb_figure *fig);
int gkb_figure_met(const gkb_figure *fig);

/*
 * gkb_admin_change - one admin change on daemon d, signed by "rita" (a release manager): op,
 * args as JSON text, why. Returns 0 when the reply says ok; otherwise fails the run's checks
 * (gkb_fail, with the reply) and returns -1.
 */
int gkb_admin_change(gkb_run *run, const gkt_daemon *d, const char *op, const char *args,
                     const char *why);

/*
 * gkb_admin_try - gkb_admin_change without failing the run: 0 when done, else -1 with the reply
 * (or "no reply") copied into message (NUL-terminated, truncated to size).
 */
int gkb_admin_try(const gkt_daemon *d, const char *op, const char *args, const char *why,
                  char *message, size_t size);

/*
 * The groups of figures, each adding its figures to `run` (as "not measured" when something
 * they need is missing) and printing progress. Each returns 0, or -1 when the run cannot go on.
 * gkb_bench_inproc runs before gkb_bench_latency, whose spun echo spins figure 4's median, and
 * before gkb_bench_throughput, whose spun echoes spin figure 4's pool-empty median and its
 * signing stage.
 */
int gkb_bench_latency(gkb_run *run);    /* 1 and 3: fresh single-flag and 20-flag latency */
int gkb_bench_throughput(gkb_run *run); /* 2: decisions/s with 1, 4, 16 client processes */
int gkb_bench_inproc(gkb_run *run);     /* 4 and 5: in-process decision cost, policy share */
int gkb_bench_cache(gkb_run *run);      /* 6: SDK cache hit, 1 and 2 threads */
int gkb_bench_changes(gkb_run *run);    /* 7 and 8: kill switch to SDK, admin commit */
int gkb_bench_scale(gkb_run *run);      /* 9: RSS and snapshot swap with 10,000 flags */

#endif
