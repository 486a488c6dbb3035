/*
 * cache.c - sharded, bounded decision cache with an approximate LRU (see cache.h for the
 * contract).
 *
 * Layout: `nshards` shards, each a chained hash table plus an intrusive LRU list. The shard is
 * chosen by the high half of the hash and the bucket by the low half, so the two are independent.
 * An entry is one allocation: the fixed record followed by the flag key, the context text, the
 * value's JSON text and its decoded string, so a hit copies out of one block and an eviction is
 * one free().
 *
 * Why a hit writes nothing shared: two threads hitting one entry used to take the same shard
 * mutex and relink the same LRU list, so the mutex's cache line went back and forth between
 * their CPUs and a contended lock slept in the kernel; two threads were each half as fast as one.
 * Now a lookup only reads:
 *   - Each shard's lock is split into "stripes", one rwlock per CPU (rounded up to a power of
 *     two, at most STRIPES_MAX), each on its own cache line. A lookup read-locks the stripe of
 *     the CPU it runs on; anything that changes the shard (insert, removal, eviction,
 *     invalidation) write-locks every stripe, in order. Lookups on different CPUs so touch
 *     different lines, and the rare writer pays for it (a few dozen uncontended locks). A thread
 *     that moves to another CPU while it holds a stripe unlocks the stripe it locked; two threads
 *     on one stripe still share it, since it is a read lock.
 *   - The LRU order is approximate ("second chance", the CLOCK algorithm): a hit sets its entry's
 *     `referenced` bit, and only when it is clear, so a hot entry's line is written once, not on
 *     every hit. Eviction takes the tail of the list; a tail that was referenced since it was
 *     put there goes back to the front with its bit cleared, and the next tail is tried. The entry
 *     evicted is so the one least recently inserted or given its second chance among those not
 *     used since, which is the least recently used one whenever at most one use per entry falls
 *     between two evictions.
 *   - The context's hash is computed once per gk_context (context.c), so a lookup hashes only
 *     the flag key.
 * A lookup that meets an expired or outdated entry drops it under the write lock, after looking
 * it up again (another thread may have replaced it meanwhile).
 */
#define _GNU_SOURCE /* sched_getcpu */

#include "cache.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "context.h"
#include "decision_set.h"
#include "gatekeeper.h"
#include "mask.h"

/* Shard when the bound is large enough for each shard to hold a useful number of entries. */
#define SHARDS_MANY   16u
#define SHARDS_MIN_AT 256u
/* Most lock stripes per shard (one per CPU up to this). */
#define STRIPES_MAX 64u
#define CACHE_LINE  64u
/* Fibonacci multiplier: spreads the context hash before it is mixed with the key hash. */
#define MIX 0x9E3779B97F4A7C15ull

typedef struct entry {
    struct entry *chain;    /* next in this bucket */
    struct entry *lru_prev; /* towards the most recently used */
    struct entry *lru_next; /* towards the least recently used */
    uint64_t hash;
    size_t key_len;
    size_t ctx_len;
    size_t str_len;
    const char *key; /* all four point into data[] */
    const char *ctx;
    const char *value_json; /* NULL when kind is NONE */
    const char *str;        /* NULL unless kind is STRING */
    gks_kind kind;
    bool bool_value;
    atomic_bool referenced; /* hit since it was put at the front (set under a read lock) */
    int64_t fetched_ms;
    int64_t iat_s;
    int64_t exp_s;
    int64_t expires_ms;
    uint64_t valid_version; /* snapshot version it is known current at (cache.h) */
    gk_detail detail;
    gk_mask *mask; /* one reference, released with the entry */
    char data[];
} entry;

/* One stripe of a shard's lock, alone on its cache line. */
typedef struct stripe {
    _Alignas(CACHE_LINE) pthread_rwlock_t lock;
} stripe;

typedef struct shard {
    stripe *stripes; /* nstripes of them (gks_cache) */
    entry **buckets;
    size_t mask; /* bucket count - 1 (a power of two) */
    entry *lru_head;
    entry *lru_tail;
    size_t count;
    size_t max;
    char pad[CACHE_LINE]; /* keep neighbouring shards' fields off one cache line */
} shard;

