/*
 * registry_cmd.c - the schema registry, consumers and backfills, each one admin op:
 *   gkctl schema register NAME FILE.avsc [--mode M] [--pii f1,f2] [--owner TEAM]   schema.register
 *   gkctl schema list                                                     schema.list
 *   gkctl schema get NAME [--version N]                                   schema.get
 *   gkctl schema diff NAME V1 V2                                          schema.get twice
 *   gkctl consumer register NAME --schema S --supports 1,2 --owner TEAM [--clearances pii]
 *                                                                         consumer.register
 *   gkctl backfill done FLAG                                              backfill.done
 * register and done are changes (--why). `schema diff` is computed here, from the two versions
 * the gatekeeper returns: it is a reading aid (fields added, removed, retyped, defaults), not the
 * compatibility check, which stays compatibility.lua's (schema register, schema check).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gkctl.h"

#define MAX_POS 3

/* The options of the registry commands; NULL when not given. */
struct regopts {
    const char *pos[MAX_POS];
    int npos;
    const char *mode, *pii, *owner, *version, *schema, *supports, *clearances;
};

/*
 * Parse argv[1..] into r: the admin options, exactly `npos` positional arguments (named `what`
 * in the message) and the options named in `allowed` (e.g. "--mode --pii"). -1 after printing.
 */
static int
parse(struct regopts *r, gkctl_admin_opts *a, const char *cmd, int argc, char **argv, int npos,
      const char *what, const char *allowed)
{
    const struct {
        const char *name;
        const char **slot;
    } table[] = {
        {"--mode", &r->mode},         {"--pii", &r->pii},
        {"--owner", &r->owner},       {"--version", &r->version},
        {"--schema", &r->schema},     {"--supports", &r->supports},
        {"--clearances", &r->clearances},
    };

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
        for (size_t t = 0; t < sizeof table / sizeof table[0]; t++) {
            const char *hit = strstr(allowed, table[t].name);
            size_t len = strlen(table[t].name);
            if (strcmp(argv[i], table[t].name) == 0 && hit != NULL &&
                (hit[len] == ' ' || hit[len] == '\0')) {
                slot = table[t].slot;
            }
        }
        if (slot != NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "gkctl %s: %s needs a value\n", cmd, argv[i]);
                return -1;
            }
            *slot = argv[++i];
        } else if (argv[i][0] != '-' && r->npos < npos) {
            r->pos[r->npos++] = argv[i];
        } else {
            fprintf(stderr, "gkctl %s: unexpected argument \"%s\"\n", cmd, argv[i]);
            return -1;
        }
    }
    if (r->npos != npos) {
        fprintf(stderr, "gkctl %s: needs %s\n", cmd, what);
        return -1;
    }
    return 0;
}

/*
 * "a,b" -> ["a","b"]; with `versions`, "1,2" -> [1,2] (integers >= 1). NULL after printing why
 * (an empty item, a version that is not one).
 */
