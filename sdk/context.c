/*
 * context.c - gk_context: a JSON object of attributes plus "targetingKey", and its canonical text.
 *
 * The canonical text (json_dumps with JSON_SORT_KEYS | JSON_COMPACT) is recomputed by every
 * setter, so that an evaluation, which may run on many threads at once, only reads a string that
 * is already there: it is hashed as the cache key and its object is the request's "context".
 * Numbers that are whole and exactly representable (|v| <= 2^53) are stored as JSON integers so
 * that 42 and 42.0 give the same text.
 *
 * The text's hash is computed with it, for the same reason: a cache hit would otherwise spend a
 * third of its time hashing the same bytes again on every call. It is SipHash-2-4 under one
 * random key per process ("text_key", drawn once), so outsiders who choose contexts cannot make
 * them collide; each cache mixes it with its own keyed hash of the flag key (cache.c).
 */
#include "context.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "gatekeeper.h"

#define TARGETING_KEY "targetingKey"
/* 2^53: every integer up to this magnitude is exact in a double. */
#define EXACT_INT_LIMIT 9007199254740992.0

struct gk_context {
    json_t *attrs; /* object; owned */
    char *text;    /* canonical text of attrs; malloc'd by jansson */
    size_t text_len;
    uint64_t text_hash; /* gks_context_hash_text(text, text_len) */
};

/* The process's key for context hashes, drawn once. */
static pthread_once_t text_key_once = PTHREAD_ONCE_INIT;
static unsigned char text_key[crypto_shorthash_KEYBYTES];

/*
 * sodium_init() is called for its thread safety only: it fails only when it cannot take its own
 * mutex, and randombytes_buf() then still either fills the key or aborts (it has no error
 * return), so there is no failure to report and gk_context_new keeps its documented results.
 */
static void
draw_text_key(void)
{
    if (sodium_init() < 0) {
        /* see above: the key is drawn all the same */
    }
    crypto_shorthash_keygen(text_key);
}

uint64_t
gks_context_hash_text(const char *text, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;

    (void) pthread_once(&text_key_once, draw_text_key);
    crypto_shorthash(out, (const unsigned char *) text, len, text_key);
    memcpy(&h, out, sizeof(h));
    return h;
}

/* Recompute the canonical text and its hash; on failure the old ones stay. */
static gk_err
refresh_text(gk_context *ctx)
{
    char *text = json_dumps(ctx->attrs, GKS_CONTEXT_DUMP_FLAGS);

    if (text == NULL) {
        return GK_ENOMEM;
    }
    free(ctx->text);
    ctx->text = text;
    ctx->text_len = strlen(text);
    ctx->text_hash = gks_context_hash_text(text, ctx->text_len);
    return GK_OK;
}

/*
 * jansson returns NULL both for invalid UTF-8 and for a failed allocation; a one-byte probe tells
 * the two apart so the caller gets GK_EINVAL for its bad string, not GK_ENOMEM.
 */
static gk_err
string_failure(void)
{
    json_t *probe = json_string("x");

    if (probe == NULL) {
        return GK_ENOMEM;
    }
    json_decref(probe);
    return GK_EINVAL;
}

gk_err
gk_context_new(gk_context **ctxp, const char *targeting_key)
{
    gk_context *ctx;
    gk_err rv = GK_ENOMEM;

    if (ctxp == NULL) {
        return GK_EINVAL;
    }
    *ctxp = NULL;
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        return GK_ENOMEM;
    }
    ctx->attrs = json_object();
    if (ctx->attrs == NULL) {
        goto fail;
    }
    if (targeting_key != NULL) {
        json_t *tk = json_string(targeting_key);

        if (tk == NULL) {
            rv = string_failure();
            goto fail;
        }
        if (json_object_set_new(ctx->attrs, TARGETING_KEY, tk) != 0) {
            goto fail;
        }
    }
    rv = refresh_text(ctx);
    if (rv != GK_OK) {
        goto fail;
    }
    *ctxp = ctx;
    return GK_OK;

fail:
    gk_context_free(ctx);
    return rv;
}

void
gk_context_free(gk_context *ctx)
{
    if (ctx == NULL) {
        return;
    }
    json_decref(ctx->attrs);
    free(ctx->text);
    free(ctx);
}

/*
 * Set `name` to `value` (stolen, even on failure) and refresh the text. When the text cannot be
 * recomputed the previous value is put back, so the object and its text never disagree.
 */
static gk_err
set_attr(gk_context *ctx, const char *name, json_t *value)
{
    json_t *old;
    gk_err rv;

    if (ctx == NULL || name == NULL || name[0] == '\0' || strcmp(name, TARGETING_KEY) == 0) {
        json_decref(value);
        return GK_EINVAL;
    }
    if (value == NULL) {
        return string_failure();
    }
    old = json_incref(json_object_get(ctx->attrs, name));
    if (json_object_set_new(ctx->attrs, name, value) != 0) {
        json_decref(old);
        return string_failure(); /* an invalid UTF-8 name, or no memory */
    }
    rv = refresh_text(ctx);
    if (rv != GK_OK) {
        if (old != NULL) {
            json_object_set_new(ctx->attrs, name, old);
        } else {
            json_object_del(ctx->attrs, name);
        }
        return rv;
    }
    json_decref(old);
    return GK_OK;
}

gk_err
gk_context_set_string(gk_context *ctx, const char *name, const char *value)
{
    if (value == NULL) {
        return GK_EINVAL;
    }
    return set_attr(ctx, name, json_string(value));
}

gk_err
gk_context_set_number(gk_context *ctx, const char *name, double value)
{
    json_t *num;

    if (!isfinite(value)) {
        return GK_EINVAL;
    }
    /* Range first, so the cast is defined; no libm needed (the SDK does not link it). */
    if (value >= -EXACT_INT_LIMIT && value <= EXACT_INT_LIMIT &&
        value == (double) (json_int_t) value) {
        num = json_integer((json_int_t) value);
    } else {
        num = json_real(value);
    }
    if (num == NULL) {
        return GK_ENOMEM;
    }
    return set_attr(ctx, name, num);
}

gk_err
gk_context_set_bool(gk_context *ctx, const char *name, bool value)
{
    return set_attr(ctx, name, json_boolean(value));
}

const char *
gks_context_text(const gk_context *ctx, size_t *len)
{
    if (len != NULL) {
        *len = ctx->text_len;
    }
    return ctx->text;
}

uint64_t
gks_context_hash(const gk_context *ctx)
{
    return ctx->text_hash;
}

const json_t *
gks_context_json(const gk_context *ctx)
{
    return ctx->attrs;
}
