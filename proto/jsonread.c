/*
 * jsonread.c - the strict JSON reader and the fast path of gkp_json_loadb (see jsonread.h).
 */
#include "jsonread.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "vocab.h"

gk_err
gkp_jr_syntax(gkp_jr *r, const char *what)
{
    return gkp_diag_set(r->diag, GK_EPROTO, r->source, 0, "invalid JSON at byte %zu: %s",
                        (size_t) (r->p - r->start), what);
}

gk_err
gkp_jr_expect(gkp_jr *r, char c, const char *what)
{
    gkp_jr_skip_ws(r);
    if (r->p == r->end || *r->p != c) {
        return gkp_jr_syntax(r, what);
    }
    r->p++;
    return GK_OK;
}

/* gkp_jr_expect with `c` taken at once when it is the next byte (compact JSON has no spaces). */
static gk_err
take(gkp_jr *r, char c, const char *what)
{
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return GK_OK;
    }
    return gkp_jr_expect(r, c, what);
}

/* Four hex digits at r->p into *out. */
static int
hex4(gkp_jr *r, unsigned *out)
{
    unsigned v = 0;

    if (r->end - r->p < 4) {
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        char c = r->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned) (c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (unsigned) (c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (unsigned) (c - 'A' + 10);
        } else {
            return 0;
        }
    }
    r->p += 4;
    *out = v;
    return 1;
}

/* Writes code point cp (not a surrogate, at most U+10FFFF) as UTF-8 at *out. */
static void
put_utf8(char **out, unsigned cp)
{
    unsigned char *o = (unsigned char *) *out;

    if (cp < 0x80) {
        *o++ = (unsigned char) cp;
    } else if (cp < 0x800) {
        *o++ = (unsigned char) (0xC0 | (cp >> 6));
        *o++ = (unsigned char) (0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (unsigned char) (0xE0 | (cp >> 12));
        *o++ = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char) (0x80 | (cp & 0x3F));
    } else {
        *o++ = (unsigned char) (0xF0 | (cp >> 18));
        *o++ = (unsigned char) (0x80 | ((cp >> 12) & 0x3F));
        *o++ = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char) (0x80 | (cp & 0x3F));
    }
    *out = (char *) o;
}

/* The \uXXXX escape after a backslash-u at r->p (a surrogate pair takes two), as UTF-8 at *out. */
static gk_err
unicode_escape(gkp_jr *r, char **out)
{
    unsigned cp, lo;

    if (!hex4(r, &cp)) {
        return gkp_jr_syntax(r, "a \\u escape needs four hex digits");
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return gkp_jr_syntax(r, "a \\u escape is a lone low surrogate");
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u') {
            return gkp_jr_syntax(r, "a \\u escape is a high surrogate without its low half");
        }
        r->p += 2;
        if (!hex4(r, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
            return gkp_jr_syntax(r, "a \\u escape is a high surrogate without its low half");
        }
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0) {
        return gkp_jr_syntax(r, "a string holds \\u0000");
    }
    put_utf8(out, cp);
    return GK_OK;
}

/*
 * The length of the run of plain bytes at s (up to the first quote, backslash, control or
 * non-ASCII byte, or end), copied to o unless o is NULL. Eight bytes a step while eight remain: a
 * word is copied whole before it is looked at, so up to 7 bytes past the run are written too.
 * They stay inside the arena (see jsonread.h: the unescaped text never runs ahead of the input)
 * and are overwritten or lie past the string's NUL.
 */
static size_t
plain_run(char *o, const char *s, const char *end)
{
    const char *q = s;

    while (end - q >= 8) {
        uint64_t w, stop;

        memcpy(&w, q, sizeof(w));
        if (o != NULL) {
            memcpy(o + (q - s), &w, sizeof(w));
        }
        stop = gkp_swar_stop_bytes(w);
        if (stop != 0) {
            return (size_t) (q - s) + gkp_swar_first(stop);
        }
        q += 8;
    }
    for (; q < end; q++) {
        unsigned char c = (unsigned char) *q;

        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') {
            break;
        }
        if (o != NULL) {
            o[q - s] = (char) c;
        }
    }
    return (size_t) (q - s);
}

