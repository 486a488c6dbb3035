/*
 * b64url.c - base64url without padding (RFC 4648 section 5).
 *
 * Two implementations of one encoding, for two kinds of data:
 *   - public data (tokens, signatures, payloads, public keys, ids: everything on the wire) goes
 *     through table lookups, two characters per lookup when encoding and one per character when
 *     decoding, several times faster than libsodium's constant-time codec: a decision token is
 *     encoded and decoded once per fresh decision;
 *   - secret key material (the "d" of a private JWK) goes through libsodium's
 *     sodium_bin2base64/sodium_base642bin, whose time does not depend on the bytes.
 * Both refuse padding, characters outside the alphabet, impossible lengths (4n+1) and non-zero
 * trailing bits, so a value has exactly one text.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "b64url.h"

#define VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

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

/*
 * The encoder writes two characters per table lookup: PAIRS[v] is the text of the 12-bit value v
 * (the characters of v >> 6 and v & 63), so a 3-byte group is two lookups instead of four. The
 * 8 KiB table is built by the preprocessor from CHAR64, the alphabet (A-Z a-z 0-9 - _) as an
 * integer constant expression.
 */
#define CHAR64(v)                                                                                  \
    ((char) ((v) < 26 ? 'A' + (v) : (v) < 52 ? 'a' + (v) - 26 : (v) < 62 ? '0' + (v) - 52        \
                                                                  : (v) == 62 ? '-' : '_'))
#define PAIR(v)      {CHAR64((v) >> 6), CHAR64((v) & 63)}
#define PAIRS4(v)    PAIR(v), PAIR((v) + 1), PAIR((v) + 2), PAIR((v) + 3)
#define PAIRS16(v)   PAIRS4(v), PAIRS4((v) + 4), PAIRS4((v) + 8), PAIRS4((v) + 12)
#define PAIRS64(v)   PAIRS16(v), PAIRS16((v) + 16), PAIRS16((v) + 32), PAIRS16((v) + 48)
#define PAIRS256(v)  PAIRS64(v), PAIRS64((v) + 64), PAIRS64((v) + 128), PAIRS64((v) + 192)
#define PAIRS1024(v) PAIRS256(v), PAIRS256((v) + 256), PAIRS256((v) + 512), PAIRS256((v) + 768)

static const char PAIRS[4096][2] = {
    PAIRS1024(0), PAIRS1024(1024), PAIRS1024(2048), PAIRS1024(3072),
};

/* The 8 bytes at p as a big-endian number: one load and a byte swap where the compiler has one. */
static inline uint64_t
load_be64(const uint8_t *p)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w;

    memcpy(&w, p, sizeof(w));
    return __builtin_bswap64(w);
#else
    uint64_t w = 0;

    for (int k = 0; k < 8; k++) {
        w = w << 8 | p[k];
    }
    return w;
#endif
}

/* The four characters of the 24-bit group v at out. */
static inline void
put_group(char *out, uint32_t v)
{
    memcpy(out, PAIRS[v >> 12], 2);
    memcpy(out + 2, PAIRS[v & 0xFFF], 2);
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
    /* Eight bytes read, six encoded (the top 48 bits: four 12-bit lookups). */
    for (; i + 8 <= len; i += 6, n += 8) {
        uint64_t w = load_be64(bin + i);

        memcpy(out + n, PAIRS[w >> 52], 2);
        memcpy(out + n + 2, PAIRS[(w >> 40) & 0xFFF], 2);
        memcpy(out + n + 4, PAIRS[(w >> 28) & 0xFFF], 2);
        memcpy(out + n + 6, PAIRS[(w >> 16) & 0xFFF], 2);
    }
    for (; i + 3 <= len; i += 3, n += 4) {
        put_group(out + n, (uint32_t) bin[i] << 16 | (uint32_t) bin[i + 1] << 8 | bin[i + 2]);
    }
    /* The last one or two bytes, zero bits appended: 12 bits, two characters; 18 bits, three. */
    if (len - i == 1) {
        memcpy(out + n, PAIRS[(uint32_t) bin[i] << 4], 2);
        n += 2;
    } else if (len - i == 2) {
        uint32_t v = (uint32_t) bin[i] << 10 | (uint32_t) bin[i + 1] << 2;

        memcpy(out + n, PAIRS[v >> 6], 2);
        out[n + 2] = PAIRS[v & 63][1];
        n += 3;
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
