/*
 * engine.c - flag evaluation (order and reasons in engine.h, the contract in docs/flags.md).
 *
 * The hot path never allocates: a decision borrows every string and value from the snapshot
 * (including the precomputed "prerequisite:<key>" rule ids and the TARGETING_KEY_MISSING message),
 * integer bucketing values are formatted into a stack buffer, and prerequisites are evaluated by
 * recursion bounded at build time (GKD_FLAG_MAX_PREREQ_DEPTH, GKD_FLAG_MAX_PREREQ_EVALS).
 */
#include "engine.h"

#include <string.h>

#include "bucket.h"
#include "flag.h"

/* Longest decimal form of a json_int_t (long long): sign and 19 digits. */
#define INT_DIGITS_MAX 21

/*
 * The bytes an attribute value contributes to bucketing and targeting: a string's UTF-8 bytes or
 * an integer's decimal digits ("-" for negatives, no leading zeros). Anything else (absent, real,
 * boolean, null, array, object) has none: returns false.
 */
static bool
value_bytes(const json_t *v, char buf[INT_DIGITS_MAX], const char **p, size_t *len)
{
    if (json_is_string(v)) {
        *p = json_string_value(v);
        *len = json_string_length(v);
        return true;
    }
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        /* Work in unsigned so that the most negative value does not overflow. */
        unsigned long long u = x < 0 ? 0ull - (unsigned long long) x : (unsigned long long) x;
        size_t i = INT_DIGITS_MAX;
        do {
            buf[--i] = (char) ('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (x < 0) {
            buf[--i] = '-';
        }
        *p = buf + i;
        *len = INT_DIGITS_MAX - i;
        return true;
    }
    return false;
}

static void
decide(gkd_decision *out, const gkd_flag *flag, size_t variant, gk_reason reason,
       const char *rule_id)
{
    out->flag_key = flag->key;
    out->flag_key_len = flag->key_len;
    out->variant = flag->variants[variant].name;
    out->value = flag->variants[variant].value;
    out->reason = reason;
    out->error_code = GK_ERROR_NONE;
    out->rule_id = rule_id;
    out->error_message = NULL;
}

static void
decide_error(gkd_decision *out, const char *flag_key, size_t flag_key_len, gk_error_code code,
             const char *rule_id, const char *message)
{
    out->flag_key = flag_key;
    out->flag_key_len = flag_key_len;
    out->variant = NULL;
    out->value = NULL;
    out->reason = GK_REASON_ERROR;
    out->error_code = code;
    out->rule_id = rule_id;
    out->error_message = message;
}

/* A rollout: the variant of the context's bucket, or an ERROR when it cannot be bucketed. */
static int
split(gkd_decision *out, const gkd_flag *flag, const json_t *ctx, const uint32_t *weights,
      const char *rule_id)
{
    char buf[INT_DIGITS_MAX];
    const char *p;
    size_t len;
    size_t vi;

    if (!value_bytes(json_object_get(ctx, flag->bucket_by), buf, &p, &len)) {
        decide_error(out, flag->key, flag->key_len, GK_ERROR_TARGETING_KEY_MISSING, rule_id,
                     flag->bucket_missing_msg);
        return -1;
    }
    vi = gkd_bucket_pick(weights, flag->n_variants, gkd_bucket_of(flag->salt, p, len));
    decide(out, flag, vi, GK_REASON_SPLIT, rule_id);
    return (int) vi;
}

static bool
rule_matches(const gkd_rule *rule, const json_t *ctx)
{
    for (size_t i = 0; i < rule->n_clauses; i++) {
        if (!gkd_clause_match(&rule->clauses[i], ctx)) {
            return false;
        }
    }
    return true;
}

/* Evaluates `flag`; returns the chosen variant's index, or -1 when there is none. */
static int
eval_flag(const gkd_flag *flag, const json_t *ctx, gkd_decision *out)
{
    char buf[INT_DIGITS_MAX];
    const char *p;
    size_t len;

    if (flag->disabled) {
        out->flag_key = flag->key;
        out->flag_key_len = flag->key_len;
        out->variant = NULL;
        out->value = NULL;
        out->reason = GK_REASON_DISABLED;
        out->error_code = GK_ERROR_NONE;
        out->rule_id = NULL;
        out->error_message = NULL;
        return -1;
    }
    if (flag->is_static) {
        decide(out, flag, flag->default_variant, GK_REASON_STATIC, NULL);
        return (int) flag->default_variant;
    }
    for (size_t i = 0; i < flag->n_prereqs; i++) {
        const gkd_prerequisite *pr = &flag->prereqs[i];
        gkd_decision pd;
        int vi = eval_flag(pr->flag, ctx, &pd);
        if (vi < 0 || (pr->variant_mask & (UINT64_C(1) << vi)) == 0) {
            decide(out, flag, flag->default_variant, GK_REASON_DEFAULT, pr->rule_id);
            return (int) flag->default_variant;
        }
    }
    if (flag->n_targets > 0 &&
        value_bytes(json_object_get(ctx, GKD_FLAG_TARGETING_KEY), buf, &p, &len)) {
        int vi = gkd_flag_find_target(flag, p, len);
        if (vi >= 0) {
            decide(out, flag, (size_t) vi, GK_REASON_TARGETING_MATCH, GKD_FLAG_RULE_ID_TARGETS);
            return vi;
        }
    }
    for (size_t i = 0; i < flag->n_rules; i++) {
        const gkd_rule *rule = &flag->rules[i];
        if (!rule_matches(rule, ctx)) {
            continue;
        }
        if (rule->weights != NULL) {
            return split(out, flag, ctx, rule->weights, rule->id);
        }
        decide(out, flag, rule->variant, GK_REASON_TARGETING_MATCH, rule->id);
        return (int) rule->variant;
    }
    if (flag->rollout != NULL) {
        return split(out, flag, ctx, flag->rollout, NULL);
    }
    decide(out, flag, flag->default_variant, GK_REASON_DEFAULT, NULL);
    return (int) flag->default_variant;
}

void
gkd_engine_eval(const gkd_snapshot *snap, const gkd_flag *flag, const json_t *ctx,
                gkd_decision *out)
{
    (void) snap; /* the flag belongs to it; kept in the signature to make the borrow explicit */
    (void) eval_flag(flag, json_is_object(ctx) ? ctx : NULL, out);
}

void
gkd_engine_eval_key(const gkd_snapshot *snap, const char *key, size_t len, const json_t *ctx,
                    gkd_decision *out)
{
    const gkd_flag *flag = gkd_snapshot_find(snap, key, len);

    if (flag == NULL) {
        decide_error(out, key, len, GK_ERROR_FLAG_NOT_FOUND, NULL,
                     "no flag with this key in the current snapshot");
        return;
    }
    gkd_engine_eval(snap, flag, ctx, out);
}
