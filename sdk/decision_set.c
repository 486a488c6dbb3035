/*
 * decision_set.c - gk_decision_set: every decision of one verified token, immutable.
 *
 * A decision keeps its value twice: as compact JSON text (what gk_decision_set_get hands out and
 * what the cache stores) and, for the two types the typed evaluators read, in decoded form, so
 * that answering never parses JSON again.
 */
#include "decision_set.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gatekeeper.h"
#include "mask.h"

void
gks_copy_str(char *dst, size_t dstsize, const char *src)
{
    size_t len;

    if (dstsize == 0) {
        return;
    }
    if (src == NULL) {
        dst[0] = '\0';
        return;
    }
    len = strlen(src);
    if (len >= dstsize) {
        len = dstsize - 1;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}

void
gks_detail_clear(gk_detail *detail)
{
    detail->variant[0] = '\0';
    detail->reason = GK_REASON_UNKNOWN;
    detail->error_code = GK_ERROR_NONE;
    detail->rule_id[0] = '\0';
    detail->snapshot_version = 0;
    detail->error_message[0] = '\0';
}

gk_err
gks_decision_set_new(gk_decision_set **setp, size_t count)
{
    gk_decision_set *set = calloc(1, sizeof(*set));

    *setp = NULL;
    if (set == NULL) {
        return GK_ENOMEM;
    }
    if (count > 0) {
        set->items = calloc(count, sizeof(*set->items));
        if (set->items == NULL) {
            free(set);
            return GK_ENOMEM;
        }
    }
    set->count = count;
    *setp = set;
    return GK_OK;
}

static char *
dup_bytes(const char *s, size_t len)
{
    char *copy = malloc(len + 1);

    if (copy != NULL) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

gk_err
gks_decision_fill(gks_decision *d, const gkp_flag_claim *claim, uint64_t snapshot_version)
{
    bool has_value = claim->reason != GK_REASON_DISABLED && claim->reason != GK_REASON_ERROR;
    gk_err rv;

    gks_detail_clear(&d->detail);
    d->key = dup_bytes(claim->key, strlen(claim->key));
    if (d->key == NULL) {
        return GK_ENOMEM;
    }
    d->detail.reason = claim->reason;
    d->detail.snapshot_version = snapshot_version;
    rv = gks_mask_from_json(&d->mask, claim->mask);
    if (rv != GK_OK) {
        return rv;
    }
    if (!has_value) {
        /* Per claims.h these entries carry no value; one sent anyway is ignored. */
        d->kind = GKS_KIND_NONE;
        if (claim->reason == GK_REASON_ERROR) {
            d->detail.error_code =
                claim->error_code == GK_ERROR_NONE ? GK_ERROR_GENERAL : claim->error_code;
            gks_copy_str(d->detail.error_message, sizeof(d->detail.error_message),
                         claim->error_message != NULL ? claim->error_message
                                                      : "the gatekeeper gave no decision");
        }
        return GK_OK;
    }
    if (claim->value == NULL) {
        return GK_EPROTO;
    }
    gks_copy_str(d->detail.variant, sizeof(d->detail.variant), claim->variant);
    gks_copy_str(d->detail.rule_id, sizeof(d->detail.rule_id), claim->rule_id);
    d->value_json = json_dumps(claim->value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (d->value_json == NULL) {
        return GK_ENOMEM;
    }
    if (json_is_boolean(claim->value)) {
        d->kind = GKS_KIND_BOOL;
        d->bool_value = json_is_true(claim->value);
    } else if (json_is_string(claim->value)) {
        d->kind = GKS_KIND_STRING;
        d->str_len = json_string_length(claim->value);
        d->str = dup_bytes(json_string_value(claim->value), d->str_len);
        if (d->str == NULL) {
            return GK_ENOMEM;
        }
    } else {
        d->kind = GKS_KIND_OTHER;
    }
    return GK_OK;
}

const gks_decision *
gks_decision_find(const gk_decision_set *set, const char *key)
{
    for (size_t i = 0; i < set->count; i++) {
        if (set->items[i].key != NULL && strcmp(set->items[i].key, key) == 0) {
            return &set->items[i];
        }
    }
    return NULL;
}

void
gk_decision_set_free(gk_decision_set *set)
{
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < set->count; i++) {
        free(set->items[i].key);
        free(set->items[i].value_json);
        free(set->items[i].str);
        gk_mask_free(set->items[i].mask);
    }
    free(set->items);
    free(set);
}

size_t
gk_decision_set_count(const gk_decision_set *set)
{
    return set == NULL ? 0 : set->count;
}

gk_err
gk_decision_set_get(const gk_decision_set *set, size_t index, const char **key,
                    const char **value_json, gk_detail *detail)
{
    const gks_decision *d;

    if (set == NULL || index >= set->count) {
        return GK_EINVAL;
    }
    d = &set->items[index];
    if (key != NULL) {
        *key = d->key;
    }
    if (value_json != NULL) {
        *value_json = d->value_json;
    }
    if (detail != NULL) {
        *detail = d->detail;
    }
    return GK_OK;
}

gk_err
gk_decision_set_mask(const gk_decision_set *set, size_t index, gk_mask **maskp)
{
    const gks_decision *d;

    if (maskp == NULL) {
        return GK_EINVAL;
    }
    if (set == NULL || index >= set->count) {
        *maskp = gks_mask_all(); /* fail closed even for a caller that ignores the status */
        return GK_EINVAL;
    }
    d = &set->items[index];
    /* An ERROR entry is no decision: as for gk_client_eval_mask, every field is masked. */
    *maskp = d->detail.reason == GK_REASON_ERROR ? gks_mask_all() : gks_mask_hold(d->mask);
    return GK_OK;
}
