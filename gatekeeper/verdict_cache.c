/*
 * verdict_cache.c - on_evaluate outcomes kept per policy vm (verdict_cache.h says when and why).
 */
#include "verdict_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

typedef struct entry {
    uint64_t gen; /* the cache's generation when filled; 0: never filled */
    uint32_t len;
    gkd_policy_outcome outcome;
    char variant[sizeof(((gkd_policy_result *) 0)->variant)];
    char policy[sizeof(((gkd_policy_result *) 0)->policy)];
    json_t *mask;
    unsigned char key[GKD_VERDICT_CACHE_KEY_MAX];
} entry;

struct gkd_verdict_cache {
    uint64_t gen; /* from 1; entries of an older generation are empty */
    entry slot[GKD_VERDICT_CACHE_SLOTS];
};

/* 64-bit FNV-1a of key[0..len), reduced to a slot index. */
static size_t
slot_of(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325u;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3u;
    }
    return (size_t) ((h ^ (h >> 32)) % GKD_VERDICT_CACHE_SLOTS);
}

gk_err
gkd_verdict_cache_new(gkd_verdict_cache **cachep)
{
    *cachep = calloc(1, sizeof(**cachep));
    if (*cachep == NULL) {
        return GK_ENOMEM;
    }
    (*cachep)->gen = 1;
    return GK_OK;
}

void
gkd_verdict_cache_free(gkd_verdict_cache *cache)
{
    if (cache == NULL) {
        return;
    }
    for (size_t i = 0; i < GKD_VERDICT_CACHE_SLOTS; i++) {
        json_decref(cache->slot[i].mask);
    }
    free(cache);
}

void
gkd_verdict_cache_clear(gkd_verdict_cache *cache)
{
    cache->gen++;
}

int
gkd_verdict_cache_get(const gkd_verdict_cache *cache, const void *key, size_t len,
                      gkd_policy_result *out)
{
    const entry *e;

    if (len == 0 || len > GKD_VERDICT_CACHE_KEY_MAX) {
        return 0;
    }
    e = &cache->slot[slot_of(key, len)];
    if (e->gen != cache->gen || e->len != len || memcmp(e->key, key, len) != 0) {
        return 0;
    }
    out->outcome = e->outcome;
    memcpy(out->variant, e->variant, sizeof(out->variant));
    memcpy(out->policy, e->policy, sizeof(out->policy));
    out->mask = json_incref(e->mask);
    out->trace = NULL;
    out->error[0] = '\0';
    return 1;
}

void
gkd_verdict_cache_put(gkd_verdict_cache *cache, const void *key, size_t len,
                      const gkd_policy_result *r)
{
    entry *e;

    if (len == 0 || len > GKD_VERDICT_CACHE_KEY_MAX || r->outcome == GKD_POLICY_ERROR) {
        return;
    }
    e = &cache->slot[slot_of(key, len)];
    json_decref(e->mask);
    e->gen = cache->gen;
    e->len = (uint32_t) len;
    e->outcome = r->outcome;
    memcpy(e->variant, r->variant, sizeof(e->variant));
    memcpy(e->policy, r->policy, sizeof(e->policy));
    e->mask = json_incref(r->mask);
    memcpy(e->key, key, len);
}
