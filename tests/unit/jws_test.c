/*
 * jws_test.c - compact JWS with EdDSA: RFC 8037 Appendix A.4/A.5 known answers, tampering,
 * key selection by kid, and every header and format refusal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "b64url.h"
#include "jwk.h"
#include "jws.h"

/* RFC 8037 Appendix A.1 and A.2 keys; A.4 header, payload and the signed JWS. */
#define RFC8037_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC8037_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC8037_HEADER "{\"alg\":\"EdDSA\"}"
#define RFC8037_PAYLOAD "Example of Ed25519 signing"
#define RFC8037_JWS                                                                                \
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."                                    \
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"

static uint8_t rfc_pk[32];
static uint8_t rfc_sk[64];
static uint8_t other_pk[32];
static uint8_t other_sk[64];
static gkp_jwks *keys;

static void
setup(void)
{
    uint8_t seed[32];
    size_t n = 0;

    ck_assert_int_ge(sodium_init(), 0);
    ck_assert_int_eq(gkp_b64url_decode(seed, 32, &n, RFC8037_D, strlen(RFC8037_D)), GK_OK);
    crypto_sign_seed_keypair(rfc_pk, rfc_sk, seed);
    memset(seed, 0x01, sizeof(seed));
    crypto_sign_seed_keypair(other_pk, other_sk, seed);
    ck_assert_int_eq(gkp_jwks_new(&keys), GK_OK);
    ck_assert_int_eq(gkp_jwks_add(keys, "rfc", rfc_pk), GK_OK);
    ck_assert_int_eq(gkp_jwks_add(keys, "other", other_pk), GK_OK);
}

static void
teardown(void)
{
    gkp_jwks_free(keys);
    keys = NULL;
}

/* Sign "payload" under "header" with the RFC key; the caller frees the token. */
static char *
sign(const char *header, const char *payload)
{
    char *tok = NULL;
    size_t len = 0;

    ck_assert_int_eq(gkp_jws_sign(&tok, &len, header, (const uint8_t *) payload, strlen(payload),
                                  rfc_sk),
                     GK_OK);
    ck_assert_uint_eq(len, strlen(tok));
    return tok;
}

/* Expect gkp_jws_verify (by kid) to refuse "tok" with "want", the diag holding "text". */
static void
expect_refused(const char *tok, size_t len, gk_err want, const char *text)
{
    static uint8_t untouched[] = "untouched";
    uint8_t *payload = untouched;
    size_t plen = 7;
    gk_diag d = {0};

    ck_assert_int_eq(gkp_jws_verify(tok, len, keys, &payload, &plen, &d), want);
    ck_assert_ptr_null(payload);
    ck_assert_int_eq(d.code, want);
    ck_assert_msg(strstr(d.text, text) != NULL, "diag \"%s\" lacks \"%s\"", d.text, text);
    memset(&d, 0, sizeof(d));
    payload = untouched;
    ck_assert_int_eq(gkp_jws_verify_key(tok, len, rfc_pk, &payload, &plen, &d),
                     want == GK_ENOKEY ? GK_OK : want);
    if (want == GK_ENOKEY) {
        free(payload);
    } else {
        ck_assert_ptr_null(payload);
    }
}

START_TEST(test_rfc8037_a4_sign)
{
    char *tok = sign(RFC8037_HEADER, RFC8037_PAYLOAD);

    ck_assert_str_eq(tok, RFC8037_JWS);
    free(tok);
}
END_TEST

START_TEST(test_rfc8037_a5_verify)
{
    uint8_t *payload = NULL;
    size_t plen = 0;
    gk_diag d = {0};

    ck_assert_int_eq(
        gkp_jws_verify_key(RFC8037_JWS, strlen(RFC8037_JWS), rfc_pk, &payload, &plen, &d), GK_OK);
    ck_assert_int_eq(d.code, GK_OK);
    ck_assert_uint_eq(plen, strlen(RFC8037_PAYLOAD));
    ck_assert_str_eq((const char *) payload, RFC8037_PAYLOAD);
    free(payload);
}
END_TEST

