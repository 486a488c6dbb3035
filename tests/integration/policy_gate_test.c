/*
 * policy_gate_test.c - the policies' on_evaluate on the real daemon's decision path: a forced
 * variant, a deny, an error and a budget breach that fail closed while the daemon keeps serving,
 * mask lists in the signed token, and policy sets refused at start and on reload (syntax error,
 * failing test) while the old set keeps serving.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>
#include <jansson.h>

#include "claims.h"
#include "gk_test.h"
#include "jwk.h"
#include "jws.h"
#include "msg.h"
#include "vocab.h"

static gkt_daemon daemon_;

static const char *
data_path(const char *name)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/integration/%s", gkt_env("GK_TEST_DATA"), name);
    return path;
}

/* The verified claims entry of orders.read_v2 for `service` and targeting key `tk`. */
static gkp_claims_doc *
decide(const gkt_daemon *d, const char *service, const char *tk, const gkp_flag_claim **entry)
{
    char req[512], *text = NULL;
    gkp_reply reply;
    gkp_jwks *keys = NULL;
    uint8_t *payload = NULL;
    size_t len;
    gkp_claims_doc *doc = NULL;
    gk_diag diag = {0};

    snprintf(req, sizeof(req),
             "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.read_v2\"],"
             "\"context\":{\"targetingKey\":\"%s\",\"service\":\"%s\"}}",
             tk, service);
    ck_assert_int_eq(gkt_request(d->tcp_url, req, strlen(req), &text, 5000), 0);
    ck_assert_int_eq(gkp_reply_decode(&reply, text, strlen(text), &diag), GK_OK);
    ck_assert_msg(reply.ok, "%s: %s", gkp_error_code_name(reply.error_code), reply.error_details);
    ck_assert_int_eq(gkp_jwks_load_file(&keys, d->jwks_path, &diag), GK_OK);
    ck_assert_int_eq(gkp_jws_verify(reply.token, reply.token_len, keys, &payload, &len, &diag),
                     GK_OK);
    ck_assert_int_eq(gkp_claims_decode(&doc, (const char *) payload, len, &diag), GK_OK);
    *entry = &gkp_claims_doc_get(doc)->flags[0];
    free(payload);
    gkp_jwks_free(keys);
    gkp_reply_fini(&reply);
    free(text);
    return doc;
}

static void
start(void)
{
    ck_assert_int_eq(gkt_daemon_start(&daemon_, data_path("flags.json"), NULL), 0);
}

static void
stop(void)
{
    ck_assert_int_eq(gkt_daemon_stop(&daemon_), 0);
}

START_TEST(test_forced_variant)
{
    const gkp_flag_claim *e;
    gkp_claims_doc *doc = decide(&daemon_, "legacy-batch", "tenant-1", &e);

    /* tenant-1 is a target of "on"; the policy keeps legacy-batch on the old variant. */
    ck_assert_str_eq(e->variant, "off");
    ck_assert_int_eq(e->reason, GK_REASON_TARGETING_MATCH);
    ck_assert_str_eq(e->rule_id, "policy:gate.lua");
    gkp_claims_doc_free(doc);
}
END_TEST

START_TEST(test_deny_serves_default_variant)
{
    const gkp_flag_claim *e;
    gkp_claims_doc *doc = decide(&daemon_, "blocked", "tenant-1", &e);

    ck_assert_str_eq(e->variant, "off");
    ck_assert_int_eq(e->reason, GK_REASON_DEFAULT);
    ck_assert_str_eq(e->rule_id, "policy:gate.lua");
    gkp_claims_doc_free(doc);
}
END_TEST

/* A policy error and a runaway loop both fail closed, are logged with file:line, and the daemon
 * answers the next request normally. */
START_TEST(test_error_and_budget_fail_closed)
{
    static const char *const services[] = {"broken", "spin"};
    const gkp_flag_claim *e;
    gkp_claims_doc *doc;

    for (size_t i = 0; i < 2; i++) {
        doc = decide(&daemon_, services[i], "tenant-1", &e);
        ck_assert_int_eq(e->reason, GK_REASON_ERROR);
        ck_assert_int_eq(e->error_code, GK_ERROR_GENERAL);
        ck_assert_str_eq(e->variant, "off");
        gkp_claims_doc_free(doc);
        doc = decide(&daemon_, "support", "tenant-1", &e);
        ck_assert_int_eq(e->reason, GK_REASON_TARGETING_MATCH);
        ck_assert_str_eq(e->rule_id, "targets");
        gkp_claims_doc_free(doc);
    }
    ck_assert(gkt_log_contains(&daemon_, "gate.lua:", 5000));
}
END_TEST

