/*
 * admin_test.c - the admin protocol codec (proto/admin.c): signed requests round trip through
 * open and verify; tampering, a wrong key, a stale or future iat, a bad jti, a missing op and args
 * that are not an object are refused with the documented status; other alg/typ are refused at open;
 * replies round trip; error names and gkctl exit codes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "admin.h"
#include "b64url.h"
#include "jws.h"

#define NOW 1763740000
#define ADMIN_HEADER "{\"alg\":\"EdDSA\",\"kid\":\"rita\",\"typ\":\"gk-admin+jwt\"}"

static uint8_t pk[32];
static uint8_t sk[64];
static uint8_t other_pk[32];
static uint8_t other_sk[64];

static void
setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(other_pk, other_sk);
}

/* An envelope around a JWS of `payload` under `header` signed with `key`; caller frees. */
static char *
envelope_of(const char *header, const char *payload, const uint8_t *key)
{
    char *tok = NULL;
    char *env;
    size_t n;

    ck_assert_int_eq(gkp_jws_sign(&tok, NULL, header, (const uint8_t *) payload, strlen(payload),
                                  key),
                     GK_OK);
    n = strlen(tok) + 32;
    env = malloc(n);
    ck_assert_ptr_nonnull(env);
    snprintf(env, n, "{\"v\":1,\"request\":\"%s\"}", tok);
    free(tok);
    return env;
}

/* Sign a standard request with the test key. */
static char *
signed_request(const char *op, const json_t *args, const char *why, uint64_t base, int64_t iat)
{
    char *out = NULL;
    size_t len = 0;

    ck_assert_int_eq(gkp_admin_request_sign(&out, &len, "rita", sk, op, args, why, base, iat),
                     GK_OK);
    ck_assert_uint_eq(len, strlen(out));
    return out;
}

/* Open and verify `buf` with `key` at `now`; returns verify's status (open must succeed). */
static gk_err
open_verify(gkp_admin_request *req, const char *buf, const uint8_t *key, int64_t now,
            gk_diag *d)
{
    gk_err rv;

    memset(d, 0, sizeof *d);
    rv = gkp_admin_request_open(req, buf, strlen(buf), d);
    ck_assert_msg(rv == GK_OK, "open: %d %s", rv, d->text);
    ck_assert_str_eq(req->actor, "rita");
    return gkp_admin_request_verify(req, key, now, d);
}

START_TEST(test_round_trip)
{
    json_t *args = json_pack("{s:s,s:f}", "key", "orders.read_v2", "percent", 5.0);
    char *buf = signed_request("rollout.set", args, "canary for tenant slice 1", 41, NOW);
    gkp_admin_request req;
    json_t *env;
    gk_diag d;

    /* The envelope is {"v":1,"request":"..."} and nothing else. */
    env = json_loads(buf, 0, NULL);
    ck_assert_ptr_nonnull(env);
    ck_assert_int_eq(json_integer_value(json_object_get(env, "v")), 1);
    ck_assert(json_is_string(json_object_get(env, "request")));
    ck_assert_int_eq(json_object_size(env), 2);
    json_decref(env);

    ck_assert_int_eq(open_verify(&req, buf, pk, NOW + 10, &d), GK_OK);
    ck_assert_str_eq(req.op, "rollout.set");
    ck_assert(json_equal(req.args, args));
    ck_assert_str_eq(req.why, "canary for tenant slice 1");
    ck_assert_int_eq(req.iat, NOW);
    ck_assert_uint_eq(req.base, 41);
    ck_assert_uint_eq(strlen(req.jti), 22);
    ck_assert_uint_eq(req.jws_len, strlen(req.jws));
    gkp_admin_request_fini(&req);
    ck_assert_ptr_null(req.envelope);
    gkp_admin_request_fini(&req); /* twice is harmless */
    free(buf);
    json_decref(args);
}
END_TEST

