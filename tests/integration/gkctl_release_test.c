/*
 * gkctl_release_test.c - the release manager's path through gkctl against a real gatekeeper, as
 * README.md and docs/gkctl.md tell it: apply a flag, plan and step its rollout 1 % -> 5 % -> 25 %
 * -> 100 %, go back, kill and unkill it, opt a consumer in, read status and the audit log, show
 * and verify records (also offline), and the exit codes of a denial, a conflict and a bad request.
 * Every change is checked on the decision socket too (signed snapshot version, variant, reason).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "claims.h"
#include "gk_test.h"
#include "jwk.h"
#include "jws.h"
#include "msg.h"

static gkt_daemon d;
static char out[65536];

/* Runs gkctl as actor `actor` (an index into gkt_actor_ids) with --json; returns its status. */
static int
gkctl(int actor, const char *const *args)
{
    const char *argv[40] = {gkt_env("GK_GKCTL")};
    size_t n = 1;

    for (; *args != NULL && n < 34; args++) {
        argv[n++] = *args;
    }
    argv[n++] = "--json";
    argv[n++] = "--admin";
    argv[n++] = d.admin_url;
    argv[n++] = "--key";
    argv[n++] = d.actor_key_path[actor];
    argv[n] = NULL;
    return gkt_run(argv, NULL, out, sizeof(out), 20000);
}

/* The JSON gkctl printed; the caller decrefs. */
static json_t *
printed(void)
{
    json_t *j = json_loads(out, 0, NULL);

    ck_assert_msg(j != NULL, "gkctl printed no JSON: %s", out);
    return j;
}

/* Percent of tenants tenant-0..tenant-999 that get "on" for orders.read_v2, and the version. */
static int
share_on(uint64_t *version)
{
    int on = 0;

    for (int i = 0; i < 1000; i++) {
        char req[200], *text = NULL;
        gkp_reply reply;
        gkp_jwks *keys = NULL;
        uint8_t *payload = NULL;
        size_t len;
        gkp_claims_doc *doc = NULL;
        const gkp_claims *c;

        snprintf(req, sizeof(req),
                 "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.read_v2\"],"
                 "\"context\":{\"targetingKey\":\"tenant-%d\"}}",
                 i + 10);
        ck_assert_int_eq(gkt_request(d.tcp_url, req, strlen(req), &text, 5000), 0);
        ck_assert_int_eq(gkp_reply_decode(&reply, text, strlen(text), NULL), GK_OK);
        ck_assert_int_eq(gkp_jwks_load_file(&keys, d.jwks_path, NULL), GK_OK);
        ck_assert_int_eq(gkp_jws_verify(reply.token, reply.token_len, keys, &payload, &len, NULL),
                         GK_OK);
        ck_assert_int_eq(gkp_claims_decode(&doc, (const char *) payload, len, NULL), GK_OK);
        c = gkp_claims_doc_get(doc);
        *version = c->snapshot_version;
        on += c->flags[0].variant != NULL && strcmp(c->flags[0].variant, "on") == 0;
        gkp_claims_doc_free(doc);
        free(payload);
        gkp_jwks_free(keys);
        gkp_reply_fini(&reply);
        free(text);
    }
    return on / 10;
}

static void
start(void)
{
    static char policies[4096], flags[4096];
    static const char *extra[] = {"--policies", policies, NULL};

    snprintf(policies, sizeof(policies), "%s/policies", gkt_env("GK_SOURCE_DIR"));
    snprintf(flags, sizeof(flags), "%s/integration/flags.json", gkt_env("GK_TEST_DATA"));
    ck_assert_int_eq(gkt_daemon_start(&d, flags, extra), 0);
}

static void
stop(void)
{
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
}

START_TEST(test_rollout_from_one_to_hundred_percent)
{
    static const int steps[] = {1, 5, 25, 100};
    const char *plan[] = {"rollout", "plan", "orders.read_v2", "--steps", "1,5,25,100", "--hold",
                          "0s", "--why", "staged cut-over of order reads", NULL};
    const char *advance[] = {"rollout", "advance", "orders.read_v2", "--why",
                             "next slice of tenants", NULL};
    const char *back[] = {"rollout", "back", "orders.read_v2", "--why",
                          "errors rose: back one step", NULL};
    uint64_t version;
    json_t *j;

    ck_assert_msg(gkctl(0, plan) == 0, "%s", out);
    for (size_t i = 0; i < 4; i++) {
        int share;
        ck_assert_msg(gkctl(0, advance) == 0, "%s", out);
        share = share_on(&version);
        ck_assert_uint_eq(version, 3 + i);
        /* A 1 % .. 100 % split of 1000 tenants: within two points of the step. */
        ck_assert_msg(share >= steps[i] - 2 && share <= steps[i] + 2, "step %d%%: %d%% on",
                      steps[i], share);
    }
    ck_assert_int_eq(gkctl(0, advance), 2); /* at the last step already */
    ck_assert_msg(gkctl(0, back) == 0, "%s", out);
    ck_assert_int_le(share_on(&version), 27);

    ck_assert_int_eq(gkctl(0, (const char *[]){"status", "orders.read_v2", NULL}), 0);
    j = printed();
    ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 7);
    ck_assert(json_real_value(json_object_get(json_array_get(json_object_get(j, "flags"), 0),
                                              "percent")) == 25.0);
    json_decref(j);
}
END_TEST

