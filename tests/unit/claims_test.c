/*
 * claims_test.c - the decision token's claims set: exact encoding (member order, omissions,
 * escaping), round trips, and the reader: strings, numbers and values as RFC 8259 has them,
 * every refusal (malformed JSON, wrong types, duplicates), and truncated or garbled input.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "claims.h"

/* A claims set with one entry of each shape, and its exact encoding. */
static json_t *v_true;
static json_t *v_obj;

static void
setup(void)
{
    v_true = json_true();
    v_obj = json_pack("{s:i,s:[s,s]}", "limit", 25, "regions", "eu", "us");
    ck_assert_ptr_nonnull(v_obj);
}

static void
teardown(void)
{
    json_decref(v_true);
    json_decref(v_obj);
}

static void
sample(gkp_claims *c, gkp_flag_claim f[3])
{
    memset(f, 0, 3 * sizeof(f[0]));
    f[0].key = "orders.read_v2";
    f[0].variant = "on";
    f[0].value = v_true;
    f[0].reason = GK_REASON_SPLIT;
    f[0].rule_id = "eu";
    f[1].key = "checkout.limits";
    f[1].variant = "strict";
    f[1].value = v_obj;
    f[1].reason = GK_REASON_TARGETING_MATCH;
    f[1].rule_id = "targets";
    f[2].key = "nope";
    f[2].reason = GK_REASON_ERROR;
    f[2].error_code = GK_ERROR_FLAG_NOT_FOUND;
    f[2].error_message = "no flag \"nope\" in snapshot 7";
    memset(c, 0, sizeof(*c));
    c->iat = 1763740000;
    c->exp = 1763740300;
    c->snapshot_version = 7;
    c->sub = "Mq1Q4yB0gVnKmXg9c3bYQ3l7pGJtqv3sW0f0hF1yN7E";
    c->nonce = "q7Xv2Lr9T0aP4mWc1sHnZg";
    c->nflags = 3;
    c->flags = f;
}

#define SAMPLE_JSON                                                                                \
    "{\"iss\":\"gatekeeper\",\"iat\":1763740000,\"exp\":1763740300,\"snapshotVersion\":7,"         \
    "\"sub\":\"Mq1Q4yB0gVnKmXg9c3bYQ3l7pGJtqv3sW0f0hF1yN7E\",\"nonce\":\"q7Xv2Lr9T0aP4mWc1sHnZg\","\
    "\"flags\":["                                                                                \
    "{\"key\":\"orders.read_v2\",\"variant\":\"on\",\"value\":true,\"reason\":\"SPLIT\","          \
    "\"ruleId\":\"eu\"},"                                                                          \
    "{\"key\":\"checkout.limits\",\"variant\":\"strict\",\"value\":{\"limit\":25,\"regions\":["    \
    "\"eu\",\"us\"]},\"reason\":\"TARGETING_MATCH\",\"ruleId\":\"targets\"},"                      \
    "{\"key\":\"nope\",\"reason\":\"ERROR\",\"errorCode\":\"FLAG_NOT_FOUND\",\"errorMessage\":"    \
    "\"no flag \\\"nope\\\" in snapshot 7\"}]}"

START_TEST(test_encode_exact)
{
    gkp_claims c;
    gkp_flag_claim f[3];
    char *out = NULL;
    size_t len = 0;

    sample(&c, f);
    ck_assert_int_eq(gkp_claims_encode(&out, &len, &c), GK_OK);
    ck_assert_str_eq(out, SAMPLE_JSON);
    ck_assert_uint_eq(len, strlen(SAMPLE_JSON));
    free(out);
}
END_TEST

START_TEST(test_encode_no_sub_no_flags)
{
    gkp_claims c;
    char *out = NULL;

    memset(&c, 0, sizeof(c));
    c.iat = -5;
    c.exp = INT64_MAX;
    c.snapshot_version = (uint64_t) INT64_MAX;
    ck_assert_int_eq(gkp_claims_encode(&out, NULL, &c), GK_OK);
    ck_assert_str_eq(out, "{\"iss\":\"gatekeeper\",\"iat\":-5,\"exp\":9223372036854775807,"
                          "\"snapshotVersion\":9223372036854775807,\"flags\":[]}");
    free(out);
}
END_TEST

/* Integers written digit by digit, as printf writes them, at every power-of-ten edge and both
 * ends of int64_t. */