gk_err
gkp_jr_string(gkp_jr *r, const char **out, size_t *lenp)
{
    char *o = r->arena, *text = r->arena;
    gk_err rv;

    if (r->p == r->end || *r->p != '"') {
        return gkp_jr_syntax(r, "a string was expected");
    }
    r->p++;
    for (;;) {
        size_t run = plain_run(o, r->p, r->end);
        unsigned char c;
        size_t n;

        o += run;
        r->p += run;
        if (r->p == r->end) {
            return gkp_jr_syntax(r, "a string is not closed");
        }
        c = (unsigned char) *r->p;
        if (c == '"') {
            r->p++;
            break;
        }
        if (c < 0x20) {
            return gkp_jr_syntax(r, "a string holds a control character");
        }
        if (c != '\\') {
            n = gkp_utf8_seq_len((const unsigned char *) r->p, (size_t) (r->end - r->p));
            if (n == 0) {
                return gkp_jr_syntax(r, "a string is not UTF-8");
            }
            memcpy(o, r->p, n);
            o += n;
            r->p += n;
            continue;
        }
        if (r->end - r->p < 2) {
            return gkp_jr_syntax(r, "a string is not closed");
        }
        c = (unsigned char) r->p[1];
        r->p += 2;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            *o++ = (char) c;
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u':
            rv = unicode_escape(r, &o);
            if (rv != GK_OK) {
                return rv;
            }
            break;
        default:
            r->p -= 2;
            return gkp_jr_syntax(r, "a string holds an unknown escape");
        }
    }
    *o++ = '\0';
    r->arena = o;
    *out = text;
    if (lenp != NULL) {
        *lenp = (size_t) (o - 1 - text);
    }
    return GK_OK;
}

/* Skips the digits at r->p; how many there were. */
static size_t
digits(gkp_jr *r)
{
    const char *p0 = r->p;

    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        r->p++;
    }
    return (size_t) (r->p - p0);
}

/* The magnitude of INT64_MIN, the largest an integer's digits may reach (for either sign). */
#define MAGNITUDE_MAX ((uint64_t) INT64_MAX + 1)
/* Digits that cannot reach MAGNITUDE_MAX however they are chosen (10^18 - 1 < 2^63). */
#define SAFE_DIGITS 18

gk_err
gkp_jr_number(gkp_jr *r, int *is_int, int64_t *value)
{
    const char *p0 = r->p;
    int neg = r->p < r->end && *r->p == '-';
    uint64_t u = 0;

    r->p += neg;
    if (r->p == r->end || *r->p < '0' || *r->p > '9') {
        return gkp_jr_syntax(r, "a number needs a digit");
    }
    if (*r->p == '0') {
        r->p++;
    } else {
        const char *q = r->p, *end = r->end;
        const char *safe_end = end - q > SAFE_DIGITS ? q + SAFE_DIGITS : end;

        for (; q < safe_end && *q >= '0' && *q <= '9'; q++) {
            u = u * 10 + (unsigned) (*q - '0');
        }
        /* only the digits past those that cannot overflow are checked: no division per digit */
        for (; q < end && *q >= '0' && *q <= '9'; q++) {
            unsigned d = (unsigned) (*q - '0');

            if (u > (MAGNITUDE_MAX - d) / 10) {
                r->p = p0;
                return gkp_jr_syntax(r, "an integer is too large");
            }
            u = u * 10 + d;
        }
        r->p = q;
    }
    *is_int = 1;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (digits(r) == 0) {
            return gkp_jr_syntax(r, "a number's fraction needs a digit");
        }
        *is_int = 0;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-')) {
            r->p++;
        }
        if (digits(r) == 0) {
            return gkp_jr_syntax(r, "a number's exponent needs a digit");
        }
        *is_int = 0;
    }
    if (*is_int) {
        if (!neg && u == MAGNITUDE_MAX) {
            r->p = p0;
            return gkp_jr_syntax(r, "an integer is too large");
        }
        /* -(u - 1) - 1 rather than -u: INT64_MIN's magnitude is no int64_t */
        *value = neg && u != 0 ? -(int64_t) (u - 1) - 1 : (int64_t) u;
    }
    return GK_OK;
}

