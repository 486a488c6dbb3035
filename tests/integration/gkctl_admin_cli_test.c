/*
 * gkctl_admin_cli_test.c - the real gkctl (GK_GKCTL) admin commands where no gatekeeper is needed:
 * `actor keygen` (files, modes, the entry, never overwriting, --actors merge and refusal of a bad
 * file), usage errors (exit 2, saying what to pass), an unreachable or silent gatekeeper (exit 7,
 * within --timeout-ms), and `audit verify --data-dir --jwks` on a journal built with the journal API
 * (exit 0, then 1 naming the record after tampering).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <sodium.h>

#include "b64url.h"
#include "gk_test.h"
#include "keyfile.h"
#include "signer.h"
#include "journal.h"

static char out[65536];
static char dir[256];

static void
setup(void)
{
    gkt_tempdir(dir);
    /* The admin commands must not pick up the environment of whoever runs the tests. */
    unsetenv("GK_ADMIN_URL");
    unsetenv("GK_ACTOR_KEY_FILE");
    unsetenv("GK_ACTOR_KEY");
}

static void
teardown(void)
{
    gkt_rmtree(dir);
}

/* Run gkctl with arguments (NULL-terminated); returns the exit status. */
static int
gkctl(const char *a1, ...)
{
    const char *argv[40];
    va_list ap;
    int n = 0;

    argv[n++] = gkt_env("GK_GKCTL");
    argv[n++] = a1;
    va_start(ap, a1);
    while (n < 39 && (argv[n] = va_arg(ap, const char *)) != NULL) {
        n++;
    }
    va_end(ap);
    argv[n] = NULL;
    return gkt_run(argv, NULL, out, sizeof out, 30000);
}

static const char *
path(const char *rel)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];

    snprintf(p, sizeof paths[0], "%s/%s", dir, rel);
    return p;
}

#define ck_assert_out(needle)                                                                      \
    ck_assert_msg(strstr(out, needle) != NULL, "no \"%s\" in:\n%s", needle, out)

/* Make an actor "rita" in DIR/keys and return the key file path. */
static const char *
make_rita(void)
{
    ck_assert_int_eq(gkctl("actor", "keygen", "--id", "rita", "--team", "team-orders", "--roles",
                           "release-manager", "--out", path("keys"), NULL),
                     0);
    return path("keys/rita.jwk");
}

START_TEST(test_keygen_files_and_modes)
{
    struct stat st;
    json_t *jwk, *entry;
    char *text;
    uint8_t seed[32], x[32], pk[32], sk[64];
    size_t n1 = 0, n2 = 0;
    const char *brace;

    ck_assert_int_eq(gkctl("--json", "actor", "keygen", "--id", "rita", "--team", "team-orders",
                           "--roles", "release-manager,owner", "--out", path("keys"), NULL),
                     0);
    /* stdout is the actors-file entry, public only. */
    brace = strchr(out, '{');
    ck_assert_ptr_nonnull(brace);
    entry = json_loads(brace, 0, NULL);
    ck_assert_ptr_nonnull(entry);
    ck_assert_str_eq(json_string_value(json_object_get(entry, "id")), "rita");
    ck_assert_str_eq(json_string_value(json_object_get(entry, "team")), "team-orders");
    ck_assert_int_eq(json_array_size(json_object_get(entry, "roles")), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(entry, "roles"), 1)),
                     "owner");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(entry, "jwk"), "kid")),
                     "rita");
    ck_assert_ptr_null(json_object_get(json_object_get(entry, "jwk"), "d"));
    ck_assert_ptr_null(strstr(out, "\"d\""));

    /* The key file: mode 0600, a private JWK whose x is the public half of d, kid = id. */
    ck_assert_int_eq(stat(path("keys/rita.jwk"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(path("keys"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0077, 0);
    text = gkt_read_file(path("keys/rita.jwk"));
    jwk = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(jwk);
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "OKP");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "crv")), "Ed25519");
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "kid")), "rita");
    ck_assert_int_eq(gkp_b64url_decode(seed, 32, &n1, json_string_value(json_object_get(jwk, "d")),
                                       json_string_length(json_object_get(jwk, "d"))),
                     GK_OK);
    ck_assert_int_eq(gkp_b64url_decode(x, 32, &n2, json_string_value(json_object_get(jwk, "x")),
                                       json_string_length(json_object_get(jwk, "x"))),
                     GK_OK);
    crypto_sign_seed_keypair(pk, sk, seed);
    ck_assert(memcmp(pk, x, 32) == 0);
    ck_assert_str_eq(json_string_value(json_object_get(jwk, "x")),
                     json_string_value(json_object_get(json_object_get(entry, "jwk"), "x")));
    json_decref(jwk);
    json_decref(entry);

    /* Never overwrite: a second keygen for rita fails and leaves the key as it was. */
    ck_assert_int_eq(gkctl("actor", "keygen", "--id", "rita", "--team", "t", "--roles", "owner",
                           "--out", path("keys"), NULL),
                     1);
    ck_assert_out("never overwritten");
    {
        char *again = gkt_read_file(path("keys/rita.jwk"));
        ck_assert_str_eq(again, text);
        free(again);
    }
    free(text);
}
END_TEST

