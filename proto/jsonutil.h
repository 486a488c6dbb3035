/*
 * jsonutil.h - small jansson helpers the codec's message modules share.
 *
 * THREAD SAFETY: reentrant.
 */
#ifndef GKP_JSONUTIL_H
#define GKP_JSONUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"

/* gkp_json_type_name - "an object", "an array", "a string", ..., "missing" for NULL: for errors. */
const char *gkp_json_type_name(const json_t *j);

/*
 * gkp_json_dump_take - serialise `root` compactly into a malloc'd string (*outp, caller frees;
 * *outlen its length when outlen is not NULL), consuming the reference to root even on failure.
 * Returns GK_OK, or GK_ENOMEM when root is NULL or serialising fails.
 */
gk_err gkp_json_dump_take(char **outp, size_t *outlen, json_t *root);

/*
 * gkp_json_unconst - `j` without const, for jansson calls that take a reference (they change only
 * the reference count). No copy is made.
 */
json_t *gkp_json_unconst(const json_t *j);

/*
 * gkp_json_plain_len - the length of the run s[0..len) starts with that can stand between JSON
 * quotes as is: printable ASCII (0x20..0x7E) other than '"' and '\\'. A string whose run is all of
 * it is its own JSON text once quoted; any other needs jansson's escaping.
 */
size_t gkp_json_plain_len(const char *s, size_t len);

/*
 * Eight bytes a step (SWAR) for the string scanners, here (gkp_json_plain_len) and in the strict
 * reader (jsonread.c): each test gives the high bit of every byte of a 64-bit word that is what
 * it looks for, exactly (no borrow runs from byte to byte), so the first one found is the first
 * one there is.
 */

/* Every byte of a 64-bit word set to b. */
#define GKP_SWAR_BYTES(b) (0x0101010101010101u * (uint8_t) (b))
#define GKP_SWAR_HIGH     GKP_SWAR_BYTES(0x80)

/* The high bit of each byte of w that is zero. */
static inline uint64_t
gkp_swar_zero_bytes(uint64_t w)
{
    return ~(((w & ~GKP_SWAR_HIGH) + ~GKP_SWAR_HIGH) | w) & GKP_SWAR_HIGH;
}

/*
 * The high bit of each byte of w that ends a run of plain JSON string text: '"', '\\', a control
 * character (below 0x20) or a byte of 0x80 and above.
 */
static inline uint64_t
gkp_swar_stop_bytes(uint64_t w)
{
    /* with its high bit set a byte is at least 0x80: taking 0x20 borrows from no neighbour, and
     * leaves the high bit clear exactly when the low seven bits were below 0x20 */
    uint64_t control = ~((w | GKP_SWAR_HIGH) - GKP_SWAR_BYTES(0x20)) & GKP_SWAR_HIGH;

    return (w & GKP_SWAR_HIGH) | control | gkp_swar_zero_bytes(w ^ GKP_SWAR_BYTES('"')) |
           gkp_swar_zero_bytes(w ^ GKP_SWAR_BYTES('\\'));
}

/* The index in memory order of the first byte whose high bit `found` (non-zero) has. */
static inline size_t
gkp_swar_first(uint64_t found)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (size_t) __builtin_clzll(found) / 8;
#else
    return (size_t) __builtin_ctzll(found) / 8;
#endif
}

/*
 * gkp_utf8_seq_len - the length in bytes (1-4) of the valid UTF-8 sequence at s[0..len) (RFC 3629
 * section 4: no overlong forms, no surrogates, nothing above U+10FFFF), 0 when it is not one.
 * len must be at least 1.
 */
size_t gkp_utf8_seq_len(const unsigned char *s, size_t len);

/*
 * gkp_json_string_lossy - a JSON string of the NUL-terminated `s`; when `s` is not UTF-8 every
 * byte outside a valid sequence (RFC 3629 section 4) becomes '?', since error texts may quote
 * client bytes. New reference; NULL only without memory.
 */
json_t *gkp_json_string_lossy(const char *s);

#endif
