/*
 * session.h - decision sessions: how a client checks a fresh decision with a MAC instead of an
 * Ed25519 signature verification, without trusting anything the signatures did not prove.
 *
 * Why: verifying an Ed25519 signature costs about 48 µs on a service's core (libsodium 1.0.18),
 * a third of a loopback round trip. A session replaces that per-decision cost by one verification
 * per session:
 *   1. The client makes an X25519 key pair and sends its public key ("sessionPub") in an evaluate
 *      request.
 *   2. The gatekeeper makes its own X25519 key pair for the session, derives the session keys
 *      (libsodium crypto_kx: X25519 then BLAKE2b-512 over the shared secret and both public keys)
 *      and answers, beside the token, with a session JWS signed by its Ed25519 signing key (so
 *      verifiable against the JWKS): {"sid","pub","cpub","iat","exp"} where pub is its session
 *      public key and cpub echoes the client's, binding the session to that client's request.
 *   3. Every token reply to a request naming the session ("session": sid) carries "mac": the
 *      keyed BLAKE2b-256 (libsodium crypto_generichash with a key, its documented MAC use) of
 *      the exact token text under the key the
 *      gatekeeper sends with (crypto_kx server tx = client rx).
 * Only a holder of the gatekeeper's signing key can sign the session JWS, and only the holder of
 * the session's secret can compute its MACs, so a token whose MAC checks came from the gatekeeper
 * as surely as one whose signature verifies; the nonce inside the token still binds it to the
 * request. The token itself stays a signed JWS that any JOSE library can verify.
 *
 * THREAD SAFETY: every function is reentrant.
 */
#ifndef GKP_SESSION_H
#define GKP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"

/* Bytes of a session id (random, chosen by the gatekeeper), of an X25519 public key, of the MAC
 * key and of a MAC; and the base64url lengths (without NUL) of an id, a public key and a MAC. */
#define GKP_SESSION_ID_BYTES   16u
#define GKP_SESSION_PUB_BYTES  32u
#define GKP_SESSION_KEY_BYTES  32u
#define GKP_SESSION_MAC_BYTES  32u
#define GKP_SESSION_ID_CHARS   22u
#define GKP_SESSION_PUB_CHARS  43u
#define GKP_SESSION_MAC_CHARS  43u

/* The "typ" header of a session JWS (RFC 8725 section 3.11), unlike a decision token's "JWT". */
#define GKP_SESSION_TYP "gk-session+jwt"

/*
 * gkp_session_claims - the payload of a session JWS, decoded. Strings are base64url, borrowed
 * from the decoded document (gkp_session_claims_decode) or from the encoder's caller.
 *   sid   the session id (GKP_SESSION_ID_CHARS)        pub   the gatekeeper's session key
 *   cpub  the client's session key, echoed             iat, exp  seconds since the Unix epoch
 */
typedef struct gkp_session_claims {
    const char *sid;
    const char *pub;
    const char *cpub;
    int64_t iat;
    int64_t exp;
} gkp_session_claims;

/*
 * gkp_session_claims_encode - {"sid":...,"pub":...,"cpub":...,"iat":...,"exp":...}.
 * outp: malloc'd NUL-terminated JSON (caller frees), length in outlen.
 * Returns GK_OK, GK_EINVAL (a NULL string), GK_ENOMEM.
 */
gk_err gkp_session_claims_encode(char **outp, size_t *outlen, const gkp_session_claims *c);

/*
 * gkp_session_claims_decode - parse a session JWS payload (len bytes). Every member is required
 * with its type and length (sid GKP_SESSION_ID_CHARS, pub and cpub GKP_SESSION_PUB_CHARS of
 * base64url); unknown members are ignored. *docp owns the strings of *c: json_decref it.
 * Returns GK_OK, GK_EPROTO (diag says which member), GK_ENOMEM.
 */
gk_err gkp_session_claims_decode(json_t **docp, gkp_session_claims *c, const char *payload,
                                 size_t len, gk_diag *diag);

/*
 * gkp_session_mac - the base64url keyed BLAKE2b-256 (crypto_generichash) of token[0..toklen)
 * under key, into out (GKP_SESSION_MAC_CHARS + 1 bytes, NUL-terminated).
 */
void gkp_session_mac(char out[GKP_SESSION_MAC_CHARS + 1], const uint8_t key[GKP_SESSION_KEY_BYTES],
                     const char *token, size_t toklen);

/*
 * gkp_session_mac_check - 1 when `mac` (base64url text, mac_len characters) is the MAC of
 * token[0..toklen) under key, compared in constant time (sodium_memcmp); 0 otherwise.
 */
int gkp_session_mac_check(const char *mac, size_t mac_len,
                          const uint8_t key[GKP_SESSION_KEY_BYTES], const char *token,
                          size_t toklen);

/*
 * gkp_session_pub_decode - decode a base64url X25519 public key of exactly
 * GKP_SESSION_PUB_CHARS characters into out. Returns GK_OK or GK_EPROTO.
 */
gk_err gkp_session_pub_decode(uint8_t out[GKP_SESSION_PUB_BYTES], const char *text, size_t len);

#endif
