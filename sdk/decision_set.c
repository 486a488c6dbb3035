/*
 * decision_set.c - gk_decision_set: every decision of one verified token, immutable.
 *
 * A decision keeps its value twice: as compact JSON text (what gk_decision_set_get hands out and
 * what the cache stores) and, for the two types the typed evaluators read, in decoded form, so
 * that answering never parses JSON again.
 */
#include "decision_set.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gatekeeper.h"
#include "jsonutil.h"
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

/* A set and its decisions in one allocation: one malloc and one free a token. */
typedef struct set_block {
    gk_decision_set set; /* first: the block is freed through it */
    gks_decision items[];
} set_block;

gk_err
gks_decision_set_new(gk_decision_set **setp, size_t count)
{
    set_block *block;

    *setp = NULL;
    if (count > (SIZE_MAX - sizeof(*block)) / sizeof(block->items[0])) {
        return GK_ENOMEM;
    }
    block = calloc(1, sizeof(*block) + count * sizeof(block->items[0]));
    if (block == NULL) {
        return GK_ENOMEM;
    }
    block->set.items = block->items;
    block->set.count = count;
    *setp = &block->set;
    return GK_OK;
}

char *
gks_pack_text(char **cursor, const char *s, size_t n)
{
    char *at = *cursor;

    memcpy(at, s, n);
    at[n] = '\0';
    *cursor = at + n + 1;
    return at;
}

/*
 * The compact JSON text of a flag value, as json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) writes it:
 * true, false, null and a string that needs no escaping are written here (the values a flag
 * almost always has), anything else by jansson into *dumped (malloc'd, the caller frees it).
 * Returns the text's length, with the text at *text; (size_t) -1 when out of memory.
 */
static size_t
value_text(const json_t *value, const char **text, char **dumped)
{
    size_t n;

    *dumped = NULL;
    switch (json_typeof(value)) {
    case JSON_TRUE:
        *text = "true";
        return 4;
    case JSON_FALSE:
        *text = "false";
        return 5;
    case JSON_NULL:
        *text = "null";
        return 4;
    case JSON_STRING:
        n = json_string_length(value);
        if (gkp_json_plain_len(json_string_value(value), n) == n) {
            *text = NULL; /* the caller quotes the string itself */
            return n + 2;
        }
        break;
    default:
        break;
    }
    *dumped = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (*dumped == NULL) {
        return (size_t) -1;
    }
    *text = *dumped;
    return strlen(*dumped);
}

gk_err
gks_decision_fill(gks_decision *d, const gkp_flag_claim *claim, uint64_t snapshot_version)
{
    bool has_value = claim->reason != GK_REASON_DISABLED && claim->reason != GK_REASON_ERROR;
    bool is_string = has_value && claim->value != NULL && json_is_string(claim->value);
    size_t key_len = strlen(claim->key), text_len = 0, str_len = 0;
    const char *text = NULL;
    char *dumped = NULL, *cursor;
    gk_err rv;

    gks_detail_clear(&d->detail);
    d->detail.reason = claim->reason;
    d->detail.snapshot_version = snapshot_version;
    rv = gks_mask_from_json(&d->mask, claim->mask);
    if (rv != GK_OK) {
        return rv;
    }
    if (has_value) {
        if (claim->value == NULL) {
            return GK_EPROTO;
        }
        text_len = value_text(claim->value, &text, &dumped);
        if (text_len == (size_t) -1) {
            return GK_ENOMEM;
        }
        str_len = is_string ? json_string_length(claim->value) : 0;
    }
    /* The key, the value's text and a string value's bytes share one allocation, which d->key
     * owns (gk_decision_set_free frees it through d->key). */
    cursor = malloc(key_len + 1 + (has_value ? text_len + 1 : 0) + (is_string ? str_len + 1 : 0));
    if (cursor == NULL) {
        free(dumped);
        return GK_ENOMEM;
    }
    d->key = gks_pack_text(&cursor, claim->key, key_len);
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
    gks_copy_str(d->detail.variant, sizeof(d->detail.variant), claim->variant);
    gks_copy_str(d->detail.rule_id, sizeof(d->detail.rule_id), claim->rule_id);
    if (text != NULL) {
        d->value_json = gks_pack_text(&cursor, text, text_len);
        free(dumped);
    } else { /* a string that needs no escaping is its own JSON text once quoted */
        d->value_json = cursor;
        cursor[0] = '"';
        memcpy(cursor + 1, json_string_value(claim->value), str_len);
        cursor[str_len + 1] = '"';
        cursor[str_len + 2] = '\0';
        cursor += str_len + 3;
    }
    if (json_is_boolean(claim->value)) {
        d->kind = GKS_KIND_BOOL;
        d->bool_value = json_is_true(claim->value);
    } else if (is_string) {
        d->kind = GKS_KIND_STRING;
        d->str_len = str_len;
        d->str = gks_pack_text(&cursor, json_string_value(claim->value), str_len);
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
        free(set->items[i].key); /* and value_json and str, which share its allocation */
        gk_mask_free(set->items[i].mask);
    }
    free(set); /* and its items (set_block) */
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
