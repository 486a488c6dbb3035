/*
 * gkctl_policy_test.c - the real gkctl (GK_GKCTL) on the policy sets of tests/data/policies and on
 * the shipped policies: summary lines, exit codes, file:line in the output, `policy eval` output,
 * and `schema check` exit codes with a stub compatibility policy.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "gk_test.h"

static char out[65536];

/* Run gkctl with up to 10 arguments (NULL-terminated); returns the exit status. */
static int
gkctl(const char *a1, ...)
{
    const char *argv[16];
    va_list ap;
    int n = 0;

    argv[n++] = gkt_env("GK_GKCTL");
    argv[n++] = a1;
    va_start(ap, a1);
    while (n < 15 && (argv[n] = va_arg(ap, const char *)) != NULL) {
        n++;
    }
    va_end(ap);
    argv[n] = NULL;
    return gkt_run(argv, NULL, out, sizeof out, 60000);
}

static const char *
data(const char *rel)
{
    static char paths[8][1024];
    static int next;
    char *p = paths[next++ % 8];

    snprintf(p, sizeof paths[0], "%s/policies/%s", gkt_env("GK_TEST_DATA"), rel);
    return p;
}

#define ck_assert_out(needle) ck_assert_msg(strstr(out, needle) != NULL, "no \"%s\" in:\n%s", needle, out)

START_TEST(test_policy_test_good)
{
    ck_assert_int_eq(gkctl("policy", "test", data("good"), NULL), 0);
    ck_assert_out("9 passed, 0 failed");
    ck_assert_ptr_null(strstr(out, "\033[")); /* no colour when not a TTY */
}
END_TEST

START_TEST(test_policy_test_failing)
{
    ck_assert_int_eq(gkctl("policy", "test", data("failing"), NULL), 1);
    ck_assert_out("tests/failing_test.lua:7: test_fails_on_line_7: strangers should be allowed");
    ck_assert_out("tests/failing_test.lua:11: test_error_in_policy: policies/a_owner.lua:15:");
    ck_assert_out("1 passed, 2 failed");
    ck_assert_int_eq(gkctl("--json", "policy", "test", data("failing"), NULL), 1);
    ck_assert_out("\"failed\": 2");
    ck_assert_out("\"where\": \"tests/failing_test.lua:7\"");
}
END_TEST

START_TEST(test_policy_test_broken)
{
    ck_assert_int_eq(gkctl("policy", "test", data("broken"), NULL), 1);
    ck_assert_out("policies/zz_syntax.lua:2: unexpected symbol near '='");
    ck_assert_int_eq(gkctl("policy", "test", data("no-such-dir"), NULL), 2);
    ck_assert_int_eq(gkctl("policy", "frobnicate", NULL), 2);
    ck_assert_int_eq(gkctl("nothing", NULL), 2);
}
END_TEST

START_TEST(test_policy_eval)
{
    char dir[256], input[512];

    gkt_tempdir(dir);
    snprintf(input, sizeof input, "%s/in.json", dir);
    ck_assert_int_eq(
        gkt_write_file(input,
                       "{\"ctx\": {\"targetingKey\": \"t1\", \"service\": \"orders\", \"force\": "
                       "\"on\"}, \"flag\": \"orders.read_v2\", \"proposal\": {\"variant\": "
                       "\"off\", \"reason\": \"SPLIT\"}, \"state\": {\"flags\": "
                       "{\"orders.read_v2\": {\"owner\": \"team-orders\", \"variants\": {\"off\": "
                       "false, \"on\": true}, \"defaultVariant\": \"off\"}}}}",
                       0644),
        0);
    ck_assert_int_eq(gkctl("policy", "eval", "on_evaluate", "--input", input, "--policies",
                           data("good"), NULL),
                     0);
    ck_assert_out("verdict: allow");
    ck_assert_out("variant: on");
    ck_assert_out("mask:    email");
    ck_assert_out("POLICY");
    ck_assert_out("policies/c_force.lua:4");
    ck_assert_out("forced by context");
    ck_assert_int_eq(gkctl("policy", "eval", "on_evaluate", "--input", input, "--policies",
                           data("good"), "--json", NULL),
                     0);
    ck_assert_out("\"variant\": \"on\"");
    ck_assert_out("\"source\": \"policies/b_privacy.lua:4\"");
    ck_assert_int_eq(gkt_write_file(input, "{\"req\": {\"op\": \"flag.delete\", \"actor\": "
                                           "{\"team\": \"team-orders\"}, \"resource\": "
                                           "{\"owner\": \"team-orders\"}}}",
                                    0644),
                     0);
    ck_assert_int_eq(gkctl("policy", "eval", "authorize", "--input", input, "--policies",
                           data("good"), NULL),
                     0);
    ck_assert_out("verdict: deny");
    ck_assert_out("only a release-manager may delete a flag");
    /* a policy error: exit 1, file:line shown */
    ck_assert_int_eq(gkt_write_file(input, "{\"req\": {\"op\": \"rollout.set\"}}", 0644), 0);
    ck_assert_int_eq(gkctl("policy", "eval", "authorize", "--input", input, "--policies",
                           data("good"), NULL),
                     1);
    ck_assert_out("policies/a_owner.lua:15:");
    /* misuse */
    ck_assert_int_eq(gkctl("policy", "eval", "on_smile", "--input", input, NULL), 2);
    ck_assert_int_eq(gkctl("policy", "eval", "on_change", "--input", input, "--policies",
                           data("good"), NULL),
                     2);
    ck_assert_int_eq(gkctl("policy", "eval", "authorize", NULL), 2);
    gkt_rmtree(dir);
}
END_TEST

