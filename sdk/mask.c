/*
 * mask.c - gk_mask: a decision's privacy mask list, and gk_mask_apply, which masks a record.
 *
 * A mask is one allocation: the header, the array of field pointers and the field strings, so
 * releasing the last reference is one free(). References are counted with C11 atomics (jansson's
 * refcount, nng's hold/rele), because cache entries on several shards and handles given to the
 * caller share one mask with the decision set it came from.
 *
 * gk_mask_apply works on a parsed copy of the record, masks it with the codec's redaction
 * (proto/redact.h: dotted paths, arrays, keyed pseudonyms; the daemon masks contexts the same way
 * before it logs them), and writes the result out compact.
 */
#include "mask.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "gatekeeper.h"
#include "redact.h"

struct gk_mask {
    atomic_size_t refs;
    bool immortal; /* the static empty and all masks: never counted, never freed */
    bool all;      /* masks every member of a record */
    size_t count;
    const char *fields[]; /* count pointers, then the strings they point to */
};

static gk_mask empty_mask = {.immortal = true};
static gk_mask all_mask = {.immortal = true, .all = true};

gk_mask *
gks_mask_empty(void)
{
    return &empty_mask;
}

gk_mask *
gks_mask_all(void)
{
    return &all_mask;
}

gk_mask *
gks_mask_hold(gk_mask *mask)
{
    if (mask == NULL) {
        return &empty_mask;
    }
    if (!mask->immortal) {
        atomic_fetch_add_explicit(&mask->refs, 1, memory_order_relaxed);
    }
    return mask;
}

gk_err
gks_mask_from_json(gk_mask **maskp, const json_t *array)
{
    size_t n = json_array_size(array);
    size_t bytes = 0;
    gk_mask *mask;
    char *cursor;

    *maskp = NULL;
    if (n == 0) {
        *maskp = &empty_mask;
        return GK_OK;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *field = json_array_get(array, i);

        if (!json_is_string(field) || json_string_length(field) == 0) {
            return GK_EPROTO;
        }
        bytes += json_string_length(field) + 1;
    }
    mask = malloc(sizeof(*mask) + n * sizeof(mask->fields[0]) + bytes);
    if (mask == NULL) {
        return GK_ENOMEM;
    }
    atomic_init(&mask->refs, 1);
    mask->immortal = false;
    mask->all = false;
    mask->count = n;
    cursor = (char *) &mask->fields[n];
    for (size_t i = 0; i < n; i++) {
        const json_t *field = json_array_get(array, i);
        size_t len = json_string_length(field);

        memcpy(cursor, json_string_value(field), len + 1);
        mask->fields[i] = cursor;
        cursor += len + 1;
    }
    *maskp = mask;
    return GK_OK;
}

void
gk_mask_free(gk_mask *mask)
{
    if (mask == NULL || mask->immortal) {
        return;
    }
    /* The last reference frees; acq_rel orders every holder's reads before the free. */
    if (atomic_fetch_sub_explicit(&mask->refs, 1, memory_order_acq_rel) == 1) {
        free(mask);
    }
}

size_t
gk_mask_count(const gk_mask *mask)
{
    return mask != NULL ? mask->count : 0;
}

const char *
gk_mask_field(const gk_mask *mask, size_t i)
{
    return mask != NULL && i < mask->count ? mask->fields[i] : NULL;
}

bool
gk_mask_masks_all(const gk_mask *mask)
{
    return mask == NULL || mask->all; /* no mask at all is read the safe way */
}

void
gk_free(void *p)
{
    free(p);
}

gk_err
gk_mask_apply(const gk_mask *mask, const char *record_json, gk_mask_mode mode, const uint8_t *key,
              size_t keylen, char **outp)
{
    json_error_t jerr;
    json_t *root;
    size_t n;
    char *out;
    gk_err rv = GK_OK;

    if (outp != NULL) {
        *outp = NULL;
    }
    if (mask == NULL || record_json == NULL || outp == NULL ||
        (mode != GK_MASK_REMOVE && mode != GK_MASK_PSEUDONYMIZE)) {
        return GK_EINVAL;
    }
    if (mode == GK_MASK_PSEUDONYMIZE &&
        (key == NULL || keylen < GK_MASK_KEY_MIN_BYTES || keylen > GK_MASK_KEY_MAX_BYTES)) {
        return GK_EINVAL;
    }
    if (sodium_init() < 0) {
        return GK_EIO;
    }
    root = json_loads(record_json, 0, &jerr);
    if (root == NULL) {
        return json_error_code(&jerr) == json_error_out_of_memory ? GK_ENOMEM : GK_EINVAL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return GK_EINVAL;
    }
    if (mask->all) {
        rv = gkp_redact_all(root, mode, key, keylen);
    }
    for (size_t i = 0; i < mask->count && rv == GK_OK; i++) {
        rv = gkp_redact_path(root, mask->fields[i], mode, key, keylen);
    }
    if (rv != GK_OK) {
        json_decref(root);
        return rv;
    }
    /* Our own malloc, whatever allocator the host gave jansson, so gk_free() is always right. */
    n = json_dumpb(root, NULL, 0, JSON_COMPACT);
    out = n != 0 ? malloc(n + 1) : NULL;
    if (out == NULL) {
        json_decref(root);
        return GK_ENOMEM;
    }
    json_dumpb(root, out, n, JSON_COMPACT);
    out[n] = '\0';
    json_decref(root);
    *outp = out;
    return GK_OK;
}
