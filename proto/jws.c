/*
 * jws.c - compact JWS with alg "EdDSA" (RFC 7515, RFC 8037).
 *
 * Signing writes the token in one buffer (its own allocation, or the caller's with a header
 * encoded once per key): the three base64url parts are encoded in place and the signature covers
 * the first two, as RFC 7515 section 5.1 defines the signing input.
 * Verification refuses everything but a plain EdDSA header before it looks at the signature
 * (RFC 8725 section 3.1: never let the token choose the algorithm), and returns the payload only
 * after crypto_sign_verify_detached accepted it.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "b64url.h"
#include "jws.h"
#include "vocab.h"

/*
 * Whether a failed json_load* ran out of memory. jansson 2.14 leaves the text empty on some of
 * its allocation failures (and the code unset, hence the zeroed json_error_t).
 */
#define JSON_LOAD_OOM(e) ((e)->text[0] == '\0' || json_error_code(e) == json_error_out_of_memory)

#define SOURCE "token"
/* Protected headers up to this size are decoded on the stack. */
#define HEADER_STACK_BYTES 512

/* A token split at its two dots. */
typedef struct jws_parts {
    const char *header;
    size_t header_len;
    const char *payload;
    size_t payload_len;
    const char *sig;
    size_t sig_len;
} jws_parts;

gk_err
gkp_jws_sign_sk(uint8_t sig[GKP_ED25519_SIG_BYTES], const uint8_t *m, size_t mlen, void *arg)
{
    const uint8_t *const *sk = arg;

    crypto_sign_detached(sig, NULL, m, mlen, *sk);
    return GK_OK;
}

gk_err
gkp_jws_sign(char **tokenp, size_t *toklen, const char *header_json, const uint8_t *payload,
             size_t payload_len, const uint8_t sk[GKP_ED25519_SK_BYTES])
{
    if (sk == NULL) {
        return GK_EINVAL;
    }
    return gkp_jws_sign_with(tokenp, toklen, header_json, payload, payload_len, gkp_jws_sign_sk,
                             &sk);
}

size_t
gkp_jws_compact_len(size_t header_b64_len, size_t payload_len)
{
    size_t total;

    /* Each encoded_len counts a NUL: one for the dot, one for the dot, the last one dropped. */
    if (header_b64_len > GKP_JWS_MAX_BYTES || payload_len > GKP_JWS_MAX_BYTES) {
        return 0;
    }
    total = header_b64_len + 1 + gkp_b64url_encoded_len(payload_len) +
            gkp_b64url_encoded_len(GKP_ED25519_SIG_BYTES) - 1;
    return total <= GKP_JWS_MAX_BYTES ? total : 0;
}

/*
 * The rest of a token whose n characters of encoded header are at tok: "." base64url(payload),
 * the signature over everything so far, "." base64url(signature) and a NUL. tok has room for
 * gkp_jws_compact_len(n, payload_len) + 1 bytes. Returns GK_OK (*toklen set) or sign's error.
 */
static gk_err
sign_after_header(char *tok, size_t n, size_t *toklen, const uint8_t *payload, size_t payload_len,
                  gkp_ed25519_sign_fn sign, void *sign_arg)
{
    size_t pcap = gkp_b64url_encoded_len(payload_len);
    uint8_t sig[GKP_ED25519_SIG_BYTES];
    gk_err rv;

    tok[n++] = '.';
    n += gkp_b64url_encode(tok + n, pcap, payload, payload_len);
    rv = sign(sig, (const uint8_t *) tok, n, sign_arg);
    if (rv != GK_OK) {
        return rv;
    }
    tok[n++] = '.';
    n += gkp_b64url_encode(tok + n, gkp_b64url_encoded_len(sizeof(sig)), sig, sizeof(sig));
    *toklen = n;
    return GK_OK;
}

gk_err
gkp_jws_sign_with(char **tokenp, size_t *toklen, const char *header_json, const uint8_t *payload,
                  size_t payload_len, gkp_ed25519_sign_fn sign, void *sign_arg)
{
    size_t hlen;
    size_t hcap;
    size_t total;
    size_t n;
    char *tok;
    gk_err rv;

    if (tokenp == NULL || header_json == NULL || (payload == NULL && payload_len != 0) ||
        sign == NULL) {
        return GK_EINVAL;
    }
    *tokenp = NULL;
    hlen = strlen(header_json);
    if (hlen > GKP_JWS_MAX_BYTES) {
        return GK_EINVAL;
    }
    hcap = gkp_b64url_encoded_len(hlen);
    total = gkp_jws_compact_len(hcap - 1, payload_len);
    if (total == 0) {
        return GK_EINVAL; /* no verifier would accept it */
    }
    tok = malloc(total + 1);
    if (tok == NULL) {
        return GK_ENOMEM;
    }
    n = gkp_b64url_encode(tok, hcap, (const uint8_t *) header_json, hlen);
    rv = sign_after_header(tok, n, &n, payload, payload_len, sign, sign_arg);
    if (rv != GK_OK) {
        free(tok);
        return rv;
    }
    *tokenp = tok;
    if (toklen != NULL) {
        *toklen = n;
    }
    return GK_OK;
}

