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

typedef struct signer_key {
    uint8_t *sk;                        /* sodium_malloc'd seed || public key */
    char kid[GKP_KID_MAX];
    char header[GKP_KID_MAX + 48];      /* the protected header signed with this key */
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
    strcpy(key->header, "{\"alg\":\"EdDSA\",\"kid\":\"");
    strcat(key->header, key->kid);
    strcat(key->header, "\",\"typ\":\"JWT\"}");
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

/* The token signed with the signing key: through its nonce pool when it has one. */
static gk_err
sign_token(const gkd_signer *signer, const char *header, const char *payload, size_t len,
           char **tokenp, size_t *toklen)
{
    if (signer->presign != NULL) {
        return gkp_jws_sign_with(tokenp, toklen, header, (const uint8_t *) payload, len,
                                 gkd_presign_sign, signer->presign);
    }
    return gkp_jws_sign(tokenp, toklen, header, (const uint8_t *) payload, len,
                        signer->keys[0].sk);
}

gk_err
gkd_signer_sign(const gkd_signer *signer, const char *payload, size_t len, char **tokenp,
                size_t *toklen)
{
    if (signer->nkeys == 0) {
        return GK_EINVAL;
    }
    return sign_token(signer, signer->keys[0].header, payload, len, tokenp, toklen);
}

gk_err
gkd_signer_sign_typed(const gkd_signer *signer, const char *typ, const char *payload, size_t len,
                      char **tokenp, size_t *toklen)
{
    char header[GKP_KID_MAX + 96];
    size_t n = typ != NULL ? strlen(typ) : 0;

    if (signer->nkeys == 0 || n == 0 || n > 40 || strspn(typ, "abcdefghijklmnopqrstuvwxyz0123456789+.-") != n) {
        return GK_EINVAL;
    }
    snprintf(header, sizeof(header), "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"%s\"}",
             signer->keys[0].kid, typ);
    return sign_token(signer, header, payload, len, tokenp, toklen);
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