START_TEST(test_encode_integers_as_printf)
{
    int64_t values[64];
    size_t nvalues = 0;
    char want[256];
    char *out = NULL;

    values[nvalues++] = INT64_MIN;
    values[nvalues++] = INT64_MIN + 1;
    values[nvalues++] = INT64_MAX;
    values[nvalues++] = 0;
    for (int64_t p = 1; p <= INT64_MAX / 10; p *= 10) {
        values[nvalues++] = p;
        values[nvalues++] = p * 10 - 1;
        values[nvalues++] = -p;
    }
    for (size_t i = 0; i < nvalues; i++) {
        gkp_claims c = {.iat = values[i], .exp = values[i] / -3,
                        .snapshot_version = values[i] < 0 ? 0 : (uint64_t) values[i]};

        ck_assert_int_eq(gkp_claims_encode(&out, NULL, &c), GK_OK);
        snprintf(want, sizeof(want),
                 "{\"iss\":\"gatekeeper\",\"iat\":%" PRId64 ",\"exp\":%" PRId64
                 ",\"snapshotVersion\":%" PRIu64 ",\"flags\":[]}",
                 c.iat, c.exp, c.snapshot_version);
        ck_assert_str_eq(out, want);
        free(out);
    }
}
END_TEST

START_TEST(test_encode_disabled_entry)
{
    gkp_flag_claim f = {.key = "payments.new_psp", .reason = GK_REASON_DISABLED};
    gkp_claims c = {.iat = 1, .exp = 2, .snapshot_version = 3, .nflags = 1, .flags = &f};
    char *out = NULL;

    ck_assert_int_eq(gkp_claims_encode(&out, NULL, &c), GK_OK);
    ck_assert_str_eq(out, "{\"iss\":\"gatekeeper\",\"iat\":1,\"exp\":2,\"snapshotVersion\":3,"
                          "\"flags\":[{\"key\":\"payments.new_psp\",\"reason\":\"DISABLED\"}]}");
    free(out);
}
END_TEST

/* Strings that need escaping come out as jansson writes them and decode to the original. */
START_TEST(test_encode_escapes)
{
    static const char *const keys[] = {"quote\"d", "back\\slash", "new\nline", "tab\tand\x01",
                                       "caf\xc3\xa9", "emoji \xf0\x9f\x9a\x80", "del\x7f"};
    const char *key = keys[_i];
    gkp_flag_claim f = {.key = key, .variant = key, .reason = GK_REASON_STATIC, .rule_id = key};
    gkp_claims c = {.iat = 1, .exp = 2, .snapshot_version = 3, .sub = key, .nflags = 1,
                    .flags = &f};
    gkp_claims_doc *doc = NULL;
    const gkp_claims *d;
    char *out = NULL;
    size_t len = 0;

    ck_assert_int_eq(gkp_claims_encode(&out, &len, &c), GK_OK);
    ck_assert_int_eq(gkp_claims_decode(&doc, out, len, NULL), GK_OK);
    d = gkp_claims_doc_get(doc);
    ck_assert_str_eq(d->sub, key);
    ck_assert_str_eq(d->flags[0].key, key);
    ck_assert_str_eq(d->flags[0].variant, key);
    ck_assert_str_eq(d->flags[0].rule_id, key);
    gkp_claims_doc_free(doc);
    free(out);
}
END_TEST