START_TEST(test_rfc8037_a5_wrong_key)
{
    uint8_t *payload = NULL;
    size_t plen = 0;
    gk_diag d = {0};

    ck_assert_int_eq(
        gkp_jws_verify_key(RFC8037_JWS, strlen(RFC8037_JWS), other_pk, &payload, &plen, &d),
        GK_EBADSIG);
    ck_assert_ptr_null(payload);
    ck_assert_int_eq(d.code, GK_EBADSIG);
}
END_TEST

/* The A.4 token has no kid: the kid-choosing verifier cannot pick a key. */
START_TEST(test_rfc8037_a4_no_kid)
{
    expect_refused(RFC8037_JWS, strlen(RFC8037_JWS), GK_ENOKEY, "no \"kid\"");
}
END_TEST

START_TEST(test_sign_verify_by_kid)
{
    char *tok = sign("{\"alg\":\"EdDSA\",\"kid\":\"rfc\",\"typ\":\"JWT\"}", "{\"iss\":\"x\"}");
    uint8_t *payload = NULL;
    size_t plen = 0;

    ck_assert_int_eq(gkp_jws_verify(tok, strlen(tok), keys, &payload, &plen, NULL), GK_OK);
    ck_assert_uint_eq(plen, 11);
    ck_assert_str_eq((const char *) payload, "{\"iss\":\"x\"}");
    free(payload);
    free(tok);
}
END_TEST

START_TEST(test_kid_picks_the_wrong_key)
{
    /* Signed by the RFC key but claiming kid "other": verification must fail, not fall back. */
    char *tok = sign("{\"alg\":\"EdDSA\",\"kid\":\"other\"}", "p");
    uint8_t *payload = NULL;
    gk_diag d = {0};

    ck_assert_int_eq(gkp_jws_verify(tok, strlen(tok), keys, &payload, NULL, &d), GK_EBADSIG);
    ck_assert_ptr_null(payload);
    ck_assert_str_eq(d.text, "signature does not verify");
    free(tok);
}
END_TEST

START_TEST(test_unknown_kid)
{
    char *tok = sign("{\"alg\":\"EdDSA\",\"kid\":\"retired-2019\"}", "p");
    uint8_t *payload = NULL;
    gk_diag d = {0};

    ck_assert_int_eq(gkp_jws_verify(tok, strlen(tok), keys, &payload, NULL, &d), GK_ENOKEY);
    ck_assert_ptr_null(payload);
    ck_assert_ptr_nonnull(strstr(d.text, "retired-2019"));
    free(tok);
}
END_TEST

START_TEST(test_kid_not_a_string)
{
    char *tok = sign("{\"alg\":\"EdDSA\",\"kid\":5}", "p");

    expect_refused(tok, strlen(tok), GK_ENOKEY, "kid");
    free(tok);
}
END_TEST

/* Change character "i" of a copy of the token to "c". */
static char *
tamper(const char *tok, size_t i, char c)
{
    char *t = strdup(tok);

    ck_assert_ptr_nonnull(t);
    ck_assert_int_ne(t[i], c);
    t[i] = c;
    return t;
}

START_TEST(test_tampered_payload)
{
    char *tok = sign("{\"alg\":\"EdDSA\",\"kid\":\"rfc\"}", "{\"flags\":[]}");
    char *t = tamper(tok, (size_t) (strchr(tok, '.') - tok) + 1, 'X');

    expect_refused(t, strlen(t), GK_EBADSIG, "does not verify");
    free(t);
    free(tok);
}
END_TEST

START_TEST(test_tampered_header)
{
    char *tok = sign("{\"alg\":\"EdDSA\",\"kid\":\"rfc\"}", "p");
    char *other = sign("{\"alg\":\"EdDSA\",\"kid\":\"rfc\",\"x\":1}", "p");
    char *t;
    size_t h1 = (size_t) (strchr(tok, '.') - tok);
    size_t h2 = (size_t) (strchr(other, '.') - other);

    /* Header of one token, payload and signature of the other: both parse, neither verifies. */
    t = malloc(strlen(tok) + h2 + 1);
    ck_assert_ptr_nonnull(t);
    memcpy(t, other, h2);
    strcpy(t + h2, tok + h1);
    expect_refused(t, strlen(t), GK_EBADSIG, "does not verify");
    free(t);
    free(other);
    free(tok);
}
END_TEST

