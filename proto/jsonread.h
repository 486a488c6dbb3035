/*
 * jsonread.h - a strict RFC 8259 JSON reader over a byte buffer, for the protocol's documents read
 * on every decision: a token's claims in the SDK (claims.c reads them straight into their struct)
 * and the evaluate request in the gatekeeper (gkp_json_loadb builds jansson's tree without
 * jansson's general-purpose parser, which takes about four times as long for such a document).
 *
 * A gkp_jr walks the text once, front to back. Strings are unescaped into an arena the caller
 * provides, which must hold at least as many bytes as the input (from start) plus one: the
 * unescaped text of a string and its NUL never take more bytes than its quoted form, so the
 * arena's next free byte never runs ahead of the input's next byte. gkp_jr_string relies on that:
 * it copies plain text eight bytes at a time and so may write up to seven bytes past a string's
 * NUL, all inside that room. A caller may set r->arena back to a mark it took, never forward. What
 * it accepts is exactly RFC 8259 JSON with jansson's restrictions: strings are UTF-8 (RFC 3629)
 * without NUL (\u0000 is refused), surrogate escapes come in pairs, and values nest at most
 * GKP_JR_MAX_DEPTH levels deep (jansson's count: the top value is level 1, and every value is one
 * level deeper than the array or object holding it, scalars included). Errors say "invalid JSON at
 * byte N: what" (N counted from the start of the input) through the reader's diag.
 *
 * THREAD SAFETY: a gkp_jr is one caller's; the functions keep no other state.
 */
#ifndef GKP_JSONREAD_H
#define GKP_JSONREAD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"

/* Deepest level a value may sit at, the top value being level 1 (jansson's parser limit). */
#define GKP_JR_MAX_DEPTH 2048

/* A reader; set every field, then call the functions below. */
typedef struct gkp_jr {
    const char *start;  /* the input, for offsets in errors */
    const char *p;      /* the next byte to read */
    const char *end;    /* one past the input's last byte */
    char *arena;        /* next free byte of the caller's arena (see above) */
    const char *source; /* the diag source of errors ("claims") */
    gk_diag *diag;      /* optional: the first error */
} gkp_jr;

/* gkp_jr_syntax - record "invalid JSON at byte N: what" for the current position; GK_EPROTO. */
gk_err gkp_jr_syntax(gkp_jr *r, const char *what);

/* gkp_jr_skip_ws - skip JSON whitespace (space, tab, LF, CR). Inline: called between tokens. */
static inline void
gkp_jr_skip_ws(gkp_jr *r)
{
    while (r->p < r->end &&
           (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) {
        r->p++;
    }
}

/* gkp_jr_expect - skip whitespace, then take `c`; GK_EPROTO naming `what` for anything else. */
gk_err gkp_jr_expect(gkp_jr *r, char c, const char *what);

/* gkp_jr_peek - skip whitespace, then the next byte without taking it ('\0' at the end). */
static inline char
gkp_jr_peek(gkp_jr *r)
{
    gkp_jr_skip_ws(r);
    return r->p < r->end ? *r->p : '\0';
}

/*
 * gkp_jr_string - the string at r->p (which must be a '"'), unescaped into the arena and
 * NUL-terminated: *out points at it (valid while the arena is), *lenp (optional) is its length in
 * bytes. The arena advances past it; a caller done with it may set r->arena back. Control
 * characters, bad escapes, \u0000, lone surrogates and bytes that are not UTF-8 give GK_EPROTO.
 * Bytes of the arena past the NUL (up to seven) may be written. Cost: about 3 instructions a byte
 * of plain text (eight bytes are checked at once), plus a few dozen a string.
 */
gk_err gkp_jr_string(gkp_jr *r, const char **out, size_t *lenp);

/*
 * gkp_jr_number - the number at r->p (RFC 8259 section 6). *is_int says whether it has neither
 * fraction nor exponent, and then *value holds it; GK_EPROTO for a malformed number or an integer
 * outside int64_t (reported where the number starts).
 */
gk_err gkp_jr_number(gkp_jr *r, int *is_int, int64_t *value);

/* gkp_jr_literal - take the literal `lit` ("true", "false" or "null") at r->p; else GK_EPROTO. */
gk_err gkp_jr_literal(gkp_jr *r, const char *lit);

/*
 * gkp_jr_object - read the object at r->p (whitespace before it is skipped), calling
 * member(r, key, key_len, arg) for each member with r->p at the value (whitespace skipped); the
 * callback reads the value. The key is the member name unescaped, key_len bytes and NOT
 * NUL-terminated: it points into the input when the name needed no unescaping, else into the
 * arena; valid until the callback returns. When the callback leaves the arena where it found it,
 * the space of the key's copy is reused. Stops at the first error.
 */
typedef gk_err (*gkp_jr_member_fn)(gkp_jr *r, const char *key, size_t key_len, void *arg);
gk_err gkp_jr_object(gkp_jr *r, gkp_jr_member_fn member, void *arg);

/*
 * gkp_jr_array - read the array whose '[' is at r->p (the caller has checked it, with its own
 * message), calling element(r, i, arg) for its i-th element with whitespace before it skipped.
 * Stops at the first error.
 */
typedef gk_err (*gkp_jr_element_fn)(gkp_jr *r, size_t i, void *arg);
gk_err gkp_jr_array(gkp_jr *r, gkp_jr_element_fn element, void *arg);

/*
 * gkp_jr_skip - check and skip the value at r->p (whitespace before it skipped), which `depth`
 * arrays and objects enclose (so it sits at level depth + 1): a value deeper than
 * GKP_JR_MAX_DEPTH, or holding one, is refused. The arena is left where it was.
 */
gk_err gkp_jr_skip(gkp_jr *r, int depth);

/*
 * gkp_json_read - the fast path of gkp_json_loadb alone: jansson's tree for a plain document (an
 * object or array whose numbers are integers, nested at most 64 deep, nothing after it but
 * whitespace), equal (json_equal) to what json_loadb(buf, len, 0, NULL) returns; NULL for
 * anything else, valid or not, and when out of memory. The caller owns the reference.
 */
json_t *gkp_json_read(const char *buf, size_t len);

/*
 * gkp_json_loadb - what jansson's json_loadb(buf, len, 0, err) returns, faster for the plain
 * documents of the protocol: gkp_json_read's tree when it gives one; anything else, an error
 * included, goes to json_loadb itself, so results and error texts are jansson's. The caller owns
 * the reference returned; NULL on failure, with *err (optional) filled in by jansson; on success
 * *err is initialised as jansson leaves it (empty text, line and column -1). A document the fast
 * path gives up on late (a real number near its end) is read twice.
 * Cost: about a quarter of json_loadb's for a 165-byte evaluate request (one malloc'd arena for
 * inputs over 512 bytes, plus jansson's allocations for the tree).
 */
json_t *gkp_json_loadb(const char *buf, size_t len, json_error_t *err);

#endif