START_TEST(test_encode_matches_jansson)
{
    gkp_claims c;
    gkp_flag_claim f[3];
    char *out = NULL;
    json_t *mine;
    json_t *ref;
    json_error_t jerr;

    sample(&c, f);
    ck_assert_int_eq(gkp_claims_encode(&out, NULL, &c), GK_OK);
    mine = json_loads(out, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(mine != NULL, "encoder output is not JSON: %s", jerr.text);
    ref = json_pack("{s:s,s:I,s:I,s:I,s:s,s:s,s:[{s:s,s:s,s:O,s:s,s:s},{s:s,s:s,s:O,s:s,s:s},"
                    "{s:s,s:s,s:s,s:s}]}",
                    "iss", "gatekeeper", "iat", (json_int_t) 1763740000, "exp",
                    (json_int_t) 1763740300, "snapshotVersion", (json_int_t) 7, "sub", c.sub,
                    "nonce", c.nonce, "flags", "key", "orders.read_v2", "variant", "on", "value",
                    v_true, "reason", "SPLIT", "ruleId", "eu", "key", "checkout.limits",
                    "variant", "strict", "value", v_obj, "reason", "TARGETING_MATCH", "ruleId",
                    "targets", "key", "nope", "reason", "ERROR", "errorCode", "FLAG_NOT_FOUND",
                    "errorMessage", "no flag \"nope\" in snapshot 7");
    ck_assert_ptr_nonnull(ref);
    ck_assert(json_equal(mine, ref));
    json_decref(mine);
    json_decref(ref);
    free(out);
}
END_TEST

/* Each shape of flag value and mask is written exactly as jansson's compact dump writes it. */
START_TEST(test_encode_values_as_jansson)
{
    static const char *const values[] = {
        "true", "false", "null", "\"plain\"", "\"\\u00e9 \\\"q\\\" \\\\ \\n \\u0001\"",
        "\"a\\u0000b\"", "[]", "[\"a\",\"b\\/c\",\"\\u00e9\"]", "[\"a\",1]", "[[\"a\"]]",
        "{\"k\":[true,null]}", "0", "-12", "1.5", "[null]"};
    json_t *v = json_loads(values[_i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    gkp_flag_claim f = {.key = "k", .value = v, .reason = GK_REASON_STATIC, .mask = v};
    gkp_claims c = {.iat = 1, .exp = 2, .snapshot_version = 3, .nflags = 1, .flags = &f};
    char *out = NULL, *ref_text, *want;
    size_t len;

    ck_assert_ptr_nonnull(v);
    ref_text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    ck_assert_ptr_nonnull(ref_text);
    len = strlen(ref_text) * 2 + 200;
    want = malloc(len);
    ck_assert_ptr_nonnull(want);
    /* a mask is written only when it is a non-empty array */
    if (json_is_array(v) && json_array_size(v) > 0) {
        snprintf(want, len,
                 "{\"iss\":\"gatekeeper\",\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":["
                 "{\"key\":\"k\",\"value\":%s,\"reason\":\"STATIC\",\"mask\":%s}]}",
                 ref_text, ref_text);
    } else {
        snprintf(want, len,
                 "{\"iss\":\"gatekeeper\",\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":["
                 "{\"key\":\"k\",\"value\":%s,\"reason\":\"STATIC\"}]}",
                 ref_text);
    }
    ck_assert_int_eq(gkp_claims_encode(&out, NULL, &c), GK_OK);
    ck_assert_str_eq(out, want);
    free(out);
    free(want);
    free(ref_text);
    json_decref(v);
}
END_TEST

START_TEST(test_encode_refuses)
{
    gkp_flag_claim f = {.key = NULL, .reason = GK_REASON_STATIC};
    gkp_claims c = {.iat = 1, .exp = 2, .nflags = 1, .flags = &f};
    char *out = NULL;

    ck_assert_int_eq(gkp_claims_encode(&out, NULL, &c), GK_EINVAL);
    f.key = "bad\xff utf8";
    ck_assert_int_eq(gkp_claims_encode(&out, NULL, &c), GK_EINVAL);
    f.key = "ok";
    f.variant = "\xc3";
    ck_assert_int_eq(gkp_claims_encode(&out, NULL, &c), GK_EINVAL);
    f.variant = NULL;
    c.snapshot_version = (uint64_t) INT64_MAX + 1;
    ck_assert_int_eq(gkp_claims_encode(&out, NULL, &c), GK_EINVAL);
    c.snapshot_version = 1;
    c.flags = NULL;
    ck_assert_int_eq(gkp_claims_encode(&out, NULL, &c), GK_EINVAL);
    ck_assert_int_eq(gkp_claims_encode(&out, NULL, NULL), GK_EINVAL);
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_round_trip)
{
    gkp_claims c;
    gkp_flag_claim f[3];
    gkp_claims_doc *doc = NULL;
    const gkp_claims *d;
    char *out = NULL;
    size_t len = 0;
    gk_diag diag = {0};

    sample(&c, f);
    ck_assert_int_eq(gkp_claims_encode(&out, &len, &c), GK_OK);
    ck_assert_int_eq(gkp_claims_decode(&doc, out, len, &diag), GK_OK);
    ck_assert_int_eq(diag.code, GK_OK);
    d = gkp_claims_doc_get(doc);
    ck_assert_int_eq(d->iat, 1763740000);
    ck_assert_int_eq(d->exp, 1763740300);
    ck_assert_uint_eq(d->snapshot_version, 7);
    ck_assert_str_eq(d->sub, c.sub);
    ck_assert_str_eq(d->nonce, c.nonce);
    ck_assert_uint_eq(d->nflags, 3);
    ck_assert_str_eq(d->flags[0].key, "orders.read_v2");
    ck_assert_str_eq(d->flags[0].variant, "on");
    ck_assert(json_equal(d->flags[0].value, v_true));
    ck_assert_int_eq(d->flags[0].reason, GK_REASON_SPLIT);
    ck_assert_str_eq(d->flags[0].rule_id, "eu");
    ck_assert_int_eq(d->flags[0].error_code, GK_ERROR_NONE);
    ck_assert_ptr_null(d->flags[0].error_message);
    ck_assert(json_equal(d->flags[1].value, v_obj));
    ck_assert_int_eq(d->flags[1].reason, GK_REASON_TARGETING_MATCH);
    ck_assert_str_eq(d->flags[2].key, "nope");
    ck_assert_ptr_null(d->flags[2].variant);
    ck_assert_ptr_null(d->flags[2].value);
    ck_assert_ptr_null(d->flags[2].rule_id);
    ck_assert_int_eq(d->flags[2].reason, GK_REASON_ERROR);
    ck_assert_int_eq(d->flags[2].error_code, GK_ERROR_FLAG_NOT_FOUND);
    ck_assert_str_eq(d->flags[2].error_message, "no flag \"nope\" in snapshot 7");
    gkp_claims_doc_free(doc);
    gkp_claims_doc_free(NULL);
    free(out);
}
END_TEST

/* A mask list rides on its entry and comes back as the same array; an empty one is left out. */
START_TEST(test_round_trip_mask)
{
    gkp_claims c;
    gkp_flag_claim f[3];
    gkp_claims_doc *doc = NULL;
    json_t *mask = json_pack("[s,s]", "customer_email", "address.street");
    json_t *empty = json_array();
    const gkp_claims *d;
    char *out = NULL;
    size_t len = 0;
    gk_diag diag = {0};

    sample(&c, f);
    f[0].mask = mask;
    f[1].mask = empty;
    ck_assert_int_eq(gkp_claims_encode(&out, &len, &c), GK_OK);
    ck_assert_ptr_nonnull(strstr(out, "\"mask\":[\"customer_email\",\"address.street\"]"));
    ck_assert_int_eq(gkp_claims_decode(&doc, out, len, &diag), GK_OK);
    d = gkp_claims_doc_get(doc);
    ck_assert(json_equal(d->flags[0].mask, mask));
    ck_assert_ptr_null(d->flags[1].mask);
    ck_assert_ptr_null(d->flags[2].mask);
    gkp_claims_doc_free(doc);
    free(out);
    json_decref(mask);
    json_decref(empty);
}
END_TEST

/* Many flags with large values exercise the encoder's buffer growth. */
START_TEST(test_round_trip_many_flags)
{
    enum { N = 1024 };
    gkp_flag_claim *f = calloc(N, sizeof(*f));
    char (*keys)[32] = calloc(N, sizeof(*keys));
    char *big = malloc(5001);
    json_t *bigv;
    gkp_claims c = {.iat = 10, .exp = 20, .snapshot_version = 99, .nflags = N};
    gkp_claims_doc *doc = NULL;
    const gkp_claims *d;
    char *out = NULL;
    size_t len = 0;
    size_t i;

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(keys);
    ck_assert_ptr_nonnull(big);
    memset(big, 'v', 5000);
    big[5000] = '\0';
    bigv = json_string(big);
    for (i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "flag.%zu", i);
        f[i].key = keys[i];
        f[i].variant = "on";
        f[i].value = (i % 100 == 0) ? bigv : v_true;
        f[i].reason = GK_REASON_DEFAULT;
    }
    c.flags = f;
    ck_assert_int_eq(gkp_claims_encode(&out, &len, &c), GK_OK);
    ck_assert_uint_eq(len, strlen(out));
    ck_assert_int_eq(gkp_claims_decode(&doc, out, len, NULL), GK_OK);
    d = gkp_claims_doc_get(doc);
    ck_assert_uint_eq(d->nflags, N);
    ck_assert_str_eq(d->flags[N - 1].key, "flag.1023");
    ck_assert_str_eq(json_string_value(d->flags[500].value), big);
    gkp_claims_doc_free(doc);
    json_decref(bigv);
    free(out);
    free(big);
    free(keys);
    free(f);
}
END_TEST

START_TEST(test_decode_forward_compatible)
{
    static const char json[] =
        "{\"iss\":\"gatekeeper\",\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"future\":[1],"
        "\"flags\":[{\"key\":\"a\",\"reason\":\"SOMETHING_NEW\",\"x\":{}},"
        "{\"key\":\"b\",\"reason\":\"ERROR\",\"errorCode\":\"NEW_CODE\"},"
        "{\"key\":\"c\",\"reason\":\"STATIC\",\"value\":null}]}";
    gkp_claims_doc *doc = NULL;
    const gkp_claims *d;

    ck_assert_int_eq(gkp_claims_decode(&doc, json, sizeof(json) - 1, NULL), GK_OK);
    d = gkp_claims_doc_get(doc);
    ck_assert_ptr_null(d->sub);
    ck_assert_ptr_null(d->nonce);
    ck_assert_int_eq(d->flags[0].reason, GK_REASON_UNKNOWN);
    ck_assert_int_eq(d->flags[1].error_code, GK_ERROR_GENERAL);
    ck_assert(json_is_null(d->flags[2].value));
    gkp_claims_doc_free(doc);
}
END_TEST

/* Claims sets that must be refused, with text the diag must contain. */
static const struct {
    const char *json;
    const char *text;
} bad_claims[] = {
    {"", "invalid JSON"},
    {"{\"iat\":1,", "invalid JSON"},
    {"[1,2]", "not a JSON object"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"STATIC\","
     "\"mask\":\"email\"}]}",
     "mask is not an array"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"STATIC\","
     "\"mask\":[\"email\",7]}]}",
     "mask[1]"},
    {"{\"exp\":2,\"snapshotVersion\":3,\"flags\":[]}", "\"iat\""},
    {"{\"iat\":\"1\",\"exp\":2,\"snapshotVersion\":3,\"flags\":[]}", "\"iat\""},
    {"{\"iat\":1,\"snapshotVersion\":3,\"flags\":[]}", "\"exp\""},
    {"{\"iat\":1,\"exp\":2.5,\"snapshotVersion\":3,\"flags\":[]}", "\"exp\""},
    {"{\"iat\":1,\"exp\":2,\"flags\":[]}", "\"snapshotVersion\""},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":-3,\"flags\":[]}", "negative"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3}", "\"flags\""},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":{}}", "\"flags\""},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"sub\":7,\"flags\":[]}", "\"sub\""},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"nonce\":7,\"flags\":[]}",
     "\"nonce\" is not a string"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"nonce\":null,\"flags\":[]}",
     "\"nonce\" is not a string"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[7]}", "flags[0] is not an object"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"reason\":\"STATIC\"}]}",
     "flags[0] has no string \"key\""},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":1,\"reason\":\"STATIC\"}]}",
     "flags[0] has no string \"key\""},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\"}]}",
     "flags[0] has no string \"reason\""},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"STATIC\"},"
     "{\"key\":\"b\",\"reason\":\"STATIC\",\"variant\":1}]}",
     "flags[1].variant is not a string"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"STATIC\","
     "\"ruleId\":[]}]}",
     "flags[0].ruleId is not a string"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"ERROR\","
     "\"errorCode\":3}]}",
     "flags[0].errorCode is not a string"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"ERROR\","
     "\"errorMessage\":false}]}",
     "flags[0].errorMessage is not a string"},
    /* malformed JSON, anywhere */
    {" ", "invalid JSON"},
    {"{\"iat\":1 \"exp\":2}", "',' or '}'"},
    {"{\"iat\" 1}", "':'"},
    {"{iat:1}", "a string was expected"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[]}}", "text follows"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[]", "',' or '}'"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":[1,}]}", "invalid JSON"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":tru}", "invalid JSON"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":01}", "invalid JSON"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":1.}", "fraction"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":1e+}", "exponent"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":-}", "digit"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":\"abc}", "not closed"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":\"a\\qb\"}", "unknown escape"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":\"\\u12G4\"}", "hex digits"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":\"\\ud800\"}", "surrogate"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":\"\\ud800\\u0041\"}",
     "surrogate"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":\"\\udc00\"}", "surrogate"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":\"\\u0000\"}", "\\u0000"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":\"a\tb\"}", "control"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":\"\xc0\xaf\"}", "not UTF-8"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":\"\xed\xa0\x80\"}",
     "not UTF-8"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[],\"x\":\"\xe2\x82\"}", "not UTF-8"},
    {"{\"iat\":9223372036854775808,\"exp\":2,\"snapshotVersion\":3,\"flags\":[]}", "too large"},
    {"{\"iat\":-9223372036854775809,\"exp\":2,\"snapshotVersion\":3,\"flags\":[]}", "too large"},
    {"{\"iat\":1e3,\"exp\":2,\"snapshotVersion\":3,\"flags\":[]}", "\"iat\""},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"STATIC\","
     "\"value\":[1,2}]}",
     "invalid JSON"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"STATIC\","
     "\"value\":\"\\x\"}]}",
     "unknown escape"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"STATIC\","
     "\"mask\":[\"\"]}]}",
     "mask[0] is not a non-empty string"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"STATIC\","
     "\"mask\":[\"a\" \"b\"]}]}",
     "',' or ']'"},
    /* numbers a JSON value may hold but jansson cannot */
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"STATIC\","
     "\"value\":1e400}]}",
     "flags[0].value: real number overflow"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"STATIC\","
     "\"value\":[99999999999999999999]}]}",
     "an integer is too large"},
    /* a known member given twice (RFC 7519 section 4) */
    {"{\"iat\":1,\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[]}",
     "\"iat\" is given twice"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"nonce\":\"a\",\"nonce\":\"b\",\"flags\":[]}",
     "\"nonce\" is given twice"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"key\":\"b\","
     "\"reason\":\"STATIC\"}]}",
     "flags[0].\"key\" is given twice"},
    {"{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[{\"key\":\"a\",\"reason\":\"STATIC\","
     "\"value\":true,\"value\":false}]}",
     "flags[0].\"value\" is given twice"},
};