START_TEST(test_keygen_actors_merge)
{
    json_t *doc, *list;
    struct stat st;
    const char *x_first;
    char x1[64];

    ck_assert_int_eq(gkctl("actor", "keygen", "--id", "rita", "--team", "team-orders", "--roles",
                           "release-manager", "--out", path("keys"), "--actors",
                           path("actors.json"), NULL),
                     0);
    ck_assert_out("added actor rita");
    ck_assert_int_eq(gkctl("actor", "keygen", "--id", "vic", "--team", "team-orders", "--roles",
                           "viewer", "--out", path("keys"), "--actors", path("actors.json"), NULL),
                     0);
    doc = json_load_file(path("actors.json"), 0, NULL);
    ck_assert_ptr_nonnull(doc);
    list = json_object_get(doc, "actors");
    ck_assert_int_eq(json_array_size(list), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "id")), "rita");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "id")), "vic");
    x_first = json_string_value(json_object_get(json_object_get(json_array_get(list, 0), "jwk"),
                                                "x"));
    snprintf(x1, sizeof x1, "%s", x_first);
    ck_assert_ptr_null(json_object_get(json_object_get(json_array_get(list, 0), "jwk"), "d"));
    json_decref(doc);
    ck_assert_int_eq(stat(path("actors.json"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);

    /* A new key for rita (elsewhere) replaces her entry in place; vic stays. */
    ck_assert_int_eq(gkctl("actor", "keygen", "--id", "rita", "--team", "team-payments", "--roles",
                           "owner", "--out", path("keys2"), "--actors", path("actors.json"), NULL),
                     0);
    ck_assert_out("replaced actor rita");
    doc = json_load_file(path("actors.json"), 0, NULL);
    list = json_object_get(doc, "actors");
    ck_assert_int_eq(json_array_size(list), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "team")),
                     "team-payments");
    ck_assert_str_ne(json_string_value(json_object_get(
                         json_object_get(json_array_get(list, 0), "jwk"), "x")),
                     x1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "id")), "vic");
    json_decref(doc);

    /* A file that is not an actors file is refused before any key is written. */
    ck_assert_int_eq(gkt_write_file(path("bad.json"), "{\"people\": []}", 0644), 0);
    ck_assert_int_eq(gkctl("actor", "keygen", "--id", "olga", "--team", "t", "--roles", "owner",
                           "--out", path("keys"), "--actors", path("bad.json"), NULL),
                     2);
    ck_assert_out("not an actors file");
    ck_assert_int_ne(access(path("keys/olga.jwk"), F_OK), 0);
}
END_TEST

START_TEST(test_keygen_usage)
{
    ck_assert_int_eq(gkctl("actor", "keygen", "--id", "rita", NULL), 2);
    ck_assert_out("--team");
    ck_assert_int_eq(gkctl("actor", "keygen", "--id", "../etc", "--team", "t", "--roles", "owner",
                           "--out", path("keys"), NULL),
                     2);
    ck_assert_int_eq(gkctl("actor", "keygen", "--id", "rita", "--team", "t", "--roles", "a,,b",
                           "--out", path("keys"), NULL),
                     2);
    ck_assert_int_eq(gkctl("actor", "frobnicate", NULL), 2);
    ck_assert_int_ne(access(path("keys"), F_OK), 0);
}
END_TEST