gk_err
gkp_jr_literal(gkp_jr *r, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t) (r->end - r->p) < n || memcmp(r->p, lit, n) != 0) {
        return gkp_jr_syntax(r, "a value was expected");
    }
    r->p += n;
    return GK_OK;
}

/*
 * The member name at r->p (which must be a '"'): *key points into the input when the name is
 * plain text (the common case: nothing to unescape, no copy), else at its unescaped copy in the
 * arena (gkp_jr_string, which also reports what is wrong with it).
 */
static gk_err
member_name(gkp_jr *r, const char **key, size_t *key_len)
{
    size_t n;

    if (r->p < r->end && *r->p == '"') {
        n = plain_run(NULL, r->p + 1, r->end);
        if (r->p + 1 + n < r->end && r->p[1 + n] == '"') {
            *key = r->p + 1;
            *key_len = n;
            r->p += n + 2;
            return GK_OK;
        }
    }
    return gkp_jr_string(r, key, key_len);
}

gk_err
gkp_jr_object(gkp_jr *r, gkp_jr_member_fn member, void *arg)
{
    gk_err rv = gkp_jr_expect(r, '{', "an object was expected");

    if (rv != GK_OK) {
        return rv;
    }
    if (gkp_jr_peek(r) == '}') {
        r->p++;
        return GK_OK;
    }
    for (;;) {
        char *mark = r->arena;
        const char *key;
        size_t key_len;
        char *after_key;

        gkp_jr_skip_ws(r);
        rv = member_name(r, &key, &key_len);
        if (rv == GK_OK) {
            rv = take(r, ':', "a ':' was expected after a member name");
        }
        if (rv != GK_OK) {
            return rv;
        }
        after_key = r->arena;
        gkp_jr_skip_ws(r);
        rv = member(r, key, key_len, arg);
        if (rv != GK_OK) {
            return rv;
        }
        if (r->arena == after_key) {
            r->arena = mark; /* the name's copy, if it has one, is not needed any more */
        }
        if (gkp_jr_peek(r) == '}') {
            r->p++;
            return GK_OK;
        }
        rv = take(r, ',', "a ',' or '}' was expected in an object");
        if (rv != GK_OK) {
            return rv;
        }
    }
}

gk_err
gkp_jr_array(gkp_jr *r, gkp_jr_element_fn element, void *arg)
{
    gk_err rv;

    r->p++;
    if (gkp_jr_peek(r) == ']') {
        r->p++;
        return GK_OK;
    }
    for (size_t i = 0;; i++) {
        rv = element(r, i, arg);
        if (rv != GK_OK) {
            return rv;
        }
        if (gkp_jr_peek(r) == ']') {
            r->p++;
            return GK_OK;
        }
        rv = take(r, ',', "a ',' or ']' was expected in an array");
        if (rv != GK_OK) {
            return rv;
        }
        gkp_jr_skip_ws(r);
    }
}

static gk_err
skip_element(gkp_jr *r, size_t i, void *arg)
{
    (void) i;
    return gkp_jr_skip(r, *(int *) arg);
}

static gk_err
skip_member(gkp_jr *r, const char *key, size_t key_len, void *arg)
{
    (void) key;
    (void) key_len;
    return gkp_jr_skip(r, *(int *) arg);
}

gk_err
gkp_jr_skip(gkp_jr *r, int depth)
{
    char *mark = r->arena;
    const char *s;
    int is_int;
    int64_t v;
    gk_err rv;

    if (depth >= GKP_JR_MAX_DEPTH) {
        return gkp_jr_syntax(r, "arrays and objects are nested too deeply");
    }
    switch (r->p < r->end ? *r->p : '\0') {
    case '{':
    case '[':
        depth++;
        rv = *r->p == '{' ? gkp_jr_object(r, skip_member, &depth)
                          : gkp_jr_array(r, skip_element, &depth);
        break;
    case '"':
        rv = gkp_jr_string(r, &s, NULL);
        break;
    case 't':
        rv = gkp_jr_literal(r, "true");
        break;
    case 'f':
        rv = gkp_jr_literal(r, "false");
        break;
    case 'n':
        rv = gkp_jr_literal(r, "null");
        break;
    default:
        rv = gkp_jr_number(r, &is_int, &v);
        break;
    }
    r->arena = mark;
    return rv;
}

