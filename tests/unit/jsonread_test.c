/*
 * jsonread_test.c - gkp_json_read and gkp_json_loadb against jansson's json_loadb: the same tree
 * for every document the fast path takes, jansson's own result and error for the rest, and never a
 * tree where jansson refuses, over a corpus and every truncation and one-byte change of it; and
 * gkp_jr_string on strings of every short length with what ends a plain run at every offset, and
 * gkp_jr_number at the int64_t limits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "jsonread.h"

/* Documents the fast path reads itself (plain: integers only, shallow). */
static const char *const plain[] = {
    "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.read_v2\"],\"context\":{\"targetingKey\":"
    "\"tenant-42\",\"tenantId\":\"tenant-42\",\"service\":\"billing\"},\"nonce\":"
    "\"q7Xv2Lr9T0aP4mWc1sHnZg\",\"session\":\"mJ3q0xkV6f2LwQe9TzA1bg\"}",
    "{\"v\":1,\"ok\":true,\"token\":\"eyJ.eyJ.sig\",\"mac\":\"abc_-\"}",
    " {\"explain\" : true , \"flags\" : [ ] ,\n\t\"context\" : { } }\r\n",
    "[]",
    "{}",
    "[null,true,false,0,-0,1,-1,9223372036854775807,-9223372036854775808]",
    "{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"\\u00e9\":\"\\ud83d\\ude00 \\u20ac\"}",
    "{\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"nested\":[[{\"x\":[1,[2,[3]]]}]]}",
    "{\"dup\":1,\"dup\":\"last one wins, as in jansson\"}",
    "{\"\":\"\",\"e\":[{},[],\"\"]}",
};

/* Documents the fast path leaves to jansson, valid or not. */
static const char *const others[] = {
    "{\"real\":1.5}",
    "{\"exp\":1e3}",
    "[9223372036854775808]",
    "[-9223372036854775809]",
    "\"a string at the top\"",
    "42",
    "",
    "   ",
    "{\"a\":1}x",
    "{\"a\":1,}",
    "[1,]",
    "{\"a\" 1}",
    "{'a':1}",
    "[01]",
    "[+1]",
    "[tru]",
    "[\"\\u0000\"]",
    "[\"\\ud83d\"]",
    "[\"\\x\"]",
    "[\"a\tb\"]",
    "[\"\xc0\xaf\"]",
    "[\"\xed\xa0\x80\"]",
    "{\"a\":[1,2}",
};

/* Whether jansson's and the fast path's answers agree; ok_fast says the fast path gave a tree. */
static void
check_agrees(const char *doc, size_t len, int *ok_fast)
{
    json_error_t je, ge;
    json_t *j = json_loadb(doc, len, 0, &je);
    json_t *f = gkp_json_read(doc, len);
    json_t *g;

    if (f != NULL) {
        ck_assert_msg(j != NULL, "the fast path read what jansson refuses (%s): %.*s", je.text,
                      (int) len, doc);
        ck_assert_msg(json_equal(f, j), "the fast path's tree differs: %.*s", (int) len, doc);
    }
    memset(&ge, 0, sizeof(ge));
    g = gkp_json_loadb(doc, len, &ge);
    ck_assert_msg((g == NULL) == (j == NULL), "gkp_json_loadb and jansson disagree: %.*s",
                  (int) len, doc);
    if (g != NULL) {
        ck_assert(json_equal(g, j));
    } else {
        ck_assert_str_eq(ge.text, je.text);
        ck_assert_int_eq(ge.line, je.line);
        ck_assert_int_eq(ge.column, je.column);
    }
    if (ok_fast != NULL) {
        *ok_fast = f != NULL;
    }
    json_decref(f);
    json_decref(g);
    json_decref(j);
}

START_TEST(test_plain_read_fast)
{
    int fast = 0;

    check_agrees(plain[_i], strlen(plain[_i]), &fast);
    ck_assert_msg(fast, "the fast path declined a plain document: %s", plain[_i]);
}
END_TEST

START_TEST(test_others_left_to_jansson)
{
    int fast = 1;

    check_agrees(others[_i], strlen(others[_i]), &fast);
    ck_assert_msg(!fast, "the fast path took: %s", others[_i]);
}
END_TEST

/* A string longer than the on-stack arena, and a document of it. */
START_TEST(test_long_string)
{
    size_t n = 5000;
    char *doc = malloc(n + 16);
    int fast = 0;

    ck_assert_ptr_nonnull(doc);
    strcpy(doc, "{\"s\":\"");
    memset(doc + 6, 'x', n);
    strcpy(doc + 6 + n, "\"}");
    check_agrees(doc, strlen(doc), &fast);
    ck_assert(fast);
    free(doc);
}
END_TEST

/* Nesting: 64 arrays are read here, 65 go to jansson (which reads up to 2048). */
START_TEST(test_depth)
{
    char doc[300];
    int fast = -1;
    size_t k = _i == 0 ? 64 : 65;

    memset(doc, '[', k);
    memset(doc + k, ']', k);
    check_agrees(doc, 2 * k, &fast);
    ck_assert_int_eq(fast, _i == 0);
}
END_TEST