START_TEST(test_tampered_signature)
{
    char *tok = sign("{\"alg\":\"EdDSA\",\"kid\":\"rfc\"}", "p");
    char *t = tamper(tok, (size_t) (strrchr(tok, '.') - tok) + 1,
                     tok[strrchr(tok, '.') - tok + 1] == 'A' ? 'B' : 'A');

    expect_refused(t, strlen(t), GK_EBADSIG, "does not verify");
    free(t);
    free(tok);
}
END_TEST

START_TEST(test_tampered_rfc_signature_last_byte)
{
    /* Flip a bit inside the final signature byte of the A.4 token ("Ag" -> "Aw"). */
    char t[] = RFC8037_JWS;
    uint8_t *payload = NULL;

    t[sizeof(t) - 2] = 'w';
    ck_assert_int_eq(gkp_jws_verify_key(t, strlen(t), rfc_pk, &payload, NULL, NULL), GK_EBADSIG);
    ck_assert_ptr_null(payload);
}
END_TEST

/* Headers that must be refused even when the signature over them is good. */
static const struct {
    const char *header;
    const char *text;
} bad_headers[] = {
    {"{\"alg\":\"none\",\"kid\":\"rfc\"}", "not \"none\""},
    {"{\"alg\":\"HS256\",\"kid\":\"rfc\"}", "not \"HS256\""},
    {"{\"alg\":\"eddsa\",\"kid\":\"rfc\"}", "must be \"EdDSA\""},
    {"{\"alg\":\"EdDSA\\u0000\",\"kid\":\"rfc\"}", "not JSON"},
    {"{\"alg\":7,\"kid\":\"rfc\"}", "must be \"EdDSA\""},
    {"{\"kid\":\"rfc\"}", "must be \"EdDSA\""},
    {"{\"alg\":\"EdDSA\",\"kid\":\"rfc\",\"crit\":[\"exp\"],\"exp\":1}", "crit"},
    {"{\"alg\":\"EdDSA\",\"kid\":\"rfc\",\"crit\":[]}", "crit"},
    {"{\"alg\":\"EdDSA\",\"kid\":\"rfc\",\"b64\":false,\"crit\":[\"b64\"]}", "crit"},
    {"{\"alg\":\"none\",\"alg\":\"EdDSA\",\"kid\":\"rfc\"}", "not JSON"},
    {"[\"alg\",\"EdDSA\"]", "not a JSON object"},
    {"\"EdDSA\"", "not JSON"},
    {"{\"alg\":\"EdDSA\",\"kid\":\"rfc\"", "not JSON"},
};

START_TEST(test_bad_header_refused)
{
    char *tok = sign(bad_headers[_i].header, "payload");

    expect_refused(tok, strlen(tok), GK_EPROTO, bad_headers[_i].text);
    free(tok);
}
END_TEST

START_TEST(test_alg_none_unsigned)
{
    /* The classic: {"alg":"none"} with an empty signature, and with a junk one. */
    expect_refused("eyJhbGciOiJub25lIn0.cA.", 23, GK_EPROTO, "empty");
    expect_refused("eyJhbGciOiJub25lIn0.cA.AAAA", 27, GK_EPROTO, "\"none\"");
}
END_TEST

/* Malformed compact serialisations. */
static const struct {
    const char *tok;
    const char *text;
} bad_tokens[] = {
    {"", "three parts"},
    {"eyJhbGciOiJFZERTQSJ9", "three parts"},
    {"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc", "three parts"},
    {RFC8037_JWS ".AAAA", "three parts"},
    {"a.b.c.d", "three parts"},
    {"..", "empty"},
    {".RXhh.hgyY", "empty"},
    {"eyJhbGciOiJFZERTQSJ9..hgyY", "empty"},
    {"eyJhbGciOiJFZERTQSJ9.RXhh.", "empty"},
    {"eyJhbGciOiJFZERTQSJ9=.RXhh.hgyY", "header is not base64url"},
    {"eyJhbGci+iJFZERTQSJ9.RXhh.hgyY", "header is not base64url"},
    {"eyJhbGciOiJFZERTQSJ9.RXhh.hgyY", "signature is not 64 bytes"},
    {"eyJhbGciOiJFZERTQSJ9.RXhh."
     "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAgAA",
     "signature is not 64 bytes"},
    {"eyJhbGciOiJFZERTQSJ9.RXhh."
     "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0K",
     "signature is not 64 bytes"},
    {"eyJhbGciOiJFZERTQSJ9.RXhh."
     "hgyY0il/MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg",
     "signature is not 64 bytes"},
    {"eyJhbGciOiJFZERTQSJ9.RXh*."
     "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg",
     "payload is not base64url"},
};

