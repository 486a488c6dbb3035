/*
 * rollout_cmd.c - the release manager's change commands, each one admin op:
 *   gkctl rollout set FLAG --percent P [--variant V]      rollout.set {"key","percent","variant"?}
 *   gkctl rollout set FLAG --variant-weights a=30,b=70    rollout.set {"key","weights"}
 *   gkctl rollout plan FLAG --steps 1,5,25,100 --hold 10m [--variant V]      rollout.plan
 *   gkctl rollout advance FLAG [--force]                  rollout.advance
 *   gkctl rollout pause|resume|back FLAG                  rollout.pause / .resume / .back
 *   gkctl kill FLAG / gkctl unkill FLAG                   flag.kill / flag.unkill
 *   gkctl optin add|remove FLAG CONSUMER                  optin.add / optin.remove
 * All need --why. Percentages take up to three decimals and are converted exactly (from the
 * text, never through a float) to weights out of 100000.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gkctl.h"

#define WEIGHT_TOTAL 100000L

/* "12.345" -> 12345 (thousandths of a percent, 0..100000); -1 when it is not such a number. */
static long
parse_milli_pct(const char *s)
{
    long whole = 0, frac = 0;
    int ndigits = 0, nfrac = 0;

    for (; *s >= '0' && *s <= '9'; s++) {
        if (++ndigits > 3) {
            return -1;
        }
        whole = whole * 10 + (*s - '0');
    }
    if (ndigits == 0) {
        return -1;
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++) {
            if (++nfrac > 3) {
                return -1;
            }
            frac = frac * 10 + (*s - '0');
        }
        if (nfrac == 0) {
            return -1;
        }
    }
    if (*s != '\0') {
        return -1;
    }
    for (; nfrac < 3; nfrac++) {
        frac *= 10;
    }
    whole = whole * 1000 + frac;
    return whole <= WEIGHT_TOTAL ? whole : -1;
}

/* A percentage for the wire: an integer when whole, else a number with up to three decimals. */
static json_t *
pct_json(long milli)
{
    if (milli % 1000 == 0) {
        return json_integer(milli / 1000);
    }
    return json_real((double) milli / 1000.0);
}

/* "90", "90s", "10m", "2h" -> seconds; -1 when not a duration. */
static long long
parse_duration_s(const char *s)
{
    uint64_t n;
    char num[32];
    size_t len = strlen(s);
    long long mult = 1;

    if (len == 0 || len >= sizeof num) {
        return -1;
    }
    memcpy(num, s, len + 1);
    switch (num[len - 1]) {
    case 's':
        num[--len] = '\0';
        break;
    case 'm':
        mult = 60;
        num[--len] = '\0';
        break;
    case 'h':
        mult = 3600;
        num[--len] = '\0';
        break;
    default:
        break;
    }
    if (gkctl_parse_u64(num, &n) != 0 || n > 366ull * 24 * 3600) {
        return -1;
    }
    n *= (uint64_t) mult;
    return n > 366ull * 24 * 3600 ? -1 : (long long) n;
}

/* Print a change op's result (changes and the new version) or the JSON; frees result. */
static int
print_result(const gkctl_opts *o, json_t *result, uint64_t version)
{
    if (o->json) {
        gkctl_print_json(result);
        return GKCTL_OK;
    }
    if (gkctl_print_changes(o, json_object_get(result, "changes")) == 0) {
        printf("no change\n");
    }
    printf("version %llu\n", (unsigned long long) version);
    json_decref(result);
    return GKCTL_OK;
}

/* Send a change op and print its result. */
static int
change(const gkctl_opts *o, const gkctl_admin_opts *a, const char *cmd, const char *op,
       json_t *args)
{
    json_t *result = NULL;
    uint64_t version = 0;
    int rc = gkctl_admin_call(o, a, cmd, op, args, 1, &result, &version);

    return rc != GKCTL_OK ? rc : print_result(o, result, version);
}

/* Options of the rollout commands; NULL when not given. */
struct ropts {
    const char *pos[2];
    int npos;
    const char *percent, *variant, *weights, *steps, *hold;
    int force;
};

