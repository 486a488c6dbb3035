/*
 * flag_cmd.c - `gkctl flag apply FILE [--dry-run]` (also `gkctl apply FILE`), `gkctl flag get KEY`,
 * `gkctl flag list`, `gkctl flag delete KEY`: the admin ops flag.apply, flag.get, flag.list and
 * flag.delete. Every command also takes the admin options (gkctl_admin_opt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gkctl.h"

/* Parse the admin options and up to `max` positional arguments; -1 after printing a usage error. */
static int
parse_args(gkctl_admin_opts *a, const char *cmd, int argc, char **argv, const char **pos,
           int max, int *dry_run)
{
    int n = 0;

    for (int i = 1; i < argc; i++) {
        int r = gkctl_admin_opt(a, argc, argv, &i, cmd);
        if (r < 0) {
            return -1;
        }
        if (r > 0) {
            continue;
        }
        if (dry_run != NULL && strcmp(argv[i], "--dry-run") == 0) {
            *dry_run = 1;
        } else if (argv[i][0] != '-' && n < max) {
            pos[n++] = argv[i];
        } else {
            fprintf(stderr, "gkctl %s: unexpected argument \"%s\"\n", cmd, argv[i]);
            return -1;
        }
    }
    return n;
}

static int
flag_apply(int argc, char **argv, const gkctl_opts *o)
{
    gkctl_admin_opts a = {0};
    const char *file = NULL;
    json_error_t jerr;
    json_t *doc, *result = NULL, *changes;
    uint64_t version = 0;
    int dry_run = 0, rc;
    size_t i, created = 0, updated = 0, unchanged = 0, deleted = 0;
    const json_t *c;

    if (parse_args(&a, "flag apply", argc, argv, &file, 1, &dry_run) != 1) {
        fprintf(stderr, "gkctl flag apply: needs FILE (a flags document {\"flags\": {...}})\n");
        return gkctl_usage();
    }
    doc = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        fprintf(stderr, "%s:%d:%d: %s\n", file, jerr.line, jerr.column, jerr.text);
        return GKCTL_USAGE;
    }
    if (!json_is_object(json_object_get(doc, "flags"))) {
        fprintf(stderr, "%s: not a flags document: it needs \"flags\": {key: definition}\n", file);
        json_decref(doc);
        return GKCTL_USAGE;
    }
    rc = gkctl_admin_call(o, &a, "flag apply", "flag.apply",
                          json_pack("{s:O,s:b}", "flags", json_object_get(doc, "flags"), "dryRun",
                                    dry_run),
                          1, &result, &version);
    json_decref(doc);
    if (rc != GKCTL_OK) {
        return rc;
    }
    if (o->json) {
        gkctl_print_json(result);
        return GKCTL_OK;
    }
    changes = json_object_get(result, "changes");
    gkctl_print_changes(o, changes);
    json_array_foreach (changes, i, c) {
        const char *k = gkctl_change_kind(c);
        if (strcmp(k, "create") == 0) {
            created++;
        } else if (strcmp(k, "unchanged") == 0) {
            unchanged++;
        } else if (strcmp(k, "delete") == 0) {
            deleted++;
        } else {
            updated++;
        }
    }
    if (json_is_true(json_object_get(result, "dryRun")) || dry_run) {
        printf("dry run, nothing applied: %zu to create, %zu to update, %zu unchanged\n", created,
               updated, unchanged);
    } else {
        printf("applied at version %llu: %zu created, %zu updated, %zu unchanged\n",
               (unsigned long long) version, created, updated, unchanged);
    }
    (void) deleted;
    json_decref(result);
    return GKCTL_OK;
}

