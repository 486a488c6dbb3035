/*
 * main.c - gk-bench: the benchmark harness behind `make bench` (docs/performance.md).
 *
 *   gk-bench [--out PATH] [--quick] [--only FIGURES]
 *
 * Starts a real gatekeeper (the shipped policies, a 20-flag bootstrap) and a bare nng echo server
 * (the floor: same transport, same message sizes, same client round-trip code), takes every
 * figure, prints a table and writes the same figures as JSON. Internal modes, for the child
 * processes it starts from itself:
 *
 *   gk-bench --echo-server IPC_URL --reply-bytes N [--spin-us W]
 *   gk-bench --client sdk|echo --url URL [--jwks FILE] [--reply-bytes N] --seconds S
 *
 * Exit status: 0 when it ran (bars missed are shown as such), 1 when it could not run or a
 * correctness check failed, 2 on bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "bench.h"
#include "echo.h"
#include "flagsgen.h"
#include "procs.h"
#include "stats.h"

void
gkb_progress(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("gk-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void
gkb_fail(gkb_run *run, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("gk-bench: CHECK FAILED: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    run->failed = 1;
}

gkb_figure *
gkb_figure_add(gkb_run *run, const char *name, const char *unit)
{
    gkb_figure *fig;

    if (run->nfigs == GKB_MAX_FIGURES) {
        gkb_fail(run, "no room for figure \"%s\": raise GKB_MAX_FIGURES (%d)", name,
                 GKB_MAX_FIGURES);
        return NULL;
    }
    fig = &run->figs[run->nfigs++];
    memset(fig, 0, sizeof(*fig));
    snprintf(fig->name, sizeof(fig->name), "%s", name);
    snprintf(fig->unit, sizeof(fig->unit), "%s", unit);
    snprintf(fig->note, sizeof(fig->note), "not run");
    return fig;
}

void
gkb_figure_set(gkb_figure *fig, double *reps, size_t n)
{
    gkb_median_spread(reps, n, &fig->median, &fig->spread);
    fig->reps = (int) n;
    fig->measured = n > 0;
    fig->note[0] = '\0';
}

void
gkb_figure_bar(gkb_figure *fig, gkb_bar_kind kind, double bar, double floor)
{
    fig->bar_kind = kind;
    fig->bar = bar;
    fig->has_floor = kind == GKB_BAR_RATIO_MAX || kind == GKB_BAR_RATIO_MIN ||
                     (kind == GKB_BAR_NONE && floor > 0);
    fig->floor = floor;
}

void
gkb_figure_not_measured(gkb_figure *fig, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(fig->note, sizeof(fig->note), fmt, ap);
    va_end(ap);
    fig->measured = 0;
}

double
gkb_figure_ratio(const gkb_figure *fig)
{
    return fig->has_floor && fig->floor > 0 ? fig->median / fig->floor : 0;
}

int
gkb_figure_met(const gkb_figure *fig)
{
    if (!fig->measured || fig->bar_kind == GKB_BAR_NONE ||
        (fig->has_floor && fig->floor <= 0)) {
        return -1;
    }
    switch (fig->bar_kind) {
    case GKB_BAR_RATIO_MAX:
        return gkb_figure_ratio(fig) <= fig->bar;
    case GKB_BAR_RATIO_MIN:
        return gkb_figure_ratio(fig) >= fig->bar;
    case GKB_BAR_MAX:
        return fig->median <= fig->bar;
    case GKB_BAR_NONE:
        break;
    }
    return -1;
}

/* ---- the machine -------------------------------------------------------------------------- */

typedef struct machine {
    char cpu[128];
    long nproc;
    char kernel[400];
    char date[32];
} machine;

static void
machine_read(machine *m)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    struct utsname u;
    time_t now = time(NULL);
    struct tm tm;

    snprintf(m->cpu, sizeof(m->cpu), "unknown CPU");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
            colon += 2;
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(m->cpu, sizeof(m->cpu), "%s", colon);
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
    if (uname(&u) == 0) {
        snprintf(m->kernel, sizeof(m->kernel), "%s %s %s", u.sysname, u.release, u.machine);
    } else {
        snprintf(m->kernel, sizeof(m->kernel), "unknown");
    }
    gmtime_r(&now, &tm);
    strftime(m->date, sizeof(m->date), "%Y-%m-%d %H:%M UTC", &tm);
}

