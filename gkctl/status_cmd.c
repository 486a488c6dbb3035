/*
 * status_cmd.c - `gkctl status [FLAG]`: the admin op "status" as a table
 *
 *   snapshot version 42
 *   signing: 512 of 512 nonces ready; 1234 signatures with a precomputed nonce, 5 made inline
 *   FLAG            STATE    OWNER        ROLLOUT      PLAN                         OPT-INS
 *   orders.read_v2  ENABLED  team-orders  on 5%        1,[5],25,100 hold 10m        billing
 *
 * ROLLOUT is the current percentage of the rollout's variant, or the weights per variant, or "-".
 * PLAN lists the plan's steps with the current one in brackets (none before the first step),
 * its hold time, and "paused" when paused.
 *
 * Each migration flag ("kind": "migration") then gets a block of its own:
 *
 *   orders.v2_migration: migration of schema orders v1 -> v2
 *     stages:    off 50% dualwrite 25% shadow 25%
 *     backfill:  complete (by rita at 2026-11-21T15:02:41Z)
 *     CONSUMER  SUPPORTS  OPTED-IN  STAGE   BLOCKS
 *     billing   1,2       yes       shadow  live
 *
 * STAGE is the furthest stage the gatekeeper can give that consumer, BLOCKS the stage gate it
 * holds back ("live" until it supports the target version and opted in) or "-".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gkctl.h"

/* A percentage with up to three decimals and no trailing zeros: "5", "12.125". */
static const char *
pct_text(char *buf, size_t size, double pct)
{
    char *p;

    snprintf(buf, size, "%.3f", pct);
    p = strchr(buf, '.');
    if (p != NULL) {
        char *e = buf + strlen(buf) - 1;
        while (e > p && *e == '0') {
            *e-- = '\0';
        }
        if (e == p) {
            *e = '\0';
        }
    }
    return buf;
}