START_TEST(test_optional_members)
{
    char *buf = signed_request("flag.list", NULL, NULL, 0, NOW);
    gkp_admin_request req;
    gk_diag d;

    ck_assert_int_eq(open_verify(&req, buf, pk, NOW, &d), GK_OK);
    ck_assert(json_is_object(req.args));
    ck_assert_uint_eq(json_object_size(req.args), 0);
    ck_assert_ptr_null(req.why);
    ck_assert_uint_eq(req.base, 0);
    ck_assert_ptr_null(json_object_get(req.claims, "base"));
    ck_assert_ptr_null(json_object_get(req.claims, "why"));
    gkp_admin_request_fini(&req);
    free(buf);
}
END_TEST

START_TEST(test_header_and_payload_shape)
{
    char *buf = signed_request("flag.get", NULL, "look", 7, NOW);
    json_t *env = json_loads(buf, 0, NULL);
    const char *tok = json_string_value(json_object_get(env, "request"));
    const char *dot = strchr(tok, '.');
    uint8_t raw[256];
    size_t n = 0;

    ck_assert_int_eq(gkp_b64url_decode(raw, sizeof raw, &n, tok, (size_t) (dot - tok)), GK_OK);
    ck_assert_int_eq((int) n, (int) strlen(ADMIN_HEADER));
    ck_assert(memcmp(raw, ADMIN_HEADER, n) == 0);
    json_decref(env);
    free(buf);
}
END_TEST

START_TEST(test_jti_fresh_every_call)
{
    char *a = signed_request("flag.list", NULL, NULL, 0, NOW);
    char *b = signed_request("flag.list", NULL, NULL, 0, NOW);
    gkp_admin_request ra, rb;
    gk_diag d;

    ck_assert_int_eq(open_verify(&ra, a, pk, NOW, &d), GK_OK);
    ck_assert_int_eq(open_verify(&rb, b, pk, NOW, &d), GK_OK);
    ck_assert_str_ne(ra.jti, rb.jti);
    gkp_admin_request_fini(&ra);
    gkp_admin_request_fini(&rb);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_tampered_payload)
{
    char *buf = signed_request("flag.get", NULL, NULL, 0, NOW);
    char *tok = strchr(buf, '.') + 1; /* the payload part */
    gkp_admin_request req;
    gk_diag d;

    tok[3] = tok[3] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(open_verify(&req, buf, pk, NOW, &d), GK_EBADSIG);
    ck_assert_ptr_null(req.claims);
    ck_assert_ptr_null(req.op);
    ck_assert_ptr_nonnull(strstr(d.text, "rita"));
    gkp_admin_request_fini(&req);
    free(buf);
}
END_TEST

START_TEST(test_wrong_key)
{
    char *buf = signed_request("flag.get", NULL, NULL, 0, NOW);
    gkp_admin_request req;
    gk_diag d;

    ck_assert_int_eq(open_verify(&req, buf, other_pk, NOW, &d), GK_EBADSIG);
    ck_assert_ptr_null(req.claims);
    gkp_admin_request_fini(&req);
    free(buf);
}
END_TEST

START_TEST(test_stale_iat_both_ways)
{
    char *buf = signed_request("flag.get", NULL, NULL, 0, NOW);
    gkp_admin_request req;
    gk_diag d;

    /* At the edges of the window: accepted. */
    ck_assert_int_eq(open_verify(&req, buf, pk, NOW + GKP_ADMIN_IAT_WINDOW_S, &d), GK_OK);
    gkp_admin_request_fini(&req);
    ck_assert_int_eq(open_verify(&req, buf, pk, NOW - GKP_ADMIN_IAT_WINDOW_S, &d), GK_OK);
    gkp_admin_request_fini(&req);
    /* Signed too long ago. */
    ck_assert_int_eq(open_verify(&req, buf, pk, NOW + GKP_ADMIN_IAT_WINDOW_S + 1, &d),
                     GK_EEXPIRED);
    ck_assert_ptr_nonnull(strstr(d.text, "behind"));
    ck_assert_ptr_null(req.claims);
    gkp_admin_request_fini(&req);
    /* Signed in the future (the actor's clock is ahead). */
    ck_assert_int_eq(open_verify(&req, buf, pk, NOW - GKP_ADMIN_IAT_WINDOW_S - 1, &d),
                     GK_EEXPIRED);
    ck_assert_ptr_nonnull(strstr(d.text, "ahead"));
    gkp_admin_request_fini(&req);
    /* Extreme clocks do not overflow. */
    ck_assert_int_eq(open_verify(&req, buf, pk, INT64_MIN, &d), GK_EEXPIRED);
    gkp_admin_request_fini(&req);
    ck_assert_int_eq(open_verify(&req, buf, pk, INT64_MAX, &d), GK_EEXPIRED);
    gkp_admin_request_fini(&req);
    free(buf);
}
END_TEST