START_TEST(test_mask_rides_in_the_token)
{
    const gkp_flag_claim *e;
    gkp_claims_doc *doc = decide(&daemon_, "billing", "tenant-2", &e);
    json_t *want = json_pack("[s]", "customer_email");

    ck_assert_ptr_nonnull(e->mask);
    ck_assert(json_equal(e->mask, want));
    gkp_claims_doc_free(doc);
    doc = decide(&daemon_, "support", "tenant-2", &e);
    ck_assert_ptr_null(e->mask);
    gkp_claims_doc_free(doc);
    json_decref(want);
}
END_TEST

/* "explain": true returns each gated flag's verdicts with their policy, reason and line. */
START_TEST(test_explain_trace)
{
    const char *req = "{\"v\":1,\"op\":\"evaluate\",\"explain\":true,\"flags\":[\"orders.read_v2\","
                      "\"orders.legacy_export\"],\"context\":{\"targetingKey\":\"t-1\","
                      "\"service\":\"blocked\"}}";
    char *text = NULL;
    gkp_reply reply;
    gk_diag diag = {0};
    const json_t *entry, *verdict;

    ck_assert_int_eq(gkt_request(daemon_.tcp_url, req, strlen(req), &text, 5000), 0);
    ck_assert_int_eq(gkp_reply_decode(&reply, text, strlen(text), &diag), GK_OK);
    ck_assert(reply.ok);
    /* Only the gated flag: the killed one has no variant to gate. */
    ck_assert_uint_eq(json_array_size(reply.explain), 1);
    entry = json_array_get(reply.explain, 0);
    ck_assert_str_eq(json_string_value(json_object_get(entry, "key")), "orders.read_v2");
    verdict = json_array_get(json_object_get(entry, "trace"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(verdict, "policy")), "gate.lua");
    ck_assert_str_eq(json_string_value(json_object_get(verdict, "verdict")), "deny");
    ck_assert_str_eq(json_string_value(json_object_get(verdict, "reason")),
                     "service blocked by the integration policy");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(verdict, "source")), "gate.lua:"));
    gkp_reply_fini(&reply);
    free(text);
}
END_TEST

/* At debug level each decision is logged with its context masked by the policies' mask hook. */
START_TEST(test_logged_context_is_masked)
{
    const char *extra[] = {"--log-level", "debug", NULL};
    const char *req = "{\"v\":1,\"op\":\"evaluate\",\"context\":{\"targetingKey\":\"t-5\","
                      "\"email\":\"ann@example.com\",\"plan\":\"gold\"}}";
    char *text = NULL, *log;
    gkt_daemon d;

    ck_assert_int_eq(gkt_daemon_start(&d, data_path("flags.json"), extra), 0);
    ck_assert_int_eq(gkt_request(d.tcp_url, req, strlen(req), &text, 5000), 0);
    ck_assert(gkt_log_contains(&d, "\"email\":\"pseudo:", 5000));
    log = gkt_read_file(d.log_path);
    ck_assert_msg(strstr(log, "ann@example.com") == NULL, "the log holds an e-mail address");
    ck_assert_ptr_nonnull(strstr(log, "\"plan\":\"gold\""));
    free(log);
    free(text);
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
}
END_TEST