static json_t *
split_list(const char *cmd, const char *opt, const char *s, int versions)
{
    json_t *list = json_array();
    const char *p = s;

    while (list != NULL) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t) (end - p) : strlen(p);
        char item[256];
        uint64_t n;

        if (len == 0 || len >= sizeof item) {
            fprintf(stderr, "gkctl %s: %s \"%s\": a comma-separated list without empty items\n",
                    cmd, opt, s);
            json_decref(list);
            return NULL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (versions) {
            if (gkctl_parse_u64(item, &n) != 0 || n == 0 || n > INT32_MAX) {
                fprintf(stderr, "gkctl %s: %s \"%s\": schema versions are integers >= 1 (e.g. "
                                "1,2)\n", cmd, opt, s);
                json_decref(list);
                return NULL;
            }
            json_array_append_new(list, json_integer((json_int_t) n));
        } else {
            json_array_append_new(list, json_string(item));
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    return list;
}

/* Print a change op's {"changes"} result and the new state version (or the JSON); frees it. */
static int
print_changes_result(const gkctl_opts *o, json_t *result, uint64_t version)
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

/* ---- schema register / list / get ----------------------------------------------------------- */

static int
schema_register(const gkctl_opts *o, gkctl_admin_opts *a, int argc, char **argv)
{
    struct regopts r;
    json_t *schema, *args, *result = NULL;
    json_error_t jerr;
    uint64_t version = 0;
    int rc;

    if (parse(&r, a, "schema register", argc, argv, 2, "NAME FILE.avsc",
              "--mode --pii --owner") != 0) {
        return gkctl_usage();
    }
    schema = json_load_file(r.pos[1], JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (schema == NULL) {
        fprintf(stderr, "gkctl schema register: %s:%d:%d: not JSON (an Avro schema): %s\n",
                r.pos[1], jerr.line, jerr.column, jerr.text);
        return GKCTL_USAGE;
    }
    args = json_pack("{s:s,s:o}", "name", r.pos[0], "schema", schema);
    if (args == NULL) {
        fprintf(stderr, "gkctl schema register: out of memory\n");
        return GKCTL_FAIL;
    }
    if (r.mode != NULL) {
        json_object_set_new(args, "mode", json_string(r.mode));
    }
    if (r.owner != NULL) {
        json_object_set_new(args, "owner", json_string(r.owner));
    }
    if (r.pii != NULL) {
        json_t *pii = split_list("schema register", "--pii", r.pii, 0);
        if (pii == NULL) {
            json_decref(args);
            return GKCTL_USAGE;
        }
        json_object_set_new(args, "pii", pii);
    }
    rc = gkctl_admin_call(o, a, "schema register", "schema.register", args, 1, &result, &version);
    if (rc != GKCTL_OK) {
        return rc;
    }
    if (o->json) {
        gkctl_print_json(result);
        return GKCTL_OK;
    }
    printf("%s+ schema %s version %lld%s registered\n", gkctl_color(o, "32"), r.pos[0],
           (long long) json_integer_value(json_object_get(result, "version")),
           gkctl_color(o, "0"));
    printf("version %llu\n", (unsigned long long) version);
    json_decref(result);
    return GKCTL_OK;
}

/* Comma-joined strings of a list into buf ("-" when empty). */
static const char *
join(char *buf, size_t size, const json_t *list)
{
    const json_t *v;
    size_t i, used = 0;

    buf[0] = '\0';
    json_array_foreach (list, i, v) {
        char num[24];
        const char *s = json_is_integer(v) ? num : gkctl_str(v, "?");
        if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long) json_integer_value(v));
        }
        if (used + 1 < size) {
            used += (size_t) snprintf(buf + used, size - used, "%s%s", i > 0 ? "," : "", s);
        }
    }
    if (buf[0] == '\0' && size > 1) {
        snprintf(buf, size, "-");
    }
    return buf;
}

static int
schema_list(const gkctl_opts *o, gkctl_admin_opts *a, int argc, char **argv)
{
    struct regopts r;
    json_t *result = NULL;
    const json_t *schemas, *s;
    int wname = 6, wmode = 4, wowner = 5;
    size_t i;
    int rc;

    if (parse(&r, a, "schema list", argc, argv, 0, "no arguments", "") != 0) {
        return gkctl_usage();
    }
    rc = gkctl_admin_call(o, a, "schema list", "schema.list", NULL, 0, &result, NULL);
    if (rc != GKCTL_OK) {
        return rc;
    }
    if (o->json) {
        gkctl_print_json(result);
        return GKCTL_OK;
    }
    schemas = json_object_get(result, "schemas");
    json_array_foreach (schemas, i, s) {
        int l = (int) strlen(gkctl_str(json_object_get(s, "name"), "?"));
        wname = l > wname ? l : wname;
        l = (int) strlen(gkctl_str(json_object_get(s, "mode"), "-"));
        wmode = l > wmode ? l : wmode;
        l = (int) strlen(gkctl_str(json_object_get(s, "owner"), "-"));
        wowner = l > wowner ? l : wowner;
    }
    printf("%s%-*s  %-*s  %-*s  %-8s  %s%s\n", gkctl_color(o, "1"), wname, "SCHEMA", wmode, "MODE",
           wowner, "OWNER", "VERSIONS", "PII", gkctl_color(o, "0"));
    json_array_foreach (schemas, i, s) {
        char pii[512];
        printf("%-*s  %-*s  %-*s  %-8lld  %s\n", wname, gkctl_str(json_object_get(s, "name"), "?"),
               wmode, gkctl_str(json_object_get(s, "mode"), "-"), wowner,
               gkctl_str(json_object_get(s, "owner"), "-"),
               (long long) json_integer_value(json_object_get(s, "versions")),
               join(pii, sizeof pii, json_object_get(s, "pii")));
    }
    if (json_array_size(schemas) == 0) {
        printf("(no schemas)\n");
    }
    json_decref(result);
    return GKCTL_OK;
}