/* ---- output ------------------------------------------------------------------------------- */

/* A number with about three significant digits, no exponent. */
static void
fmt_num(char *out, size_t size, double v)
{
    double a = v < 0 ? -v : v;

    if (a == 0) {
        snprintf(out, size, "0");
    } else if (a < 1) {
        snprintf(out, size, "%.3f", v);
    } else if (a < 10) {
        snprintf(out, size, "%.2f", v);
    } else if (a < 100) {
        snprintf(out, size, "%.1f", v);
    } else {
        snprintf(out, size, "%.0f", v);
    }
}

static void
fmt_bar(char *out, size_t size, const gkb_figure *fig)
{
    char n[32];

    fmt_num(n, sizeof(n), fig->bar);
    switch (fig->bar_kind) {
    case GKB_BAR_RATIO_MAX:
        snprintf(out, size, "<= %sx", n);
        break;
    case GKB_BAR_RATIO_MIN:
        snprintf(out, size, ">= %sx", n);
        break;
    case GKB_BAR_MAX:
        snprintf(out, size, "<= %s %s", n, fig->unit);
        break;
    case GKB_BAR_NONE:
        snprintf(out, size, "-");
        break;
    }
}

static void
print_table(FILE *out, const gkb_run *run, const machine *m, int colour)
{
    const char *green = colour ? "\033[32m" : "", *red = colour ? "\033[31;1m" : "";
    const char *dim = colour ? "\033[2m" : "", *reset = colour ? "\033[0m" : "";
    int met_n = 0, miss_n = 0;

    fprintf(out, "\ngatekeeper benchmark, %s%s\n", m->date, run->quick ? " (--quick: smoke run)" : "");
    fprintf(out, "machine: %s, %ld CPUs, %s\n", m->cpu, m->nproc, m->kernel);
    fprintf(out, "messages: request %zu bytes, reply %zu bytes (the SDK's single-flag exchange)\n\n",
            run->req_bytes, run->reply_bytes);
    fprintf(out, "%-56s %10s %9s %10s %7s %-12s %s\n", "figure", "median", "spread", "floor",
            "ratio", "bar", "met");
    for (size_t i = 0; i < run->nfigs; i++) {
        const gkb_figure *f = &run->figs[i];
        char med[32], spr[32], flo[32], rat[40], bar[64], label[120];
        int met = gkb_figure_met(f);

        snprintf(label, sizeof(label), "%s (%s)", f->name, f->unit);
        if (!f->measured) {
            fmt_bar(bar, sizeof(bar), f);
            fprintf(out, "%-56s %s%10s%s %9s %10s %7s %-12s %s- (%s)%s\n", label, dim,
                    "not meas.", reset, "", "", "", bar, dim, f->note, reset);
            continue;
        }
        fmt_num(med, sizeof(med), f->median);
        fmt_num(spr, sizeof(spr), f->spread);
        if (f->has_floor) {
            fmt_num(flo, sizeof(flo), f->floor);
            fmt_num(rat, sizeof(rat), gkb_figure_ratio(f));
            strcat(rat, "x");
        } else {
            snprintf(flo, sizeof(flo), "-");
            snprintf(rat, sizeof(rat), "-");
        }
        fmt_bar(bar, sizeof(bar), f);
        fprintf(out, "%-56s %10s %9s %10s %7s %-12s %s%s%s\n", label, med, spr, flo, rat, bar,
                met == 1 ? green : met == 0 ? red : "",
                met == 1 ? "yes" : met == 0 ? "MISSED" : "-", reset);
        met_n += met == 1;
        miss_n += met == 0;
    }
    fprintf(out, "\n%d bars met, %d missed; median and spread (max - min) over the reps of each "
                 "figure\n",
            met_n, miss_n);
}

static const char *
bar_kind_name(gkb_bar_kind k)
{
    switch (k) {
    case GKB_BAR_RATIO_MAX:
        return "ratio_max";
    case GKB_BAR_RATIO_MIN:
        return "ratio_min";
    case GKB_BAR_MAX:
        return "max";
    case GKB_BAR_NONE:
        break;
    }
    return "none";
}

/* Makes every missing directory of path's parent (mkdir -p of its dirname). */
static void
make_parents(const char *path)
{
    char tmp[4096];

    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
}

