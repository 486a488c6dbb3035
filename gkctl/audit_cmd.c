/*
 * audit_cmd.c - the audit trail:
 *   gkctl audit log [--flag F] [--since T] [--limit N]   admin op audit.log, as a table
 *   gkctl audit show SEQ                                 admin op audit.show, one record in full
 *   gkctl audit verify                                   admin op audit.verify (the gatekeeper checks)
 *   gkctl audit verify --data-dir DIR --jwks FILE        offline: gkd_journal_verify_file on
 *                                                        DIR/journal.jsonl with the trusted keys
 * audit verify exits 0 when every record verifies and 1 when one does not (naming it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gkctl.h"
#include "vocab.h"
#include "journal.h"

static int
audit_log(int argc, char **argv, const gkctl_opts *o)
{
    gkctl_admin_opts a = {0};
    json_t *args = json_object(), *result = NULL, *records, *r;
    int wt = 4, wa = 5, wo = 2, wk = 4, rc;
    char keys[512];
    size_t i, k;

    for (int j = 1; j < argc; j++) {
        const char *name = argv[j];
        uint64_t n;
        int got = gkctl_admin_opt(&a, argc, argv, &j, "audit log");
        if (got < 0) {
            json_decref(args);
            return gkctl_usage();
        }
        if (got > 0) {
            continue;
        }
        if ((strcmp(name, "--flag") == 0 || strcmp(name, "--since") == 0 ||
             strcmp(name, "--limit") == 0) && j + 1 >= argc) {
            fprintf(stderr, "gkctl audit log: %s needs a value\n", name);
            json_decref(args);
            return gkctl_usage();
        }
        if (strcmp(name, "--flag") == 0) {
            json_object_set_new(args, "flag", json_string(argv[++j]));
        } else if (strcmp(name, "--since") == 0) {
            const char *t = argv[++j];
            if (gkctl_parse_u64(t, &n) == 0 && n <= INT64_MAX) {
                json_object_set_new(args, "since", json_integer((json_int_t) n));
            } else if (strlen(t) >= 10 && t[4] == '-' && t[7] == '-') {
                json_object_set_new(args, "since", json_string(t));
            } else {
                fprintf(stderr, "gkctl audit log: --since \"%s\": a record number (seq) or an "
                                "RFC 3339 time such as 2026-11-21T14:00:00Z\n", t);
                json_decref(args);
                return GKCTL_USAGE;
            }
        } else if (strcmp(name, "--limit") == 0) {
            if (gkctl_parse_u64(argv[++j], &n) != 0 || n == 0 || n > 1000000) {
                fprintf(stderr, "gkctl audit log: --limit \"%s\": 1 to 1000000\n", argv[j]);
                json_decref(args);
                return GKCTL_USAGE;
            }
            json_object_set_new(args, "limit", json_integer((json_int_t) n));
        } else {
            fprintf(stderr, "gkctl audit log: unexpected argument \"%s\"\n", name);
            json_decref(args);
            return gkctl_usage();
        }
    }
    rc = gkctl_admin_call(o, &a, "audit log", "audit.log", args, 0, &result, NULL);
    if (rc != GKCTL_OK) {
        return rc;
    }
    if (o->json) {
        gkctl_print_json(result);
        return GKCTL_OK;
    }
    records = json_object_get(result, "records");
    json_array_foreach (records, i, r) {
        int l = (int) strlen(gkctl_str(json_object_get(r, "time"), "-"));
        wt = l > wt ? l : wt;
        l = (int) strlen(gkctl_str(json_object_get(r, "actor"), "-"));
        wa = l > wa ? l : wa;
        l = (int) strlen(gkctl_str(json_object_get(r, "op"), "-"));
        wo = l > wo ? l : wo;
    }
    json_array_foreach (records, i, r) {
        json_t *key;
        size_t used = 0;
        keys[0] = '\0';
        json_array_foreach (json_object_get(r, "keys"), k, key) {
            int n = snprintf(keys + used, sizeof keys - used, "%s%s", k ? "," : "",
                             gkctl_str(key, "?"));
            if (n < 0 || (size_t) n >= sizeof keys - used) {
                break;
            }
            used += (size_t) n;
        }
        wk = (int) used > wk ? (int) used : wk;
    }
    wk = wk > 40 ? 40 : wk;
    printf("%s%-6s  %-*s  %-*s  %-*s  %-*s  %s%s\n", gkctl_color(o, "1"), "SEQ", wt, "TIME", wa,
           "ACTOR", wo, "OP", wk, "KEYS", "WHY", gkctl_color(o, "0"));
    json_array_foreach (records, i, r) {
        json_t *key;
        size_t used = 0;
        keys[0] = '\0';
        json_array_foreach (json_object_get(r, "keys"), k, key) {
            int n = snprintf(keys + used, sizeof keys - used, "%s%s", k ? "," : "",
                             gkctl_str(key, "?"));
            if (n < 0 || (size_t) n >= sizeof keys - used) {
                break;
            }
            used += (size_t) n;
        }
        if (used > 40) {
            memcpy(keys + 37, "...", 4);
        }
        printf("%-6lld  %-*s  %-*s  %-*s  %-*s  %s\n",
               (long long) json_integer_value(json_object_get(r, "seq")), wt,
               gkctl_str(json_object_get(r, "time"), "-"), wa,
               gkctl_str(json_object_get(r, "actor"), "-"), wo,
               gkctl_str(json_object_get(r, "op"), "-"), wk, used ? keys : "-",
               gkctl_str(json_object_get(r, "why"), "-"));
    }
    if (json_array_size(records) == 0) {
        printf("(no records)\n");
    }
    json_decref(result);
    return GKCTL_OK;
}

static int
audit_show(int argc, char **argv, const gkctl_opts *o)
{
    gkctl_admin_opts a = {0};
    const char *seq_s = NULL;
    json_t *result = NULL, *rec, *v;
    uint64_t seq;
    char buf[1024];
    size_t i;
    int rc;

    for (int j = 1; j < argc; j++) {
        int got = gkctl_admin_opt(&a, argc, argv, &j, "audit show");
        if (got < 0) {
            return gkctl_usage();
        }
        if (got == 0 && seq_s == NULL && argv[j][0] != '-') {
            seq_s = argv[j];
        } else if (got == 0) {
            fprintf(stderr, "gkctl audit show: unexpected argument \"%s\"\n", argv[j]);
            return gkctl_usage();
        }
    }
    if (seq_s == NULL || gkctl_parse_u64(seq_s, &seq) != 0 || seq == 0 || seq > INT64_MAX) {
        fprintf(stderr, "gkctl audit show: needs SEQ, a record number (gkctl audit log lists "
                        "them)\n");
        return gkctl_usage();
    }
    rc = gkctl_admin_call(o, &a, "audit show", "audit.show",
                          json_pack("{s:I}", "seq", (json_int_t) seq), 0, &result, NULL);
    if (rc != GKCTL_OK) {
        return rc;
    }
    if (o->json) {
        gkctl_print_json(result);
        return GKCTL_OK;
    }
    rec = json_object_get(result, "record");
    printf("%srecord %lld%s\n", gkctl_color(o, "1"),
           (long long) json_integer_value(json_object_get(rec, "seq")), gkctl_color(o, "0"));
    printf("time:     %s\n", gkctl_str(json_object_get(rec, "time"), "-"));
    printf("actor:    %s\n", gkctl_str(json_object_get(rec, "actor"), "-"));
    printf("op:       %s\n", gkctl_str(json_object_get(rec, "op"), "-"));
    printf("why:      %s\n", gkctl_str(json_object_get(rec, "why"), "-"));
    printf("args:     %s\n", gkctl_compact(buf, sizeof buf, json_object_get(rec, "args")));
    printf("changes:\n");
    if (gkctl_print_changes(o, json_object_get(rec, "changes")) == 0) {
        printf("(none)\n");
    }
    printf("verdicts:\n");
    json_array_foreach (json_object_get(rec, "verdicts"), i, v) {
        printf("  %s %s %s: %s (%s)\n", gkctl_str(json_object_get(v, "verdict"), "?"),
               gkctl_str(json_object_get(v, "policy"), "?"),
               gkctl_str(json_object_get(v, "hook"), "?"),
               gkctl_str(json_object_get(v, "reason"), "no reason given"),
               gkctl_str(json_object_get(v, "source"), "no source"));
    }
    if (json_array_size(json_object_get(rec, "verdicts")) == 0) {
        printf("  (none)\n");
    }
    printf("prev:     %s\n", gkctl_str(json_object_get(rec, "prev"), "-"));
    printf("hash:     %s\n", gkctl_str(json_object_get(rec, "hash"), "-"));
    printf("signed:   %s\n", gkctl_str(json_object_get(rec, "kid"), "-"));
    json_decref(result);
    return GKCTL_OK;
}

/* Print a verify outcome (both modes share it) and return 0 or 1. */
static int
print_verify(const gkctl_opts *o, int ok, uint64_t records, const char *head, const char *problem,
             const char *where)
{
    if (o->json) {
        json_t *out = json_pack("{s:b,s:I}", "ok", ok, "records", (json_int_t) records);
        if (out != NULL && head != NULL) {
            json_object_set_new(out, "head", json_string(head));
        }
        if (out != NULL && problem != NULL) {
            json_object_set_new(out, "problem", json_string(problem));
        }
        gkctl_print_json(out);
    } else if (ok) {
        printf("%sok%s: %llu records verify (%s)%s%s\n", gkctl_color(o, "32"), gkctl_color(o, "0"),
               (unsigned long long) records, where, head != NULL ? "; head " : "",
               head != NULL ? head : "");
    } else {
        printf("%sFAILED%s: %s (%s; %llu records verified before it)\n", gkctl_color(o, "31"),
               gkctl_color(o, "0"), problem != NULL ? problem : "the journal does not verify",
               where, (unsigned long long) records);
    }
    return ok ? GKCTL_OK : GKCTL_FAIL;
}

