/*
 * engine_test.c - flag evaluation: every reason, individual targets, rule order, rule and flag
 * rollouts, prerequisites, the kill switch, FLAG_NOT_FOUND, TARGETING_KEY_MISSING, integer and
 * custom bucketing attributes, and the per-evaluation time. JSON here uses ' for " (see J()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "bucket.h"
#include "engine.h"
#include "flag.h"
#include "snapshot.h"

static json_t *
J(const char *text)
{
    char *s = strdup(text);
    json_error_t err;
    json_t *j;

    ck_assert_ptr_nonnull(s);
    for (char *p = s; *p != '\0'; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    j = json_loads(s, JSON_DECODE_ANY, &err);
    ck_assert_msg(j != NULL, "bad test JSON: %s (%s)", err.text, s);
    free(s);
    return j;
}

static const char doc_text[] =
    "{'flags': {"
    " 'static.flag': {'variants': {'off': false, 'on': true}, 'defaultVariant': 'on'},"
    " 'killed': {'state': 'DISABLED', 'variants': {'off': false, 'on': true},"
    "            'defaultVariant': 'off', 'rollout': {'on': 100000}},"
    " 'schema.v2': {'variants': {'off': false, 'on': true}, 'defaultVariant': 'off',"
    "               'targets': {'on': ['tenant-1', 'tenant-2']}},"
    " 'reader': {'variants': {'off': false, 'on': true}, 'defaultVariant': 'off',"
    "            'prerequisites': [{'flag': 'schema.v2', 'variants': ['on']}],"
    "            'targets': {'on': ['tenant-1']}},"
    " 'reader.plain': {'variants': {'off': false, 'on': true}, 'defaultVariant': 'on',"
    "            'prerequisites': [{'flag': 'schema.v2', 'variants': ['on']}]},"
    " 'needs.killed': {'variants': {'off': false, 'on': true}, 'defaultVariant': 'off',"
    "            'prerequisites': [{'flag': 'killed', 'variants': ['off', 'on']}],"
    "            'rules': [{'id': 'all', 'clauses': [{'attribute': 'plan', 'op': 'in',"
    "                       'values': ['gold', 'silver']}], 'variant': 'on'}]},"
    " 'orders.read_v2': {'variants': {'off': false, 'on': true}, 'defaultVariant': 'off',"
    "   'salt': '00112233445566778899aabbccddeeff',"
    "   'targets': {'on': ['tenant-7', '42'], 'off': ['tenant-8']},"
    "   'rules': ["
    "     {'id': 'gold', 'clauses': [{'attribute': 'plan', 'op': 'in', 'values': ['gold', "
    "'platinum']}],"
    "      'variant': 'on'},"
    "     {'id': 'gold-eu', 'clauses': [{'attribute': 'plan', 'op': 'equals', 'value': 'gold'},"
    "                                   {'attribute': 'region', 'op': 'equals', 'value': 'eu'}],"
    "      'variant': 'off'},"
    "     {'id': 'eu', 'clauses': [{'attribute': 'region', 'op': 'equals', 'value': 'eu'},"
    "                              {'attribute': 'appVersion', 'op': 'semver_gte', 'value': "
    "'2.1.0'}],"
    "      'rollout': {'off': 50000, 'on': 50000}}],"
    "   'rollout': {'off': 95000, 'on': 5000}},"
    " 'by.tenant': {'variants': {'a': 'A', 'b': 'B', 'c': 'C'}, 'defaultVariant': 'a',"
    "   'bucketBy': 'tenantId', 'rollout': {'a': 20000, 'b': 30000, 'c': 50000}},"
    " 'defaulted': {'variants': {'off': 0, 'on': 1}, 'defaultVariant': 'off',"
    "   'rules': [{'id': 'x', 'clauses': [{'attribute': 'plan', 'op': 'equals', 'value': 'gold'}],"
    "              'variant': 'on'}]}"
    "}}";

static gkd_snapshot *snap;

static void
setup(void)
{
    json_t *doc = J(doc_text);
    gk_diag diag = {0};

    ck_assert_msg(gkd_snapshot_build(&snap, doc, 7, "engine_test", &diag) == GK_OK, "%s",
                  diag.text);
    json_decref(doc);
}

static void
teardown(void)
{
    gkd_snapshot_rele(snap);
    snap = NULL;
}

/* Evaluates flag `key` for the context `ctx_text`. */
static gkd_decision
eval(const char *key, const char *ctx_text)
{
    json_t *ctx = J(ctx_text);
    gkd_decision d;

    memset(&d, 0xA5, sizeof d); /* the engine must write every field */
    gkd_engine_eval_key(snap, key, strlen(key), ctx, &d);
    json_decref(ctx);
    return d;
}