START_TEST(test_decode_refuses)
{
    gkp_claims_doc *doc = NULL;
    gk_diag d = {0};
    const char *json = bad_claims[_i].json;

    ck_assert_int_eq(gkp_claims_decode(&doc, json, strlen(json), &d), GK_EPROTO);
    ck_assert_ptr_null(doc);
    ck_assert_int_eq(d.code, GK_EPROTO);
    ck_assert_msg(strstr(d.text, bad_claims[_i].text) != NULL, "diag \"%s\" lacks \"%s\"", d.text,
                  bad_claims[_i].text);
}
END_TEST

/* Strings with every escape, raw UTF-8 and whitespace between all tokens decode to their text. */
START_TEST(test_decode_strings_and_space)
{
    static const char json[] =
        " {\n\t\"iat\" : -9223372036854775808 ,\r\n \"exp\":9223372036854775807,"
        "\"snapshotVersion\":0, \"s\\u0075b\" : \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\","
        "\"nonce\":\"\\u00e9\xc3\xa9\\ud83d\\ude00\xf0\x9f\x98\x80\\u20AC\","
        "\"flags\" : [ { \"key\" : \"k\" , \"reason\" : \"STATIC\" , \"value\" : "
        "\"x\\u0041\" , \"mask\" : [ \"a\\/b\" , \"c\" ] } ] } \n";
    gkp_claims_doc *doc = NULL;
    const gkp_claims *d;
    gk_diag diag = {0};

    ck_assert_int_eq(gkp_claims_decode(&doc, json, sizeof(json) - 1, &diag), GK_OK);
    d = gkp_claims_doc_get(doc);
    ck_assert(d->iat == INT64_MIN);
    ck_assert(d->exp == INT64_MAX);
    ck_assert_uint_eq(d->snapshot_version, 0);
    ck_assert_str_eq(d->sub, "a\"b\\c/d\b\f\n\r\t");
    ck_assert_str_eq(d->nonce, "\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xe2\x82\xac");
    ck_assert_uint_eq(d->nflags, 1);
    ck_assert_str_eq(json_string_value(d->flags[0].value), "xA");
    ck_assert_uint_eq(json_array_size(d->flags[0].mask), 2);
    ck_assert_str_eq(json_string_value(json_array_get(d->flags[0].mask, 0)), "a/b");
    ck_assert_str_eq(json_string_value(json_array_get(d->flags[0].mask, 1)), "c");
    gkp_claims_doc_free(doc);
}
END_TEST

