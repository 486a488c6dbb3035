/*
 * token.c - verification of a decision token and its conversion into a gk_decision_set.
 *
 * The signature is checked first and everything else only on verified bytes: the claims parser
 * never sees unauthenticated input. The error codes follow OpenFeature: a token that cannot be
 * trusted (bad signature, unknown key id) is PROVIDER_FATAL, one that is garbled is PARSE_ERROR,
 * one that is genuine but out of date is GENERAL.
 */
#include "token.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "claims.h"
#include "decision_set.h"
#include "gatekeeper.h"
#include "jws.h"

static gk_err
refuse(gk_detail *why, gk_err rv, gk_error_code code, const char *what, const char *text)
{
    gks_detail_clear(why);
    why->reason = GK_REASON_ERROR;
    why->error_code = code;
    /* A message cut to fit the field is still worth having: the result is not checked. */
    if (snprintf(why->error_message, sizeof(why->error_message), "%s%s%s", what,
                 text[0] != '\0' ? ": " : "", text) < 0) {
        why->error_message[0] = '\0';
    }
    return rv;
}

gk_err
gks_token_open(gk_decision_set **setp, const gkp_jwks *keys, const char *token, size_t toklen,
               const char *nonce, int64_t now_s, int mac_ok, gk_detail *why)
{
    gk_diag diag = {0};
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    gkp_claims_doc *doc = NULL;
    const gkp_claims *claims;
    gk_decision_set *set = NULL;
    gk_err rv;

    *setp = NULL;
    rv = mac_ok ? gkp_jws_payload_authenticated(token, toklen, &payload, &payload_len, &diag)
                : gkp_jws_verify(token, toklen, keys, &payload, &payload_len, &diag);
    switch (rv) {
    case GK_OK:
        break;
    case GK_EBADSIG:
        return refuse(why, rv, GK_ERROR_PROVIDER_FATAL,
                      "decision token signature does not verify (check the JWKS file matches "
                      "the gatekeeper's signing key)",
                      "");
    case GK_ENOKEY:
        return refuse(why, rv, GK_ERROR_PROVIDER_FATAL,
                      "decision token signed by a key id the trusted JWKS does not hold "
                      "(update the JWKS file)",
                      "");
    case GK_ENOMEM:
        return refuse(why, rv, GK_ERROR_GENERAL, "out of memory verifying the token", "");
    default:
        return refuse(why, GK_EPROTO, GK_ERROR_PARSE_ERROR, "malformed decision token", diag.text);
    }

    rv = gkp_claims_decode(&doc, (const char *) payload, payload_len, &diag);
    free(payload);
    if (rv != GK_OK) {
        if (rv == GK_ENOMEM) {
            return refuse(why, rv, GK_ERROR_GENERAL, "out of memory decoding the token", "");
        }
        return refuse(why, GK_EPROTO, GK_ERROR_PARSE_ERROR, "malformed decision claims", diag.text);
    }
    claims = gkp_claims_doc_get(doc);
    /*
     * A genuine token that does not carry this request's nonce answers another request: a
     * replay (another tenant's answer, one from before a kill switch) or a misrouted reply.
     * Checked before the times, so a replayed expired token is reported as what it is.
     */
    if (claims->nonce == NULL || strlen(claims->nonce) != strlen(nonce) ||
        sodium_memcmp(claims->nonce, nonce, strlen(nonce)) != 0) {
        rv = refuse(why, GK_EPROTO, GK_ERROR_PROVIDER_FATAL,
                    "the answer does not belong to this request (nonce mismatch): a replayed or "
                    "misrouted token",
                    "");
        goto done;
    }
    if (claims->exp <= now_s) {
        rv = refuse(why, GK_EEXPIRED, GK_ERROR_GENERAL, "", "");
        snprintf(why->error_message, sizeof(why->error_message),
                 "decision token expired %" PRId64 " s ago (check the clocks of this host "
                 "and the gatekeeper)",
                 now_s - claims->exp);
        goto done;
    }
    if (claims->iat > now_s + GKS_TOKEN_IAT_SKEW_S) {
        rv = refuse(why, GK_EEXPIRED, GK_ERROR_GENERAL, "", "");
        snprintf(why->error_message, sizeof(why->error_message),
                 "decision token issued %" PRId64 " s in the future (check the clocks of this "
                 "host and the gatekeeper)",
                 claims->iat - now_s);
        goto done;
    }

    rv = gks_decision_set_new(&set, claims->nflags);
    if (rv != GK_OK) {
        refuse(why, rv, GK_ERROR_GENERAL, "out of memory building decisions", "");
        goto done;
    }
    set->iat_s = claims->iat;
    set->exp_s = claims->exp;
    set->snapshot_version = claims->snapshot_version;
    for (size_t i = 0; i < claims->nflags; i++) {
        rv = gks_decision_fill(&set->items[i], &claims->flags[i], claims->snapshot_version);
        if (rv == GK_ENOMEM) {
            refuse(why, rv, GK_ERROR_GENERAL, "out of memory building decisions", "");
            goto done;
        }
        if (rv != GK_OK) {
            refuse(why, rv, GK_ERROR_PARSE_ERROR, "malformed decision claims",
                   "a flag entry has no value");
            goto done;
        }
    }
    *setp = set;
    set = NULL;
    rv = GK_OK;

done:
    gk_decision_set_free(set);
    gkp_claims_doc_free(doc);
    return rv;
}
