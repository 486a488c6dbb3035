/*
 * gk-evaluate - ask a gatekeeper for flag decisions, the way a service would, and print them.
 *
 *   gk-evaluate --jwks /etc/gatekeeper/jwks.json --targeting-key t-42 --attr region=eu \
 *               --flag orders.read_v2 --flag orders.stage
 *   gk-evaluate --jwks jwks.json --endpoint ipc:///run/gatekeeper.sock --json   (every flag)
 *
 * With --flag, each flag is evaluated with gk_client_eval_string(); when its value turns out not
 * to be a string (TYPE_MISMATCH), again with gk_client_eval_bool(). The cache is disabled so
 * every line shows the gatekeeper's own reason (a service keeps it on and sees CACHED). Without
 * --flag, gk_client_eval_all() returns every flag's value as JSON text. Values that fell back to
 * the caller's default print as "-" (null with --json).
 *
 * Each flag's privacy mask list (the fields a service must mask in the records it reads on that
 * flag's path) comes from gk_client_eval_mask() or gk_decision_set_mask(): the MASK column lists
 * the field paths ("-" for none, "ALL" when no verified decision could be had and every field
 * must be masked); --json prints it as "mask": an array of paths, or "ALL".
 *
 * Exit status: 0 when the client answered (even with fallbacks), 1 when the client could not be
 * opened, 2 for a usage error.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatekeeper.h"

#define MAX_ROWS   1024
#define VALUE_SIZE 256

#define MASK_SIZE 512

typedef struct row {
    char key[GK_FLAG_KEY_MAX];
    char value[VALUE_SIZE]; /* JSON text, or "" for a fallback */
    gk_detail detail;
    char mask_text[MASK_SIZE]; /* "email,address.street", "-" or "ALL" */
    char mask_json[MASK_SIZE]; /* ["email","address.street"] or "ALL" */
} row;

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: gk-evaluate --jwks FILE [options]\n"
            "  --endpoint URL       gatekeeper decision socket (repeatable; default "
            "tcp://127.0.0.1:7400)\n"
            "  --jwks FILE          trusted JWKS with the gatekeeper's public keys (required)\n"
            "  --flag KEY           flag to evaluate (repeatable; default: every flag)\n"
            "  --targeting-key K    the context's targetingKey\n"
            "  --attr NAME=VALUE    context attribute (repeatable); numbers and true/false are\n"
            "                       typed, anything else is a string\n"
            "  --timeout-ms N       per-request timeout (1..60000, default 50)\n"
            "  --json               one JSON object per flag per line\n"
            "  --help               this text\n");
}

/* Set one NAME=VALUE attribute, typed as a number, a boolean or a string. */
static gk_err
set_attr(gk_context *ctx, const char *arg)
{
    char name[256];
    const char *eq = strchr(arg, '=');
    const char *value;
    char *end;
    double num;

    if (eq == NULL || eq == arg || (size_t) (eq - arg) >= sizeof(name)) {
        return GK_EINVAL;
    }
    memcpy(name, arg, (size_t) (eq - arg));
    name[eq - arg] = '\0';
    value = eq + 1;
    if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
        return gk_context_set_bool(ctx, name, value[0] == 't');
    }
    num = strtod(value, &end);
    if (value[0] != '\0' && *end == '\0' && isfinite(num)) {
        return gk_context_set_number(ctx, name, num);
    }
    return gk_context_set_string(ctx, name, value);
}

/* Write s as a JSON string (quotes and escapes) into out. */
static void
json_quote(char *out, size_t size, const char *s)
{
    size_t n = 0;

    if (size < 3) {
        out[0] = '\0';
        return;
    }
    out[n++] = '"';
    for (; *s != '\0' && n + 8 < size; s++) {
        unsigned char c = (unsigned char) *s;

        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char) c;
        } else if (c < 0x20) {
            n += (size_t) snprintf(out + n, size - n, "\\u%04x", c);
        } else {
            out[n++] = (char) c;
        }
    }
    out[n++] = '"';
    out[n] = '\0';
}

/* Write a mask list into the row, as text for the table and as JSON; releases the mask. */
static void
set_mask(row *r, gk_mask *mask)
{
    size_t t = 0, j = 0;

    if (gk_mask_masks_all(mask)) {
        snprintf(r->mask_text, sizeof(r->mask_text), "ALL");
        snprintf(r->mask_json, sizeof(r->mask_json), "\"ALL\"");
        gk_mask_free(mask);
        return;
    }
    snprintf(r->mask_text, sizeof(r->mask_text), "-");
    r->mask_json[j++] = '[';
    for (size_t i = 0; i < gk_mask_count(mask); i++) {
        const char *field = gk_mask_field(mask, i);
        char quoted[2 * GK_FLAG_KEY_MAX];

        json_quote(quoted, sizeof(quoted), field);
        if (t + strlen(field) + 2 < sizeof(r->mask_text)) {
            t += (size_t) snprintf(r->mask_text + t, sizeof(r->mask_text) - t, "%s%s",
                                   i > 0 ? "," : "", field);
        }
        if (j + strlen(quoted) + 3 < sizeof(r->mask_json)) {
            j += (size_t) snprintf(r->mask_json + j, sizeof(r->mask_json) - j, "%s%s",
                                   i > 0 ? "," : "", quoted);
        }
    }
    r->mask_json[j++] = ']';
    r->mask_json[j] = '\0';
    gk_mask_free(mask);
}