/* Values of every JSON type, as jansson would have parsed them; unknown members of any shape. */
START_TEST(test_decode_values)
{
    static const char json[] =
        "{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"x\":{\"a\":[{},[],\"\\u0041\",-0.5e-3]},"
        "\"flags\":[{\"key\":\"a\",\"reason\":\"STATIC\",\"value\":-12},"
        "{\"key\":\"b\",\"reason\":\"STATIC\",\"value\":1.5e2},"
        "{\"key\":\"c\",\"reason\":\"STATIC\","
        "\"value\":{\"n\":[1,{\"m\":null}],\"s\":\"\\u00e9\"}},"
        "{\"key\":\"d\",\"reason\":\"STATIC\",\"value\":[ ]},"
        "{\"key\":\"e\",\"reason\":\"STATIC\",\"value\":false,\"y\":[[[\"z\"]]]},"
        "{\"key\":\"f\",\"reason\":\"DISABLED\",\"mask\":[]}],\"iss\":\"gatekeeper\"}";
    gkp_claims_doc *doc = NULL;
    const gkp_claims *d;
    json_t *want;

    ck_assert_int_eq(gkp_claims_decode(&doc, json, sizeof(json) - 1, NULL), GK_OK);
    d = gkp_claims_doc_get(doc);
    ck_assert_uint_eq(d->nflags, 6);
    ck_assert(json_is_integer(d->flags[0].value));
    ck_assert_int_eq(json_integer_value(d->flags[0].value), -12);
    ck_assert(json_is_real(d->flags[1].value));
    ck_assert(json_real_value(d->flags[1].value) == 150.0);
    want = json_loads("{\"n\":[1,{\"m\":null}],\"s\":\"\xc3\xa9\"}", 0, NULL);
    ck_assert(json_equal(d->flags[2].value, want));
    json_decref(want);
    ck_assert(json_is_array(d->flags[3].value) && json_array_size(d->flags[3].value) == 0);
    ck_assert(json_is_false(d->flags[4].value));
    ck_assert_ptr_null(d->flags[5].value);
    ck_assert_uint_eq(json_array_size(d->flags[5].mask), 0);
    gkp_claims_doc_free(doc);
}
END_TEST