static void
assert_decision(const gkd_decision *d, const char *variant, gk_reason reason, const char *rule_id)
{
    ck_assert_int_eq(d->reason, reason);
    ck_assert_int_eq(d->error_code, GK_ERROR_NONE);
    ck_assert_ptr_null(d->error_message);
    if (variant == NULL) {
        ck_assert_ptr_null(d->variant);
        ck_assert_ptr_null(d->value);
    } else {
        ck_assert_ptr_nonnull(d->variant);
        ck_assert_str_eq(d->variant, variant);
        ck_assert_ptr_nonnull(d->value);
    }
    if (rule_id == NULL) {
        ck_assert_ptr_null(d->rule_id);
    } else {
        ck_assert_ptr_nonnull(d->rule_id);
        ck_assert_str_eq(d->rule_id, rule_id);
    }
}

/* The variant index a rollout of `weights` gives `value` under flag `key`'s salt. */
static size_t
expected_split(const char *key, const char *value, const uint32_t *weights, size_t n)
{
    const gkd_flag *f = gkd_snapshot_find(snap, key, strlen(key));

    ck_assert_ptr_nonnull(f);
    return gkd_bucket_pick(weights, n, gkd_bucket_of(f->salt, value, strlen(value)));
}

START_TEST(test_static)
{
    gkd_decision d = eval("static.flag", "{'targetingKey': 'x'}");

    assert_decision(&d, "on", GK_REASON_STATIC, NULL);
    ck_assert(json_is_true(d.value));
    ck_assert_str_eq(d.flag_key, "static.flag");
    ck_assert_uint_eq(d.flag_key_len, strlen("static.flag"));
    d = eval("static.flag", "{}");
    assert_decision(&d, "on", GK_REASON_STATIC, NULL);
}
END_TEST

START_TEST(test_default)
{
    gkd_decision d = eval("defaulted", "{'plan': 'silver'}");

    assert_decision(&d, "off", GK_REASON_DEFAULT, NULL);
    ck_assert_int_eq(json_integer_value(d.value), 0);
    d = eval("defaulted", "{'plan': 'gold'}");
    assert_decision(&d, "on", GK_REASON_TARGETING_MATCH, "x");
    ck_assert_int_eq(json_integer_value(d.value), 1);
}
END_TEST

START_TEST(test_kill_switch)
{
    gkd_decision d = eval("killed", "{'targetingKey': 'tenant-1'}");

    assert_decision(&d, NULL, GK_REASON_DISABLED, NULL);
    ck_assert_str_eq(d.flag_key, "killed");
}
END_TEST

START_TEST(test_targets)
{
    gkd_decision d = eval("orders.read_v2", "{'targetingKey': 'tenant-7'}");

    assert_decision(&d, "on", GK_REASON_TARGETING_MATCH, "targets");
    /* Targets come before rules: tenant-8 is "off" even on the gold plan. */
    d = eval("orders.read_v2", "{'targetingKey': 'tenant-8', 'plan': 'gold'}");
    assert_decision(&d, "off", GK_REASON_TARGETING_MATCH, "targets");
    /* An integer targetingKey matches its decimal digits. */
    d = eval("orders.read_v2", "{'targetingKey': 42}");
    assert_decision(&d, "on", GK_REASON_TARGETING_MATCH, "targets");
    /* Targets match the targetingKey only, not other attributes. */
    d = eval("orders.read_v2", "{'targetingKey': 'tenant-9', 'tenantId': 'tenant-7'}");
    ck_assert_str_ne(d.rule_id == NULL ? "" : d.rule_id, "targets");
}
END_TEST

