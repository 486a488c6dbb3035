/*
 * jwk_test.c - Ed25519 JWK/JWKS handling: RFC 8037 Appendix A.1-A.3 known answers, JWKS parsing
 * (usable keys, skipped keys, every refusal), serialisation and file loading.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "b64url.h"
#include "jwk.h"

/* RFC 8037 Appendix A.1 (private key "d") and A.2 (public key "x"), A.3 (thumbprint). */
#define RFC8037_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC8037_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC8037_KID "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
/* A second, unrelated Ed25519 public key (all 0x01 seed), for two-key sets. */
#define OTHER_X "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w"

static void
decode32(uint8_t out[32], const char *b64)
{
    size_t n = 0;

    ck_assert_int_eq(gkp_b64url_decode(out, 32, &n, b64, strlen(b64)), GK_OK);
    ck_assert_uint_eq(n, 32);
}

/* Parse JSON text (must be valid) and then the key set. */
static gk_err
parse_text(gkp_jwks **setp, const char *text, gk_diag *diag)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    gk_err rv;

    ck_assert_msg(doc != NULL, "test JSON invalid: %s", jerr.text);
    rv = gkp_jwks_parse(setp, doc, "test.jwks", diag);
    json_decref(doc);
    return rv;
}

START_TEST(test_rfc8037_a1_a2_public_from_private)
{
    uint8_t seed[32];
    uint8_t pk[32];
    uint8_t sk[64];
    uint8_t want[32];

    ck_assert_int_ge(sodium_init(), 0);
    decode32(seed, RFC8037_D);
    decode32(want, RFC8037_X);
    crypto_sign_seed_keypair(pk, sk, seed);
    ck_assert_mem_eq(pk, want, 32);
}
END_TEST

START_TEST(test_rfc8037_a3_thumbprint)
{
    uint8_t pk[32];
    char kid[GKP_KID_MAX];

    decode32(pk, RFC8037_X);
    memset(kid, 'X', sizeof(kid));
    gkp_jwk_thumbprint(kid, pk);
    ck_assert_str_eq(kid, RFC8037_KID);
}
END_TEST

START_TEST(test_parse_valid_set)
{
    gkp_jwks *set = NULL;
    gk_diag d = {0};
    uint8_t a[32];
    uint8_t b[32];

    ck_assert_int_eq(parse_text(&set,
                                "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X
                                "\",\"kid\":\"k1\",\"use\":\"sig\",\"alg\":\"EdDSA\"},"
                                "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OTHER_X
                                "\",\"kid\":\"k2\",\"extra\":[1,2]}],\"other\":true}",
                                &d),
                     GK_OK);
    ck_assert_int_eq(d.code, GK_OK);
    ck_assert_uint_eq(gkp_jwks_count(set), 2);
    decode32(a, RFC8037_X);
    decode32(b, OTHER_X);
    ck_assert_mem_eq(gkp_jwks_find(set, "k1", 2), a, 32);
    ck_assert_mem_eq(gkp_jwks_find(set, "k2", 2), b, 32);
    ck_assert_ptr_null(gkp_jwks_find(set, "k3", 2));
    ck_assert_ptr_null(gkp_jwks_find(set, "k", 1));
    /* kidlen counts: "k1x" looked up with length 2 is "k1". */
    ck_assert_mem_eq(gkp_jwks_find(set, "k1x", 2), a, 32);
    gkp_jwks_free(set);
}
END_TEST

START_TEST(test_parse_single_jwk)
{
    gkp_jwks *set = NULL;

    ck_assert_int_eq(parse_text(&set,
                                "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X
                                "\",\"kid\":\"" RFC8037_KID "\"}",
                                NULL),
                     GK_OK);
    ck_assert_uint_eq(gkp_jwks_count(set), 1);
    ck_assert_ptr_nonnull(gkp_jwks_find(set, RFC8037_KID, strlen(RFC8037_KID)));
    gkp_jwks_free(set);
}
END_TEST