/* schema.get of NAME at `version` (NULL: the latest); the result on GKCTL_OK. */
static int
get_version(const gkctl_opts *o, const gkctl_admin_opts *a, const char *cmd, const char *name,
            const char *version, json_t **resultp)
{
    json_t *args = json_pack("{s:s}", "name", name);
    uint64_t n;

    *resultp = NULL;
    if (version != NULL) {
        if (gkctl_parse_u64(version, &n) != 0 || n == 0 || n > INT32_MAX) {
            fprintf(stderr, "gkctl %s: \"%s\" is not a schema version (an integer >= 1)\n", cmd,
                    version);
            json_decref(args);
            return GKCTL_USAGE;
        }
        json_object_set_new(args, "version", json_integer((json_int_t) n));
    }
    return gkctl_admin_call(o, a, cmd, "schema.get", args, 0, resultp, NULL);
}

static int
schema_get(const gkctl_opts *o, gkctl_admin_opts *a, int argc, char **argv)
{
    struct regopts r;
    json_t *result = NULL;
    int rc;

    if (parse(&r, a, "schema get", argc, argv, 1, "NAME", "--version") != 0) {
        return gkctl_usage();
    }
    rc = get_version(o, a, "schema get", r.pos[0], r.version, &result);
    if (rc != GKCTL_OK) {
        return rc;
    }
    if (o->json) {
        gkctl_print_json(result);
        return GKCTL_OK;
    }
    /* Only the Avro schema on stdout, so `gkctl schema get orders > orders.avsc` is a file. */
    gkctl_print_json(json_incref(json_object_get(result, "schema")));
    json_decref(result);
    return GKCTL_OK;
}

/* ---- schema diff ---------------------------------------------------------------------------- */

/* `type` as a record schema, or NULL. */
static const json_t *
as_record(const json_t *type)
{
    return json_is_object(type) &&
                   strcmp(gkctl_str(json_object_get(type, "type"), ""), "record") == 0
               ? type
               : NULL;
}

/* The field of `fields` named `name`, or NULL. */
static const json_t *
field_named(const json_t *fields, const char *name)
{
    const json_t *f;
    size_t i;

    json_array_foreach (fields, i, f) {
        if (strcmp(gkctl_str(json_object_get(f, "name"), ""), name) == 0) {
            return f;
        }
    }
    return NULL;
}

static void
add_change(json_t *changes, const char *field, const char *change, const char *k1,
           const json_t *v1, const char *k2, const json_t *v2)
{
    json_t *c = json_pack("{s:s,s:s}", "field", field, "change", change);

    if (c == NULL) {
        return;
    }
    if (k1 != NULL && v1 != NULL) {
        json_object_set(c, k1, (json_t *) (uintptr_t) v1);
    }
    if (k2 != NULL && v2 != NULL) {
        json_object_set(c, k2, (json_t *) (uintptr_t) v2);
    }
    json_array_append_new(changes, c);
}

static void diff_records(json_t *changes, const json_t *before, const json_t *after,
                         const char *prefix, int depth);

/*
 * Compare the types of one field. A nested record (directly, or as the same branch of unions
 * that otherwise agree, e.g. ["null", {record}]) is compared field by field as "field.sub";
 * any other difference is one "type" change.
 */
static void
diff_type(json_t *changes, const char *path, const json_t *bt, const json_t *at, int depth)
{
    char sub[512];
    size_t i;

    if (json_equal(bt, at)) {
        return;
    }
    snprintf(sub, sizeof sub, "%s.", path);
    if (depth < 8 && as_record(bt) != NULL && as_record(at) != NULL &&
        strcmp(gkctl_str(json_object_get(bt, "name"), ""),
               gkctl_str(json_object_get(at, "name"), "")) == 0) {
        diff_records(changes, bt, at, sub, depth + 1);
        return;
    }
    if (depth < 8 && json_is_array(bt) && json_is_array(at) &&
        json_array_size(bt) == json_array_size(at)) {
        int same_shape = 1;
        for (i = 0; i < json_array_size(bt) && same_shape; i++) {
            const json_t *b = json_array_get(bt, i), *a = json_array_get(at, i);
            same_shape = json_equal(b, a) || (as_record(b) != NULL && as_record(a) != NULL);
        }
        if (same_shape) {
            for (i = 0; i < json_array_size(bt); i++) {
                diff_type(changes, path, json_array_get(bt, i), json_array_get(at, i), depth + 1);
            }
            return;
        }
    }
    add_change(changes, path, "type", "before", bt, "after", at);
}