static int
verify_offline(const gkctl_opts *o, const char *dir, const char *jwks_path)
{
    gkp_jwks *trusted = NULL;
    char path[4096];
    char head[GKD_JOURNAL_HASH_HEX_BYTES];
    uint64_t records = 0;
    gk_diag d;
    gk_err rv;

    memset(&d, 0, sizeof d);
    rv = gkp_jwks_load_file(&trusted, jwks_path, &d);
    if (rv != GK_OK) {
        fprintf(stderr, "gkctl audit verify: %s: %s\n", jwks_path, d.text);
        return GKCTL_USAGE;
    }
    if (snprintf(path, sizeof path, "%s/%s", dir, GKD_JOURNAL_FILE) >= (int) sizeof path) {
        gkp_jwks_free(trusted);
        fprintf(stderr, "gkctl audit verify: --data-dir path too long\n");
        return GKCTL_USAGE;
    }
    memset(&d, 0, sizeof d);
    memset(head, 0, sizeof head);
    rv = gkd_journal_verify_file(path, trusted, &records, head, &d);
    gkp_jwks_free(trusted);
    if (rv == GK_ENOENT || rv == GK_EIO || rv == GK_EINVAL || rv == GK_ENOMEM) {
        fprintf(stderr, "gkctl audit verify: %s: %s\n", path, d.text[0] ? d.text : gkp_strerror(rv));
        return rv == GK_ENOENT ? GKCTL_USAGE : GKCTL_FAIL;
    }
    return print_verify(o, rv == GK_OK, records, head[0] ? head : NULL,
                        rv == GK_OK ? NULL : d.text, path);
}

