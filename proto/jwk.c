/*
 * jwk.c - Ed25519 public keys as JWK/JWKS (RFC 7517, RFC 8037 section 2) and RFC 7638 thumbprints.
 *
 * A key set is a small array searched linearly: a gatekeeper publishes one or two keys (current
 * and next during a rotation), so a hash table would cost more than it saves. Key ids and public
 * keys are public data, so plain memcmp is fine here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "b64url.h"
#include "jwk.h"
#include "vocab.h"

/*
 * Whether a failed json_load* ran out of memory. jansson 2.14 leaves the text empty on some of
 * its allocation failures (and the code unset, hence the zeroed json_error_t).
 */
#define JSON_LOAD_OOM(e) ((e)->text[0] == '\0' || json_error_code(e) == json_error_out_of_memory)

typedef struct jwk_entry {
    char kid[GKP_KID_MAX];
    size_t kidlen;
    uint8_t pk[GKP_ED25519_PK_BYTES];
} jwk_entry;

struct gkp_jwks {
    jwk_entry *keys;
    size_t count;
    size_t cap;
};

gk_err
gkp_jwks_new(gkp_jwks **setp)
{
    if (setp == NULL) {
        return GK_EINVAL;
    }
    *setp = calloc(1, sizeof(**setp));
    return *setp != NULL ? GK_OK : GK_ENOMEM;
}

void
gkp_jwks_free(gkp_jwks *set)
{
    if (set == NULL) {
        return;
    }
    free(set->keys);
    free(set);
}

gk_err
gkp_jwks_add(gkp_jwks *set, const char *kid, const uint8_t pk[GKP_ED25519_PK_BYTES])
{
    size_t kidlen;
    jwk_entry *e;

    if (set == NULL || kid == NULL || pk == NULL) {
        return GK_EINVAL;
    }
    kidlen = strlen(kid);
    if (kidlen == 0 || kidlen >= GKP_KID_MAX || gkp_jwks_find(set, kid, kidlen) != NULL) {
        return GK_EINVAL;
    }
    if (set->count == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 2;
        jwk_entry *keys = realloc(set->keys, cap * sizeof(*keys));
        if (keys == NULL) {
            return GK_ENOMEM;
        }
        set->keys = keys;
        set->cap = cap;
    }
    e = &set->keys[set->count++];
    memcpy(e->kid, kid, kidlen + 1);
    e->kidlen = kidlen;
    memcpy(e->pk, pk, GKP_ED25519_PK_BYTES);
    return GK_OK;
}

const uint8_t *
gkp_jwks_find(const gkp_jwks *set, const char *kid, size_t kidlen)
{
    size_t i;

    if (set == NULL || kid == NULL) {
        return NULL;
    }
    for (i = 0; i < set->count; i++) {
        if (set->keys[i].kidlen == kidlen && memcmp(set->keys[i].kid, kid, kidlen) == 0) {
            return set->keys[i].pk;
        }
    }
    return NULL;
}

size_t
gkp_jwks_count(const gkp_jwks *set)
{
    return set != NULL ? set->count : 0;
}

/* The string member "name" of "key", NULL when absent or not a string. */
static const char *
member_str(const json_t *key, const char *name)
{
    return json_string_value(json_object_get(key, name));
}

/*
 * Whether "key" is an Ed25519 signing key we should use: kty OKP, crv Ed25519, and "use" and
 * "alg", when present, "sig" and "EdDSA" (RFC 7517 sections 4.2 and 4.4).
 */
static int
is_ed25519_sig_key(const json_t *key)
{
    const char *kty = member_str(key, "kty");
    const char *crv = member_str(key, "crv");
    const json_t *use = json_object_get(key, "use");
    const json_t *alg = json_object_get(key, "alg");

    if (kty == NULL || strcmp(kty, "OKP") != 0 || crv == NULL || strcmp(crv, "Ed25519") != 0) {
        return 0;
    }
    if (use != NULL && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
        return 0;
    }
    if (alg != NULL && (!json_is_string(alg) || strcmp(json_string_value(alg), "EdDSA") != 0)) {
        return 0;
    }
    return 1;
}

/* Add key number "i" of the document to "set" (or skip it); diag names the key on error. */
static gk_err
add_json_key(gkp_jwks *set, const json_t *key, size_t i, const char *source, gk_diag *diag)
{
    const json_t *kidv;
    const json_t *xv;
    uint8_t pk[GKP_ED25519_PK_BYTES];
    size_t pklen = 0;
    gk_err rv;

    if (!json_is_object(key)) {
        return gkp_diag_set(diag, GK_EPROTO, source, 0, "keys[%zu] is not a JSON object", i);
    }
    if (!is_ed25519_sig_key(key)) {
        return GK_OK;
    }
    kidv = json_object_get(key, "kid");
    if (!json_is_string(kidv) || json_string_length(kidv) == 0 ||
        json_string_length(kidv) >= GKP_KID_MAX ||
        strlen(json_string_value(kidv)) != json_string_length(kidv)) {
        return gkp_diag_set(diag, GK_EPROTO, source, 0,
                            "keys[%zu]: an Ed25519 key needs a \"kid\" string of 1..%d bytes", i,
                            GKP_KID_MAX - 1);
    }
    xv = json_object_get(key, "x");
    if (!json_is_string(xv) ||
        gkp_b64url_decode(pk, sizeof(pk), &pklen, json_string_value(xv),
                          json_string_length(xv)) != GK_OK ||
        pklen != sizeof(pk)) {
        return gkp_diag_set(diag, GK_EPROTO, source, 0,
                            "keys[%zu] (kid \"%s\"): \"x\" must be 32 bytes in base64url", i,
                            json_string_value(kidv));
    }
    if (gkp_jwks_find(set, json_string_value(kidv), json_string_length(kidv)) != NULL) {
        return gkp_diag_set(diag, GK_EPROTO, source, 0, "keys[%zu]: duplicate kid \"%s\"", i,
                            json_string_value(kidv));
    }
    rv = gkp_jwks_add(set, json_string_value(kidv), pk);
    if (rv != GK_OK) {
        return gkp_diag_set(diag, rv, source, 0, "keys[%zu]: %s", i, gkp_strerror(rv));
    }
    return GK_OK;
}