static int
parse(struct ropts *r, gkctl_admin_opts *a, const char *cmd, int argc, char **argv, int maxpos)
{
    memset(r, 0, sizeof *r);
    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;
        int got = gkctl_admin_opt(a, argc, argv, &i, cmd);
        if (got < 0) {
            return -1;
        }
        if (got > 0) {
            continue;
        }
        if (strcmp(argv[i], "--percent") == 0) {
            slot = &r->percent;
        } else if (strcmp(argv[i], "--variant") == 0) {
            slot = &r->variant;
        } else if (strcmp(argv[i], "--variant-weights") == 0) {
            slot = &r->weights;
        } else if (strcmp(argv[i], "--steps") == 0) {
            slot = &r->steps;
        } else if (strcmp(argv[i], "--hold") == 0) {
            slot = &r->hold;
        } else if (strcmp(argv[i], "--force") == 0) {
            r->force = 1;
            continue;
        } else if (argv[i][0] != '-' && r->npos < maxpos) {
            r->pos[r->npos++] = argv[i];
            continue;
        } else {
            fprintf(stderr, "gkctl %s: unexpected argument \"%s\"\n", cmd, argv[i]);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gkctl %s: %s needs a value\n", cmd, argv[i]);
            return -1;
        }
        *slot = argv[++i];
    }
    if (r->npos != maxpos) {
        fprintf(stderr, "gkctl %s: needs %s\n", cmd, maxpos == 2 ? "FLAG CONSUMER" : "FLAG");
        return -1;
    }
    return 0;
}

/* "a=30,b=70" -> {"a":30000,"b":70000}; NULL after printing why. */
static json_t *
parse_weights(const char *s)
{
    json_t *w = json_object();
    char buf[1024];
    char *save = NULL, *item;
    long total = 0;

    if (w == NULL || strlen(s) >= sizeof buf) {
        fprintf(stderr, "gkctl rollout set: --variant-weights is too long\n");
        json_decref(w);
        return NULL;
    }
    memcpy(buf, s, strlen(s) + 1);
    for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        long m;
        if (eq == NULL || eq == item) {
            fprintf(stderr, "gkctl rollout set: \"%s\" is not VARIANT=PERCENT\n", item);
            json_decref(w);
            return NULL;
        }
        *eq = '\0';
        m = parse_milli_pct(eq + 1);
        if (m < 0 || json_object_get(w, item) != NULL) {
            fprintf(stderr, "gkctl rollout set: %s=%s: %s\n", item, eq + 1,
                    m < 0 ? "a percentage 0 to 100 with up to three decimals"
                          : "variant named twice");
            json_decref(w);
            return NULL;
        }
        json_object_set_new(w, item, json_integer(m));
        total += m;
    }
    if (json_object_size(w) == 0 || total != WEIGHT_TOTAL) {
        fprintf(stderr, "gkctl rollout set: --variant-weights must add up to 100 (they add up to "
                        "%ld.%03ld)\n", total / 1000, total % 1000);
        json_decref(w);
        return NULL;
    }
    return w;
}

static int
rollout_set(const gkctl_opts *o, gkctl_admin_opts *a, int argc, char **argv)
{
    struct ropts r;
    json_t *args;
    long m;

    if (parse(&r, a, "rollout set", argc, argv, 1) != 0) {
        return gkctl_usage();
    }
    if ((r.percent == NULL) == (r.weights == NULL) || (r.weights != NULL && r.variant != NULL)) {
        fprintf(stderr, "gkctl rollout set: give either --percent P [--variant V] or "
                        "--variant-weights a=30,b=70\n");
        return gkctl_usage();
    }
    if (r.weights != NULL) {
        json_t *w = parse_weights(r.weights);
        if (w == NULL) {
            return GKCTL_USAGE;
        }
        args = json_pack("{s:s,s:o}", "key", r.pos[0], "weights", w);
    } else {
        m = parse_milli_pct(r.percent);
        if (m < 0) {
            fprintf(stderr, "gkctl rollout set: --percent \"%s\": 0 to 100, up to three decimals "
                            "(e.g. 5, 0.5, 12.125)\n", r.percent);
            return GKCTL_USAGE;
        }
        args = json_pack("{s:s,s:o}", "key", r.pos[0], "percent", pct_json(m));
        if (args != NULL && r.variant != NULL) {
            json_object_set_new(args, "variant", json_string(r.variant));
        }
    }
    return change(o, a, "rollout set", "rollout.set", args);
}

