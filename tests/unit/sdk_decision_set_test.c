/*
 * sdk_decision_set_test.c - gks_decision_fill: a decision's value text is exactly what jansson's
 * json_dumps writes for every kind of value (those written without jansson included), its decoded
 * form matches, and entries without a value have none.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "decision_set.h"
#include "gatekeeper.h"

/* Flag values as JSON text: the shapes written directly and those left to jansson. */
static const char *const values[] = {
    "true",          "false",       "null",          "\"\"",
    "\"on\"",        "\"a/b c~\"",  "\"q\\\"uote\"", "\"back\\\\slash\"",
    "\"caf\\u00e9\"", "\"tab\\t\"",  "\"\\u007f\"",   "0",
    "-12",           "1.5",         "[]",            "{\"a\":[1,\"x\",null]}",
};

START_TEST(test_value_text_as_jansson)
{
    json_t *value = json_loads(values[_i], JSON_DECODE_ANY, NULL);
    gkp_flag_claim claim = {.key = "orders.read_v2", .variant = "on", .value = value,
                            .reason = GK_REASON_SPLIT, .rule_id = "eu"};
    gk_decision_set *set = NULL;
    const gks_decision *d;
    char *want;

    ck_assert_ptr_nonnull(value);
    want = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    ck_assert_ptr_nonnull(want);
    ck_assert_int_eq(gks_decision_set_new(&set, 1), GK_OK);
    ck_assert_int_eq(gks_decision_fill(&set->items[0], &claim, 7), GK_OK);
    d = &set->items[0];
    ck_assert_str_eq(d->key, "orders.read_v2");
    ck_assert_str_eq(d->value_json, want);
    ck_assert_str_eq(d->detail.variant, "on");
    ck_assert_str_eq(d->detail.rule_id, "eu");
    ck_assert_uint_eq(d->detail.snapshot_version, 7);
    if (json_is_boolean(value)) {
        ck_assert_int_eq(d->kind, GKS_KIND_BOOL);
        ck_assert_int_eq(d->bool_value, json_is_true(value));
    } else if (json_is_string(value)) {
        ck_assert_int_eq(d->kind, GKS_KIND_STRING);
        ck_assert_uint_eq(d->str_len, json_string_length(value));
        ck_assert_mem_eq(d->str, json_string_value(value), d->str_len + 1);
    } else {
        ck_assert_int_eq(d->kind, GKS_KIND_OTHER);
        ck_assert_ptr_null(d->str);
    }
    ck_assert_ptr_eq(gks_decision_find(set, "orders.read_v2"), d);
    gk_decision_set_free(set);
    free(want);
    json_decref(value);
}
END_TEST

/* DISABLED and ERROR entries have no value, even when one is sent; any other needs one. */
START_TEST(test_entries_without_value)
{
    gkp_flag_claim off = {.key = "k", .value = json_true(), .reason = GK_REASON_DISABLED};
    gkp_flag_claim err = {.key = "e", .reason = GK_REASON_ERROR,
                          .error_code = GK_ERROR_FLAG_NOT_FOUND, .error_message = "no such flag"};
    gkp_flag_claim none = {.key = "n", .reason = GK_REASON_STATIC};
    gk_decision_set *set = NULL;

    ck_assert_int_eq(gks_decision_set_new(&set, 3), GK_OK);
    ck_assert_int_eq(gks_decision_fill(&set->items[0], &off, 1), GK_OK);
    ck_assert_int_eq(set->items[0].kind, GKS_KIND_NONE);
    ck_assert_ptr_null(set->items[0].value_json);
    ck_assert_str_eq(set->items[0].key, "k");
    ck_assert_int_eq(gks_decision_fill(&set->items[1], &err, 1), GK_OK);
    ck_assert_int_eq(set->items[1].kind, GKS_KIND_NONE);
    ck_assert_int_eq(set->items[1].detail.error_code, GK_ERROR_FLAG_NOT_FOUND);
    ck_assert_str_eq(set->items[1].detail.error_message, "no such flag");
    ck_assert_ptr_null(set->items[1].value_json);
    ck_assert_int_eq(gks_decision_fill(&set->items[2], &none, 1), GK_EPROTO);
    gk_decision_set_free(set);
}
END_TEST

/* A set of no decisions (the fallback of gk_client_eval_all). */
START_TEST(test_empty_set)
{
    gk_decision_set *set = NULL;

    ck_assert_int_eq(gks_decision_set_new(&set, 0), GK_OK);
    ck_assert_uint_eq(gk_decision_set_count(set), 0);
    ck_assert_ptr_null(gks_decision_find(set, "x"));
    gk_decision_set_free(set);
}
END_TEST

static Suite *
decision_set_suite(void)
{
    Suite *s = suite_create("decision_set");
    TCase *tc = tcase_create("fill");

    tcase_add_loop_test(tc, test_value_text_as_jansson, 0,
                        (int) (sizeof(values) / sizeof(values[0])));
    tcase_add_test(tc, test_entries_without_value);
    tcase_add_test(tc, test_empty_set);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(decision_set_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