START_TEST(test_parse_skips_other_keys)
{
    gkp_jwks *set = NULL;

    ck_assert_int_eq(
        parse_text(&set,
                   "{\"keys\":["
                   "{\"kty\":\"RSA\",\"kid\":\"rsa\",\"n\":\"0vx7agoebGcQ\",\"e\":\"AQAB\"},"
                   "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"kid\":\"x\",\"x\":\"" OTHER_X "\"},"
                   "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"enc\",\"use\":\"enc\",\"x\":\"" OTHER_X
                   "\"},"
                   "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"es\",\"alg\":\"ES256\",\"x\":\"" OTHER_X
                   "\"},"
                   "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"good\",\"x\":\"" RFC8037_X "\"}]}",
                   NULL),
        GK_OK);
    ck_assert_uint_eq(gkp_jwks_count(set), 1);
    ck_assert_ptr_nonnull(gkp_jwks_find(set, "good", 4));
    ck_assert_ptr_null(gkp_jwks_find(set, "rsa", 3));
    ck_assert_ptr_null(gkp_jwks_find(set, "enc", 3));
    gkp_jwks_free(set);
}
END_TEST

/* JWKS documents that must be refused, with a word the diag text must contain. */
static const struct {
    const char *doc;
    const char *text;
} bad_sets[] = {
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\",\"kid\":\"a\"},"
     "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" OTHER_X "\",\"kid\":\"a\"}]}",
     "duplicate kid \"a\""},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\"}]}", "\"kid\""},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\",\"kid\":7}]}",
     "\"kid\""},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\",\"kid\":\"\"}]}",
     "\"kid\""},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKx\",\"kid\":\"a\"}]}",
     "\"x\" must be 32 bytes"},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS+7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
     "\"kid\":\"a\"}]}",
     "\"x\" must be 32 bytes"},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"a\"}]}", "\"x\" must be 32 bytes"},
    {"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":32,\"kid\":\"a\"}]}",
     "\"x\" must be 32 bytes"},
    {"{\"keys\":[]}", "no Ed25519 signing key"},
    {"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
     "no Ed25519 signing key"},
    {"{\"keys\":{}}", "\"keys\" must be an array"},
    {"{\"keys\":[17]}", "keys[0] is not a JSON object"},
    {"[]", "must be a JSON object"},
    {"{}", "no Ed25519 signing key"},
};

START_TEST(test_parse_refuses)
{
    gkp_jwks *set = (gkp_jwks *) 1;
    gk_diag d = {0};

    ck_assert_int_eq(parse_text(&set, bad_sets[_i].doc, &d), GK_EPROTO);
    ck_assert_ptr_null(set);
    ck_assert_int_eq(d.code, GK_EPROTO);
    ck_assert_str_eq(d.source, "test.jwks");
    ck_assert_msg(strstr(d.text, bad_sets[_i].text) != NULL, "diag \"%s\" lacks \"%s\"", d.text,
                  bad_sets[_i].text);
}
END_TEST

START_TEST(test_add_rules)
{
    gkp_jwks *set = NULL;
    uint8_t pk[32];
    char kid[GKP_KID_MAX + 1];

    decode32(pk, RFC8037_X);
    ck_assert_int_eq(gkp_jwks_new(&set), GK_OK);
    ck_assert_uint_eq(gkp_jwks_count(set), 0);
    ck_assert_int_eq(gkp_jwks_add(set, "a", pk), GK_OK);
    ck_assert_int_eq(gkp_jwks_add(set, "a", pk), GK_EINVAL);
    ck_assert_int_eq(gkp_jwks_add(set, "", pk), GK_EINVAL);
    ck_assert_int_eq(gkp_jwks_add(set, NULL, pk), GK_EINVAL);
    memset(kid, 'k', GKP_KID_MAX);
    kid[GKP_KID_MAX] = '\0';
    ck_assert_int_eq(gkp_jwks_add(set, kid, pk), GK_EINVAL); /* 64 bytes */
    kid[GKP_KID_MAX - 1] = '\0';
    ck_assert_int_eq(gkp_jwks_add(set, kid, pk), GK_OK); /* 63 bytes */
    ck_assert_int_eq(gkp_jwks_add(set, "b", pk), GK_OK);
    ck_assert_int_eq(gkp_jwks_add(set, "c", pk), GK_OK);
    ck_assert_uint_eq(gkp_jwks_count(set), 4);
    ck_assert_ptr_nonnull(gkp_jwks_find(set, kid, strlen(kid)));
    gkp_jwks_free(set);
    gkp_jwks_free(NULL);
}
END_TEST