/* Every truncation and every one-byte change of the plain corpus: never a tree jansson refuses. */
START_TEST(test_garbled)
{
    static const char subst[] = "\"\\{}[],:0-.eu \x01\xc3\xff\x7f";
    const char *doc = plain[_i];
    size_t len = strlen(doc);
    char *copy = malloc(len + 1);
    int fast = 0, taken = 0;

    ck_assert_ptr_nonnull(copy);
    for (size_t n = 0; n < len; n++) {
        check_agrees(doc, n, NULL);
    }
    for (size_t at = 0; at < len; at++) {
        for (const char *c = subst; *c != '\0'; c++) {
            memcpy(copy, doc, len + 1);
            copy[at] = *c;
            check_agrees(copy, len, &fast);
            taken += fast;
        }
    }
    ck_assert_msg(taken > 0, "no changed document was read by the fast path: it proved nothing");
    free(copy);
}
END_TEST

/*
 * What can sit in a string, for test_string_runs: the bytes as sent, then the unescaped bytes
 * (NULL: the string ends there) or the error at the first of them.
 */
static const struct {
    const char *sent;
    const char *text;
    const char *error;
} in_string[] = {
    {"", "", NULL},
    {"\\n", "\n", NULL},
    {"\\\"", "\"", NULL},
    {"\\u00e9", "\xc3\xa9", NULL},
    {"\xc3\xa9", "\xc3\xa9", NULL},
    {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", NULL},
    {"\x7f", "\x7f", NULL},
    {" ", " ", NULL},
    {"\"", NULL, NULL},
    {"\x01", NULL, "a string holds a control character"},
    {"\x1f", NULL, "a string holds a control character"},
    {"\x80", NULL, "a string is not UTF-8"},
    {"\xff", NULL, "a string is not UTF-8"},
    {"\\x", NULL, "a string holds an unknown escape"},
};

/*
 * gkp_jr_string over strings of 0 to 17 plain bytes with each of in_string at every offset, at the
 * end of the input or followed by more (so both the 8-byte steps and the bytes after them are
 * taken): the text, where the reader stops, and the error and its offset. The input and the arena
 * are exactly as long as the reader may use, for the sanitizers.
 */
START_TEST(test_string_runs)
{
    static const char after[] = "\",  \"next\"]";
    size_t len = (size_t) _i;

    for (size_t k = 0; k < sizeof(in_string) / sizeof(in_string[0]); k++) {
        size_t sent = strlen(in_string[k].sent);

        for (size_t at = 0; at <= len; at++) {
            for (int more = 0; more < 2; more++) {
                size_t total = 1 + len + sent + (more ? sizeof(after) - 1 : 1);
                char *in = malloc(total), *arena = malloc(total + 1);
                char want[64];
                size_t want_len = 0, got_len = 0, stop;
                const char *text = NULL;
                gk_diag diag = {0};
                gkp_jr r = {in, in, in + total, arena, "test", &diag};
                gk_err rv;

                ck_assert_ptr_nonnull(in);
                ck_assert_ptr_nonnull(arena);
                in[0] = '"';
                for (size_t j = 0; j < len; j++) {
                    in[1 + j + (j >= at ? sent : 0)] = (char) ('a' + j);
                }
                memcpy(in + 1 + at, in_string[k].sent, sent);
                memcpy(in + 1 + len + sent, more ? after : "\"", more ? sizeof(after) - 1 : 1);
                rv = gkp_jr_string(&r, &text, &got_len);
                if (in_string[k].error != NULL) {
                    char msg[128];

                    snprintf(msg, sizeof(msg), "invalid JSON at byte %zu: %s", 1 + at,
                             in_string[k].error);
                    ck_assert_int_eq(rv, GK_EPROTO);
                    ck_assert_str_eq(diag.text, msg);
                } else {
                    for (size_t j = 0; j < at; j++) {
                        want[want_len++] = (char) ('a' + j);
                    }
                    if (in_string[k].text != NULL) {
                        memcpy(want + want_len, in_string[k].text, strlen(in_string[k].text));
                        want_len += strlen(in_string[k].text);
                        for (size_t j = at; j < len; j++) {
                            want[want_len++] = (char) ('a' + j);
                        }
                    }
                    stop = in_string[k].text != NULL ? 1 + len + sent + 1 : 1 + at + 1;
                    ck_assert_int_eq(rv, GK_OK);
                    ck_assert_uint_eq(got_len, want_len);
                    ck_assert(memcmp(text, want, want_len) == 0);
                    ck_assert_int_eq(text[got_len], '\0');
                    ck_assert_uint_eq((size_t) (r.p - in), stop);
                    ck_assert_ptr_eq(r.arena, arena + want_len + 1);
                }
                free(in);
                free(arena);
            }
        }
    }
}
END_TEST

/* A string the input ends in: "not closed" at the end, whatever its length. */
START_TEST(test_string_not_closed)
{
    size_t len = (size_t) _i;
    char *in = malloc(len + 1), *arena = malloc(len + 2);
    char msg[64];
    const char *text;
    gk_diag diag = {0};
    gkp_jr r = {in, in, in + len + 1, arena, "test", &diag};

    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(arena);
    in[0] = '"';
    memset(in + 1, 'x', len);
    ck_assert_int_eq(gkp_jr_string(&r, &text, NULL), GK_EPROTO);
    snprintf(msg, sizeof(msg), "invalid JSON at byte %zu: a string is not closed", len + 1);
    ck_assert_str_eq(diag.text, msg);
    free(in);
    free(arena);
}
END_TEST

/* The same strings in documents: the fast path and jansson agree on every one. */
START_TEST(test_string_runs_loadb)
{
    size_t len = (size_t) _i;
    char doc[80];

    for (size_t k = 0; k < sizeof(in_string) / sizeof(in_string[0]); k++) {
        for (size_t at = 0; at <= len; at++) {
            size_t n = 0;

            doc[n++] = '[';
            doc[n++] = '"';
            for (size_t j = 0; j < at; j++) {
                doc[n++] = (char) ('a' + j);
            }
            memcpy(doc + n, in_string[k].sent, strlen(in_string[k].sent));
            n += strlen(in_string[k].sent);
            for (size_t j = at; j < len; j++) {
                doc[n++] = (char) ('a' + j);
            }
            memcpy(doc + n, "\"]", 2);
            check_agrees(doc, n + 2, NULL);
        }
    }
}
END_TEST

/*
 * Numbers around the int64_t limits and the digits that cannot overflow: what gkp_jr_number
 * gives, where it stops, and its error at the number's start.
 */
static const struct {
    const char *text;
    int is_int;       /* -1: refused as too large */
    int64_t value;    /* when is_int */
    size_t stop;      /* where the reader stops when it accepts */
} numbers[] = {
    {"0", 1, 0, 1},
    {"-0", 1, 0, 2},
    {"7,", 1, 7, 1},
    {"1795304492}", 1, 1795304492, 10},
    {"999999999999999999", 1, 999999999999999999, 18},
    {"-999999999999999999", 1, -999999999999999999, 19},
    {"1000000000000000000", 1, 1000000000000000000, 19},
    {"9223372036854775807", 1, INT64_MAX, 19},
    {"-9223372036854775808", 1, INT64_MIN, 20},
    {"9223372036854775808", -1, 0, 0},
    {"-9223372036854775809", -1, 0, 0},
    {"9223372036854775810", -1, 0, 0},
    {"18446744073709551616", -1, 0, 0},
    {"99999999999999999999", -1, 0, 0},
    {"9223372036854775808.5", 0, 0, 21},
    {"9223372036854775808e1", 0, 0, 21},
    {"-9223372036854775808.0", 0, 0, 22},
    {"92233720368547758070", -1, 0, 0},
    {"12.5e-3]", 0, 0, 7},
};

START_TEST(test_number_limits)
{
    const char *text = numbers[_i].text;
    size_t len = strlen(text);
    char *in = malloc(len); /* exactly as long, not NUL-terminated */
    gk_diag diag = {0};
    gkp_jr r = {in, in, in + len, NULL, "test", &diag};
    int is_int = -1;
    int64_t value = 42;
    gk_err rv;

    ck_assert_ptr_nonnull(in);
    memcpy(in, text, len);
    rv = gkp_jr_number(&r, &is_int, &value);
    if (numbers[_i].is_int < 0) {
        ck_assert_int_eq(rv, GK_EPROTO);
        ck_assert_str_eq(diag.text, "invalid JSON at byte 0: an integer is too large");
    } else {
        ck_assert_int_eq(rv, GK_OK);
        ck_assert_int_eq(is_int, numbers[_i].is_int);
        if (is_int) {
            ck_assert_int_eq(value, numbers[_i].value);
        }
        ck_assert_uint_eq((size_t) (r.p - in), numbers[_i].stop);
    }
    free(in);
}
END_TEST

static Suite *
jsonread_suite(void)
{
    Suite *s = suite_create("jsonread");
    TCase *tc = tcase_create("loadb");

    tcase_set_timeout(tc, 180);
    tcase_add_loop_test(tc, test_plain_read_fast, 0, (int) (sizeof(plain) / sizeof(plain[0])));
    tcase_add_loop_test(tc, test_others_left_to_jansson, 0,
                        (int) (sizeof(others) / sizeof(others[0])));
    tcase_add_test(tc, test_long_string);
    tcase_add_loop_test(tc, test_depth, 0, 2);
    tcase_add_loop_test(tc, test_garbled, 0, (int) (sizeof(plain) / sizeof(plain[0])));
    suite_add_tcase(s, tc);
    tc = tcase_create("strings");
    tcase_add_loop_test(tc, test_string_runs, 0, 18);
    tcase_add_loop_test(tc, test_string_not_closed, 0, 18);
    tcase_add_loop_test(tc, test_string_runs_loadb, 0, 18);
    tcase_add_loop_test(tc, test_number_limits, 0, (int) (sizeof(numbers) / sizeof(numbers[0])));
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(jsonread_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
