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

/* Marks a byte outside the alphabet: a bit that no group of four characters (24 bits) sets. */
#define BAD 0x80000000u

/* The 6-bit value of base64url character c, BAD for every other byte. */
#define SEXTET(c)                                                                                  \
    ((c) >= 'A' && (c) <= 'Z'   ? (uint32_t) (c) - 'A'                                             \
     : (c) >= 'a' && (c) <= 'z' ? (uint32_t) (c) - 'a' + 26                                        \
     : (c) >= '0' && (c) <= '9' ? (uint32_t) (c) - '0' + 52                                        \
     : (c) == '-'               ? 62u                                                              \
     : (c) == '_'               ? 63u                                                              \
                                : BAD)

/* A table of the 256 bytes' values, each moved `shift` bits up where it sits in a group (BAD stays
 * BAD). */
#define AT(c, shift) (SEXTET(c) == BAD ? BAD : SEXTET(c) << (shift))
#define ROW4(c, shift) AT(c, shift), AT((c) + 1, shift), AT((c) + 2, shift), AT((c) + 3, shift)
#define ROW16(c, shift)                                                                            \
    ROW4(c, shift), ROW4((c) + 4, shift), ROW4((c) + 8, shift), ROW4((c) + 12, shift)
#define ROW64(c, shift)                                                                            \
    ROW16(c, shift), ROW16((c) + 16, shift), ROW16((c) + 32, shift), ROW16((c) + 48, shift)
#define TABLE(shift) {ROW64(0, shift), ROW64(64, shift), ROW64(128, shift), ROW64(192, shift)}

/*
 * The value of each byte as the first, second, third and fourth character of a group of four:
 * OR-ing the four gives the group's 24 bits, and BAD when any of them is outside the alphabet, so
 * a group is checked and decoded without a shift or a test per character.
 */
static const uint32_t FIRST[256] = TABLE(18);
static const uint32_t SECOND[256] = TABLE(12);
static const uint32_t THIRD[256] = TABLE(6);
static const uint32_t FOURTH[256] = TABLE(0);

size_t
gkp_b64url_span(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;

    /* four at a time: a nonce or a session key is a few dozen characters */
    while (i + 4 <= len && ((FOURTH[p[i]] | FOURTH[p[i + 1]] | FOURTH[p[i + 2]] |
                             FOURTH[p[i + 3]]) & BAD) == 0) {
        i += 4;
    }
    while (i < len && FOURTH[p[i]] != BAD) {
        i++;
    }
    return i;
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
    /* checked and decoded in one pass; on a refusal what was written to out is garbage */
    for (; i + 4 <= inlen; i += 4) {
        uint32_t v = FIRST[s[i]] | SECOND[s[i + 1]] | THIRD[s[i + 2]] | FOURTH[s[i + 3]];

        if ((v & BAD) != 0) {
            return GK_EPROTO;
        }
        out[n] = (uint8_t) (v >> 16);
        out[n + 1] = (uint8_t) (v >> 8);
        out[n + 2] = (uint8_t) v;
        n += 3;
    }
    if (inlen - i == 2) {
        uint32_t v = FIRST[s[i]] | SECOND[s[i + 1]];

        /* 12 bits for one byte: the last 4 must be zero (one text per value) */
        if ((v & BAD) != 0 || (v & 0xFFFF) != 0) {
            return GK_EPROTO;
        }
        out[n++] = (uint8_t) (v >> 16);
    } else if (inlen - i == 3) {
        uint32_t v = FIRST[s[i]] | SECOND[s[i + 1]] | THIRD[s[i + 2]];

        /* 18 bits for two bytes: the last 2 must be zero */
        if ((v & BAD) != 0 || (v & 0xFF) != 0) {
            return GK_EPROTO;
        }
        out[n++] = (uint8_t) (v >> 16);
        out[n++] = (uint8_t) (v >> 8);
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
