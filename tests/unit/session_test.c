/*
 * session_test.c - decision sessions in the codec: the session JWS claims (round trip and every
 * refusal), the per-token MAC, the client key decoder, and gkp_jws_payload_authenticated (the
 * payload of a token whose text a MAC authenticated: no signature check, only the JWS shape).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "b64url.h"
#include "jws.h"
#include "session.h"

#define SID  "q7Xv2Lr9T0aP4mWc1sHnZg"                      /* 22 */
#define PUB  "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" /* 43 */
#define CPUB "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR4" /* 43 */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of a base64url character (it must be one). */
static int
b64url_value(char c)
{
    const char *p = strchr(b64url_alphabet, c);

    ck_assert_msg(c != '\0' && p != NULL, "'%c' is not base64url", c);
    return (int) (p - b64url_alphabet);
}

static void
setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
}

START_TEST(test_claims_round_trip)
{
    const gkp_session_claims in = {
        .sid = SID, .pub = PUB, .cpub = CPUB, .iat = 1790000000, .exp = 1790003600};
    gkp_session_claims out;
    json_t *doc = NULL;
    char *text = NULL;
    size_t len = 0;
    gk_diag d = {0};

    ck_assert_int_eq(gkp_session_claims_encode(&text, &len, &in), GK_OK);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen(text));
    ck_assert_int_eq(gkp_session_claims_decode(&doc, &out, text, len, &d), GK_OK);
    ck_assert_int_eq(d.code, GK_OK);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(out.sid, SID);
    ck_assert_str_eq(out.pub, PUB);
    ck_assert_str_eq(out.cpub, CPUB);
    ck_assert(out.iat == 1790000000);
    ck_assert(out.exp == 1790003600);
    json_decref(doc);
    free(text);

    /* Times beyond 32 bits survive, and unknown members are ignored. */
    {
        static const char wide[] = "{\"sid\":\"" SID "\",\"pub\":\"" PUB "\",\"cpub\":\"" CPUB
                                   "\",\"iat\":4102444800,\"exp\":9007199254740993,"
                                   "\"later\":{\"x\":[1]}}";

        ck_assert_int_eq(gkp_session_claims_decode(&doc, &out, wide, sizeof(wide) - 1, NULL),
                         GK_OK);
        ck_assert(out.iat == 4102444800LL);
        ck_assert(out.exp == 9007199254740993LL);
        json_decref(doc);
    }

    /* A NULL string is the caller's mistake. */
    text = (char *) 1;
    ck_assert_int_eq(gkp_session_claims_encode(
                         &text, &len, &(gkp_session_claims){.sid = NULL, .pub = PUB, .cpub = CPUB}),
                     GK_EINVAL);
    ck_assert_ptr_null(text);
    ck_assert_int_eq(gkp_session_claims_encode(
                         &text, &len, &(gkp_session_claims){.sid = SID, .pub = PUB, .cpub = NULL}),
                     GK_EINVAL);
}
END_TEST