gk_err
gkp_jws_sign_into(char *out, size_t outsize, size_t *toklen, const char *header_b64,
                  size_t header_b64_len, const uint8_t *payload, size_t payload_len,
                  gkp_ed25519_sign_fn sign, void *sign_arg)
{
    size_t total = gkp_jws_compact_len(header_b64_len, payload_len);

    if (out == NULL || toklen == NULL || header_b64 == NULL ||
        (payload == NULL && payload_len != 0) || sign == NULL || total == 0 || outsize <= total) {
        return GK_EINVAL;
    }
    memcpy(out, header_b64, header_b64_len);
    return sign_after_header(out, header_b64_len, toklen, payload, payload_len, sign, sign_arg);
}

/* Split "token" into its three non-empty parts. */
static gk_err
split_token(jws_parts *p, const char *token, size_t toklen, gk_diag *diag)
{
    const char *end = token + toklen;
    const char *dot1;
    const char *dot2;

    if (toklen > GKP_JWS_MAX_BYTES) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "token is %zu bytes; the limit is %u",
                            toklen, GKP_JWS_MAX_BYTES);
    }
    dot1 = memchr(token, '.', toklen);
    dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', (size_t) (end - dot1 - 1)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', (size_t) (end - dot2 - 1)) != NULL) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "not a compact JWS: expected three parts separated by '.'");
    }
    p->header = token;
    p->header_len = (size_t) (dot1 - token);
    p->payload = dot1 + 1;
    p->payload_len = (size_t) (dot2 - dot1 - 1);
    p->sig = dot2 + 1;
    p->sig_len = (size_t) (end - dot2 - 1);
    if (p->header_len == 0 || p->payload_len == 0 || p->sig_len == 0) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "not a compact JWS: a part is empty");
    }
    return GK_OK;
}

/* Decode and check the protected header; on GK_OK *hdrp is the header object (caller decrefs). */
static gk_err
parse_header(json_t **hdrp, const jws_parts *p, gk_diag *diag)
{
    uint8_t stackbuf[HEADER_STACK_BYTES];
    uint8_t *buf = stackbuf;
    size_t cap = p->header_len / 4 * 3 + 3;
    size_t len = 0;
    json_t *hdr = NULL;
    json_error_t jerr = {0};
    const json_t *alg;
    gk_err rv;

    *hdrp = NULL;
    if (cap > sizeof(stackbuf)) {
        buf = malloc(cap);
        if (buf == NULL) {
            return gkp_diag_set(diag, GK_ENOMEM, SOURCE, 0, "out of memory");
        }
    }
    rv = gkp_b64url_decode(buf, cap, &len, p->header, p->header_len);
    if (rv != GK_OK) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "header is not base64url");
        goto done;
    }
    /* Duplicate members are refused: two "alg" members must not mean different things. */
    hdr = json_loadb((const char *) buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (hdr == NULL) {
        rv = JSON_LOAD_OOM(&jerr) ? GK_ENOMEM : GK_EPROTO;
        rv = gkp_diag_set(diag, rv, SOURCE, 0, "header is not JSON: %s", jerr.text);
        goto done;
    }
    if (!json_is_object(hdr)) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "header is not a JSON object");
        goto done;
    }
    alg = json_object_get(hdr, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "EdDSA") != 0 ||
        json_string_length(alg) != 5) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "header alg must be \"EdDSA\"%s%.20s%s",
                          json_is_string(alg) ? ", not \"" : "",
                          json_is_string(alg) ? json_string_value(alg) : "",
                          json_is_string(alg) ? "\"" : "");
        goto done;
    }
    if (json_object_get(hdr, "crit") != NULL) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                          "header has \"crit\": no critical extension is supported");
        goto done;
    }
    *hdrp = hdr;
    hdr = NULL;
    rv = GK_OK;
done:
    json_decref(hdr);
    if (buf != stackbuf) {
        free(buf);
    }
    return rv;
}

/* The payload part, base64url-decoded into a malloc'd NUL-terminated buffer (*lenp bytes). */
static gk_err
decode_payload(const jws_parts *p, uint8_t **payloadp, size_t *lenp, gk_diag *diag)
{
    size_t cap = p->payload_len / 4 * 3 + 3;
    uint8_t *payload = malloc(cap + 1);

    if (payload == NULL) {
        return gkp_diag_set(diag, GK_ENOMEM, SOURCE, 0, "out of memory");
    }
    if (gkp_b64url_decode(payload, cap, lenp, p->payload, p->payload_len) != GK_OK) {
        free(payload);
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "payload is not base64url");
    }
    payload[*lenp] = '\0';
    *payloadp = payload;
    return GK_OK;
}

/*
 * Everything but the signature check: split, header, signature and payload decoding, so a
 * malformed token is GK_EPROTO whichever key it names. On GK_OK the caller owns *hdrp and
 * *payloadp (NUL-terminated, length *lenp).
 */