/*
 * Nesting up to the limit is read, deeper is refused (not a crash): values at most 2048 levels
 * deep, the claims object being level 1 and every value one level deeper than the array or object
 * holding it, scalars included, as jansson counts. Cases: an unknown claim "x" of k arrays (an
 * empty innermost array at level 1 + k, a scalar in it at 2 + k), then a flag's value of k arrays
 * (levels 3 + k and 4 + k), then a flag's unknown member.
 */
static const struct {
    const char *member; /* "x" in the claims object, or "value" / "zz" in a flag entry */
    size_t k;           /* how many arrays */
    const char *inner;
    int ok;
} depth_cases[] = {
    {"x", 2047, "", 1},       {"x", 2047, "1", 0},      {"x", 2046, "1", 1},
    {"x", 2048, "", 0},       {"x", 100000, "", 0},     {"value", 2045, "", 1},
    {"value", 2044, "\"s\"", 1}, {"value", 2045, "\"s\"", 0}, {"value", 2046, "", 0},
    {"zz", 2045, "", 1},      {"zz", 2044, "1", 1},     {"zz", 2045, "1", 0},
};

START_TEST(test_decode_depth)
{
    static const char claims[] = "{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[";
    static const char entry[] = "{\"key\":\"a\",\"reason\":\"STATIC\",";
    int in_flag = strcmp(depth_cases[_i].member, "x") != 0;
    char head[200];
    const char *tail = in_flag ? "}]}" : "}";
    size_t k = depth_cases[_i].k, hn, in = strlen(depth_cases[_i].inner), n;
    char *json;
    json_t *jansson;
    gkp_claims_doc *doc = NULL;
    gk_diag d = {0};

    snprintf(head, sizeof head, "%s%s\"%s\":", claims, in_flag ? entry : "],",
             depth_cases[_i].member);
    hn = strlen(head);
    n = hn + k + in + k + strlen(tail);
    json = malloc(n + 1);
    ck_assert_ptr_nonnull(json);
    memcpy(json, head, hn);
    memset(json + hn, '[', k);
    memcpy(json + hn + k, depth_cases[_i].inner, in);
    memset(json + hn + k + in, ']', k);
    strcpy(json + hn + k + in + k, tail);
    jansson = json_loadb(json, n, 0, NULL); /* the count is jansson's: it agrees */
    ck_assert_msg((jansson != NULL) == depth_cases[_i].ok, "case %d: jansson disagrees", _i);
    json_decref(jansson);
    if (depth_cases[_i].ok) {
        ck_assert_msg(gkp_claims_decode(&doc, json, n, &d) == GK_OK, "case %d: %s", _i, d.text);
        gkp_claims_doc_free(doc);
    } else {
        ck_assert_int_eq(gkp_claims_decode(&doc, json, n, &d), GK_EPROTO);
        ck_assert_ptr_null(doc);
        ck_assert_msg(strstr(d.text, "nested too deeply") != NULL, "case %d: %s", _i, d.text);
    }
    free(json);
}
END_TEST

