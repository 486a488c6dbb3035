/*
 * scale.c - figure 9: a second gatekeeper serving 10,000 flags (config/flags.json plus generated
 * flags, the shipped policies): its resident memory once it has answered decisions (VmRSS, with
 * the peak VmHWM beside it, from /proc/PID/status), and how long it takes to build and swap in the
 * snapshot of a committed change (the admin "status" reply's snapshot.buildUs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"
#include "echo.h"
#include "flagsgen.h"

#define MAX_REPS 5

/* The last lines of the daemon's log on stderr (why a change was refused). */
static void
print_log_tail(const gkt_daemon *d)
{
    char *log = gkt_read_file(d->log_path);
    size_t len = log != NULL ? strlen(log) : 0, start = len;
    int lines = 0;

    while (start > 0 && lines < 6) {
        start--;
        lines += log[start] == '\n';
    }
    fprintf(stderr, "gk-bench: the 10,000-flag gatekeeper's log ends with:\n%s\n",
            log != NULL ? log + start : "(no log)");
    free(log);
}

/* The "message" of an admin error reply into out, or the reply itself. */
static void
refusal_reason(const char *reply, char *out, size_t size)
{
    json_t *doc = json_loads(reply, 0, NULL);
    const char *m = json_string_value(json_object_get(doc, "message"));

    snprintf(out, size, "%s", m != NULL ? m : reply);
    json_decref(doc);
}

/* VmRSS and VmHWM of pid in MiB; 0 or -1. */
static int
read_rss(pid_t pid, double *rss, double *hwm)
{
    char path[64], line[256];
    FILE *f;
    long kb;
    int found = 0;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long) pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
            *rss = (double) kb / 1024.0;
            found |= 1;
        } else if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) {
            *hwm = (double) kb / 1024.0;
            found |= 2;
        }
    }
    fclose(f);
    return found == 3 ? 0 : -1;
}

/* The status reply's snapshot.buildUs and snapshot.flags; 0 or -1. */
static int
read_build_us(const gkt_daemon *d, double *build_us, long long *flags)
{
    char *reply = NULL;
    json_t *doc = NULL, *snap;
    int rv = -1;

    if (gkt_admin(d, 0, "status", "{\"key\": \"bench.flag_00000\"}", NULL, 0, &reply) == 0 &&
        reply != NULL) {
        doc = json_loads(reply, 0, NULL);
    }
    snap = json_object_get(json_object_get(doc, "result"), "snapshot");
    if (json_is_integer(json_object_get(snap, "buildUs"))) {
        *build_us = (double) json_integer_value(json_object_get(snap, "buildUs"));
        *flags = json_integer_value(json_object_get(snap, "flags"));
        rv = 0;
    }
    json_decref(doc);
    free(reply);
    return rv;
}

