/*
 * decision_set.h - the layout of gk_decision_set and of one decision (gks_decision), built from a
 * verified token by token.c, read by client.c (answers, cache fills) and by the public accessors.
 *
 * THREAD SAFETY: a set is immutable once gks_token_open() has returned it; any number of threads
 * may read it.
 */
#ifndef GKS_DECISION_SET_H
#define GKS_DECISION_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "claims.h"
#include "gatekeeper.h"

/* The JSON type of a decision's value, as far as the typed evaluators care. */
typedef enum gks_kind {
    GKS_KIND_NONE = 0, /* no value (DISABLED, ERROR) */
    GKS_KIND_BOOL,
    GKS_KIND_STRING,
    GKS_KIND_OTHER, /* number, object, array, null */
} gks_kind;

/*
 * One flag's decision, owned by its set (gk_decision_set_free releases everything). key,
 * value_json and str are one allocation (gks_pack_text), which key points to: only key is ever
 * freed, and value_json and str must never be freed on their own.
 */
typedef struct gks_decision {
    char *key;        /* flag key; the start of the decision's text allocation */
    char *value_json; /* compact JSON text of the value (in key's allocation); NULL when kind
                         is NONE */
    char *str;        /* the decoded string (in key's allocation) when kind is STRING, else NULL */
    size_t str_len;   /* its length in bytes (without the NUL) */
    gks_kind kind;
    bool bool_value;  /* the value when kind is BOOL */
    gk_detail detail; /* as signed: variant, reason, error code, rule id, snapshot version */
    gk_mask *mask;    /* one reference to the signed mask list (the empty mask when none) */
} gks_decision;

struct gk_decision_set {
    size_t count;
    gks_decision *items;
    int64_t iat_s; /* token iat, s since the epoch (0 for an empty fallback set) */
    int64_t exp_s; /* token exp */
    uint64_t snapshot_version;
};

/* gks_decision_set_new - a set of `count` zeroed decisions. GK_OK or GK_ENOMEM (*setp NULL). */
gk_err gks_decision_set_new(gk_decision_set **setp, size_t count);

/*
 * gks_decision_fill - fill `d` from one decoded claim (strings, value and mask list are copied).
 * A DISABLED or ERROR entry never has a value (one sent anyway is ignored); any other entry
 * must have one.
 * Returns GK_OK, GK_EPROTO (an entry that should have a value has none), GK_ENOMEM.
 */
gk_err gks_decision_fill(gks_decision *d, const gkp_flag_claim *claim, uint64_t snapshot_version);

/* gks_decision_find - the decision for `key` in set, or NULL. */
const gks_decision *gks_decision_find(const gk_decision_set *set, const char *key);

/* gks_detail_clear - an empty detail: no variant, no rule, reason UNKNOWN, no error. */
void gks_detail_clear(gk_detail *detail);

/* gks_copy_str - copy src into a fixed field, truncating; always NUL-terminated. */
void gks_copy_str(char *dst, size_t dstsize, const char *src);

/*
 * gks_pack_text - copy the n bytes at s and a NUL to *cursor and move it past them; returns where
 * they went. For packing a decision's texts into one allocation the caller sized for them (the
 * decision sets here, the cache's entries).
 */
char *gks_pack_text(char **cursor, const char *s, size_t n);

#endif
