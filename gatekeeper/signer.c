/*
 * signer.c - the key ring that signs decision tokens and publishes its JWKS.
 */
#include "signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "b64url.h"
#include "jws.h"
#include "keyfile.h"
#include "presign.h"
#include "vocab.h"

/* Keys a ring may hold: the signing key plus retired ones still published. */
#define SIGNER_MAX_KEYS 8

/* The longest protected header of gkd_signer_sign, {"alg":"EdDSA","kid":"<kid>","typ":"JWT"}. */
#define HEADER_MAX (GKP_KID_MAX + 48)

typedef struct signer_key {
    uint8_t *sk;                        /* sodium_malloc'd seed || public key */
    char kid[GKP_KID_MAX];
    /* The protected header signed with this key, in base64url: the same for every token, so it
     * is encoded once, when the key is added. */
    char header_b64[HEADER_MAX / 3 * 4 + 4];
    size_t header_b64_len;
} signer_key;

struct gkd_signer {
    size_t nkeys;
    signer_key keys[SIGNER_MAX_KEYS];
    uint8_t *subject_key;               /* sodium_malloc'd, 32 bytes, from the signing seed */
    gkd_presign *presign;               /* the signing key's nonce pool, or NULL */
};

gk_err
gkd_signer_new(gkd_signer **signerp)
{
    gkd_signer *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return GK_ENOMEM;
    }
    *signerp = s;
    return GK_OK;
}

void
gkd_signer_free(gkd_signer *signer)
{
    if (signer == NULL) {
        return;
    }
    gkd_presign_stop(signer->presign);
    for (size_t i = 0; i < signer->nkeys; i++) {
        sodium_free(signer->keys[i].sk);
    }
    sodium_free(signer->subject_key);
    free(signer);
}

gk_err
gkd_signer_add_key_file(gkd_signer *signer, const char *path, gk_diag *diag)
{
    signer_key *key;
    char header[HEADER_MAX];
    size_t n;
    gk_err rv;

    if (signer->nkeys == SIGNER_MAX_KEYS) {
        return gkp_diag_set(diag, GK_EINVAL, path, 0, "at most %d keys may be loaded",
                            SIGNER_MAX_KEYS);
    }
    key = &signer->keys[signer->nkeys];
    rv = gkd_keyfile_read(&key->sk, key->kid, path, diag);
    if (rv != GK_OK) {
        return rv;
    }
    for (size_t i = 0; i < signer->nkeys; i++) {
        if (strcmp(signer->keys[i].kid, key->kid) == 0) {
            sodium_free(key->sk);
            key->sk = NULL;
            return gkp_diag_set(diag, GK_EINVAL, path, 0, "key %s is already loaded", key->kid);
        }
    }
    n = (size_t) snprintf(header, sizeof(header),
                          "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"JWT\"}", key->kid);
    key->header_b64_len =
        gkp_b64url_encode(key->header_b64, sizeof(key->header_b64), (const uint8_t *) header, n);
    if (signer->nkeys == 0) {
        signer->subject_key = sodium_malloc(32);
        if (signer->subject_key == NULL) {
            sodium_free(key->sk);
            key->sk = NULL;
            return GK_ENOMEM;
        }
        crypto_kdf_derive_from_key(signer->subject_key, 32, 1, "gksubjct", key->sk);
    }
    signer->nkeys++;
    return GK_OK;
}

size_t
gkd_signer_count(const gkd_signer *signer)
{
    return signer->nkeys;
}

const char *
gkd_signer_kid(const gkd_signer *signer)
{
    return signer->nkeys > 0 ? signer->keys[0].kid : NULL;
}

gk_err
gkd_signer_presign(gkd_signer *signer, size_t capacity, gk_diag *diag)
{
    if (signer->nkeys == 0 || signer->presign != NULL) {
        return gkp_diag_set(diag, GK_EINVAL, "signer", 0,
                            "a nonce pool needs a signing key and is started once");
    }
    return gkd_presign_start(&signer->presign, signer->keys[0].sk, capacity, diag);
}