static int
rollout_plan(const gkctl_opts *o, gkctl_admin_opts *a, int argc, char **argv)
{
    struct ropts r;
    json_t *steps, *args;
    char buf[1024];
    char *save = NULL, *item;
    long prev = 0;
    long long hold;

    if (parse(&r, a, "rollout plan", argc, argv, 1) != 0) {
        return gkctl_usage();
    }
    if (r.steps == NULL || r.hold == NULL) {
        fprintf(stderr, "gkctl rollout plan: needs --steps 1,5,25,100 and --hold DURATION "
                        "(e.g. 30s, 10m, 2h)\n");
        return gkctl_usage();
    }
    hold = parse_duration_s(r.hold);
    if (hold < 0) {
        fprintf(stderr, "gkctl rollout plan: --hold \"%s\": a duration such as 90, 30s, 10m, 2h\n",
                r.hold);
        return GKCTL_USAGE;
    }
    if (strlen(r.steps) >= sizeof buf) {
        fprintf(stderr, "gkctl rollout plan: --steps is too long\n");
        return GKCTL_USAGE;
    }
    memcpy(buf, r.steps, strlen(r.steps) + 1);
    steps = json_array();
    for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        long m = parse_milli_pct(item);
        if (m <= prev) {
            fprintf(stderr, "gkctl rollout plan: --steps \"%s\": increasing percentages above 0, "
                            "at most 100, up to three decimals (\"%s\" %s)\n",
                    r.steps, item, m < 0 ? "is not one" : "does not increase");
            json_decref(steps);
            return GKCTL_USAGE;
        }
        json_array_append_new(steps, pct_json(m));
        prev = m;
    }
    if (json_array_size(steps) == 0) {
        fprintf(stderr, "gkctl rollout plan: --steps needs at least one percentage\n");
        json_decref(steps);
        return GKCTL_USAGE;
    }
    args = json_pack("{s:s,s:o,s:I}", "key", r.pos[0], "steps", steps, "holdSeconds",
                     (json_int_t) hold);
    if (args != NULL && r.variant != NULL) {
        json_object_set_new(args, "variant", json_string(r.variant));
    }
    return change(o, a, "rollout plan", "rollout.plan", args);
}

/* Ops that take just {"key"} (and advance's "force"). */
static int
key_op(const gkctl_opts *o, gkctl_admin_opts *a, const char *cmd, const char *op, int argc,
       char **argv, int allow_force)
{
    struct ropts r;
    json_t *args;

    if (parse(&r, a, cmd, argc, argv, 1) != 0) {
        return gkctl_usage();
    }
    if (r.percent != NULL || r.variant != NULL || r.weights != NULL || r.steps != NULL ||
        r.hold != NULL || (r.force && !allow_force)) {
        fprintf(stderr, "gkctl %s: takes FLAG%s and the admin options only\n", cmd,
                allow_force ? " [--force]" : "");
        return gkctl_usage();
    }
    args = json_pack("{s:s}", "key", r.pos[0]);
    if (args != NULL && r.force) {
        json_object_set_new(args, "force", json_true());
    }
    return change(o, a, cmd, op, args);
}

static int
optin(const gkctl_opts *o, gkctl_admin_opts *a, int argc, char **argv)
{
    struct ropts r;
    const char *op;
    const char *cmd;

    if (argc < 2 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "remove") != 0)) {
        fprintf(stderr, "gkctl optin: add FLAG CONSUMER or remove FLAG CONSUMER\n");
        return gkctl_usage();
    }
    cmd = strcmp(argv[1], "add") == 0 ? "optin add" : "optin remove";
    op = strcmp(argv[1], "add") == 0 ? "optin.add" : "optin.remove";
    if (parse(&r, a, cmd, argc - 1, argv + 1, 2) != 0) {
        return gkctl_usage();
    }
    if (r.percent != NULL || r.variant != NULL || r.weights != NULL || r.steps != NULL ||
        r.hold != NULL || r.force) {
        fprintf(stderr, "gkctl %s: takes FLAG CONSUMER and the admin options only\n", cmd);
        return gkctl_usage();
    }
    return change(o, a, cmd, op, json_pack("{s:s,s:s}", "key", r.pos[0], "consumer", r.pos[1]));
}

int
gkctl_rollout_main(int argc, char **argv, const gkctl_opts *o)
{
    gkctl_admin_opts a = {0};
    const char *sub = argv[0];

    if (strcmp(sub, "kill") == 0) {
        return key_op(o, &a, "kill", "flag.kill", argc, argv, 0);
    }
    if (strcmp(sub, "unkill") == 0) {
        return key_op(o, &a, "unkill", "flag.unkill", argc, argv, 0);
    }
    if (strcmp(sub, "optin") == 0) {
        return optin(o, &a, argc, argv);
    }
    if (strcmp(sub, "set") == 0) {
        return rollout_set(o, &a, argc, argv);
    }
    if (strcmp(sub, "plan") == 0) {
        return rollout_plan(o, &a, argc, argv);
    }
    if (strcmp(sub, "advance") == 0) {
        return key_op(o, &a, "rollout advance", "rollout.advance", argc, argv, 1);
    }
    if (strcmp(sub, "pause") == 0) {
        return key_op(o, &a, "rollout pause", "rollout.pause", argc, argv, 0);
    }
    if (strcmp(sub, "resume") == 0) {
        return key_op(o, &a, "rollout resume", "rollout.resume", argc, argv, 0);
    }
    if (strcmp(sub, "back") == 0) {
        return key_op(o, &a, "rollout back", "rollout.back", argc, argv, 0);
    }
    fprintf(stderr, "gkctl rollout: unknown subcommand \"%s\" (set, plan, advance, pause, resume, "
                    "back)\n", sub);
    return gkctl_usage();
}