/* Payloads signed correctly that verify must refuse as GK_EPROTO. */
static const char *const bad_claims[] = {
    /* missing op */
    "{\"args\":{},\"iat\":1763740000,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
    /* op empty / not a string */
    "{\"op\":\"\",\"iat\":1763740000,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
    "{\"op\":7,\"iat\":1763740000,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
    /* args not an object */
    "{\"op\":\"flag.get\",\"args\":[1],\"iat\":1763740000,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
    "{\"op\":\"flag.get\",\"args\":\"x\",\"iat\":1763740000,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
    /* bad jti: missing, short, long, outside the alphabet, not a string */
    "{\"op\":\"flag.get\",\"iat\":1763740000}",
    "{\"op\":\"flag.get\",\"iat\":1763740000,\"jti\":\"short\"}",
    "{\"op\":\"flag.get\",\"iat\":1763740000,\"jti\":"
    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
    "{\"op\":\"flag.get\",\"iat\":1763740000,\"jti\":\"AAAAAAAAAAAAAAAAAAAA+/\"}",
    "{\"op\":\"flag.get\",\"iat\":1763740000,\"jti\":12345678901234567}",
    /* iat missing, not an integer, negative */
    "{\"op\":\"flag.get\",\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
    "{\"op\":\"flag.get\",\"iat\":1763740000.5,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
    "{\"op\":\"flag.get\",\"iat\":-1,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
    /* why not a string; base negative or not an integer */
    "{\"op\":\"flag.get\",\"why\":1,\"iat\":1763740000,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
    "{\"op\":\"flag.get\",\"base\":-1,\"iat\":1763740000,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
    "{\"op\":\"flag.get\",\"base\":\"4\",\"iat\":1763740000,\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
    /* not an object; not JSON; a repeated member */
    "[1,2]",
    "{\"op\":",
    "{\"op\":\"flag.get\",\"op\":\"flag.delete\",\"iat\":1763740000,"
    "\"jti\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
};

START_TEST(test_bad_claims)
{
    char *buf = envelope_of(ADMIN_HEADER, bad_claims[_i], sk);
    gkp_admin_request req;
    gk_diag d;

    ck_assert_int_eq(open_verify(&req, buf, pk, NOW, &d), GK_EPROTO);
    ck_assert_int_eq(d.code, GK_EPROTO);
    ck_assert_ptr_null(req.claims);
    ck_assert_ptr_null(req.op);
    gkp_admin_request_fini(&req);
    free(buf);
}
END_TEST

START_TEST(test_good_handmade_claims)
{
    /* Unknown members are ignored; a jti of 64 characters is fine. */
    char *buf = envelope_of(ADMIN_HEADER,
                            "{\"op\":\"status\",\"iat\":1763740000,\"extra\":[1],\"jti\":"
                            "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
                            sk);
    gkp_admin_request req;
    gk_diag d;

    ck_assert_int_eq(open_verify(&req, buf, pk, NOW, &d), GK_OK);
    ck_assert_str_eq(req.op, "status");
    gkp_admin_request_fini(&req);
    free(buf);
}
END_TEST

