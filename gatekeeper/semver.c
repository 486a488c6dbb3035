/*
 * semver.c - SemVer 2.0.0 parsing and precedence; see semver.h.
 *
 * The parser follows the Backus-Naur grammar of semver.org: it walks the bytes once and never
 * allocates, so a context value can be parsed on the evaluation path.
 */
#include "semver.h"

#include <string.h>

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_ident_char(char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-';
}

/* A numeric identifier at s[*i]: "0" or a non-zero digit followed by digits, fitting uint64. */
static bool
parse_number(const char *s, size_t len, size_t *i, uint64_t *out)
{
    size_t start = *i;
    uint64_t v = 0;

    while (*i < len && is_digit(s[*i])) {
        uint64_t d = (uint64_t) (s[*i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
        (*i)++;
    }
    if (*i == start || (s[start] == '0' && *i - start > 1)) {
        return false;
    }
    *out = v;
    return true;
}

/*
 * Dot-separated identifiers in s[*i ..] up to the first byte that may not appear in one. Each is
 * non-empty; when `numeric_strict` (pre-release), an all-digit identifier has no leading zero.
 */
static bool
parse_idents(const char *s, size_t len, size_t *i, bool numeric_strict)
{
    for (;;) {
        size_t start = *i;
        bool all_digits = true;

        while (*i < len && is_ident_char(s[*i])) {
            if (!is_digit(s[*i])) {
                all_digits = false;
            }
            (*i)++;
        }
        if (*i == start) {
            return false;
        }
        if (numeric_strict && all_digits && s[start] == '0' && *i - start > 1) {
            return false;
        }
        if (*i < len && s[*i] == '.') {
            (*i)++;
            continue;
        }
        return true;
    }
}

bool
gkd_semver_parse(gkd_semver *out, const char *s, size_t len)
{
    gkd_semver v;
    size_t i = 0;

    if (s == NULL) {
        return false;
    }
    if (!parse_number(s, len, &i, &v.major) || i >= len || s[i++] != '.') {
        return false;
    }
    if (!parse_number(s, len, &i, &v.minor) || i >= len || s[i++] != '.') {
        return false;
    }
    if (!parse_number(s, len, &i, &v.patch)) {
        return false;
    }
    v.pre = NULL;
    v.pre_len = 0;
    if (i < len && s[i] == '-') {
        size_t start = ++i;
        if (!parse_idents(s, len, &i, true)) {
            return false;
        }
        v.pre = s + start;
        v.pre_len = i - start;
    }
    if (i < len && s[i] == '+') {
        i++;
        if (!parse_idents(s, len, &i, false)) {
            return false;
        }
    }
    if (i != len) {
        return false;
    }
    *out = v;
    return true;
}

static int
cmp_u64(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

static bool
all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i])) {
            return false;
        }
    }
    return true;
}

/*
 * One pre-release identifier against another. Numeric identifiers have no leading zeros (the
 * parser made sure), so the longer one is larger and equal lengths compare digit by digit: no
 * overflow for identifiers of any length.
 */
static int
cmp_ident(const char *a, size_t an, const char *b, size_t bn)
{
    bool a_num = all_digits(a, an);
    bool b_num = all_digits(b, bn);
    size_t n = an < bn ? an : bn;
    int c;

    if (a_num && b_num) {
        if (an != bn) {
            return an < bn ? -1 : 1;
        }
        c = memcmp(a, b, an);
        return (c > 0) - (c < 0);
    }
    if (a_num != b_num) {
        return a_num ? -1 : 1;
    }
    c = memcmp(a, b, n);
    if (c != 0) {
        return (c > 0) - (c < 0);
    }
    return cmp_u64(an, bn);
}

int
gkd_semver_cmp(const gkd_semver *a, const gkd_semver *b)
{
    int c;
    size_t i = 0;
    size_t j = 0;

    if ((c = cmp_u64(a->major, b->major)) != 0 || (c = cmp_u64(a->minor, b->minor)) != 0 ||
        (c = cmp_u64(a->patch, b->patch)) != 0) {
        return c;
    }
    if (a->pre_len == 0 || b->pre_len == 0) {
        /* A release ranks above any of its pre-releases. */
        return (a->pre_len == 0) - (b->pre_len == 0);
    }
    while (i < a->pre_len && j < b->pre_len) {
        size_t ie = i;
        size_t je = j;
        while (ie < a->pre_len && a->pre[ie] != '.') {
            ie++;
        }
        while (je < b->pre_len && b->pre[je] != '.') {
            je++;
        }
        c = cmp_ident(a->pre + i, ie - i, b->pre + j, je - j);
        if (c != 0) {
            return c;
        }
        i = ie + 1;
        j = je + 1;
    }
    /* Every shared identifier is equal: the longer list ranks higher. */
    return (i < a->pre_len) - (j < b->pre_len);
}
