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

size_t
gkp_json_plain_len(const char *s, size_t len)
{
    size_t i = 0;

    /* eight bytes a step while eight remain: DEL (0x7F) is not plain here either */
    for (; i + 8 <= len; i += 8) {
        uint64_t w, found;

        memcpy(&w, s + i, sizeof(w));
        found = gkp_swar_stop_bytes(w) | gkp_swar_zero_bytes(w ^ GKP_SWAR_BYTES(0x7F));
        if (found != 0) {
            return i + gkp_swar_first(found);
        }
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') {
            break;
        }
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