/* Headers that open must refuse (signed, so only the header is at fault). */
static const char *const bad_headers[] = {
    "{\"alg\":\"HS256\",\"kid\":\"rita\",\"typ\":\"gk-admin+jwt\"}",
    "{\"alg\":\"none\",\"kid\":\"rita\",\"typ\":\"gk-admin+jwt\"}",
    "{\"alg\":\"EdDSA\",\"kid\":\"rita\",\"typ\":\"JWT\"}",
    "{\"alg\":\"EdDSA\",\"kid\":\"rita\"}",
    "{\"alg\":\"EdDSA\",\"typ\":\"gk-admin+jwt\"}",
    "{\"alg\":\"EdDSA\",\"kid\":\"\",\"typ\":\"gk-admin+jwt\"}",
    "{\"alg\":\"EdDSA\",\"kid\":7,\"typ\":\"gk-admin+jwt\"}",
    "{\"alg\":\"EdDSA\",\"kid\":\"rita\",\"typ\":\"gk-admin+jwt\",\"crit\":[\"x\"]}",
    "{\"alg\":\"EdDSA\",\"kid\":\"rita\",\"kid\":\"root\",\"typ\":\"gk-admin+jwt\"}",
    "{\"alg\":\"EdDSA\",\"kid\":\"a-kid-that-is-far-too-long-to-be-an-actor-id-at-all-0123456789ab\","
    "\"typ\":\"gk-admin+jwt\"}",
    "[\"alg\"]",
};

START_TEST(test_bad_header)
{
    char *buf = envelope_of(bad_headers[_i], "{\"op\":\"flag.get\"}", sk);
    gkp_admin_request req;
    gk_diag d;

    memset(&d, 0, sizeof d);
    ck_assert_int_eq(gkp_admin_request_open(&req, buf, strlen(buf), &d), GK_EPROTO);
    /* A problem inside the JWS: envelope kept, jws set (the reply is UNAUTHENTICATED). */
    ck_assert_ptr_nonnull(req.jws);
    ck_assert_str_eq(d.source, "admin request header");
    gkp_admin_request_fini(&req);
    free(buf);
}
END_TEST

/* Envelopes that open must refuse as INVALID_REQUEST (req->jws stays NULL). */
static const char *const bad_envelopes[] = {
    "",
    "not json",
    "[]",
    "{\"request\":\"a.b.c\"}",
    "{\"v\":2,\"request\":\"a.b.c\"}",
    "{\"v\":\"1\",\"request\":\"a.b.c\"}",
    "{\"v\":1}",
    "{\"v\":1,\"request\":{}}",
    "{\"v\":1,\"request\":\"a\",\"request\":\"b\"}",
};

START_TEST(test_bad_envelope)
{
    gkp_admin_request req;
    gk_diag d;

    memset(&d, 0, sizeof d);
    ck_assert_int_eq(gkp_admin_request_open(&req, bad_envelopes[_i], strlen(bad_envelopes[_i]),
                                            &d),
                     GK_EPROTO);
    ck_assert_ptr_null(req.jws);
    ck_assert_ptr_null(req.envelope);
    ck_assert_str_eq(d.source, "admin request");
    gkp_admin_request_fini(&req);
}
END_TEST

/* JWS strings that are not three parts: inside the JWS, so jws is set. */
static const char *const bad_tokens[] = {
    "{\"v\":1,\"request\":\"\"}",
    "{\"v\":1,\"request\":\"abc\"}",
    "{\"v\":1,\"request\":\"a.b\"}",
    "{\"v\":1,\"request\":\"a.b.c.d\"}",
    "{\"v\":1,\"request\":\".b.c\"}",
    "{\"v\":1,\"request\":\"a..c\"}",
    "{\"v\":1,\"request\":\"a.b.\"}",
    "{\"v\":1,\"request\":\"!!!.b.c\"}",
};

START_TEST(test_bad_token)
{
    gkp_admin_request req;
    gk_diag d;

    memset(&d, 0, sizeof d);
    ck_assert_int_eq(gkp_admin_request_open(&req, bad_tokens[_i], strlen(bad_tokens[_i]), &d),
                     GK_EPROTO);
    ck_assert_ptr_nonnull(req.jws);
    gkp_admin_request_fini(&req);
}
END_TEST

START_TEST(test_oversize_request)
{
    size_t n = GKP_ADMIN_REQUEST_MAX_BYTES + 1;
    char *big = malloc(n + 1);
    gkp_admin_request req;
    gk_diag d;

    memset(big, ' ', n);
    big[n] = '\0';
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(gkp_admin_request_open(&req, big, n, &d), GK_EPROTO);
    ck_assert_ptr_nonnull(strstr(d.text, "limit"));
    free(big);
}
END_TEST

