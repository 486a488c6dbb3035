/*
 * token.h - turn a reply's decision token into trusted decisions, or refuse it.
 *
 * Order of checks (RFC 8725 section 3): the JWS signature against the trusted JWKS by kid
 * (RFC 7515, RFC 8037) - or, for a token whose text a decision session's MAC authenticated
 * (session.h), the JWS format alone - then the claims' shape, then the binding to the request (the claims'
 * "nonce" must be the one the request carried), then the times: exp must be in the future and
 * iat at most GKS_TOKEN_IAT_SKEW_S in the future. A token that fails any check is never used.
 *
 * Why the nonce: a signature proves that a gatekeeper made the decisions, not that they answer
 * this request. Without the binding, whoever can write to the transport (plain TCP) could replay
 * any genuine token it has seen, another tenant's or one from before a kill switch, until its exp.
 *
 * THREAD SAFETY: reentrant; the key set is only read.
 */
#ifndef GKS_TOKEN_H
#define GKS_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "decision_set.h"
#include "gatekeeper.h"
#include "jwk.h"

/* How far in the future a token's iat may be (clock skew between daemon and service), in s. */
#define GKS_TOKEN_IAT_SKEW_S 60

/*
 * gks_token_open - verify `token` and build its decision set.
 * setp     out on GK_OK: caller-owned, gk_decision_set_free().
 * keys     the trusted JWKS; borrowed.
 * nonce    the nonce the request carried (NUL-terminated, not NULL); the claims must carry
 *          exactly this one (compared in constant time).
 * now_s    the wall clock, seconds since the epoch.
 * mac_ok   1 when the caller checked the session MAC over exactly these token bytes (the
 *          signature is then not verified again), else 0.
 * why      out on failure (not NULL): reason ERROR, the OpenFeature error code (PROVIDER_FATAL for
 *          a bad signature, an unknown kid or a nonce that is missing or not this request's,
 *          PARSE_ERROR for a malformed token or claims, GENERAL for an expired or not-yet-valid
 *          token) and an error_message naming what to check.
 * Returns GK_OK, GK_EBADSIG, GK_ENOKEY, GK_EPROTO (also for a nonce mismatch), GK_EEXPIRED,
 * GK_ENOMEM.
 */
GK_WARN_UNUSED gk_err gks_token_open(gk_decision_set **setp, const gkp_jwks *keys,
                                     const char *token, size_t toklen, const char *nonce,
                                     int64_t now_s, int mac_ok, gk_detail *why);

#endif
