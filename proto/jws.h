/*
 * jws.h - JSON Web Signature, compact serialisation (RFC 7515 sections 3.1 and 7.1) with
 * alg "EdDSA" over Ed25519 (RFC 8037 section 3.1), using libsodium's crypto_sign_detached (or a
 * caller's signing function) and crypto_sign_verify_detached.
 *
 * THREAD SAFETY: every function is reentrant; the key arguments are only read.
 */
#ifndef GKP_JWS_H
#define GKP_JWS_H

#include <stddef.h>
#include <stdint.h>

#include "gatekeeper.h"
#include "jwk.h"

/* Largest compact JWS accepted by the verifiers, in bytes (a decision token for 1024 flags fits). */
#define GKP_JWS_MAX_BYTES (1024u * 1024u)

/*
 * gkp_jws_sign - sign `payload` and return the compact serialisation
 * base64url(header) "." base64url(payload) "." base64url(signature).
 * header_json  the exact protected-header bytes to encode, e.g. {"alg":"EdDSA","kid":"..."}; the
 *              caller is responsible for it being JSON with alg EdDSA.
 * sk           libsodium Ed25519 secret key (seed || public key, 64 bytes); only read.
 * tokenp       out: malloc'd NUL-terminated token, caller frees with free(); toklen (optional) its
 *              length without the NUL.
 * Returns GK_OK, GK_EINVAL (NULL argument, or a token that would be longer than
 * GKP_JWS_MAX_BYTES, which no verifier accepts), GK_ENOMEM.
 * Thread safety: safe. Standard: RFC 7515 section 5.1, RFC 8037 section 3.1; the signature is
 * RFC 8032's deterministic Ed25519 (libsodium crypto_sign_detached).
 */
gk_err gkp_jws_sign(char **tokenp, size_t *toklen, const char *header_json, const uint8_t *payload,
                    size_t payload_len, const uint8_t sk[GKP_ED25519_SK_BYTES]);

/*
 * gkp_ed25519_sign_fn - writes the 64-byte Ed25519 signature (RFC 8032 section 5.1.6: R || S) of
 * the `mlen` bytes at `m` to `sig`, with a key the function holds through `arg`. Returns GK_OK, or
 * an error that gkp_jws_sign_with passes on. Must be safe to call from the threads that sign.
 */
typedef gk_err (*gkp_ed25519_sign_fn)(uint8_t sig[GKP_ED25519_SIG_BYTES], const uint8_t *m,
                                      size_t mlen, void *arg);

/*
 * gkp_jws_sign_with - as gkp_jws_sign, with the signature made by `sign(sig, input, len,
 * sign_arg)` over the JWS signing input (for a signer that is not a bare secret key, such as the
 * gatekeeper's precomputed-nonce signer, gatekeeper/presign.h). Returns as gkp_jws_sign (GK_EINVAL
 * for a NULL `sign`), or sign's own error, in which case no token is returned.
 */
gk_err gkp_jws_sign_with(char **tokenp, size_t *toklen, const char *header_json,
                         const uint8_t *payload, size_t payload_len, gkp_ed25519_sign_fn sign,
                         void *sign_arg);

/*
 * gkp_jws_sign_sk - a gkp_ed25519_sign_fn making RFC 8032's deterministic signature
 * (crypto_sign_detached) with the libsodium secret key (seed || public key, 64 bytes) that `arg`
 * points to a pointer to (a `const uint8_t *`, only read). Returns GK_OK.
 */
gk_err gkp_jws_sign_sk(uint8_t sig[GKP_ED25519_SIG_BYTES], const uint8_t *m, size_t mlen,
                       void *arg);

/*
 * gkp_jws_compact_len - the length in characters (without NUL) of the compact JWS whose protected
 * header is header_b64_len characters of base64url and whose payload is payload_len bytes, as
 * gkp_jws_sign_into writes it; 0 when the token would be longer than GKP_JWS_MAX_BYTES, a token no
 * verifier accepts and the signing functions refuse: the one place that limit is applied.
 */
size_t gkp_jws_compact_len(size_t header_b64_len, size_t payload_len);

/*
 * gkp_jws_sign_into - gkp_jws_sign_with into the caller's buffer, with the protected header given
 * already in base64url (header_b64, header_b64_len characters; e.g. encoded once per key): writes
 * header_b64 "." base64url(payload) "." base64url(signature) and a NUL to out, the same bytes
 * gkp_jws_sign_with writes for the header whose base64url header_b64 is.
 * outsize  at least gkp_jws_compact_len(header_b64_len, payload_len) + 1 bytes.
 * toklen   out: the token's length without the NUL.
 * Returns GK_OK, GK_EINVAL (a NULL argument, out too small, or a token longer than
 * GKP_JWS_MAX_BYTES), or sign's own error; out then holds no token.
 * Thread safety: safe; out belongs to the caller.
 */
gk_err gkp_jws_sign_into(char *out, size_t outsize, size_t *toklen, const char *header_b64,
                         size_t header_b64_len, const uint8_t *payload, size_t payload_len,
                         gkp_ed25519_sign_fn sign, void *sign_arg);

/*
 * gkp_jws_verify_key - verify a compact JWS against one public key and return its payload.
 * The protected header must be a JSON object whose "alg" is "EdDSA" and that has no "crit"
 * member; anything else is refused (RFC 7515 section 4.1.11, RFC 8725 section 3.1).
 * Checks run in this order, and the first failure is the answer: size (at most
 * GKP_JWS_MAX_BYTES), exactly three non-empty parts, header (base64url, a JSON object without
 * duplicate members, alg "EdDSA", no crit), signature (base64url of 64 bytes), payload (base64url),
 * then the Ed25519 signature over the header and payload text as sent.
 * payloadp  out on GK_OK: malloc'd payload bytes plus a NUL (caller frees), length in payload_len
 *           (optional); NULL on every failure. The payload is never handed out unverified.
 * diag      optional: says which check failed (never key material).
 * Returns GK_OK, GK_EPROTO (not three base64url parts, bad header, wrong alg, oversized),
 * GK_EBADSIG (signature does not verify), GK_ENOMEM, GK_EINVAL (NULL argument).
 */
GK_WARN_UNUSED gk_err gkp_jws_verify_key(const char *token, size_t toklen,
                                         const uint8_t pk[GKP_ED25519_PK_BYTES],
                                         uint8_t **payloadp, size_t *payload_len, gk_diag *diag);

/*
 * gkp_jws_payload_authenticated - the payload of a compact JWS whose exact text was authenticated
 * by other means (a session MAC, proto/session.h): the token is split into three non-empty parts
 * and its payload decoded; the header and signature, authenticated with the rest, are neither
 * parsed nor verified. Never call it on a token that nothing authenticated. Arguments and errors
 * as gkp_jws_verify_key (GK_EPROTO for a token that is not three parts or whose payload is not
 * base64url; never GK_EBADSIG).
 */
GK_WARN_UNUSED gk_err gkp_jws_payload_authenticated(const char *token, size_t toklen,
                                                    uint8_t **payloadp, size_t *payload_len,
                                                    gk_diag *diag);

/*
 * gkp_jws_verify - as gkp_jws_verify_key, choosing the key by the header's "kid" in `keys`.
 * Format checks come first (a malformed token is GK_EPROTO whatever kid it names); then
 * GK_ENOKEY when the header has no kid string or the set does not hold it; otherwise as above.
 */
GK_WARN_UNUSED gk_err gkp_jws_verify(const char *token, size_t toklen, const gkp_jwks *keys,
                                     uint8_t **payloadp, size_t *payload_len, gk_diag *diag);

#endif