START_TEST(test_apply_kill_optin_audit)
{
    char path[512];
    const char *apply[] = {"apply", path, "--why", "add the growth banner flag", NULL};
    const char *kill_[] = {"kill", "orders.read_v2", "--why", "kill switch drill, 3 am", NULL};
    const char *unkill[] = {"unkill", "orders.read_v2", "--why", "drill over, back on", NULL};
    const char *optin[] = {"optin", "add", "orders.read_v2", "billing", "--why",
                           "billing reads v2 now", NULL};
    const char *show[] = {"audit", "show", "3", NULL};
    uint64_t version;
    json_t *j;

    snprintf(path, sizeof(path), "%s/banner.json", d.dir);
    ck_assert_int_eq(gkt_write_file(path,
                                    "{\"flags\": {\"growth.banner\": {\"owner\": \"team-platform\","
                                    " \"variants\": {\"off\": false, \"on\": true},"
                                    " \"defaultVariant\": \"off\"}}}",
                                    0644),
                     0);
    ck_assert_msg(gkctl(0, apply) == 0, "%s", out);
    ck_assert_msg(gkctl(0, kill_) == 0, "%s", out);
    share_on(&version);
    ck_assert_uint_eq(version, 3);
    ck_assert_int_eq(share_on(&version), 0); /* killed: no variant for anyone */
    ck_assert_msg(gkctl(0, unkill) == 0, "%s", out);
    ck_assert_msg(gkctl(0, optin) == 0, "%s", out);

    ck_assert_int_eq(gkctl(0, (const char *[]){"audit", "log", "--flag", "orders.read_v2", NULL}),
                     0);
    j = printed();
    /* The bootstrap, the kill, the unkill and the opt-in. */
    ck_assert_uint_eq(json_array_size(json_object_get(j, "records")), 4);
    json_decref(j);
    ck_assert_int_eq(gkctl(0, show), 0);
    j = printed();
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "record"), "op")),
                     "flag.kill");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "record"), "actor")),
                     "rita");
    json_decref(j);
    ck_assert_int_eq(gkctl(0, (const char *[]){"audit", "verify", NULL}), 0);
    {
        const char *argv[] = {gkt_env("GK_GKCTL"), "audit", "verify", "--data-dir", d.data_dir,
                              "--jwks", d.jwks_path, NULL};
        ck_assert_msg(gkt_run(argv, NULL, out, sizeof(out), 20000) == 0, "%s", out);
    }
}
END_TEST

START_TEST(test_exit_codes_for_refusals)
{
    const char *no_why[] = {"kill", "orders.read_v2", NULL};
    const char *kill_[] = {"kill", "orders.read_v2", "--why", "a viewer tries the switch", NULL};
    const char *stale[] = {"kill", "orders.read_v2", "--base", "1", "--why",
                           "based on an old version", NULL};
    const char *missing[] = {"kill", "no.such_flag", "--why", "there is no such flag", NULL};
    const char *set[] = {"rollout", "set", "orders.read_v2", "--percent", "10", "--why",
                         "ten percent of tenants", NULL};

    ck_assert_int_eq(gkctl(0, no_why), 2);
    ck_assert_int_eq(gkctl(2, kill_), 3); /* vic is a viewer: DENIED */
    ck_assert_ptr_nonnull(strstr(out, "security.lua"));
    ck_assert_msg(gkctl(0, set) == 0, "%s", out);
    ck_assert_int_eq(gkctl(0, stale), 4); /* CONFLICT: the state is at version 2 */
    ck_assert_int_eq(gkctl(0, missing), 6);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("gkctl_release");
    TCase *tc = tcase_create("release");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, start, stop);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rollout_from_one_to_hundred_percent);
    tcase_add_test(tc, test_apply_kill_optin_audit);
    tcase_add_test(tc, test_exit_codes_for_refusals);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
