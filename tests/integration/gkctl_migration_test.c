/*
 * gkctl_migration_test.c - migrating a table through gkctl against a real gatekeeper under the
 * shipped policies, as docs/gkctl.md ("Migrating a table") tells it: register schema v1, see an
 * incompatible v2 refused (exit 3, the violation printed), register v2, register consumers,
 * apply the migration flag, step its stages with `rollout set --variant-weights`, `backfill done`,
 * read `status` (JSON and table), opt the consumers in, go live and back; `schema list`, `get`
 * and `diff` (fields added, removed, retyped, defaults, a nested record); and the exit codes of
 * the refusals.
 *
 * rita (team-platform; release-manager and owner) makes every change; vic (viewer) may only read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "gk_migration_data.h"
#include "gk_test.h"

enum { RITA = 0, OWEN = 1, VIC = 2 };

#define WHY "orders v2 migration, ticket OPS-4242"

static gkt_daemon d;
static char out[65536];

/* Runs gkctl as actor `actor` (an index into gkt_actor_ids), with --json when `json`. */
static int
run(int actor, int json, const char *const *args)
{
    const char *argv[48] = {gkt_env("GK_GKCTL")};
    size_t n = 1;

    for (; *args != NULL && n < 40; args++) {
        argv[n++] = *args;
    }
    if (json) {
        argv[n++] = "--json";
    }
    argv[n++] = "--admin";
    argv[n++] = d.admin_url;
    argv[n++] = "--key";
    argv[n++] = d.actor_key_path[actor];
    argv[n] = NULL;
    return gkt_run(argv, NULL, out, sizeof(out), 20000);
}

static int
gkctl(int actor, const char *const *args)
{
    return run(actor, 1, args);
}

/* The JSON gkctl printed; the caller decrefs. */
static json_t *
printed(void)
{
    json_t *j = json_loads(out, 0, NULL);

    ck_assert_msg(j != NULL, "gkctl printed no JSON: %s", out);
    return j;
}

/* Asserts that gkctl's output contains `needle`. */
static void
expect_out(const char *needle)
{
    ck_assert_msg(strstr(out, needle) != NULL, "output lacks \"%s\":\n%s", needle, out);
}