START_TEST(test_schema_check)
{
    char pol[1024];

    snprintf(pol, sizeof pol, "%s", data("schema"));

    ck_assert_int_eq(gkctl("schema", "check", "--mode", "BACKWARD", data("schema/v2_ok.avsc"),
                           data("schema/v1.avsc"), "--policies", pol, NULL),
                     0);
    ck_assert_out("compatible (BACKWARD)");
    ck_assert_int_eq(gkctl("schema", "check", "--mode", "FULL_TRANSITIVE",
                           data("schema/v2_bad.avsc"), data("schema/v1.avsc"),
                           data("schema/v2_ok.avsc"), "--policies", pol, NULL),
                     1);
    ck_assert_out("/fields/1: field customer_name was removed");
    ck_assert_out("/fields/2: field note was removed");
    ck_assert_int_eq(gkctl("schema", "check", "--mode", "NONE", data("schema/v2_bad.avsc"),
                           data("schema/v1.avsc"), "--policies", pol, NULL),
                     0);
    ck_assert_int_eq(gkctl("schema", "check", "--mode", "BACKWARD", data("schema/invalid.avsc"),
                           data("schema/v1.avsc"), "--policies", pol, NULL),
                     2);
    ck_assert_out("invalid schema");
    ck_assert_int_eq(gkctl("schema", "check", "--mode", "SIDEWAYS", data("schema/v2_ok.avsc"),
                           data("schema/v1.avsc"), "--policies", pol, NULL),
                     2);
    ck_assert_out("BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, "
                  "FULL_TRANSITIVE, NONE");
    ck_assert_int_eq(gkctl("schema", "check", "--mode", "FULL", data("schema/notjson.avsc"),
                           data("schema/v1.avsc"), "--policies", pol, NULL),
                     2);
    ck_assert_out("notjson.avsc:");
    ck_assert_int_eq(gkctl("schema", "check", "--mode", "FULL", data("schema/v1.avsc"), NULL), 2);
    ck_assert_int_eq(gkctl("--json", "schema", "check", "--mode", "BACKWARD",
                           data("schema/v2_bad.avsc"), data("schema/v2_ok.avsc"), "--policies",
                           pol, NULL),
                     1);
    ck_assert_out("\"compatible\": false");
}
END_TEST

START_TEST(test_shipped_policies)
{
    char src[512], dir[256], copy[512], path[700];
    const char *cp[] = {"/bin/cp", "-r", src, copy, NULL};
    char *text;
    int lines = 0;

    snprintf(src, sizeof src, "%s/policies", gkt_env("GK_SOURCE_DIR"));
    snprintf(path, sizeof path, "%s/ownership.lua", src);
    text = gkt_read_file(path);
    if (text == NULL) {
        return; /* the shipped policies are not in this tree yet */
    }
    ck_assert_int_eq(gkctl("policy", "test", src, NULL), 0);
    ck_assert_out(" passed, 0 failed");
    /* a broken copy fails with file:line */
    gkt_tempdir(dir);
    snprintf(copy, sizeof copy, "%s/policies", dir);
    ck_assert_int_eq(gkt_run(cp, NULL, out, sizeof out, 10000), 0);
    snprintf(path, sizeof path, "%s/ownership.lua", copy);
    for (const char *p = text; *p != '\0'; p++) {
        lines += *p == '\n';
    }
    size_t len = strlen(text);
    char *broken = malloc(len + 64);
    ck_assert_ptr_nonnull(broken);
    snprintf(broken, len + 64, "%s%slocal broken = = 1\n", text,
             len > 0 && text[len - 1] != '\n' ? "\n" : "");
    ck_assert_int_eq(gkt_write_file(path, broken, 0644), 0);
    ck_assert_int_eq(gkctl("policy", "test", copy, NULL), 1);
    char want[64];
    snprintf(want, sizeof want, "policies/ownership.lua:%d:",
             lines + (len > 0 && text[len - 1] != '\n' ? 2 : 1));
    ck_assert_out(want);
    free(broken);
    free(text);
    gkt_rmtree(dir);
}
END_TEST

static Suite *
gkctl_suite(void)
{
    Suite *s = suite_create("gkctl_policy");
    TCase *tc = tcase_create("gkctl");

    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_policy_test_good);
    tcase_add_test(tc, test_policy_test_failing);
    tcase_add_test(tc, test_policy_test_broken);
    tcase_add_test(tc, test_policy_eval);
    tcase_add_test(tc, test_schema_check);
    tcase_add_test(tc, test_shipped_policies);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(gkctl_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