/* An integer out of range is reported at the offset where the number starts, however it ends. */
START_TEST(test_decode_integer_offset)
{
    static const char *const texts[] = {
        "{\"iat\":9223372036854775808,\"exp\":2,\"snapshotVersion\":3,\"flags\":[]}",
        "{\"iat\":99999999999999999999,\"exp\":2,\"snapshotVersion\":3,\"flags\":[]}",
        "{\"iat\":-9223372036854775809,\"exp\":2,\"snapshotVersion\":3,\"flags\":[]}",
    };
    gkp_claims_doc *doc = NULL;
    gk_diag d = {0};

    ck_assert_int_eq(gkp_claims_decode(&doc, texts[_i], strlen(texts[_i]), &d), GK_EPROTO);
    ck_assert_str_eq(d.text, "invalid JSON at byte 7: an integer is too large");
}
END_TEST

/* Every prefix of a valid claims set, and every one-byte change to it, is read or refused. */
START_TEST(test_decode_garbled)
{
    static const char json[] =
        "{\"iss\":\"gatekeeper\",\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"sub\":\"s\\u00e9\","
        "\"nonce\":\"n\",\"flags\":[{\"key\":\"a\",\"variant\":\"on\",\"value\":{\"l\":[1.5,"
        "\"\\ud83d\\ude00\",null]},\"reason\":\"SPLIT\",\"ruleId\":\"r\",\"mask\":[\"e\"]},"
        "{\"key\":\"b\",\"reason\":\"ERROR\",\"errorCode\":\"GENERAL\",\"errorMessage\":\"m\"}]}";
    static const char subst[] = "\"\\{}[],:0-.eu \x01\xc3\xff";
    size_t len = sizeof(json) - 1;
    char copy[sizeof(json)];
    gkp_claims_doc *doc = NULL;
    gk_err rv;

    ck_assert_int_eq(gkp_claims_decode(&doc, json, len, NULL), GK_OK);
    gkp_claims_doc_free(doc);
    for (size_t n = 0; n < len; n++) {
        doc = NULL;
        ck_assert_int_eq(gkp_claims_decode(&doc, json, n, NULL), GK_EPROTO);
        ck_assert_ptr_null(doc);
    }
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof(subst) - 1; k++) {
            memcpy(copy, json, len);
            copy[i] = subst[k];
            doc = NULL;
            rv = gkp_claims_decode(&doc, copy, len, NULL);
            ck_assert(rv == GK_OK || rv == GK_EPROTO);
            ck_assert(rv == GK_OK || doc == NULL);
            gkp_claims_doc_free(doc);
        }
    }
}
END_TEST

