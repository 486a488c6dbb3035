/*
 * signer.h - the gatekeeper's key ring: signs decision tokens (JWS compact, alg EdDSA, RFC 7515 and
 * RFC 8037) with one key and publishes the public half of every key it holds as a JWKS, so that
 * keys can be rotated (add the new key, publish it, switch signing, retire the old one).
 *
 * THREAD SAFETY: build the ring (gkd_signer_new, gkd_signer_add_key_file, gkd_signer_presign) on
 * one thread; after that every other function may run from any number of threads at once.
 */
#ifndef GKD_SIGNER_H
#define GKD_SIGNER_H

#include <stddef.h>

#include <jansson.h>

#include "gatekeeper.h"
#include "jwk.h"
#include "presign.h"

typedef struct gkd_signer gkd_signer;

/* Length of a subject hash in base64url plus NUL: BLAKE2b-128 -> 22 characters. */
#define GKD_SUBJECT_MAX 23

/* gkd_signer_new - an empty ring; caller frees with gkd_signer_free(). GK_OK or GK_ENOMEM. */
gk_err gkd_signer_new(gkd_signer **signerp);

/* gkd_signer_free - wipe and release every key (NULL is ignored). */
void gkd_signer_free(gkd_signer *signer);

/*
 * gkd_signer_add_key_file - add the key in a private key file (see keyfile.h). The first key added
 * signs; later ones are only published (for tokens signed before a rotation). A kid already in the
 * ring is refused. Returns as gkd_keyfile_read, and GK_EINVAL for a duplicate kid.
 */
gk_err gkd_signer_add_key_file(gkd_signer *signer, const char *path, gk_diag *diag);

/* gkd_signer_count - number of keys in the ring. */
size_t gkd_signer_count(const gkd_signer *signer);

/* gkd_signer_kid - kid of the signing key, or NULL for an empty ring. Borrowed. */
const char *gkd_signer_kid(const gkd_signer *signer);

/*
 * gkd_signer_presign - give the signing key a nonce pool of `capacity` pairs (presign.h), so that
 * its signatures cost about 1.5 us instead of 18 while the pool has pairs; they are then no longer
 * deterministic (still ordinary Ed25519). Call once, after the keys are added. Without it every
 * signature is RFC 8032's deterministic one.
 * Returns GK_OK, GK_EINVAL (no key, or a pool already started), or as gkd_presign_start; on an
 * error the ring keeps signing deterministically.
 */
gk_err gkd_signer_presign(gkd_signer *signer, size_t capacity, gk_diag *diag);

/* gkd_signer_presigner - the signing key's nonce pool (borrowed), or NULL when it has none. */
gkd_presign *gkd_signer_presigner(const gkd_signer *signer);

/*
 * gkd_signer_sign - sign `payload` with the signing key: protected header
 * {"alg":"EdDSA","kid":"<kid>","typ":"JWT"}.
 * tokenp  out: malloc'd NUL-terminated compact JWS (caller frees), length in toklen.
 * Returns GK_OK, GK_EINVAL (empty ring), GK_ENOMEM.
 */
gk_err gkd_signer_sign(const gkd_signer *signer, const char *payload, size_t len, char **tokenp,
                       size_t *toklen);

/*
 * gkd_signer_token_len - the length in characters (without NUL) of the token gkd_signer_sign makes
 * for a payload of len bytes (gkp_jws_compact_len); 0 for an empty ring or a token that would be
 * longer than GKP_JWS_MAX_BYTES, which the ring refuses to make.
 */
size_t gkd_signer_token_len(const gkd_signer *signer, size_t len);

/*
 * gkd_signer_sign_into - gkd_signer_sign into the caller's buffer: the same token (its header
 * encoded once, when the key was added), NUL-terminated, in out.
 * outsize  at least gkd_signer_token_len(signer, len) + 1 bytes.
 * toklen   out: the token's length without the NUL.
 * Returns GK_OK, GK_EINVAL (empty ring, out too small, a token over GKP_JWS_MAX_BYTES).
 */
gk_err gkd_signer_sign_into(const gkd_signer *signer, const char *payload, size_t len, char *out,
                            size_t outsize, size_t *toklen);

/*
 * gkd_signer_sign_typed - as gkd_signer_sign with protected header
 * {"alg":"EdDSA","kid":"<kid>","typ":"<typ>"} (RFC 8725 section 3.11: explicit typing keeps one
 * kind of signed object from passing for another). typ: 1..40 characters of [a-z0-9+.-].
 * Returns GK_OK, GK_EINVAL (empty ring, bad typ), GK_ENOMEM.
 */
gk_err gkd_signer_sign_typed(const gkd_signer *signer, const char *typ, const char *payload,
                             size_t len, char **tokenp, size_t *toklen);

/* gkd_signer_jwks - the public JWKS of every key (new reference, caller decrefs); NULL on ENOMEM. */
json_t *gkd_signer_jwks(const gkd_signer *signer);

/*
 * gkd_signer_subject - the "sub" claim for a targeting key: base64url of the 16-byte BLAKE2b hash
 * of the key, keyed with a 32-byte key derived from the signing key's seed
 * (crypto_kdf_derive_from_key, id 1, context "gksubjct"). Stable for one signing key, not
 * computable without it, so a logged token reveals no targeting key.
 */
void gkd_signer_subject(const gkd_signer *signer, const char *tk, size_t len,
                        char out[GKD_SUBJECT_MAX]);

#endif