/* Evaluate one flag: as a string first, as a boolean when it is not one. */
static void
eval_flag(gk_client *client, const gk_context *ctx, const char *key, row *r)
{
    char buf[VALUE_SIZE - 16];
    gk_mask *mask = NULL;
    bool value;

    snprintf(r->key, sizeof(r->key), "%s", key);
    r->value[0] = '\0';
    (void) gk_client_eval_mask(client, key, ctx, &mask); /* always written: masks all on error */
    set_mask(r, mask);
    if (gk_client_eval_string(client, key, ctx, "", buf, sizeof(buf), &r->detail) == GK_OK &&
        r->detail.reason != GK_REASON_ERROR && r->detail.reason != GK_REASON_DISABLED) {
        json_quote(r->value, sizeof(r->value), buf);
        return;
    }
    if (r->detail.error_code != GK_ERROR_TYPE_MISMATCH) {
        return;
    }
    if (gk_client_eval_bool(client, key, ctx, false, &value, &r->detail) == GK_OK &&
        r->detail.reason != GK_REASON_ERROR && r->detail.reason != GK_REASON_DISABLED) {
        snprintf(r->value, sizeof(r->value), "%s", value ? "true" : "false");
    }
}

static void
print_json(const row *r)
{
    char key[2 * GK_FLAG_KEY_MAX], variant[2 * GK_VARIANT_MAX], rule[2 * GK_VARIANT_MAX];

    json_quote(key, sizeof(key), r->key);
    json_quote(variant, sizeof(variant), r->detail.variant);
    json_quote(rule, sizeof(rule), r->detail.rule_id);
    printf("{\"flagKey\":%s,\"value\":%s,\"variant\":%s,\"reason\":\"%s\",\"errorCode\":", key,
           r->value[0] != '\0' ? r->value : "null", r->detail.variant[0] ? variant : "null",
           gk_reason_str(r->detail.reason));
    if (r->detail.error_code != GK_ERROR_NONE) {
        printf("\"%s\"", gk_error_code_str(r->detail.error_code));
    } else {
        printf("null");
    }
    printf(",\"ruleId\":%s,\"snapshotVersion\":%llu,\"mask\":%s}\n",
           r->detail.rule_id[0] ? rule : "null", (unsigned long long) r->detail.snapshot_version,
           r->mask_json);
}

static int
width(const row *rows, size_t n, size_t col, int min)
{
    int w = min;

    for (size_t i = 0; i < n; i++) {
        const char *s = col == 0   ? rows[i].key
                        : col == 1 ? rows[i].value
                        : col == 2 ? rows[i].detail.variant
                        : col == 3 ? rows[i].detail.rule_id
                                   : rows[i].mask_text;
        if ((int) strlen(s) > w) {
            w = (int) strlen(s);
        }
    }
    return w;
}