START_TEST(test_malformed_token)
{
    uint8_t *payload = NULL;
    gk_diag d = {0};
    const char *tok = bad_tokens[_i].tok;

    ck_assert_int_eq(gkp_jws_verify_key(tok, strlen(tok), rfc_pk, &payload, NULL, &d), GK_EPROTO);
    ck_assert_ptr_null(payload);
    ck_assert_msg(strstr(d.text, bad_tokens[_i].text) != NULL, "diag \"%s\" lacks \"%s\"", d.text,
                  bad_tokens[_i].text);
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(gkp_jws_verify(tok, strlen(tok), keys, &payload, NULL, &d), GK_EPROTO);
    ck_assert_ptr_null(payload);
}
END_TEST

START_TEST(test_length_is_respected)
{
    /* The verifier reads toklen bytes, not up to a NUL: a valid prefix is not a valid token. */
    uint8_t *payload = NULL;
    const char *tok = RFC8037_JWS "trailing";

    ck_assert_int_eq(gkp_jws_verify_key(tok, strlen(RFC8037_JWS), rfc_pk, &payload, NULL, NULL),
                     GK_OK);
    free(payload);
    payload = NULL;
    ck_assert_int_eq(gkp_jws_verify_key(tok, strlen(RFC8037_JWS) - 1, rfc_pk, &payload, NULL, NULL),
                     GK_EPROTO);
    ck_assert_int_ne(gkp_jws_verify_key(tok, strlen(tok), rfc_pk, &payload, NULL, NULL), GK_OK);
    ck_assert_ptr_null(payload);
}
END_TEST

START_TEST(test_oversize_token)
{
    size_t len = GKP_JWS_MAX_BYTES + 1;
    char *tok = malloc(len + 1);
    uint8_t *payload = NULL;
    gk_diag d = {0};

    ck_assert_ptr_nonnull(tok);
    memset(tok, 'A', len);
    memcpy(tok, "eyJhbGciOiJFZERTQSJ9.", 21);
    tok[len - 90] = '.';
    tok[len] = '\0';
    ck_assert_int_eq(gkp_jws_verify_key(tok, len, rfc_pk, &payload, NULL, &d), GK_EPROTO);
    ck_assert_ptr_null(payload);
    ck_assert_ptr_nonnull(strstr(d.text, "limit"));
    free(tok);
}
END_TEST

START_TEST(test_large_payload_round_trip)
{
    size_t len = 300000;
    char *big = malloc(len + 1);
    char *tok = NULL;
    size_t toklen = 0;
    uint8_t *payload = NULL;
    size_t plen = 0;

    ck_assert_ptr_nonnull(big);
    memset(big, 'q', len);
    big[len] = '\0';
    ck_assert_int_eq(gkp_jws_sign(&tok, &toklen, "{\"alg\":\"EdDSA\",\"kid\":\"other\"}",
                                  (const uint8_t *) big, len, other_sk),
                     GK_OK);
    ck_assert_int_eq(gkp_jws_verify(tok, toklen, keys, &payload, &plen, NULL), GK_OK);
    ck_assert_uint_eq(plen, len);
    ck_assert_mem_eq(payload, big, len);
    free(payload);
    free(tok);
    free(big);
}
END_TEST