START_TEST(test_rule_order)
{
    /* Both "gold" and "gold-eu" match; the first rule wins. */
    gkd_decision d =
        eval("orders.read_v2", "{'targetingKey': 't', 'plan': 'gold', 'region': 'eu'}");

    assert_decision(&d, "on", GK_REASON_TARGETING_MATCH, "gold");
    d = eval("orders.read_v2", "{'targetingKey': 't', 'plan': 'platinum'}");
    assert_decision(&d, "on", GK_REASON_TARGETING_MATCH, "gold");
}
END_TEST

START_TEST(test_rule_rollout)
{
    static const uint32_t w[] = {50000, 50000};
    unsigned seen[2] = {0, 0};
    char ctx[160];
    char key[32];

    for (unsigned i = 0; i < 400; i++) {
        gkd_decision d;
        size_t want;
        snprintf(key, sizeof key, "tenant-%u", 1000 + i);
        snprintf(ctx, sizeof ctx,
                 "{'targetingKey': '%s', 'region': 'eu', 'appVersion': '2.2.0', 'plan': 'free'}",
                 key);
        d = eval("orders.read_v2", ctx);
        want = expected_split("orders.read_v2", key, w, 2);
        assert_decision(&d, want == 0 ? "off" : "on", GK_REASON_SPLIT, "eu");
        seen[want]++;
    }
    ck_assert_uint_gt(seen[0], 100);
    ck_assert_uint_gt(seen[1], 100);
    /* One clause fails (old app version): the rule does not apply; the flag rollout does. */
    gkd_decision d = eval("orders.read_v2",
                          "{'targetingKey': 'tenant-5', 'region': 'eu', 'appVersion': '2.0.9'}");
    ck_assert_int_eq(d.reason, GK_REASON_SPLIT);
    ck_assert_ptr_null(d.rule_id);
}
END_TEST

START_TEST(test_flag_rollout)
{
    static const uint32_t w[] = {95000, 5000};
    unsigned on = 0;
    char ctx[96];
    char key[32];

    for (unsigned i = 0; i < 20000; i++) {
        gkd_decision d;
        size_t want;
        snprintf(key, sizeof key, "tenant-%u", 100 + i);
        snprintf(ctx, sizeof ctx, "{'targetingKey': '%s'}", key);
        d = eval("orders.read_v2", ctx);
        want = expected_split("orders.read_v2", key, w, 2);
        assert_decision(&d, want == 0 ? "off" : "on", GK_REASON_SPLIT, NULL);
        on += want == 1;
    }
    ck_assert_uint_gt(on, 800); /* about 5 % of 20000 */
    ck_assert_uint_lt(on, 1200);
}
END_TEST

