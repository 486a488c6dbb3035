/*
 * decide_test.c - the replies of the decision path, byte for byte: a token reply (plain, in a
 * session, opening a session, with the explain trace) must be exactly what the reply encoders
 * make of the token (gkp_reply_encode_token, gkp_session_mac, gkp_reply_add_session), and the
 * token exactly what the key ring signs for its payload (deterministic Ed25519: no nonce pool);
 * a token over the size limit gets its error reply.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <sodium.h>

#include "b64url.h"
#include "decide.h"
#include "gk_test.h"
#include "jws.h"
#include "msg.h"
#include "session.h"
#include "snapshot.h"

/* RFC 8037 Appendix A.1's key, with a kid of our own. */
#define KEY_JWK                                                                                    \
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"pinned-key\","                                 \
    "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","                                       \
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"

/* Flags: a rule with an id and a string variant, a JSON object value, a disabled flag; "big" is
 * given a value of BIG_CHARS characters in setup, too large for a token. */
#define FLAGS_HEAD                                                                                 \
    "{\"flags\":{"                                                                                 \
    "\"orders.read_v2\":{\"variants\":{\"on\":true,\"off\":false},\"defaultVariant\":\"off\","     \
    "\"rules\":[{\"id\":\"eu\",\"clauses\":[{\"attribute\":\"region\",\"op\":\"equals\","       \
    "\"value\":\"eu\"}],\"variant\":\"on\"}]},"                                                     \
    "\"ui.theme\":{\"variants\":{\"dark\":{\"bg\":\"#000\",\"n\":[1,2.5]},\"light\":\"w\\u00e9\"},"  \
    "\"defaultVariant\":\"dark\"},"                                                                \
    "\"old.flag\":{\"state\":\"DISABLED\",\"variants\":{\"a\":1},\"defaultVariant\":\"a\"},"       \
    "\"big\":{\"variants\":{\"v\":\""
#define FLAGS_TAIL "\"},\"defaultVariant\":\"v\"}}}"
#define BIG_CHARS  800000

static char dir[256];
static gkd_slot snapshots;
static gkd_signer *signer;
static gkd_sessions *sessions;
static gkd_decider decider;
static gkd_policy_vm *vm;
static gkp_jwks *jwks;

static void
setup(void)
{
    char path[PATH_MAX];
    gk_diag diag = {0};
    gkd_snapshot *snap = NULL;
    json_t *doc;
    size_t head = strlen(FLAGS_HEAD);
    char *flags = malloc(head + BIG_CHARS + sizeof(FLAGS_TAIL));

    ck_assert_int_ge(sodium_init(), 0);
    gkt_tempdir(dir);
    snprintf(path, sizeof(path), "%s/pinned-key.jwk", dir);
    ck_assert_int_eq(gkt_write_file(path, KEY_JWK, 0600), 0);
    ck_assert_int_eq(gkd_signer_new(&signer), GK_OK);
    ck_assert_int_eq(gkd_signer_add_key_file(signer, path, &diag), GK_OK);
    doc = gkd_signer_jwks(signer);
    ck_assert_int_eq(gkp_jwks_parse(&jwks, doc, "jwks", NULL), GK_OK);
    json_decref(doc);

    ck_assert_ptr_nonnull(flags);
    memcpy(flags, FLAGS_HEAD, head);
    memset(flags + head, 'x', BIG_CHARS);
    memcpy(flags + head + BIG_CHARS, FLAGS_TAIL, sizeof(FLAGS_TAIL));
    snprintf(path, sizeof(path), "%s/flags.json", dir);
    ck_assert_int_eq(gkt_write_file(path, flags, 0600), 0);
    free(flags);
    ck_assert_int_eq(gkd_snapshot_load_file(&snap, path, 7, &diag), GK_OK);
    ck_assert_int_eq(gkd_snapshot_slot_init(&snapshots), GK_OK);
    gkd_slot_swap_take(&snapshots, snap);
    ck_assert_int_eq(gkd_sessions_new(&sessions), GK_OK);

    memset(&decider, 0, sizeof(decider));
    decider.snapshots = &snapshots;
    decider.signer = signer;
    decider.sessions = sessions;
    decider.token_ttl_s = GKD_TOKEN_TTL_DEFAULT_S;
    vm = NULL;
}

