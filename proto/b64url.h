/*
 * b64url.h - base64url without padding (RFC 4648 section 5, as JWS requires in RFC 7515 section 2),
 * built on libsodium's sodium_bin2base64/sodium_base642bin.
 *
 * THREAD SAFETY: every function is reentrant.
 */
#ifndef GKP_B64URL_H
#define GKP_B64URL_H

#include <stddef.h>
#include <stdint.h>

#include "gatekeeper.h"

/* gkp_b64url_encoded_len - bytes needed to encode `len` bytes, including the NUL. */
size_t gkp_b64url_encoded_len(size_t len);

/*
 * gkp_b64url_encode - encode `len` bytes of `bin` into `out` (NUL-terminated).
 * outsize must be at least gkp_b64url_encoded_len(len).
 * Returns the length written without the NUL, or 0 when outsize is too small (out then holds "").
 */
size_t gkp_b64url_encode(char *out, size_t outsize, const uint8_t *bin, size_t len);

/*
 * gkp_b64url_decode - decode base64url text (no padding, no whitespace) into `out`.
 * outlen  out: bytes written.
 * Returns GK_OK, GK_EPROTO (a character outside the alphabet, padding, impossible length),
 * GK_ENOSPC (out too small).
 */
gk_err gkp_b64url_decode(uint8_t *out, size_t outsize, size_t *outlen, const char *in,
                         size_t inlen);

#endif
