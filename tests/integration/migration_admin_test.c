/*
 * migration_admin_test.c - a migration flag walked through its stages against the real daemon
 * under the shipped policies (environment prod): schema registration with the compatibility check,
 * consumers, the stage gates of policies/migration.lua (leaving off, leaving dualwrite, live,
 * complete), backfill.done, the status op's migration details, and the decision-time gating of
 * consumers by compatibility.lua (a v1-only consumer stays "off", one not opted in stays before
 * "live").
 *
 * rita (team-platform; release-manager and owner) owns everything here, so she alone may make
 * every change in prod.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "claims.h"
#include "gk_admin_check.h"
#include "gk_migration_data.h"
#include "gk_test.h"
#include "jwk.h"
#include "jws.h"
#include "msg.h"
#include "vocab.h"

enum { RITA = 0, OWEN = 1, VIC = 2 };

static gkt_daemon daemon_;

#define WHY "orders v2 migration, ticket OPS-4242"

/* The variant of a signed decision for FLAG with `tenant` and (when not NULL) `service`. */
static void
decide(const gkt_daemon *d, const char *tenant, const char *service, char variant[64])
{
    char req[512], *text = NULL;
    gkp_reply reply;
    gkp_jwks *keys = NULL;
    uint8_t *payload = NULL;
    size_t len;
    gkp_claims_doc *doc = NULL;
    const gkp_claims *claims;
    gk_diag diag = {0};

    snprintf(req, sizeof(req),
             "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"" FLAG "\"],\"context\":{\"targetingKey\":"
             "\"%s\",\"tenantId\":\"%s\"%s%s%s}}",
             tenant, tenant, service != NULL ? ",\"service\":\"" : "",
             service != NULL ? service : "", service != NULL ? "\"" : "");
    ck_assert_int_eq(gkt_request(d->tcp_url, req, strlen(req), &text, 5000), 0);
    ck_assert_int_eq(gkp_reply_decode(&reply, text, strlen(text), &diag), GK_OK);
    ck_assert_msg(reply.ok, "%s: %s", gkp_error_code_name(reply.error_code), reply.error_details);
    ck_assert_int_eq(gkp_jwks_load_file(&keys, d->jwks_path, &diag), GK_OK);
    ck_assert_int_eq(gkp_jws_verify(reply.token, reply.token_len, keys, &payload, &len, &diag),
                     GK_OK);
    ck_assert_int_eq(gkp_claims_decode(&doc, (const char *) payload, len, &diag), GK_OK);
    claims = gkp_claims_doc_get(doc);
    ck_assert_uint_eq(claims->nflags, 1);
    snprintf(variant, 64, "%s", claims->flags[0].variant != NULL ? claims->flags[0].variant : "");
    gkp_claims_doc_free(doc);
    free(payload);
    gkp_jwks_free(keys);
    gkp_reply_fini(&reply);
    free(text);
}

static void
expect_variant(const char *tenant, const char *service, const char *want)
{
    char got[64];

    decide(&daemon_, tenant, service, got);
    ck_assert_msg(strcmp(got, want) == 0, "%s as %s: expected %s, got %s", tenant,
                  service != NULL ? service : "(no service)", want, got);
}

/* A change by rita that must succeed. */
static void
change_ok(const char *op, const char *args)
{
    json_t *reply = gkt_admin_json(&daemon_, RITA, op, args, WHY, 0);

    gkt_expect_ok(reply);
    json_decref(reply);
}

/* A change by rita that migration.lua (or `policy`) must deny with `reason`. */
static void
change_denied(const char *op, const char *args, const char *policy, const char *reason)
{
    json_t *reply = gkt_admin_json(&daemon_, RITA, op, args, WHY, 0);

    gkt_expect_denied_by(reply, policy, reason);
    json_decref(reply);
}

static void
rollout(const char *weights)
{
    char args[512];

    snprintf(args, sizeof(args), "{\"key\":\"" FLAG "\",\"weights\":%s}", weights);
    change_ok("rollout.set", args);
}

static void
rollout_denied(const char *weights, const char *reason)
{
    char args[512];

    snprintf(args, sizeof(args), "{\"key\":\"" FLAG "\",\"weights\":%s}", weights);
    change_denied("rollout.set", args, "migration.lua", reason);
}

static void
start(void)
{
    static char policies[4096];
    static const char *extra[] = {"--policies", policies, NULL};
    char flags[4096];

    snprintf(policies, sizeof(policies), "%s/policies", gkt_env("GK_SOURCE_DIR"));
    snprintf(flags, sizeof(flags), "%s/integration/flags.json", gkt_env("GK_TEST_DATA"));
    ck_assert_int_eq(gkt_daemon_start(&daemon_, flags, extra), 0);
}

static void
stop(void)
{
    ck_assert_int_eq(gkt_daemon_stop(&daemon_), 0);
}