START_TEST(test_to_json_round_trip)
{
    gkp_jwks *set = NULL;
    gkp_jwks *back = NULL;
    uint8_t a[32];
    uint8_t b[32];
    json_t *doc;
    char *text;

    decode32(a, RFC8037_X);
    decode32(b, OTHER_X);
    ck_assert_int_eq(gkp_jwks_new(&set), GK_OK);
    ck_assert_int_eq(gkp_jwks_add(set, RFC8037_KID, a), GK_OK);
    ck_assert_int_eq(gkp_jwks_add(set, "next", b), GK_OK);
    doc = gkp_jwks_to_json(set);
    ck_assert_ptr_nonnull(doc);
    text = json_dumps(json_array_get(json_object_get(doc, "keys"), 0), JSON_COMPACT);
    ck_assert_str_eq(text, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X
                           "\",\"kid\":\"" RFC8037_KID "\",\"use\":\"sig\",\"alg\":\"EdDSA\"}");
    free(text);
    ck_assert_int_eq(gkp_jwks_parse(&back, doc, NULL, NULL), GK_OK);
    ck_assert_uint_eq(gkp_jwks_count(back), 2);
    ck_assert_mem_eq(gkp_jwks_find(back, "next", 4), b, 32);
    ck_assert_mem_eq(gkp_jwks_find(back, RFC8037_KID, strlen(RFC8037_KID)), a, 32);
    json_decref(doc);
    gkp_jwks_free(set);
    gkp_jwks_free(back);
}
END_TEST

/* Write "text" to a fresh temporary file; the caller unlinks "path". */
static void
write_temp(char path[64], const char *text)
{
    int fd;
    FILE *f;

    snprintf(path, 64, "/tmp/gkp-jwk-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_load_file)
{
    char path[64];
    gkp_jwks *set = NULL;
    gk_diag d = {0};

    write_temp(path, "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X
                     "\",\"kid\":\"k\"}]}\n");
    ck_assert_int_eq(gkp_jwks_load_file(&set, path, &d), GK_OK);
    ck_assert_uint_eq(gkp_jwks_count(set), 1);
    gkp_jwks_free(set);
    unlink(path);

    write_temp(path, "{\"keys\":[\n  {\"kty\":}\n]}");
    ck_assert_int_eq(gkp_jwks_load_file(&set, path, &d), GK_EPROTO);
    ck_assert_ptr_null(set);
    ck_assert_str_eq(d.source, path);
    ck_assert_int_eq(d.line, 2);
    ck_assert_int_gt(d.column, 0);
    unlink(path);
}
END_TEST

START_TEST(test_load_file_missing)
{
    gkp_jwks *set = NULL;
    gk_diag d = {0};

    ck_assert_int_eq(gkp_jwks_load_file(&set, "/nonexistent/gatekeeper/jwks.json", &d),
                     GK_ENOENT);
    ck_assert_ptr_null(set);
    ck_assert_int_eq(d.code, GK_ENOENT);
    ck_assert_ptr_nonnull(strstr(d.text, "cannot open"));
}
END_TEST

static Suite *
jwk_suite(void)
{
    Suite *s = suite_create("jwk");
    TCase *tc;

    tc = tcase_create("rfc8037");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_rfc8037_a1_a2_public_from_private);
    tcase_add_test(tc, test_rfc8037_a3_thumbprint);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_parse_valid_set);
    tcase_add_test(tc, test_parse_single_jwk);
    tcase_add_test(tc, test_parse_skips_other_keys);
    tcase_add_loop_test(tc, test_parse_refuses, 0, (int) (sizeof(bad_sets) / sizeof(bad_sets[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("set");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_add_rules);
    tcase_add_test(tc, test_to_json_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("file");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_load_file_missing);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(jwk_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
