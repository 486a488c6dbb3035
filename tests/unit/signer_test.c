/*
 * signer_test.c - the key ring: a decision token, a typed token and a subject, each pinned to the
 * exact text for a fixed key (RFC 8037 Appendix A.1's), so that any change to how a token is put
 * together must leave every byte as it was; and the refusals of an empty ring and a bad typ.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "gk_test.h"
#include "jws.h"
#include "signer.h"

/* RFC 8037 Appendix A.1's key, with a kid of our own. */
#define KEY_JWK                                                                                    \
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"pinned-key\","                                 \
    "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","                                       \
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"

/* A decision payload as gkp_claims_encode writes one. */
#define PAYLOAD                                                                                    \
    "{\"iss\":\"gatekeeper\",\"iat\":1763740000,\"exp\":1763740300,\"snapshotVersion\":7,"         \
    "\"sub\":\"1FC8YgJP94DBj77CpOEibw\",\"nonce\":\"tlzwBc1KtQSu7t29-afsVg\",\"flags\":["        \
    "{\"key\":\"orders.read_v2\",\"variant\":\"on\",\"value\":true,\"reason\":\"SPLIT\"}]}"

/* The tokens the ring made for PAYLOAD (typ JWT) and for "{}" (typ gk-session+jwt). */
#define TOKEN                                                                                      \
    "eyJhbGciOiJFZERTQSIsImtpZCI6InBpbm5lZC1rZXkiLCJ0eXAiOiJKV1QifQ."                              \
    "eyJpc3MiOiJnYXRla2VlcGVyIiwiaWF0IjoxNzYzNzQwMDAwLCJleHAiOjE3NjM3NDAzMDAsInNuYXBzaG90VmVyc2lv" \
    "biI6Nywic3ViIjoiMUZDOFlnSlA5NERCajc3Q3BPRWlidyIsIm5vbmNlIjoidGx6d0JjMUt0UVN1N3QyOS1hZnNWZyIs" \
    "ImZsYWdzIjpbeyJrZXkiOiJvcmRlcnMucmVhZF92MiIsInZhcmlhbnQiOiJvbiIsInZhbHVlIjp0cnVlLCJyZWFzb24i" \
    "OiJTUExJVCJ9XX0."                                                                             \
    "XUv7uAbGJs73qDo471euubGz46wn5DsB5RxWLsxDokouRnJ47sqp6tlMHXKqMow1ZBj0czZOaCzQWYMpevudCg"
#define TYPED_TOKEN                                                                                \
    "eyJhbGciOiJFZERTQSIsImtpZCI6InBpbm5lZC1rZXkiLCJ0eXAiOiJnay1zZXNzaW9uK2p3dCJ9.e30."           \
    "TAv3r3WHgUjHYCYj4VUXAaiYYiIIHnoaeTF1crpRLClLJH9kvf4lTMcCB_V6xUx3ipYTHbYogrnL2lWsTfoiBQ"
#define SUBJECT "peUDpiKEPypULLdhxifGew"

static char dir[256];
static gkd_signer *signer;

static void
setup(void)
{
    char path[PATH_MAX];
    gk_diag diag = {0};

    ck_assert_int_ge(sodium_init(), 0);
    gkt_tempdir(dir);
    snprintf(path, sizeof(path), "%s/pinned-key.jwk", dir);
    ck_assert_int_eq(gkt_write_file(path, KEY_JWK, 0600), 0);
    ck_assert_int_eq(gkd_signer_new(&signer), GK_OK);
    ck_assert_int_eq(gkd_signer_add_key_file(signer, path, &diag), GK_OK);
}

static void
teardown(void)
{
    gkd_signer_free(signer);
    signer = NULL;
    gkt_rmtree(dir);
}

START_TEST(test_token_pinned)
{
    char *tok = NULL;
    size_t len = 0;

    ck_assert_int_eq(gkd_signer_sign(signer, PAYLOAD, strlen(PAYLOAD), &tok, &len), GK_OK);
    ck_assert_str_eq(tok, TOKEN);
    ck_assert_uint_eq(len, strlen(TOKEN));
    free(tok);
}
END_TEST

START_TEST(test_typed_token_pinned)
{
    char *tok = NULL;
    size_t len = 0;

    ck_assert_int_eq(gkd_signer_sign_typed(signer, "gk-session+jwt", "{}", 2, &tok, &len), GK_OK);
    ck_assert_str_eq(tok, TYPED_TOKEN);
    ck_assert_uint_eq(len, strlen(TYPED_TOKEN));
    free(tok);
}
END_TEST

START_TEST(test_subject_pinned)
{
    char sub[GKD_SUBJECT_MAX];

    gkd_signer_subject(signer, "tenant-0", 8, sub);
    ck_assert_str_eq(sub, SUBJECT);
}
END_TEST

START_TEST(test_refusals)
{
    gkd_signer *empty = NULL;
    char *tok = NULL;
    size_t len = 0;

    ck_assert_int_eq(gkd_signer_new(&empty), GK_OK);
    ck_assert_int_eq(gkd_signer_sign(empty, "{}", 2, &tok, &len), GK_EINVAL);
    ck_assert_int_eq(gkd_signer_sign_typed(empty, "jwt", "{}", 2, &tok, &len), GK_EINVAL);
    gkd_signer_free(empty);
    ck_assert_int_eq(gkd_signer_sign_typed(signer, "", "{}", 2, &tok, &len), GK_EINVAL);
    ck_assert_int_eq(gkd_signer_sign_typed(signer, "JWT", "{}", 2, &tok, &len), GK_EINVAL);
    ck_assert_int_eq(gkd_signer_sign_typed(signer, "a\"b", "{}", 2, &tok, &len), GK_EINVAL);
    ck_assert_int_eq(gkd_signer_sign_typed(signer, "0123456789012345678901234567890123456789x",
                                           "{}", 2, &tok, &len),
                     GK_EINVAL);
    ck_assert_ptr_null(tok);
}
END_TEST

static Suite *
signer_suite(void)
{
    Suite *s = suite_create("signer");
    TCase *tc = tcase_create("pinned");

    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_token_pinned);
    tcase_add_test(tc, test_typed_token_pinned);
    tcase_add_test(tc, test_subject_pinned);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(signer_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
