/*
 * verdict_cache_test.c - the policy vms' verdict cache (gatekeeper/verdict_cache.c): hits copy the
 * outcome and share the mask list, errors and unkeyable lengths are not kept, a clear forgets
 * everything, a full table replaces slots instead of growing, and every mask reference is
 * released (the sanitizer build checks for leaks).
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "verdict_cache.h"

static gkd_policy_result
result(gkd_policy_outcome outcome, const char *variant, const char *policy, json_t *mask)
{
    gkd_policy_result r;

    memset(&r, 0, sizeof r);
    r.outcome = outcome;
    strcpy(r.variant, variant);
    strcpy(r.policy, policy);
    r.mask = mask;
    return r;
}

START_TEST(test_hit_copies_and_shares_mask)
{
    gkd_verdict_cache *c;
    json_t *mask = json_pack("[s]", "customer_email");
    gkd_policy_result in = result(GKD_POLICY_ALLOW, "off", "privacy.lua", mask), out;

    ck_assert_int_eq(gkd_verdict_cache_new(&c), GK_OK);
    memset(&out, 0x5a, sizeof out);
    ck_assert_int_eq(gkd_verdict_cache_get(c, "k1", 2, &out), 0);
    ck_assert_int_eq(((unsigned char *) &out)[0], 0x5a); /* a miss leaves out alone */
    gkd_verdict_cache_put(c, "k1", 2, &in);
    ck_assert_uint_eq(mask->refcount, 2);
    memset(&out, 0x5a, sizeof out);
    ck_assert_int_eq(gkd_verdict_cache_get(c, "k1", 2, &out), 1);
    ck_assert_int_eq(out.outcome, GKD_POLICY_ALLOW);
    ck_assert_str_eq(out.variant, "off");
    ck_assert_str_eq(out.policy, "privacy.lua");
    ck_assert_ptr_eq(out.mask, mask);
    ck_assert_ptr_null(out.trace);
    ck_assert_str_eq(out.error, "");
    ck_assert_uint_eq(mask->refcount, 3);
    gkd_policy_result_fini(&out);
    /* another key, a prefix of it, the same bytes longer: misses */
    ck_assert_int_eq(gkd_verdict_cache_get(c, "k2", 2, &out), 0);
    ck_assert_int_eq(gkd_verdict_cache_get(c, "k1", 1, &out), 0);
    ck_assert_int_eq(gkd_verdict_cache_get(c, "k1\0", 3, &out), 0);
    gkd_verdict_cache_free(c);
    ck_assert_uint_eq(mask->refcount, 1);
    json_decref(mask);
}
END_TEST

START_TEST(test_not_kept)
{
    gkd_verdict_cache *c;
    char big[GKD_VERDICT_CACHE_KEY_MAX + 1];
    gkd_policy_result err = result(GKD_POLICY_ERROR, "", "a.lua", NULL);
    gkd_policy_result deny = result(GKD_POLICY_DENY, "", "a.lua", NULL), out;

    memset(big, 'x', sizeof big);
    ck_assert_int_eq(gkd_verdict_cache_new(&c), GK_OK);
    gkd_verdict_cache_put(c, "e", 1, &err);
    ck_assert_int_eq(gkd_verdict_cache_get(c, "e", 1, &out), 0);
    gkd_verdict_cache_put(c, "", 0, &deny);
    ck_assert_int_eq(gkd_verdict_cache_get(c, "", 0, &out), 0);
    gkd_verdict_cache_put(c, big, sizeof big, &deny);
    ck_assert_int_eq(gkd_verdict_cache_get(c, big, sizeof big, &out), 0);
    gkd_verdict_cache_put(c, big, sizeof big - 1, &deny); /* the longest key kept */
    ck_assert_int_eq(gkd_verdict_cache_get(c, big, sizeof big - 1, &out), 1);
    ck_assert_int_eq(out.outcome, GKD_POLICY_DENY);
    gkd_verdict_cache_free(c);
}
END_TEST

START_TEST(test_clear_forgets)
{
    gkd_verdict_cache *c;
    json_t *mask = json_array();
    gkd_policy_result in = result(GKD_POLICY_DEFAULT, "", "", mask), out;

    ck_assert_int_eq(gkd_verdict_cache_new(&c), GK_OK);
    gkd_verdict_cache_put(c, "k", 1, &in);
    gkd_verdict_cache_clear(c);
    ck_assert_int_eq(gkd_verdict_cache_get(c, "k", 1, &out), 0);
    gkd_verdict_cache_put(c, "k", 1, &in); /* refilling the slot drops the stale reference */
    ck_assert_uint_eq(mask->refcount, 2);
    ck_assert_int_eq(gkd_verdict_cache_get(c, "k", 1, &out), 1);
    gkd_policy_result_fini(&out);
    gkd_verdict_cache_free(c);
    ck_assert_uint_eq(mask->refcount, 1);
    json_decref(mask);
}
END_TEST

/* Twice as many keys as slots: the table does not grow, the newest key of a slot wins. */
START_TEST(test_full_table_replaces)
{
    gkd_verdict_cache *c;
    gkd_policy_result out;
    size_t hits = 0;
    const size_t n = 2 * GKD_VERDICT_CACHE_SLOTS;
    json_t *mask = json_array();

    ck_assert_int_eq(gkd_verdict_cache_new(&c), GK_OK);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        gkd_policy_result in = result(GKD_POLICY_ALLOW, "v", "a.lua", mask);

        snprintf(key, sizeof key, "service-%zu", i);
        snprintf(in.variant, sizeof in.variant, "v%zu", i);
        gkd_verdict_cache_put(c, key, strlen(key), &in);
        ck_assert_int_eq(gkd_verdict_cache_get(c, key, strlen(key), &out), 1);
        ck_assert_str_eq(out.variant, in.variant);
        gkd_policy_result_fini(&out);
    }
    ck_assert_uint_le(mask->refcount, 1 + GKD_VERDICT_CACHE_SLOTS);
    for (size_t i = 0; i < n; i++) {
        char key[32];

        snprintf(key, sizeof key, "service-%zu", i);
        if (gkd_verdict_cache_get(c, key, strlen(key), &out)) {
            char want[32];
            snprintf(want, sizeof want, "v%zu", i);
            ck_assert_str_eq(out.variant, want);
            gkd_policy_result_fini(&out);
            hits++;
        }
    }
    ck_assert_uint_le(hits, GKD_VERDICT_CACHE_SLOTS);
    ck_assert_uint_gt(hits, 0);
    gkd_verdict_cache_free(c);
    ck_assert_uint_eq(mask->refcount, 1);
    json_decref(mask);
}
END_TEST

static Suite *
verdict_cache_suite(void)
{
    Suite *s = suite_create("verdict_cache");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_hit_copies_and_shares_mask);
    tcase_add_test(tc, test_not_kept);
    tcase_add_test(tc, test_clear_forgets);
    tcase_add_test(tc, test_full_table_replaces);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(verdict_cache_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