/* Each payload lacks a member, or has one of the wrong type, length or alphabet. */
static const char *const bad_claims[] = {
    /* missing members */
    "{\"pub\":\"" PUB "\",\"cpub\":\"" CPUB "\",\"iat\":1,\"exp\":2}",
    "{\"sid\":\"" SID "\",\"cpub\":\"" CPUB "\",\"iat\":1,\"exp\":2}",
    "{\"sid\":\"" SID "\",\"pub\":\"" PUB "\",\"iat\":1,\"exp\":2}",
    "{\"sid\":\"" SID "\",\"pub\":\"" PUB "\",\"cpub\":\"" CPUB "\",\"exp\":2}",
    "{\"sid\":\"" SID "\",\"pub\":\"" PUB "\",\"cpub\":\"" CPUB "\",\"iat\":1}",
    /* sid of 21 and 23 characters, not a string, padded, with a NUL, with a '.' */
    "{\"sid\":\"q7Xv2Lr9T0aP4mWc1sHnZ\",\"pub\":\"" PUB "\",\"cpub\":\"" CPUB
    "\",\"iat\":1,\"exp\":2}",
    "{\"sid\":\"q7Xv2Lr9T0aP4mWc1sHnZgA\",\"pub\":\"" PUB "\",\"cpub\":\"" CPUB
    "\",\"iat\":1,\"exp\":2}",
    "{\"sid\":1234567890123456789012,\"pub\":\"" PUB "\",\"cpub\":\"" CPUB
    "\",\"iat\":1,\"exp\":2}",
    "{\"sid\":null,\"pub\":\"" PUB "\",\"cpub\":\"" CPUB "\",\"iat\":1,\"exp\":2}",
    "{\"sid\":\"q7Xv2Lr9T0aP4mWc1sHn==\",\"pub\":\"" PUB "\",\"cpub\":\"" CPUB
    "\",\"iat\":1,\"exp\":2}",
    "{\"sid\":\"q7Xv2Lr9T0aP4mWc1sHnZ\\u0000\",\"pub\":\"" PUB "\",\"cpub\":\"" CPUB
    "\",\"iat\":1,\"exp\":2}",
    "{\"sid\":\"q7Xv2Lr9T0a.4mWc1sHnZg\",\"pub\":\"" PUB "\",\"cpub\":\"" CPUB
    "\",\"iat\":1,\"exp\":2}",
    /* pub with a character outside base64url, of 42 and 44 characters, an array */
    "{\"sid\":\"" SID "\",\"pub\":\"11qYAYKxCrfVS+7TyWQHOg7hcvPapiMlrwIaaPcHURo\",\"cpub\":\"" CPUB
    "\",\"iat\":1,\"exp\":2}",
    "{\"sid\":\"" SID "\",\"pub\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR\",\"cpub\":\"" CPUB
    "\",\"iat\":1,\"exp\":2}",
    "{\"sid\":\"" SID "\",\"pub\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURoA\",\"cpub\":\"" CPUB
    "\",\"iat\":1,\"exp\":2}",
    "{\"sid\":\"" SID "\",\"pub\":[\"" PUB "\"],\"cpub\":\"" CPUB "\",\"iat\":1,\"exp\":2}",
    /* cpub with a padding character, of 42 characters, a number */
    "{\"sid\":\"" SID "\",\"pub\":\"" PUB
    "\",\"cpub\":\"hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR=\","
    "\"iat\":1,\"exp\":2}",
    "{\"sid\":\"" SID "\",\"pub\":\"" PUB
    "\",\"cpub\":\"hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR\","
    "\"iat\":1,\"exp\":2}",
    "{\"sid\":\"" SID "\",\"pub\":\"" PUB "\",\"cpub\":7,\"iat\":1,\"exp\":2}",
    /* iat and exp that are not integers */
    "{\"sid\":\"" SID "\",\"pub\":\"" PUB "\",\"cpub\":\"" CPUB "\",\"iat\":\"1\",\"exp\":2}",
    "{\"sid\":\"" SID "\",\"pub\":\"" PUB "\",\"cpub\":\"" CPUB "\",\"iat\":1.5,\"exp\":2}",
    "{\"sid\":\"" SID "\",\"pub\":\"" PUB "\",\"cpub\":\"" CPUB "\",\"iat\":1,\"exp\":null}",
    "{\"sid\":\"" SID "\",\"pub\":\"" PUB "\",\"cpub\":\"" CPUB "\",\"iat\":1,\"exp\":true}",
    /* not an object, not JSON */
    "[\"" SID "\"]",
    "\"" SID "\"",
    "{\"sid\":\"" SID "\",",
    "",
};

START_TEST(test_claims_decode_refuses)
{
    const char *in = bad_claims[_i];
    gkp_session_claims c;
    json_t *doc = (json_t *) 1;
    gk_diag d = {0};

    memset(&c, 0xAB, sizeof(c));
    ck_assert_msg(gkp_session_claims_decode(&doc, &c, in, strlen(in), &d) == GK_EPROTO,
                  "accepted: %s", in);
    ck_assert_ptr_null(doc);
    ck_assert_ptr_null(c.sid);
    ck_assert_ptr_null(c.pub);
    ck_assert_ptr_null(c.cpub);
    ck_assert_int_eq(d.code, GK_EPROTO);
    ck_assert_str_eq(d.source, "session claims");
    ck_assert_msg(d.text[0] != '\0', "no diag text for %s", in);
}
END_TEST