START_TEST(test_usage_errors)
{
    const char *key = make_rita();
    const char *url = "tcp://127.0.0.1:1";

    /* A change without --why is refused before anything is sent, saying what to pass. */
    ck_assert_int_eq(gkctl("rollout", "set", "orders.read_v2", "--percent", "5", "--key", key,
                           "--admin", url, NULL),
                     2);
    ck_assert_out("pass --why");
    ck_assert_int_eq(gkctl("kill", "orders.read_v2", "--key", key, NULL), 2);
    ck_assert_out("--why");
    ck_assert_int_eq(gkctl("flag", "apply", path("none.json"), "--why", "a good reason", "--key",
                           key, NULL),
                     2);
    /* Arguments gkctl can check itself. */
    ck_assert_int_eq(gkctl("rollout", "set", "f", "--percent", "100.5", "--why", "a good reason",
                           "--key", key, NULL),
                     2);
    ck_assert_int_eq(gkctl("rollout", "set", "f", "--percent", "5.1234", "--why", "a good reason",
                           "--key", key, NULL),
                     2);
    ck_assert_int_eq(gkctl("rollout", "set", "f", "--variant-weights", "a=30,b=60", "--why",
                           "a good reason", "--key", key, NULL),
                     2);
    ck_assert_out("add up to 100");
    ck_assert_int_eq(gkctl("rollout", "set", "f", "--percent", "5", "--variant-weights",
                           "a=50,b=50", "--why", "a good reason", "--key", key, NULL),
                     2);
    ck_assert_int_eq(gkctl("rollout", "plan", "f", "--steps", "1,5,5,100", "--hold", "10m",
                           "--why", "a good reason", "--key", key, NULL),
                     2);
    ck_assert_out("does not increase");
    ck_assert_int_eq(gkctl("rollout", "plan", "f", "--steps", "1,5,25,100", "--hold", "10x",
                           "--why", "a good reason", "--key", key, NULL),
                     2);
    ck_assert_int_eq(gkctl("rollout", "advance", NULL), 2);
    ck_assert_int_eq(gkctl("rollout", "pause", "f", "--force", "--why", "a good reason", NULL), 2);
    ck_assert_int_eq(gkctl("rollout", "sideways", "f", NULL), 2);
    ck_assert_int_eq(gkctl("optin", "add", "f", NULL), 2);
    ck_assert_int_eq(gkctl("status", "--base", "x", NULL), 2);
    ck_assert_int_eq(gkctl("status", "--timeout-ms", "0", NULL), 2);
    ck_assert_int_eq(gkctl("audit", "show", "abc", NULL), 2);
    ck_assert_int_eq(gkctl("audit", "log", "--since", "yesterday", "--key", key, NULL), 2);
    ck_assert_int_eq(gkctl("audit", "verify", "--data-dir", dir, NULL), 2);
    ck_assert_int_eq(gkctl("flag", "get", NULL), 2);
    /* No key anywhere: say how to get one. */
    ck_assert_int_eq(gkctl("status", "--admin", url, NULL), 2);
    ck_assert_out("gkctl actor keygen");
    ck_assert_int_eq(gkctl("status", "--admin", url, "--key", path("keys/nobody.jwk"), NULL), 2);
    /* A key file others may read is refused. */
    chmod(key, 0644);
    ck_assert_int_eq(gkctl("status", "--admin", url, "--key", key, NULL), 2);
    ck_assert_out("chmod 600");
}
END_TEST

