/*
 * presign_test.c - the precomputed-nonce Ed25519 signer: its signatures verify with libsodium and
 * inside a JWS, a nonce is never used twice, an empty pool falls back to RFC 8032's deterministic
 * signature (and the counters say which was which), the refill thread puts back each pair a
 * signature takes, a forked child finds an empty pool, and the key ring uses the pool once it is
 * started.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "jws.h"
#include "keyfile.h"
#include "presign.h"
#include "signer.h"

static uint8_t pk[GKP_ED25519_PK_BYTES];
static uint8_t sk[GKP_ED25519_SK_BYTES];

static void
setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
    crypto_sign_keypair(pk, sk);
}

/* Pairs in the pool now. */
static size_t
ready(gkd_presign *p)
{
    gkd_presign_stats st;

    gkd_presign_read_stats(p, &st);
    return st.ready;
}

/* Waits (at most 10 s) until the pool holds `want` pairs. */
static void
wait_ready(gkd_presign *p, size_t want)
{
    struct timespec pause = {0, 1000000};

    for (int i = 0; i < 10000 && ready(p) < want; i++) {
        nanosleep(&pause, NULL);
    }
    ck_assert_uint_ge(ready(p), want);
}

START_TEST(test_signatures_verify_and_differ)
{
    gkd_presign *p = NULL;
    gk_diag diag = {0};
    uint8_t sig[8][GKP_ED25519_SIG_BYTES];
    uint8_t msg[600];
    gkd_presign_stats st;

    ck_assert_int_eq(gkd_presign_start(&p, sk, 16, &diag), GK_OK);
    wait_ready(p, 8);
    randombytes_buf(msg, sizeof(msg));
    for (size_t i = 0; i < 8; i++) {
        size_t len = i * 75; /* 0 .. 525 bytes, the empty message included */

        ck_assert_int_eq(gkd_presign_sign(sig[i], msg, len, p), GK_OK);
        ck_assert_int_eq(crypto_sign_verify_detached(sig[i], msg, len, pk), 0);
    }
    gkd_presign_read_stats(p, &st);
    ck_assert_uint_eq(st.capacity, 16);
    ck_assert_uint_le(st.ready, 16);
    ck_assert_uint_eq(st.presigned, 8);
    ck_assert_uint_eq(st.inline_sigs, 0);
    ck_assert_uint_ge(st.computed, 8);
    ck_assert_uint_gt(st.compute_ns, 0);
    /* Same message twice: fresh nonces, so different R, both valid. */
    wait_ready(p, 2);
    ck_assert_int_eq(gkd_presign_sign(sig[0], msg, 100, p), GK_OK);
    ck_assert_int_eq(gkd_presign_sign(sig[1], msg, 100, p), GK_OK);
    ck_assert_int_eq(crypto_sign_verify_detached(sig[1], msg, 100, pk), 0);
    ck_assert_int_ne(memcmp(sig[0], sig[1], 32), 0);
    gkd_presign_read_stats(p, &st);
    ck_assert_uint_eq(st.presigned, 10);
    /* A changed message or key does not verify. */
    msg[3] ^= 1;
    ck_assert_int_ne(crypto_sign_verify_detached(sig[1], msg, 100, pk), 0);
    gkd_presign_stop(p);
}
END_TEST

START_TEST(test_no_nonce_reused)
{
    enum { N = 2000 };
    gkd_presign *p = NULL;
    uint8_t(*rs)[32] = calloc(N, 32);
    uint8_t sig[GKP_ED25519_SIG_BYTES];
    static const uint8_t msg[] = "the same message every time";
    gkd_presign_stats st;
    size_t deterministic = 0;
    uint8_t det[GKP_ED25519_SIG_BYTES];

    ck_assert_ptr_nonnull(rs);
    crypto_sign_detached(det, NULL, msg, sizeof(msg), sk);
    ck_assert_int_eq(gkd_presign_start(&p, sk, 4, NULL), GK_OK);
    for (size_t i = 0; i < N; i++) {
        ck_assert_int_eq(gkd_presign_sign(sig, msg, sizeof(msg), p), GK_OK);
        ck_assert_int_eq(crypto_sign_verify_detached(sig, msg, sizeof(msg), pk), 0);
        if (memcmp(sig, det, sizeof(det)) == 0) {
            deterministic++;
            continue;
        }
        memcpy(rs[i - deterministic], sig, 32);
    }
    gkd_presign_read_stats(p, &st);
    /* Every signature was one or the other, and the counters know which. */
    ck_assert_uint_eq(st.presigned + st.inline_sigs, N);
    ck_assert_uint_eq(st.inline_sigs, deterministic);
    for (size_t i = 0; i < st.presigned; i++) {
        for (size_t j = i + 1; j < st.presigned; j++) {
            ck_assert_msg(memcmp(rs[i], rs[j], 32) != 0, "R of signatures %zu and %zu repeat", i,
                          j);
        }
    }
    gkd_presign_stop(p);
    free(rs);
}
END_TEST

