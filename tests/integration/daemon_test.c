/*
 * daemon_test.c - the real gatekeeper daemon over nng: signed decisions, the JWKS request, error
 * replies for bad input, reload on SIGHUP, start-up errors and clean shutdown, and decision
 * sessions on the wire (the session JWS, the MAC of each token, and what is not a session).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "b64url.h"
#include "claims.h"
#include "gk_test.h"
#include "jwk.h"
#include "jws.h"
#include "msg.h"
#include "session.h"
#include "vocab.h"

static gkt_daemon daemon_;

static const char *
data_path(const char *name)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/integration/%s", gkt_env("GK_TEST_DATA"), name);
    return path;
}

static void
start_default(void)
{
    ck_assert_int_eq(gkt_daemon_start(&daemon_, data_path("flags.json"), NULL), 0);
}

static void
stop_default(void)
{
    ck_assert_int_eq(gkt_daemon_stop(&daemon_), 0);
}

/* Sends `req` and returns the decoded reply (caller finis it). */
static void
ask(const char *url, const char *req, gkp_reply *reply)
{
    char *text = NULL;
    gk_diag diag = {0};

    ck_assert_int_eq(gkt_request(url, req, strlen(req), &text, 5000), 0);
    ck_assert_msg(gkp_reply_decode(reply, text, strlen(text), &diag) == GK_OK, "reply %s: %s",
                  text, diag.text);
    free(text);
}

/* Verifies a token against the daemon's published JWKS file and decodes its claims. */
static gkp_claims_doc *
verify(const gkt_daemon *d, const char *token, size_t len)
{
    gkp_jwks *keys = NULL;
    uint8_t *payload = NULL;
    size_t payload_len;
    gkp_claims_doc *doc = NULL;
    gk_diag diag = {0};

    ck_assert_int_eq(gkp_jwks_load_file(&keys, d->jwks_path, &diag), GK_OK);
    ck_assert_msg(gkp_jws_verify(token, len, keys, &payload, &payload_len, &diag) == GK_OK,
                  "token does not verify: %s", diag.text);
    ck_assert_int_eq(gkp_claims_decode(&doc, (const char *) payload, payload_len, &diag), GK_OK);
    free(payload);
    gkp_jwks_free(keys);
    return doc;
}

static const gkp_flag_claim *
find_claim(const gkp_claims *claims, const char *key)
{
    for (size_t i = 0; i < claims->nflags; i++) {
        if (strcmp(claims->flags[i].key, key) == 0) {
            return &claims->flags[i];
        }
    }
    return NULL;
}

/* Asks daemon `d` at `url` and returns the verified claims (caller frees). */
static gkp_claims_doc *
evaluate_on(const gkt_daemon *d, const char *url, const char *req)
{
    gkp_reply reply;
    gkp_claims_doc *doc;

    ask(url, req, &reply);
    ck_assert_msg(reply.ok, "error reply %s: %s", gkp_error_code_name(reply.error_code),
                  reply.error_details);
    doc = verify(d, reply.token, reply.token_len);
    gkp_reply_fini(&reply);
    return doc;
}

static gkp_claims_doc *
evaluate(const char *url, const char *req)
{
    return evaluate_on(&daemon_, url, req);
}

START_TEST(test_all_flags_signed_over_tcp_and_ipc)
{
    const char *urls[] = {daemon_.tcp_url, daemon_.ipc_url};

    for (size_t u = 0; u < 2; u++) {
        gkp_claims_doc *doc =
            evaluate(urls[u], "{\"v\":1,\"op\":\"evaluate\",\"context\":{\"targetingKey\":\"t-1\"}}");
        const gkp_claims *c = gkp_claims_doc_get(doc);
        const gkp_flag_claim *killed = find_claim(c, "orders.legacy_export");
        const gkp_flag_claim *theme = find_claim(c, "checkout.theme");
        time_t now = time(NULL);

        ck_assert_uint_eq(c->nflags, 3);
        ck_assert_uint_eq(c->snapshot_version, 1);
        ck_assert_int_le(c->iat, now + 1);
        ck_assert_int_ge(c->iat, now - 5);
        ck_assert_int_eq(c->exp - c->iat, 300);
        ck_assert_ptr_nonnull(c->sub);
        ck_assert_msg(strstr(c->sub, "t-1") == NULL, "sub leaks the targeting key");
        ck_assert_ptr_nonnull(killed);
        ck_assert_int_eq(killed->reason, GK_REASON_DISABLED);
        ck_assert_ptr_null(killed->variant);
        ck_assert_ptr_null(killed->value);
        ck_assert_ptr_nonnull(theme);
        ck_assert_int_eq(theme->reason, GK_REASON_STATIC);
        ck_assert_str_eq(theme->variant, "classic");
        gkp_claims_doc_free(doc);
    }
}
END_TEST