START_TEST(test_decode_uses_length)
{
    static const char json[] = "{\"iat\":1,\"exp\":2,\"snapshotVersion\":3,\"flags\":[]}garbage";
    gkp_claims_doc *doc = NULL;

    ck_assert_int_eq(gkp_claims_decode(&doc, json, sizeof(json) - 1 - 7, NULL), GK_OK);
    gkp_claims_doc_free(doc);
    doc = NULL;
    ck_assert_int_eq(gkp_claims_decode(&doc, json, sizeof(json) - 1, NULL), GK_EPROTO);
    ck_assert_ptr_null(doc);
}
END_TEST

/* Input that ends right after a member name is refused without reading past it (exact-size copies,
 * so the sanitizer build catches a read of the byte after). */
START_TEST(test_decode_ends_after_member)
{
    static const char *const cut[] = {"{\"flags\":[{\"value\":", "{\"flags\":[{\"mask\":",
                                      "{\"flags\":[{\"key\":", "{\"iat\":"};

    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        size_t n = strlen(cut[i]);
        char *exact = malloc(n);
        gkp_claims_doc *doc = NULL;

        ck_assert_ptr_nonnull(exact);
        memcpy(exact, cut[i], n);
        ck_assert_int_eq(gkp_claims_decode(&doc, exact, n, NULL), GK_EPROTO);
        ck_assert_ptr_null(doc);
        free(exact);
    }
}
END_TEST

static Suite *
claims_suite(void)
{
    Suite *s = suite_create("claims");
    TCase *tc;

    tc = tcase_create("encode");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_encode_exact);
    tcase_add_test(tc, test_encode_no_sub_no_flags);
    tcase_add_test(tc, test_encode_integers_as_printf);
    tcase_add_test(tc, test_encode_disabled_entry);
    tcase_add_loop_test(tc, test_encode_escapes, 0, 7);
    tcase_add_test(tc, test_encode_matches_jansson);
    tcase_add_loop_test(tc, test_encode_values_as_jansson, 0, 15);
    tcase_add_test(tc, test_encode_refuses);
    suite_add_tcase(s, tc);

    tc = tcase_create("round_trip");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_round_trip_many_flags);
    tcase_add_test(tc, test_round_trip_mask);
    suite_add_tcase(s, tc);

    tc = tcase_create("decode");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_decode_forward_compatible);
    tcase_add_loop_test(tc, test_decode_refuses, 0,
                        (int) (sizeof(bad_claims) / sizeof(bad_claims[0])));
    tcase_add_test(tc, test_decode_uses_length);
    tcase_add_test(tc, test_decode_strings_and_space);
    tcase_add_test(tc, test_decode_values);
    tcase_add_loop_test(tc, test_decode_depth, 0,
                        (int) (sizeof(depth_cases) / sizeof(depth_cases[0])));
    tcase_add_loop_test(tc, test_decode_integer_offset, 0, 3);
    tcase_add_test(tc, test_decode_garbled);
    tcase_add_test(tc, test_decode_ends_after_member);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(claims_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
