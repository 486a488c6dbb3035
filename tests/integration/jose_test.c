/*
 * jose_test.c - a decision token fetched with nngcat verifies with an independent, standard JOSE
 * library (Python jwcrypto, Debian's python3-jwcrypto) against the published JWKS; a tampered
 * token does not. Both ways the gatekeeper signs are checked: RFC 8032's deterministic signatures
 * (the default) and with a nonce pool (--nonce-pool, gatekeeper/presign.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "gk_test.h"

static char token[16384];

/* Asks the daemon with nngcat (the acceptance command) and extracts the token. */
static void
fetch_token(const gkt_daemon *d)
{
    char out[16384];
    const char *argv[] = {gkt_env("GK_NNGCAT"), "--req0", "--dial", d->tcp_url, "--ascii",
                          "--data", "{\"v\":1,\"op\":\"evaluate\",\"context\":{\"targetingKey\":\"t-1\"}}",
                          NULL};
    const char *start, *end;

    ck_assert_int_eq(gkt_run(argv, NULL, out, sizeof(out), 10000), 0);
    start = strstr(out, "\"token\":\"");
    ck_assert_msg(start != NULL, "nngcat printed: %s", out);
    start += 9;
    end = strchr(start, '"');
    ck_assert_ptr_nonnull(end);
    snprintf(token, sizeof(token), "%.*s", (int) (end - start), start);
}

static int
jose_verify(const gkt_daemon *d, const char *tok, char *out, size_t outsize)
{
    char script[4096];
    const char *argv[] = {gkt_env("GK_PYTHON3"), script, d->jwks_path, tok, NULL};

    snprintf(script, sizeof(script), "%s/tests/support/jose_verify.py", gkt_env("GK_SOURCE_DIR"));
    return gkt_run(argv, NULL, out, outsize, 30000);
}

/* _i 0: the default, no nonce pool; 1: --nonce-pool 64. */
START_TEST(test_standard_jose_library_verifies_token)
{
    const char *pool[] = {"--nonce-pool", "64", NULL};
    char flags[4096], out[16384], first[16384];
    gkt_daemon d;

    snprintf(flags, sizeof(flags), "%s/integration/flags.json", gkt_env("GK_TEST_DATA"));
    ck_assert_int_eq(gkt_daemon_start(&d, flags, _i == 1 ? pool : NULL), 0);
    /* Several tokens in a row, so more than one nonce (or none) is used. */
    for (int i = 0; i < 3; i++) {
        fetch_token(&d);
        ck_assert_msg(jose_verify(&d, token, out, sizeof(out)) == 0, "token %d: jwcrypto refused: %s",
                      i, out);
        if (i == 0) {
            snprintf(first, sizeof(first), "%s", token);
        }
    }
    /*
     * Tokens of the same second carry the same claims: their signatures are equal when signing is
     * deterministic and differ when each used its own precomputed nonce.
     */
    if (strncmp(first, token, (size_t) (strrchr(token, '.') - token)) == 0) {
        ck_assert_int_eq(strcmp(first, token) == 0, _i == 0);
    }
    ck_assert_msg(jose_verify(&d, token, out, sizeof(out)) == 0, "jwcrypto refused: %s", out);
    ck_assert_msg(strstr(out, "\"snapshotVersion\": 1") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\"orders.read_v2\"") != NULL, "%s", out);

    /* Flip one character of the payload: the signature no longer matches. */
    {
        char *dot = strchr(token, '.');
        ck_assert_ptr_nonnull(dot);
        dot[5] = dot[5] == 'A' ? 'B' : 'A';
    }
    ck_assert_int_ne(jose_verify(&d, token, out, sizeof(out)), 0);
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("jose");
    TCase *tc = tcase_create("jose");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 90);
    tcase_add_loop_test(tc, test_standard_jose_library_verifies_token, 0, 2);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