START_TEST(test_named_flags_targets_rules_and_missing)
{
    gkp_claims_doc *doc = evaluate(
        daemon_.tcp_url,
        "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.read_v2\",\"no.such_flag\"],"
        "\"context\":{\"targetingKey\":\"tenant-9\",\"plan\":\"gold\"}}");
    const gkp_claims *c = gkp_claims_doc_get(doc);

    ck_assert_uint_eq(c->nflags, 2);
    ck_assert_str_eq(c->flags[0].key, "orders.read_v2");
    ck_assert_int_eq(c->flags[0].reason, GK_REASON_TARGETING_MATCH);
    ck_assert_str_eq(c->flags[0].rule_id, "gold");
    ck_assert_str_eq(c->flags[0].variant, "on");
    ck_assert(json_is_true(c->flags[0].value));
    ck_assert_str_eq(c->flags[1].key, "no.such_flag");
    ck_assert_int_eq(c->flags[1].reason, GK_REASON_ERROR);
    ck_assert_int_eq(c->flags[1].error_code, GK_ERROR_FLAG_NOT_FOUND);
    gkp_claims_doc_free(doc);

    doc = evaluate(daemon_.tcp_url, "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.read_v2\"],"
                                    "\"context\":{\"targetingKey\":\"tenant-1\"}}");
    c = gkp_claims_doc_get(doc);
    ck_assert_int_eq(c->flags[0].reason, GK_REASON_TARGETING_MATCH);
    ck_assert_str_eq(c->flags[0].rule_id, "targets");
    gkp_claims_doc_free(doc);
}
END_TEST

START_TEST(test_split_share_over_the_wire)
{
    /* 25 % rollout: over 400 tenants the share is near 25 % (sticky hash, so it is exact per key). */
    int on = 0;

    for (int i = 0; i < 400; i++) {
        char req[256];
        gkp_claims_doc *doc;
        const gkp_claims *c;

        snprintf(req, sizeof(req),
                 "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.read_v2\"],"
                 "\"context\":{\"targetingKey\":\"tenant-%d\"}}",
                 1000 + i);
        doc = evaluate(daemon_.ipc_url, req);
        c = gkp_claims_doc_get(doc);
        ck_assert_int_eq(c->flags[0].reason, GK_REASON_SPLIT);
        on += strcmp(c->flags[0].variant, "on") == 0;
        gkp_claims_doc_free(doc);
    }
    ck_assert_int_ge(on, 60);
    ck_assert_int_le(on, 140);
}
END_TEST

