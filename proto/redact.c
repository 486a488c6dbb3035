/*
 * redact.c - masking of JSON records and contexts by field path (see redact.h).
 *
 * Paths are followed member by member; a path that does not exist changes nothing. When a path
 * meets an array, the rest of the path is applied to each element, so "contacts.email" masks the
 * e-mail of every contact; a path that ends at an array or object masks that whole value.
 * Pseudonyms are keyed BLAKE2b (crypto_generichash) of the value's compact JSON text with object
 * members sorted, so equal values get equal pseudonyms whatever their member order, and without the
 * key nobody can recompute a pseudonym from a guessed value (an unkeyed hash of an e-mail address
 * is reversed by hashing a list of addresses).
 */
#include "redact.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "b64url.h"

/* Bytes of keyed BLAKE2b output in a pseudonym (22 base64url characters). */
#define PSEUDONYM_HASH_BYTES 16
#define PSEUDONYM_PREFIX     "pseudo:"

/* The masked stand-in for `value`: "pseudo:" + base64url(keyed BLAKE2b-128 of its JSON text). */
static json_t *
pseudonym(const json_t *value, const uint8_t *key, size_t keylen)
{
    const size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY;
    unsigned char hash[PSEUDONYM_HASH_BYTES];
    char out[sizeof(PSEUDONYM_PREFIX) + 2 * PSEUDONYM_HASH_BYTES];
    size_t n = json_dumpb(value, NULL, 0, flags);
    char *text;

    if (n == 0) {
        return NULL;
    }
    text = malloc(n);
    if (text == NULL) {
        return NULL;
    }
    json_dumpb(value, text, n, flags);
    crypto_generichash(hash, sizeof(hash), (const unsigned char *) text, n, key, keylen);
    sodium_memzero(text, n); /* the value is personal data */
    free(text);
    memcpy(out, PSEUDONYM_PREFIX, sizeof(PSEUDONYM_PREFIX) - 1);
    gkp_b64url_encode(out + sizeof(PSEUDONYM_PREFIX) - 1,
                      sizeof(out) - (sizeof(PSEUDONYM_PREFIX) - 1), hash, sizeof(hash));
    return json_string(out);
}

/* Mask member `name` (len bytes) of object `obj`, which exists. */
static gk_err
mask_member(json_t *obj, const char *name, size_t len, gk_mask_mode mode, const uint8_t *key,
            size_t keylen)
{
    json_t *stand_in;

    if (mode == GK_MASK_REMOVE) {
        return json_object_deln(obj, name, len) == 0 ? GK_OK : GK_ENOMEM;
    }
    stand_in = pseudonym(json_object_getn(obj, name, len), key, keylen);
    if (stand_in == NULL || json_object_setn_new(obj, name, len, stand_in) != 0) {
        return GK_ENOMEM;
    }
    return GK_OK;
}

gk_err
gkp_redact_path(json_t *node, const char *path, gk_mask_mode mode, const uint8_t *key, size_t keylen)
{
    const char *dot = strchr(path, '.');
    size_t len = dot != NULL ? (size_t) (dot - path) : strlen(path);
    json_t *child;
    gk_err rv;

    if (json_is_array(node)) {
        for (size_t i = 0; i < json_array_size(node); i++) {
            rv = gkp_redact_path(json_array_get(node, i), path, mode, key, keylen);
            if (rv != GK_OK) {
                return rv;
            }
        }
        return GK_OK;
    }
    if (!json_is_object(node)) {
        return GK_OK;
    }
    child = json_object_getn(node, path, len);
    if (child == NULL) {
        return GK_OK;
    }
    if (dot == NULL) {
        return mask_member(node, path, len, mode, key, keylen);
    }
    return gkp_redact_path(child, dot + 1, mode, key, keylen);
}

gk_err
gkp_redact_all(json_t *root, gk_mask_mode mode, const uint8_t *key, size_t keylen)
{
    if (mode == GK_MASK_REMOVE) {
        return json_object_clear(root) == 0 ? GK_OK : GK_ENOMEM;
    }
    for (void *it = json_object_iter(root); it != NULL; it = json_object_iter_next(root, it)) {
        json_t *stand_in = pseudonym(json_object_iter_value(it), key, keylen);

        if (stand_in == NULL || json_object_iter_set_new(root, it, stand_in) != 0) {
            return GK_ENOMEM;
        }
    }
    return GK_OK;
}