struct gks_cache {
    unsigned char key_flag[crypto_shorthash_KEYBYTES];
    size_t nshards;
    size_t nstripes; /* a power of two */
    shard *shards;
};

/* Free an entry (NULL ignored) and its reference to the mask; call without a shard lock. */
static void
entry_free(entry *e)
{
    if (e != NULL) {
        gk_mask_free(e->mask);
        free(e);
    }
}

/* The entry hash: the flag key's under this cache's key, mixed with the context's (context.h). */
static uint64_t
hash_pair(const gks_cache *cache, const char *key, size_t key_len, uint64_t ctx_hash)
{
    unsigned char out_key[crypto_shorthash_BYTES];
    uint64_t hk;

    crypto_shorthash(out_key, (const unsigned char *) key, key_len, cache->key_flag);
    memcpy(&hk, out_key, sizeof(hk));
    return hk ^ (ctx_hash * MIX);
}

/* Read-lock the stripe of the CPU this thread runs on; returns it, for read_unlock. */
static stripe *
read_lock(const gks_cache *cache, shard *s)
{
    int cpu = 0;
    stripe *st;

#ifdef __linux__
    cpu = sched_getcpu();
    if (cpu < 0) {
        cpu = 0;
    }
#endif
    st = &s->stripes[(size_t) cpu & (cache->nstripes - 1)];
    pthread_rwlock_rdlock(&st->lock);
    return st;
}

static void
read_unlock(stripe *st)
{
    pthread_rwlock_unlock(&st->lock);
}

/* Exclude every lookup and every other writer from `s`: all stripes, in order. */
static void
write_lock(const gks_cache *cache, shard *s)
{
    for (size_t i = 0; i < cache->nstripes; i++) {
        pthread_rwlock_wrlock(&s->stripes[i].lock);
    }
}

static void
write_unlock(const gks_cache *cache, shard *s)
{
    for (size_t i = cache->nstripes; i-- > 0;) {
        pthread_rwlock_unlock(&s->stripes[i].lock);
    }
}

static shard *
shard_of(const gks_cache *cache, uint64_t hash)
{
    return &cache->shards[(hash >> 32) & (cache->nshards - 1)];
}

static void
lru_unlink(shard *s, entry *e)
{
    if (e->lru_prev != NULL) {
        e->lru_prev->lru_next = e->lru_next;
    } else {
        s->lru_head = e->lru_next;
    }
    if (e->lru_next != NULL) {
        e->lru_next->lru_prev = e->lru_prev;
    } else {
        s->lru_tail = e->lru_prev;
    }
    e->lru_prev = NULL;
    e->lru_next = NULL;
}

static void
lru_push_front(shard *s, entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = s->lru_head;
    if (s->lru_head != NULL) {
        s->lru_head->lru_prev = e;
    }
    s->lru_head = e;
    if (s->lru_tail == NULL) {
        s->lru_tail = e;
    }
    atomic_store_explicit(&e->referenced, false, memory_order_relaxed);
}

/*
 * The entry to evict from a full shard (write-locked): the first tail not referenced since it
 * was put at the front; referenced ones go back to the front, bit cleared. Ends within one pass
 * plus one, since a pass clears every bit.
 */
static entry *
lru_victim(shard *s)
{
    entry *e = s->lru_tail;

    while (atomic_load_explicit(&e->referenced, memory_order_relaxed)) {
        lru_unlink(s, e);
        lru_push_front(s, e);
        e = s->lru_tail;
    }
    return e;
}

/* Remove `e` from its bucket and the LRU list; the caller frees it (after unlocking). */
static void
shard_remove(shard *s, entry *e)
{
    entry **pp = &s->buckets[e->hash & s->mask];

    while (*pp != e) {
        pp = &(*pp)->chain;
    }
    *pp = e->chain;
    lru_unlink(s, e);
    s->count--;
}

/* The entry for (key, ctx) in `s`, locked either way, or NULL. */
static entry *
shard_find(const shard *s, uint64_t hash, const char *key, size_t key_len, const char *ctx,
           size_t ctx_len)
{
    for (entry *e = s->buckets[hash & s->mask]; e != NULL; e = e->chain) {
        if (e->hash == hash && e->key_len == key_len && e->ctx_len == ctx_len &&
            memcmp(e->key, key, key_len) == 0 && memcmp(e->ctx, ctx, ctx_len) == 0) {
            return e;
        }
    }
    return NULL;
}