/* The base64url MAC of "token" under "key", as gkp_session_mac writes it. */
static void
mac_of(char out[GKP_SESSION_MAC_CHARS + 1], const uint8_t *key, const char *token)
{
    memset(out, '#', GKP_SESSION_MAC_CHARS + 1);
    gkp_session_mac(out, key, token, strlen(token));
    ck_assert_uint_eq(strlen(out), GKP_SESSION_MAC_CHARS);
}

START_TEST(test_mac_round_trip)
{
    static const char token[] = "eyJhbGciOiJFZERTQSJ9.eyJmbGFncyI6W119.c2lnbmF0dXJl";
    uint8_t key[GKP_SESSION_KEY_BYTES], bin[GKP_SESSION_MAC_BYTES], want[GKP_SESSION_MAC_BYTES];
    char mac[GKP_SESSION_MAC_CHARS + 1], again[GKP_SESSION_MAC_CHARS + 1];
    size_t n = 0;

    randombytes_buf(key, sizeof(key));
    mac_of(mac, key, token);
    /* Deterministic, and exactly the keyed BLAKE2b-256 (libsodium crypto_generichash with the
     * session key) of the token text, so that any libsodium client computes the same. */
    mac_of(again, key, token);
    ck_assert_str_eq(mac, again);
    ck_assert_int_eq(gkp_b64url_decode(bin, sizeof(bin), &n, mac, strlen(mac)), GK_OK);
    ck_assert_uint_eq(n, GKP_SESSION_MAC_BYTES);
    ck_assert_int_eq(crypto_generichash(want, sizeof(want), (const unsigned char *) token,
                                        sizeof(token) - 1, key, sizeof(key)),
                     0);
    ck_assert_mem_eq(bin, want, sizeof(want));
    ck_assert_int_eq(
        gkp_session_mac_check(mac, GKP_SESSION_MAC_CHARS, key, token, sizeof(token) - 1), 1);
    /* Only the token's bytes count: a MAC over a prefix is another MAC. */
    ck_assert_int_eq(
        gkp_session_mac_check(mac, GKP_SESSION_MAC_CHARS, key, token, sizeof(token) - 2), 0);
}
END_TEST

START_TEST(test_mac_check_refuses)
{
    static const char token[] = "eyJhbGciOiJFZERTQSJ9.eyJmbGFncyI6W119.c2lnbmF0dXJl";
    uint8_t key[GKP_SESSION_KEY_BYTES], other[GKP_SESSION_KEY_BYTES];
    char mac[GKP_SESSION_MAC_CHARS + 1], bad[GKP_SESSION_MAC_CHARS + 2];
    char tok[sizeof(token)];
    size_t toklen = sizeof(token) - 1;

    randombytes_buf(key, sizeof(key));
    memcpy(other, key, sizeof(key));
    other[31] ^= 0x01;
    mac_of(mac, key, token);
    ck_assert_int_eq(gkp_session_mac_check(mac, GKP_SESSION_MAC_CHARS, key, token, toklen), 1);

    /* Any token byte flipped (one bit of it). */
    for (size_t i = 0; i < toklen; i++) {
        memcpy(tok, token, sizeof(token));
        tok[i] ^= 0x01;
        ck_assert_msg(gkp_session_mac_check(mac, GKP_SESSION_MAC_CHARS, key, tok, toklen) == 0,
                      "token byte %zu flipped and the MAC still checks", i);
    }
    /* Any MAC character changed to another that decodes to different bits. */
    for (size_t i = 0; i < GKP_SESSION_MAC_CHARS; i++) {
        memcpy(bad, mac, sizeof(mac));
        bad[i] = b64url_alphabet[b64url_value(bad[i]) ^ 0x20];
        ck_assert_msg(gkp_session_mac_check(bad, GKP_SESSION_MAC_CHARS, key, token, toklen) == 0,
                      "MAC character %zu changed and the MAC still checks", i);
    }
    /* The last character's two low bits are padding: a non-canonical spelling is refused too. */
    memcpy(bad, mac, sizeof(mac));
    bad[GKP_SESSION_MAC_CHARS - 1] =
        b64url_alphabet[b64url_value(bad[GKP_SESSION_MAC_CHARS - 1]) ^ 0x01];
    ck_assert_int_eq(gkp_session_mac_check(bad, GKP_SESSION_MAC_CHARS, key, token, toklen), 0);
    /* A MAC character outside the alphabet. */
    memcpy(bad, mac, sizeof(mac));
    bad[7] = '+';
    ck_assert_int_eq(gkp_session_mac_check(bad, GKP_SESSION_MAC_CHARS, key, token, toklen), 0);

    /* Another key. */
    ck_assert_int_eq(gkp_session_mac_check(mac, GKP_SESSION_MAC_CHARS, other, token, toklen), 0);

    /* Wrong lengths: one character short, one more, empty, NULL. */
    ck_assert_int_eq(gkp_session_mac_check(mac, GKP_SESSION_MAC_CHARS - 1, key, token, toklen), 0);
    memcpy(bad, mac, sizeof(mac));
    bad[GKP_SESSION_MAC_CHARS] = 'A';
    bad[GKP_SESSION_MAC_CHARS + 1] = '\0';
    ck_assert_int_eq(gkp_session_mac_check(bad, GKP_SESSION_MAC_CHARS + 1, key, token, toklen), 0);
    ck_assert_int_eq(gkp_session_mac_check(mac, 0, key, token, toklen), 0);
    ck_assert_int_eq(gkp_session_mac_check(NULL, GKP_SESSION_MAC_CHARS, key, token, toklen), 0);
}
END_TEST

