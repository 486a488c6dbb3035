/*
 * b64url.h - base64url without padding (RFC 4648 section 5, as JWS requires in RFC 7515 section 2):
 * a fast codec for public data and libsodium's constant-time one for secret key material.
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
 * gkp_b64url_span - the offset of the first character of s[0..len) outside the base64url alphabet
 * (A-Z a-z 0-9 - _, RFC 4648 section 5; padding excluded); len when there is none.
 */
size_t gkp_b64url_span(const char *s, size_t len);

/*
 * gkp_b64url_encode - encode `len` bytes of `bin` into `out` (NUL-terminated). For public data:
 * its time depends on the bytes (table lookups); use gkp_b64url_encode_secret for key material.
 * outsize must be at least gkp_b64url_encoded_len(len).
 * Returns the length written without the NUL, or 0 when outsize is too small (out then holds "").
 */
size_t gkp_b64url_encode(char *out, size_t outsize, const uint8_t *bin, size_t len);

/*
 * gkp_b64url_decode - decode base64url text (no padding, no whitespace) into `out`. For public
 * data (see gkp_b64url_encode); gkp_b64url_decode_secret for key material.
 * outlen  out: bytes written (0 on any failure).
 * Returns GK_OK, GK_EPROTO (a character outside the alphabet, padding, impossible length,
 * non-zero trailing bits), GK_ENOSPC (out too small), GK_EINVAL (in NULL with inlen > 0). After
 * GK_EPROTO the first bytes of out may have been written (checking and decoding are one pass).
 */
gk_err gkp_b64url_decode(uint8_t *out, size_t outsize, size_t *outlen, const char *in,
                         size_t inlen);

/*
 * gkp_b64url_encode_secret, gkp_b64url_decode_secret - the same encoding and the same results,
 * in time independent of the bytes (libsodium's sodium_bin2base64/sodium_base642bin): for
 * secret key material (a private JWK's "d").
 */
size_t gkp_b64url_encode_secret(char *out, size_t outsize, const uint8_t *bin, size_t len);
gk_err gkp_b64url_decode_secret(uint8_t *out, size_t outsize, size_t *outlen, const char *in,
                                size_t inlen);

#endif