static size_t
pow2_at_least(size_t n)
{
    size_t p = 1;

    while (p < n) {
        p <<= 1;
    }
    return p;
}

/* One stripe per configured CPU, a power of two, at most STRIPES_MAX. */
static size_t
stripe_count(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);

    if (ncpu < 1) {
        ncpu = 1;
    }
    return pow2_at_least((size_t) ncpu < STRIPES_MAX ? (size_t) ncpu : STRIPES_MAX);
}

/* Allocate and initialise the stripes of `s`; on failure nothing is left allocated. */
static gk_err
stripes_init(const gks_cache *cache, shard *s)
{
    size_t i;

    s->stripes = aligned_alloc(CACHE_LINE, cache->nstripes * sizeof(*s->stripes));
    if (s->stripes == NULL) {
        return GK_ENOMEM;
    }
    for (i = 0; i < cache->nstripes; i++) {
        if (pthread_rwlock_init(&s->stripes[i].lock, NULL) != 0) {
            break;
        }
    }
    if (i < cache->nstripes) {
        while (i-- > 0) {
            pthread_rwlock_destroy(&s->stripes[i].lock);
        }
        free(s->stripes);
        s->stripes = NULL;
        return GK_ENOMEM;
    }
    return GK_OK;
}

static void
stripes_fini(const gks_cache *cache, shard *s)
{
    for (size_t i = 0; i < cache->nstripes; i++) {
        pthread_rwlock_destroy(&s->stripes[i].lock);
    }
    free(s->stripes);
}

gk_err
gks_cache_new(gks_cache **cachep, size_t max_entries)
{
    gks_cache *cache;
    size_t per_shard;

    *cachep = NULL;
    if (max_entries == 0) {
        max_entries = GKS_CACHE_DEFAULT_MAX;
    }
    cache = calloc(1, sizeof(*cache));
    if (cache == NULL) {
        return GK_ENOMEM;
    }
    crypto_shorthash_keygen(cache->key_flag);
    cache->nshards = max_entries >= SHARDS_MIN_AT ? SHARDS_MANY : 1;
    cache->nstripes = stripe_count();
    /* Round down so the total never exceeds the bound. */
    per_shard = max_entries / cache->nshards;
    cache->shards = calloc(cache->nshards, sizeof(*cache->shards));
    if (cache->shards == NULL) {
        free(cache);
        return GK_ENOMEM;
    }
    for (size_t i = 0; i < cache->nshards; i++) {
        shard *s = &cache->shards[i];
        size_t nbuckets = pow2_at_least(per_shard);

        s->max = per_shard;
        s->mask = nbuckets - 1;
        s->buckets = calloc(nbuckets, sizeof(*s->buckets));
        if (s->buckets == NULL || stripes_init(cache, s) != GK_OK) {
            free(s->buckets);
            s->buckets = NULL;
            cache->nshards = i; /* free only the shards set up so far */
            gks_cache_free(cache);
            return GK_ENOMEM;
        }
    }
    *cachep = cache;
    return GK_OK;
}

void
gks_cache_free(gks_cache *cache)
{
    if (cache == NULL) {
        return;
    }
    for (size_t i = 0; i < cache->nshards; i++) {
        shard *s = &cache->shards[i];
        entry *e = s->lru_head;

        while (e != NULL) {
            entry *next = e->lru_next;

            entry_free(e);
            e = next;
        }
        free(s->buckets);
        stripes_fini(cache, s);
    }
    free(cache->shards);
    sodium_memzero(cache->key_flag, sizeof(cache->key_flag));
    free(cache);
}

/*
 * Whether "old" must stay rather than be replaced by "e": it is still valid when "e" arrived and
 * comes from a later snapshot (or the same snapshot, signed later). Snapshot versions only grow,
 * so an answer decided before a reload but received after a newer one is the older of the two.
 */
