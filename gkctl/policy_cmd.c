/*
 * policy_cmd.c - `gkctl policy test [DIR]` and `gkctl policy eval HOOK --input FILE`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gkctl.h"
#include "policy.h"
#include "policy_tests.h"

struct test_out {
    const gkctl_opts *o;
    json_t *failures; /* --json */
};

static void
report(void *ud, const char *file, const char *test, int ok, const char *where, const char *msg)
{
    struct test_out *t = ud;

    if (ok) {
        return;
    }
    if (t->o->json) {
        json_array_append_new(t->failures, json_pack("{s:s,s:s,s:s,s:s}", "file", file, "test",
                                                     test, "where", where, "message", msg));
        return;
    }
    printf("%sFAIL%s %s: %s: %s\n", gkctl_color(t->o, "31"), gkctl_color(t->o, "0"), where, test,
           msg);
}

/* Print a load failure (file:line: text) and return GKCTL_FAIL (GKCTL_USAGE for a bad DIR). */
static int
load_failed(const gkctl_opts *o, const char *dir, gk_err rv, const gk_diag *d)
{
    char where[96];

    if (d->line > 0) {
        snprintf(where, sizeof where, "%.63s:%d", d->source, d->line);
    } else {
        snprintf(where, sizeof where, "%.63s", d->source);
    }
    if (o->json) {
        gkctl_print_json(json_pack("{s:s,s:s,s:s,s:i}", "error", d->text, "where", where, "dir",
                                   dir, "passed", 0));
    } else {
        fprintf(stderr, "%s: %s\n", where, d->text);
    }
    return rv == GK_ENOENT ? GKCTL_USAGE : GKCTL_FAIL;
}

static int
policy_test(int argc, char **argv, const gkctl_opts *o)
{
    const char *dir = argc >= 2 ? argv[1] : "policies";
    gkd_policy_set *set = NULL;
    struct test_out t = {o, NULL};
    char tests[4096];
    size_t passed = 0, failed = 0;
    gk_diag d;
    gk_err rv;

    if (argc > 2) {
        fprintf(stderr, "gkctl policy test: too many arguments\n");
        return gkctl_usage();
    }
    memset(&d, 0, sizeof d);
    rv = gkd_policy_set_load(&set, dir, NULL, &d);
    if (rv != GK_OK) {
        return load_failed(o, dir, rv, &d);
    }
    if (snprintf(tests, sizeof tests, "%s/tests", dir) >= (int) sizeof tests) {
        gkd_policy_set_rele(set);
        fprintf(stderr, "gkctl policy test: path too long\n");
        return GKCTL_USAGE;
    }
    if (o->json) {
        t.failures = json_array();
    }
    memset(&d, 0, sizeof d);
    rv = gkd_policy_set_test_report(set, tests, report, &t, &passed, &failed, &d);
    gkd_policy_set_rele(set);
    if (rv != GK_OK && rv != GK_EPROTO) {
        fprintf(stderr, "gkctl policy test: %s: %s\n", d.source, d.text);
        json_decref(t.failures);
        return GKCTL_FAIL;
    }
    if (o->json) {
        gkctl_print_json(json_pack("{s:I,s:I,s:o}", "passed", (json_int_t) passed, "failed",
                                   (json_int_t) failed, "failures", t.failures));
    } else {
        printf("%s%zu passed, %zu failed%s\n", gkctl_color(o, failed ? "31" : "32"), passed,
               failed, gkctl_color(o, "0"));
    }
    return failed > 0 ? GKCTL_FAIL : GKCTL_OK;
}

static const char *
effective_verdict(const char *hook, gkd_policy_outcome outcome)
{
    switch (outcome) {
    case GKD_POLICY_ALLOW:
        return "allow";
    case GKD_POLICY_DEFAULT:
        return strcmp(hook, "authorize") == 0 ? "deny" : "allow";
    case GKD_POLICY_DENY:
    case GKD_POLICY_ERROR:
    default:
        return "deny";
    }
}