static int
audit_verify(int argc, char **argv, const gkctl_opts *o)
{
    gkctl_admin_opts a = {0};
    const char *dir = NULL, *jwks = NULL;
    json_t *result = NULL;
    char where[300];
    int rc, ok;

    for (int j = 1; j < argc; j++) {
        int got = gkctl_admin_opt(&a, argc, argv, &j, "audit verify");
        if (got < 0) {
            return gkctl_usage();
        }
        if (got > 0) {
            continue;
        }
        if (strcmp(argv[j], "--data-dir") == 0 && j + 1 < argc) {
            dir = argv[++j];
        } else if (strcmp(argv[j], "--jwks") == 0 && j + 1 < argc) {
            jwks = argv[++j];
        } else {
            fprintf(stderr, "gkctl audit verify: unexpected argument \"%s\"\n", argv[j]);
            return gkctl_usage();
        }
    }
    if ((dir == NULL) != (jwks == NULL)) {
        fprintf(stderr, "gkctl audit verify: offline verification needs both --data-dir DIR and "
                        "--jwks FILE (the gatekeeper's keys/jwks.json)\n");
        return gkctl_usage();
    }
    if (dir != NULL) {
        return verify_offline(o, dir, jwks);
    }
    rc = gkctl_admin_call(o, &a, "audit verify", "audit.verify", NULL, 0, &result, NULL);
    if (rc != GKCTL_OK) {
        return rc;
    }
    if (o->json) {
        ok = json_is_true(json_object_get(result, "ok"));
        gkctl_print_json(result);
        return ok ? GKCTL_OK : GKCTL_FAIL;
    }
    snprintf(where, sizeof where, "checked by the gatekeeper");
    ok = json_is_true(json_object_get(result, "ok"));
    rc = print_verify(o, ok, (uint64_t) json_integer_value(json_object_get(result, "records")),
                      gkctl_str(json_object_get(result, "head"), NULL),
                      gkctl_str(json_object_get(result, "problem"), NULL), where);
    json_decref(result);
    return rc;
}

int
gkctl_audit_main(int argc, char **argv, const gkctl_opts *o)
{
    if (strcmp(argv[0], "log") == 0) {
        return audit_log(argc, argv, o);
    }
    if (strcmp(argv[0], "show") == 0) {
        return audit_show(argc, argv, o);
    }
    if (strcmp(argv[0], "verify") == 0) {
        return audit_verify(argc, argv, o);
    }
    fprintf(stderr, "gkctl audit: unknown subcommand \"%s\" (log, show, verify)\n", argv[0]);
    return gkctl_usage();
}