gkd_presign *
gkd_signer_presigner(const gkd_signer *signer)
{
    return signer->presign;
}

/*
 * The signing key's gkp_ed25519_sign_fn and its argument (*argp): its nonce pool when it has one,
 * else the key itself, through *skp, which must outlive the signature.
 */
static gkp_ed25519_sign_fn
signing_fn(const gkd_signer *signer, const uint8_t **skp, void **argp)
{
    if (signer->presign != NULL) {
        *argp = signer->presign;
        return gkd_presign_sign;
    }
    *skp = signer->keys[0].sk;
    *argp = skp;
    return gkp_jws_sign_sk;
}

size_t
gkd_signer_token_len(const gkd_signer *signer, size_t len)
{
    return signer->nkeys > 0 ? gkp_jws_compact_len(signer->keys[0].header_b64_len, len) : 0;
}

gk_err
gkd_signer_sign_into(const gkd_signer *signer, const char *payload, size_t len, char *out,
                     size_t outsize, size_t *toklen)
{
    const uint8_t *sk;
    void *arg;
    gkp_ed25519_sign_fn sign;

    if (signer->nkeys == 0) {
        return GK_EINVAL;
    }
    sign = signing_fn(signer, &sk, &arg);
    return gkp_jws_sign_into(out, outsize, toklen, signer->keys[0].header_b64,
                             signer->keys[0].header_b64_len, (const uint8_t *) payload, len, sign,
                             arg);
}

gk_err
gkd_signer_sign(const gkd_signer *signer, const char *payload, size_t len, char **tokenp,
                size_t *toklen)
{
    size_t total = gkd_signer_token_len(signer, len);
    size_t n = 0;
    char *tok;
    gk_err rv;

    if (tokenp == NULL) {
        return GK_EINVAL;
    }
    *tokenp = NULL;
    if (total == 0) {
        return GK_EINVAL; /* an empty ring, or a token no verifier would accept */
    }
    tok = malloc(total + 1);
    if (tok == NULL) {
        return GK_ENOMEM;
    }
    rv = gkd_signer_sign_into(signer, payload, len, tok, total + 1, &n);
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
gkd_signer_sign_typed(const gkd_signer *signer, const char *typ, const char *payload, size_t len,
                      char **tokenp, size_t *toklen)
{
    char header[GKP_KID_MAX + 96];
    size_t n = typ != NULL ? strlen(typ) : 0;
    const uint8_t *sk;
    void *arg;
    gkp_ed25519_sign_fn sign;

    if (signer->nkeys == 0 || n == 0 || n > 40 || strspn(typ, "abcdefghijklmnopqrstuvwxyz0123456789+.-") != n) {
        return GK_EINVAL;
    }
    snprintf(header, sizeof(header), "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"%s\"}",
             signer->keys[0].kid, typ);
    sign = signing_fn(signer, &sk, &arg);
    return gkp_jws_sign_with(tokenp, toklen, header, (const uint8_t *) payload, len, sign, arg);
}

json_t *
gkd_signer_jwks(const gkd_signer *signer)
{
    gkp_jwks *set = NULL;
    json_t *doc = NULL;

    if (gkp_jwks_new(&set) != GK_OK) {
        return NULL;
    }
    for (size_t i = 0; i < signer->nkeys; i++) {
        /* The public key is the second half of libsodium's secret key. */
        if (gkp_jwks_add(set, signer->keys[i].kid, signer->keys[i].sk + 32) != GK_OK) {
            goto done;
        }
    }
    doc = gkp_jwks_to_json(set);
done:
    gkp_jwks_free(set);
    return doc;
}

void
gkd_signer_subject(const gkd_signer *signer, const char *tk, size_t len, char out[GKD_SUBJECT_MAX])
{
    uint8_t hash[16];

    crypto_generichash(hash, sizeof(hash), (const uint8_t *) tk, len, signer->subject_key, 32);
    gkp_b64url_encode(out, GKD_SUBJECT_MAX, hash, sizeof(hash));
}
