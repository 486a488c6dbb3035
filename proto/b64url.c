/*
 * b64url.c - base64url without padding (RFC 4648 section 5).
 *
 * Two implementations of one encoding, for two kinds of data:
 *   - public data (tokens, signatures, payloads, public keys, ids: everything on the wire) goes
 *     through a table lookup per character, about five times faster than libsodium's
 *     constant-time codec: a decision token is encoded and decoded once per fresh decision;
 *   - secret key material (the "d" of a private JWK) goes through libsodium's
 *     sodium_bin2base64/sodium_base642bin, whose time does not depend on the bytes.
 * Both refuse padding, characters outside the alphabet, impossible lengths (4n+1) and non-zero
 * trailing bits, so a value has exactly one text.
 */
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "b64url.h"

#define VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

static const char ALPHABET[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of each character; 0xff for characters outside the alphabet. */
static const uint8_t VALUE[256] = {
    ['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,  ['G'] = 6,
    ['H'] = 7,  ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13,
    ['O'] = 14, ['P'] = 15, ['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20,
    ['V'] = 21, ['W'] = 22, ['X'] = 23, ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27,
    ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31, ['g'] = 32, ['h'] = 33, ['i'] = 34,
    ['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39, ['o'] = 40, ['p'] = 41,
    ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47, ['w'] = 48,
    ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
    ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61, ['-'] = 62,
    ['_'] = 63,
};

/* VALUE is 0 both for 'A' and for characters it does not list: this says which is which. */
static int
in_alphabet(unsigned char c)
{
    return VALUE[c] != 0 || c == 'A';
}

size_t
gkp_b64url_encoded_len(size_t len)
{
    return sodium_base64_ENCODED_LEN(len, VARIANT);
}

/* The exact length of unpadded base64 text for len bytes: len * 4 / 3 rounded up. */
static size_t
text_len(size_t len)
{
    return (len / 3) * 4 + ((len % 3) ? (len % 3) + 1 : 0);
}

/* The decoded length of inlen characters, or (size_t) -1 for an impossible length (4n+1). */
static size_t
bin_len(size_t inlen)
{
    return inlen % 4 == 1 ? (size_t) -1 : (inlen / 4) * 3 + ((inlen % 4) ? (inlen % 4) - 1 : 0);
}

size_t
gkp_b64url_encode(char *out, size_t outsize, const uint8_t *bin, size_t len)
{
    size_t i = 0, n = 0;

    if (out == NULL || outsize == 0) {
        return 0;
    }
    if (outsize < gkp_b64url_encoded_len(len) || (bin == NULL && len != 0)) {
        out[0] = '\0';
        return 0;
    }
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t) bin[i] << 16 | (uint32_t) bin[i + 1] << 8 | bin[i + 2];
        out[n++] = ALPHABET[v >> 18];
        out[n++] = ALPHABET[(v >> 12) & 63];
        out[n++] = ALPHABET[(v >> 6) & 63];
        out[n++] = ALPHABET[v & 63];
    }
    if (len - i == 1) {
        out[n++] = ALPHABET[bin[i] >> 2];
        out[n++] = ALPHABET[(bin[i] & 3) << 4];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t) bin[i] << 8 | bin[i + 1];
        out[n++] = ALPHABET[v >> 10];
        out[n++] = ALPHABET[(v >> 4) & 63];
        out[n++] = ALPHABET[(v & 15) << 2];
    }
    out[n] = '\0';
    return n;
}

/* Checks shared by both decoders; *need is the decoded length. */
static gk_err
check_decode(size_t *outlen, size_t *need, const uint8_t *out, size_t outsize, const char *in,
             size_t inlen)
{
    if (outlen != NULL) {
        *outlen = 0;
    }
    if (in == NULL && inlen != 0) {
        return GK_EINVAL;
    }
    *need = bin_len(inlen);
    if (*need == (size_t) -1) {
        return GK_EPROTO; /* no byte count encodes to 4n+1 characters */
    }
    if (*need > outsize || (out == NULL && *need != 0)) {
        return GK_ENOSPC;
    }
    return GK_OK;
}

gk_err
gkp_b64url_decode(uint8_t *out, size_t outsize, size_t *outlen, const char *in, size_t inlen)
{
    const unsigned char *s = (const unsigned char *) in;
    size_t need, i = 0, n = 0;
    gk_err rv = check_decode(outlen, &need, out, outsize, in, inlen);

    if (rv != GK_OK || inlen == 0) {
        return rv;
    }
    for (size_t k = 0; k < inlen; k++) {
        if (!in_alphabet(s[k])) {
            return GK_EPROTO;
        }
    }
    for (; i + 4 <= inlen; i += 4) {
        uint32_t v = (uint32_t) VALUE[s[i]] << 18 | (uint32_t) VALUE[s[i + 1]] << 12 |
                     (uint32_t) VALUE[s[i + 2]] << 6 | VALUE[s[i + 3]];
        out[n++] = (uint8_t) (v >> 16);
        out[n++] = (uint8_t) (v >> 8);
        out[n++] = (uint8_t) v;
    }
    if (inlen - i == 2) {
        /* 12 bits for one byte: the last 4 must be zero (one text per value) */
        if ((VALUE[s[i + 1]] & 15) != 0) {
            return GK_EPROTO;
        }
        out[n++] = (uint8_t) (VALUE[s[i]] << 2 | VALUE[s[i + 1]] >> 4);
    } else if (inlen - i == 3) {
        /* 18 bits for two bytes: the last 2 must be zero */
        uint32_t v = (uint32_t) VALUE[s[i]] << 12 | (uint32_t) VALUE[s[i + 1]] << 6 |
                     VALUE[s[i + 2]];
        if ((v & 3) != 0) {
            return GK_EPROTO;
        }
        out[n++] = (uint8_t) (v >> 10);
        out[n++] = (uint8_t) (v >> 2);
    }
    if (outlen != NULL) {
        *outlen = n;
    }
    return GK_OK;
}

size_t
gkp_b64url_encode_secret(char *out, size_t outsize, const uint8_t *bin, size_t len)
{
    if (out == NULL || outsize == 0) {
        return 0;
    }
    if (outsize < gkp_b64url_encoded_len(len) || (bin == NULL && len != 0)) {
        out[0] = '\0';
        return 0;
    }
    sodium_bin2base64(out, outsize, bin, len, VARIANT);
    return text_len(len);
}

gk_err
gkp_b64url_decode_secret(uint8_t *out, size_t outsize, size_t *outlen, const char *in,
                         size_t inlen)
{
    size_t need, got = 0;
    const char *end = NULL;
    gk_err rv = check_decode(outlen, &need, out, outsize, in, inlen);

    if (rv != GK_OK || inlen == 0) {
        return rv;
    }
    /* "end" must reach the end of the input: sodium stops quietly at the first bad character. */
    if (sodium_base642bin(out, outsize, in, inlen, NULL, &got, &end, VARIANT) != 0 ||
        end != in + inlen) {
        return GK_EPROTO;
    }
    if (outlen != NULL) {
        *outlen = got;
    }
    return GK_OK;
}