static void
teardown(void)
{
    gkd_policy_vm_close(vm);
    gkd_sessions_free(sessions);
    gkd_slot_fini(&snapshots);
    gkp_jwks_free(jwks);
    gkd_signer_free(signer);
    gkt_rmtree(dir);
}

/* The reply to an evaluate request for `flag` (NULL: every flag) in `session`, opening one with
 * `session_pub` (either NULL); caller frees. */
static char *
decide(const char *flag, const char *tk, const char *session, const char *session_pub,
       size_t *lenp)
{
    const char *const flags[] = {flag};
    json_t *ctx = json_pack("{s:s, s:s}", "targetingKey", tk, "region", "eu");
    char *req = NULL, *reply = NULL;
    size_t len = 0;

    ck_assert_int_eq(gkp_request_encode_evaluate_session(&req, &len, flag != NULL ? flags : NULL,
                                                         flag != NULL, ctx,
                                                         "tlzwBc1KtQSu7t29-afsVg", session,
                                                         session_pub),
                     GK_OK);
    ck_assert_int_eq(gkd_decide_handle(&decider, &vm, req, len, &reply, lenp), GK_OK);
    ck_assert_ptr_nonnull(reply);
    free(req);
    json_decref(ctx);
    return reply;
}

/* Checks that `tok` is what the ring signs for its own payload; returns the payload. */
static char *
check_token(const char *tok, size_t toklen)
{
    uint8_t *payload = NULL;
    size_t plen = 0;
    char *again = NULL;
    size_t againlen = 0;

    ck_assert_int_eq(gkp_jws_verify(tok, toklen, jwks, &payload, &plen, NULL), GK_OK);
    ck_assert_int_eq(gkd_signer_sign(signer, (const char *) payload, plen, &again, &againlen),
                     GK_OK);
    ck_assert_uint_eq(againlen, toklen);
    ck_assert_mem_eq(again, tok, toklen);
    free(again);
    return (char *) payload;
}

/* The token reply the encoders make for `tok`, with the session MAC under `key` when not NULL
 * and the session JWS `session` when not NULL. */
static char *
expected_reply(const char *tok, size_t toklen, const uint8_t *key, const char *session,
               size_t *lenp)
{
    char *want = NULL;
    char mac[GKP_SESSION_MAC_CHARS + 1];

    ck_assert_int_eq(gkp_reply_encode_token(&want, lenp, tok, toklen), GK_OK);
    if (key != NULL) {
        gkp_session_mac(mac, key, tok, toklen);
        ck_assert_int_eq(gkp_reply_add_session(&want, lenp, mac, session), GK_OK);
    }
    return want;
}

/* Decodes `reply`, checks its token and that the reply is exactly expected_reply's. */
static void
check_reply(const char *reply, size_t len, const uint8_t *key, const char *payload_has)
{
    gkp_reply r;
    char *want, *payload;
    size_t wantlen = 0;

    ck_assert_int_eq(gkp_reply_decode(&r, reply, len, NULL), GK_OK);
    ck_assert_msg(r.ok, "%.*s", (int) len, reply);
    payload = check_token(r.token, r.token_len);
    ck_assert_msg(strstr(payload, payload_has) != NULL, "%s lacks %s", payload, payload_has);
    want = expected_reply(r.token, r.token_len, key, r.session, &wantlen);
    ck_assert_uint_eq(len, wantlen);
    ck_assert_mem_eq(reply, want, len);
    ck_assert_uint_eq(strlen(reply), len);
    free(want);
    free(payload);
    gkp_reply_fini(&r);
}

START_TEST(test_plain_reply)
{
    size_t len = 0;
    char *reply = decide("orders.read_v2", "tenant-0", NULL, NULL, &len);

    check_reply(reply, len, NULL, "\"variant\":\"on\",\"value\":true,\"reason\":\"TARGETING_MATCH\",\"ruleId\":\"eu\"");
    free(reply);
}
END_TEST