/* The documented example (proto/examples/admin-request.json) opens and verifies with the RFC 8037
 * test key it was signed with, and carries proto/examples/admin-claims.json. */
START_TEST(test_documented_example)
{
    static const char d_b64[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const char *src = getenv("GK_SOURCE_DIR");
    uint8_t seed[32], rpk[32], rsk[64];
    size_t n = 0;
    char p[1024];
    json_t *doc, *claims;
    char *text;
    gkp_admin_request req;
    gk_diag d;

    if (src == NULL) {
        return; /* run outside CTest */
    }
    ck_assert_int_eq(gkp_b64url_decode(seed, 32, &n, d_b64, strlen(d_b64)), GK_OK);
    crypto_sign_seed_keypair(rpk, rsk, seed);
    snprintf(p, sizeof p, "%s/proto/examples/admin-request.json", src);
    doc = json_load_file(p, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    snprintf(p, sizeof p, "%s/proto/examples/admin-claims.json", src);
    claims = json_load_file(p, 0, NULL);
    ck_assert_ptr_nonnull(claims);
    ck_assert_int_eq(open_verify(&req, text, rpk, 1763740000, &d), GK_OK);
    ck_assert(json_equal(req.claims, claims));
    ck_assert_uint_eq(req.base, 41);
    gkp_admin_request_fini(&req);
    json_decref(claims);
    free(text);
}
END_TEST

START_TEST(test_sign_refuses)
{
    char *out = (char *) 1;
    json_t *arr = json_array();

    ck_assert_int_eq(gkp_admin_request_sign(&out, NULL, NULL, sk, "flag.get", NULL, NULL, 0, NOW),
                     GK_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(gkp_admin_request_sign(&out, NULL, "", sk, "flag.get", NULL, NULL, 0, NOW),
                     GK_EINVAL);
    ck_assert_int_eq(gkp_admin_request_sign(&out, NULL, "rita", NULL, "flag.get", NULL, NULL, 0,
                                            NOW),
                     GK_EINVAL);
    ck_assert_int_eq(gkp_admin_request_sign(&out, NULL, "rita", sk, "", NULL, NULL, 0, NOW),
                     GK_EINVAL);
    ck_assert_int_eq(gkp_admin_request_sign(&out, NULL, "rita", sk, NULL, NULL, NULL, 0, NOW),
                     GK_EINVAL);
    ck_assert_int_eq(gkp_admin_request_sign(&out, NULL, "rita", sk, "flag.get", arr, NULL, 0, NOW),
                     GK_EINVAL);
    ck_assert_int_eq(gkp_admin_request_sign(&out, NULL, "rita", sk, "flag.get", NULL, "\xff", 0,
                                            NOW),
                     GK_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(gkp_admin_request_sign(NULL, NULL, "rita", sk, "flag.get", NULL, NULL, 0, NOW),
                     GK_EINVAL);
    json_decref(arr);
}
END_TEST

START_TEST(test_verify_needs_open)
{
    gkp_admin_request req;

    memset(&req, 0, sizeof req);
    ck_assert_int_eq(gkp_admin_request_verify(&req, pk, NOW, NULL), GK_EINVAL);
    gkp_admin_request_fini(&req);
    gkp_admin_request_fini(NULL);
}
END_TEST

START_TEST(test_reply_ok_round_trip)
{
    json_t *result = json_pack("{s:[{s:s,s:s}]}", "changes", "key", "orders.read_v2", "change",
                               "update");
    gkp_admin_reply r;
    char *buf = NULL;
    size_t len = 0;
    gk_diag d;

    ck_assert_int_eq(gkp_admin_reply_encode_ok(&buf, &len, 42, result), GK_OK);
    ck_assert_uint_eq(len, strlen(buf));
    ck_assert_ptr_nonnull(strstr(buf, "\"v\":1,\"ok\":true,\"version\":42,\"result\":"));
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(gkp_admin_reply_decode(&r, buf, len, &d), GK_OK);
    ck_assert_int_eq(r.ok, 1);
    ck_assert_uint_eq(r.version, 42);
    ck_assert(json_equal(r.result, result));
    ck_assert_int_eq(r.error, GKP_ADMIN_OK);
    gkp_admin_reply_fini(&r);
    gkp_admin_reply_fini(&r);
    free(buf);

    /* Without a result. */
    ck_assert_int_eq(gkp_admin_reply_encode_ok(&buf, NULL, 0, NULL), GK_OK);
    ck_assert_int_eq(gkp_admin_reply_decode(&r, buf, strlen(buf), NULL), GK_OK);
    ck_assert_ptr_null(r.result);
    gkp_admin_reply_fini(&r);
    free(buf);
    ck_assert_int_eq(gkp_admin_reply_encode_ok(&buf, NULL, UINT64_MAX, result), GK_EINVAL);
    json_decref(result);
}
END_TEST

START_TEST(test_reply_error_round_trip)
{
    json_t *details = json_pack("{s:I,s:I}", "base", (json_int_t) 41, "current", (json_int_t) 43);
    gkp_admin_reply r;
    char *buf = NULL;
    size_t len = 0;

    ck_assert_int_eq(gkp_admin_reply_encode_error(&buf, &len, GKP_ADMIN_CONFLICT,
                                                  "the state moved", details),
                     GK_OK);
    ck_assert_int_eq(gkp_admin_reply_decode(&r, buf, len, NULL), GK_OK);
    ck_assert_int_eq(r.ok, 0);
    ck_assert_int_eq(r.error, GKP_ADMIN_CONFLICT);
    ck_assert_str_eq(r.message, "the state moved");
    ck_assert(json_equal(r.details, details));
    gkp_admin_reply_fini(&r);
    free(buf);

    /* NULL message is "", NULL details absent, invalid UTF-8 cleaned, OK is not an error. */
    ck_assert_int_eq(gkp_admin_reply_encode_error(&buf, &len, GKP_ADMIN_OK, "bad \xff byte", NULL),
                     GK_OK);
    ck_assert_ptr_null(strstr(buf, "details"));
    ck_assert_int_eq(gkp_admin_reply_decode(&r, buf, len, NULL), GK_OK);
    ck_assert_int_eq(r.error, GKP_ADMIN_INTERNAL);
    ck_assert_str_eq(r.message, "bad ? byte");
    ck_assert_ptr_null(r.details);
    gkp_admin_reply_fini(&r);
    free(buf);
    ck_assert_int_eq(gkp_admin_reply_encode_error(&buf, &len, GKP_ADMIN_DENIED, NULL, NULL), GK_OK);
    ck_assert_int_eq(gkp_admin_reply_decode(&r, buf, len, NULL), GK_OK);
    ck_assert_int_eq(r.error, GKP_ADMIN_DENIED);
    ck_assert_str_eq(r.message, "");
    gkp_admin_reply_fini(&r);
    free(buf);
    json_decref(details);
}
END_TEST

static const char *const bad_replies[] = {
    "",
    "nope",
    "[]",
    "{\"ok\":true}",
    "{\"v\":2,\"ok\":true}",
    "{\"v\":1}",
    "{\"v\":1,\"ok\":1}",
    "{\"v\":1,\"ok\":true,\"version\":-1}",
    "{\"v\":1,\"ok\":true,\"version\":\"3\"}",
    "{\"v\":1,\"ok\":false}",
    "{\"v\":1,\"ok\":false,\"error\":3}",
    "{\"v\":1,\"ok\":false,\"error\":\"DENIED\",\"message\":[]}",
    "{\"v\":1,\"ok\":false,\"error\":\"DENIED\",\"details\":[]}",
    "{\"v\":1,\"ok\":true,\"ok\":false}",
};

START_TEST(test_bad_reply)
{
    gkp_admin_reply r;
    gk_diag d;

    memset(&d, 0, sizeof d);
    ck_assert_int_eq(gkp_admin_reply_decode(&r, bad_replies[_i], strlen(bad_replies[_i]), &d),
                     GK_EPROTO);
    ck_assert_ptr_null(r.root);
    ck_assert_str_eq(d.source, "admin reply");
    gkp_admin_reply_fini(&r);
}
END_TEST

START_TEST(test_reply_unknown_error_and_members)
{
    const char *text = "{\"v\":1,\"ok\":false,\"error\":\"NEW_KIND\",\"extra\":1}";
    gkp_admin_reply r;

    ck_assert_int_eq(gkp_admin_reply_decode(&r, text, strlen(text), NULL), GK_OK);
    ck_assert_int_eq(r.error, GKP_ADMIN_INTERNAL);
    ck_assert_str_eq(r.message, "");
    gkp_admin_reply_fini(&r);
}
END_TEST

START_TEST(test_error_names_and_exit_codes)
{
    static const struct {
        gkp_admin_error e;
        const char *name;
        int exit_code;
    } table[] = {
        {GKP_ADMIN_OK, "OK", 0},
        {GKP_ADMIN_INVALID_REQUEST, "INVALID_REQUEST", 2},
        {GKP_ADMIN_UNAUTHENTICATED, "UNAUTHENTICATED", 5},
        {GKP_ADMIN_STALE_REQUEST, "STALE_REQUEST", 5},
        {GKP_ADMIN_REPLAYED, "REPLAYED", 5},
        {GKP_ADMIN_DENIED, "DENIED", 3},
        {GKP_ADMIN_CONFLICT, "CONFLICT", 4},
        {GKP_ADMIN_NOT_FOUND, "NOT_FOUND", 6},
        {GKP_ADMIN_INTERNAL, "INTERNAL", 1},
    };
    size_t i;

    for (i = 0; i < sizeof table / sizeof table[0]; i++) {
        ck_assert_str_eq(gkp_admin_error_name(table[i].e), table[i].name);
        ck_assert_int_eq(gkp_admin_exit_code(table[i].e), table[i].exit_code);
        if (table[i].e != GKP_ADMIN_OK) {
            ck_assert_int_eq(gkp_admin_error_parse(table[i].name), table[i].e);
        }
    }
    ck_assert_int_eq(gkp_admin_error_parse("OK"), GKP_ADMIN_INTERNAL);
    ck_assert_int_eq(gkp_admin_error_parse("denied"), GKP_ADMIN_INTERNAL);
    ck_assert_int_eq(gkp_admin_error_parse(NULL), GKP_ADMIN_INTERNAL);
    ck_assert_str_eq(gkp_admin_error_name((gkp_admin_error) 99), "INTERNAL");
    ck_assert_int_eq(gkp_admin_exit_code((gkp_admin_error) 99), 1);
}
END_TEST

static Suite *
admin_suite(void)
{
    Suite *s = suite_create("admin");
    TCase *tc;

    tc = tcase_create("requests");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_optional_members);
    tcase_add_test(tc, test_header_and_payload_shape);
    tcase_add_test(tc, test_jti_fresh_every_call);
    tcase_add_test(tc, test_good_handmade_claims);
    tcase_add_test(tc, test_documented_example);
    tcase_add_test(tc, test_sign_refuses);
    tcase_add_test(tc, test_verify_needs_open);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_set_timeout(tc, 180);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_tampered_payload);
    tcase_add_test(tc, test_wrong_key);
    tcase_add_test(tc, test_stale_iat_both_ways);
    tcase_add_loop_test(tc, test_bad_claims, 0, (int) (sizeof bad_claims / sizeof bad_claims[0]));
    tcase_add_loop_test(tc, test_bad_header, 0,
                        (int) (sizeof bad_headers / sizeof bad_headers[0]));
    tcase_add_loop_test(tc, test_bad_envelope, 0,
                        (int) (sizeof bad_envelopes / sizeof bad_envelopes[0]));
    tcase_add_loop_test(tc, test_bad_token, 0, (int) (sizeof bad_tokens / sizeof bad_tokens[0]));
    tcase_add_test(tc, test_oversize_request);
    suite_add_tcase(s, tc);

    tc = tcase_create("replies");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_reply_ok_round_trip);
    tcase_add_test(tc, test_reply_error_round_trip);
    tcase_add_loop_test(tc, test_bad_reply, 0, (int) (sizeof bad_replies / sizeof bad_replies[0]));
    tcase_add_test(tc, test_reply_unknown_error_and_members);
    tcase_add_test(tc, test_error_names_and_exit_codes);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(admin_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
