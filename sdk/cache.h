/*
 * cache.h - the SDK's decision cache: verified decisions keyed by (flag key, canonical context).
 *
 * Each entry keeps the decision (detail, value as compact JSON text and decoded bool/string, a
 * reference to its mask list, so that CACHED and STALE answers keep their mask), the
 * monotonic time it was fetched, the token's exp (wall-clock s) and the same instant on the
 * monotonic clock, so a lookup needs one clock read by the caller and no allocation. The table is
 * bounded: a full shard evicts an entry not used lately, by an approximate LRU ("second chance":
 * the least recently inserted entry not hit since it was inserted or last spared; cache.c); an
 * entry whose token has expired is dropped when it is met.
 *
 * Freshness: each entry also keeps the snapshot version it is known to be current at, its
 * "valid_version": the token's snapshotVersion when it is put, raised by change events that do not
 * name its flag (gks_cache_invalidate). A lookup names the newest snapshot version the client has
 * seen; an entry valid only at an older one is dropped, so a change the client has heard of but
 * cannot account for (a lost event, a token from a newer snapshot) never leaves an old decision
 * in use.
 *
 * Keys are hashed with SipHash-2-4 (libsodium crypto_shorthash): the flag key under a random key
 * per cache, the context text under the process's random key, once per gk_context (ctx_hash, from
 * gks_context_hash or gks_context_hash_text), so contexts chosen by outsiders cannot be made to
 * collide and a lookup hashes only the flag key.
 *
 * THREAD SAFETY: every function but gks_cache_free may be called concurrently; the table is split
 * into shards, each behind a lock striped per CPU: a lookup read-locks its CPU's stripe and writes
 * nothing shared (at most one bit per entry, once), so lookups on several threads do not slow
 * each other down; an insert, a removal or one shard's part of an invalidation write-locks every
 * stripe of that shard.
 */
#ifndef GKS_CACHE_H
#define GKS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decision_set.h"
#include "gatekeeper.h"

/* Default bound on the number of entries of a client's cache. */
#define GKS_CACHE_DEFAULT_MAX 10000u

typedef struct gks_cache gks_cache;

/* What a lookup found. */
typedef enum gks_cache_state {
    GKS_CACHE_MISS = 0, /* no entry, or its token has expired or it is outdated (dropped) */
    GKS_CACHE_FRESH,    /* younger than the TTL, token valid */
    GKS_CACHE_STALE,    /* older than the TTL, token still valid: last known good */
} gks_cache_state;

/*
 * gks_cache_view - a lookup's copy of an entry. `detail` holds the decision as signed (reason,
 * error code, variant, rule id, snapshot version, error message).
 */
typedef struct gks_cache_view {
    gks_kind kind;
    bool bool_value;
    size_t str_len;     /* length of the string value (kind STRING) */
    bool str_fits;      /* it was copied whole into the caller's buffer */
    int64_t fetched_ms; /* monotonic */
    int64_t iat_s;      /* token iat, wall clock */
    int64_t exp_s;      /* token exp, wall clock */
    uint64_t valid_version; /* snapshot version the entry is known to be current at */
    gk_detail detail;
} gks_cache_view;

/*
 * gks_cache_new - an empty cache of at most max_entries (0 means GKS_CACHE_DEFAULT_MAX).
 * Returns GK_OK, GK_ENOMEM. Call after sodium_init() (it draws the hash key).
 */
gk_err gks_cache_new(gks_cache **cachep, size_t max_entries);

/* gks_cache_free - free the cache and every entry (NULL ignored); nothing else may be running. */
void gks_cache_free(gks_cache *cache);

/*
 * gks_cache_put - insert the entry for (d->key, ctx), or replace the one there unless that one
 * is newer. The entry takes a reference to d->mask (NULL: the empty mask).
 * ctx, ctx_len  canonical context text (copied).
 * ctx_hash      gks_context_hash_text(ctx, ctx_len) (context.h), computed once per context.
 * fetched_ms    monotonic time the token arrived.
 * iat_s         token iat (wall-clock s).
 * exp_s         token exp (wall-clock s); expires_ms the same instant on the monotonic clock.
 * The entry's valid_version starts at d->detail.snapshot_version.
 * Newer means current at a later snapshot: a higher valid_version, or the same and a later iat_s. An unexpired entry that is newer than `d` is kept (and `d` dropped), so an
 * answer that was in flight across a reload (a kill switch, say) cannot put the decision it
 * replaced back into the cache for a whole TTL. An entry whose token has expired by fetched_ms is
 * always replaced.
 * Returns GK_OK (also when the newer entry was kept), GK_ENOMEM (the cache is unchanged).
 */
gk_err gks_cache_put(gks_cache *cache, const gks_decision *d, const char *ctx, size_t ctx_len,
                     uint64_t ctx_hash, int64_t fetched_ms, int64_t iat_s, int64_t exp_s,
                     int64_t expires_ms);

/*
 * gks_cache_get - look up (key, ctx) at monotonic time now_ms with a TTL of ttl_ms.
 * ctx_hash     the context text's hash, as for gks_cache_put.
 * min_version  the newest snapshot version the caller has seen: an entry whose valid_version is
 *              lower is outdated, dropped and reported as a MISS (0 accepts every entry).
 * view       out when the result is not MISS; not NULL.
 * buf, size  optional (NULL, 0): receives a string value, NUL-terminated, when it fits.
 * maskp      optional (NULL): when the result is not MISS, one reference to the entry's mask list
 *            (the empty mask when it has none); release it with gk_mask_free().
 * Allocates nothing; holds one read lock (its CPU's stripe of one shard) for the copy, and the
 * shard's write lock only to drop an expired or outdated entry.
 */
gks_cache_state gks_cache_get(gks_cache *cache, const char *key, size_t key_len, const char *ctx,
                              size_t ctx_len, uint64_t ctx_hash, int64_t now_ms, uint32_t ttl_ms,
                              uint64_t min_version, gks_cache_view *view, char *buf, size_t bufsize,
                              gk_mask **maskp);

/*
 * gks_cache_invalidate - apply a change event: snapshot `version` changed flags `keys`.
 * keys, nkeys  the changed flag keys (NUL-terminated, borrowed for the call); nkeys 0 means
 *              every flag.
 * Entries of a listed flag (of every flag when nkeys is 0) whose valid_version is below `version`
 * are dropped; entries of the other flags that were current at version - 1 are current at
 * `version` too (valid_version raised), since the event says what changed between the two.
 * Entries current only at an older version are left as they are (a lookup with min_version >=
 * version drops them): the client missed an event, and cannot tell what it said.
 * Each shard is locked in turn for its part; lookups and inserts on other shards go on meanwhile.
 * Allocates one array of nkeys pointers; if that fails, every entry older than `version` is
 * dropped (more than needed, never less).
 * Returns the number of entries dropped.
 */
size_t gks_cache_invalidate(gks_cache *cache, uint64_t version, const char *const *keys,
                            size_t nkeys);

/* gks_cache_clear - drop every entry; safe against concurrent lookups and inserts. */
void gks_cache_clear(gks_cache *cache);

/* gks_cache_count - number of entries (a snapshot; others may be changing it). */
size_t gks_cache_count(gks_cache *cache);

#endif