START_TEST(test_pub_decode)
{
    uint8_t pk[crypto_kx_PUBLICKEYBYTES], sk[crypto_kx_SECRETKEYBYTES];
    uint8_t out[GKP_SESSION_PUB_BYTES];
    char text[GKP_SESSION_PUB_CHARS + 2];

    crypto_kx_keypair(pk, sk);
    gkp_b64url_encode(text, sizeof(text), pk, sizeof(pk));
    ck_assert_uint_eq(strlen(text), GKP_SESSION_PUB_CHARS);
    memset(out, 0, sizeof(out));
    ck_assert_int_eq(gkp_session_pub_decode(out, text, GKP_SESSION_PUB_CHARS), GK_OK);
    ck_assert_mem_eq(out, pk, sizeof(pk));

    /* 42 and 44 characters, empty, NULL. */
    ck_assert_int_eq(gkp_session_pub_decode(out, text, GKP_SESSION_PUB_CHARS - 1), GK_EPROTO);
    text[GKP_SESSION_PUB_CHARS] = 'A';
    text[GKP_SESSION_PUB_CHARS + 1] = '\0';
    ck_assert_int_eq(gkp_session_pub_decode(out, text, GKP_SESSION_PUB_CHARS + 1), GK_EPROTO);
    ck_assert_int_eq(gkp_session_pub_decode(out, text, 0), GK_EPROTO);
    ck_assert_int_eq(gkp_session_pub_decode(out, NULL, GKP_SESSION_PUB_CHARS), GK_EPROTO);

    /* Characters outside base64url (the standard alphabet's + and /, padding, a dot). */
    {
        static const char bad_chars[] = {'+', '/', '=', '.', ' '};

        for (size_t i = 0; i < sizeof(bad_chars); i++) {
            gkp_b64url_encode(text, sizeof(text), pk, sizeof(pk));
            text[10] = bad_chars[i];
            ck_assert_msg(gkp_session_pub_decode(out, text, GKP_SESSION_PUB_CHARS) == GK_EPROTO,
                          "'%c' accepted", bad_chars[i]);
        }
    }
    /* A non-canonical last character (its padding bits set). */
    gkp_b64url_encode(text, sizeof(text), pk, sizeof(pk));
    text[GKP_SESSION_PUB_CHARS - 1] =
        b64url_alphabet[b64url_value(text[GKP_SESSION_PUB_CHARS - 1]) ^ 0x01];
    ck_assert_int_eq(gkp_session_pub_decode(out, text, GKP_SESSION_PUB_CHARS), GK_EPROTO);
}
END_TEST

/* A token signed by a fresh Ed25519 key with "header" over "payload"; the caller frees it. */
static char *
signed_token(const char *header, const char *payload, uint8_t pk[GKP_ED25519_PK_BYTES])
{
    uint8_t sk[GKP_ED25519_SK_BYTES];
    char *tok = NULL;
    size_t len = 0;

    crypto_sign_keypair(pk, sk);
    ck_assert_int_eq(
        gkp_jws_sign(&tok, &len, header, (const uint8_t *) payload, strlen(payload), sk), GK_OK);
    ck_assert_uint_eq(len, strlen(tok));
    sodium_memzero(sk, sizeof(sk));
    return tok;
}