static void
diff_records(json_t *changes, const json_t *before, const json_t *after, const char *prefix,
             int depth)
{
    const json_t *bf = json_object_get(before, "fields"), *af = json_object_get(after, "fields");
    const json_t *f;
    size_t i;

    json_array_foreach (bf, i, f) {
        const char *name = gkctl_str(json_object_get(f, "name"), "?");
        const json_t *g = field_named(af, name);
        const json_t *bd = json_object_get(f, "default"), *ad;
        char path[512];

        snprintf(path, sizeof path, "%s%s", prefix, name);
        if (g == NULL) {
            add_change(changes, path, "removed", "type", json_object_get(f, "type"), "default",
                       bd);
            continue;
        }
        diff_type(changes, path, json_object_get(f, "type"), json_object_get(g, "type"), depth);
        ad = json_object_get(g, "default");
        if (bd == NULL && ad != NULL) {
            add_change(changes, path, "default_added", "default", ad, NULL, NULL);
        } else if (bd != NULL && ad == NULL) {
            add_change(changes, path, "default_removed", "default", bd, NULL, NULL);
        } else if (bd != NULL && !json_equal(bd, ad)) {
            add_change(changes, path, "default_changed", "before", bd, "after", ad);
        }
    }
    json_array_foreach (af, i, f) {
        const char *name = gkctl_str(json_object_get(f, "name"), "?");
        char path[512];

        if (field_named(bf, name) == NULL) {
            snprintf(path, sizeof path, "%s%s", prefix, name);
            add_change(changes, path, "added", "type", json_object_get(f, "type"), "default",
                       json_object_get(f, "default"));
        }
    }
}

/* One readable line per change of diff_records. */
static void
print_diff_line(const gkctl_opts *o, const json_t *c)
{
    const char *field = gkctl_str(json_object_get(c, "field"), "?");
    const char *kind = gkctl_str(json_object_get(c, "change"), "?");
    char b1[200], b2[200];

    if (strcmp(kind, "added") == 0 || strcmp(kind, "removed") == 0) {
        int added = kind[0] == 'a';
        const json_t *d = json_object_get(c, "default");
        printf("%s%s %s %s%s%s%s\n", gkctl_color(o, added ? "32" : "31"), added ? "+" : "-",
               field, gkctl_compact(b1, sizeof b1, json_object_get(c, "type")),
               d != NULL ? " default " : "", d != NULL ? gkctl_compact(b2, sizeof b2, d) : "",
               gkctl_color(o, "0"));
    } else if (strcmp(kind, "type") == 0 || strcmp(kind, "default_changed") == 0) {
        printf("%s~ %s %s: %s -> %s%s\n", gkctl_color(o, "33"), field,
               kind[0] == 't' ? "type" : "default",
               gkctl_compact(b1, sizeof b1, json_object_get(c, "before")),
               gkctl_compact(b2, sizeof b2, json_object_get(c, "after")), gkctl_color(o, "0"));
    } else {
        printf("%s~ %s default %s: %s%s\n", gkctl_color(o, "33"), field,
               strcmp(kind, "default_added") == 0 ? "added" : "removed",
               gkctl_compact(b1, sizeof b1, json_object_get(c, "default")), gkctl_color(o, "0"));
    }
}

static int
schema_diff(const gkctl_opts *o, gkctl_admin_opts *a, int argc, char **argv)
{
    struct regopts r;
    json_t *v1 = NULL, *v2 = NULL, *changes = NULL;
    const json_t *s1, *s2;
    int rc;

    if (parse(&r, a, "schema diff", argc, argv, 3, "NAME V1 V2", "") != 0) {
        return gkctl_usage();
    }
    rc = get_version(o, a, "schema diff", r.pos[0], r.pos[1], &v1);
    if (rc == GKCTL_OK) {
        rc = get_version(o, a, "schema diff", r.pos[0], r.pos[2], &v2);
    }
    if (rc != GKCTL_OK) {
        json_decref(v1);
        return rc;
    }
    s1 = json_object_get(v1, "schema");
    s2 = json_object_get(v2, "schema");
    changes = json_array();
    if (as_record(s1) != NULL && as_record(s2) != NULL) {
        if (!json_equal(json_object_get(s1, "name"), json_object_get(s2, "name"))) {
            add_change(changes, "(record)", "name", "before", json_object_get(s1, "name"), "after",
                       json_object_get(s2, "name"));
        }
        diff_records(changes, s1, s2, "", 0);
    } else if (!json_equal(s1, s2)) {
        add_change(changes, "(schema)", "type", "before", s1, "after", s2);
    }
    if (o->json) {
        gkctl_print_json(json_pack("{s:s,s:O,s:O,s:o}", "name", r.pos[0], "from",
                                   json_object_get(v1, "version"), "to",
                                   json_object_get(v2, "version"), "changes", changes));
    } else {
        const json_t *c;
        size_t i;

        printf("schema %s: version %lld -> %lld, %zu change%s\n", r.pos[0],
               (long long) json_integer_value(json_object_get(v1, "version")),
               (long long) json_integer_value(json_object_get(v2, "version")),
               json_array_size(changes), json_array_size(changes) == 1 ? "" : "s");
        json_array_foreach (changes, i, c) {
            if (strcmp(gkctl_str(json_object_get(c, "change"), ""), "name") == 0) {
                char b1[200], b2[200];
                printf("~ record name: %s -> %s\n",
                       gkctl_compact(b1, sizeof b1, json_object_get(c, "before")),
                       gkctl_compact(b2, sizeof b2, json_object_get(c, "after")));
            } else {
                print_diff_line(o, c);
            }
        }
        json_decref(changes);
    }
    json_decref(v1);
    json_decref(v2);
    return GKCTL_OK;
}

