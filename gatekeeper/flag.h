/*
 * flag.h - one flag definition (struct gkd_flag) and its strict parser. The document format is in
 * docs/flags.md; this header is internal to the daemon's core (snapshot.c builds flags, engine.c
 * evaluates them, the rest of the daemon may read them through a held snapshot).
 *
 * Ownership: a gkd_flag owns every string, array and JSON value it points to; they are private
 * copies of the document's, so the document may be changed or freed after parsing. Strings are
 * NUL-terminated.
 *
 * THREAD SAFETY: a parsed flag is immutable once its snapshot is built; any number of threads may
 * read it while the snapshot is held. Parsing is single-threaded.
 */
#ifndef GKD_FLAG_H
#define GKD_FLAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bucket.h"
#include "clause.h"
#include "gatekeeper.h"

#define GKD_FLAG_KEY_MAX           127 /* bytes of a flag key: ^[A-Za-z0-9][A-Za-z0-9._-]{0,126}$ */
#define GKD_FLAG_NAME_MAX          63  /* bytes of a variant name or rule id (64-byte wire field) */
#define GKD_FLAG_MAX_VARIANTS      64
#define GKD_FLAG_MAX_RULES         256
#define GKD_FLAG_MAX_CLAUSES       32 /* per rule */
#define GKD_FLAG_MAX_PREREQUISITES 8  /* per flag */
#define GKD_FLAG_MAX_PREREQ_DEPTH  16 /* longest prerequisite chain a -> b -> ... (edges) */
/* Most flag evaluations one decision may cost, the flag itself and its prerequisites expanded
 * (a diamond of prerequisites is counted once per path); bounds the evaluation time. */
#define GKD_FLAG_MAX_PREREQ_EVALS 32
#define GKD_FLAG_TARGETING_KEY    "targetingKey"
#define GKD_FLAG_RULE_ID_TARGETS  "targets" /* rule_id of a decision from "targets" */

/* gkd_variant - one variant: its name and its value (any JSON, a private deep copy). */
typedef struct gkd_variant {
    char *name;
    json_t *value;
} gkd_variant;

/*
 * gkd_rule - one targeting rule: all clauses must match. Exactly one of `variant` (an index into
 * the flag's variants; GKD_RULE_ROLLOUT when the rule splits) and `weights` (one weight per variant
 * in declaration order, summing to GKD_BUCKET_SCALE) is used.
 */
#define GKD_RULE_ROLLOUT SIZE_MAX
typedef struct gkd_rule {
    char *id;
    gkd_clause *clauses;
    size_t n_clauses;
    size_t variant;
    uint32_t *weights;
} gkd_rule;

/*
 * gkd_prerequisite - "this flag applies only when flag `flag_key` evaluates to one of `variants`".
 * `flag` and `variant_mask` (bit i = variant i of that flag) are resolved by the snapshot build;
 * `rule_id` is the precomputed "prerequisite:<flag_key>" that a decision borrows.
 */
typedef struct gkd_prerequisite {
    char *flag_key;
    char **variants;
    size_t n_variants;
    const struct gkd_flag *flag;
    uint64_t variant_mask;
    char *rule_id;
} gkd_prerequisite;

/* gkd_target - one individual target: a targetingKey value (len bytes) and its variant index. */
typedef struct gkd_target {
    char *key;
    size_t len;
    size_t variant;
} gkd_target;

/*
 * gkd_flag - one flag. Fields are read directly by engine.c and snapshot.c.
 *   key, key_len         the flag key
 *   description, owner   NULL when absent
 *   disabled             state "DISABLED" (the kill switch)
 *   variants             n_variants in declaration order (the rollout range layout order)
 *   default_variant      index into variants
 *   salt                 SipHash key for bucketing (explicit or gkd_bucket_default_salt(key))
 *   bucket_by            attribute bucketed on (default "targetingKey")
 *   bucket_missing_msg   the ERROR decision's message when that attribute is unusable
 *   prereqs              in document order
 *   targets              sorted by key bytes (binary search); no key twice
 *   rules                in document order (first match wins)
 *   rollout              n_variants weights, or NULL when the flag has none
 *   is_static            no prerequisites, targets, rules or rollout: reason STATIC
 *   prereq_depth/evals   set by the snapshot build (chain length, expanded evaluation count)
 *   share                the snapshot's: who else holds the allocations above (NULL after parse)
 */
typedef struct gkd_flag {
    char *key;
    size_t key_len;
    char *description;
    char *owner;
    bool disabled;
    gkd_variant *variants;
    size_t n_variants;
    size_t default_variant;
    uint8_t salt[GKD_BUCKET_SALT_BYTES];
    const char *bucket_by;
    const char *bucket_missing_msg;
    char *bucket_by_alloc; /* what the two above point to when not the shared defaults */
    char *bucket_missing_msg_alloc;
    gkd_prerequisite *prereqs;
    size_t n_prereqs;
    gkd_target *targets;
    size_t n_targets;
    gkd_rule *rules;
    size_t n_rules;
    uint32_t *rollout;
    bool is_static;
    unsigned prereq_depth;
    unsigned prereq_evals;
    struct gkd_flag_share *share; /* snapshot.c: the allocations' owners (NULL: the parser's) */
} gkd_flag;

/*
 * gkd_flag_parse - parse the definition `def` of flag `key` (strict: unknown members are errors).
 * Prerequisites are checked for shape only; the snapshot resolves them.
 * flag    out: initialised on GK_OK (release with gkd_flag_fini); zeroed otherwise.
 * key     NUL-terminated, copied; checked against the key syntax.
 * def     borrowed, not modified (non-const for jansson's iterators); nothing of it is kept.
 * source  document name for diag (may be NULL).
 * diag    on error names the flag, the rule if any, the problem and what to write instead, e.g.
 *         `flag "a": rule "eu": rollout weights sum to 90000 (they must sum to exactly 100000)`.
 * Returns GK_OK, GK_EPROTO, GK_ENOMEM.
 */
gk_err gkd_flag_parse(gkd_flag *flag, const char *key, json_t *def, const char *source,
                      gk_diag *diag);

/* gkd_flag_fini - release everything the flag owns (a zeroed flag is fine). */
void gkd_flag_fini(gkd_flag *flag);

/* gkd_flag_key - the flag's key (borrowed for as long as the flag lives). */
const char *gkd_flag_key(const gkd_flag *flag);

/* gkd_flag_variant_index - index of the variant named `name`, or -1. */
int gkd_flag_variant_index(const gkd_flag *flag, const char *name);

/*
 * gkd_flag_find_target - the variant index of targetingKey `key` (len bytes) in the flag's
 * targets, or -1. O(log n), no allocation.
 */
int gkd_flag_find_target(const gkd_flag *flag, const char *key, size_t len);

/* gkd_flag_valid_key / gkd_flag_valid_name - the key and name syntaxes above (NUL-terminated). */
bool gkd_flag_valid_key(const char *key);
bool gkd_flag_valid_name(const char *name);

#endif