static int
flag_get(int argc, char **argv, const gkctl_opts *o)
{
    gkctl_admin_opts a = {0};
    const char *key = NULL;
    json_t *result = NULL;
    uint64_t version = 0;
    char *text;
    int rc;

    if (parse_args(&a, "flag get", argc, argv, &key, 1, NULL) != 1) {
        fprintf(stderr, "gkctl flag get: needs KEY\n");
        return gkctl_usage();
    }
    rc = gkctl_admin_call(o, &a, "flag get", "flag.get", json_pack("{s:s}", "key", key), 0,
                          &result, &version);
    if (rc != GKCTL_OK) {
        return rc;
    }
    if (o->json) {
        gkctl_print_json(result);
        return GKCTL_OK;
    }
    printf("%s%s%s (version %llu)\n", gkctl_color(o, "1"),
           gkctl_str(json_object_get(result, "key"), key), gkctl_color(o, "0"),
           (unsigned long long) version);
    text = json_dumps(json_object_get(result, "definition"),
                      JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (text != NULL) {
        puts(text);
        free(text);
    }
    json_decref(result);
    return GKCTL_OK;
}

/* "on 5%, off 95%" from {variant: weight out of 100000}; "-" for none. */
static const char *
rollout_text(char *buf, size_t size, const json_t *rollout)
{
    const char *k;
    json_t *w;
    size_t used = 0;

    buf[0] = '\0';
    if (!json_is_object(rollout) || json_object_size(rollout) == 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    json_object_foreach ((json_t *) (uintptr_t) rollout, k, w) {
        double pct = json_number_value(w) / 1000.0;
        int n = snprintf(buf + used, size - used, "%s%s %.3g%%", used ? ", " : "", k, pct);
        if (n < 0 || (size_t) n >= size - used) {
            break;
        }
        used += (size_t) n;
    }
    return buf;
}

static int
flag_list(int argc, char **argv, const gkctl_opts *o)
{
    gkctl_admin_opts a = {0};
    json_t *result = NULL, *flags, *f, *v;
    const char *none = NULL;
    char variants[256], rollout[256];
    size_t i, k;
    int rc, wk = 4, wo = 5, ws = 5, wv = 8;

    if (parse_args(&a, "flag list", argc, argv, &none, 0, NULL) != 0) {
        return gkctl_usage();
    }
    rc = gkctl_admin_call(o, &a, "flag list", "flag.list", NULL, 0, &result, NULL);
    if (rc != GKCTL_OK) {
        return rc;
    }
    if (o->json) {
        gkctl_print_json(result);
        return GKCTL_OK;
    }
    flags = json_object_get(result, "flags");
    json_array_foreach (flags, i, f) {
        int l = (int) strlen(gkctl_str(json_object_get(f, "key"), "?"));
        wk = l > wk ? l : wk;
        l = (int) strlen(gkctl_str(json_object_get(f, "owner"), "-"));
        wo = l > wo ? l : wo;
        l = (int) strlen(gkctl_str(json_object_get(f, "state"), "-"));
        ws = l > ws ? l : ws;
        l = -1;
        json_array_foreach (json_object_get(f, "variants"), k, v) {
            l += 1 + (int) strlen(gkctl_str(v, "?"));
        }
        wv = l > wv ? l : wv;
    }
    wv = wv > 40 ? 40 : wv;
    printf("%-*s  %-*s  %-*s  %-*s  %s\n", wk, "FLAG", wo, "OWNER", ws, "STATE", wv, "VARIANTS",
           "ROLLOUT");
    json_array_foreach (flags, i, f) {
        size_t used = 0;
        variants[0] = '\0';
        json_array_foreach (json_object_get(f, "variants"), k, v) {
            int n = snprintf(variants + used, sizeof variants - used, "%s%s", k ? "," : "",
                             gkctl_str(v, "?"));
            if (n < 0 || (size_t) n >= sizeof variants - used) {
                break;
            }
            used += (size_t) n;
        }
        printf("%-*s  %-*s  %-*s  %-*s  %s\n", wk, gkctl_str(json_object_get(f, "key"), "?"), wo,
               gkctl_str(json_object_get(f, "owner"), "-"), ws,
               gkctl_str(json_object_get(f, "state"), "-"), wv, used ? variants : "-",
               rollout_text(rollout, sizeof rollout, json_object_get(f, "rollout")));
    }
    if (json_array_size(flags) == 0) {
        printf("(no flags)\n");
    }
    json_decref(result);
    return GKCTL_OK;
}

static int
flag_delete(int argc, char **argv, const gkctl_opts *o)
{
    gkctl_admin_opts a = {0};
    const char *key = NULL;
    json_t *result = NULL;
    uint64_t version = 0;
    int rc;

    if (parse_args(&a, "flag delete", argc, argv, &key, 1, NULL) != 1) {
        fprintf(stderr, "gkctl flag delete: needs KEY\n");
        return gkctl_usage();
    }
    rc = gkctl_admin_call(o, &a, "flag delete", "flag.delete", json_pack("{s:s}", "key", key), 1,
                          &result, &version);
    if (rc != GKCTL_OK) {
        return rc;
    }
    if (o->json) {
        gkctl_print_json(result);
        return GKCTL_OK;
    }
    gkctl_print_changes(o, json_object_get(result, "changes"));
    printf("version %llu\n", (unsigned long long) version);
    json_decref(result);
    return GKCTL_OK;
}

int
gkctl_flag_main(int argc, char **argv, const gkctl_opts *o)
{
    if (strcmp(argv[0], "apply") == 0) {
        return flag_apply(argc, argv, o);
    }
    if (strcmp(argv[0], "get") == 0) {
        return flag_get(argc, argv, o);
    }
    if (strcmp(argv[0], "list") == 0) {
        return flag_list(argc, argv, o);
    }
    if (strcmp(argv[0], "delete") == 0) {
        return flag_delete(argc, argv, o);
    }
    fprintf(stderr, "gkctl flag: unknown subcommand \"%s\" (apply, get, list, delete)\n", argv[0]);
    return gkctl_usage();
}
