/*
 * admin_tls_test.c - the admin socket over tls+tcp:// (nng's built-in mbed TLS): gkctl talks to it
 * with the CA that signed the gatekeeper's certificate, is refused without one (exit 2) or with
 * the wrong one (exit 7), and the daemon refuses a tls+tcp:// admin URL without a certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "gk_test.h"

static char out[65536];

/* A self-signed EC certificate for 127.0.0.1 in dir: cert.pem, and both.pem (cert + key). */
static void
make_certificate(const char *dir, const char *name)
{
    char key[400], cert[400], both[400], subj[64];
    const char *argv[] = {gkt_env("GK_OPENSSL"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                          "-days", "2", "-subj", subj, NULL};
    char *k, *c, *text;

    snprintf(key, sizeof(key), "%s/%s-key.pem", dir, name);
    snprintf(cert, sizeof(cert), "%s/%s-cert.pem", dir, name);
    snprintf(both, sizeof(both), "%s/%s-both.pem", dir, name);
    snprintf(subj, sizeof(subj), "/CN=127.0.0.1");
    ck_assert_msg(gkt_run(argv, NULL, out, sizeof(out), 30000) == 0, "openssl: %s", out);
    c = gkt_read_file(cert);
    k = gkt_read_file(key);
    text = malloc(strlen(c) + strlen(k) + 1);
    strcpy(text, c);
    strcat(text, k);
    ck_assert_int_eq(gkt_write_file(both, text, 0600), 0);
    free(text);
    free(c);
    free(k);
}

/* The tls+tcp:// admin URL from the daemon's ready file. */
static void
tls_url(const gkt_daemon *d, char url[256])
{
    char path[400], *text, *line;

    snprintf(path, sizeof(path), "%s/ready", d->dir);
    text = gkt_read_file(path);
    ck_assert_ptr_nonnull(text);
    line = strstr(text, "admin tls+tcp://");
    ck_assert_msg(line != NULL, "no TLS admin URL in the ready file: %s", text);
    ck_assert_int_eq(sscanf(line + 6, "%255s", url), 1);
    free(text);
}

static int
status(const gkt_daemon *d, const char *url, const char *ca)
{
    const char *argv[] = {gkt_env("GK_GKCTL"), "status", "--admin", url, "--key",
                          d->actor_key_path[0], ca != NULL ? "--admin-ca" : NULL, ca, NULL};

    return gkt_run(argv, NULL, out, sizeof(out), 20000);
}

START_TEST(test_admin_over_tls)
{
    char dir[256], both[400], cert[400], other[400], flags[4096], url[256], policies[4096];
    const char *extra[] = {"--admin-listen", "tls+tcp://127.0.0.1:0", "--admin-tls-cert", both,
                           "--policies", policies, NULL};
    gkt_daemon d;

    gkt_tempdir(dir);
    make_certificate(dir, "gatekeeper");
    make_certificate(dir, "other");
    snprintf(both, sizeof(both), "%s/gatekeeper-both.pem", dir);
    snprintf(cert, sizeof(cert), "%s/gatekeeper-cert.pem", dir);
    snprintf(other, sizeof(other), "%s/other-cert.pem", dir);
    snprintf(flags, sizeof(flags), "%s/integration/flags.json", gkt_env("GK_TEST_DATA"));
    snprintf(policies, sizeof(policies), "%s/policies", gkt_env("GK_SOURCE_DIR"));
    ck_assert_int_eq(gkt_daemon_start(&d, flags, extra), 0);
    tls_url(&d, url);

    ck_assert_msg(status(&d, url, cert) == 0, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "orders.read_v2"));
    /* No --nonce-pool: the gatekeeper's default. */
    ck_assert_msg(strstr(out, "signing: no nonce pool, every signature made inline") != NULL, "%s",
                  out);
    ck_assert_int_eq(status(&d, url, NULL), 2);
    ck_assert_ptr_nonnull(strstr(out, "--admin-ca"));
    ck_assert_int_eq(status(&d, url, other), 7);
    ck_assert_ptr_nonnull(strstr(out, "TLS handshake"));
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
    gkt_rmtree(dir);
}
END_TEST

START_TEST(test_tls_url_needs_a_certificate)
{
    char flags[4096];
    const char *extra[] = {"--admin-listen", "tls+tcp://127.0.0.1:0", NULL};
    gkt_daemon d;

    snprintf(flags, sizeof(flags), "%s/integration/flags.json", gkt_env("GK_TEST_DATA"));
    ck_assert_int_ne(gkt_daemon_start(&d, flags, extra), 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("admin_tls");
    TCase *tc = tcase_create("tls");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_admin_over_tls);
    tcase_add_test(tc, test_tls_url_needs_a_certificate);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
