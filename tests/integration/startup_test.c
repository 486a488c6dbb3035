/*
 * startup_test.c - `gatekeeper keygen`, `jwks` and `serve` start-up: clear errors for a missing or
 * exposed key, a bad flags file, a port in use and bad arguments; key rotation; clean shutdown on
 * SIGTERM and SIGINT.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>
#include <jansson.h>

#include "gk_test.h"
#include "jwk.h"
#include "jws.h"
#include "msg.h"

static char out[16384];

static const char *
data_path(const char *name)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/integration/%s", gkt_env("GK_TEST_DATA"), name);
    return path;
}

/*
 * Runs `gatekeeper serve` with the integration policies, a fresh data directory, admin and event
 * sockets on kernel-chosen ports, and the argv tail; returns its exit status with output in `out`.
 */
static int
serve(const char *const *args)
{
    char policies[4096], dir[256], data[300];
    const char *argv[32] = {gkt_env("GK_DAEMON"), "serve", "--policies", policies,
                            "--data-dir", data, "--admin-listen", "tcp://127.0.0.1:0",
                            "--events-listen", "tcp://127.0.0.1:0"};
    size_t n = 10;
    int status;

    /* Not data_path(): its buffer may hold the caller's flags path. */
    snprintf(policies, sizeof(policies), "%s/integration/policies", gkt_env("GK_TEST_DATA"));
    gkt_tempdir(dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    while (*args != NULL && n < 31) {
        argv[n++] = *args++;
    }
    argv[n] = NULL;
    status = gkt_run(argv, NULL, out, sizeof(out), 10000);
    gkt_rmtree(dir);
    return status;
}

static void
keygen(const char *dir, char path[4096])
{
    const char *argv[] = {gkt_env("GK_DAEMON"), "keygen", "--out", dir, NULL};
    char *line;

    ck_assert_int_eq(gkt_run(argv, NULL, out, sizeof(out), 10000), 0);
    line = strstr(out, "private key: ");
    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(sscanf(line, "private key: %4095s", path), 1);
}

START_TEST(test_keygen_writes_private_key_and_jwks)
{
    char dir[256], keys[300], k1[4096], k2[4096], jwks[400];
    struct stat st;
    gkp_jwks *set = NULL;
    gk_diag diag = {0};
    char *text;

    gkt_tempdir(dir);
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    keygen(keys, k1);
    ck_assert_int_eq(stat(k1, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    keygen(keys, k2);
    ck_assert_str_ne(k1, k2);
    snprintf(jwks, sizeof(jwks), "%s/jwks.json", keys);
    ck_assert_int_eq(gkp_jwks_load_file(&set, jwks, &diag), GK_OK);
    ck_assert_uint_eq(gkp_jwks_count(set), 2);
    text = gkt_read_file(jwks);
    ck_assert_msg(strstr(text, "\"d\"") == NULL, "the JWKS holds a private key");
    ck_assert_ptr_nonnull(strstr(text, "\"OKP\""));
    free(text);
    gkp_jwks_free(set);
    gkt_rmtree(dir);
}
END_TEST

START_TEST(test_usage_errors)
{
    const char *no_key[] = {"--flags", "/nonexistent", NULL};
    const char *bad_workers[] = {"--workers", "0", NULL};
    const char *bad_pool[] = {"--nonce-pool", "65537", NULL};
    const char *argv[] = {gkt_env("GK_DAEMON"), "frobnicate", NULL};

    ck_assert_int_eq(serve(no_key), 2);
    ck_assert_ptr_nonnull(strstr(out, "--key"));
    ck_assert_int_eq(serve(bad_workers), 2);
    ck_assert_ptr_nonnull(strstr(out, "--workers 0"));
    ck_assert_int_eq(serve(bad_pool), 2);
    ck_assert_ptr_nonnull(strstr(out, "--nonce-pool 65537: give a number of nonces from 0 to 65536"));
    ck_assert_int_eq(gkt_run(argv, NULL, out, sizeof(out), 10000), 2);
    ck_assert_ptr_nonnull(strstr(out, "unknown command 'frobnicate'"));
}
END_TEST

START_TEST(test_missing_and_exposed_keys_are_refused)
{
    char dir[256], keys[300], key[4096];
    const char *missing[] = {"--flags", data_path("flags.json"), "--key", "/nonexistent/k.jwk",
                             "--listen", "tcp://127.0.0.1:0", NULL};
    const char *exposed[] = {"--flags", data_path("flags.json"), "--key", key, "--listen",
                             "tcp://127.0.0.1:0", NULL};

    ck_assert_int_eq(serve(missing), 1);
    ck_assert_msg(strstr(out, "cannot open key file") != NULL, "%s", out);
    gkt_tempdir(dir);
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    keygen(keys, key);
    chmod(key, 0644);
    ck_assert_int_eq(serve(exposed), 1);
    ck_assert_msg(strstr(out, "chmod 600") != NULL, "%s", out);
    gkt_rmtree(dir);
}
END_TEST

START_TEST(test_bad_flags_file_names_flag_and_problem)
{
    char dir[256], keys[300], key[4096];
    const char *args[] = {"--flags", data_path("flags-bad.json"), "--key", key, "--listen",
                          "tcp://127.0.0.1:0", NULL};
    const char *absent[] = {"--flags", "/nonexistent/flags.json", "--key", key, "--listen",
                            "tcp://127.0.0.1:0", NULL};

    gkt_tempdir(dir);
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    keygen(keys, key);
    ck_assert_int_eq(serve(args), 1);
    ck_assert_msg(strstr(out, "orders.read_v2") != NULL && strstr(out, "maybe") != NULL, "%s",
                  out);
    ck_assert_int_eq(serve(absent), 1);
    ck_assert_msg(strstr(out, "/nonexistent/flags.json") != NULL, "%s", out);
    gkt_rmtree(dir);
}
END_TEST

START_TEST(test_port_in_use)
{
    gkt_daemon d;
    const char *args[] = {"--flags", data_path("flags.json"), "--key", d.key_path, "--listen",
                          d.tcp_url, NULL};

    ck_assert_int_eq(gkt_daemon_start(&d, data_path("flags.json"), NULL), 0);
    ck_assert_int_eq(serve(args), 1);
    ck_assert_msg(strstr(out, "address already in use") != NULL, "%s", out);
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_rotation_publishes_both_keys_and_signs_with_first)
{
    char dir[256], keys[300], key2[4096], *text = NULL;
    const char *extra[] = {"--key", key2, NULL};
    const char *req = "{\"v\":1,\"op\":\"jwks\"}";
    const char *eval = "{\"v\":1,\"op\":\"evaluate\"}";
    gkt_daemon d;
    gkp_reply reply;
    gkp_jwks *published = NULL, *first = NULL;
    gk_diag diag = {0};
    uint8_t *payload = NULL;
    size_t len;

    gkt_tempdir(dir);
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    keygen(keys, key2);
    ck_assert_int_eq(gkt_daemon_start(&d, data_path("flags.json"), extra), 0);

    ck_assert_int_eq(gkt_request(d.tcp_url, req, strlen(req), &text, 5000), 0);
    ck_assert_int_eq(gkp_reply_decode(&reply, text, strlen(text), &diag), GK_OK);
    ck_assert_int_eq(gkp_jwks_parse(&published, reply.jwks, "reply", &diag), GK_OK);
    ck_assert_uint_eq(gkp_jwks_count(published), 2);
    gkp_reply_fini(&reply);
    free(text);

    /* The token verifies against the first key's own JWKS: the first --key signs. */
    ck_assert_int_eq(gkt_request(d.tcp_url, eval, strlen(eval), &text, 5000), 0);
    ck_assert_int_eq(gkp_reply_decode(&reply, text, strlen(text), &diag), GK_OK);
    ck_assert_int_eq(gkp_jwks_load_file(&first, d.jwks_path, &diag), GK_OK);
    ck_assert_int_eq(gkp_jws_verify(reply.token, reply.token_len, first, &payload, &len, &diag),
                     GK_OK);
    free(payload);
    gkp_reply_fini(&reply);
    free(text);
    gkp_jwks_free(first);
    gkp_jwks_free(published);
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
    gkt_rmtree(dir);
}
END_TEST

START_TEST(test_jwks_command_prints_public_keys_only)
{
    char dir[256], keys[300], key[4096];
    const char *argv[] = {gkt_env("GK_DAEMON"), "jwks", "--key", key, NULL};

    gkt_tempdir(dir);
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    keygen(keys, key);
    ck_assert_int_eq(gkt_run(argv, NULL, out, sizeof(out), 10000), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"x\""));
    ck_assert_ptr_nonnull(strstr(out, "\"kid\""));
    ck_assert_msg(strstr(out, "\"d\"") == NULL, "jwks printed a private key: %s", out);
    gkt_rmtree(dir);
}
END_TEST

static void
stops_cleanly_on(int sig)
{
    gkt_daemon d;

    ck_assert_int_eq(gkt_daemon_start(&d, data_path("flags.json"), NULL), 0);
    gkt_daemon_signal(&d, sig);
    ck_assert(gkt_log_contains(&d, "stopped", 10000));
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
}

START_TEST(test_sigterm_and_sigint_stop_cleanly)
{
    stops_cleanly_on(SIGTERM);
    stops_cleanly_on(SIGINT);
}
END_TEST

static Suite *
startup_suite(void)
{
    Suite *s = suite_create("startup");
    TCase *tc = tcase_create("startup");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_keygen_writes_private_key_and_jwks);
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_missing_and_exposed_keys_are_refused);
    tcase_add_test(tc, test_bad_flags_file_names_flag_and_problem);
    tcase_add_test(tc, test_port_in_use);
    tcase_add_test(tc, test_rotation_publishes_both_keys_and_signs_with_first);
    tcase_add_test(tc, test_jwks_command_prints_public_keys_only);
    tcase_add_test(tc, test_sigterm_and_sigint_stop_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(startup_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