/* Writes `text` to <daemon dir>/<name> and returns the path (static storage, one per slot). */
static const char *
file(int slot, const char *name, const char *text)
{
    static char paths[8][512];

    snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", d.dir, name);
    ck_assert_int_eq(gkt_write_file(paths[slot], text, 0644), 0);
    return paths[slot];
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

/* rollout set FLAG --variant-weights `weights` by rita; returns gkctl's exit status. */
static int
weights(const char *w)
{
    return gkctl(RITA, (const char *[]){"rollout", "set", FLAG, "--variant-weights", w, "--why",
                                        WHY, NULL});
}

/* The consumer `name` of a status entry (borrowed). */
static const json_t *
consumer(const json_t *entry, const char *name)
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

static double
stage_pct(const json_t *entry, const char *stage)
{
    return json_number_value(json_object_get(json_object_get(entry, "stages"), stage));
}

START_TEST(test_migrating_a_table)
{
    const char *v1 = file(0, "orders-v1.avsc", V1);
    const char *v2_bad = file(1, "orders-v2-bad.avsc", V2_BAD);
    const char *v2 = file(2, "orders-v2.avsc", V2);
    const char *flag = file(3, "migration.json", MIGRATION_FLAG);
    const json_t *c, *entry;
    json_t *j, *want;

    /* v1, with its mode, owner and PII fields. */
    ck_assert_msg(gkctl(RITA, (const char *[]){"schema", "register", "orders", v1, "--mode",
                                               "BACKWARD", "--owner", "team-platform", "--pii",
                                               "customer_name", "--why", WHY, NULL}) == 0,
                  "%s", out);
    j = printed();
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "orders");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 1);
    json_decref(j);
    ck_assert_msg(gkctl(RITA, (const char *[]){"apply", flag, "--why", WHY, NULL}) == 0, "%s",
                  out);

    /* An incompatible v2: DENIED (exit 3) with compatibility.lua's violation, in both forms. */
    ck_assert_int_eq(gkctl(RITA, (const char *[]){"schema", "register", "orders", v2_bad, "--why",
                                                  WHY, NULL}),
                     3);
    j = printed();
    ck_assert_str_eq(json_string_value(json_object_get(j, "error")), "DENIED");
    c = json_array_get(json_object_get(json_object_get(j, "details"), "verdicts"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "policy")), "compatibility.lua");
    ck_assert_uint_ge(json_array_size(json_object_get(c, "violations")), 1);
    json_decref(j);
    ck_assert_int_eq(run(RITA, 0, (const char *[]){"schema", "register", "orders", v2_bad, "--why",
                                                   WHY, NULL}),
                     3);
    expect_out("gkctl schema register: DENIED");
    expect_out("deny compatibility.lua: schema 'orders' is not BACKWARD compatible");
    expect_out("policies/compatibility.lua:");
    expect_out("      /fields/2: the new schema cannot read v1: reader field 'first_name'");

    /* Leaving off before v2 exists is refused by migration.lua. */
    ck_assert_int_eq(weights("off=50,dualwrite=50"), 3);
    expect_out("migration.lua");

    ck_assert_msg(run(RITA, 0, (const char *[]){"schema", "register", "orders", v2, "--why", WHY,
                                                NULL}) == 0,
                  "%s", out);
    expect_out("+ schema orders version 2 registered");

    /* Consumers: billing reads v1 and v2, legacy only v1. */
    ck_assert_msg(run(RITA, 0, (const char *[]){"consumer", "register", "billing", "--schema",
                                                "orders", "--supports", "1,2", "--owner",
                                                "team-platform", "--clearances", "pii", "--why",
                                                WHY, NULL}) == 0,
                  "%s", out);
    expect_out("+ consumer billing created");
    ck_assert_msg(gkctl(RITA, (const char *[]){"consumer", "register", "legacy", "--schema",
                                               "orders", "--supports", "1", "--owner",
                                               "team-platform", "--why", WHY, NULL}) == 0,
                  "%s", out);
    j = printed();
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "changes"), 0), "kind")),
                     "consumer");
    json_decref(j);

    /* Stages: half dual-writing; shadow needs the backfill first. */
    ck_assert_msg(weights("off=50,dualwrite=50") == 0, "%s", out);
    ck_assert_int_eq(weights("off=50,dualwrite=25,shadow=25"), 3);
    expect_out("gate 'leave dualwrite'");
    ck_assert_msg(gkctl(RITA, (const char *[]){"backfill", "done", FLAG, "--why", WHY, NULL}) == 0,
                  "%s", out);
    ck_assert_msg(weights("off=50,dualwrite=25,shadow=25") == 0, "%s", out);

    /* status --json is the result: stages, backfill, consumers. */
    ck_assert_msg(gkctl(VIC, (const char *[]){"status", FLAG, NULL}) == 0, "%s", out);
    j = printed();
    entry = json_array_get(json_object_get(j, "flags"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(entry, "kind")), "migration");
    ck_assert(stage_pct(entry, "off") == 50.0);
    ck_assert(stage_pct(entry, "dualwrite") == 25.0);
    ck_assert(stage_pct(entry, "shadow") == 25.0);
    ck_assert(json_is_true(json_object_get(json_object_get(entry, "backfill"), "complete")));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(entry, "backfill"), "by")),
                     "rita");
    c = consumer(entry, "legacy");
    ck_assert(json_is_false(json_object_get(c, "supportsTarget")));
    ck_assert_str_eq(json_string_value(json_object_get(c, "stage")), "off");
    ck_assert_str_eq(json_string_value(json_object_get(c, "blocks")), "live");
    c = consumer(entry, "billing");
    ck_assert(json_is_true(json_object_get(c, "supportsTarget")));
    ck_assert(json_is_false(json_object_get(c, "optedIn")));
    ck_assert_str_eq(json_string_value(json_object_get(c, "stage")), "shadow");
    json_decref(j);

    /* The table: the stage split, the backfill and one line per consumer. */
    ck_assert_msg(run(VIC, 0, (const char *[]){"status", NULL}) == 0, "%s", out);
    expect_out(FLAG ": migration of schema orders v1 -> v2");
    expect_out("stages:    off 50% dualwrite 25% shadow 25%");
    expect_out("backfill:  complete (by rita at ");
    expect_out("CONSUMER  SUPPORTS  OPTED-IN  STAGE   BLOCKS");
    expect_out("billing   1,2       no        shadow  live");
    expect_out("legacy    1         no        off     live");

    /* live needs every consumer on v2 and opted in. */
    ck_assert_int_eq(weights("shadow=50,live=50"), 3);
    expect_out("legacy does not support v2");
    ck_assert_msg(gkctl(RITA, (const char *[]){"consumer", "register", "legacy", "--schema",
                                               "orders", "--supports", "1,2", "--owner",
                                               "team-platform", "--why", WHY, NULL}) == 0,
                  "%s", out);
    ck_assert_msg(gkctl(RITA, (const char *[]){"optin", "add", FLAG, "billing", "--why", WHY,
                                               NULL}) == 0,
                  "%s", out);
    ck_assert_msg(gkctl(RITA, (const char *[]){"optin", "add", FLAG, "legacy", "--why", WHY,
                                               NULL}) == 0,
                  "%s", out);
    ck_assert_msg(weights("shadow=50,live=50") == 0, "%s", out);
    ck_assert_msg(weights("live=100") == 0, "%s", out);
    ck_assert_msg(run(VIC, 0, (const char *[]){"status", FLAG, NULL}) == 0, "%s", out);
    expect_out("stages:    live 100%");
    expect_out("billing   1,2       yes       live   -");

    /* complete fails closed without old-read telemetry; rolling back is never gated. */
    ck_assert_int_eq(weights("complete=100"), 3);
    expect_out("gate 'complete'");
    ck_assert_msg(weights("shadow=100") == 0, "%s", out);

    /* list, get (latest and by version; the plain form prints only the Avro JSON), diff. */
    ck_assert_msg(gkctl(VIC, (const char *[]){"schema", "list", NULL}) == 0, "%s", out);
    j = printed();
    c = json_array_get(json_object_get(j, "schemas"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "name")), "orders");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "versions")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(c, "mode")), "BACKWARD");
    json_decref(j);
    ck_assert_msg(run(VIC, 0, (const char *[]){"schema", "list", NULL}) == 0, "%s", out);
    expect_out("SCHEMA");
    expect_out("team-platform");
    expect_out("customer_name");
    ck_assert_msg(run(VIC, 0, (const char *[]){"schema", "get", "orders", "--version", "1",
                                               NULL}) == 0,
                  "%s", out);
    j = printed();
    want = json_loads(V1, 0, NULL);
    ck_assert(json_equal(j, want));
    json_decref(want);
    json_decref(j);
    ck_assert_msg(gkctl(VIC, (const char *[]){"schema", "get", "orders", NULL}) == 0, "%s", out);
    j = printed();
    ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 2);
    want = json_loads(V2, 0, NULL);
    ck_assert(json_equal(json_object_get(j, "schema"), want));
    json_decref(want);
    json_decref(j);
    ck_assert_msg(gkctl(VIC, (const char *[]){"schema", "diff", "orders", "1", "2", NULL}) == 0,
                  "%s", out);
    j = printed();
    ck_assert_uint_eq(json_array_size(json_object_get(j, "changes")), 1);
    c = json_array_get(json_object_get(j, "changes"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "field")), "first_name");
    ck_assert_str_eq(json_string_value(json_object_get(c, "change")), "added");
    ck_assert(json_is_null(json_object_get(c, "default")));
    json_decref(j);
    ck_assert_msg(run(VIC, 0, (const char *[]){"schema", "diff", "orders", "1", "2", NULL}) == 0,
                  "%s", out);
    expect_out("schema orders: version 1 -> 2, 1 change");
    expect_out("+ first_name [\"null\",\"string\"] default null");
}
END_TEST