/* A policy set that does not compile, or whose tests fail, is refused on reload: old set serves. */
START_TEST(test_reload_refuses_bad_sets)
{
    char dir[256], pol[300], tests[400];
    static const char *const bad_sets[] = {"policies-broken", "policies-failing"};
    static const char *const messages[] = {"gate.lua:", "test_blocked_service_is_allowed"};
    const char *extra[] = {"--policies", pol, NULL};
    gkt_daemon d;
    const gkp_flag_claim *e;
    gkp_claims_doc *doc;

    gkt_tempdir(dir);
    snprintf(pol, sizeof(pol), "%s/policies", dir);
    snprintf(tests, sizeof(tests), "%s/tests", pol);
    ck_assert_int_eq(mkdir(pol, 0700), 0);
    ck_assert_int_eq(mkdir(tests, 0700), 0);
    {
        char *gate = gkt_read_file(data_path("policies/gate.lua"));
        char path[600];
        snprintf(path, sizeof(path), "%s/gate.lua", pol);
        ck_assert_int_eq(gkt_write_file(path, gate, 0644), 0);
        free(gate);
    }
    ck_assert_int_eq(gkt_daemon_start(&d, data_path("flags.json"), extra), 0);
    for (size_t i = 0; i < 2; i++) {
        char path[600], *text;
        /* Replace the directory's content with the bad set. */
        snprintf(path, sizeof(path), "%s/integration/%s/gate.lua", gkt_env("GK_TEST_DATA"),
                 bad_sets[i]);
        text = gkt_read_file(path);
        snprintf(path, sizeof(path), "%s/gate.lua", pol);
        ck_assert_int_eq(gkt_write_file(path, text, 0644), 0);
        free(text);
        snprintf(path, sizeof(path), "%s/integration/%s/tests/gate_test.lua",
                 gkt_env("GK_TEST_DATA"), bad_sets[i]);
        text = gkt_read_file(path);
        snprintf(path, sizeof(path), "%s/gate_test.lua", tests);
        if (text != NULL) {
            ck_assert_int_eq(gkt_write_file(path, text, 0644), 0);
        }
        free(text);
        gkt_daemon_signal(&d, SIGHUP);
        ck_assert_msg(gkt_log_contains(&d, messages[i], 5000), "no '%s' in the log", messages[i]);
        ck_assert(gkt_log_contains(&d, "still serving the previous policies", 5000));
        doc = decide(&d, "legacy-batch", "tenant-1", &e);
        ck_assert_str_eq(e->rule_id, "policy:gate.lua");
        gkp_claims_doc_free(doc);
    }
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
    gkt_rmtree(dir);
}
END_TEST

/* A daemon does not start on a policy set whose tests fail; the error names the test. */
START_TEST(test_start_refuses_failing_tests)
{
    char out[8192], key_dir[300], key[4096];
    char dir[256];
    const char *keygen[] = {gkt_env("GK_DAEMON"), "keygen", "--out", key_dir, NULL};
    char data[300];
    const char *serve[] = {gkt_env("GK_DAEMON"), "serve", "--flags", data_path("flags.json"),
                           "--key", key, "--listen", "tcp://127.0.0.1:0", "--policies",
                           NULL, "--data-dir", data, "--admin-listen", "tcp://127.0.0.1:0",
                           "--events-listen", "tcp://127.0.0.1:0", NULL};
    char policies[4096];
    char *line;

    snprintf(policies, sizeof(policies), "%s/integration/policies-failing",
             gkt_env("GK_TEST_DATA"));
    serve[9] = policies;
    gkt_tempdir(dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(key_dir, sizeof(key_dir), "%s/keys", dir);
    ck_assert_int_eq(gkt_run(keygen, NULL, out, sizeof(out), 10000), 0);
    line = strstr(out, "private key: ");
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(sscanf(line, "private key: %4095s", key), 1);
    ck_assert_int_eq(gkt_run(serve, NULL, out, sizeof(out), 10000), 1);
    ck_assert_msg(strstr(out, "gate_test.lua:4") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "test_blocked_service_is_allowed") != NULL, "%s", out);
    gkt_rmtree(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("policy_gate");
    TCase *tc = tcase_create("gate");
    TCase *reload = tcase_create("reload");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, start, stop);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_forced_variant);
    tcase_add_test(tc, test_deny_serves_default_variant);
    tcase_add_test(tc, test_error_and_budget_fail_closed);
    tcase_add_test(tc, test_mask_rides_in_the_token);
    tcase_add_test(tc, test_explain_trace);
    tcase_set_timeout(reload, 60);
    tcase_add_test(reload, test_reload_refuses_bad_sets);
    tcase_add_test(reload, test_start_refuses_failing_tests);
    tcase_add_test(reload, test_logged_context_is_masked);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, reload);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