/* gkp_json_loadb's own depth limit: deeper documents are jansson's to read. */
#define LOAD_MAX_DEPTH 64

/* An array or object being filled by load_member / load_element, and its depth. */
typedef struct load_into {
    json_t *value;
    int depth;
} load_into;

static json_t *load_value(gkp_jr *r, int depth);

static gk_err
load_member(gkp_jr *r, const char *key, size_t key_len, void *arg)
{
    load_into *in = arg;
    json_t *v = load_value(r, in->depth);

    if (v == NULL) {
        return GK_EPROTO;
    }
    return json_object_setn_new_nocheck(in->value, key, key_len, v) == 0 ? GK_OK : GK_ENOMEM;
}

static gk_err
load_element(gkp_jr *r, size_t i, void *arg)
{
    load_into *in = arg;
    json_t *v = load_value(r, in->depth);

    (void) i;
    if (v == NULL) {
        return GK_EPROTO;
    }
    return json_array_append_new(in->value, v) == 0 ? GK_OK : GK_ENOMEM;
}

/*
 * The value at r->p as a new jansson value, which `depth` arrays and objects enclose; NULL for
 * anything the fast path leaves to jansson (an error, a real number, deep nesting) and when out
 * of memory. The arena is left where it was: jansson copies strings and keys.
 */
static json_t *
load_value(gkp_jr *r, int depth)
{
    char *mark = r->arena;
    const char *s;
    size_t n;
    int is_int = 0;
    int64_t v;
    load_into in;
    json_t *out = NULL;

    switch (r->p < r->end ? *r->p : '\0') {
    case '{':
    case '[':
        if (depth >= LOAD_MAX_DEPTH) {
            return NULL;
        }
        in.depth = depth + 1;
        in.value = *r->p == '{' ? json_object() : json_array();
        if (in.value != NULL && (*r->p == '{' ? gkp_jr_object(r, load_member, &in)
                                              : gkp_jr_array(r, load_element, &in)) != GK_OK) {
            json_decref(in.value);
            in.value = NULL;
        }
        return in.value;
    case '"':
        if (gkp_jr_string(r, &s, &n) == GK_OK) {
            out = json_stringn_nocheck(s, n);
        }
        break;
    case 't':
        out = gkp_jr_literal(r, "true") == GK_OK ? json_true() : NULL;
        break;
    case 'f':
        out = gkp_jr_literal(r, "false") == GK_OK ? json_false() : NULL;
        break;
    case 'n':
        out = gkp_jr_literal(r, "null") == GK_OK ? json_null() : NULL;
        break;
    default:
        /* a real is converted by jansson's own strtod: left to it, so the value is its */
        if (gkp_jr_number(r, &is_int, &v) == GK_OK && is_int) {
            out = json_integer((json_int_t) v);
        }
        break;
    }
    r->arena = mark;
    return out;
}

json_t *
gkp_json_read(const char *buf, size_t len)
{
    char small[512];
    char *arena;
    json_t *root = NULL;
    gkp_jr r;
    char c;

    if (buf == NULL || len >= SIZE_MAX / 2) {
        return NULL;
    }
    arena = len < sizeof(small) ? small : malloc(len + 1);
    if (arena == NULL) {
        return NULL;
    }
    r = (gkp_jr){buf, buf, buf + len, arena, "json", NULL};
    c = gkp_jr_peek(&r);
    root = c == '{' || c == '[' ? load_value(&r, 0) : NULL;
    gkp_jr_skip_ws(&r);
    if (root != NULL && r.p != r.end) { /* text after the document */
        json_decref(root);
        root = NULL;
    }
    if (arena != small) {
        free(arena);
    }
    return root;
}

json_t *
gkp_json_loadb(const char *buf, size_t len, json_error_t *err)
{
    json_t *root = gkp_json_read(buf, len);

    if (root == NULL) {
        return json_loadb(buf, len, 0, err);
    }
    if (err != NULL) { /* as jansson leaves it after a success */
        memset(err, 0, sizeof(*err));
        err->line = -1;
        err->column = -1;
        snprintf(err->source, sizeof(err->source), "<buffer>");
    }
    return root;
}
