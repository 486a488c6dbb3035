/*
 * clause_test.c - every operator, match and no-match, absent attributes, wrong types, and the
 * parser's errors. JSON in this file is written with ' for " (see J()).
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "clause.h"

/* JSON from a string written with single quotes, for readability. */
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
    ck_assert_msg(j != NULL, "bad test JSON %s: %s", s, err.text);
    free(s);
    return j;
}

/* Whether clause `clause_text` matches context `ctx_text`. */
static bool
match(const char *clause_text, const char *ctx_text)
{
    json_t *cj = J(clause_text);
    json_t *ctx = J(ctx_text);
    gkd_clause c;
    gk_diag diag = {0};
    bool m;

    ck_assert_msg(gkd_clause_parse(&c, cj, "f", "r", 0, "test", &diag) == GK_OK, "%s: %s",
                  clause_text, diag.text);
    m = gkd_clause_match(&c, ctx);
    gkd_clause_fini(&c);
    json_decref(cj);
    json_decref(ctx);
    return m;
}

/* The parser's error text for `clause_text` (which must be refused). */
static void
refused(const char *clause_text, const char *expect)
{
    json_t *cj = J(clause_text);
    gkd_clause c;
    gk_diag diag = {0};

    ck_assert_int_eq(gkd_clause_parse(&c, cj, "f", "r", 0, "test", &diag), GK_EPROTO);
    ck_assert_int_eq(diag.code, GK_EPROTO);
    ck_assert_msg(strncmp(diag.text, "flag \"f\": rule \"r\": clause 1: ", 29) == 0,
                  "diag \"%s\" does not name the clause", diag.text);
    ck_assert_msg(strstr(diag.text, expect) != NULL, "diag \"%s\" lacks \"%s\"", diag.text, expect);
    ck_assert_ptr_null(c.attribute); /* nothing left allocated */
    json_decref(cj);
}

START_TEST(test_equals)
{
    ck_assert(match("{'attribute':'region','op':'equals','value':'eu'}", "{'region':'eu'}"));
    ck_assert(!match("{'attribute':'region','op':'equals','value':'eu'}", "{'region':'us'}"));
    ck_assert(!match("{'attribute':'region','op':'equals','value':'eu'}", "{'region':'eu-west'}"));
    ck_assert(!match("{'attribute':'region','op':'equals','value':'eu'}", "{'region':'EU'}"));
    ck_assert(match("{'attribute':'region','op':'equals','value':''}", "{'region':''}"));
}
END_TEST

START_TEST(test_not_equals)
{
    ck_assert(match("{'attribute':'region','op':'not_equals','value':'eu'}", "{'region':'us'}"));
    ck_assert(!match("{'attribute':'region','op':'not_equals','value':'eu'}", "{'region':'eu'}"));
}
END_TEST

START_TEST(test_starts_ends_with)
{
    ck_assert(match("{'attribute':'email','op':'ends_with','value':'@acme.io'}",
                    "{'email':'ann@acme.io'}"));
    ck_assert(!match("{'attribute':'email','op':'ends_with','value':'@acme.io'}",
                     "{'email':'ann@acme.io.evil'}"));
    ck_assert(
        !match("{'attribute':'email','op':'ends_with','value':'@acme.io'}", "{'email':'io'}"));
    ck_assert(
        match("{'attribute':'tenant','op':'starts_with','value':'eu-'}", "{'tenant':'eu-42'}"));
    ck_assert(
        !match("{'attribute':'tenant','op':'starts_with','value':'eu-'}", "{'tenant':'us-eu-42'}"));
    ck_assert(!match("{'attribute':'tenant','op':'starts_with','value':'eu-'}", "{'tenant':'eu'}"));
}
END_TEST

START_TEST(test_in_not_in)
{
    const char *in = "{'attribute':'plan','op':'in','values':['gold','platinum',7,true]}";
    const char *not_in = "{'attribute':'plan','op':'not_in','values':['gold','platinum',7,true]}";

    ck_assert(match(in, "{'plan':'gold'}"));
    ck_assert(match(in, "{'plan':'platinum'}"));
    ck_assert(!match(in, "{'plan':'silver'}"));
    ck_assert(match(in, "{'plan':7}"));
    ck_assert(match(in, "{'plan':7.0}"));  /* JSON numbers compare by value */
    ck_assert(!match(in, "{'plan':'7'}")); /* no coercion */
    ck_assert(match(in, "{'plan':true}"));
    ck_assert(!match(in, "{'plan':false}"));
    ck_assert(!match(in, "{'plan':1}")); /* true is not 1 */
    ck_assert(match(not_in, "{'plan':'silver'}"));
    ck_assert(!match(not_in, "{'plan':'gold'}"));
    ck_assert(match(not_in, "{'plan':false}"));
}
END_TEST

