/*
 * session.c - session JWS claims and the per-token MAC (see session.h).
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "b64url.h"
#include "msg.h"
#include "vocab.h"

#define SOURCE "session claims"

gk_err
gkp_session_claims_encode(char **outp, size_t *outlen, const gkp_session_claims *c)
{
    json_t *doc;
    char *text;

    *outp = NULL;
    if (c->sid == NULL || c->pub == NULL || c->cpub == NULL) {
        return GK_EINVAL;
    }
    doc = json_pack("{s:s, s:s, s:s, s:I, s:I}", "sid", c->sid, "pub", c->pub, "cpub", c->cpub,
                    "iat", (json_int_t) c->iat, "exp", (json_int_t) c->exp);
    text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL) {
        return GK_ENOMEM;
    }
    *outp = text;
    *outlen = strlen(text);
    return GK_OK;
}

/* A required base64url string member of exactly `chars` characters, or NULL. */
static const char *
b64_member(const json_t *doc, const char *name, size_t chars)
{
    const json_t *v = json_object_get(doc, name);
    const char *s = json_string_value(v);

    /* gkp_nonce_valid checks the base64url alphabet for 16..64 characters: ids and keys fit. */
    if (s == NULL || json_string_length(v) != chars || strlen(s) != chars ||
        !gkp_nonce_valid(s, chars)) {
        return NULL;
    }
    return s;
}

gk_err
gkp_session_claims_decode(json_t **docp, gkp_session_claims *c, const char *payload, size_t len,
                          gk_diag *diag)
{
    json_error_t jerr;
    json_t *doc = json_loadb(payload, len, 0, &jerr);
    const json_t *iat, *exp;

    *docp = NULL;
    memset(c, 0, sizeof(*c));
    if (doc == NULL) {
        return json_error_code(&jerr) == json_error_out_of_memory
                   ? GK_ENOMEM
                   : gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "not JSON: %s", jerr.text);
    }
    iat = json_object_get(doc, "iat");
    exp = json_object_get(doc, "exp");
    c->sid = b64_member(doc, "sid", GKP_SESSION_ID_CHARS);
    c->pub = b64_member(doc, "pub", GKP_SESSION_PUB_CHARS);
    c->cpub = b64_member(doc, "cpub", GKP_SESSION_PUB_CHARS);
    if (!json_is_object(doc) || c->sid == NULL || c->pub == NULL || c->cpub == NULL ||
        !json_is_integer(iat) || !json_is_integer(exp)) {
        json_decref(doc);
        memset(c, 0, sizeof(*c));
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "needs sid (%u base64url characters), pub and cpub (%u each), and "
                            "integer iat and exp",
                            GKP_SESSION_ID_CHARS, GKP_SESSION_PUB_CHARS);
    }
    c->iat = (int64_t) json_integer_value(iat);
    c->exp = (int64_t) json_integer_value(exp);
    *docp = doc;
    return GK_OK;
}

void
gkp_session_mac(char out[GKP_SESSION_MAC_CHARS + 1], const uint8_t key[GKP_SESSION_KEY_BYTES],
                const char *token, size_t toklen)
{
    uint8_t mac[GKP_SESSION_MAC_BYTES];

    crypto_generichash(mac, sizeof(mac), (const unsigned char *) token, toklen, key,
                       GKP_SESSION_KEY_BYTES);
    gkp_b64url_encode(out, GKP_SESSION_MAC_CHARS + 1, mac, sizeof(mac));
}

int
gkp_session_mac_check(const char *mac, size_t mac_len, const uint8_t key[GKP_SESSION_KEY_BYTES],
                      const char *token, size_t toklen)
{
    uint8_t bin[GKP_SESSION_MAC_BYTES], want[GKP_SESSION_MAC_BYTES];
    size_t n = 0;

    if (mac == NULL || mac_len != GKP_SESSION_MAC_CHARS ||
        gkp_b64url_decode(bin, sizeof(bin), &n, mac, mac_len) != GK_OK || n != sizeof(bin)) {
        return 0;
    }
    crypto_generichash(want, sizeof(want), (const unsigned char *) token, toklen, key,
                       GKP_SESSION_KEY_BYTES);
    return sodium_memcmp(bin, want, sizeof(want)) == 0;
}

gk_err
gkp_session_pub_decode(uint8_t out[GKP_SESSION_PUB_BYTES], const char *text, size_t len)
{
    size_t n = 0;

    if (text == NULL || len != GKP_SESSION_PUB_CHARS ||
        gkp_b64url_decode(out, GKP_SESSION_PUB_BYTES, &n, text, len) != GK_OK ||
        n != GKP_SESSION_PUB_BYTES) {
        return GK_EPROTO;
    }
    return GK_OK;
}
