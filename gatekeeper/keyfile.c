/*
 * keyfile.c - reading and generating private JWK key files, and the JWKS beside them.
 */
#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "b64url.h"
#include "vocab.h"

/* A private key file is a small JSON object; anything bigger is not one. */
#define KEYFILE_MAX_BYTES 4096

static gk_err
read_small_file(char *buf, size_t bufsize, size_t *len, const char *path, gk_diag *diag)
{
    struct stat st;
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return gkp_diag_set(diag, errno == ENOENT ? GK_ENOENT : GK_EIO, path, 0,
                            "cannot open key file: %s (create one with `gatekeeper keygen --out "
                            "DIR`)",
                            strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return gkp_diag_set(diag, GK_EIO, path, 0, "key file is not a regular file");
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        close(fd);
        return gkp_diag_set(diag, GK_EINVAL, path, 0,
                            "key file may be read by group or others (mode %03o); run `chmod 600 "
                            "%.60s`",
                            (unsigned) (st.st_mode & 0777), path);
    }
    n = read(fd, buf, bufsize);
    close(fd);
    if (n < 0) {
        return gkp_diag_set(diag, GK_EIO, path, 0, "cannot read key file: %s", strerror(errno));
    }
    if ((size_t) n == bufsize) {
        return gkp_diag_set(diag, GK_EPROTO, path, 0, "key file is larger than %d bytes",
                            KEYFILE_MAX_BYTES);
    }
    *len = (size_t) n;
    return GK_OK;
}

static int
member_is(const json_t *obj, const char *name, const char *value)
{
    const char *text = json_string_value(json_object_get(obj, name));

    return text != NULL && strcmp(text, value) == 0;
}

/*
 * A kid travels inside the JWS protected header and in file names: keep it to the base64url
 * alphabet and '.', so it can never change the header's JSON or a path.
 */
static int
valid_kid(const char *kid)
{
    size_t n = strlen(kid);

    if (n == 0 || n >= GKP_KID_MAX || kid[0] == '.') {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = kid[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            return 0;
        }
    }
    return 1;
}

static gk_err
decode_member(uint8_t out[32], const json_t *jwk, const char *name, const char *path,
              gk_diag *diag)
{
    const char *text = json_string_value(json_object_get(jwk, name));
    size_t len;

    if (text == NULL || gkp_b64url_decode_secret(out, 32, &len, text, strlen(text)) != GK_OK ||
        len != 32) {
        return gkp_diag_set(diag, GK_EPROTO, path, 0,
                            "\"%s\" must be the base64url encoding of 32 bytes", name);
    }
    return GK_OK;
}

gk_err
gkd_keyfile_read(uint8_t **skp, char kid[GKP_KID_MAX], const char *path, gk_diag *diag)
{
    char *buf = NULL;
    uint8_t *sk = NULL;
    uint8_t seed[32], x[32], pk[32];
    json_error_t jerr;
    json_t *jwk = NULL;
    const char *name;
    size_t len = 0;
    gk_err rv;

    /* The file holds the seed: keep even the raw text in guarded memory. */
    buf = sodium_malloc(KEYFILE_MAX_BYTES);
    sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (buf == NULL || sk == NULL) {
        rv = GK_ENOMEM;
        goto fail;
    }
    rv = read_small_file(buf, KEYFILE_MAX_BYTES, &len, path, diag);
    if (rv != GK_OK) {
        goto fail;
    }
    jwk = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (jwk == NULL || !json_is_object(jwk)) {
        rv = gkp_diag_set(diag, GK_EPROTO, path, jwk == NULL ? jerr.line : 0,
                          "key file is not a JSON object (a private JWK)");
        goto fail;
    }
    if (!member_is(jwk, "kty", "OKP") || !member_is(jwk, "crv", "Ed25519")) {
        rv = gkp_diag_set(diag, GK_EPROTO, path, 0,
                          "key file must hold an Ed25519 JWK (\"kty\":\"OKP\",\"crv\":\"Ed25519\")");
        goto fail;
    }
    rv = decode_member(seed, jwk, "d", path, diag);
    if (rv == GK_OK) {
        rv = decode_member(x, jwk, "x", path, diag);
    }
    if (rv != GK_OK) {
        goto fail;
    }
    crypto_sign_seed_keypair(pk, sk, seed);
    if (sodium_memcmp(pk, x, sizeof(pk)) != 0) {
        rv = gkp_diag_set(diag, GK_EPROTO, path, 0,
                          "\"x\" is not the public key of \"d\"; the key file is corrupt");
        goto fail;
    }
    name = json_string_value(json_object_get(jwk, "kid"));
    if (name != NULL && !valid_kid(name)) {
        rv = gkp_diag_set(diag, GK_EPROTO, path, 0,
                          "\"kid\" must be 1 to %d letters, digits, '-', '_' or '.' (an RFC 7638 "
                          "thumbprint is)",
                          GKP_KID_MAX - 1);
        goto fail;
    }
    if (name != NULL) {
        memcpy(kid, name, strlen(name) + 1);
    } else {
        gkp_jwk_thumbprint(kid, pk);
    }
    *skp = sk;
    sk = NULL;
fail:
    sodium_memzero(seed, sizeof(seed));
    if (jwk != NULL) {
        /* jansson copied "d" into its own heap; overwrite it before release. */
        json_t *d = json_object_get(jwk, "d");
        if (json_is_string(d)) {
            sodium_memzero((char *) (uintptr_t) json_string_value(d), json_string_length(d));
        }
        json_decref(jwk);
    }
    sodium_free(buf);
    sodium_free(sk);
    return rv;
}

