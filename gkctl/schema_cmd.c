/*
 * schema_cmd.c - `gkctl schema check --mode MODE NEW.avsc PREV.avsc... [--policies DIR]`, the
 * local check; the other `schema` subcommands (register, list, get, diff) are in registry_cmd.c.
 *
 * The check itself is compatibility.lua's global function check(mode, new_schema,
 * previous_schemas): it returns a list of violations {location = ..., message = ...} (empty when
 * compatible) and raises an error whose message starts with "invalid schema" for a schema that is
 * not valid Avro. Previous schemas are passed in the order given: oldest first, the latest last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gkctl.h"
#include "policy.h"

static const char *const modes[] = {"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD",
                                    "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE",
                                    NULL};

/* The message without a leading "file:line: " position. */
static const char *
without_location(const char *msg)
{
    const char *p = msg;

    while (*p != '\0' && *p != ':' && *p != ' ') {
        p++;
    }
    if (*p == ':' && p[1] >= '0' && p[1] <= '9') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
        }
        if (p[0] == ':' && p[1] == ' ') {
            return p + 2;
        }
    }
    return msg;
}

static int
invalid(const gkctl_opts *o, const char *msg)
{
    if (o->json) {
        gkctl_print_json(json_pack("{s:b,s:s}", "compatible", 0, "error", msg));
    } else {
        fprintf(stderr, "%s\n", msg);
    }
    return GKCTL_USAGE;
}

static int
schema_check(int argc, char **argv, const gkctl_opts *o)
{
    const char *mode = NULL, *dir = "policies";
    gkd_policy_set *set = NULL;
    gkd_policy_vm *vm = NULL;
    json_t *files = json_array(), *prevs = json_array(), *args = NULL, *result = NULL, *v;
    char err[512], msg[700];
    json_error_t jerr;
    gk_diag d;
    gk_err rv;
    size_t i;
    int rc = GKCTL_USAGE, valid = 0;

    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--mode") == 0 && a + 1 < argc) {
            mode = argv[++a];
        } else if (strcmp(argv[a], "--policies") == 0 && a + 1 < argc) {
            dir = argv[++a];
        } else if (argv[a][0] == '-' && argv[a][1] != '\0') {
            fprintf(stderr, "gkctl schema check: unexpected option \"%s\"\n", argv[a]);
            rc = gkctl_usage();
            goto done;
        } else {
            json_array_append_new(files, json_string(argv[a]));
        }
    }
    if (mode == NULL || json_array_size(files) < 2) {
        fprintf(stderr, "gkctl schema check: needs --mode MODE, NEW.avsc and at least one "
                        "PREV.avsc\n");
        rc = gkctl_usage();
        goto done;
    }
    for (const char *const *m = modes; *m != NULL; m++) {
        valid = valid || strcmp(*m, mode) == 0;
    }
    if (!valid) {
        snprintf(msg, sizeof msg, "gkctl schema check: unknown mode \"%.64s\" (valid modes: "
                 "BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, "
                 "FULL_TRANSITIVE, NONE)", mode);
        rc = invalid(o, msg);
        goto done;
    }
    args = json_array();
    json_array_append_new(args, json_string(mode));
    json_array_foreach (files, i, v) {
        json_t *s = json_load_file(json_string_value(v), JSON_DECODE_ANY, &jerr);
        if (s == NULL) {
            snprintf(msg, sizeof msg, "%.300s:%d:%d: not JSON: %s", json_string_value(v),
                     jerr.line, jerr.column, jerr.text);
            rc = invalid(o, msg);
            goto done;
        }
        json_array_append_new(i == 0 ? args : prevs, s);
    }
    json_array_append(args, prevs);
    memset(&d, 0, sizeof d);
    rv = gkd_policy_set_load(&set, dir, NULL, &d);
    if (rv == GK_OK) {
        rv = gkd_policy_vm_open(&vm, set, &d);
    }
    if (rv != GK_OK) {
        snprintf(msg, sizeof msg, "%.63s:%d: %s", d.source, d.line, d.text);
        if (o->json) {
            gkctl_print_json(json_pack("{s:s}", "error", msg));
        } else {
            fprintf(stderr, "%s\n", msg);
        }
        rc = rv == GK_ENOENT ? GKCTL_USAGE : GKCTL_FAIL;
        goto done;
    }
    rv = gkd_policy_vm_call_global(vm, "compatibility.lua", "check", args, &result, err,
                                   sizeof err);
    if (rv != GK_OK) {
        if (strncmp(without_location(err), "invalid schema", 14) == 0) {
            rc = invalid(o, err);
        } else {
            if (o->json) {
                gkctl_print_json(json_pack("{s:s}", "error", err));
            } else {
                fprintf(stderr, "gkctl schema check: %s\n", err);
            }
            rc = GKCTL_FAIL;
        }
        goto done;
    }
    if (!json_is_array(result)) {
        fprintf(stderr, "gkctl schema check: compatibility.lua check() did not return a list\n");
        rc = GKCTL_FAIL;
        goto done;
    }
    if (o->json) {
        gkctl_print_json(json_pack("{s:b,s:s,s:O}", "compatible", json_array_size(result) == 0,
                                   "mode", mode, "violations", result));
    } else if (json_array_size(result) == 0) {
        printf("%scompatible%s (%s)\n", gkctl_color(o, "32"), gkctl_color(o, "0"), mode);
    } else {
        printf("%sincompatible%s (%s): %zu violation%s\n", gkctl_color(o, "31"),
               gkctl_color(o, "0"), mode, json_array_size(result),
               json_array_size(result) == 1 ? "" : "s");
        json_array_foreach (result, i, v) {
            json_t *loc = json_object_get(v, "location"), *m = json_object_get(v, "message");
            printf("  %s: %s\n", json_is_string(loc) ? json_string_value(loc) : "?",
                   json_is_string(m) ? json_string_value(m) : "?");
        }
    }
    rc = json_array_size(result) == 0 ? GKCTL_OK : GKCTL_FAIL;
done:
    json_decref(result);
    json_decref(args);
    json_decref(prevs);
    json_decref(files);
    gkd_policy_vm_close(vm);
    gkd_policy_set_rele(set);
    return rc;
}

int
gkctl_schema_main(int argc, char **argv, const gkctl_opts *o)
{
    if (strcmp(argv[0], "check") == 0) {
        return schema_check(argc, argv, o);
    }
    /* The registry commands talk to a gatekeeper (registry_cmd.c). */
    return gkctl_registry_schema_main(argc, argv, o);
}