gk_err
gkp_jwks_parse(gkp_jwks **setp, const json_t *doc, const char *source, gk_diag *diag)
{
    gkp_jwks *set = NULL;
    const json_t *keys;
    size_t i;
    gk_err rv;

    if (setp == NULL) {
        return GK_EINVAL;
    }
    *setp = NULL;
    if (source == NULL) {
        source = "jwks";
    }
    if (!json_is_object(doc)) {
        return gkp_diag_set(diag, GK_EPROTO, source, 0, "a JWKS must be a JSON object");
    }
    rv = gkp_jwks_new(&set);
    if (rv != GK_OK) {
        return gkp_diag_set(diag, rv, source, 0, "%s", gkp_strerror(rv));
    }
    keys = json_object_get(doc, "keys");
    if (keys == NULL) {
        rv = add_json_key(set, doc, 0, source, diag); /* a single JWK */
    } else if (!json_is_array(keys)) {
        rv = gkp_diag_set(diag, GK_EPROTO, source, 0, "\"keys\" must be an array");
    } else {
        for (i = 0; i < json_array_size(keys) && rv == GK_OK; i++) {
            rv = add_json_key(set, json_array_get(keys, i), i, source, diag);
        }
    }
    if (rv == GK_OK && set->count == 0) {
        rv = gkp_diag_set(diag, GK_EPROTO, source, 0,
                          "no Ed25519 signing key (kty \"OKP\", crv \"Ed25519\") in the set");
    }
    if (rv != GK_OK) {
        gkp_jwks_free(set);
        return rv;
    }
    *setp = set;
    return GK_OK;
}

gk_err
gkp_jwks_load_file(gkp_jwks **setp, const char *path, gk_diag *diag)
{
    FILE *f;
    json_t *doc;
    json_error_t jerr = {0};
    gk_err rv;
    int first = diag != NULL && diag->code == GK_OK;

    if (setp == NULL || path == NULL) {
        return GK_EINVAL;
    }
    *setp = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        return gkp_diag_set(diag, e == ENOENT ? GK_ENOENT : GK_EIO, path, 0, "cannot open: %s",
                            strerror(e));
    }
    doc = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    if (ferror(f)) {
        fclose(f);
        json_decref(doc);
        return gkp_diag_set(diag, GK_EIO, path, 0, "read error");
    }
    fclose(f);
    if (doc == NULL) {
        rv = JSON_LOAD_OOM(&jerr) ? GK_ENOMEM : GK_EPROTO;
        gkp_diag_set(diag, rv, path, jerr.line, "invalid JSON: %s", jerr.text);
        if (first && jerr.column > 0) {
            diag->column = jerr.column;
        }
        return rv;
    }
    rv = gkp_jwks_parse(setp, doc, path, diag);
    json_decref(doc);
    return rv;
}

json_t *
gkp_jwks_to_json(const gkp_jwks *set)
{
    json_t *keys = json_array();
    json_t *doc = json_pack("{s:o}", "keys", keys);
    char x[44];
    size_t i;

    if (doc == NULL || set == NULL) {
        json_decref(doc);
        return NULL;
    }
    for (i = 0; i < set->count; i++) {
        gkp_b64url_encode(x, sizeof(x), set->keys[i].pk, GKP_ED25519_PK_BYTES);
        if (json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kty", "OKP", "crv",
                                                  "Ed25519", "x", x, "kid", set->keys[i].kid,
                                                  "use", "sig", "alg", "EdDSA")) != 0) {
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

void
gkp_jwk_thumbprint(char kid[GKP_KID_MAX], const uint8_t pk[GKP_ED25519_PK_BYTES])
{
    /* RFC 7638 section 3.2: required members only, lexicographic order, no whitespace. */
    static const char head[] = "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"";
    char buf[sizeof(head) - 1 + 43 + 2 + 1];
    uint8_t digest[crypto_hash_sha256_BYTES];
    size_t n = sizeof(head) - 1;

    memcpy(buf, head, n);
    n += gkp_b64url_encode(buf + n, sizeof(buf) - n, pk, GKP_ED25519_PK_BYTES);
    buf[n++] = '"';
    buf[n++] = '}';
    crypto_hash_sha256(digest, (const unsigned char *) buf, n);
    gkp_b64url_encode(kid, GKP_KID_MAX, digest, sizeof(digest));
}
