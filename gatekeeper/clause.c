/*
 * clause.c - one targeting clause: parsing (strict, it is configuration) and matching (no
 * allocation, no coercion). See clause.h for the matching rules.
 */
#include "clause.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vocab.h"

static const char *const op_names[] = {
    [GKD_CLAUSE_EQUALS] = "equals",
    [GKD_CLAUSE_NOT_EQUALS] = "not_equals",
    [GKD_CLAUSE_STARTS_WITH] = "starts_with",
    [GKD_CLAUSE_ENDS_WITH] = "ends_with",
    [GKD_CLAUSE_IN] = "in",
    [GKD_CLAUSE_NOT_IN] = "not_in",
    [GKD_CLAUSE_LT] = "lt",
    [GKD_CLAUSE_LTE] = "lte",
    [GKD_CLAUSE_GT] = "gt",
    [GKD_CLAUSE_GTE] = "gte",
    [GKD_CLAUSE_SEMVER_EQ] = "semver_eq",
    [GKD_CLAUSE_SEMVER_LT] = "semver_lt",
    [GKD_CLAUSE_SEMVER_LTE] = "semver_lte",
    [GKD_CLAUSE_SEMVER_GT] = "semver_gt",
    [GKD_CLAUSE_SEMVER_GTE] = "semver_gte",
};
#define N_OPS (sizeof op_names / sizeof op_names[0])

/* Spellings other systems use, so the error can say which of ours is meant. */
static const struct {
    const char *alias;
    gkd_clause_op op;
} op_aliases[] = {
    {"eq", GKD_CLAUSE_EQUALS},
    {"==", GKD_CLAUSE_EQUALS},
    {"=", GKD_CLAUSE_EQUALS},
    {"equal", GKD_CLAUSE_EQUALS},
    {"is", GKD_CLAUSE_EQUALS},
    {"ne", GKD_CLAUSE_NOT_EQUALS},
    {"neq", GKD_CLAUSE_NOT_EQUALS},
    {"!=", GKD_CLAUSE_NOT_EQUALS},
    {"notequal", GKD_CLAUSE_NOT_EQUALS},
    {"<", GKD_CLAUSE_LT},
    {"<=", GKD_CLAUSE_LTE},
    {">", GKD_CLAUSE_GT},
    {">=", GKD_CLAUSE_GTE},
    {"le", GKD_CLAUSE_LTE},
    {"ge", GKD_CLAUSE_GTE},
    {"startswith", GKD_CLAUSE_STARTS_WITH},
    {"endswith", GKD_CLAUSE_ENDS_WITH},
    {"notin", GKD_CLAUSE_NOT_IN},
    {"oneof", GKD_CLAUSE_IN},
    {"notoneof", GKD_CLAUSE_NOT_IN},
    {"semvereq", GKD_CLAUSE_SEMVER_EQ},
    {"semverlt", GKD_CLAUSE_SEMVER_LT},
    {"semverlte", GKD_CLAUSE_SEMVER_LTE},
    {"semvergt", GKD_CLAUSE_SEMVER_GT},
    {"semvergte", GKD_CLAUSE_SEMVER_GTE},
    {"semverequals", GKD_CLAUSE_SEMVER_EQ},
};

const char *
gkd_clause_op_name(gkd_clause_op op)
{
    return (size_t) op < N_OPS ? op_names[op] : "?";
}

static bool
op_is_string(gkd_clause_op op)
{
    return op <= GKD_CLAUSE_ENDS_WITH;
}

static bool
op_is_list(gkd_clause_op op)
{
    return op == GKD_CLAUSE_IN || op == GKD_CLAUSE_NOT_IN;
}

static bool
op_is_number(gkd_clause_op op)
{
    return op >= GKD_CLAUSE_LT && op <= GKD_CLAUSE_GTE;
}

static bool
op_is_semver(gkd_clause_op op)
{
    return op >= GKD_CLAUSE_SEMVER_EQ;
}