#define C1                                                                                         \
    "{\"type\":\"record\",\"name\":\"customer\",\"fields\":["                                     \
    "{\"name\":\"id\",\"type\":\"int\"},"                                                         \
    "{\"name\":\"email\",\"type\":\"string\",\"default\":\"\"},"                                  \
    "{\"name\":\"fax\",\"type\":\"string\"},"                                                     \
    "{\"name\":\"tier\",\"type\":\"string\"},"                                                    \
    "{\"name\":\"address\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"address\","          \
    "\"fields\":[{\"name\":\"city\",\"type\":\"string\"}]}],\"default\":null}]}"
#define C2                                                                                         \
    "{\"type\":\"record\",\"name\":\"customer\",\"fields\":["                                     \
    "{\"name\":\"id\",\"type\":\"long\"},"                                                        \
    "{\"name\":\"email\",\"type\":\"string\"},"                                                   \
    "{\"name\":\"tier\",\"type\":\"string\",\"default\":\"basic\"},"                              \
    "{\"name\":\"address\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"address\","          \
    "\"fields\":[{\"name\":\"city\",\"type\":\"string\"},"                                        \
    "{\"name\":\"zip\",\"type\":\"string\",\"default\":\"\"}]}],\"default\":null},"               \
    "{\"name\":\"vip\",\"type\":\"boolean\",\"default\":false}]}"

/* The change of `field` in a diff's changes (borrowed). */
static const json_t *
change_of(const json_t *diff, const char *field)
{
    const json_t *c;
    size_t i;

    json_array_foreach(json_object_get(diff, "changes"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "field")), field) == 0) {
            return c;
        }
    }
    ck_abort_msg("no change of %s in the diff", field);
    return NULL;
}