static bool
keeps_newer(const entry *old, const entry *e)
{
    if (old->expires_ms <= e->fetched_ms) {
        return false;
    }
    if (old->valid_version != e->valid_version) {
        return old->valid_version > e->valid_version;
    }
    return old->iat_s > e->iat_s;
}

gk_err
gks_cache_put(gks_cache *cache, const gks_decision *d, const char *ctx, size_t ctx_len,
              uint64_t ctx_hash, int64_t fetched_ms, int64_t iat_s, int64_t exp_s,
              int64_t expires_ms)
{
    size_t key_len = strlen(d->key);
    size_t json_len = d->value_json != NULL ? strlen(d->value_json) : 0;
    size_t str_len = d->kind == GKS_KIND_STRING ? d->str_len : 0;
    entry *e;
    entry *old;
    entry *evicted = NULL;
    char *cursor;
    shard *s;

    e = malloc(sizeof(*e) + key_len + 1 + ctx_len + 1 + json_len + 1 + str_len + 1);
    if (e == NULL) {
        return GK_ENOMEM;
    }
    memset(e, 0, sizeof(*e));
    cursor = e->data;
    e->key = gks_pack_text(&cursor, d->key, key_len);
    e->ctx = gks_pack_text(&cursor, ctx, ctx_len);
    e->value_json = d->value_json != NULL ? gks_pack_text(&cursor, d->value_json, json_len) : NULL;
    e->str = d->kind == GKS_KIND_STRING ? gks_pack_text(&cursor, d->str, str_len) : NULL;
    e->key_len = key_len;
    e->ctx_len = ctx_len;
    e->str_len = str_len;
    e->kind = d->kind;
    e->bool_value = d->bool_value;
    atomic_init(&e->referenced, false);
    e->detail = d->detail;
    e->valid_version = d->detail.snapshot_version;
    e->mask = gks_mask_hold(d->mask);
    e->fetched_ms = fetched_ms;
    e->iat_s = iat_s;
    e->exp_s = exp_s;
    e->expires_ms = expires_ms;
    e->hash = hash_pair(cache, d->key, key_len, ctx_hash);

    s = shard_of(cache, e->hash);
    write_lock(cache, s);
    old = shard_find(s, e->hash, d->key, key_len, ctx, ctx_len);
    if (old != NULL && keeps_newer(old, e)) {
        write_unlock(cache, s);
        entry_free(e);
        return GK_OK;
    }
    if (old != NULL) {
        shard_remove(s, old);
    } else if (s->count >= s->max) {
        /* Evict before inserting, so the new entry is never its own victim. */
        evicted = lru_victim(s);
        shard_remove(s, evicted);
    }
    e->chain = s->buckets[e->hash & s->mask];
    s->buckets[e->hash & s->mask] = e;
    lru_push_front(s, e);
    s->count++;
    write_unlock(cache, s);
    entry_free(old);
    entry_free(evicted);
    return GK_OK;
}

/*
 * Drop the entry for (key, ctx) if it is still there and still unusable at now_ms for
 * min_version (gks_cache_get found it so under its read lock, which it has released).
 */
static void
drop_unusable(gks_cache *cache, shard *s, uint64_t hash, const char *key, size_t key_len,
              const char *ctx, size_t ctx_len, int64_t now_ms, uint64_t min_version)
{
    entry *e;

    write_lock(cache, s);
    e = shard_find(s, hash, key, key_len, ctx, ctx_len);
    if (e != NULL && (now_ms >= e->expires_ms || e->valid_version < min_version)) {
        shard_remove(s, e);
    } else {
        e = NULL;
    }
    write_unlock(cache, s);
    entry_free(e);
}