START_TEST(test_targeting_key_missing)
{
    static const char *const ctxs[] = {
        "{}",
        "{'plan': 'free'}",
        "{'targetingKey': 1.5}",
        "{'targetingKey': true}",
        "{'targetingKey': null}",
        "{'targetingKey': ['a']}",
        "{'targetingKey': {'id': 'a'}}",
    };

    for (size_t i = 0; i < sizeof ctxs / sizeof ctxs[0]; i++) {
        gkd_decision d = eval("orders.read_v2", ctxs[i]);
        ck_assert_int_eq(d.reason, GK_REASON_ERROR);
        ck_assert_int_eq(d.error_code, GK_ERROR_TARGETING_KEY_MISSING);
        ck_assert_ptr_null(d.variant);
        ck_assert_ptr_null(d.value);
        ck_assert_ptr_null(d.rule_id);
        ck_assert_ptr_nonnull(d.error_message);
        ck_assert_ptr_nonnull(strstr(d.error_message, "\"targetingKey\""));
    }
    /* Within a matching rule's rollout, the rule id says which rollout needed it. */
    gkd_decision d = eval("orders.read_v2", "{'region': 'eu', 'appVersion': '3.0.0'}");
    ck_assert_int_eq(d.reason, GK_REASON_ERROR);
    ck_assert_int_eq(d.error_code, GK_ERROR_TARGETING_KEY_MISSING);
    ck_assert_str_eq(d.rule_id, "eu");
    /* A rule with a fixed variant needs no targetingKey. */
    d = eval("orders.read_v2", "{'plan': 'gold'}");
    assert_decision(&d, "on", GK_REASON_TARGETING_MATCH, "gold");
}
END_TEST

START_TEST(test_integer_bucketing_attribute)
{
    char ctx_int[64];
    char ctx_str[64];
    static const long long ids[] = {0,
                                    1,
                                    7,
                                    42,
                                    12345,
                                    99999999,
                                    -1,
                                    -12345,
                                    9223372036854775807LL,
                                    -9223372036854775807LL - 1};

    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        gkd_decision a;
        gkd_decision b;
        snprintf(ctx_int, sizeof ctx_int, "{'tenantId': %lld}", ids[i]);
        snprintf(ctx_str, sizeof ctx_str, "{'tenantId': '%lld'}", ids[i]);
        a = eval("by.tenant", ctx_int);
        b = eval("by.tenant", ctx_str);
        ck_assert_int_eq(a.reason, GK_REASON_SPLIT);
        ck_assert_msg(strcmp(a.variant, b.variant) == 0, "%lld: %s vs %s", ids[i], a.variant,
                      b.variant);
    }
    /* Across many keys, some differ from the first: the integer really is hashed. */
    {
        unsigned seen[3] = {0, 0, 0};
        for (int i = 0; i < 300; i++) {
            snprintf(ctx_int, sizeof ctx_int, "{'tenantId': %d}", i);
            gkd_decision d = eval("by.tenant", ctx_int);
            seen[d.variant[0] - 'a']++;
        }
        ck_assert_uint_gt(seen[0], 20);
        ck_assert_uint_gt(seen[1], 40);
        ck_assert_uint_gt(seen[2], 90);
    }
}
END_TEST

START_TEST(test_custom_bucket_by)
{
    static const uint32_t w[] = {20000, 30000, 50000};
    static const char *const names[] = {"a", "b", "c"};
    gkd_decision d = eval("by.tenant", "{'tenantId': 'acme', 'targetingKey': 'user-1'}");
    gkd_decision e = eval("by.tenant", "{'tenantId': 'acme', 'targetingKey': 'user-2'}");

    /* Every user of a tenant gets the tenant's variant. */
    assert_decision(&d, names[expected_split("by.tenant", "acme", w, 3)], GK_REASON_SPLIT, NULL);
    ck_assert_str_eq(d.variant, e.variant);
    ck_assert_str_eq(json_string_value(d.value), d.variant[0] == 'a'   ? "A"
                                                 : d.variant[0] == 'b' ? "B"
                                                                       : "C");
    /* The targetingKey alone does not do. */
    d = eval("by.tenant", "{'targetingKey': 'user-1'}");
    ck_assert_int_eq(d.reason, GK_REASON_ERROR);
    ck_assert_int_eq(d.error_code, GK_ERROR_TARGETING_KEY_MISSING);
    ck_assert_ptr_nonnull(strstr(d.error_message, "\"tenantId\""));
}
END_TEST

