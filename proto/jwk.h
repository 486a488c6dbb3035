/*
 * jwk.h - Ed25519 public keys as JWK / JWKS documents (RFC 7517; OKP key type per RFC 8037
 * section 2: {"kty":"OKP","crv":"Ed25519","x":"<base64url 32 bytes>","kid":"..."}) and key ids
 * as RFC 7638 JWK thumbprints.
 *
 * THREAD SAFETY: a gkp_jwks is immutable once built (gkp_jwks_add is the only mutator and must not
 * run concurrently with readers); lookups may run from any number of threads.
 */
#ifndef GKP_JWK_H
#define GKP_JWK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"

#define GKP_ED25519_PK_BYTES 32
#define GKP_ED25519_SK_BYTES 64
#define GKP_ED25519_SEED_BYTES 32
#define GKP_ED25519_SIG_BYTES 64
/* An RFC 7638 SHA-256 thumbprint in base64url is 43 characters; kids are at most 63 bytes. */
#define GKP_KID_MAX 64

typedef struct gkp_jwks gkp_jwks;

/* gkp_jwks_new - an empty key set; caller frees with gkp_jwks_free(). GK_OK or GK_ENOMEM. */
gk_err gkp_jwks_new(gkp_jwks **setp);

/* gkp_jwks_free - release a key set (NULL is ignored). */
void gkp_jwks_free(gkp_jwks *set);

/*
 * gkp_jwks_add - add a public key under `kid` (copied, 1..63 bytes). A kid already present is
 * refused with GK_EINVAL. Returns GK_OK, GK_EINVAL, GK_ENOMEM.
 */
gk_err gkp_jwks_add(gkp_jwks *set, const char *kid, const uint8_t pk[GKP_ED25519_PK_BYTES]);

/*
 * gkp_jwks_parse - build a key set from a JWKS document ({"keys":[...]}) or a single JWK object.
 * Keys that are not OKP/Ed25519 signing keys (other kty/crv, "use" other than "sig") are skipped;
 * an Ed25519 key without a kid, with a malformed x, or a duplicate kid is an error. A set with no
 * usable key is an error. `source` names the document in diag (e.g. the file path).
 * Returns GK_OK, GK_EPROTO (diag says which key and what), GK_ENOMEM.
 */
gk_err gkp_jwks_parse(gkp_jwks **setp, const json_t *doc, const char *source, gk_diag *diag);

/* gkp_jwks_load_file - read and parse a JWKS file. Adds GK_ENOENT/GK_EIO for unreadable files. */
gk_err gkp_jwks_load_file(gkp_jwks **setp, const char *path, gk_diag *diag);

/* gkp_jwks_find - the public key with this kid, or NULL. Borrowed until the set is freed. */
const uint8_t *gkp_jwks_find(const gkp_jwks *set, const char *kid, size_t kidlen);

/* gkp_jwks_count - number of keys in the set. */
size_t gkp_jwks_count(const gkp_jwks *set);

/*
 * gkp_jwks_to_json - the set as a JWKS document (new reference, caller decrefs), each key with
 * kty, crv, x, kid, "use":"sig" and "alg":"EdDSA". NULL on allocation failure.
 */
json_t *gkp_jwks_to_json(const gkp_jwks *set);

/*
 * gkp_jwk_thumbprint - the RFC 7638 thumbprint of an Ed25519 public key: base64url(SHA-256 of
 * {"crv":"Ed25519","kty":"OKP","x":"<x>"}), 43 characters plus NUL written to kid.
 */
void gkp_jwk_thumbprint(char kid[GKP_KID_MAX], const uint8_t pk[GKP_ED25519_PK_BYTES]);

#endif