START_TEST(test_every_flag)
{
    size_t len = 0;
    char *reply;

    decider.sessions = NULL;
    reply = decide(NULL, "tenant-1", NULL, NULL, &len);
    /* "big" is over the token limit: its answer is the error reply */
    ck_assert_str_eq(reply, "{\"v\":1,\"ok\":false,\"errorCode\":\"GENERAL\",\"errorDetails\":"
                            "\"the signed answer would exceed the 1 MiB token limit; name fewer "
                            "flags or use smaller values\"}");
    free(reply);
    reply = decide("ui.theme", "tenant-\xc3\xa9\"", NULL, NULL, &len);
    check_reply(reply, len, NULL, "\"value\":{\"bg\":\"#000\",\"n\":[1,2.5]}");
    free(reply);
    reply = decide("old.flag", "t", NULL, NULL, &len);
    check_reply(reply, len, NULL, "{\"key\":\"old.flag\",\"reason\":\"DISABLED\"}");
    free(reply);
    reply = decide("no.such\\flag", "t", NULL, NULL, &len);
    check_reply(reply, len, NULL, "\"errorCode\":\"FLAG_NOT_FOUND\"");
    free(reply);
}
END_TEST

START_TEST(test_session_reply)
{
    uint8_t cpk[GKP_SESSION_PUB_BYTES], csk[32], key[GKP_SESSION_KEY_BYTES];
    char sid[GKP_SESSION_ID_CHARS + 1], spub[GKP_SESSION_PUB_CHARS + 1];
    size_t len = 0;
    char *reply;

    crypto_kx_keypair(cpk, csk);
    ck_assert_int_eq(gkd_sessions_open(sessions, cpk, (int64_t) time(NULL), sid, spub, key),
                     GK_OK);
    reply = decide("orders.read_v2", "tenant-2", sid, NULL, &len);
    check_reply(reply, len, key, "\"ruleId\":\"eu\"");
    ck_assert_ptr_null(strstr(reply, "\"session\""));
    free(reply);
}
END_TEST

START_TEST(test_session_opened)
{
    uint8_t cpk[GKP_SESSION_PUB_BYTES], csk[32], key[GKP_SESSION_KEY_BYTES], tx[32];
    uint8_t spk[GKP_SESSION_PUB_BYTES];
    char cpub[GKP_SESSION_PUB_CHARS + 1];
    gkp_session_claims claims;
    gkp_reply r;
    json_t *doc = NULL;
    uint8_t *payload = NULL;
    size_t len = 0, plen = 0;
    char *reply;

    crypto_kx_keypair(cpk, csk);
    gkp_b64url_encode(cpub, sizeof(cpub), cpk, sizeof(cpk));
    reply = decide("orders.read_v2", "tenant-3", NULL, cpub, &len);
    ck_assert_int_eq(gkp_reply_decode(&r, reply, len, NULL), GK_OK);
    ck_assert_ptr_nonnull(r.session);
    ck_assert_int_eq(gkp_jws_verify(r.session, r.session_len, jwks, &payload, &plen, NULL), GK_OK);
    ck_assert_int_eq(gkp_session_claims_decode(&doc, &claims, (const char *) payload, plen, NULL),
                     GK_OK);
    ck_assert_str_eq(claims.cpub, cpub);
    ck_assert_int_eq(gkp_session_pub_decode(spk, claims.pub, strlen(claims.pub)), GK_OK);
    /* the client's receive key is the gatekeeper's transmit key, the one that MACs */
    ck_assert_int_eq(crypto_kx_client_session_keys(key, tx, cpk, csk, spk), 0);
    check_reply(reply, len, key, "\"sub\":");
    json_decref(doc);
    free(payload);
    gkp_reply_fini(&r);
    free(reply);
}
END_TEST

START_TEST(test_unknown_session_gets_plain_reply)
{
    size_t len = 0;
    char *reply = decide("orders.read_v2", "tenant-4", "AAAAAAAAAAAAAAAAAAAAAA", NULL, &len);

    check_reply(reply, len, NULL, "\"nonce\":\"tlzwBc1KtQSu7t29-afsVg\"");
    free(reply);
}
END_TEST

static Suite *
decide_suite(void)
{
    Suite *s = suite_create("decide");
    TCase *tc = tcase_create("replies");

    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_plain_reply);
    tcase_add_test(tc, test_every_flag);
    tcase_add_test(tc, test_session_reply);
    tcase_add_test(tc, test_session_opened);
    tcase_add_test(tc, test_unknown_session_gets_plain_reply);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(decide_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