/* Lower-cases `s` and drops '_', '-' and spaces into buf, for matching near-miss spellings. */
static void
normalise(char *buf, size_t size, const char *s)
{
    size_t n = 0;

    for (; *s != '\0' && n + 1 < size; s++) {
        char c = *s;
        if (c == '_' || c == '-' || c == ' ') {
            continue;
        }
        buf[n++] = (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
    }
    buf[n] = '\0';
}

/* The op `name` probably meant, or NULL. */
static const char *
suggest_op(const char *name)
{
    char want[32];
    char have[32];

    normalise(want, sizeof want, name);
    for (size_t i = 0; i < N_OPS; i++) {
        normalise(have, sizeof have, op_names[i]);
        if (strcmp(want, have) == 0) {
            return op_names[i];
        }
    }
    for (size_t i = 0; i < sizeof op_aliases / sizeof op_aliases[0]; i++) {
        if (strcmp(want, op_aliases[i].alias) == 0) {
            return op_names[op_aliases[i].op];
        }
    }
    return NULL;
}

static bool
parse_op(const char *name, gkd_clause_op *op)
{
    for (size_t i = 0; i < N_OPS; i++) {
        if (strcmp(name, op_names[i]) == 0) {
            *op = (gkd_clause_op) i;
            return true;
        }
    }
    return false;
}

static bool
is_list_scalar(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

void
gkd_clause_fini(gkd_clause *clause)
{
    if (clause == NULL) {
        return;
    }
    free(clause->attribute);
    free(clause->text);
    json_decref(clause->values);
    memset(clause, 0, sizeof *clause);
}

static char *
copy_bytes(const char *s, size_t len)
{
    char *p = malloc(len + 1);

    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

/*
 * Records an error about clause `at` (formatted only when diag will take it: the happy path
 * formats nothing).
 */
typedef struct clause_at {
    const char *flag_key;
    const char *rule_id;
    size_t index;
} clause_at;

static gk_err perr(gk_diag *diag, const char *source, const clause_at *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static gk_err
perr(gk_diag *diag, const char *source, const clause_at *at, const char *fmt, ...)
{
    char msg[sizeof diag->text];
    va_list ap;

    if (diag == NULL || diag->code != GK_OK) {
        return GK_EPROTO;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return gkp_diag_set(diag, GK_EPROTO, source, 0, "flag \"%s\": rule \"%s\": clause %zu: %s",
                        at->flag_key, at->rule_id, at->index + 1, msg);
}

gk_err
gkd_clause_parse(gkd_clause *clause, json_t *json, const char *flag_key, const char *rule_id,
                 size_t index, const char *source, gk_diag *diag)
{
    const clause_at at_ = {flag_key, rule_id, index};
    const clause_at *at = &at_;
    const char *member;
    json_t *v;
    const json_t *attr = NULL;
    const json_t *opj = NULL;
    const json_t *value = NULL;
    const json_t *values = NULL;
    const char *opname;
    gk_err rv;

    memset(clause, 0, sizeof *clause);
    if (!json_is_object(json)) {
        return perr(diag, source, at,
                    "must be an object {\"attribute\", \"op\", \"value\"/\"values\"}");
    }
    /* One pass over the members: unknown ones are errors (this is configuration). */
    json_object_foreach (json, member, v) {
        if (strcmp(member, "attribute") == 0) {
            attr = v;
        } else if (strcmp(member, "op") == 0) {
            opj = v;
        } else if (strcmp(member, "value") == 0) {
            value = v;
        } else if (strcmp(member, "values") == 0) {
            values = v;
        } else {
            return perr(diag, source, at,
                        "unknown member \"%s\" (use attribute, op, value or values)", member);
        }
    }

    if (!json_is_string(attr) || json_string_length(attr) == 0 ||
        json_string_length(attr) > GKD_CLAUSE_ATTRIBUTE_MAX) {
        return perr(diag, source, at,
                    "\"attribute\" must be a non-empty string of at most %d bytes "
                    "naming a context attribute, e.g. \"plan\"",
                    GKD_CLAUSE_ATTRIBUTE_MAX);
    }
    if (strlen(json_string_value(attr)) != json_string_length(attr)) {
        return perr(diag, source, at, "\"attribute\" must not contain NUL characters");
    }
    if (!json_is_string(opj)) {
        return perr(diag, source, at, "\"op\" is required: a string such as \"equals\" or \"in\"");
    }
    opname = json_string_value(opj);
    if (!parse_op(opname, &clause->op)) {
        const char *hint = suggest_op(opname);
        if (hint != NULL) {
            return perr(diag, source, at, "unknown op \"%s\" (use \"%s\")", opname, hint);
        }
        return perr(diag, source, at,
                    "unknown op \"%s\" (use equals, not_equals, starts_with, "
                    "ends_with, in, not_in, lt, lte, gt, gte or semver_*)",
                    opname);
    }

    if (op_is_list(clause->op)) {
        if (value != NULL) {
            return perr(diag, source, at, "op \"%s\" takes \"values\" (an array), not \"value\"",
                        opname);
        }
        if (!json_is_array(values) || json_array_size(values) == 0) {
            return perr(diag, source, at,
                        "op \"%s\" needs \"values\": a non-empty array of strings, "
                        "numbers or booleans",
                        opname);
        }
        for (size_t i = 0; i < json_array_size(values); i++) {
            if (!is_list_scalar(json_array_get(values, i))) {
                return perr(diag, source, at, "\"values\"[%zu] must be a string, number or boolean",
                            i);
            }
        }
    } else {
        if (values != NULL) {
            return perr(diag, source, at,
                        "op \"%s\" takes \"value\", not \"values\" (use \"in\" for a "
                        "list)",
                        opname);
        }
        if (value == NULL) {
            return perr(diag, source, at, "op \"%s\" needs \"value\"", opname);
        }
    }
    if ((op_is_string(clause->op) || op_is_semver(clause->op)) && !json_is_string(value)) {
        return perr(diag, source, at, "op \"%s\" needs a string \"value\"%s", opname,
                    op_is_semver(clause->op) ? ", e.g. \"2.1.0\"" : "");
    }
    if (op_is_number(clause->op) && !json_is_number(value)) {
        return perr(diag, source, at, "op \"%s\" needs a number \"value\", e.g. 10 (not \"10\")",
                    opname);
    }

    clause->attribute = copy_bytes(json_string_value(attr), json_string_length(attr));
    if (clause->attribute == NULL) {
        rv = GK_ENOMEM;
        goto fail;
    }
    if (json_is_string(value)) {
        clause->text_len = json_string_length(value);
        clause->text = copy_bytes(json_string_value(value), clause->text_len);
        if (clause->text == NULL) {
            rv = GK_ENOMEM;
            goto fail;
        }
    }
    if (op_is_semver(clause->op) &&
        !gkd_semver_parse(&clause->semver, clause->text, clause->text_len)) {
        rv = perr(diag, source, at,
                  "\"%s\" is not a SemVer 2.0.0 version (write MAJOR.MINOR.PATCH, "
                  "e.g. \"2.1.0\" or \"2.1.0-rc.1\")",
                  clause->text);
        goto fail;
    }
    if (op_is_number(clause->op)) {
        clause->num_is_int = json_is_integer(value);
        clause->num_int = clause->num_is_int ? json_integer_value(value) : 0;
        clause->num_real = json_number_value(value);
    }
    if (op_is_list(clause->op)) {
        clause->values = json_deep_copy(values);
        if (clause->values == NULL) {
            rv = GK_ENOMEM;
            goto fail;
        }
    }
    return GK_OK;

fail:
    if (rv == GK_ENOMEM) {
        gkp_diag_set(diag, GK_ENOMEM, source, 0, "flag \"%s\": out of memory", flag_key);
    }
    gkd_clause_fini(clause);
    return rv;
}

/* -------------------------------------------------------------------------------------------- */
/* Matching: no allocation, no coercion.                                                          */

/* JSON equality of two scalars: strings byte for byte, numbers by value (1 equals 1.0). */
static bool
scalar_equal(const json_t *a, const json_t *b)
{
    if (json_is_string(a)) {
        return json_is_string(b) && json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    }
    if (json_is_integer(a) && json_is_integer(b)) {
        return json_integer_value(a) == json_integer_value(b);
    }
    if (json_is_number(a)) {
        return json_is_number(b) && json_number_value(a) == json_number_value(b);
    }
    if (json_is_boolean(a)) {
        return json_is_boolean(b) && json_is_true(a) == json_is_true(b);
    }
    return false;
}

/* -1, 0, 1 for context number `v` against the clause's operand. */
static int
cmp_number(const gkd_clause *clause, const json_t *v)
{
    if (clause->num_is_int && json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        return (x > clause->num_int) - (x < clause->num_int);
    }
    double x = json_number_value(v);
    return (x > clause->num_real) - (x < clause->num_real);
}

bool
gkd_clause_match_value(const gkd_clause *clause, const json_t *v)
{
    const char *s;
    size_t n;
    gkd_semver sv;
    int c;

    if (v == NULL) {
        return false; /* absent: no operator matches, the negative ones included */
    }
    if (op_is_string(clause->op)) {
        if (!json_is_string(v)) {
            return false;
        }
        s = json_string_value(v);
        n = json_string_length(v);
        switch (clause->op) {
        case GKD_CLAUSE_EQUALS:
            return n == clause->text_len && memcmp(s, clause->text, n) == 0;
        case GKD_CLAUSE_NOT_EQUALS:
            return !(n == clause->text_len && memcmp(s, clause->text, n) == 0);
        case GKD_CLAUSE_STARTS_WITH:
            return n >= clause->text_len && memcmp(s, clause->text, clause->text_len) == 0;
        default: /* GKD_CLAUSE_ENDS_WITH */
            return n >= clause->text_len &&
                   memcmp(s + n - clause->text_len, clause->text, clause->text_len) == 0;
        }
    }
    if (op_is_list(clause->op)) {
        bool found = false;
        if (!is_list_scalar(v)) {
            return false;
        }
        for (size_t i = 0; i < json_array_size(clause->values) && !found; i++) {
            found = scalar_equal(json_array_get(clause->values, i), v);
        }
        return clause->op == GKD_CLAUSE_IN ? found : !found;
    }
    if (op_is_number(clause->op)) {
        if (!json_is_number(v)) {
            return false;
        }
        c = cmp_number(clause, v);
    } else {
        if (!json_is_string(v) ||
            !gkd_semver_parse(&sv, json_string_value(v), json_string_length(v))) {
            return false;
        }
        c = gkd_semver_cmp(&sv, &clause->semver);
    }
    switch (clause->op) {
    case GKD_CLAUSE_LT:
    case GKD_CLAUSE_SEMVER_LT:
        return c < 0;
    case GKD_CLAUSE_LTE:
    case GKD_CLAUSE_SEMVER_LTE:
        return c <= 0;
    case GKD_CLAUSE_GT:
    case GKD_CLAUSE_SEMVER_GT:
        return c > 0;
    case GKD_CLAUSE_GTE:
    case GKD_CLAUSE_SEMVER_GTE:
        return c >= 0;
    default: /* GKD_CLAUSE_SEMVER_EQ */
        return c == 0;
    }
}

bool
gkd_clause_match(const gkd_clause *clause, const json_t *ctx)
{
    if (!json_is_object(ctx)) {
        return false;
    }
    return gkd_clause_match_value(clause, json_object_get(ctx, clause->attribute));
}