/* The status entry of FLAG (a new reference). */
static json_t *
status(void)
{
    json_t *reply = gkt_admin_json(&daemon_, RITA, "status", "{\"key\":\"" FLAG "\"}", NULL, 0);
    json_t *entry;

    gkt_expect_ok(reply);
    entry = json_array_get(json_object_get(json_object_get(reply, "result"), "flags"), 0);
    ck_assert_ptr_nonnull(entry);
    json_incref(entry);
    json_decref(reply);
    return entry;
}

/* The status line of consumer `name` in a status entry (borrowed). */
static const json_t *
consumer_status(const json_t *entry, const char *name)
{
    const json_t *c;
    size_t i;

    json_array_foreach(json_object_get(entry, "consumers"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), name) == 0) {
            return c;
        }
    }
    ck_abort_msg("no consumer %s in the status", name);
    return NULL;
}

START_TEST(test_migration_walk)
{
    json_t *reply, *entry, *violations;
    const json_t *c;

    /* The schema, version 1, and the flag at off: nothing gates either. */
    change_ok("schema.register", "{\"name\":\"orders\",\"schema\":" V1
                                 ",\"mode\":\"BACKWARD\",\"owner\":\"team-platform\","
                                 "\"pii\":[\"customer_name\"]}");
    change_ok("flag.apply", MIGRATION_FLAG);
    reply = gkt_admin_json(&daemon_, RITA, "flag.get", "{\"key\":\"" FLAG "\"}", NULL, 0);
    gkt_expect_ok(reply);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(reply, "result"), "definition"),
                         "defaultVariant")),
                     "off");
    ck_assert_uint_eq(json_object_size(json_object_get(
                          json_object_get(json_object_get(reply, "result"), "definition"),
                          "variants")),
                      6);
    json_decref(reply);
    expect_variant("tenant-1", NULL, "off");

    /* Leaving off before v2 exists. */
    rollout_denied("{\"off\":50000,\"dualwrite\":50000}", "gate 'leave off'");

    /* An incompatible v2 is refused with its violations, a compatible one registered. */
    reply = gkt_admin_json(&daemon_, RITA, "schema.register", "{\"name\":\"orders\",\"schema\":" V2_BAD "}",
                  WHY, 0);
    gkt_expect_denied_by(reply, "compatibility.lua", "is not BACKWARD compatible");
    violations = json_object_get(json_array_get(json_object_get(json_object_get(reply, "details"),
                                                                "verdicts"),
                                                0),
                                 "violations");
    ck_assert_msg(json_array_size(violations) >= 1, "no violations in the refusal");
    json_decref(reply);
    reply = gkt_admin_json(&daemon_, RITA, "schema.register", "{\"name\":\"orders\",\"schema\":" V2 "}",
                  WHY, 0);
    gkt_expect_ok(reply);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(reply, "result"),
                                                        "version")),
                     2);
    json_decref(reply);
    reply = gkt_admin_json(&daemon_, VIC, "schema.get", "{\"name\":\"orders\",\"version\":1}", NULL, 0);
    gkt_expect_ok(reply);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(reply, "result"),
                                                        "versions")),
                     2);
    json_decref(reply);

    /* Consumers: billing reads v1 and v2, legacy only v1. */
    change_ok("consumer.register", "{\"name\":\"billing\",\"schema\":\"orders\",\"supports\":[1,2],"
                                   "\"owner\":\"team-platform\"}");
    change_ok("consumer.register", "{\"name\":\"legacy\",\"schema\":\"orders\",\"supports\":[1],"
                                   "\"owner\":\"team-platform\"}");

    rollout("{\"off\":50000,\"dualwrite\":50000}");
    rollout("{\"dualwrite\":100000}");

    /* Leaving dualwrite needs the backfill. */
    rollout_denied("{\"dualwrite\":50000,\"shadow\":50000}", "gate 'leave dualwrite'");
    change_ok("backfill.done", "{\"key\":\"" FLAG "\"}");
    entry = status();
    ck_assert(json_is_true(json_object_get(json_object_get(entry, "backfill"), "complete")));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(entry, "backfill"), "by")),
                     "rita");
    json_decref(entry);
    rollout("{\"shadow\":100000}");

    /* At shadow: the v1-only consumer gets off, the others their stage. */
    expect_variant("tenant-1", "billing", "shadow");
    expect_variant("tenant-2", NULL, "shadow");
    expect_variant("tenant-1", "legacy", "off");

    /* live: legacy lacks v2 and nobody opted in. */
    rollout_denied("{\"shadow\":50000,\"live\":50000}", "legacy does not support v2");
    entry = status();
    ck_assert(json_number_value(json_object_get(json_object_get(entry, "stages"), "shadow")) ==
              100.0);
    c = consumer_status(entry, "legacy");
    ck_assert_str_eq(json_string_value(json_object_get(c, "stage")), "off");
    ck_assert_str_eq(json_string_value(json_object_get(c, "blocks")), "live");
    json_decref(entry);
    change_ok("consumer.register", "{\"name\":\"legacy\",\"schema\":\"orders\",\"supports\":[1,2],"
                                   "\"owner\":\"team-platform\"}");
    rollout_denied("{\"shadow\":50000,\"live\":50000}", "billing has not opted in");
    change_ok("optin.add", "{\"key\":\"" FLAG "\",\"consumer\":\"billing\"}");
    change_ok("optin.add", "{\"key\":\"" FLAG "\",\"consumer\":\"legacy\"}");
    rollout("{\"live\":100000}");
    entry = status();
    c = consumer_status(entry, "billing");
    ck_assert(json_is_true(json_object_get(c, "optedIn")));
    ck_assert(json_is_null(json_object_get(c, "blocks")));
    ck_assert_str_eq(json_string_value(json_object_get(c, "stage")), "live");
    json_decref(entry);

    /* Opted-in consumers get live; a service that has not opted in stays at shadow. */
    expect_variant("tenant-3", "billing", "live");
    expect_variant("tenant-3", "newcomer", "shadow");

    /* complete: no telemetry of old-path reads, so it fails closed. */
    rollout_denied("{\"complete\":100000}", "gate 'complete'");

    /* Going back is never gated. */
    rollout("{\"shadow\":100000}");
}
END_TEST