static void
print_table(const row *rows, size_t n)
{
    int wk = width(rows, n, 0, 4), wv = width(rows, n, 1, 5), wr = width(rows, n, 2, 7);
    int wu = width(rows, n, 3, 4), wm = width(rows, n, 4, 4);

    printf("%-*s  %-*s  %-*s  %-15s  %-*s  %8s  %-*s  %s\n", wk, "FLAG", wv, "VALUE", wr, "VARIANT",
           "REASON", wu, "RULE", "SNAPSHOT", wm, "MASK", "ERROR");
    for (size_t i = 0; i < n; i++) {
        const gk_detail *d = &rows[i].detail;

        printf("%-*s  %-*s  %-*s  %-15s  %-*s  %8llu  %-*s  %s%s%s\n", wk, rows[i].key, wv,
               rows[i].value[0] ? rows[i].value : "-", wr, d->variant[0] ? d->variant : "-",
               gk_reason_str(d->reason), wu, d->rule_id[0] ? d->rule_id : "-",
               (unsigned long long) d->snapshot_version, wm, rows[i].mask_text,
               d->error_code != GK_ERROR_NONE ? gk_error_code_str(d->error_code) : "-",
               d->error_message[0] ? ": " : "", d->error_message);
    }
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"jwks", required_argument, NULL, 'j'},
        {"flag", required_argument, NULL, 'f'},
        {"targeting-key", required_argument, NULL, 'k'},
        {"attr", required_argument, NULL, 'a'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    gk_options *opts = NULL;
    gk_context *ctx = NULL;
    gk_client *client = NULL;
    gk_diag diag = {0};
    const char *flags[MAX_ROWS];
    const char *attrs[MAX_ROWS];
    const char *targeting_key = NULL;
    size_t nflags = 0, nattrs = 0, nrows = 0;
    bool json = false, have_jwks = false;
    static row rows[MAX_ROWS];
    int status = 2;
    int opt;

    if (gk_options_new(&opts) != GK_OK) {
        fprintf(stderr, "gk-evaluate: out of memory\n");
        return 1;
    }
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end;
        unsigned long ms;

        switch (opt) {
        case 'e':
            if (gk_options_add_endpoint(opts, optarg) != GK_OK) {
                fprintf(stderr, "gk-evaluate: bad --endpoint \"%s\"\n", optarg);
                goto done;
            }
            break;
        case 'j':
            have_jwks = gk_options_set_jwks_file(opts, optarg) == GK_OK;
            break;
        case 'f':
        case 'a':
            if ((opt == 'f' ? nflags : nattrs) == MAX_ROWS) {
                fprintf(stderr, "gk-evaluate: too many --%s\n", opt == 'f' ? "flag" : "attr");
                goto done;
            }
            if (opt == 'f') {
                flags[nflags++] = optarg;
            } else {
                attrs[nattrs++] = optarg;
            }
            break;
        case 'k':
            targeting_key = optarg;
            break;
        case 't':
            ms = strtoul(optarg, &end, 10);
            if (optarg[0] == '\0' || *end != '\0' || ms == 0 || ms > 60000 ||
                gk_options_set_timeout_ms(opts, (uint32_t) ms) != GK_OK) {
                fprintf(stderr, "gk-evaluate: --timeout-ms wants 1..60000, not \"%s\"\n", optarg);
                goto done;
            }
            break;
        case 'J':
            json = true;
            break;
        case 'h':
            usage(stdout);
            status = 0;
            goto done;
        default:
            usage(stderr);
            goto done;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gk-evaluate: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        goto done;
    }
    if (!have_jwks) {
        fprintf(stderr, "gk-evaluate: --jwks FILE is required\n");
        usage(stderr);
        goto done;
    }
    if (gk_context_new(&ctx, targeting_key) != GK_OK) {
        fprintf(stderr, "gk-evaluate: bad --targeting-key\n");
        goto done;
    }
    for (size_t i = 0; i < nattrs; i++) {
        if (set_attr(ctx, attrs[i]) != GK_OK) {
            fprintf(stderr, "gk-evaluate: --attr wants NAME=VALUE, not \"%s\"\n", attrs[i]);
            goto done;
        }
    }

    /* A one-shot tool shows the gatekeeper's own reasons; a service keeps the cache on (and the
     * change-event subscription that keeps it fresh, which a single evaluation has no use for). */
    (void) gk_options_set_cache_disabled(opts, true);
    (void) gk_options_set_events_endpoint(opts, NULL);
    if (gk_client_open(&client, opts, &diag) != GK_OK) {
        fprintf(stderr, "gk-evaluate: cannot open the client: %s%s%s\n", diag.text,
                diag.source[0] ? " in " : "", diag.source);
        status = 1;
        goto done;
    }
    if (nflags > 0) {
        for (size_t i = 0; i < nflags; i++) {
            eval_flag(client, ctx, flags[i], &rows[nrows++]);
        }
    } else {
        gk_decision_set *set = NULL;
        gk_detail why;

        if (gk_client_eval_all(client, ctx, &set, &why) != GK_OK) {
            fprintf(stderr, "gk-evaluate: out of memory\n");
            status = 1;
            goto done;
        }
        if (gk_decision_set_count(set) == 0 && why.reason == GK_REASON_ERROR) {
            fprintf(stderr, "gk-evaluate: no decisions: %s: %s\n",
                    gk_error_code_str(why.error_code), why.error_message);
        }
        for (size_t i = 0; i < gk_decision_set_count(set) && nrows < MAX_ROWS; i++) {
            const char *key;
            const char *value_json;
            row *r = &rows[nrows++];

            gk_mask *mask = NULL;

            (void) gk_decision_set_get(set, i, &key, &value_json, &r->detail);
            (void) gk_decision_set_mask(set, i, &mask); /* masks all on failure */
            set_mask(r, mask);
            snprintf(r->key, sizeof(r->key), "%s", key);
            snprintf(r->value, sizeof(r->value), "%s", value_json != NULL ? value_json : "");
        }
        gk_decision_set_free(set);
    }
    if (json) {
        for (size_t i = 0; i < nrows; i++) {
            print_json(&rows[i]);
        }
    } else {
        print_table(rows, nrows);
    }
    status = 0;

done:
    gk_client_close(client);
    gk_context_free(ctx);
    gk_options_free(opts);
    return status;
}
