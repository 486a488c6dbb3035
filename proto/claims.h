/*
 * claims.h - the payload (JWT claims set) of a signed decision token.
 *
 *   {"iss":"gatekeeper","iat":1763740000,"exp":1763740300,"snapshotVersion":7,
 *    "sub":"<base64url keyed hash of the targetingKey>","nonce":"<the request's nonce>",
 *    "flags":[{"key":"orders.read_v2","variant":"on","value":true,"reason":"SPLIT","ruleId":"eu"},
 *             {"key":"nope","reason":"ERROR","errorCode":"FLAG_NOT_FOUND"}]}
 *
 * iat and exp are seconds since the Unix epoch (RFC 7519 NumericDate). "sub" is absent when the
 * context had no targetingKey. "nonce" is the evaluate request's nonce, echoed so that a client
 * can tell the answer to its own request from a replayed one; absent when the request had none.
 * A flag entry has "variant" and "value" unless its reason is DISABLED or ERROR; "ruleId" when a
 * rule or target decided; "errorCode" (and "errorMessage") when reason is ERROR; "mask" when a
 * privacy policy asked for one. Documented with a schema in proto/README.md.
 *
 * THREAD SAFETY: every function is reentrant; a decoded gkp_claims is immutable.
 */
#ifndef GKP_CLAIMS_H
#define GKP_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"

/* One flag's entry. Strings and value are borrowed (from the encoder's caller or the decoded doc). */
typedef struct gkp_flag_claim {
    const char *key;
    const char *variant;        /* NULL when none */
    const json_t *value;        /* NULL when none */
    gk_reason reason;
    gk_error_code error_code;   /* GK_ERROR_NONE unless reason is ERROR */
    const char *rule_id;        /* NULL when none */
    const char *error_message;  /* NULL when none */
    const json_t *mask;         /* array of field-path strings to mask, NULL when none */
} gkp_flag_claim;

/* The claims set. `sub` and `nonce` NULL when absent. */
typedef struct gkp_claims {
    int64_t iat;
    int64_t exp;
    uint64_t snapshot_version;
    const char *sub;
    const char *nonce;
    size_t nflags;
    const gkp_flag_claim *flags;
} gkp_claims;

/*
 * gkp_claims_encode - serialise claims as compact JSON (members in the order shown above).
 * outp: malloc'd NUL-terminated text, caller frees; outlen (optional) its length.
 * Strings are written as jansson would write them; flag values with json_dumpb (compact).
 * Returns GK_OK, GK_EINVAL (an entry without key, a string that is not UTF-8, a value jansson
 * cannot encode, snapshot_version above INT64_MAX, flags NULL with nflags > 0), GK_ENOMEM.
 * Performance: writes into one growing buffer without building a JSON tree.
 */
gk_err gkp_claims_encode(char **outp, size_t *outlen, const gkp_claims *claims);

/* A decoded claims document; owns the memory behind its gkp_claims. */
typedef struct gkp_claims_doc gkp_claims_doc;

/*
 * gkp_claims_decode - parse a verified token payload (RFC 8259 JSON, UTF-8).
 * docp  out: caller frees with gkp_claims_doc_free(); gkp_claims_doc_get() exposes the claims.
 * Unknown members are checked as JSON and ignored; malformed JSON (diag gives the byte offset), a
 * missing or wrong-typed iat, exp, snapshotVersion or flags (iat, exp and snapshotVersion are
 * integers that fit in an int64_t), a flag entry without a string key or without a string reason,
 * a negative snapshotVersion, a present but non-string sub, nonce, variant, ruleId, errorCode or
 * errorMessage, a mask that is not an array of non-empty strings, a known member given twice, or
 * a string holding \u0000 is GK_EPROTO (diag says which). "value" may be any JSON value (JSON null
 * included); objects and arrays nest at most 2048 deep. `json` need not be NUL-terminated.
 * Performance: a dedicated reader; only a flag value that is a number, object or array, a string
 * value and a mask are jansson values (true, false and null are jansson's singletons).
 * Unknown reason names decode as GK_REASON_UNKNOWN, unknown error codes as GK_ERROR_GENERAL
 * (forward compatibility).
 * Returns GK_OK, GK_EPROTO, GK_ENOMEM.
 */
gk_err gkp_claims_decode(gkp_claims_doc **docp, const char *json, size_t len, gk_diag *diag);

/* gkp_claims_doc_get - the decoded claims; borrowed until gkp_claims_doc_free(). */
const gkp_claims *gkp_claims_doc_get(const gkp_claims_doc *doc);

/* gkp_claims_doc_free - release a decoded document (NULL is ignored). */
void gkp_claims_doc_free(gkp_claims_doc *doc);

#endif
