/*
 * engine.h - flag evaluation: kill switch, prerequisites, individual targets, ordered targeting
 * rules, percentage rollout with sticky bucketing, default variant. docs/flags.md is the contract.
 *
 * Order of evaluation for one flag (first that applies wins):
 *   1. state DISABLED                        -> reason DISABLED, no variant
 *   2. a prerequisite not on its required variant -> default variant, reason DEFAULT
 *   3. targetingKey listed in "targets"      -> that variant, TARGETING_MATCH, ruleId "targets"
 *   4. first rule whose clauses all match    -> its variant (TARGETING_MATCH) or its rollout (SPLIT)
 *   5. the flag's rollout                    -> SPLIT
 *   6. default variant                       -> DEFAULT (STATIC when the flag has no targets,
 *                                               rules, rollout or prerequisites)
 * A rollout whose bucketing attribute ("bucketBy", default "targetingKey": a string, or an integer
 * hashed as its decimal digits) is missing from the context or of another type gives reason ERROR
 * with TARGETING_KEY_MISSING, no variant (the caller's default applies) and an error_message
 * naming the attribute. Targets match the context's "targetingKey" only. A disabled or erroring
 * prerequisite is never met.
 *
 * THREAD SAFETY: reentrant; reads only the held snapshot and the context.
 */
#ifndef GKD_ENGINE_H
#define GKD_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"
#include "snapshot.h"

/*
 * gkd_decision - the outcome for one flag. Strings and value are borrowed from the snapshot and
 * valid while it is held. variant/value are NULL for DISABLED and ERROR.
 *   flag_key       the flag's key (NUL-terminated), except for FLAG_NOT_FOUND: then the caller's
 *                  `key`, which need not be NUL-terminated; flag_key_len bytes in every case
 *   rule_id        "targets" (individual targets), a rule's id (its variant or rollout applied),
 *                  "prerequisite:<key>" (a prerequisite not met), or NULL
 *   error_message  for ERROR: static text or text owned by the snapshot (names the missing
 *                  bucketing attribute); NULL otherwise
 */
typedef struct gkd_decision {
    const char *flag_key;
    const char *variant;
    const json_t *value;
    gk_reason reason;
    gk_error_code error_code;
    const char *rule_id;
    const char *error_message;
    size_t flag_key_len;
} gkd_decision;

/*
 * gkd_engine_eval - evaluate `flag` of `snap` for context `ctx` (a JSON object of attributes,
 * borrowed; NULL or a non-object means an empty context).
 * out  always filled.
 * Latency: well under 1 µs for a flag with a few rules (bench: tests/unit/engine_test.c); never
 * allocates. Prerequisites are evaluated with the same context (at most
 * GKD_FLAG_MAX_PREREQ_EVALS flag evaluations in all).
 */
void gkd_engine_eval(const gkd_snapshot *snap, const gkd_flag *flag, const json_t *ctx,
                     gkd_decision *out);

/*
 * gkd_engine_eval_key - as gkd_engine_eval for the flag named `key` (len bytes); a key the
 * snapshot lacks gives reason ERROR with FLAG_NOT_FOUND (flag_key then points at `key`).
 */
void gkd_engine_eval_key(const gkd_snapshot *snap, const char *key, size_t len, const json_t *ctx,
                         gkd_decision *out);

#endif
