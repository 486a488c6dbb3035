/*
 * jsonutil.c - type names for error messages, compact serialisation that consumes its input,
 * const-safe references, and strings repaired to UTF-8 for messages meant for people.
 */
#include "jsonutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *
gkp_json_type_name(const json_t *j)
{
    if (j == NULL) {
        return "missing";
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

gk_err
gkp_json_dump_take(char **outp, size_t *outlen, json_t *root)
{
    char *s = NULL;

    if (root != NULL) {
        s = json_dumps(root, JSON_COMPACT);
        json_decref(root);
    }
    if (s == NULL) {
        return GK_ENOMEM;
    }
    *outp = s;
    if (outlen != NULL) {
        *outlen = strlen(s);
    }
    return GK_OK;
}

json_t *
gkp_json_unconst(const json_t *j)
{
    union {
        const json_t *c;
        json_t *m;
    } u;

    u.c = j;
    return u.m;
}

/*
 * Whether one of the 8 bytes of w is not plain (see gkp_json_plain_len): a control character,
 * '"', '\\', DEL or a byte above 0x7F. Each is one of the usual SWAR tests, exact as a yes/no
 * answer: a byte below 0x20; a zero byte after an XOR with '"' or '\\'; a byte whose top bit is
 * set once 1 is added (DEL) or already set.
 */
static int
word_has_special(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    uint64_t control = (w - ones * 0x20) & ~w;
    uint64_t quote = (q - ones) & ~q;
    uint64_t backslash = (bs - ones) & ~bs;
    uint64_t high = (w + ones) | w;

    return ((control | quote | backslash | high) & highs) != 0;
}

size_t
gkp_json_plain_len(const char *s, size_t len)
{
    size_t i = 0;
    uint64_t w;

    /* eight bytes at a time up to the first word that holds a byte to look at */
    while (i + 8 <= len) {
        memcpy(&w, s + i, sizeof(w));
        if (word_has_special(w)) {
            break;
        }
        i += 8;
    }
    /* the last few bytes as the last eight, the first of them already known plain */
    if (i < len && i + 8 > len && len >= 8) {
        memcpy(&w, s + len - 8, sizeof(w));
        if (!word_has_special(w)) {
            return len;
        }
    }
    while (i < len) {
        unsigned char c = (unsigned char) s[i];
        if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') {
            break;
        }
        i++;
    }
    return i;
}

size_t
gkp_utf8_seq_len(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    size_t n;
    size_t k;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
        hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n > len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (k = 2; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return n;
}

json_t *
gkp_json_string_lossy(const char *s)
{
    json_t *j = json_string(s);
    size_t len, i = 0, n;
    char *clean;

    if (j != NULL) {
        return j;
    }
    /* Not UTF-8 (or out of memory): send what can be sent rather than nothing. */
    len = strlen(s);
    clean = malloc(len + 1);
    if (clean == NULL) {
        return NULL;
    }
    memcpy(clean, s, len + 1);
    while (i < len) {
        n = gkp_utf8_seq_len((const unsigned char *) clean + i, len - i);
        if (n == 0) {
            clean[i++] = '?';
        } else {
            i += n;
        }
    }
    j = json_string(clean);
    free(clean);
    return j;
}
