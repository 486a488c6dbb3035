/*
 * jsonutil_test.c - the plain run of a JSON string (gkp_json_plain_len) against a byte-by-byte
 * reference, for every byte value at every position of strings up to 40 bytes, and the type
 * names, the lossy UTF-8 repair and gkp_json_dump_take.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "jsonutil.h"

/* The definition, one byte at a time. */
static size_t
reference_plain_len(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len && (unsigned char) s[i] >= 0x20 && (unsigned char) s[i] < 0x7F && s[i] != '"' &&
           s[i] != '\\') {
        i++;
    }
    return i;
}

START_TEST(test_plain_len_every_byte)
{
    char s[40];

    for (size_t len = 0; len <= sizeof(s); len++) {
        for (size_t pos = 0; pos < len; pos++) {
            for (int c = 0; c < 256; c++) {
                for (size_t i = 0; i < len; i++) {
                    s[i] = (char) ('a' + i % 26);
                }
                s[pos] = (char) c;
                ck_assert_uint_eq(gkp_json_plain_len(s, len), reference_plain_len(s, len));
            }
        }
        memset(s, 'x', sizeof(s));
        ck_assert_uint_eq(gkp_json_plain_len(s, len), len);
    }
}
END_TEST

/* Two bytes that are not plain in one word: the first one counts. */
START_TEST(test_plain_len_first_of_two)
{
    char s[16];

    for (size_t a = 0; a < sizeof(s); a++) {
        for (size_t b = a; b < sizeof(s); b++) {
            memset(s, 'z', sizeof(s));
            s[b] = '\x7f';
            s[a] = '"';
            ck_assert_uint_eq(gkp_json_plain_len(s, sizeof(s)), a);
        }
    }
}
END_TEST

START_TEST(test_helpers)
{
    json_t *j = json_pack("[s]", "x");
    char *text = NULL;
    size_t len = 0;

    ck_assert_str_eq(gkp_json_type_name(NULL), "missing");
    ck_assert_str_eq(gkp_json_type_name(j), "an array");
    ck_assert_ptr_eq(gkp_json_unconst(j), j);
    ck_assert_int_eq(gkp_json_dump_take(&text, &len, j), GK_OK);
    ck_assert_str_eq(text, "[\"x\"]");
    ck_assert_uint_eq(len, 5);
    free(text);
    ck_assert_int_eq(gkp_json_dump_take(&text, &len, NULL), GK_ENOMEM);
    j = gkp_json_string_lossy("a\xff" "b\xc3\xa9");
    ck_assert_str_eq(json_string_value(j), "a?b\xc3\xa9");
    json_decref(j);
}
END_TEST

static Suite *
jsonutil_suite(void)
{
    Suite *s = suite_create("jsonutil");
    TCase *tc = tcase_create("jsonutil");

    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_plain_len_every_byte);
    tcase_add_test(tc, test_plain_len_first_of_two);
    tcase_add_test(tc, test_helpers);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(jsonutil_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