/* a followed by b, malloc'd. */
static char *
concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);

    ck_assert_ptr_nonnull(s);
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

/* A compact JWS of three parts made from raw header and payload text and 64 signature bytes. */
static char *
raw_token(const char *header, const char *payload)
{
    uint8_t sig[64];
    size_t hl = gkp_b64url_encoded_len(strlen(header));
    size_t pl = gkp_b64url_encoded_len(strlen(payload));
    size_t sl = gkp_b64url_encoded_len(sizeof(sig));
    char *tok = malloc(hl + pl + sl);
    size_t n;

    ck_assert_ptr_nonnull(tok);
    memset(sig, 0x5A, sizeof(sig));
    gkp_b64url_encode(tok, hl, (const uint8_t *) header, strlen(header));
    n = strlen(tok);
    tok[n++] = '.';
    gkp_b64url_encode(tok + n, pl, (const uint8_t *) payload, strlen(payload));
    n = strlen(tok);
    tok[n++] = '.';
    gkp_b64url_encode(tok + n, sl, sig, sizeof(sig));
    return tok;
}

START_TEST(test_payload_authenticated_skips_the_signature)
{
    static const char header[] = "{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":\"JWT\"}";
    static const char payload[] = "{\"flags\":[],\"nonce\":\"q7Xv2Lr9T0aP4mWc1sHnZg\"}";
    uint8_t pk[GKP_ED25519_PK_BYTES];
    char *tok = signed_token(header, payload, pk);
    size_t len = strlen(tok);
    uint8_t *out = NULL;
    size_t out_len = 0;
    char *sig;
    gk_diag d = {0};

    /* A well-formed, correctly signed token: the payload, as gkp_jws_verify_key would give it. */
    ck_assert_int_eq(gkp_jws_payload_authenticated(tok, len, &out, &out_len, &d), GK_OK);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(out_len, strlen(payload));
    ck_assert_mem_eq(out, payload, out_len);
    ck_assert_int_eq(out[out_len], '\0');
    free(out);
    out = NULL;
    ck_assert_int_eq(gkp_jws_verify_key(tok, len, pk, &out, NULL, NULL), GK_OK);
    free(out);
    out = NULL;

    /* The signature corrupted: verification refuses it, the authenticated path does not look. */
    sig = strrchr(tok, '.') + 1;
    sig[20] = b64url_alphabet[b64url_value(sig[20]) ^ 0x20];
    ck_assert_int_eq(gkp_jws_verify_key(tok, len, pk, &out, NULL, NULL), GK_EBADSIG);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(gkp_jws_payload_authenticated(tok, len, &out, NULL, NULL), GK_OK);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq((const char *) out, payload);
    free(out);
    out = NULL;

    /* Signed by nobody at all (64 arbitrary bytes): still only a format check. */
    free(tok);
    tok = raw_token(header, payload);
    ck_assert_int_eq(gkp_jws_payload_authenticated(tok, strlen(tok), &out, &out_len, NULL), GK_OK);
    ck_assert_uint_eq(out_len, strlen(payload));
    ck_assert_mem_eq(out, payload, out_len);
    free(out);
    free(tok);
}
END_TEST

/*
 * The header and the signature were authenticated with the rest of the token's text, so they
 * are neither parsed nor verified (jws.h): a header naming another alg, or a short signature,
 * still yields the payload. What is not a compact JWS at all is refused.
 */