static gk_err
decode_token(jws_parts *p, json_t **hdrp, uint8_t sig[GKP_ED25519_SIG_BYTES], uint8_t **payloadp,
             size_t *lenp, const char *token, size_t toklen, gk_diag *diag)
{
    size_t siglen = 0;
    gk_err rv;

    rv = split_token(p, token, toklen, diag);
    if (rv != GK_OK) {
        return rv;
    }
    rv = parse_header(hdrp, p, diag);
    if (rv != GK_OK) {
        return rv;
    }
    if (gkp_b64url_decode(sig, GKP_ED25519_SIG_BYTES, &siglen, p->sig, p->sig_len) != GK_OK ||
        siglen != GKP_ED25519_SIG_BYTES) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "signature is not 64 bytes of base64url");
        goto fail;
    }
    rv = decode_payload(p, payloadp, lenp, diag);
    if (rv != GK_OK) {
        goto fail;
    }
    return GK_OK;

fail:
    json_decref(*hdrp);
    *hdrp = NULL;
    return rv;
}

/* Hand the payload out when the signature verifies under "pk", free it otherwise. */
static gk_err
finish(const jws_parts *p, const uint8_t sig[GKP_ED25519_SIG_BYTES], const uint8_t *pk,
       uint8_t *payload, size_t len, uint8_t **payloadp, size_t *payload_len, gk_diag *diag)
{
    /* The signing input is the header and payload text as sent, up to the second dot. */
    if (crypto_sign_verify_detached(sig, (const unsigned char *) p->header,
                                    p->header_len + 1 + p->payload_len, pk) != 0) {
        free(payload);
        return gkp_diag_set(diag, GK_EBADSIG, SOURCE, 0, "signature does not verify");
    }
    *payloadp = payload;
    if (payload_len != NULL) {
        *payload_len = len;
    }
    return GK_OK;
}

gk_err
gkp_jws_verify_key(const char *token, size_t toklen, const uint8_t pk[GKP_ED25519_PK_BYTES],
                   uint8_t **payloadp, size_t *payload_len, gk_diag *diag)
{
    jws_parts p;
    json_t *hdr = NULL;
    uint8_t sig[GKP_ED25519_SIG_BYTES];
    uint8_t *payload = NULL;
    size_t len = 0;
    gk_err rv;

    if (payloadp == NULL) {
        return GK_EINVAL;
    }
    *payloadp = NULL;
    if (token == NULL || pk == NULL) {
        return GK_EINVAL;
    }
    rv = decode_token(&p, &hdr, sig, &payload, &len, token, toklen, diag);
    if (rv != GK_OK) {
        return rv;
    }
    json_decref(hdr);
    return finish(&p, sig, pk, payload, len, payloadp, payload_len, diag);
}

gk_err
gkp_jws_payload_authenticated(const char *token, size_t toklen, uint8_t **payloadp,
                              size_t *payload_len, gk_diag *diag)
{
    jws_parts p;
    size_t len = 0;
    gk_err rv;

    if (payloadp == NULL) {
        return GK_EINVAL;
    }
    *payloadp = NULL;
    if (token == NULL) {
        return GK_EINVAL;
    }
    rv = split_token(&p, token, toklen, diag);
    if (rv == GK_OK) {
        rv = decode_payload(&p, payloadp, &len, diag);
    }
    if (rv == GK_OK && payload_len != NULL) {
        *payload_len = len;
    }
    return rv;
}

gk_err
gkp_jws_verify(const char *token, size_t toklen, const gkp_jwks *keys, uint8_t **payloadp,
               size_t *payload_len, gk_diag *diag)
{
    jws_parts p;
    json_t *hdr = NULL;
    uint8_t sig[GKP_ED25519_SIG_BYTES];
    uint8_t *payload = NULL;
    size_t len = 0;
    const json_t *kid;
    const uint8_t *pk = NULL;
    gk_err rv;

    if (payloadp == NULL) {
        return GK_EINVAL;
    }
    *payloadp = NULL;
    if (token == NULL || keys == NULL) {
        return GK_EINVAL;
    }
    rv = decode_token(&p, &hdr, sig, &payload, &len, token, toklen, diag);
    if (rv != GK_OK) {
        return rv;
    }
    kid = json_object_get(hdr, "kid");
    if (!json_is_string(kid)) {
        rv = gkp_diag_set(diag, GK_ENOKEY, SOURCE, 0, "header has no \"kid\" string");
    } else {
        pk = gkp_jwks_find(keys, json_string_value(kid), json_string_length(kid));
        if (pk == NULL) {
            rv = gkp_diag_set(diag, GK_ENOKEY, SOURCE, 0,
                              "kid \"%.63s\" is not in the trusted JWKS", json_string_value(kid));
        }
    }
    json_decref(hdr);
    if (rv != GK_OK) {
        free(payload);
        return rv;
    }
    return finish(&p, sig, pk, payload, len, payloadp, payload_len, diag);
}