static gk_err
write_file_atomic(const char *path, const char *text, mode_t mode, int exclusive, gk_diag *diag)
{
    char tmp[PATH_MAX];
    size_t len = strlen(text);
    int fd, ok;

    if (exclusive) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        snprintf(tmp, sizeof(tmp), "%s", path);
    } else {
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    }
    if (fd < 0) {
        return gkp_diag_set(diag, GK_EIO, path, 0, "cannot create: %s", strerror(errno));
    }
    ok = write(fd, text, len) == (ssize_t) len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
    if (ok && !exclusive) {
        ok = rename(tmp, path) == 0;
    }
    if (!ok) {
        int err = errno;
        unlink(tmp);
        return gkp_diag_set(diag, GK_EIO, path, 0, "cannot write: %s", strerror(err));
    }
    return GK_OK;
}

/* Adds the public key to <dir>/jwks.json, keeping the keys it already lists. */
static gk_err
publish_key(const char *dir, const char *kid, const uint8_t pk[32], gk_diag *diag)
{
    char path[PATH_MAX];
    gkp_jwks *set = NULL;
    json_t *doc = NULL;
    char *text = NULL;
    gk_err rv;

    snprintf(path, sizeof(path), "%s/jwks.json", dir);
    if (access(path, F_OK) == 0) {
        rv = gkp_jwks_load_file(&set, path, diag);
    } else {
        rv = gkp_jwks_new(&set);
    }
    if (rv != GK_OK) {
        goto done;
    }
    rv = gkp_jwks_add(set, kid, pk);
    if (rv != GK_OK) {
        gkp_diag_set(diag, rv, path, 0, "cannot add key %s to the JWKS", kid);
        goto done;
    }
    doc = gkp_jwks_to_json(set);
    text = doc != NULL ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    rv = text != NULL ? write_file_atomic(path, text, 0644, 0, diag) : GK_ENOMEM;
done:
    free(text);
    json_decref(doc);
    gkp_jwks_free(set);
    return rv;
}

gk_err
gkd_keyfile_generate(const char *dir, char kid[GKP_KID_MAX], char *path, gk_diag *diag)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t *sk;
    char *x = NULL, *d = NULL, *text = NULL;
    json_t *jwk = NULL;
    gk_err rv = GK_ENOMEM;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return gkp_diag_set(diag, GK_EIO, dir, 0, "cannot create key directory: %s",
                            strerror(errno));
    }
    sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    x = malloc(gkp_b64url_encoded_len(32));
    d = sodium_malloc(gkp_b64url_encoded_len(32));
    if (sk == NULL || x == NULL || d == NULL) {
        goto done;
    }
    crypto_sign_keypair(pk, sk);
    gkp_jwk_thumbprint(kid, pk);
    gkp_b64url_encode(x, gkp_b64url_encoded_len(32), pk, 32);
    gkp_b64url_encode_secret(d, gkp_b64url_encoded_len(32), sk, 32);
    jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "kid", kid, "x",
                    x, "d", d);
    text = jwk != NULL ? json_dumps(jwk, JSON_INDENT(2)) : NULL;
    if (text == NULL) {
        goto done;
    }
    snprintf(path, PATH_MAX, "%s/%s.jwk", dir, kid);
    rv = write_file_atomic(path, text, 0600, 1, diag);
    if (rv == GK_OK) {
        rv = publish_key(dir, kid, pk, diag);
    }
done:
    if (text != NULL) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
    if (jwk != NULL) {
        json_t *dv = json_object_get(jwk, "d");
        sodium_memzero((char *) (uintptr_t) json_string_value(dv), json_string_length(dv));
        json_decref(jwk);
    }
    free(x);
    sodium_free(d);
    sodium_free(sk);
    return rv;
}