START_TEST(test_schema_diff_and_refusals)
{
    const char *c1 = file(0, "customer-v1.avsc", C1);
    const char *c2 = file(1, "customer-v2.avsc", C2);
    const char *bad = file(2, "bad.avsc", "{\"type\": ");
    json_t *j;
    const json_t *c;

    /* Mode NONE: no compatibility check, so any change registers. */
    ck_assert_msg(gkctl(RITA, (const char *[]){"schema", "register", "customer", c1, "--mode",
                                               "NONE", "--owner", "team-platform", "--why", WHY,
                                               NULL}) == 0,
                  "%s", out);
    ck_assert_msg(gkctl(RITA, (const char *[]){"schema", "register", "customer", c2, "--why", WHY,
                                               NULL}) == 0,
                  "%s", out);
    ck_assert_msg(gkctl(VIC, (const char *[]){"schema", "diff", "customer", "1", "2", NULL}) == 0,
                  "%s", out);
    j = printed();
    ck_assert_int_eq(json_integer_value(json_object_get(j, "from")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "to")), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "changes")), 6);
    c = change_of(j, "id");
    ck_assert_str_eq(json_string_value(json_object_get(c, "change")), "type");
    ck_assert_str_eq(json_string_value(json_object_get(c, "before")), "int");
    ck_assert_str_eq(json_string_value(json_object_get(c, "after")), "long");
    ck_assert_str_eq(json_string_value(json_object_get(change_of(j, "email"), "change")),
                     "default_removed");
    ck_assert_str_eq(json_string_value(json_object_get(change_of(j, "fax"), "change")), "removed");
    ck_assert_str_eq(json_string_value(json_object_get(change_of(j, "tier"), "change")),
                     "default_added");
    ck_assert_str_eq(json_string_value(json_object_get(change_of(j, "address.zip"), "change")),
                     "added");
    ck_assert_str_eq(json_string_value(json_object_get(change_of(j, "vip"), "change")), "added");
    json_decref(j);
    ck_assert_msg(run(VIC, 0, (const char *[]){"schema", "diff", "customer", "1", "2", NULL}) == 0,
                  "%s", out);
    expect_out("schema customer: version 1 -> 2, 6 changes");
    expect_out("~ id type: \"int\" -> \"long\"");
    expect_out("~ email default removed: \"\"");
    expect_out("- fax \"string\"");
    expect_out("~ tier default added: \"basic\"");
    expect_out("+ address.zip \"string\" default \"\"");
    expect_out("+ vip \"boolean\" default false");

    /* Exit codes: no --why 2, bad JSON 2, a viewer's change 3 (every verdict printed), no such
     * schema or version 6, backfill of an ordinary flag 2, an unknown subcommand 2. */
    ck_assert_int_eq(gkctl(RITA, (const char *[]){"backfill", "done", FLAG, NULL}), 2);
    ck_assert_int_eq(gkctl(RITA, (const char *[]){"schema", "register", "customer", bad, "--why",
                                                  WHY, NULL}),
                     2);
    ck_assert_int_eq(run(VIC, 0, (const char *[]){"schema", "register", "customer", c2, "--why",
                                                  WHY, NULL}),
                     3);
    expect_out("deny security.lua:");
    ck_assert_int_eq(gkctl(VIC, (const char *[]){"schema", "get", "nosuch", NULL}), 6);
    ck_assert_int_eq(gkctl(VIC, (const char *[]){"schema", "get", "customer", "--version", "9",
                                                 NULL}),
                     6);
    ck_assert_int_eq(gkctl(VIC, (const char *[]){"schema", "diff", "customer", "1", "9", NULL}), 6);
    ck_assert_int_eq(gkctl(RITA, (const char *[]){"backfill", "done", "orders.read_v2", "--why",
                                                  WHY, NULL}),
                     2);
    ck_assert_int_eq(gkctl(RITA, (const char *[]){"consumer", "register", "billing", "--schema",
                                                  "customer", "--supports", "1,x", "--owner",
                                                  "team-platform", "--why", WHY, NULL}),
                     2);
    ck_assert_int_eq(gkctl(RITA, (const char *[]){"schema", "frobnicate", NULL}), 2);
    ck_assert_int_eq(gkctl(RITA, (const char *[]){"schema", "check", NULL}), 2);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("gkctl_migration");
    TCase *tc = tcase_create("migration");
    SRunner *sr;
    int failed;

    (void) OWEN;
    tcase_add_checked_fixture(tc, start, stop);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_migrating_a_table);
    tcase_add_test(tc, test_schema_diff_and_refusals);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