START_TEST(test_unreachable)
{
    const char *key = make_rita();
    long long t0;
    char sock[600];

    /* Nothing listens on port 1: exit 7 at once, saying where it looked. */
    t0 = gkt_now_ms();
    ck_assert_int_eq(gkctl("status", "--admin", "tcp://127.0.0.1:1", "--key", key,
                           "--timeout-ms", "300", NULL),
                     7);
    ck_assert_out("cannot reach the gatekeeper at tcp://127.0.0.1:1: is it running?");
    ck_assert_out("GK_ADMIN_URL");
    ck_assert_int_lt(gkt_now_ms() - t0, 5000);

    /* The URL and the key also come from the environment. */
    snprintf(sock, sizeof sock, "ipc://%s/admin.sock", dir);
    setenv("GK_ADMIN_URL", sock, 1);
    setenv("GK_ACTOR_KEY_FILE", key, 1);
    ck_assert_int_eq(gkctl("rollout", "advance", "orders.read_v2", "--why", "next step please",
                           NULL),
                     7);
    ck_assert_out(sock);
    /* --json: one JSON document on stdout, nothing else. */
    ck_assert_int_eq(gkctl("--json", "flag", "list", NULL), 7);
    {
        json_t *doc = json_loads(out, 0, NULL);
        ck_assert_msg(doc != NULL, "not JSON:\n%s", out);
        ck_assert_str_eq(json_string_value(json_object_get(doc, "error")), "UNREACHABLE");
        json_decref(doc);
    }
    unsetenv("GK_ADMIN_URL");
    unsetenv("GK_ACTOR_KEY_FILE");

    /* The private JWK itself in GK_ACTOR_KEY works too (and a broken one is a usage error). */
    {
        char *text = gkt_read_file(key);
        setenv("GK_ACTOR_KEY", text, 1);
        free(text);
    }
    ck_assert_int_eq(gkctl("status", "--admin", "tcp://127.0.0.1:1", NULL), 7);
    setenv("GK_ACTOR_KEY", "{\"kty\":\"OKP\"}", 1);
    ck_assert_int_eq(gkctl("status", "--admin", "tcp://127.0.0.1:1", NULL), 2);
    ck_assert_out("GK_ACTOR_KEY");
    unsetenv("GK_ACTOR_KEY");

    /* Not an nng URL. */
    ck_assert_int_eq(gkctl("status", "--admin", "http://x", "--key", key, NULL), 2);
}
END_TEST

START_TEST(test_silent_gatekeeper_times_out)
{
    const char *key = make_rita();
    nng_socket rep;
    nng_listener l;
    char url[300];
    int port = 0;
    long long t0;

    /* A REP socket that takes the request and never answers. */
    ck_assert_int_eq(nng_rep0_open(&rep), 0);
    ck_assert_int_eq(nng_listen(rep, "tcp://127.0.0.1:0", &l, 0), 0);
    ck_assert_int_eq(nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port), 0);
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", port);
    t0 = gkt_now_ms();
    ck_assert_int_eq(gkctl("status", "--admin", url, "--key", key, "--timeout-ms", "300", NULL),
                     7);
    ck_assert_out("no reply from the gatekeeper");
    ck_assert_out("300 ms");
    ck_assert_int_ge(gkt_now_ms() - t0, 250);
    ck_assert_int_lt(gkt_now_ms() - t0, 10000);
    nng_close(rep);
}
END_TEST

/* Build DIR/data/journal.jsonl with `n` records signed by a fresh gatekeeper key. */
static void
build_journal(int n)
{
    char kid[GKP_KID_MAX], keypath[4096];
    gkd_signer *signer = NULL;
    gkp_jwks *trusted = NULL;
    gkd_journal *j = NULL;
    json_t *jwks, *changes, *args;
    gk_diag d;

    memset(&d, 0, sizeof d);
    ck_assert_int_eq(gkd_keyfile_generate(path("gk-keys"), kid, keypath, &d), GK_OK);
    ck_assert_int_eq(gkd_signer_new(&signer), GK_OK);
    ck_assert_int_eq(gkd_signer_add_key_file(signer, keypath, &d), GK_OK);
    jwks = gkd_signer_jwks(signer);
    ck_assert_int_eq(gkp_jwks_parse(&trusted, jwks, "jwks", &d), GK_OK);
    json_decref(jwks);
    ck_assert_int_eq(mkdir(path("data"), 0700), 0);
    ck_assert_msg(gkd_journal_open(&j, path("data"), trusted, 0, NULL, NULL, &d) == GK_OK, "%s",
                  d.text);
    for (int i = 1; i <= n; i++) {
        json_t *rec = NULL;
        gkd_store_change ch;
        args = json_pack("{s:s,s:i}", "key", "orders.read_v2", "percent", i * 5);
        changes = json_pack("[{s:s,s:s,s:n,s:{s:i}}]", "kind", "flag", "key", "orders.read_v2",
                            "before", "after", "percent", i * 5);
        memset(&ch, 0, sizeof ch);
        ch.actor = "rita";
        ch.op = "rollout.set";
        ch.args = args;
        ch.why = "ramp the new read path";
        ch.changes = changes;
        ck_assert_int_eq(gkd_journal_record_new(&rec, j, &ch, signer, &d), GK_OK);
        ck_assert_msg(gkd_journal_append(j, rec, &d) == GK_OK, "%s", d.text);
        json_decref(rec);
        json_decref(args);
        json_decref(changes);
    }
    gkd_journal_close(j);
    gkp_jwks_free(trusted);
    gkd_signer_free(signer);
}