int
gkctl_registry_schema_main(int argc, char **argv, const gkctl_opts *o)
{
    gkctl_admin_opts a = {0};

    if (strcmp(argv[0], "register") == 0) {
        return schema_register(o, &a, argc, argv);
    }
    if (strcmp(argv[0], "list") == 0) {
        return schema_list(o, &a, argc, argv);
    }
    if (strcmp(argv[0], "get") == 0) {
        return schema_get(o, &a, argc, argv);
    }
    if (strcmp(argv[0], "diff") == 0) {
        return schema_diff(o, &a, argc, argv);
    }
    fprintf(stderr, "gkctl schema: unknown subcommand \"%s\" (check, register, list, get, diff)\n",
            argv[0]);
    return gkctl_usage();
}

/* ---- consumer register, backfill done ------------------------------------------------------- */

static int
consumer_register(const gkctl_opts *o, gkctl_admin_opts *a, int argc, char **argv)
{
    struct regopts r;
    json_t *supports, *args, *result = NULL;
    uint64_t version = 0;
    int rc;

    if (parse(&r, a, "consumer register", argc, argv, 1, "NAME",
              "--schema --supports --owner --clearances") != 0) {
        return gkctl_usage();
    }
    if (r.schema == NULL || r.supports == NULL || r.owner == NULL) {
        fprintf(stderr, "gkctl consumer register: needs --schema S, --supports 1,2 (the versions "
                        "it reads) and --owner TEAM\n");
        return gkctl_usage();
    }
    supports = split_list("consumer register", "--supports", r.supports, 1);
    if (supports == NULL) {
        return GKCTL_USAGE;
    }
    args = json_pack("{s:s,s:s,s:o,s:s}", "name", r.pos[0], "schema", r.schema, "supports",
                     supports, "owner", r.owner);
    if (args != NULL && r.clearances != NULL) {
        json_t *cl = split_list("consumer register", "--clearances", r.clearances, 0);
        if (cl == NULL) {
            json_decref(args);
            return GKCTL_USAGE;
        }
        json_object_set_new(args, "clearances", cl);
    }
    rc = gkctl_admin_call(o, a, "consumer register", "consumer.register", args, 1, &result,
                          &version);
    return rc != GKCTL_OK ? rc : print_changes_result(o, result, version);
}

int
gkctl_consumer_main(int argc, char **argv, const gkctl_opts *o)
{
    gkctl_admin_opts a = {0};

    if (strcmp(argv[0], "register") == 0) {
        return consumer_register(o, &a, argc, argv);
    }
    fprintf(stderr, "gkctl consumer: unknown subcommand \"%s\" (register)\n", argv[0]);
    return gkctl_usage();
}

int
gkctl_backfill_main(int argc, char **argv, const gkctl_opts *o)
{
    gkctl_admin_opts a = {0};
    struct regopts r;
    json_t *result = NULL;
    uint64_t version = 0;
    int rc;

    if (strcmp(argv[0], "done") != 0) {
        fprintf(stderr, "gkctl backfill: unknown subcommand \"%s\" (done)\n", argv[0]);
        return gkctl_usage();
    }
    if (parse(&r, &a, "backfill done", argc, argv, 1, "FLAG", "") != 0) {
        return gkctl_usage();
    }
    rc = gkctl_admin_call(o, &a, "backfill done", "backfill.done",
                          json_pack("{s:s}", "key", r.pos[0]), 1, &result, &version);
    return rc != GKCTL_OK ? rc : print_changes_result(o, result, version);
}