START_TEST(test_prerequisites)
{
    /* schema.v2 is "on" for tenant-1: met, then reader's own targets apply. */
    gkd_decision d = eval("reader", "{'targetingKey': 'tenant-1'}");
    assert_decision(&d, "on", GK_REASON_TARGETING_MATCH, "targets");
    /* Met, nothing else matches: DEFAULT (not STATIC, the flag has a prerequisite). */
    d = eval("reader", "{'targetingKey': 'tenant-2'}");
    assert_decision(&d, "off", GK_REASON_DEFAULT, NULL);
    d = eval("reader.plain", "{'targetingKey': 'tenant-2'}");
    assert_decision(&d, "on", GK_REASON_DEFAULT, NULL);
    /* Not met: schema.v2 is "off" for tenant-3. */
    d = eval("reader", "{'targetingKey': 'tenant-3'}");
    assert_decision(&d, "off", GK_REASON_DEFAULT, "prerequisite:schema.v2");
    d = eval("reader.plain", "{}");
    assert_decision(&d, "on", GK_REASON_DEFAULT, "prerequisite:schema.v2");
    /* A disabled prerequisite has no variant: never met. */
    d = eval("needs.killed", "{'targetingKey': 'tenant-1', 'plan': 'gold'}");
    assert_decision(&d, "off", GK_REASON_DEFAULT, "prerequisite:killed");
}
END_TEST

START_TEST(test_flag_not_found)
{
    const char key[] = "orders.read_v3";
    gkd_decision d;

    gkd_engine_eval_key(snap, key, strlen(key), NULL, &d);
    ck_assert_int_eq(d.reason, GK_REASON_ERROR);
    ck_assert_int_eq(d.error_code, GK_ERROR_FLAG_NOT_FOUND);
    ck_assert_ptr_eq(d.flag_key, key);
    ck_assert_uint_eq(d.flag_key_len, strlen(key));
    ck_assert_ptr_null(d.variant);
    ck_assert_ptr_null(d.value);
    ck_assert_ptr_nonnull(d.error_message);
    /* The key is `len` bytes, not a C string: a prefix of a longer buffer finds the flag. */
    gkd_engine_eval_key(snap, "killed-and-more", 6, NULL, &d);
    ck_assert_int_eq(d.reason, GK_REASON_DISABLED);
    gkd_engine_eval_key(snap, "kill", 4, NULL, &d);
    ck_assert_int_eq(d.error_code, GK_ERROR_FLAG_NOT_FOUND);
}
END_TEST

START_TEST(test_non_object_context)
{
    json_t *ctx = json_string("tenant-7");
    const gkd_flag *f = gkd_snapshot_find(snap, "defaulted", 9);
    gkd_decision d;

    ck_assert_ptr_nonnull(f);
    gkd_engine_eval(snap, f, ctx, &d);
    assert_decision(&d, "off", GK_REASON_DEFAULT, NULL);
    f = gkd_snapshot_find(snap, "orders.read_v2", 14);
    gkd_engine_eval(snap, f, ctx, &d);
    ck_assert_int_eq(d.error_code, GK_ERROR_TARGETING_KEY_MISSING);
    json_decref(ctx);
}
END_TEST

static Suite *
engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("reasons");

    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_static);
    tcase_add_test(tc, test_default);
    tcase_add_test(tc, test_kill_switch);
    tcase_add_test(tc, test_targets);
    tcase_add_test(tc, test_rule_order);
    tcase_add_test(tc, test_rule_rollout);
    tcase_add_test(tc, test_flag_rollout);
    tcase_add_test(tc, test_prerequisites);
    tcase_add_test(tc, test_flag_not_found);
    suite_add_tcase(s, tc);

    tc = tcase_create("bucketing_attribute");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_targeting_key_missing);
    tcase_add_test(tc, test_integer_bucketing_attribute);
    tcase_add_test(tc, test_custom_bucket_by);
    tcase_add_test(tc, test_non_object_context);
    suite_add_tcase(s, tc);

    return s;
}

int
main(void)
{
    SRunner *sr;
    int failed;

    if (sodium_init() < 0) {
        return 1;
    }
    sr = srunner_create(engine_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
