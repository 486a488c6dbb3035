/*
 * semver_test.c - SemVer 2.0.0 parsing and precedence (semver.org, sections 2, 9, 10, 11).
 */
#include <string.h>

#include <check.h>

#include "semver.h"

static gkd_semver
must_parse(const char *s)
{
    gkd_semver v;

    ck_assert_msg(gkd_semver_parse(&v, s, strlen(s)), "\"%s\" should parse", s);
    return v;
}

static int
cmp(const char *a, const char *b)
{
    gkd_semver x = must_parse(a);
    gkd_semver y = must_parse(b);

    return gkd_semver_cmp(&x, &y);
}

START_TEST(test_parse_fields)
{
    gkd_semver v = must_parse("1.20.300-rc.1+build.5");

    ck_assert_uint_eq(v.major, 1);
    ck_assert_uint_eq(v.minor, 20);
    ck_assert_uint_eq(v.patch, 300);
    ck_assert_uint_eq(v.pre_len, 4);
    ck_assert_int_eq(memcmp(v.pre, "rc.1", 4), 0);
    v = must_parse("18446744073709551615.0.0");
    ck_assert_uint_eq(v.major, UINT64_MAX);
    v = must_parse("2.1.0");
    ck_assert_uint_eq(v.pre_len, 0);
}
END_TEST

START_TEST(test_valid_strings)
{
    static const char *const ok[] = {
        "0.0.0",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-0.3.7",
        "1.0.0-x.7.z.92",
        "1.0.0-x-y-z.--",
        "1.0.0-alpha+001",
        "1.0.0+20130313144700",
        "1.0.0-beta+exp.sha.5114f85",
        "1.0.0+21AF26D3----117B344092BD",
        "1.0.0-0A.is.legal",
        "1.2.3----RC-SNAPSHOT.12.9.1--.12+788",
        "1.0.0+0.build.01",
    };

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        gkd_semver v;
        ck_assert_msg(gkd_semver_parse(&v, ok[i], strlen(ok[i])), "\"%s\" should parse", ok[i]);
    }
}
END_TEST

START_TEST(test_invalid_strings)
{
    static const char *const bad[] = {
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "01.2.3",
        "1.02.3",
        "1.2.03",
        "v1.2.3",
        "1.2.3-",
        "1.2.3+",
        "1.2.3-01",
        "1.2.3-a..b",
        "1.2.3-a.",
        "1.2.3+a..b",
        "1.2.3-a_b",
        " 1.2.3",
        "1.2.3 ",
        "1.2.-3",
        "-1.2.3",
        "1.2.3-+",
        "18446744073709551616.0.0",
        "1.2.3-é",
        "a.b.c",
        "1..3",
        "99999999999999999999999.0.0-1",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gkd_semver v;
        ck_assert_msg(!gkd_semver_parse(&v, bad[i], strlen(bad[i])), "\"%s\" should not parse",
                      bad[i]);
    }
}
END_TEST

START_TEST(test_not_nul_terminated)
{
    gkd_semver v;
    const char buf[] = "1.2.3-rc.1 xyz";

    ck_assert(gkd_semver_parse(&v, buf, 10));
    ck_assert_uint_eq(v.pre_len, 4);
    ck_assert(!gkd_semver_parse(&v, buf, 11));
    ck_assert(!gkd_semver_parse(&v, NULL, 0));
}
END_TEST

START_TEST(test_precedence_section_11)
{
    /* semver.org 11.2 and 11.4: each lower than the next. */
    static const char *const chain[] = {
        "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
        "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
        "1.0.0-rc.1",  "1.0.0",         "2.0.0",
        "2.1.0",       "2.1.1",
    };
    size_t n = sizeof chain / sizeof chain[0];

    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            int c = cmp(chain[i], chain[j]);
            int want = (i > j) - (i < j);
            ck_assert_msg((c > 0) - (c < 0) == want, "%s vs %s: got %d, want %d", chain[i],
                          chain[j], c, want);
        }
    }
}
END_TEST

START_TEST(test_numeric_not_lexical)
{
    ck_assert_int_gt(cmp("1.10.0", "1.9.0"), 0);
    ck_assert_int_gt(cmp("10.0.0", "9.99.99"), 0);
    ck_assert_int_gt(cmp("1.0.10", "1.0.9"), 0);
    ck_assert_int_gt(cmp("1.0.0-rc.10", "1.0.0-rc.9"), 0);
    /* Pre-release numbers of any length, past 64 bits. */
    ck_assert_int_gt(cmp("1.0.0-123456789012345678901234", "1.0.0-99999999999999999999999"), 0);
    /* Numeric identifiers are lower than alphanumeric ones, whatever the ASCII order. */
    ck_assert_int_lt(cmp("1.0.0-999", "1.0.0-a"), 0);
    ck_assert_int_lt(cmp("1.0.0-999", "1.0.0-0a"), 0);
    ck_assert_int_lt(cmp("1.0.0-Z", "1.0.0-a"), 0); /* ASCII: upper case first */
}
END_TEST

START_TEST(test_build_metadata_ignored)
{
    ck_assert_int_eq(cmp("1.0.0+build.1", "1.0.0+build.2"), 0);
    ck_assert_int_eq(cmp("1.0.0-alpha+001", "1.0.0-alpha"), 0);
    ck_assert_int_eq(cmp("1.0.0", "1.0.0+x"), 0);
    ck_assert_int_lt(cmp("1.0.0-alpha+zzz", "1.0.0-beta+aaa"), 0);
}
END_TEST

static Suite *
semver_suite(void)
{
    Suite *s = suite_create("semver");
    TCase *tc = tcase_create("parse");

    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_parse_fields);
    tcase_add_test(tc, test_valid_strings);
    tcase_add_test(tc, test_invalid_strings);
    tcase_add_test(tc, test_not_nul_terminated);
    suite_add_tcase(s, tc);
    tc = tcase_create("precedence");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_precedence_section_11);
    tcase_add_test(tc, test_numeric_not_lexical);
    tcase_add_test(tc, test_build_metadata_ignored);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(semver_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
