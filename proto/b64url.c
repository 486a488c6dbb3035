/*
 * b64url.c - base64url without padding, on top of libsodium.
 *
 * libsodium already implements RFC 4648 section 5 in constant time and refuses padding, stray
 * characters and non-zero trailing bits with the URLSAFE_NO_PADDING variant; this file only adds
 * the size checks (sodium_bin2base64 aborts the process on a short buffer) and our error codes.
 */
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "b64url.h"

#define VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

size_t
gkp_b64url_encoded_len(size_t len)
{
    return sodium_base64_ENCODED_LEN(len, VARIANT);
}

size_t
gkp_b64url_encode(char *out, size_t outsize, const uint8_t *bin, size_t len)
{
    if (out == NULL || outsize == 0) {
        return 0;
    }
    if (outsize < gkp_b64url_encoded_len(len) || (bin == NULL && len != 0)) {
        out[0] = '\0';
        return 0;
    }
    /* "len * 4 / 3" rounded up: the exact length of unpadded base64 text. */
    sodium_bin2base64(out, outsize, bin, len, VARIANT);
    return (len / 3) * 4 + ((len % 3) ? (len % 3) + 1 : 0);
}

gk_err
gkp_b64url_decode(uint8_t *out, size_t outsize, size_t *outlen, const char *in, size_t inlen)
{
    size_t need;
    size_t bin_len = 0;
    const char *end = NULL;

    if (outlen != NULL) {
        *outlen = 0;
    }
    if (in == NULL && inlen != 0) {
        return GK_EINVAL;
    }
    if (inlen % 4 == 1) {
        return GK_EPROTO; /* no byte count encodes to 4n+1 characters */
    }
    need = (inlen / 4) * 3 + ((inlen % 4) ? (inlen % 4) - 1 : 0);
    if (need > outsize || (out == NULL && need != 0)) {
        return GK_ENOSPC;
    }
    if (inlen == 0) {
        return GK_OK;
    }
    /* "end" must reach the end of the input: sodium stops quietly at the first bad character. */
    if (sodium_base642bin(out, outsize, in, inlen, NULL, &bin_len, &end, VARIANT) != 0 ||
        end != in + inlen) {
        return GK_EPROTO;
    }
    if (outlen != NULL) {
        *outlen = bin_len;
    }
    return GK_OK;
}