START_TEST(test_offline_audit_verify)
{
    char *text, *p;
    json_t *doc;

    build_journal(3);
    ck_assert_int_eq(gkctl("audit", "verify", "--data-dir", path("data"), "--jwks",
                           path("gk-keys/jwks.json"), NULL),
                     0);
    ck_assert_out("ok: 3 records verify");
    ck_assert_int_eq(gkctl("--json", "audit", "verify", "--data-dir", path("data"), "--jwks",
                           path("gk-keys/jwks.json"), NULL),
                     0);
    doc = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    ck_assert(json_is_true(json_object_get(doc, "ok")));
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "records")), 3);
    ck_assert_uint_eq(json_string_length(json_object_get(doc, "head")), 64);
    json_decref(doc);

    /* Another gatekeeper's keys do not verify it. */
    {
        char kid[GKP_KID_MAX], kp[4096];
        gk_diag d;
        memset(&d, 0, sizeof d);
        ck_assert_int_eq(gkd_keyfile_generate(path("other-keys"), kid, kp, &d), GK_OK);
    }
    ck_assert_int_eq(gkctl("audit", "verify", "--data-dir", path("data"), "--jwks",
                           path("other-keys/jwks.json"), NULL),
                     1);
    ck_assert_out("FAILED: record 1");

    /* Tamper with the reason of record 2: named, exit 1. */
    text = gkt_read_file(path("data/journal.jsonl"));
    p = strstr(strchr(text, '\n') + 1, "ramp the new");
    ck_assert_ptr_nonnull(p);
    p[0] = 'R';
    ck_assert_int_eq(gkt_write_file(path("data/journal.jsonl"), text, 0600), 0);
    free(text);
    ck_assert_int_eq(gkctl("audit", "verify", "--data-dir", path("data"), "--jwks",
                           path("gk-keys/jwks.json"), NULL),
                     1);
    ck_assert_out("FAILED: record 2 (line 2)");
    ck_assert_out("1 records verified before it");
    ck_assert_int_eq(gkctl("--json", "audit", "verify", "--data-dir", path("data"), "--jwks",
                           path("gk-keys/jwks.json"), NULL),
                     1);
    ck_assert_out("\"ok\": false");
    ck_assert_out("\"problem\": \"record 2 (line 2)");

    /* No journal there, or no such JWKS: usage errors. */
    ck_assert_int_eq(gkctl("audit", "verify", "--data-dir", path("nothing"), "--jwks",
                           path("gk-keys/jwks.json"), NULL),
                     2);
    ck_assert_int_eq(gkctl("audit", "verify", "--data-dir", path("data"), "--jwks",
                           path("nothing.json"), NULL),
                     2);
}
END_TEST

static Suite *
gkctl_admin_suite(void)
{
    Suite *s = suite_create("gkctl_admin_cli");
    TCase *tc = tcase_create("cli");

    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_keygen_files_and_modes);
    tcase_add_test(tc, test_keygen_actors_merge);
    tcase_add_test(tc, test_keygen_usage);
    tcase_add_test(tc, test_usage_errors);
    tcase_add_test(tc, test_unreachable);
    tcase_add_test(tc, test_silent_gatekeeper_times_out);
    tcase_add_test(tc, test_offline_audit_verify);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(gkctl_admin_suite());
    int failed;

    if (sodium_init() < 0) {
        return EXIT_FAILURE;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
