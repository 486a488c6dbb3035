/*
 * vocab_test.c - OpenFeature names on the wire, status texts, and gk_diag's first-error rule.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "vocab.h"

START_TEST(test_reason_names_round_trip)
{
    static const char *const names[] = {"STATIC",   "DEFAULT", "TARGETING_MATCH",
                                        "SPLIT",    "CACHED",  "DISABLED",
                                        "STALE",    "ERROR"};
    gk_reason r = (gk_reason) (_i + 1);

    ck_assert_str_eq(gkp_reason_name(r), names[_i]);
    ck_assert_int_eq(gkp_reason_parse(names[_i]), r);
}
END_TEST

START_TEST(test_reason_unknown)
{
    ck_assert_str_eq(gkp_reason_name(GK_REASON_UNKNOWN), "UNKNOWN");
    ck_assert_str_eq(gkp_reason_name((gk_reason) 999), "UNKNOWN");
    ck_assert_int_eq(gkp_reason_parse("FANCY_NEW_REASON"), GK_REASON_UNKNOWN);
    ck_assert_int_eq(gkp_reason_parse("split"), GK_REASON_UNKNOWN);
    ck_assert_int_eq(gkp_reason_parse("UNKNOWN"), GK_REASON_UNKNOWN);
    ck_assert_int_eq(gkp_reason_parse(""), GK_REASON_UNKNOWN);
    ck_assert_int_eq(gkp_reason_parse(NULL), GK_REASON_UNKNOWN);
}
END_TEST

START_TEST(test_error_code_names_round_trip)
{
    static const char *const names[] = {"PROVIDER_NOT_READY",    "FLAG_NOT_FOUND",
                                        "PARSE_ERROR",           "TYPE_MISMATCH",
                                        "TARGETING_KEY_MISSING", "INVALID_CONTEXT",
                                        "PROVIDER_FATAL",        "GENERAL"};
    gk_error_code c = (gk_error_code) (_i + 1);

    ck_assert_str_eq(gkp_error_code_name(c), names[_i]);
    ck_assert_int_eq(gkp_error_code_parse(names[_i]), c);
}
END_TEST

START_TEST(test_error_code_unknown)
{
    ck_assert_str_eq(gkp_error_code_name(GK_ERROR_NONE), "NONE");
    ck_assert_str_eq(gkp_error_code_name((gk_error_code) 999), "NONE");
    ck_assert_int_eq(gkp_error_code_parse("SOMETHING_ELSE"), GK_ERROR_GENERAL);
    ck_assert_int_eq(gkp_error_code_parse("NONE"), GK_ERROR_GENERAL);
    ck_assert_int_eq(gkp_error_code_parse(NULL), GK_ERROR_GENERAL);
}
END_TEST

START_TEST(test_strerror_distinct)
{
    gk_err a;
    gk_err b;

    for (a = GK_OK; a <= GK_ECONFLICT; a++) {
        ck_assert_ptr_nonnull(gkp_strerror(a));
        ck_assert_str_ne(gkp_strerror(a), "unknown error");
        for (b = GK_OK; b < a; b++) {
            ck_assert_str_ne(gkp_strerror(a), gkp_strerror(b));
        }
    }
    ck_assert_str_eq(gkp_strerror(GK_EBADSIG), "signature does not verify");
    ck_assert_str_eq(gkp_strerror((gk_err) 1000), "unknown error");
}
END_TEST

START_TEST(test_diag_first_error_wins)
{
    gk_diag d;

    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(gkp_diag_set(&d, GK_EPROTO, "flags.json", 12, "bad %s at %d", "key", 3),
                     GK_EPROTO);
    ck_assert_int_eq(d.code, GK_EPROTO);
    ck_assert_int_eq(d.line, 12);
    ck_assert_str_eq(d.source, "flags.json");
    ck_assert_str_eq(d.text, "bad key at 3");
    ck_assert_int_eq(gkp_diag_set(&d, GK_ENOMEM, "other", 1, "second"), GK_ENOMEM);
    ck_assert_int_eq(d.code, GK_EPROTO);
    ck_assert_str_eq(d.text, "bad key at 3");
    ck_assert_str_eq(d.source, "flags.json");
}
END_TEST

START_TEST(test_diag_null_and_null_source)
{
    gk_diag d;

    ck_assert_int_eq(gkp_diag_set(NULL, GK_EIO, "x", 0, "y"), GK_EIO);
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(gkp_diag_set(&d, GK_EIO, NULL, 0, "%s", "z"), GK_EIO);
    ck_assert_str_eq(d.source, "");
    ck_assert_str_eq(d.text, "z");
}
END_TEST

START_TEST(test_diag_truncates_on_utf8_boundary)
{
    gk_diag d;
    char text[400];
    size_t i;
    size_t len;

    /* 158 ASCII bytes then "é" (2 bytes): the cut at 159 bytes would split the "é". */
    memset(text, 'a', 158);
    strcpy(text + 158, "\xc3\xa9 and more");
    memset(&d, 0, sizeof(d));
    gkp_diag_set(&d, GK_EPROTO, "long-source-name-long-source-name-long-source-name-long-source-"
                                "name",
                 0, "%s", text);
    len = strlen(d.text);
    ck_assert_uint_eq(len, 158);
    for (i = 0; i < len; i++) {
        ck_assert_int_eq(d.text[i], 'a');
    }
    ck_assert_uint_eq(strlen(d.source), sizeof(d.source) - 1);

    /* A whole "é" at the end survives. */
    memset(&d, 0, sizeof(d));
    memset(text, 'b', 157);
    strcpy(text + 157, "\xc3\xa9xyz");
    gkp_diag_set(&d, GK_EPROTO, NULL, 0, "%s", text);
    ck_assert_uint_eq(strlen(d.text), 159);
    ck_assert_str_eq(d.text + 157, "\xc3\xa9");
}
END_TEST

static Suite *
vocab_suite(void)
{
    Suite *s = suite_create("vocab");
    TCase *tc;

    tc = tcase_create("reasons");
    tcase_set_timeout(tc, 180);
    tcase_add_loop_test(tc, test_reason_names_round_trip, 0, 8);
    tcase_add_test(tc, test_reason_unknown);
    suite_add_tcase(s, tc);

    tc = tcase_create("error_codes");
    tcase_set_timeout(tc, 180);
    tcase_add_loop_test(tc, test_error_code_names_round_trip, 0, 8);
    tcase_add_test(tc, test_error_code_unknown);
    tcase_add_test(tc, test_strerror_distinct);
    suite_add_tcase(s, tc);

    tc = tcase_create("diag");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_diag_first_error_wins);
    tcase_add_test(tc, test_diag_null_and_null_source);
    tcase_add_test(tc, test_diag_truncates_on_utf8_boundary);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(vocab_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
