/*
 * keyfile.h - the gatekeeper's signing key files.
 *
 * A private key file holds one Ed25519 key as a private JWK (RFC 8037 section 2):
 *   {"kty":"OKP","crv":"Ed25519","kid":"<RFC 7638 thumbprint>","x":"<public>","d":"<seed>"}
 * and must be readable by its owner only (mode 0600 or stricter), like an ssh key. The public
 * half is published in a JWKS document (RFC 7517) beside it, "jwks.json".
 *
 * THREAD SAFETY: reentrant. Secrets are read into sodium_malloc'd memory the caller releases with
 * sodium_free (which wipes it); they are never logged or copied into diagnostics.
 */
#ifndef GKD_KEYFILE_H
#define GKD_KEYFILE_H

#include <stdint.h>

#include "gatekeeper.h"
#include "jwk.h"

/*
 * gkd_keyfile_read - load a private key file.
 * skp  out: a sodium_malloc'd libsodium secret key (seed || public, 64 bytes); caller sodium_free()s.
 * kid  out: the key's kid.
 * Refuses (diag names the file and what to do): a missing or unreadable file (GK_ENOENT/GK_EIO), a
 * file that group or others may read (GK_EINVAL: "chmod 600"), malformed JSON or a key that is
 * not an Ed25519 private JWK, whose "x" does not match "d", or whose "kid" is not 1-63 characters
 * of [A-Za-z0-9._-] (GK_EPROTO). Without a "kid" the RFC 7638 thumbprint is used.
 */
gk_err gkd_keyfile_read(uint8_t **skp, char kid[GKP_KID_MAX], const char *path, gk_diag *diag);

/*
 * gkd_keyfile_generate - make a new key pair in directory `dir` (created 0700 if absent):
 * writes <dir>/<kid>.jwk (mode 0600, never overwriting) and adds the public key to
 * <dir>/jwks.json (created, or rewritten atomically with the keys it already held, for rotation).
 * kid   out: the new key's kid.
 * path  out: the private key file's path (PATH_MAX bytes).
 * Returns GK_OK, GK_EIO (diag names the file and errno text), GK_EPROTO (an existing jwks.json is
 * malformed), GK_ENOMEM.
 */
gk_err gkd_keyfile_generate(const char *dir, char kid[GKP_KID_MAX], char *path, gk_diag *diag);

#endif