START_TEST(test_payload_authenticated_format)
{
    static const char payload[] = "{\"flags\":[]}";
    uint8_t pk[GKP_ED25519_PK_BYTES];
    char *good = signed_token("{\"alg\":\"EdDSA\"}", payload, pk);
    static const char *const why[] = {
        "three parts",
        "three parts",
        "empty",
        "empty",
        "empty",
        "payload is not base64url",
        "payload is not base64url",
        "payload is not base64url",
    };
    char *cases[sizeof(why) / sizeof(why[0])];
    size_t ncases = 0;
    uint8_t *out;
    size_t out_len;
    char *tok;

    /* Not looked at: a header of another alg or not JSON, a signature of three bytes. */
    {
        static const char *const headers[] = {"{\"alg\":\"HS256\"}", "{\"alg\":\"none\"}",
                                              "not json"};

        for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
            tok = raw_token(headers[i], payload);
            out = NULL;
            ck_assert_msg(gkp_jws_payload_authenticated(tok, strlen(tok), &out, &out_len, NULL) ==
                              GK_OK,
                          "header %s refused", headers[i]);
            ck_assert_uint_eq(out_len, strlen(payload));
            ck_assert_mem_eq(out, payload, out_len);
            free(out);
            free(tok);
        }
        tok = concat(good, "");
        strrchr(tok, '.')[5] = '\0';
        out = NULL;
        ck_assert_int_eq(gkp_jws_payload_authenticated(tok, strlen(tok), &out, NULL, NULL), GK_OK);
        ck_assert_str_eq((const char *) out, payload);
        free(out);
        free(tok);
    }

    /* Two parts (the signature cut off) and four. */
    cases[ncases] = concat(good, "");
    *strrchr(cases[ncases++], '.') = '\0';
    cases[ncases++] = concat(good, ".c2ln");
    /* An empty header, payload or signature. */
    cases[ncases++] = concat("", strchr(good, '.'));
    cases[ncases] = concat(good, "");
    memmove(strchr(cases[ncases], '.') + 1, strrchr(cases[ncases], '.'),
            strlen(strrchr(cases[ncases], '.')) + 1);
    ncases++;
    cases[ncases] = concat(good, "");
    strrchr(cases[ncases++], '.')[1] = '\0';
    /* A payload that is not base64url: a '+', padding, a non-canonical last character. */
    cases[ncases] = concat(good, "");
    strchr(cases[ncases++], '.')[3] = '+';
    tok = raw_token("{\"alg\":\"EdDSA\"}", "{\"flags\":[1]}"); /* 13 bytes: 18 characters */
    cases[ncases] = concat(tok, "");
    strchr(strchr(cases[ncases], '.') + 1, '.')[-1] = '=';
    ncases++;
    cases[ncases] = concat(tok, "");
    {
        char *last = strchr(strchr(cases[ncases], '.') + 1, '.') - 1;

        *last = b64url_alphabet[b64url_value(*last) ^ 0x01];
    }
    ncases++;
    free(tok);
    ck_assert_uint_eq(ncases, sizeof(why) / sizeof(why[0]));

    for (size_t i = 0; i < ncases; i++) {
        gk_diag d = {0};

        out = (uint8_t *) 1;
        ck_assert_msg(gkp_jws_payload_authenticated(cases[i], strlen(cases[i]), &out, NULL, &d) ==
                          GK_EPROTO,
                      "case %zu accepted: %s", i, cases[i]);
        ck_assert_ptr_null(out);
        ck_assert_int_eq(d.code, GK_EPROTO);
        ck_assert_msg(strstr(d.text, why[i]) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, d.text,
                      why[i]);
        free(cases[i]);
    }

    /* Longer than any verifier accepts. */
    {
        size_t big = GKP_JWS_MAX_BYTES + 1;
        char *huge = malloc(big + 1);
        size_t n = strlen(good);

        ck_assert_ptr_nonnull(huge);
        memset(huge, 'A', big);
        memcpy(huge, good, n);
        huge[big] = '\0';
        out = (uint8_t *) 1;
        ck_assert_int_eq(gkp_jws_payload_authenticated(huge, big, &out, NULL, NULL), GK_EPROTO);
        ck_assert_ptr_null(out);
        free(huge);
    }

    out = (uint8_t *) 1;
    ck_assert_int_eq(gkp_jws_payload_authenticated(NULL, 0, &out, NULL, NULL), GK_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(gkp_jws_payload_authenticated(good, strlen(good), NULL, NULL, NULL),
                     GK_EINVAL);
    free(good);
}
END_TEST

static Suite *
session_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc;

    tc = tcase_create("claims");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_claims_round_trip);
    tcase_add_loop_test(tc, test_claims_decode_refuses, 0,
                        (int) (sizeof(bad_claims) / sizeof(bad_claims[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("mac");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_mac_round_trip);
    tcase_add_test(tc, test_mac_check_refuses);
    tcase_add_test(tc, test_pub_decode);
    suite_add_tcase(s, tc);

    tc = tcase_create("jws_payload_authenticated");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_payload_authenticated_skips_the_signature);
    tcase_add_test(tc, test_payload_authenticated_format);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(session_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