START_TEST(test_jwks_request_matches_published_file)
{
    gkp_reply reply;
    gkp_jwks *from_wire = NULL, *from_file = NULL;
    gk_diag diag = {0};

    ask(daemon_.tcp_url, "{\"v\":1,\"op\":\"jwks\"}", &reply);
    ck_assert(reply.ok);
    ck_assert_ptr_nonnull(reply.jwks);
    ck_assert_int_eq(gkp_jwks_parse(&from_wire, reply.jwks, "reply", &diag), GK_OK);
    ck_assert_int_eq(gkp_jwks_load_file(&from_file, daemon_.jwks_path, &diag), GK_OK);
    ck_assert_uint_eq(gkp_jwks_count(from_wire), 1);
    ck_assert_uint_eq(gkp_jwks_count(from_file), 1);
    {
        json_t *a = gkp_jwks_to_json(from_wire), *b = gkp_jwks_to_json(from_file);
        ck_assert(json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
    gkp_jwks_free(from_wire);
    gkp_jwks_free(from_file);
    gkp_reply_fini(&reply);
}
END_TEST

/* Each bad request gets an error reply with the expected code, and the daemon keeps serving. */
START_TEST(test_bad_requests_get_error_replies)
{
    static const struct {
        const char *req;
        gk_error_code code;
        const char *detail;
    } cases[] = {
        {"{\"v\":1,\"op\":", GK_ERROR_PARSE_ERROR, ""},
        {"[]", GK_ERROR_PARSE_ERROR, ""},
        {"{\"v\":2,\"op\":\"evaluate\"}", GK_ERROR_PARSE_ERROR, "version"},
        {"{\"v\":1,\"op\":\"drop_tables\"}", GK_ERROR_PARSE_ERROR, "drop_tables"},
        {"{\"v\":1,\"op\":\"evaluate\",\"flags\":\"orders.read_v2\"}", GK_ERROR_PARSE_ERROR, ""},
        {"{\"v\":1,\"op\":\"evaluate\",\"context\":[1]}", GK_ERROR_INVALID_CONTEXT, ""},
        {"{\"v\":1,\"op\":\"evaluate\",\"context\":{\"targetingKey\":7}}",
         GK_ERROR_INVALID_CONTEXT, "targetingKey"},
    };
    gkp_reply reply;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ask(daemon_.tcp_url, cases[i].req, &reply);
        ck_assert_msg(!reply.ok, "case %zu answered ok", i);
        ck_assert_msg(reply.error_code == cases[i].code, "case %zu: %s", i,
                      gkp_error_code_name(reply.error_code));
        ck_assert_msg(strstr(reply.error_details, cases[i].detail) != NULL, "case %zu: %s", i,
                      reply.error_details);
        gkp_reply_fini(&reply);
    }
    gkp_claims_doc_free(evaluate(daemon_.tcp_url, "{\"v\":1,\"op\":\"evaluate\"}"));
}
END_TEST

START_TEST(test_oversized_request_names_the_limit)
{
    size_t len = GKP_REQUEST_MAX_BYTES + 100;
    char *big = malloc(len + 1);
    char *text = NULL;
    gkp_reply reply;
    gk_diag diag = {0};

    memset(big, ' ', len);
    big[len] = '\0';
    memcpy(big, "{\"v\":1,\"op\":\"evaluate\"}", 23);
    ck_assert_int_eq(gkt_request(daemon_.tcp_url, big, len, &text, 5000), 0);
    ck_assert_int_eq(gkp_reply_decode(&reply, text, strlen(text), &diag), GK_OK);
    ck_assert(!reply.ok);
    ck_assert_int_eq(reply.error_code, GK_ERROR_PARSE_ERROR);
    ck_assert_msg(strstr(reply.error_details, "65536") != NULL, "%s", reply.error_details);
    gkp_reply_fini(&reply);
    free(text);
    free(big);
    gkp_claims_doc_free(evaluate(daemon_.tcp_url, "{\"v\":1,\"op\":\"evaluate\"}"));
}
END_TEST

static void *
hammer(void *arg)
{
    const char *url = arg;
    int failures = 0;

    for (int i = 0; i < 200; i++) {
        char *text = NULL;
        const char *req = "{\"v\":1,\"op\":\"evaluate\",\"context\":{\"targetingKey\":\"x\"}}";
        if (gkt_request(url, req, strlen(req), &text, 5000) != 0 ||
            strstr(text, "\"ok\":true") == NULL) {
            failures++;
        }
        free(text);
    }
    return (void *) (intptr_t) failures;
}

START_TEST(test_concurrent_clients)
{
    pthread_t threads[8];
    void *failures;

    for (int i = 0; i < 8; i++) {
        pthread_create(&threads[i], NULL, hammer, i % 2 ? daemon_.tcp_url : daemon_.ipc_url);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], &failures);
        ck_assert_int_eq((int) (intptr_t) failures, 0);
    }
}
END_TEST