START_TEST(test_sign_refuses)
{
    char *tok = (char *) 1;
    static uint8_t huge[GKP_JWS_MAX_BYTES];

    ck_assert_int_eq(gkp_jws_sign(NULL, NULL, "{}", NULL, 0, rfc_sk), GK_EINVAL);
    ck_assert_int_eq(gkp_jws_sign(&tok, NULL, NULL, NULL, 0, rfc_sk), GK_EINVAL);
    ck_assert_int_eq(gkp_jws_sign(&tok, NULL, "{}", NULL, 3, rfc_sk), GK_EINVAL);
    ck_assert_int_eq(gkp_jws_sign(&tok, NULL, "{}", (const uint8_t *) "x", 1, NULL), GK_EINVAL);
    /* A token no verifier would accept is not produced. */
    ck_assert_int_eq(gkp_jws_sign(&tok, NULL, "{}", huge, sizeof(huge), rfc_sk), GK_EINVAL);
    ck_assert_ptr_null(tok);
}
END_TEST

/* A signing function that signs with rfc_sk and counts its calls, or fails when told to. */
typedef struct fn_state {
    int calls;
    gk_err answer;
} fn_state;

static gk_err
counting_sign(uint8_t sig[GKP_ED25519_SIG_BYTES], const uint8_t *m, size_t mlen, void *arg)
{
    fn_state *st = arg;

    st->calls++;
    if (st->answer == GK_OK) {
        crypto_sign_detached(sig, NULL, m, mlen, rfc_sk);
    }
    return st->answer;
}

START_TEST(test_sign_with_function)
{
    fn_state st = {0, GK_OK};
    char *tok = NULL;
    size_t len = 0;

    /* The RFC 8037 A.4 token again, its signature made by the caller's function. */
    ck_assert_int_eq(gkp_jws_sign_with(&tok, &len, RFC8037_HEADER,
                                       (const uint8_t *) RFC8037_PAYLOAD,
                                       strlen(RFC8037_PAYLOAD), counting_sign, &st),
                     GK_OK);
    ck_assert_int_eq(st.calls, 1);
    ck_assert_str_eq(tok, RFC8037_JWS);
    ck_assert_uint_eq(len, strlen(RFC8037_JWS));
    free(tok);
    /* The function's error is the answer, and no token is handed out. */
    st.answer = GK_ENOMEM;
    tok = (char *) 1;
    ck_assert_int_eq(gkp_jws_sign_with(&tok, &len, RFC8037_HEADER, (const uint8_t *) "x", 1,
                                       counting_sign, &st),
                     GK_ENOMEM);
    ck_assert_ptr_null(tok);
    ck_assert_int_eq(st.calls, 2);
    ck_assert_int_eq(gkp_jws_sign_with(&tok, &len, "{}", NULL, 0, NULL, &st), GK_EINVAL);
}
END_TEST

/* Into the caller's buffer with the header already encoded: the RFC 8037 A.4 token again, in a
 * buffer of exactly gkp_jws_compact_len + 1 bytes, and every refusal. */
