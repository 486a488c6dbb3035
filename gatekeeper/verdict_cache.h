/*
 * verdict_cache.h - on_evaluate outcomes kept by a policy vm for the calls that agree on every
 * input the policies declared (policies/README.md, "Declaring what on_evaluate reads").
 *
 * Why: the shipped policies answer most decisions from their own gk.state_memo tables, yet
 * getting there (the context's Lua table, a protected call per policy, each under the instruction
 * hook) costs about 15k instructions a decision, and in a loaded daemon, whose caches the clients
 * keep cold, several µs more. When every policy defining on_evaluate declares the context fields
 * it reads, the combined outcome is a function of the state version, the flag key, the proposal
 * and those fields, and the vm keeps it here: a hit costs a key and a hash (under 1k).
 *
 * Shape: a direct-mapped table of GKD_VERDICT_CACHE_SLOTS slots. A key's FNV-1a hash (64-bit,
 * Fowler/Noll/Vo, http://www.isthe.com/chongo/tech/comp/fnv/) picks its slot and a new outcome
 * replaces the slot's, so the memory is fixed (about 80 KiB, touched as slots fill) whatever keys
 * callers send: a caller inventing new service names only causes misses. A key longer than
 * GKD_VERDICT_CACHE_KEY_MAX bytes is not kept. gkd_verdict_cache_clear forgets everything at once
 * (a generation count), for a new state version.
 *
 * Keys are opaque bytes (policy.c builds them); values are a gkd_policy_result's outcome, variant,
 * deciding policy and mask list. Errors are never kept (a budget or memory error may not recur).
 *
 * THREAD SAFETY: none: a vm's cache is used by the thread holding the vm. The mask lists handed
 * out are shared, read-only json_t (jansson's reference counts are atomic).
 */
#ifndef GKD_VERDICT_CACHE_H
#define GKD_VERDICT_CACHE_H

#include <stddef.h>

#include "gatekeeper.h"
#include "policy.h"

/* Slots of one cache, and the longest key kept (bytes). */
#define GKD_VERDICT_CACHE_SLOTS   256u
#define GKD_VERDICT_CACHE_KEY_MAX 160u

typedef struct gkd_verdict_cache gkd_verdict_cache;

/* gkd_verdict_cache_new - an empty cache. Returns GK_OK or GK_ENOMEM (*cachep NULL). */
gk_err gkd_verdict_cache_new(gkd_verdict_cache **cachep);

/* gkd_verdict_cache_free - release the cache and its references on mask lists (NULL ignored). */
void gkd_verdict_cache_free(gkd_verdict_cache *cache);

/* gkd_verdict_cache_clear - forget every entry, in O(1); mask lists are released as slots are
 * reused or the cache freed. */
void gkd_verdict_cache_clear(gkd_verdict_cache *cache);

/*
 * gkd_verdict_cache_get - the outcome kept for key[0..len), if any.
 * out  on a hit: outcome, variant and policy copied, mask a new reference (or NULL), trace NULL,
 *      error empty; untouched on a miss. The caller releases it with gkd_policy_result_fini.
 * Returns 1 on a hit, 0 on a miss (or len 0 or over GKD_VERDICT_CACHE_KEY_MAX).
 */
int gkd_verdict_cache_get(const gkd_verdict_cache *cache, const void *key, size_t len,
                          gkd_policy_result *out);

/*
 * gkd_verdict_cache_put - keep r's outcome, variant, policy and mask (a reference is taken) for
 * key[0..len), replacing whatever the key's slot held. An error outcome, len 0 and a key over
 * GKD_VERDICT_CACHE_KEY_MAX are not kept.
 */
void gkd_verdict_cache_put(gkd_verdict_cache *cache, const void *key, size_t len,
                           const gkd_policy_result *r);

#endif