int
gkb_bench_scale(gkb_run *run)
{
    gkb_figure *f_rss = gkb_figure_add(run, "9 daemon RSS, 10,000 flags", "MiB");
    gkb_figure *f_hwm = gkb_figure_add(run, "  daemon peak RSS (VmHWM), 10,000 flags", "MiB");
    gkb_figure *f_swap = gkb_figure_add(run, "9 snapshot build + swap, 10,000 flags", "ms");
    gkb_figure *f_after = gkb_figure_add(run, "  daemon RSS after the changes", "MiB");
    char path[400], policies[4096], message[512], reason[512];
    const char *extra[] = {"--policies", policies, NULL};
    double rss = 0, hwm = 0, swap[MAX_REPS];
    int reps = run->quick ? 3 : MAX_REPS;
    uint64_t t0;
    gkt_daemon d;
    char *req = NULL;
    size_t len = 0;

    if (f_rss == NULL || f_hwm == NULL || f_swap == NULL || f_after == NULL) {
        return 0;
    }
    snprintf(policies, sizeof(policies), "%s/policies", GKB_SOURCE_DIR);
    snprintf(path, sizeof(path), "%s/flags10k.json", run->dir);
    t0 = gkd_clock_mono_ns();
    if (gkb_write_flags(GKB_SOURCE_DIR, path, GKB_BIG_FLAGS) != 0) {
        return -1;
    }
    gkb_progress("10,000 flags: bootstrap written in %.0f ms; starting a second gatekeeper",
                 (double) (gkd_clock_mono_ns() - t0) / 1e6);
    t0 = gkd_clock_mono_ns();
    if (gkt_daemon_start(&d, path, extra) != 0) {
        gkb_fail(run, "the gatekeeper did not start with 10,000 flags");
        gkb_figure_not_measured(f_rss, "the daemon did not start");
        gkb_figure_not_measured(f_swap, "the daemon did not start");
        return 0;
    }
    gkb_progress("  serving after %.0f ms", (double) (gkd_clock_mono_ns() - t0) / 1e6);
    for (int i = 0; i < 50; i++) {
        char *reply = NULL;

        if (gkb_sample_request(&req, &len) != 0 ||
            gkt_request(d.tcp_url, req, len, &reply, 5000) != 0 || reply == NULL ||
            strstr(reply, "\"ok\":true") == NULL) {
            gkb_fail(run, "the 10,000-flag gatekeeper gave no token: %s",
                     reply != NULL ? reply : "no reply");
            free(reply);
            free(req);
            gkt_daemon_stop(&d);
            return 0;
        }
        free(reply);
        free(req);
    }
    if (read_rss(d.pid, &rss, &hwm) == 0) {
        gkb_figure_set(f_rss, &rss, 1);
        gkb_figure_bar(f_rss, GKB_BAR_MAX, 64, 0);
        gkb_figure_set(f_hwm, &hwm, 1);
    } else {
        gkb_figure_not_measured(f_rss, "no /proc/PID/status");
    }
    gkb_progress("  RSS %.1f MiB (peak %.1f MiB); %d committed changes", rss, hwm, reps);
    for (int r = 0; r < reps; r++) {
        char args[96];
        long long nflags = 0;

        snprintf(args, sizeof(args), "{\"key\": \"bench.flag_00000\", \"percent\": %d}",
                 r % 2 == 0 ? 30 : 20);
        if (gkb_admin_try(&d, "rollout.set", args, "benchmark: snapshot swap time", message,
                          sizeof(message)) != 0) {
            /* not a fault of the harness: reported as the figure's reason, with the log */
            fprintf(stderr, "gk-bench: a change to the 10,000-flag gatekeeper was refused: %s\n",
                    message);
            print_log_tail(&d);
            if (gkt_log_contains(&d, "not enough memory", 0)) {
                gkb_figure_not_measured(f_swap, "changes refused: the policy state ran out of "
                                                "its memory budget");
            } else {
                refusal_reason(message, reason, sizeof(reason));
                gkb_figure_not_measured(f_swap, "changes refused: %.80s", reason);
            }
            break;
        }
        if (read_build_us(&d, &swap[r], &nflags) != 0) {
            gkb_figure_not_measured(f_swap, "the status reply has no snapshot.buildUs");
            break;
        }
        if (nflags != GKB_BIG_FLAGS) {
            gkb_fail(run, "the status reply says the snapshot holds %lld flags, not %d", nflags,
                     GKB_BIG_FLAGS);
            gkb_figure_not_measured(f_swap, "wrong flag count");
            break;
        }
        swap[r] /= 1e3;
        if (r == reps - 1) {
            gkb_figure_set(f_swap, swap, (size_t) reps);
            gkb_figure_bar(f_swap, GKB_BAR_MAX, 20, 0);
        }
    }
    if (read_rss(d.pid, &rss, &hwm) == 0) {
        gkb_figure_set(f_after, &rss, 1);
    }
    gkt_daemon_stop(&d);
    return 0;
}