/* Append printf-style text to buf (kept NUL-terminated, truncated when full). */
static void
append(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
append(char *buf, size_t size, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;

    if (used + 1 >= size) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

static const char *
duration_text(char *buf, size_t size, long long s)
{
    if (s > 0 && s % 3600 == 0) {
        snprintf(buf, size, "%lldh", s / 3600);
    } else if (s > 0 && s % 60 == 0) {
        snprintf(buf, size, "%lldm", s / 60);
    } else {
        snprintf(buf, size, "%llds", s);
    }
    return buf;
}

static void stages_cell(char *buf, size_t size, const json_t *stages);

static void
rollout_cell(char *buf, size_t size, const json_t *f)
{
    const json_t *percent = json_object_get(f, "percent");
    const json_t *rollout = json_object_get(f, "rollout");
    const json_t *plan = json_object_get(f, "plan");
    char p[32];
    const char *k;
    json_t *w;

    buf[0] = '\0';
    if (strcmp(gkctl_str(json_object_get(f, "kind"), ""), "migration") == 0) {
        stages_cell(buf, size, json_object_get(f, "stages"));
        return;
    }
    if (json_is_number(percent)) {
        const char *variant = gkctl_str(json_object_get(plan, "variant"), NULL);
        const char *dflt = gkctl_str(json_object_get(f, "defaultVariant"), "");
        /* Without a plan: the variant other than the default whose weight is the percentage. */
        json_object_foreach ((json_t *) (uintptr_t) rollout, k, w) {
            if (variant == NULL && strcmp(k, dflt) != 0 &&
                json_number_value(w) == json_number_value(percent) * 1000.0) {
                variant = k;
            }
        }
        if (variant != NULL) {
            append(buf, size, "%s ", variant);
        }
        append(buf, size, "%s%%", pct_text(p, sizeof p, json_number_value(percent)));
        return;
    }
    if (json_is_object(rollout) && json_object_size(rollout) > 0) {
        json_object_foreach ((json_t *) (uintptr_t) rollout, k, w) {
            append(buf, size, "%s%s %s%%", buf[0] ? ", " : "", k,
                   pct_text(p, sizeof p, json_number_value(w) / 1000.0));
        }
        return;
    }
    append(buf, size, "-");
}

static void
plan_cell(char *buf, size_t size, const json_t *plan)
{
    const json_t *steps = json_object_get(plan, "steps");
    const json_t *s;
    json_int_t step = json_integer_value(json_object_get(plan, "step"));
    char p[32], d[32];
    size_t i;

    buf[0] = '\0';
    if (!json_is_object(plan)) {
        append(buf, size, "-");
        return;
    }
    if (!json_is_integer(json_object_get(plan, "step"))) {
        step = -1;
    }
    json_array_foreach (steps, i, s) {
        pct_text(p, sizeof p, json_number_value(s));
        append(buf, size, (json_int_t) i == step ? "%s[%s]" : "%s%s", i ? "," : "", p);
    }
    append(buf, size, " hold %s",
           duration_text(d, sizeof d,
                         (long long) json_integer_value(json_object_get(plan, "holdSeconds"))));
    if (json_is_true(json_object_get(plan, "paused"))) {
        append(buf, size, " paused");
    }
}

/* A list of names (opt-ins) or of versions (a consumer's supports), comma-separated. */
static void
optins_cell(char *buf, size_t size, const json_t *optins)
{
    const json_t *c;
    size_t i;

    buf[0] = '\0';
    json_array_foreach (optins, i, c) {
        if (json_is_integer(c)) {
            append(buf, size, "%s%lld", i ? "," : "", (long long) json_integer_value(c));
        } else {
            append(buf, size, "%s%s", i ? "," : "", gkctl_str(c, "?"));
        }
    }
    if (buf[0] == '\0') {
        append(buf, size, "-");
    }
}

/* The stages in the order a migration goes through them (policies/migration.lua). */
static const char *const stage_order[] = {"off",      "dualwrite", "shadow", "live",
                                          "rampdown", "complete",  NULL};

static int
known_stage(const char *name)
{
    for (const char *const *s = stage_order; *s != NULL; s++) {
        if (strcmp(*s, name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* "off 50% dualwrite 25% shadow 25%": the stages that hold a share, in migration order. */
static void
stages_cell(char *buf, size_t size, const json_t *stages)
{
    char p[32];
    const char *k;
    json_t *w;

    buf[0] = '\0';
    for (const char *const *s = stage_order; *s != NULL; s++) {
        w = json_object_get(stages, *s);
        if (json_number_value(w) > 0) {
            append(buf, size, "%s%s %s%%", buf[0] ? " " : "", *s,
                   pct_text(p, sizeof p, json_number_value(w)));
        }
    }
    json_object_foreach ((json_t *) (uintptr_t) stages, k, w) {
        if (!known_stage(k) && json_number_value(w) > 0) {
            append(buf, size, "%s%s %s%%", buf[0] ? " " : "", k,
                   pct_text(p, sizeof p, json_number_value(w)));
        }
    }
    if (buf[0] == '\0') {
        append(buf, size, "-");
    }
}

static void
backfill_cell(char *buf, size_t size, const json_t *backfill)
{
    const json_t *at = json_object_get(backfill, "at");
    char when[40] = "";

    buf[0] = '\0';
    if (!json_is_true(json_object_get(backfill, "complete"))) {
        append(buf, size, "not done (gkctl backfill done FLAG when it is)");
        return;
    }
    if (json_is_integer(at)) {
        time_t t = (time_t) json_integer_value(at);
        struct tm tm;
        if (gmtime_r(&t, &tm) != NULL) {
            strftime(when, sizeof when, " at %Y-%m-%dT%H:%M:%SZ", &tm);
        }
    }
    append(buf, size, "complete");
    if (json_is_string(json_object_get(backfill, "by")) || when[0] != '\0') {
        append(buf, size, " (%s%s%s)", json_is_string(json_object_get(backfill, "by")) ? "by " : "",
               gkctl_str(json_object_get(backfill, "by"), ""),
               when[0] != '\0' && json_is_string(json_object_get(backfill, "by")) ? when
                                                                                   : when + 1);
    }
}

#define NMCOLS 5

/* A latency percentile cell: "123" (µs) or "-" without samples. */
static const char *
us_cell(char *buf, size_t size, const json_t *latency, const char *side, const char *pct)
{
    const json_t *v = json_object_get(json_object_get(latency, side), pct);

    if (!json_is_integer(v)) {
        return "-";
    }
    snprintf(buf, size, "%lld", (long long) json_integer_value(v));
    return buf;
}

/*
 * What the services' SDKs reported for one migration flag (the gatekeeper's telemetry): per stage
 * and operation, calls, errors per side, mismatches of the sampled comparisons, and p50/p99 latency
 * per side in µs.
 */
static void
print_telemetry(const gkctl_opts *o, const json_t *telemetry)
{
    const json_t *stages = json_object_get(telemetry, "stages");
    char p[4][32];

    if (json_object_size(stages) == 0) {
        printf("  telemetry: nothing reported yet (services report once a second)\n");
        return;
    }
    printf("  %s%-10s %-5s %9s %8s %8s %10s %8s %8s %8s %8s%s\n", gkctl_color(o, "1"), "STAGE",
           "OP", "CALLS", "ERR-OLD", "ERR-NEW", "MISMATCHES", "P50-OLD", "P99-OLD", "P50-NEW",
           "P99-NEW", gkctl_color(o, "0"));
    for (size_t i = 0; i < sizeof(stage_order) / sizeof(stage_order[0]); i++) {
        static const char *const ops[] = {"read", "write"};
        for (size_t k = 0; k < 2; k++) {
            const json_t *op = json_object_get(json_object_get(stages, stage_order[i]), ops[k]);
            const json_t *errors = json_object_get(op, "errors");
            const json_t *latency = json_object_get(op, "latencyUs");
            if (op == NULL) {
                continue;
            }
            printf("  %-10s %-5s %9lld %8lld %8lld %10lld %8s %8s %8s %8s\n", stage_order[i],
                   ops[k], (long long) json_integer_value(json_object_get(op, "calls")),
                   (long long) json_integer_value(json_object_get(errors, "old")),
                   (long long) json_integer_value(json_object_get(errors, "new")),
                   (long long) json_integer_value(json_object_get(op, "mismatches")),
                   us_cell(p[0], sizeof(p[0]), latency, "old", "p50"),
                   us_cell(p[1], sizeof(p[1]), latency, "old", "p99"),
                   us_cell(p[2], sizeof(p[2]), latency, "new", "p50"),
                   us_cell(p[3], sizeof(p[3]), latency, "new", "p99"));
        }
    }
}

/* The block of one migration flag: its schema, stage split, backfill, consumers, telemetry. */
static void
print_migration(const gkctl_opts *o, const json_t *f)
{
    const json_t *mig = json_object_get(f, "migration");
    const json_t *consumers = json_object_get(f, "consumers");
    const json_t *c;
    static const char *const heads[NMCOLS] = {"CONSUMER", "SUPPORTS", "OPTED-IN", "STAGE",
                                              "BLOCKS"};
    char buf[512];
    int width[NMCOLS];
    size_t i;

    printf("\n%s%s%s: migration of schema %s v%lld -> v%lld\n", gkctl_color(o, "1"),
           gkctl_str(json_object_get(f, "key"), "?"), gkctl_color(o, "0"),
           gkctl_str(json_object_get(mig, "schema"), "?"),
           (long long) json_integer_value(json_object_get(mig, "from")),
           (long long) json_integer_value(json_object_get(mig, "to")));
    stages_cell(buf, sizeof buf, json_object_get(f, "stages"));
    printf("  stages:    %s\n", buf);
    backfill_cell(buf, sizeof buf, json_object_get(f, "backfill"));
    printf("  backfill:  %s\n", buf);
    if (json_object_get(f, "telemetry") != NULL) {
        print_telemetry(o, json_object_get(f, "telemetry"));
    }
    if (json_array_size(consumers) == 0) {
        printf("  consumers: none registered for schema %s (gkctl consumer register)\n",
               gkctl_str(json_object_get(mig, "schema"), "?"));
        return;
    }
    for (int k = 0; k < NMCOLS; k++) {
        width[k] = (int) strlen(heads[k]);
    }
    json_array_foreach (consumers, i, c) {
        int l = (int) strlen(gkctl_str(json_object_get(c, "name"), "?"));
        width[0] = l > width[0] ? l : width[0];
        optins_cell(buf, sizeof buf, json_object_get(c, "supports"));
        l = (int) strlen(buf);
        width[1] = l > width[1] ? l : width[1];
        l = (int) strlen(gkctl_str(json_object_get(c, "stage"), "?"));
        width[3] = l > width[3] ? l : width[3];
    }
    printf("  %s%-*s  %-*s  %-*s  %-*s  %s%s\n", gkctl_color(o, "1"), width[0], heads[0], width[1],
           heads[1], width[2], heads[2], width[3], heads[3], heads[4], gkctl_color(o, "0"));
    json_array_foreach (consumers, i, c) {
        const char *blocks = gkctl_str(json_object_get(c, "blocks"), NULL);
        optins_cell(buf, sizeof buf, json_object_get(c, "supports"));
        printf("  %-*s  %-*s  %-*s  %-*s  %s%s%s\n", width[0],
               gkctl_str(json_object_get(c, "name"), "?"), width[1], buf, width[2],
               json_is_true(json_object_get(c, "optedIn")) ? "yes" : "no", width[3],
               gkctl_str(json_object_get(c, "stage"), "?"), gkctl_color(o, blocks ? "31" : "0"),
               blocks != NULL ? blocks : "-", gkctl_color(o, "0"));
    }
}

#define NCOLS 6

/*
 * The "signing" line: how the gatekeeper's nonce pool keeps up (gatekeeper/presign.h). Nothing
 * for a gatekeeper that does not report it.
 */
static void
print_signing(const json_t *signing)
{
    const json_t *pool = json_object_get(signing, "noncePool");

    if (json_is_null(pool)) {
        printf("signing: no nonce pool, every signature made inline\n");
    } else if (json_is_object(pool)) {
        printf("signing: %lld of %lld nonces ready; %lld signatures with a precomputed nonce, "
               "%lld made inline\n",
               (long long) json_integer_value(json_object_get(pool, "ready")),
               (long long) json_integer_value(json_object_get(pool, "capacity")),
               (long long) json_integer_value(json_object_get(pool, "presigned")),
               (long long) json_integer_value(json_object_get(pool, "inline")));
    }
}

int
gkctl_status_main(int argc, char **argv, const gkctl_opts *o)
{
    gkctl_admin_opts a = {0};
    const char *flag = NULL;
    json_t *result = NULL, *flags, *f;
    uint64_t version = 0;
    static const char *const heads[NCOLS] = {"FLAG", "STATE", "OWNER", "ROLLOUT", "PLAN",
                                             "OPT-INS"};
    char (*cells)[NCOLS][256];
    int width[NCOLS];
    size_t i, n;
    int rc;

    for (int k = 1; k < argc; k++) {
        int r = gkctl_admin_opt(&a, argc, argv, &k, "status");
        if (r < 0) {
            return gkctl_usage();
        }
        if (r == 0 && argv[k][0] != '-' && flag == NULL) {
            flag = argv[k];
        } else if (r == 0) {
            fprintf(stderr, "gkctl status: unexpected argument \"%s\"\n", argv[k]);
            return gkctl_usage();
        }
    }
    rc = gkctl_admin_call(o, &a, "status", "status",
                          flag != NULL ? json_pack("{s:s}", "key", flag) : NULL, 0, &result,
                          &version);
    if (rc != GKCTL_OK) {
        return rc;
    }
    if (o->json) {
        gkctl_print_json(result);
        return GKCTL_OK;
    }
    if (json_is_integer(json_object_get(result, "version"))) {
        version = (uint64_t) json_integer_value(json_object_get(result, "version"));
    }
    flags = json_object_get(result, "flags");
    n = json_array_size(flags);
    cells = calloc(n + 1, sizeof *cells);
    if (cells == NULL) {
        json_decref(result);
        fprintf(stderr, "gkctl status: out of memory\n");
        return GKCTL_FAIL;
    }
    for (int c = 0; c < NCOLS; c++) {
        snprintf(cells[0][c], sizeof cells[0][c], "%s", heads[c]);
    }
    json_array_foreach (flags, i, f) {
        snprintf(cells[i + 1][0], sizeof cells[0][0], "%s",
                 gkctl_str(json_object_get(f, "key"), "?"));
        snprintf(cells[i + 1][1], sizeof cells[0][1], "%s",
                 gkctl_str(json_object_get(f, "state"), "-"));
        snprintf(cells[i + 1][2], sizeof cells[0][2], "%s",
                 gkctl_str(json_object_get(f, "owner"), "-"));
        rollout_cell(cells[i + 1][3], sizeof cells[0][3], f);
        plan_cell(cells[i + 1][4], sizeof cells[0][4], json_object_get(f, "plan"));
        optins_cell(cells[i + 1][5], sizeof cells[0][5], json_object_get(f, "optIns"));
    }
    for (int c = 0; c < NCOLS; c++) {
        width[c] = 0;
        for (i = 0; i <= n; i++) {
            int l = (int) strlen(cells[i][c]);
            width[c] = l > width[c] ? l : width[c];
        }
    }
    printf("snapshot version %llu\n", (unsigned long long) version);
    print_signing(json_object_get(result, "signing"));
    for (i = 0; i <= n; i++) {
        const char *state = cells[i][1];
        const char *col = i == 0 ? "1" : strcmp(state, "DISABLED") == 0 ? "31" : "0";
        printf("%s", i == 0 ? gkctl_color(o, "1") : "");
        for (int c = 0; c < NCOLS; c++) {
            if (c == 1 && i > 0) {
                printf("%s%-*s%s  ", gkctl_color(o, col), width[c], cells[i][c],
                       gkctl_color(o, "0"));
            } else if (c == NCOLS - 1) {
                printf("%s", cells[i][c]);
            } else {
                printf("%-*s  ", width[c], cells[i][c]);
            }
        }
        printf("%s\n", i == 0 ? gkctl_color(o, "0") : "");
    }
    if (n == 0) {
        printf("(no flags)\n");
    }
    json_array_foreach (flags, i, f) {
        if (strcmp(gkctl_str(json_object_get(f, "kind"), ""), "migration") == 0) {
            print_migration(o, f);
        }
    }
    free(cells);
    json_decref(result);
    return GKCTL_OK;
}