START_TEST(test_sign_into)
{
    static const char header_b64[] = "eyJhbGciOiJFZERTQSJ9";
    static uint8_t huge[GKP_JWS_MAX_BYTES];
    const uint8_t *sk = rfc_sk;
    size_t hlen = strlen(header_b64), plen = strlen(RFC8037_PAYLOAD);
    size_t total = gkp_jws_compact_len(hlen, plen), len = 0;
    const uint8_t *payload = (const uint8_t *) RFC8037_PAYLOAD;
    fn_state st = {0, GK_ENOMEM};
    char *out;

    ck_assert_uint_eq(total, strlen(RFC8037_JWS));
    out = malloc(total + 1);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(gkp_jws_sign_into(out, total + 1, &len, header_b64, hlen, payload, plen,
                                       gkp_jws_sign_sk, &sk),
                     GK_OK);
    ck_assert_str_eq(out, RFC8037_JWS);
    ck_assert_uint_eq(len, total);
    /* one byte short, NULL arguments, a token over the limit, the function's error */
    ck_assert_int_eq(gkp_jws_sign_into(out, total, &len, header_b64, hlen, payload, plen,
                                       gkp_jws_sign_sk, &sk),
                     GK_EINVAL);
    ck_assert_int_eq(gkp_jws_sign_into(NULL, total + 1, &len, header_b64, hlen, payload, plen,
                                       gkp_jws_sign_sk, &sk),
                     GK_EINVAL);
    ck_assert_int_eq(gkp_jws_sign_into(out, total + 1, NULL, header_b64, hlen, payload, plen,
                                       gkp_jws_sign_sk, &sk),
                     GK_EINVAL);
    ck_assert_int_eq(gkp_jws_sign_into(out, total + 1, &len, NULL, hlen, payload, plen,
                                       gkp_jws_sign_sk, &sk),
                     GK_EINVAL);
    ck_assert_int_eq(gkp_jws_sign_into(out, total + 1, &len, header_b64, hlen, NULL, plen,
                                       gkp_jws_sign_sk, &sk),
                     GK_EINVAL);
    ck_assert_int_eq(gkp_jws_sign_into(out, total + 1, &len, header_b64, hlen, payload, plen,
                                       NULL, &sk),
                     GK_EINVAL);
    ck_assert_int_eq(gkp_jws_sign_into(out, total + 1, &len, header_b64, hlen, huge, sizeof(huge),
                                       gkp_jws_sign_sk, &sk),
                     GK_EINVAL);
    ck_assert_uint_eq(gkp_jws_compact_len(hlen, GKP_JWS_MAX_BYTES + 1), 0);
    ck_assert_uint_eq(gkp_jws_compact_len(hlen, sizeof(huge)), 0); /* a token over the limit */
    ck_assert_int_eq(gkp_jws_sign_into(out, total + 1, &len, header_b64, hlen, payload, plen,
                                       counting_sign, &st),
                     GK_ENOMEM);
    ck_assert_int_eq(st.calls, 1);
    free(out);
}
END_TEST

START_TEST(test_verify_null_arguments)
{
    uint8_t *payload = NULL;

    ck_assert_int_eq(gkp_jws_verify(NULL, 0, keys, &payload, NULL, NULL), GK_EINVAL);
    ck_assert_int_eq(gkp_jws_verify(RFC8037_JWS, 10, NULL, &payload, NULL, NULL), GK_EINVAL);
    ck_assert_int_eq(gkp_jws_verify(RFC8037_JWS, 10, keys, NULL, NULL, NULL), GK_EINVAL);
    ck_assert_int_eq(gkp_jws_verify_key(RFC8037_JWS, 10, NULL, &payload, NULL, NULL), GK_EINVAL);
    ck_assert_ptr_null(payload);
}
END_TEST

static Suite *
jws_suite(void)
{
    Suite *s = suite_create("jws");
    TCase *tc;

    tc = tcase_create("rfc8037");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rfc8037_a4_sign);
    tcase_add_test(tc, test_rfc8037_a5_verify);
    tcase_add_test(tc, test_rfc8037_a5_wrong_key);
    tcase_add_test(tc, test_rfc8037_a4_no_kid);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_sign_verify_by_kid);
    tcase_add_test(tc, test_kid_picks_the_wrong_key);
    tcase_add_test(tc, test_unknown_kid);
    tcase_add_test(tc, test_kid_not_a_string);
    suite_add_tcase(s, tc);

    tc = tcase_create("tampering");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_tampered_payload);
    tcase_add_test(tc, test_tampered_header);
    tcase_add_test(tc, test_tampered_signature);
    tcase_add_test(tc, test_tampered_rfc_signature_last_byte);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_bad_header_refused, 0,
                        (int) (sizeof(bad_headers) / sizeof(bad_headers[0])));
    tcase_add_test(tc, test_alg_none_unsigned);
    tcase_add_loop_test(tc, test_malformed_token, 0,
                        (int) (sizeof(bad_tokens) / sizeof(bad_tokens[0])));
    tcase_add_test(tc, test_length_is_respected);
    tcase_add_test(tc, test_oversize_token);
    tcase_add_test(tc, test_verify_null_arguments);
    suite_add_tcase(s, tc);

    tc = tcase_create("sizes");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_large_payload_round_trip);
    tcase_add_test(tc, test_sign_refuses);
    tcase_add_test(tc, test_sign_with_function);
    tcase_add_test(tc, test_sign_into);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(jws_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