static const char *
str_or(const json_t *v, const char *dflt)
{
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static void
print_readable(const gkctl_opts *o, const char *hook, const gkd_policy_result *r)
{
    size_t i;
    json_t *e;
    int wp = 6, wv = 7, ws = 6;

    printf("hook:    %s\n", hook);
    printf("verdict: %s%s%s (%s", gkctl_color(o, r->outcome == GKD_POLICY_ALLOW ? "32" : "31"),
           effective_verdict(hook, r->outcome), gkctl_color(o, "0"),
           gkd_policy_outcome_name(r->outcome));
    if (r->policy[0] != '\0') {
        printf(", policy %s", r->policy);
    }
    printf(")\n");
    if (r->variant[0] != '\0') {
        printf("variant: %s\n", r->variant);
    }
    if (r->mask != NULL) {
        printf("mask:   ");
        json_array_foreach (r->mask, i, e) {
            printf(" %s", json_string_value(e));
        }
        printf("\n");
    }
    if (r->error[0] != '\0') {
        printf("error:   %s\n", r->error);
    }
    json_array_foreach (r->trace, i, e) {
        int l;
        l = (int) strlen(str_or(json_object_get(e, "policy"), ""));
        wp = l > wp ? l : wp;
        l = (int) strlen(str_or(json_object_get(e, "verdict"), ""));
        wv = l > wv ? l : wv;
        l = (int) strlen(str_or(json_object_get(e, "source"), ""));
        ws = l > ws ? l : ws;
    }
    printf("\n%-*s  %-*s  %-*s  %s\n", wp, "POLICY", wv, "VERDICT", ws, "SOURCE", "REASON");
    if (json_array_size(r->trace) == 0) {
        printf("(no policy gave a verdict)\n");
    }
    json_array_foreach (r->trace, i, e) {
        json_t *vio = json_object_get(e, "violations"), *x;
        size_t k;
        printf("%-*s  %-*s  %-*s  %s\n", wp, str_or(json_object_get(e, "policy"), ""), wv,
               str_or(json_object_get(e, "verdict"), ""), ws,
               str_or(json_object_get(e, "source"), ""), str_or(json_object_get(e, "reason"), "-"));
        if (json_object_get(e, "variant") != NULL) {
            printf("%-*s    variant %s\n", wp, "", str_or(json_object_get(e, "variant"), ""));
        }
        json_array_foreach (vio, k, x) {
            printf("%-*s    %s: %s\n", wp, "", str_or(json_object_get(x, "location"), "?"),
                   str_or(json_object_get(x, "message"), "?"));
        }
    }
}

static int
policy_eval(int argc, char **argv, const gkctl_opts *o)
{
    const char *hook = NULL, *input = NULL, *dir = "policies";
    gkd_policy_set *set = NULL;
    gkd_policy_vm *vm = NULL;
    gkd_policy_result r;
    json_error_t jerr;
    json_t *in = NULL, *state;
    gk_diag d;
    gk_err rv;
    int rc = GKCTL_USAGE;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--input") == 0 && i + 1 < argc) {
            input = argv[++i];
        } else if (strcmp(argv[i], "--policies") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (argv[i][0] != '-' && hook == NULL) {
            hook = argv[i];
        } else {
            fprintf(stderr, "gkctl policy eval: unexpected argument \"%s\"\n", argv[i]);
            return gkctl_usage();
        }
    }
    if (hook == NULL || input == NULL) {
        fprintf(stderr, "gkctl policy eval: needs HOOK and --input FILE\n");
        return gkctl_usage();
    }
    if (strcmp(hook, "authorize") != 0 && strcmp(hook, "on_change") != 0 &&
        strcmp(hook, "on_evaluate") != 0 && strcmp(hook, "mask") != 0) {
        fprintf(stderr, "gkctl policy eval: unknown hook \"%s\" (authorize, on_change, "
                        "on_evaluate, mask)\n", hook);
        return GKCTL_USAGE;
    }
    in = json_load_file(input, 0, &jerr);
    if (!json_is_object(in)) {
        fprintf(stderr, "%s:%d: %s\n", input, jerr.line, in ? "input is not a JSON object" : jerr.text);
        json_decref(in);
        return GKCTL_USAGE;
    }
    memset(&d, 0, sizeof d);
    rv = gkd_policy_set_load(&set, dir, NULL, &d);
    if (rv == GK_OK) {
        rv = gkd_policy_vm_open(&vm, set, &d);
    }
    if (rv != GK_OK) {
        rc = load_failed(o, dir, rv, &d);
        goto done;
    }
    state = json_object_get(in, "state");
    if (state != NULL && (!json_is_object(state) || gkd_policy_vm_set_state(vm, state, 1) != GK_OK)) {
        fprintf(stderr, "%s: \"state\" must be an object that fits the memory budget\n", input);
        goto done;
    }
    memset(&r, 0, sizeof r);
    if (strcmp(hook, "authorize") == 0) {
        if (!json_is_object(json_object_get(in, "req"))) {
            fprintf(stderr, "%s: authorize needs \"req\" (an object)\n", input);
            goto done;
        }
        gkd_policy_vm_authorize(vm, json_object_get(in, "req"), 1, &r);
    } else if (strcmp(hook, "on_change") == 0) {
        if (!json_is_object(json_object_get(in, "change"))) {
            fprintf(stderr, "%s: on_change needs \"change\" (an object)\n", input);
            goto done;
        }
        gkd_policy_vm_on_change(vm, json_object_get(in, "change"), 1, &r);
    } else if (strcmp(hook, "on_evaluate") == 0) {
        json_t *p = json_object_get(in, "proposal");
        gkd_policy_proposal prop = {str_or(json_object_get(p, "variant"), NULL),
                                    str_or(json_object_get(p, "reason"), NULL),
                                    str_or(json_object_get(p, "ruleId"), NULL)};
        if (!json_is_object(json_object_get(in, "ctx")) ||
            !json_is_string(json_object_get(in, "flag"))) {
            fprintf(stderr, "%s: on_evaluate needs \"ctx\" (an object) and \"flag\" (a key)\n",
                    input);
            goto done;
        }
        gkd_policy_vm_on_evaluate(vm, json_string_value(json_object_get(in, "flag")),
                                  json_object_get(in, "ctx"), &prop, 1, &r);
    } else {
        if (!json_is_string(json_object_get(in, "kind")) ||
            !json_is_object(json_object_get(in, "record"))) {
            fprintf(stderr, "%s: mask needs \"kind\" (a string) and \"record\" (an object)\n",
                    input);
            goto done;
        }
        gkd_policy_vm_mask(vm, json_string_value(json_object_get(in, "kind")),
                           json_object_get(in, "record"), 1, &r);
    }
    if (o->json) {
        json_t *out = json_pack("{s:s,s:s,s:s}", "hook", hook, "verdict",
                                effective_verdict(hook, r.outcome), "outcome",
                                gkd_policy_outcome_name(r.outcome));
        json_object_set_new(out, "policy", r.policy[0] ? json_string(r.policy) : json_null());
        json_object_set_new(out, "variant", r.variant[0] ? json_string(r.variant) : json_null());
        json_object_set_new(out, "error", r.error[0] ? json_string(r.error) : json_null());
        json_object_set(out, "mask", r.mask != NULL ? r.mask : json_null());
        json_object_set(out, "trace", r.trace != NULL ? r.trace : json_null());
        gkctl_print_json(out);
    } else {
        print_readable(o, hook, &r);
    }
    rc = r.outcome == GKD_POLICY_ERROR ? GKCTL_FAIL : GKCTL_OK;
    gkd_policy_result_fini(&r);
done:
    gkd_policy_vm_close(vm);
    gkd_policy_set_rele(set);
    json_decref(in);
    return rc;
}

int
gkctl_policy_main(int argc, char **argv, const gkctl_opts *o)
{
    if (strcmp(argv[0], "test") == 0) {
        return policy_test(argc, argv, o);
    }
    if (strcmp(argv[0], "eval") == 0) {
        return policy_eval(argc, argv, o);
    }
    fprintf(stderr, "gkctl: unknown command \"policy %s\"\n", argv[0]);
    return gkctl_usage();
}