START_TEST(test_forked_child_signs_deterministically)
{
    gkd_presign *p = NULL;
    static const uint8_t msg[] = "signed in a child";
    pid_t pid;
    int status = 0;

    ck_assert_int_eq(gkd_presign_start(&p, sk, 32, NULL), GK_OK);
    wait_ready(p, 32);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        uint8_t sig[GKP_ED25519_SIG_BYTES];
        uint8_t det[GKP_ED25519_SIG_BYTES];

        /* The ring was wiped by the kernel: no parent nonce can be reused here. */
        if (ready(p) != 0) {
            _exit(3);
        }
        gkd_presign_sign(sig, msg, sizeof(msg), p);
        crypto_sign_detached(det, NULL, msg, sizeof(msg), sk);
        _exit(memcmp(sig, det, sizeof(sig)) == 0 ? 0 : 4);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_uint_eq(ready(p), 32); /* the parent's pool is untouched */
    gkd_presign_stop(p);
}
END_TEST

/*
 * The refill thread puts back every pair a signature takes, one signature at a time: each
 * signature that leaves a full pool wakes it, and it computes exactly what was taken.
 */
START_TEST(test_refill_after_each_signature)
{
    gkd_presign *p = NULL;
    gkd_presign_stats before, after;
    uint8_t sig[GKP_ED25519_SIG_BYTES];
    static const uint8_t msg[] = "m";

    ck_assert_int_eq(gkd_presign_start(&p, sk, 4, NULL), GK_OK);
    wait_ready(p, 4);
    gkd_presign_read_stats(p, &before);
    for (int i = 1; i <= 3; i++) {
        ck_assert_int_eq(gkd_presign_sign(sig, msg, sizeof(msg), p), GK_OK);
        wait_ready(p, 4);
        gkd_presign_read_stats(p, &after);
        ck_assert_uint_eq(after.presigned, before.presigned + (uint64_t) i);
        ck_assert_uint_eq(after.computed, before.computed + (uint64_t) i);
    }
    gkd_presign_stop(p);
}
END_TEST

START_TEST(test_bad_arguments)
{
    gkd_presign *p = (gkd_presign *) &p;
    gk_diag diag = {0};

    ck_assert_int_eq(gkd_presign_start(&p, sk, 0, &diag), GK_EINVAL);
    ck_assert_ptr_nonnull(strstr(diag.text, "capacity of 1 to 65536"));
    ck_assert_int_eq(gkd_presign_start(&p, sk, 65537, NULL), GK_EINVAL);
    ck_assert_int_eq(gkd_presign_start(&p, NULL, 8, NULL), GK_EINVAL);
    ck_assert_int_eq(gkd_presign_start(NULL, sk, 8, NULL), GK_EINVAL);
    gkd_presign_stop(NULL);
}
END_TEST

/* The key ring signs through its pool once started, and its tokens verify as JWS. */
START_TEST(test_signer_uses_pool)
{
    char dir[] = "/tmp/gk-presign-XXXXXX";
    char path[PATH_MAX];
    char jwks_path[PATH_MAX];
    char kid[GKP_KID_MAX];
    gkd_signer *signer = NULL;
    gk_diag diag = {0};
    char *tok = NULL;
    size_t toklen = 0;
    uint8_t *payload = NULL;
    gkp_jwks *jwks = NULL;
    json_t *jwks_json;
    gkd_presign_stats st;
    static const char body[] = "{\"sub\":\"x\"}";

    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(gkd_keyfile_generate(dir, kid, path, &diag), GK_OK);
    ck_assert_int_eq(gkd_signer_new(&signer), GK_OK);
    ck_assert_int_eq(gkd_signer_presign(signer, 8, &diag), GK_EINVAL); /* no key yet */
    ck_assert_int_eq(gkd_signer_add_key_file(signer, path, &diag), GK_OK);
    ck_assert_ptr_null(gkd_signer_presigner(signer));
    ck_assert_int_eq(gkd_signer_presign(signer, 8, &diag), GK_OK);
    ck_assert_int_eq(gkd_signer_presign(signer, 8, NULL), GK_EINVAL); /* only once */
    ck_assert_ptr_nonnull(gkd_signer_presigner(signer));
    wait_ready(gkd_signer_presigner(signer), 1);
    ck_assert_int_eq(gkd_signer_sign(signer, body, strlen(body), &tok, &toklen), GK_OK);
    gkd_presign_read_stats(gkd_signer_presigner(signer), &st);
    ck_assert_uint_eq(st.presigned, 1);

    jwks_json = gkd_signer_jwks(signer);
    ck_assert_ptr_nonnull(jwks_json);
    ck_assert_int_eq(gkp_jwks_parse(&jwks, jwks_json, "jwks", NULL), GK_OK);
    ck_assert_int_eq(gkp_jws_verify(tok, toklen, jwks, &payload, NULL, &diag), GK_OK);
    ck_assert_str_eq((const char *) payload, body);
    free(payload);
    free(tok);
    gkp_jwks_free(jwks);
    json_decref(jwks_json);
    gkd_signer_free(signer);
    unlink(path);
    snprintf(jwks_path, sizeof(jwks_path), "%s/jwks.json", dir);
    unlink(jwks_path);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *
presign_suite(void)
{
    Suite *s = suite_create("presign");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_signatures_verify_and_differ);
    tcase_add_test(tc, test_no_nonce_reused);
    tcase_add_test(tc, test_forked_child_signs_deterministically);
    tcase_add_test(tc, test_refill_after_each_signature);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_signer_uses_pool);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(presign_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