gks_cache_state
gks_cache_get(gks_cache *cache, const char *key, size_t key_len, const char *ctx, size_t ctx_len,
              uint64_t ctx_hash, int64_t now_ms, uint32_t ttl_ms, uint64_t min_version,
              gks_cache_view *view, char *buf, size_t bufsize, gk_mask **maskp)
{
    uint64_t hash = hash_pair(cache, key, key_len, ctx_hash);
    shard *s = shard_of(cache, hash);
    gks_cache_state state;
    stripe *st;
    entry *e;

    st = read_lock(cache, s);
    e = shard_find(s, hash, key, key_len, ctx, ctx_len);
    if (e == NULL) {
        read_unlock(st);
        return GKS_CACHE_MISS;
    }
    if (now_ms >= e->expires_ms || e->valid_version < min_version) {
        /* Its token has expired, or a newer snapshot may have changed it (and only events raise
         * valid_version, never past the newest seen): it can never be served again, not even
         * as STALE. */
        read_unlock(st);
        drop_unusable(cache, s, hash, key, key_len, ctx, ctx_len, now_ms, min_version);
        return GKS_CACHE_MISS;
    }
    /* Written only when clear: a hot entry's line stays shared between the CPUs reading it. */
    if (!atomic_load_explicit(&e->referenced, memory_order_relaxed)) {
        atomic_store_explicit(&e->referenced, true, memory_order_relaxed);
    }
    state = now_ms - e->fetched_ms < (int64_t) ttl_ms ? GKS_CACHE_FRESH : GKS_CACHE_STALE;
    view->kind = e->kind;
    view->bool_value = e->bool_value;
    view->str_len = e->str_len;
    view->str_fits = false;
    view->fetched_ms = e->fetched_ms;
    view->iat_s = e->iat_s;
    view->exp_s = e->exp_s;
    view->valid_version = e->valid_version;
    view->detail = e->detail;
    if (e->kind == GKS_KIND_STRING && buf != NULL && e->str_len < bufsize) {
        memcpy(buf, e->str, e->str_len + 1);
        view->str_fits = true;
    }
    if (maskp != NULL) {
        *maskp = gks_mask_hold(e->mask);
    }
    read_unlock(st);
    return state;
}

size_t
gks_cache_count(gks_cache *cache)
{
    size_t total = 0;

    for (size_t i = 0; i < cache->nshards; i++) {
        shard *s = &cache->shards[i];
        stripe *st = read_lock(cache, s);

        total += s->count;
        read_unlock(st);
    }
    return total;
}

static int
compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * Drop or confirm the entries of one shard (see gks_cache_invalidate). `sorted` is NULL for
 * "every flag". Dropped entries are freed after the lock is released, as everywhere here.
 */
static size_t
shard_invalidate(const gks_cache *cache, shard *s, uint64_t version, const char *const *sorted,
                 size_t nkeys)
{
    entry *doomed = NULL;
    size_t dropped = 0;

    write_lock(cache, s);
    for (entry *e = s->lru_head, *next; e != NULL; e = next) {
        bool listed = sorted == NULL ||
                      bsearch(&e->key, sorted, nkeys, sizeof(*sorted), compare_keys) != NULL;

        next = e->lru_next;
        if (e->valid_version >= version) {
            continue; /* decided by this snapshot or a later one */
        }
        if (listed) {
            shard_remove(s, e);
            e->chain = doomed;
            doomed = e;
            dropped++;
        } else if (e->valid_version == version - 1) {
            e->valid_version = version;
        }
    }
    write_unlock(cache, s);
    while (doomed != NULL) {
        entry *next = doomed->chain;

        entry_free(doomed);
        doomed = next;
    }
    return dropped;
}

size_t
gks_cache_invalidate(gks_cache *cache, uint64_t version, const char *const *keys, size_t nkeys)
{
    const char **sorted = NULL;
    size_t dropped = 0;

    if (version == 0) {
        return 0; /* no entry is older than snapshot 0 */
    }
    if (nkeys > 0 && keys != NULL) {
        /* One sorted copy, so each entry costs a binary search, not a pass over the list. */
        sorted = malloc(nkeys * sizeof(*sorted));
        if (sorted != NULL) {
            memcpy(sorted, keys, nkeys * sizeof(*sorted));
            qsort(sorted, nkeys, sizeof(*sorted), compare_keys);
        }
    }
    for (size_t i = 0; i < cache->nshards; i++) {
        dropped +=
            shard_invalidate(cache, &cache->shards[i], version, sorted, sorted != NULL ? nkeys : 0);
    }
    free(sorted);
    return dropped;
}

void
gks_cache_clear(gks_cache *cache)
{
    (void) gks_cache_invalidate(cache, UINT64_MAX, NULL, 0);
}