static int
write_json(const char *path, const gkb_run *run, const machine *m)
{
    json_t *figs = json_array();
    json_t *doc = json_pack("{s:{s:s, s:I, s:s, s:s}, s:b, s:{s:I, s:I}, s:o}", "machine", "cpu",
                            m->cpu, "nproc", (json_int_t) m->nproc, "kernel", m->kernel, "date",
                            m->date, "quick", run->quick, "messages", "requestBytes",
                            (json_int_t) run->req_bytes, "replyBytes",
                            (json_int_t) run->reply_bytes, "figures", figs);
    int rv;

    for (size_t i = 0; i < run->nfigs; i++) {
        const gkb_figure *f = &run->figs[i];
        json_t *o = json_pack("{s:s, s:s, s:b}", "name", f->name, "unit", f->unit, "measured",
                              f->measured);
        int met = gkb_figure_met(f);

        if (f->measured) {
            json_object_set_new(o, "median", json_real(f->median));
            json_object_set_new(o, "spread", json_real(f->spread));
            json_object_set_new(o, "reps", json_integer(f->reps));
        } else {
            json_object_set_new(o, "note", json_string(f->note));
        }
        if (f->has_floor) {
            json_object_set_new(o, "floor", json_real(f->floor));
            if (f->measured) {
                json_object_set_new(o, "ratio", json_real(gkb_figure_ratio(f)));
            }
        }
        if (f->bar_kind != GKB_BAR_NONE) {
            json_object_set_new(o, "bar", json_real(f->bar));
            json_object_set_new(o, "barKind", json_string(bar_kind_name(f->bar_kind)));
            if (met >= 0) {
                json_object_set_new(o, "met", json_boolean(met));
            }
        }
        json_array_append_new(figs, o);
    }
    make_parents(path);
    rv = json_dump_file(doc, path, JSON_INDENT(2));
    json_decref(doc);
    if (rv != 0) {
        fprintf(stderr, "gk-bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    gkb_progress("figures written to %s", path);
    return 0;
}

/* ---- set-up ------------------------------------------------------------------------------- */

/* The paths the test support reads, compiled in so the harness runs without CTest. */
static void
set_env(void)
{
    setenv("GK_DAEMON", GKB_DAEMON, 0);
    setenv("GK_SOURCE_DIR", GKB_SOURCE_DIR, 0);
    setenv("GK_TEST_DATA", GKB_TEST_DATA, 0);
}

/* Measures the SDK's single-flag request and the daemon's reply to it, once. */
static int
capture_sizes(gkb_run *run)
{
    char *req = NULL, *reply = NULL;
    size_t len = 0;
    int rv;

    if (gkb_sample_request(&req, &len) != 0) {
        return -1;
    }
    rv = gkt_request(run->daemon.tcp_url, req, len, &reply, 5000);
    if (rv != 0 || reply == NULL || strstr(reply, "\"ok\":true") == NULL) {
        gkb_fail(run, "the daemon did not answer the sample request with a token: %s",
                 reply != NULL ? reply : "no reply");
        free(req);
        free(reply);
        return -1;
    }
    run->req_bytes = len;
    run->reply_bytes = strlen(reply);
    free(req);
    free(reply);
    return 0;
}

static int
start_echo(gkb_run *run)
{
    snprintf(run->echo_ipc_url, sizeof(run->echo_ipc_url), "ipc://%s/echo.sock", run->dir);
    if (gkb_echo_start(&run->echo, run->self, run->echo_ipc_url, run->reply_bytes, 0,
                       run->echo_tcp_url, sizeof(run->echo_tcp_url)) != 0) {
        return -1;
    }
    run->echo_up = 1;
    return 0;
}

static int
setup(gkb_run *run)
{
    char policies[4096], pool[16];
    /* With a nonce pool, as figure 4 measures (docs/performance.md). */
    const char *extra[] = {"--policies", policies, "--nonce-pool", pool, NULL};

    snprintf(policies, sizeof(policies), "%s/policies", GKB_SOURCE_DIR);
    snprintf(pool, sizeof(pool), "%d", GKB_NONCE_POOL);
    gkt_tempdir(run->dir);
    snprintf(run->flags20_path, sizeof(run->flags20_path), "%s/flags20.json", run->dir);
    if (gkb_write_flags(GKB_SOURCE_DIR, run->flags20_path, GKB_FLAGS_IN_DOC) != 0) {
        return -1;
    }
    gkb_progress("starting the gatekeeper (%d flags, the shipped policies)", GKB_FLAGS_IN_DOC);
    if (gkt_daemon_start(&run->daemon, run->flags20_path, extra) != 0) {
        fprintf(stderr, "gk-bench: the gatekeeper did not start\n");
        return -1;
    }
    run->daemon_up = 1;
    if (capture_sizes(run) != 0) {
        return -1;
    }
    gkb_progress("the SDK's single-flag request is %zu bytes, the reply %zu bytes; starting the "
                 "echo server",
                 run->req_bytes, run->reply_bytes);
    return start_echo(run);
}

static void
teardown(gkb_run *run)
{
    if (run->echo_up) {
        gkb_child_finish(&run->echo, 5000);
        run->echo_up = 0;
    }
    if (run->daemon_up) {
        gkt_daemon_stop(&run->daemon);
        run->daemon_up = 0;
    }
    if (run->dir[0] != '\0') {
        gkt_rmtree(run->dir);
    }
}

/* ---- options ------------------------------------------------------------------------------ */

static void
usage(FILE *out)
{
    fprintf(out, "usage: gk-bench [--out PATH] [--quick] [--only FIGURES] [--help]\n"
                 "  --out PATH  also write the figures as JSON to PATH (directories made as needed)\n"
                 "  --quick     fewer and shorter repetitions: a smoke run, not for the record\n"
                 "  --only FIGURES  only the groups holding these figures (1-9, comma-separated,\n"
                 "              e.g. 2 or 1,4), to profile one path; 1 and 3 are one group, as\n"
                 "              are 4 and 5, and 7 and 8; figures 1 and 2 run 4 first (their\n"
                 "              spun echoes spin figure 4's medians)\n"
                 "Starts a gatekeeper and an nng echo server (the floor), measures every figure\n"
                 "of docs/performance.md and prints a table. Exit 0 when it ran (missed bars are\n"
                 "shown), 1 when it could not run or a check failed, 2 on bad arguments.\n");
}

static int bad_args(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Says what was wrong with the arguments, then the usage; returns exit status 2. */
static int
bad_args(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "gk-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    usage(stderr);
    return 2;
}

/*
 * Parses --only's comma-separated figure numbers (1-9) into a bit mask (bit N: figure N).
 * Returns 0, or -1 on anything else.
 */
static int
parse_figures(const char *s, unsigned *mask)
{
    *mask = 0;
    for (;;) {
        if (s[0] < '1' || s[0] > '9' || (s[1] != ',' && s[1] != '\0')) {
            return -1;
        }
        *mask |= 1u << (s[0] - '0');
        if (s[1] == '\0') {
            return 0;
        }
        s += 2;
    }
}

/* Whether --only (a mask from parse_figures; 0: all) selects one of the figures in `group`. */
static int
wanted(unsigned only, unsigned group)
{
    return only == 0 || (only & group) != 0;
}

#define FIG(n) (1u << (n))

/* Runs the selected groups in the harness's order; -1 when the run cannot go on. */
static int
run_groups(gkb_run *run, unsigned only)
{
    /* figure 4 first: its medians are what the spun echoes of figures 1 and 2 spin */
    if ((wanted(only, FIG(4) | FIG(5) | FIG(1) | FIG(2)) && gkb_bench_inproc(run) != 0) ||
        (wanted(only, FIG(1) | FIG(3)) && gkb_bench_latency(run) != 0) ||
        (wanted(only, FIG(2)) && gkb_bench_throughput(run) != 0) ||
        (wanted(only, FIG(6)) && gkb_bench_cache(run) != 0) ||
        (wanted(only, FIG(7) | FIG(8)) && gkb_bench_changes(run) != 0) ||
        (wanted(only, FIG(9)) && gkb_bench_scale(run) != 0)) {
        return -1;
    }
    return 0;
}

static int
parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        return -1;
    }
    *out = (size_t) v;
    return 0;
}

enum {
    OPT_OUT = 1,
    OPT_QUICK,
    OPT_HELP,
    OPT_ECHO_SERVER,
    OPT_REPLY_BYTES,
    OPT_CLIENT,
    OPT_URL,
    OPT_JWKS,
    OPT_SECONDS,
    OPT_SPIN_US,
    OPT_ONLY,
};

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, OPT_OUT},
        {"quick", no_argument, NULL, OPT_QUICK},
        {"help", no_argument, NULL, OPT_HELP},
        {"echo-server", required_argument, NULL, OPT_ECHO_SERVER},
        {"reply-bytes", required_argument, NULL, OPT_REPLY_BYTES},
        {"client", required_argument, NULL, OPT_CLIENT},
        {"url", required_argument, NULL, OPT_URL},
        {"jwks", required_argument, NULL, OPT_JWKS},
        {"seconds", required_argument, NULL, OPT_SECONDS},
        {"spin-us", required_argument, NULL, OPT_SPIN_US},
        {"only", required_argument, NULL, OPT_ONLY},
        {NULL, 0, NULL, 0},
    };
    static gkb_run run; /* large: figures and the daemon's paths */
    const char *out = NULL, *echo_ipc = NULL, *client = NULL, *url = NULL, *jwks = NULL;
    size_t reply_bytes = 0;
    unsigned only = 0;
    double seconds = 0, spin_us = 0;
    char *end;
    machine m;
    ssize_t n;
    int opt, rv = 0;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_QUICK:
            run.quick = 1;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_ECHO_SERVER:
            echo_ipc = optarg;
            break;
        case OPT_REPLY_BYTES:
            if (parse_size(optarg, &reply_bytes) != 0 || reply_bytes > 1000000) {
                return bad_args("--reply-bytes %s: give a number of bytes up to 1000000", optarg);
            }
            break;
        case OPT_CLIENT:
            if (strcmp(optarg, "sdk") != 0 && strcmp(optarg, "echo") != 0) {
                return bad_args("--client %s: give sdk or echo", optarg);
            }
            client = optarg;
            break;
        case OPT_URL:
            url = optarg;
            break;
        case OPT_JWKS:
            jwks = optarg;
            break;
        case OPT_SECONDS:
            seconds = strtod(optarg, NULL);
            if (!(seconds > 0 && seconds <= 600)) {
                return bad_args("--seconds %s: give a duration from 0 to 600 seconds", optarg);
            }
            break;
        case OPT_SPIN_US:
            spin_us = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(spin_us >= 0 && spin_us <= 100000)) {
                return bad_args("--spin-us %s: give microseconds from 0 to 100000", optarg);
            }
            break;
        case OPT_ONLY:
            if (parse_figures(optarg, &only) != 0) {
                return bad_args("--only %s: give figure numbers 1-9 separated by commas", optarg);
            }
            break;
        default:
            return bad_args("%s: unknown option or missing value", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return bad_args("unexpected argument %s", argv[optind]);
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "gk-bench: libsodium failed to initialise\n");
        return 1;
    }
    if (echo_ipc != NULL) {
        return gkb_echo_server_main(echo_ipc, reply_bytes, spin_us);
    }
    if (client != NULL) {
        if (url == NULL || seconds <= 0 || (strcmp(client, "sdk") == 0 && jwks == NULL)) {
            return bad_args("--client needs --url, --seconds and (for sdk) --jwks");
        }
        return gkb_client_main(client, url, jwks, reply_bytes, seconds);
    }

    n = readlink("/proc/self/exe", run.self, sizeof(run.self) - 1);
    if (n <= 0) {
        fprintf(stderr, "gk-bench: cannot find my own executable: %s\n", strerror(errno));
        return 1;
    }
    run.self[n] = '\0';
    set_env();
    machine_read(&m);
    gkb_progress("%s, %ld CPUs%s", m.cpu, m.nproc, run.quick ? ", quick run" : "");
    if (setup(&run) != 0) {
        teardown(&run);
        return 1;
    }
    if (run_groups(&run, only) != 0) {
        rv = 1;
    }
    teardown(&run);
    print_table(stdout, &run, &m, isatty(STDOUT_FILENO));
    if (out != NULL && write_json(out, &run, &m) != 0) {
        rv = 1;
    }
    if (run.failed) {
        fprintf(stderr, "gk-bench: a correctness check failed (see above)\n");
        rv = 1;
    }
    return rv;
}
