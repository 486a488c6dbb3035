/*
 * status_cmd.c - `gkctl status [FLAG]`: the admin op "status" as a table
 *
 *   snapshot version 42
 *   FLAG            STATE    OWNER        ROLLOUT      PLAN                         OPT-INS
 *   orders.read_v2  ENABLED  team-orders  on 5%        1,[5],25,100 hold 10m        billing
 *
 * ROLLOUT is the current percentage of the rollout's variant, or the weights per variant, or "-".
 * PLAN lists the plan's steps with the current one in brackets (none before the first step),
 * its hold time, and "paused" when paused.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void
optins_cell(char *buf, size_t size, const json_t *optins)
{
    const json_t *c;
    size_t i;

    buf[0] = '\0';
    json_array_foreach (optins, i, c) {
        append(buf, size, "%s%s", i ? "," : "", gkctl_str(c, "?"));
    }
    if (buf[0] == '\0') {
        append(buf, size, "-");
    }
}

#define NCOLS 6

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
    free(cells);
    json_decref(result);
    return GKCTL_OK;
}