START_TEST(test_nngcat_gets_a_signed_token)
{
    char out[16384];
    const char *argv[] = {gkt_env("GK_NNGCAT"), "--req0", "--dial", daemon_.tcp_url, "--ascii",
                          "--data", "{\"v\":1,\"op\":\"evaluate\",\"context\":{\"targetingKey\":\"t-1\"}}",
                          NULL};
    const char *start, *end;
    gkp_claims_doc *doc;

    ck_assert_int_eq(gkt_run(argv, NULL, out, sizeof(out), 10000), 0);
    start = strstr(out, "\"token\":\"");
    ck_assert_msg(start != NULL, "nngcat printed: %s", out);
    start += 9;
    end = strchr(start, '"');
    ck_assert_ptr_nonnull(end);
    doc = verify(&daemon_, start, (size_t) (end - start));
    ck_assert_uint_eq(gkp_claims_doc_get(doc)->nflags, 3);
    gkp_claims_doc_free(doc);
}
END_TEST

/* A token signed by this daemon must not verify against another key set. */
START_TEST(test_token_does_not_verify_with_another_key)
{
    gkt_daemon other;
    gkp_reply reply;
    gkp_jwks *keys = NULL;
    uint8_t *payload = NULL;
    size_t len;
    gk_diag diag = {0};

    ck_assert_int_eq(gkt_daemon_start(&other, data_path("flags.json"), NULL), 0);
    ask(daemon_.tcp_url, "{\"v\":1,\"op\":\"evaluate\"}", &reply);
    ck_assert(reply.ok);
    ck_assert_int_eq(gkp_jwks_load_file(&keys, other.jwks_path, &diag), GK_OK);
    ck_assert_int_eq(gkp_jws_verify(reply.token, reply.token_len, keys, &payload, &len, &diag),
                     GK_ENOKEY);
    ck_assert_ptr_null(payload);
    gkp_jwks_free(keys);
    gkp_reply_fini(&reply);
    ck_assert_int_eq(gkt_daemon_stop(&other), 0);
}
END_TEST

/* A fresh random base64url string of `bytes` bytes into out (a nonce, an unknown session id). */
static void
random_b64(char *out, size_t outsize, size_t bytes)
{
    uint8_t bin[32];

    ck_assert_uint_le(bytes, sizeof(bin));
    randombytes_buf(bin, bytes);
    gkp_b64url_encode(out, outsize, bin, bytes);
}

/* The protected header of compact JWS `tok` as JSON (caller decrefs). */
static json_t *
jws_header(const char *tok, size_t len)
{
    const char *dot = memchr(tok, '.', len);
    uint8_t buf[512];
    size_t n = 0;
    json_t *hdr;

    ck_assert_ptr_nonnull(dot);
    ck_assert_int_eq(gkp_b64url_decode(buf, sizeof(buf), &n, tok, (size_t) (dot - tok)), GK_OK);
    hdr = json_loadb((const char *) buf, n, 0, NULL);
    ck_assert_ptr_nonnull(hdr);
    return hdr;
}

/* An evaluate request for orders.read_v2 and tenant-1 with a fresh nonce (into nonce) and
 * `extra` members (",\"session\":..."), into req. */
static void
session_request(char *req, size_t size, char nonce[32], const char *extra)
{
    random_b64(nonce, 32, 16);
    ck_assert_int_lt(snprintf(req, size,
                              "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.read_v2\"],"
                              "\"context\":{\"targetingKey\":\"tenant-1\"},\"nonce\":\"%s\"%s}",
                              nonce, extra),
                     (int) size);
}

/* The token of a reply verifies, answers orders.read_v2 for tenant-1 and echoes `nonce`. */
static void
check_token(const gkp_reply *reply, const char *nonce)
{
    gkp_claims_doc *doc;
    const gkp_claims *c;

    ck_assert_msg(reply->ok, "error reply %s: %s", gkp_error_code_name(reply->error_code),
                  reply->error_details);
    doc = verify(&daemon_, reply->token, reply->token_len);
    c = gkp_claims_doc_get(doc);
    ck_assert_uint_eq(c->nflags, 1);
    ck_assert_int_eq(c->flags[0].reason, GK_REASON_TARGETING_MATCH);
    ck_assert_ptr_nonnull(c->nonce);
    ck_assert_str_eq(c->nonce, nonce);
    gkp_claims_doc_free(doc);
}