/* A migration flag in the bootstrap file is stored as flag.apply stores it: stages filled in. */
START_TEST(test_bootstrapped_migration_flag_has_its_stages)
{
    static char policies[4096];
    static const char *extra[] = {"--policies", policies, NULL};
    char flags[4096];
    gkt_daemon d;
    json_t *reply;
    const json_t *def, *variants;

    snprintf(policies, sizeof(policies), "%s/policies", gkt_env("GK_SOURCE_DIR"));
    snprintf(flags, sizeof(flags), "%s/integration/flags-migration.json",
             gkt_env("GK_TEST_DATA"));
    ck_assert_int_eq(gkt_daemon_start(&d, flags, extra), 0);
    reply = gkt_admin_json(&d, RITA, "flag.get", "{\"key\":\"" FLAG "\"}", NULL, 0);
    gkt_expect_ok(reply);
    def = json_object_get(json_object_get(reply, "result"), "definition");
    variants = json_object_get(def, "variants");
    ck_assert_uint_eq(json_object_size(variants), 6);
    ck_assert_str_eq(json_string_value(json_object_get(variants, "rampdown")), "rampdown");
    ck_assert_str_eq(json_string_value(json_object_get(def, "defaultVariant")), "off");
    json_decref(reply);
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_refusals)
{
    json_t *reply;

    /* A new schema needs a mode; a consumer needs its versions and owner. */
    reply = gkt_admin_json(&daemon_, RITA, "schema.register", "{\"name\":\"orders\",\"schema\":" V1 "}",
                  WHY, 0);
    gkt_expect_error(reply, "INVALID_REQUEST", "a new schema needs \"mode\"");
    json_decref(reply);
    reply = gkt_admin_json(&daemon_, RITA, "consumer.register", "{\"name\":\"billing\",\"schema\":\"orders\"}",
                  WHY, 0);
    gkt_expect_error(reply, "INVALID_REQUEST", "consumer.register takes");
    json_decref(reply);
    /* backfill.done of an ordinary flag. */
    reply = gkt_admin_json(&daemon_, RITA, "backfill.done", "{\"key\":\"orders.read_v2\"}", WHY, 0);
    gkt_expect_error(reply, "INVALID_REQUEST", "not a migration flag");
    json_decref(reply);
    /* A viewer may read schemas but not register one; owen may not register for team-platform. */
    reply = gkt_admin_json(&daemon_, VIC, "schema.list", NULL, NULL, 0);
    gkt_expect_ok(reply);
    json_decref(reply);
    reply = gkt_admin_json(&daemon_, VIC, "schema.register",
                  "{\"name\":\"orders\",\"schema\":" V1 ",\"mode\":\"BACKWARD\"}", WHY, 0);
    gkt_expect_error(reply, "DENIED", NULL);
    json_decref(reply);
    /* A migration flag without bucketBy does not build. */
    reply = gkt_admin_json(&daemon_, RITA, "flag.apply",
                  "{\"flags\":{\"m\":{\"owner\":\"team-platform\",\"kind\":\"migration\","
                  "\"migration\":{\"schema\":\"orders\",\"from\":1,\"to\":2}}}}",
                  WHY, 0);
    gkt_expect_error(reply, "INVALID_REQUEST", "needs \"bucketBy\"");
    json_decref(reply);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("migration_admin");
    TCase *tc = tcase_create("migration");
    SRunner *sr;
    int failed;

    (void) OWEN;
    tcase_add_checked_fixture(tc, start, stop);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_migration_walk);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_bootstrapped_migration_flag_has_its_stages);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