START_TEST(test_numeric)
{
    ck_assert(match("{'attribute':'seats','op':'lt','value':10}", "{'seats':9}"));
    ck_assert(!match("{'attribute':'seats','op':'lt','value':10}", "{'seats':10}"));
    ck_assert(match("{'attribute':'seats','op':'lte','value':10}", "{'seats':10}"));
    ck_assert(!match("{'attribute':'seats','op':'lte','value':10}", "{'seats':10.5}"));
    ck_assert(match("{'attribute':'seats','op':'gt','value':10}", "{'seats':10.5}"));
    ck_assert(!match("{'attribute':'seats','op':'gt','value':10}", "{'seats':10}"));
    ck_assert(match("{'attribute':'seats','op':'gte','value':10}", "{'seats':10}"));
    ck_assert(!match("{'attribute':'seats','op':'gte','value':10}", "{'seats':-3}"));
    ck_assert(match("{'attribute':'score','op':'gte','value':0.25}", "{'score':0.5}"));
    ck_assert(!match("{'attribute':'score','op':'gte','value':0.25}", "{'score':0}"));
    /* Exact for integers beyond 2^53, where a double would round. */
    ck_assert(
        match("{'attribute':'id','op':'gt','value':9007199254740992}", "{'id':9007199254740993}"));
}
END_TEST

START_TEST(test_semver)
{
    const char *ctx = "{'appVersion':'2.1.0'}";

    ck_assert(match("{'attribute':'appVersion','op':'semver_eq','value':'2.1.0'}", ctx));
    ck_assert(match("{'attribute':'appVersion','op':'semver_eq','value':'2.1.0'}",
                    "{'appVersion':'2.1.0+build.9'}"));
    ck_assert(!match("{'attribute':'appVersion','op':'semver_eq','value':'2.1.0'}",
                     "{'appVersion':'2.1.0-rc.1'}"));
    ck_assert(match("{'attribute':'appVersion','op':'semver_gte','value':'2.1.0'}", ctx));
    ck_assert(match("{'attribute':'appVersion','op':'semver_gte','value':'2.1.0'}",
                    "{'appVersion':'2.10.0'}"));
    ck_assert(!match("{'attribute':'appVersion','op':'semver_gte','value':'2.1.0'}",
                     "{'appVersion':'2.1.0-rc.1'}"));
    ck_assert(match("{'attribute':'appVersion','op':'semver_gt','value':'2.0.9'}", ctx));
    ck_assert(!match("{'attribute':'appVersion','op':'semver_gt','value':'2.1.0'}", ctx));
    ck_assert(match("{'attribute':'appVersion','op':'semver_lt','value':'2.1.1'}", ctx));
    ck_assert(!match("{'attribute':'appVersion','op':'semver_lt','value':'2.1.0'}", ctx));
    ck_assert(match("{'attribute':'appVersion','op':'semver_lte','value':'2.1.0'}", ctx));
    ck_assert(!match("{'attribute':'appVersion','op':'semver_lte','value':'2.0.0'}", ctx));
    /* A context value that is not a version never matches. */
    ck_assert(!match("{'attribute':'appVersion','op':'semver_lt','value':'9.0.0'}",
                     "{'appVersion':'v2.1.0'}"));
    ck_assert(!match("{'attribute':'appVersion','op':'semver_lt','value':'9.0.0'}",
                     "{'appVersion':'2.1'}"));
}
END_TEST

START_TEST(test_absent_attribute_never_matches)
{
    static const char *const clauses[] = {
        "{'attribute':'a','op':'equals','value':'x'}",
        "{'attribute':'a','op':'not_equals','value':'x'}",
        "{'attribute':'a','op':'starts_with','value':''}",
        "{'attribute':'a','op':'ends_with','value':''}",
        "{'attribute':'a','op':'in','values':['x']}",
        "{'attribute':'a','op':'not_in','values':['x']}",
        "{'attribute':'a','op':'lt','value':1}",
        "{'attribute':'a','op':'lte','value':1}",
        "{'attribute':'a','op':'gt','value':1}",
        "{'attribute':'a','op':'gte','value':1}",
        "{'attribute':'a','op':'semver_eq','value':'1.0.0'}",
        "{'attribute':'a','op':'semver_lt','value':'1.0.0'}",
        "{'attribute':'a','op':'semver_lte','value':'1.0.0'}",
        "{'attribute':'a','op':'semver_gt','value':'1.0.0'}",
        "{'attribute':'a','op':'semver_gte','value':'1.0.0'}",
    };

    for (size_t i = 0; i < sizeof clauses / sizeof clauses[0]; i++) {
        ck_assert_msg(!match(clauses[i], "{'b':'x'}"), "%s matched an absent attribute",
                      clauses[i]);
        ck_assert_msg(!match(clauses[i], "{}"), "%s matched an empty context", clauses[i]);
    }
    /* A NULL context is an empty one. */
    {
        json_t *cj = J("{'attribute':'a','op':'not_equals','value':'x'}");
        gkd_clause c;
        ck_assert_int_eq(gkd_clause_parse(&c, cj, "f", "r", 0, NULL, NULL), GK_OK);
        ck_assert(!gkd_clause_match(&c, NULL));
        ck_assert(!gkd_clause_match_value(&c, NULL));
        gkd_clause_fini(&c);
        json_decref(cj);
    }
}
END_TEST