/*
 * Decision sessions with the raw protocol: a request carrying a client X25519 key gets, beside
 * its (still signed) token, a session JWS signed by the daemon's key and the token's MAC under
 * the key both sides derive with crypto_kx; a request naming the session gets a MAC; an unknown
 * session or an unusable key gets a plain token reply, and a malformed id an error reply.
 */
START_TEST(test_sessions_over_the_wire)
{
    uint8_t cpk[crypto_kx_PUBLICKEYBYTES], csk[crypto_kx_SECRETKEYBYTES];
    uint8_t spk[GKP_SESSION_PUB_BYTES];
    uint8_t rx[crypto_kx_SESSIONKEYBYTES], tx[crypto_kx_SESSIONKEYBYTES];
    char cpub[GKP_SESSION_PUB_CHARS + 1], sid[GKP_SESSION_ID_CHARS + 1];
    char nonce[32], extra[128], req[512];
    gkp_jwks *keys = NULL;
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    json_t *hdr, *token_hdr, *claims_doc = NULL;
    gkp_session_claims sc;
    gkp_reply reply;
    gk_diag diag = {0};
    time_t now = time(NULL);

    ck_assert_int_ge(sodium_init(), 0);
    crypto_kx_keypair(cpk, csk);
    gkp_b64url_encode(cpub, sizeof(cpub), cpk, sizeof(cpk));

    /* 1. Opening: the token, a session JWS and the token's MAC. */
    snprintf(extra, sizeof(extra), ",\"sessionPub\":\"%s\"", cpub);
    session_request(req, sizeof(req), nonce, extra);
    ask(daemon_.tcp_url, req, &reply);
    check_token(&reply, nonce);
    ck_assert_msg(reply.session != NULL, "no session in the reply to %s", req);
    ck_assert_ptr_nonnull(reply.mac);
    ck_assert_int_eq(gkp_jwks_load_file(&keys, daemon_.jwks_path, &diag), GK_OK);
    ck_assert_msg(gkp_jws_verify(reply.session, reply.session_len, keys, &payload, &payload_len,
                                 &diag) == GK_OK,
                  "session JWS does not verify: %s", diag.text);
    hdr = jws_header(reply.session, reply.session_len);
    token_hdr = jws_header(reply.token, reply.token_len);
    ck_assert_str_eq(json_string_value(json_object_get(hdr, "typ")), GKP_SESSION_TYP);
    ck_assert_str_eq(json_string_value(json_object_get(hdr, "alg")), "EdDSA");
    ck_assert(json_equal(json_object_get(hdr, "kid"), json_object_get(token_hdr, "kid")));
    /* A decision token is not a session JWS: the two cannot be taken for one another. */
    ck_assert(!json_equal(json_object_get(hdr, "typ"), json_object_get(token_hdr, "typ")));
    json_decref(hdr);
    json_decref(token_hdr);
    ck_assert_msg(gkp_session_claims_decode(&claims_doc, &sc, (const char *) payload, payload_len,
                                            &diag) == GK_OK,
                  "session claims %s: %s", (const char *) payload, diag.text);
    ck_assert_str_eq(sc.cpub, cpub);
    ck_assert_int_gt(sc.exp, sc.iat);
    ck_assert_int_ge(sc.iat, (int64_t) now - 60);
    ck_assert_int_le(sc.iat, (int64_t) now + 60);
    ck_assert_str_ne(sc.pub, cpub);
    memcpy(sid, sc.sid, sizeof(sid));
    ck_assert_int_eq(gkp_session_pub_decode(spk, sc.pub, strlen(sc.pub)), GK_OK);
    json_decref(claims_doc);
    free(payload);
    ck_assert_int_eq(crypto_kx_client_session_keys(rx, tx, cpk, csk, spk), 0);
    ck_assert_msg(gkp_session_mac_check(reply.mac, reply.mac_len, rx, reply.token, reply.token_len),
                  "the MAC does not check under the client's receive key");
    /* The MAC is the gatekeeper's transmit direction only. */
    ck_assert(!gkp_session_mac_check(reply.mac, reply.mac_len, tx, reply.token, reply.token_len));
    gkp_reply_fini(&reply);

    /* 2. In the session (over the other listener: one table per daemon): a MAC, no new session. */
    for (int i = 0; i < 3; i++) {
        snprintf(extra, sizeof(extra), ",\"session\":\"%s\"", sid);
        session_request(req, sizeof(req), nonce, extra);
        ask(i % 2 ? daemon_.tcp_url : daemon_.ipc_url, req, &reply);
        check_token(&reply, nonce);
        ck_assert_ptr_null(reply.session);
        ck_assert_msg(reply.mac != NULL, "no MAC in the reply to %s", req);
        ck_assert(
            gkp_session_mac_check(reply.mac, reply.mac_len, rx, reply.token, reply.token_len));
        gkp_reply_fini(&reply);
    }

    /* 3. A session id the daemon never gave out: a plain token reply. */
    {
        char unknown[GKP_SESSION_ID_CHARS + 1];

        random_b64(unknown, sizeof(unknown), GKP_SESSION_ID_BYTES);
        ck_assert_uint_eq(strlen(unknown), GKP_SESSION_ID_CHARS);
        snprintf(extra, sizeof(extra), ",\"session\":\"%s\"", unknown);
        session_request(req, sizeof(req), nonce, extra);
        ask(daemon_.tcp_url, req, &reply);
        check_token(&reply, nonce);
        ck_assert_ptr_null(reply.mac);
        ck_assert_ptr_null(reply.session);
        gkp_reply_fini(&reply);
    }

    /* 4. A key that decodes to 32 zero bytes (a low-order point, no shared secret): no session,
     * no MAC, but not an error either. */
    snprintf(extra, sizeof(extra), ",\"sessionPub\":\"%.43s\"",
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    session_request(req, sizeof(req), nonce, extra);
    ck_assert_int_eq(gkp_session_pub_decode(spk, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                            GKP_SESSION_PUB_CHARS),
                     GK_OK);
    ask(daemon_.tcp_url, req, &reply);
    check_token(&reply, nonce);
    ck_assert_ptr_null(reply.mac);
    ck_assert_ptr_null(reply.session);
    gkp_reply_fini(&reply);

    /* 5. A malformed session id (21 characters): PARSE_ERROR naming the member. */
    snprintf(extra, sizeof(extra), ",\"session\":\"%.21s\"", sid);
    session_request(req, sizeof(req), nonce, extra);
    ask(daemon_.tcp_url, req, &reply);
    ck_assert(!reply.ok);
    ck_assert_int_eq(reply.error_code, GK_ERROR_PARSE_ERROR);
    ck_assert_msg(strstr(reply.error_details, "\"session\"") != NULL, "%s", reply.error_details);
    ck_assert_ptr_null(reply.mac);
    gkp_reply_fini(&reply);

    /* After all that the session is still open. */
    snprintf(extra, sizeof(extra), ",\"session\":\"%s\"", sid);
    session_request(req, sizeof(req), nonce, extra);
    ask(daemon_.tcp_url, req, &reply);
    check_token(&reply, nonce);
    ck_assert_ptr_nonnull(reply.mac);
    ck_assert(gkp_session_mac_check(reply.mac, reply.mac_len, rx, reply.token, reply.token_len));
    gkp_reply_fini(&reply);

    sodium_memzero(csk, sizeof(csk));
    sodium_memzero(rx, sizeof(rx));
    sodium_memzero(tx, sizeof(tx));
    gkp_jwks_free(keys);
}
END_TEST

static Suite *
daemon_suite(void)
{
    Suite *s = suite_create("daemon");
    TCase *tc = tcase_create("decisions");

    tcase_add_checked_fixture(tc, start_default, stop_default);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_all_flags_signed_over_tcp_and_ipc);
    tcase_add_test(tc, test_named_flags_targets_rules_and_missing);
    tcase_add_test(tc, test_split_share_over_the_wire);
    tcase_add_test(tc, test_jwks_request_matches_published_file);
    tcase_add_test(tc, test_bad_requests_get_error_replies);
    tcase_add_test(tc, test_oversized_request_names_the_limit);
    tcase_add_test(tc, test_concurrent_clients);
    tcase_add_test(tc, test_nngcat_gets_a_signed_token);
    tcase_add_test(tc, test_token_does_not_verify_with_another_key);
    tcase_add_test(tc, test_sessions_over_the_wire);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(daemon_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
