/*
 * sdk_cache_test.c - the decision cache: hits, TTL and token expiry, the size bound, use from
 * several threads, and invalidation by change events (by flag key, every flag, versions). Times
 * are passed in, so nothing here sleeps.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "cache.h"
#include "context.h"
#include "decision_set.h"
#include "gatekeeper.h"

static const char ctx_a[] = "{\"targetingKey\":\"t-1\"}";
static const char ctx_b[] = "{\"targetingKey\":\"t-2\"}";

static void
setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
}

/* A string decision "new" for `key`, reason SPLIT, snapshot 7. Strings are static. */
static gks_decision
string_decision(const char *key)
{
    gks_decision d;

    memset(&d, 0, sizeof(d));
    d.key = (char *) (uintptr_t) key; /* the cache only reads it */
    d.value_json = (char *) (uintptr_t) "\"new\"";
    d.str = (char *) (uintptr_t) "new";
    d.str_len = 3;
    d.kind = GKS_KIND_STRING;
    gks_detail_clear(&d.detail);
    d.detail.reason = GK_REASON_SPLIT;
    d.detail.snapshot_version = 7;
    gks_copy_str(d.detail.variant, sizeof(d.detail.variant), "new");
    return d;
}

/* gks_cache_put with the context's hash computed as gk_context does it. */
static gk_err
put(gks_cache *c, const gks_decision *d, const char *ctx, size_t ctx_len, int64_t fetched_ms,
    int64_t iat_s, int64_t exp_s, int64_t expires_ms)
{
    return gks_cache_put(c, d, ctx, ctx_len, gks_context_hash_text(ctx, ctx_len), fetched_ms, iat_s,
                         exp_s, expires_ms);
}

static gks_cache_state
get(gks_cache *c, const char *key, const char *ctx, int64_t now_ms, uint32_t ttl_ms,
    gks_cache_view *view, char *buf, size_t bufsize)
{
    return gks_cache_get(c, key, strlen(key), ctx, strlen(ctx),
                         gks_context_hash_text(ctx, strlen(ctx)), now_ms, ttl_ms, 0, view, buf,
                         bufsize, NULL);
}

START_TEST(test_hit_and_miss)
{
    gks_cache *c = NULL;
    gks_decision d = string_decision("orders.stage");
    gks_cache_view view;
    char buf[16];
    char tiny[3];

    ck_assert_int_eq(gks_cache_new(&c, 100), GK_OK);
    ck_assert_int_eq(get(c, "orders.stage", ctx_a, 1000, 500, &view, NULL, 0), GKS_CACHE_MISS);
    ck_assert_int_eq(put(c, &d, ctx_a, strlen(ctx_a), 1000, 1699999700, 1700000000, 100000), GK_OK);
    ck_assert_int_eq(get(c, "orders.stage", ctx_a, 1100, 500, &view, buf, sizeof(buf)),
                     GKS_CACHE_FRESH);
    ck_assert_int_eq(view.kind, GKS_KIND_STRING);
    ck_assert(view.str_fits);
    ck_assert_str_eq(buf, "new");
    ck_assert_int_eq(view.detail.reason, GK_REASON_SPLIT);
    ck_assert_str_eq(view.detail.variant, "new");
    ck_assert_uint_eq(view.detail.snapshot_version, 7);
    ck_assert_int_eq(view.exp_s, 1700000000);
    ck_assert_int_eq(view.fetched_ms, 1000);
    ck_assert_int_eq(get(c, "orders.stage", ctx_a, 1100, 500, &view, tiny, sizeof(tiny)),
                     GKS_CACHE_FRESH);
    ck_assert(!view.str_fits);
    /* Other context, other flag, a prefix of the key: misses. */
    ck_assert_int_eq(get(c, "orders.stage", ctx_b, 1100, 500, &view, NULL, 0), GKS_CACHE_MISS);
    ck_assert_int_eq(get(c, "orders.read_v2", ctx_a, 1100, 500, &view, NULL, 0), GKS_CACHE_MISS);
    ck_assert_int_eq(get(c, "orders", ctx_a, 1100, 500, &view, NULL, 0), GKS_CACHE_MISS);
    ck_assert_uint_eq(gks_cache_count(c), 1);
    gks_cache_free(c);
}
END_TEST