START_TEST(test_wrong_type_never_matches)
{
    /* String operators, negative ones included, need a string. */
    ck_assert(!match("{'attribute':'a','op':'equals','value':'5'}", "{'a':5}"));
    ck_assert(!match("{'attribute':'a','op':'not_equals','value':'x'}", "{'a':5}"));
    ck_assert(!match("{'attribute':'a','op':'starts_with','value':'t'}", "{'a':true}"));
    ck_assert(!match("{'attribute':'a','op':'not_equals','value':'x'}", "{'a':null}"));
    /* Numeric operators need a number: no string coercion. */
    ck_assert(!match("{'attribute':'a','op':'gt','value':1}", "{'a':'5'}"));
    ck_assert(!match("{'attribute':'a','op':'lt','value':10}", "{'a':false}"));
    /* Semver operators need a string. */
    ck_assert(!match("{'attribute':'a','op':'semver_lt','value':'9.0.0'}", "{'a':2}"));
    /* in/not_in need a scalar. */
    ck_assert(!match("{'attribute':'a','op':'not_in','values':['x']}", "{'a':['y']}"));
    ck_assert(!match("{'attribute':'a','op':'not_in','values':['x']}", "{'a':{'y':1}}"));
    ck_assert(!match("{'attribute':'a','op':'not_in','values':['x']}", "{'a':null}"));
}
END_TEST

START_TEST(test_parse_errors)
{
    refused("{'attribute':'a','op':'eq','value':'x'}", "unknown op \"eq\" (use \"equals\")");
    refused("{'attribute':'a','op':'semverGte','value':'1.0.0'}", "(use \"semver_gte\")");
    refused("{'attribute':'a','op':'!=','value':'x'}", "(use \"not_equals\")");
    refused("{'attribute':'a','op':'matches','value':'x'}", "unknown op \"matches\"");
    refused("{'attribute':'a','op':'equals','value':'x','negate':true}",
            "unknown member \"negate\"");
    refused("{'op':'equals','value':'x'}", "\"attribute\" must be a non-empty string");
    refused("{'attribute':'','op':'equals','value':'x'}", "\"attribute\" must be");
    refused("{'attribute':'a','value':'x'}", "\"op\" is required");
    refused("{'attribute':'a','op':'in','value':'x'}", "takes \"values\"");
    refused("{'attribute':'a','op':'in','values':[]}", "non-empty array");
    refused("{'attribute':'a','op':'in','values':['x',null]}", "\"values\"[1]");
    refused("{'attribute':'a','op':'equals','values':['x']}", "takes \"value\", not \"values\"");
    refused("{'attribute':'a','op':'equals'}", "needs \"value\"");
    refused("{'attribute':'a','op':'equals','value':5}", "needs a string \"value\"");
    refused("{'attribute':'a','op':'gt','value':'10'}", "needs a number \"value\"");
    refused("{'attribute':'a','op':'semver_gte','value':'2.1'}",
            "\"2.1\" is not a SemVer 2.0.0 version");
    refused("['attribute']", "must be an object");
    refused("'attribute'", "must be an object");
}
END_TEST

START_TEST(test_op_names)
{
    ck_assert_str_eq(gkd_clause_op_name(GKD_CLAUSE_EQUALS), "equals");
    ck_assert_str_eq(gkd_clause_op_name(GKD_CLAUSE_SEMVER_GTE), "semver_gte");
    ck_assert_str_eq(gkd_clause_op_name(GKD_CLAUSE_NOT_IN), "not_in");
}
END_TEST

static Suite *
clause_suite(void)
{
    Suite *s = suite_create("clause");
    TCase *tc = tcase_create("operators");

    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_equals);
    tcase_add_test(tc, test_not_equals);
    tcase_add_test(tc, test_starts_ends_with);
    tcase_add_test(tc, test_in_not_in);
    tcase_add_test(tc, test_numeric);
    tcase_add_test(tc, test_semver);
    suite_add_tcase(s, tc);
    tc = tcase_create("missing_and_types");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_absent_attribute_never_matches);
    tcase_add_test(tc, test_wrong_type_never_matches);
    suite_add_tcase(s, tc);
    tc = tcase_create("parse");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_op_names);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(clause_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
