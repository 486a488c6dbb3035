/*
 * sdk_options_test.c - the gk_options builder: defaults, ranges, NULL handling, copies.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "gatekeeper.h"
#include "options.h"

START_TEST(test_defaults)
{
    gk_options *opts = NULL;

    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    ck_assert_ptr_nonnull(opts);
    ck_assert_uint_eq(opts->nendpoints, 0); /* none added: GKS_DEFAULT_ENDPOINT at open */
    ck_assert_str_eq(GKS_DEFAULT_ENDPOINT, "tcp://127.0.0.1:7400");
    ck_assert_ptr_null(opts->jwks_file);
    ck_assert_uint_eq(opts->timeout_ms, 50);
    ck_assert_uint_eq(opts->cache_ttl_ms, 1000);
    ck_assert(!opts->cache_disabled);
    gk_options_free(opts);
}
END_TEST

START_TEST(test_ranges)
{
    gk_options *opts = NULL;

    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    ck_assert_int_eq(gk_options_set_timeout_ms(opts, 1), GK_OK);
    ck_assert_uint_eq(opts->timeout_ms, 1);
    ck_assert_int_eq(gk_options_set_timeout_ms(opts, 60000), GK_OK);
    ck_assert_uint_eq(opts->timeout_ms, 60000);
    ck_assert_int_eq(gk_options_set_timeout_ms(opts, 60001), GK_EINVAL);
    ck_assert_uint_eq(opts->timeout_ms, 60000); /* unchanged by a refused value */
    ck_assert_int_eq(gk_options_set_timeout_ms(opts, 0), GK_OK);
    ck_assert_uint_eq(opts->timeout_ms, 50);

    ck_assert_int_eq(gk_options_set_cache_ttl_ms(opts, 86400000u), GK_OK);
    ck_assert_uint_eq(opts->cache_ttl_ms, 86400000u);
    ck_assert_int_eq(gk_options_set_cache_ttl_ms(opts, 86400001u), GK_EINVAL);
    ck_assert_int_eq(gk_options_set_cache_ttl_ms(opts, 0), GK_OK);
    ck_assert_uint_eq(opts->cache_ttl_ms, 1000);
    ck_assert_int_eq(gk_options_set_cache_disabled(opts, true), GK_OK);
    ck_assert(opts->cache_disabled);
    gk_options_free(opts);
}
END_TEST

START_TEST(test_strings_are_copied)
{
    gk_options *opts = NULL;
    char url[64] = "ipc:///tmp/a.sock";
    char path[64] = "/etc/gatekeeper/jwks.json";

    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    ck_assert_int_eq(gk_options_add_endpoint(opts, url), GK_OK);
    ck_assert_int_eq(gk_options_add_endpoint(opts, "tcp://10.0.0.2:7400"), GK_OK);
    ck_assert_int_eq(gk_options_set_jwks_file(opts, path), GK_OK);
    ck_assert_int_eq(gk_options_set_jwks_file(opts, path), GK_OK); /* replacing does not leak */
    memset(url, 'x', sizeof(url) - 1);
    memset(path, 'x', sizeof(path) - 1);
    ck_assert_uint_eq(opts->nendpoints, 2);
    ck_assert_str_eq(opts->endpoints[0], "ipc:///tmp/a.sock");
    ck_assert_str_eq(opts->endpoints[1], "tcp://10.0.0.2:7400");
    ck_assert_str_eq(opts->jwks_file, "/etc/gatekeeper/jwks.json");
    gk_options_free(opts);
}
END_TEST

START_TEST(test_nulls)
{
    gk_options *opts = NULL;

    ck_assert_int_eq(gk_options_new(NULL), GK_EINVAL);
    ck_assert_int_eq(gk_options_add_endpoint(NULL, "tcp://127.0.0.1:1"), GK_EINVAL);
    ck_assert_int_eq(gk_options_set_jwks_file(NULL, "x"), GK_EINVAL);
    ck_assert_int_eq(gk_options_set_timeout_ms(NULL, 10), GK_EINVAL);
    ck_assert_int_eq(gk_options_set_cache_ttl_ms(NULL, 10), GK_EINVAL);
    ck_assert_int_eq(gk_options_set_cache_disabled(NULL, true), GK_EINVAL);
    gk_options_free(NULL);

    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    ck_assert_int_eq(gk_options_add_endpoint(opts, NULL), GK_EINVAL);
    ck_assert_int_eq(gk_options_add_endpoint(opts, ""), GK_EINVAL);
    ck_assert_int_eq(gk_options_set_jwks_file(opts, NULL), GK_EINVAL);
    ck_assert_int_eq(gk_options_set_jwks_file(opts, ""), GK_EINVAL);
    ck_assert_uint_eq(opts->nendpoints, 0);
    gk_options_free(opts);
}
END_TEST

START_TEST(test_strings)
{
    ck_assert_str_eq(gk_reason_str(GK_REASON_SPLIT), "SPLIT");
    ck_assert_str_eq(gk_reason_str(GK_REASON_TARGETING_MATCH), "TARGETING_MATCH");
    ck_assert_str_eq(gk_reason_str((gk_reason) 99), "UNKNOWN");
    ck_assert_str_eq(gk_error_code_str(GK_ERROR_FLAG_NOT_FOUND), "FLAG_NOT_FOUND");
    ck_assert_str_eq(gk_error_code_str(GK_ERROR_NONE), "NONE");
    ck_assert_str_eq(gk_error_code_str((gk_error_code) 99), "NONE");
    ck_assert_ptr_nonnull(gk_strerror(GK_EBADSIG));
    ck_assert_str_eq(gk_strerror((gk_err) 999), "unknown error");
}
END_TEST

/* The change-event endpoint: default, a URL (copied), and NULL or "" for off. */
START_TEST(test_events_endpoint)
{
    gk_options *opts = NULL;
    char url[] = "ipc:///tmp/events.sock";

    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    ck_assert_ptr_null(opts->events_endpoint); /* GKS_DEFAULT_EVENTS at open */
    ck_assert(!opts->events_off);
    ck_assert_str_eq(GKS_DEFAULT_EVENTS, "tcp://127.0.0.1:7402");
    ck_assert_int_eq(gk_options_set_events_endpoint(opts, url), GK_OK);
    url[0] = 'X';
    ck_assert_str_eq(opts->events_endpoint, "ipc:///tmp/events.sock");
    ck_assert(!opts->events_off);
    ck_assert_int_eq(gk_options_set_events_endpoint(opts, NULL), GK_OK);
    ck_assert_ptr_null(opts->events_endpoint);
    ck_assert(opts->events_off);
    ck_assert_int_eq(gk_options_set_events_endpoint(opts, "tcp://10.0.0.1:7402"), GK_OK);
    ck_assert(!opts->events_off);
    ck_assert_int_eq(gk_options_set_events_endpoint(opts, ""), GK_OK);
    ck_assert(opts->events_off);
    ck_assert_int_eq(gk_options_set_events_endpoint(NULL, "tcp://10.0.0.1:7402"), GK_EINVAL);
    gk_options_free(opts);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("sdk_options");
    TCase *tc = tcase_create("options");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_ranges);
    tcase_add_test(tc, test_strings_are_copied);
    tcase_add_test(tc, test_nulls);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_events_endpoint);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