START_TEST(test_replace)
{
    gks_cache *c = NULL;
    gks_decision d = string_decision("f");
    gks_cache_view view;

    ck_assert_int_eq(gks_cache_new(&c, 100), GK_OK);
    ck_assert_int_eq(put(c, &d, ctx_a, strlen(ctx_a), 0, 0, 1, 100000), GK_OK);
    d.kind = GKS_KIND_BOOL;
    d.bool_value = true;
    d.value_json = (char *) (uintptr_t) "true";
    ck_assert_int_eq(put(c, &d, ctx_a, strlen(ctx_a), 10, 0, 1, 100000), GK_OK);
    ck_assert_uint_eq(gks_cache_count(c), 1);
    ck_assert_int_eq(get(c, "f", ctx_a, 20, 500, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(view.kind, GKS_KIND_BOOL);
    ck_assert(view.bool_value);
    ck_assert_int_eq(view.fetched_ms, 10);
    gks_cache_free(c);
}
END_TEST

/*
 * An answer in flight across a reload: the post-reload answer (snapshot 8, the kill switch) is
 * cached first, then the pre-reload answer (snapshot 7) arrives. The newer entry stays.
 */
START_TEST(test_older_snapshot_does_not_replace_newer)
{
    gks_cache *c = NULL;
    gks_decision killed = string_decision("f");
    gks_decision before = string_decision("f");
    gks_cache_view view;

    killed.kind = GKS_KIND_NONE;
    killed.value_json = NULL;
    killed.str = NULL;
    killed.str_len = 0;
    killed.detail.reason = GK_REASON_DISABLED;
    killed.detail.variant[0] = '\0';
    killed.detail.snapshot_version = 8;
    ck_assert_int_eq(gks_cache_new(&c, 100), GK_OK);
    ck_assert_int_eq(put(c, &killed, ctx_a, strlen(ctx_a), 1000, 5000, 5300, 300000), GK_OK);
    /* Older snapshot, even though its token was signed later and arrived later: kept out. */
    ck_assert_int_eq(put(c, &before, ctx_a, strlen(ctx_a), 1010, 5001, 5301, 300010), GK_OK);
    ck_assert_uint_eq(gks_cache_count(c), 1);
    ck_assert_int_eq(get(c, "f", ctx_a, 1020, 500, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(view.detail.reason, GK_REASON_DISABLED);
    ck_assert_uint_eq(view.detail.snapshot_version, 8);
    ck_assert_int_eq(view.fetched_ms, 1000);
    ck_assert_int_eq(view.iat_s, 5000);

    /* Same snapshot, earlier iat: kept out too. */
    before.detail.snapshot_version = 8;
    ck_assert_int_eq(put(c, &before, ctx_a, strlen(ctx_a), 1030, 4999, 5299, 299000), GK_OK);
    ck_assert_int_eq(get(c, "f", ctx_a, 1040, 500, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(view.detail.reason, GK_REASON_DISABLED);

    /* Same snapshot and iat (another answer from the same instant): replaces, fresher TTL. */
    ck_assert_int_eq(put(c, &before, ctx_a, strlen(ctx_a), 1050, 5000, 5300, 300000), GK_OK);
    ck_assert_int_eq(get(c, "f", ctx_a, 1060, 500, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(view.detail.reason, GK_REASON_SPLIT);
    ck_assert_int_eq(view.fetched_ms, 1050);

    /* A newer snapshot replaces. */
    killed.detail.snapshot_version = 9;
    ck_assert_int_eq(put(c, &killed, ctx_a, strlen(ctx_a), 1070, 4000, 5400, 400000), GK_OK);
    ck_assert_int_eq(get(c, "f", ctx_a, 1080, 500, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(view.detail.reason, GK_REASON_DISABLED);
    ck_assert_uint_eq(view.detail.snapshot_version, 9);
    ck_assert_uint_eq(gks_cache_count(c), 1);
    gks_cache_free(c);
}
END_TEST

/* A newer entry whose token has expired is no reason to refuse an older, valid answer. */
START_TEST(test_expired_newer_entry_is_replaced)
{
    gks_cache *c = NULL;
    gks_decision newer = string_decision("f");
    gks_decision older = string_decision("f");
    gks_cache_view view;

    newer.detail.snapshot_version = 8;
    ck_assert_int_eq(gks_cache_new(&c, 100), GK_OK);
    ck_assert_int_eq(put(c, &newer, ctx_a, strlen(ctx_a), 1000, 5000, 5001, 2000), GK_OK);
    ck_assert_int_eq(put(c, &older, ctx_a, strlen(ctx_a), 2000, 5001, 5300, 301000), GK_OK);
    ck_assert_int_eq(get(c, "f", ctx_a, 2010, 500, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_uint_eq(view.detail.snapshot_version, 7);
    ck_assert_int_eq(view.fetched_ms, 2000);
    gks_cache_free(c);
}
END_TEST

START_TEST(test_ttl_expiry_turns_stale)
{
    gks_cache *c = NULL;
    gks_decision d = string_decision("f");
    gks_cache_view view;

    ck_assert_int_eq(gks_cache_new(&c, 100), GK_OK);
    ck_assert_int_eq(put(c, &d, ctx_a, strlen(ctx_a), 1000, 0, 1, 100000), GK_OK);
    ck_assert_int_eq(get(c, "f", ctx_a, 1499, 500, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(get(c, "f", ctx_a, 1500, 500, &view, NULL, 0), GKS_CACHE_STALE);
    ck_assert_int_eq(get(c, "f", ctx_a, 99999, 500, &view, NULL, 0), GKS_CACHE_STALE);
    ck_assert_int_eq(view.detail.reason, GK_REASON_SPLIT); /* the caller relabels it */
    ck_assert_uint_eq(gks_cache_count(c), 1);
    gks_cache_free(c);
}
END_TEST

START_TEST(test_token_expiry_drops_entry)
{
    gks_cache *c = NULL;
    gks_decision d = string_decision("f");
    gks_cache_view view;

    ck_assert_int_eq(gks_cache_new(&c, 100), GK_OK);
    /* A long TTL does not outlive the token. */
    ck_assert_int_eq(put(c, &d, ctx_a, strlen(ctx_a), 1000, 0, 1, 2000), GK_OK);
    ck_assert_int_eq(get(c, "f", ctx_a, 1999, 86400000, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(get(c, "f", ctx_a, 2000, 86400000, &view, NULL, 0), GKS_CACHE_MISS);
    ck_assert_uint_eq(gks_cache_count(c), 0);
    ck_assert_int_eq(get(c, "f", ctx_a, 1500, 86400000, &view, NULL, 0), GKS_CACHE_MISS);
    gks_cache_free(c);
}
END_TEST

START_TEST(test_eviction_bound)
{
    const size_t bounds[] = {8, 300, GKS_CACHE_DEFAULT_MAX};

    for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++) {
        gks_cache *c = NULL;
        gks_decision d = string_decision("f");
        gks_cache_view view;
        char ctx[64];
        size_t n = bounds[b] * 3;

        ck_assert_int_eq(gks_cache_new(&c, bounds[b]), GK_OK);
        for (size_t i = 0; i < n; i++) {
            snprintf(ctx, sizeof(ctx), "{\"targetingKey\":\"t-%zu\"}", i);
            ck_assert_int_eq(put(c, &d, ctx, strlen(ctx), (int64_t) i, 0, 1, 1000000), GK_OK);
            ck_assert_uint_le(gks_cache_count(c), bounds[b]);
        }
        ck_assert_uint_ge(gks_cache_count(c), bounds[b] / 2);
        /* The newest entry survives; the oldest was evicted. */
        ck_assert_int_eq(get(c, "f", ctx, (int64_t) n, 1000000, &view, NULL, 0), GKS_CACHE_FRESH);
        ck_assert_int_eq(
            get(c, "f", "{\"targetingKey\":\"t-0\"}", (int64_t) n, 1000000, &view, NULL, 0),
            GKS_CACHE_MISS);
        gks_cache_free(c);
    }
}
END_TEST

START_TEST(test_lru_keeps_recently_used)
{
    gks_cache *c = NULL;
    gks_decision d = string_decision("f");
    gks_cache_view view;
    char ctx[64];

    ck_assert_int_eq(gks_cache_new(&c, 4), GK_OK); /* one shard of 4 */
    for (int i = 0; i < 4; i++) {
        snprintf(ctx, sizeof(ctx), "c%d", i);
        ck_assert_int_eq(put(c, &d, ctx, strlen(ctx), 0, 0, 1, 1000000), GK_OK);
    }
    ck_assert_int_eq(get(c, "f", "c0", 1, 1000, &view, NULL, 0), GKS_CACHE_FRESH); /* touch */
    ck_assert_int_eq(put(c, &d, "c4", 2, 0, 0, 1, 1000000), GK_OK);
    ck_assert_int_eq(get(c, "f", "c0", 1, 1000, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(get(c, "f", "c1", 1, 1000, &view, NULL, 0), GKS_CACHE_MISS);
    gks_cache_free(c);
}
END_TEST

/*
 * The approximate LRU ("second chance"): every entry hit since it was put in is spared once, so
 * with all of them hit the oldest is evicted after all, the bound holds, and the entry just put
 * in is never its own victim.
 */
START_TEST(test_eviction_spares_referenced_entries)
{
    gks_cache *c = NULL;
    gks_decision d = string_decision("f");
    gks_cache_view view;
    char ctx[64];

    ck_assert_int_eq(gks_cache_new(&c, 4), GK_OK); /* one shard of 4 */
    for (int i = 0; i < 4; i++) {
        snprintf(ctx, sizeof(ctx), "c%d", i);
        ck_assert_int_eq(put(c, &d, ctx, strlen(ctx), 0, 0, 1, 1000000), GK_OK);
    }
    /* Two hit, two not: the unreferenced ones go first, oldest first. */
    ck_assert_int_eq(get(c, "f", "c0", 1, 1000, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(get(c, "f", "c2", 1, 1000, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(put(c, &d, "c4", 2, 0, 0, 1, 1000000), GK_OK);
    ck_assert_int_eq(put(c, &d, "c5", 2, 0, 0, 1, 1000000), GK_OK);
    ck_assert_int_eq(get(c, "f", "c1", 1, 1000, &view, NULL, 0), GKS_CACHE_MISS);
    ck_assert_int_eq(get(c, "f", "c3", 1, 1000, &view, NULL, 0), GKS_CACHE_MISS);
    ck_assert_uint_eq(gks_cache_count(c), 4);

    /* Every entry hit: one pass clears the bits, then the least recently spared goes. */
    ck_assert_int_eq(get(c, "f", "c0", 1, 1000, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(get(c, "f", "c2", 1, 1000, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(get(c, "f", "c4", 1, 1000, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(get(c, "f", "c5", 1, 1000, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(put(c, &d, "c6", 2, 0, 0, 1, 1000000), GK_OK);
    ck_assert_uint_eq(gks_cache_count(c), 4);
    ck_assert_int_eq(get(c, "f", "c6", 1, 1000, &view, NULL, 0), GKS_CACHE_FRESH);
    ck_assert_int_eq(get(c, "f", "c0", 1, 1000, &view, NULL, 0), GKS_CACHE_MISS);
    gks_cache_free(c);
}
END_TEST

#define THREADS    4
#define ITERATIONS 20000

static void *
hammer(void *arg)
{
    gks_cache *c = arg;
    gks_decision d = string_decision("f");
    long bad = 0;

    for (int i = 0; i < ITERATIONS; i++) {
        char ctx[32];
        char buf[8];
        gks_cache_view view;
        gks_cache_state st;

        snprintf(ctx, sizeof(ctx), "ctx-%d", i % 500);
        if (i % 3 == 0 && put(c, &d, ctx, strlen(ctx), 0, 0, 1, 1000000) != GK_OK) {
            bad++;
        }
        st = gks_cache_get(c, "f", 1, ctx, strlen(ctx), gks_context_hash_text(ctx, strlen(ctx)), 1,
                           1000, 0, &view, buf, sizeof(buf), NULL);
        if (st == GKS_CACHE_FRESH && (strcmp(buf, "new") != 0 || view.kind != GKS_KIND_STRING)) {
            bad++;
        }
    }
    return (void *) bad;
}

START_TEST(test_concurrent_use)
{
    gks_cache *c = NULL;
    pthread_t threads[THREADS];

    ck_assert_int_eq(gks_cache_new(&c, 256), GK_OK); /* small: evictions race with hits */
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_create(&threads[i], NULL, hammer, c), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        void *bad = NULL;

        ck_assert_int_eq(pthread_join(threads[i], &bad), 0);
        ck_assert_ptr_null(bad);
    }
    ck_assert_uint_le(gks_cache_count(c), 256);
    gks_cache_free(c);
}
END_TEST

/* get() with the newest snapshot version seen. */
static gks_cache_state
get_at(gks_cache *c, const char *key, const char *ctx, uint64_t min_version, gks_cache_view *view)
{
    return gks_cache_get(c, key, strlen(key), ctx, strlen(ctx),
                         gks_context_hash_text(ctx, strlen(ctx)), 10, 1000, min_version, view, NULL,
                         0, NULL);
}

/*
 * A change event drops the listed flag under every context and leaves the others current at the
 * new version; a lookup at a newer version misses them, and drops them.
 */
START_TEST(test_invalidate_by_flag_key)
{
    gks_cache *c = NULL;
    gks_decision a = string_decision("orders.read_v2");
    gks_decision b = string_decision("orders.stage");
    const char *const changed[] = {"orders.read_v2", "not.cached"};
    gks_cache_view view;

    ck_assert_int_eq(gks_cache_new(&c, 1000), GK_OK);
    ck_assert_int_eq(put(c, &a, ctx_a, strlen(ctx_a), 0, 0, 1, 100000), GK_OK);
    ck_assert_int_eq(put(c, &a, ctx_b, strlen(ctx_b), 0, 0, 1, 100000), GK_OK);
    ck_assert_int_eq(put(c, &b, ctx_a, strlen(ctx_a), 0, 0, 1, 100000), GK_OK);
    ck_assert_int_eq(get_at(c, "orders.stage", ctx_a, 7, &view), GKS_CACHE_FRESH);
    ck_assert_uint_eq(view.valid_version, 7);

    ck_assert_uint_eq(gks_cache_invalidate(c, 8, changed, 2), 2);
    ck_assert_uint_eq(gks_cache_count(c), 1);
    ck_assert_int_eq(get_at(c, "orders.read_v2", ctx_a, 8, &view), GKS_CACHE_MISS);
    ck_assert_int_eq(get_at(c, "orders.read_v2", ctx_b, 8, &view), GKS_CACHE_MISS);
    ck_assert_int_eq(get_at(c, "orders.stage", ctx_a, 8, &view), GKS_CACHE_FRESH);
    ck_assert_uint_eq(view.valid_version, 8);
    ck_assert_uint_eq(view.detail.snapshot_version, 7); /* as signed */

    /* The same event again, and an older one: nothing changes. */
    ck_assert_uint_eq(gks_cache_invalidate(c, 8, changed, 2), 0);
    ck_assert_uint_eq(gks_cache_invalidate(c, 5, NULL, 0), 0);
    ck_assert_int_eq(get_at(c, "orders.stage", ctx_a, 8, &view), GKS_CACHE_FRESH);

    /* Event 9 was missed: event 10 cannot vouch for orders.stage, lookups at 10 drop it. */
    ck_assert_uint_eq(gks_cache_invalidate(c, 10, changed, 1), 0);
    ck_assert_int_eq(get_at(c, "orders.stage", ctx_a, 8, &view), GKS_CACHE_FRESH);
    ck_assert_uint_eq(view.valid_version, 8);
    ck_assert_int_eq(get_at(c, "orders.stage", ctx_a, 10, &view), GKS_CACHE_MISS);
    ck_assert_uint_eq(gks_cache_count(c), 0);
    gks_cache_free(c);
}
END_TEST

/* An empty list drops every entry older than the event, and only those; clear drops all. */
START_TEST(test_invalidate_all_and_clear)
{
    gks_cache *c = NULL;
    gks_decision a = string_decision("orders.read_v2");
    gks_decision b = string_decision("orders.stage");
    gks_cache_view view;

    ck_assert_int_eq(gks_cache_new(&c, 1000), GK_OK);
    ck_assert_int_eq(put(c, &a, ctx_a, strlen(ctx_a), 0, 0, 1, 100000), GK_OK);
    b.detail.snapshot_version = 9; /* already from the changed snapshot */
    ck_assert_int_eq(put(c, &b, ctx_a, strlen(ctx_a), 0, 0, 1, 100000), GK_OK);
    ck_assert_uint_eq(gks_cache_invalidate(c, 9, NULL, 0), 1);
    ck_assert_int_eq(get_at(c, "orders.stage", ctx_a, 9, &view), GKS_CACHE_FRESH);
    ck_assert_int_eq(get_at(c, "orders.read_v2", ctx_a, 0, &view), GKS_CACHE_MISS);

    ck_assert_int_eq(put(c, &a, ctx_b, strlen(ctx_b), 0, 0, 1, 100000), GK_OK);
    ck_assert_uint_eq(gks_cache_count(c), 2);
    gks_cache_clear(c);
    ck_assert_uint_eq(gks_cache_count(c), 0);
    ck_assert_int_eq(get_at(c, "orders.stage", ctx_a, 0, &view), GKS_CACHE_MISS);
    gks_cache_free(c);
}
END_TEST

/* An entry confirmed current by an event is not replaced by an answer from the older snapshot. */
START_TEST(test_confirmed_entry_beats_older_answer)
{
    gks_cache *c = NULL;
    gks_decision b = string_decision("orders.stage");
    const char *const changed[] = {"orders.read_v2"};
    gks_cache_view view;

    ck_assert_int_eq(gks_cache_new(&c, 1000), GK_OK);
    ck_assert_int_eq(put(c, &b, ctx_a, strlen(ctx_a), 0, 100, 400, 100000), GK_OK);
    ck_assert_uint_eq(gks_cache_invalidate(c, 8, changed, 1), 0);
    /* Signed later, but by snapshot 7: the entry current at 8 stays. */
    ck_assert_int_eq(put(c, &b, ctx_a, strlen(ctx_a), 5, 101, 401, 100005), GK_OK);
    ck_assert_int_eq(get_at(c, "orders.stage", ctx_a, 8, &view), GKS_CACHE_FRESH);
    ck_assert_int_eq(view.iat_s, 100);
    gks_cache_free(c);
}
END_TEST

/* Lookups and inserts on this thread while another applies events: nothing lost or torn. */
#define INVALIDATE_ROUNDS 200

static void *
invalidate_loop(void *arg)
{
    gks_cache *c = arg;
    const char *const changed[] = {"f1"};

    for (uint64_t v = 8; v < 8 + INVALIDATE_ROUNDS; v++) {
        (void) gks_cache_invalidate(c, v, changed, 1);
    }
    return NULL;
}

START_TEST(test_invalidate_concurrent_with_lookups)
{
    gks_cache *c = NULL;
    gks_decision d1 = string_decision("f1");
    gks_decision d2 = string_decision("f2");
    pthread_t t;
    gks_cache_view view;
    char ctx[32];

    ck_assert_int_eq(gks_cache_new(&c, 4096), GK_OK);
    for (int i = 0; i < 500; i++) {
        snprintf(ctx, sizeof(ctx), "{\"targetingKey\":\"t-%d\"}", i);
        ck_assert_int_eq(put(c, &d2, ctx, strlen(ctx), 0, 0, 1, 1000000), GK_OK);
    }
    ck_assert_int_eq(pthread_create(&t, NULL, invalidate_loop, c), 0);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 500; i++) {
            snprintf(ctx, sizeof(ctx), "{\"targetingKey\":\"t-%d\"}", i);
            (void) put(c, &d1, ctx, strlen(ctx), 0, 0, 1, 1000000);
            (void) get(c, "f1", ctx, 1, 1000, &view, NULL, 0);
            ck_assert_int_eq(get(c, "f2", ctx, 1, 1000, &view, NULL, 0), GKS_CACHE_FRESH);
        }
    }
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    /* Every f2 entry was confirmed by each event in turn. */
    snprintf(ctx, sizeof(ctx), "{\"targetingKey\":\"t-%d\"}", 0);
    ck_assert_int_eq(get_at(c, "f2", ctx, 7 + INVALIDATE_ROUNDS, &view), GKS_CACHE_FRESH);
    gks_cache_free(c);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("sdk_cache");
    TCase *tc = tcase_create("cache");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hit_and_miss);
    tcase_add_test(tc, test_replace);
    tcase_add_test(tc, test_older_snapshot_does_not_replace_newer);
    tcase_add_test(tc, test_expired_newer_entry_is_replaced);
    tcase_add_test(tc, test_ttl_expiry_turns_stale);
    tcase_add_test(tc, test_token_expiry_drops_entry);
    tcase_add_test(tc, test_eviction_bound);
    tcase_add_test(tc, test_lru_keeps_recently_used);
    tcase_add_test(tc, test_eviction_spares_referenced_entries);
    tcase_add_test(tc, test_concurrent_use);
    tcase_add_test(tc, test_invalidate_by_flag_key);
    tcase_add_test(tc, test_invalidate_all_and_clear);
    tcase_add_test(tc, test_confirmed_entry_beats_older_answer);
    tcase_add_test(tc, test_invalidate_concurrent_with_lookups);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
