/*
 * clause.h - one targeting clause of a rule: a context attribute, an operator and its operand,
 * e.g. {"attribute": "plan", "op": "in", "values": ["gold", "platinum"]}. docs/flags.md lists the
 * operators; this is their one implementation.
 *
 * Matching rules shared by every operator:
 *   - an attribute absent from the context never matches, for the negative operators
 *     (not_equals, not_in) too: "not_equals eu" means "has a value and it is not eu";
 *   - a context value of the wrong type never matches (no coercion): string operators need a
 *     string, numeric operators a JSON number, semver operators a string that is a valid SemVer
 *     2.0.0 version, in/not_in a string, number or boolean.
 *
 * Parsing allocates and copies what it keeps; matching never allocates.
 *
 * THREAD SAFETY: a parsed clause is immutable; gkd_clause_match is reentrant.
 */
#ifndef GKD_CLAUSE_H
#define GKD_CLAUSE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "gatekeeper.h"
#include "semver.h"

/* Longest attribute name a clause may test, in bytes. */
#define GKD_CLAUSE_ATTRIBUTE_MAX 255

typedef enum gkd_clause_op {
    GKD_CLAUSE_EQUALS = 0,
    GKD_CLAUSE_NOT_EQUALS,
    GKD_CLAUSE_STARTS_WITH,
    GKD_CLAUSE_ENDS_WITH,
    GKD_CLAUSE_IN,
    GKD_CLAUSE_NOT_IN,
    GKD_CLAUSE_LT,
    GKD_CLAUSE_LTE,
    GKD_CLAUSE_GT,
    GKD_CLAUSE_GTE,
    GKD_CLAUSE_SEMVER_EQ,
    GKD_CLAUSE_SEMVER_LT,
    GKD_CLAUSE_SEMVER_LTE,
    GKD_CLAUSE_SEMVER_GT,
    GKD_CLAUSE_SEMVER_GTE,
} gkd_clause_op;

/*
 * gkd_clause - a parsed clause. Owned by its rule; released with gkd_clause_fini().
 *   attribute  NUL-terminated copy of the attribute name
 *   text       string operand (string and semver operators), copied, text_len bytes
 *   values     in/not_in: a private deep copy of the array (strings, numbers, booleans)
 *   num_*      numeric operand (lt/lte/gt/gte); num_is_int when it was a JSON integer
 *   semver     semver operand, borrowing from `text`
 */
typedef struct gkd_clause {
    char *attribute;
    gkd_clause_op op;
    char *text;
    size_t text_len;
    json_t *values;
    json_int_t num_int;
    double num_real;
    bool num_is_int;
    gkd_semver semver;
} gkd_clause;

/*
 * gkd_clause_parse - parse one clause object.
 * clause    out: initialised on GK_OK (release with gkd_clause_fini); zeroed otherwise.
 * json      borrowed and not modified (non-const only for jansson's iterators); nothing kept.
 * flag_key  rule_id, index: where the clause is (index 0-based), for diag text only.
 * source    document name for diag (may be NULL).
 * diag      on error: the place, the problem and what to write instead, e.g.
 *           `flag "a": rule "eu": clause 1: unknown op "eq" (use "equals")`.
 * Returns GK_OK, GK_EPROTO (invalid clause), GK_ENOMEM.
 */
gk_err gkd_clause_parse(gkd_clause *clause, json_t *json, const char *flag_key, const char *rule_id,
                        size_t index, const char *source, gk_diag *diag);

/* gkd_clause_fini - release what gkd_clause_parse allocated (a zeroed clause is fine). */
void gkd_clause_fini(gkd_clause *clause);

/*
 * gkd_clause_match - whether the clause holds for context `ctx` (a JSON object, borrowed; NULL or
 * a non-object is an empty context). Never allocates. Latency: tens of ns (a hash lookup and one
 * comparison; in/not_in scan their values).
 */
bool gkd_clause_match(const gkd_clause *clause, const json_t *ctx);

/* gkd_clause_match_value - as gkd_clause_match for the attribute's value `v` (NULL = absent). */
bool gkd_clause_match_value(const gkd_clause *clause, const json_t *v);

/* gkd_clause_op_name - the document's spelling of `op` ("equals", "semver_gte", ...). */
const char *gkd_clause_op_name(gkd_clause_op op);

#endif
