/*
 * client.c - gk_client: the evaluation flow over the transport (transport.c), and the answers it gives.
 *
 * Flow of one typed evaluation ("eval_one"):
 *   1. cache on and an entry younger than the TTL whose token is unexpired -> CACHED;
 *   2. unless a recent fetch failed (back-off), ask the gatekeeper for that one flag, verify the
 *      token, refresh the cache with every decision in it, answer with the token's reason;
 *   3. gatekeeper unreachable or silent -> the last known good entry (token unexpired) -> STALE;
 *   4. otherwise the caller's fallback, reason ERROR, error code GENERAL (PROVIDER_NOT_READY when
 *      no token was ever verified) and a message saying what to check.
 * gk_client_eval_mask takes the same steps and answers with the decision's mask list; where a
 * typed evaluation would answer ERROR it answers with a mask that masks every field.
 * A token that fails verification, an error reply or a malformed reply is answered with the
 * fallback and its own error code, and never cached. Every request carries a fresh random nonce
 * that the token must echo (token.h says why), so a replayed token is one that fails.
 *
 * Transport: one nng REQ socket dialled (non-blocking, so nng reconnects in the background) to
 * every endpoint; nng spreads requests over the connected pipes and fails over. Each request
 * goes through gks_transact (transport.h: its own nng_ctx and nng_aio), so concurrent
 * evaluations never wait on each other's replies, and one deadline of timeout_ms covers the
 * send and the receive.
 *
 * Back-off: after a failed fetch, evaluations skip the gatekeeper for min(1 s, 20 x timeout) and
 * go straight to step 3, so a dead gatekeeper costs one timeout per back-off period, not one
 * per call.
 *
 * Freshness: "newest_version" is the newest snapshot version the client has seen, in a change
 * event (events.c) or a verified token; it only moves up (an atomic max). A token from an older
 * snapshot is refused like an unreachable gatekeeper ("FETCH_OUTDATED": not used, not cached;
 * the last known good decision if that is not older too, else the fallback), and every cache
 * lookup passes it as the oldest snapshot an entry may be current at. A change event first raises
 * it and then drops the listed flags' entries (cache.h says how the others stay current), so a
 * lookup between the two steps misses rather than serves a changed flag. An outdated answer does
 * not start the back-off: with several endpoints it comes from a replica lagging behind, and the
 * next request may well reach a current one; it cost a round trip, not a timeout.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <sodium.h>

#include "b64url.h"
#include "cache.h"
#include "client.h"
#include "clock.h"
#include "context.h"
#include "decision_set.h"
#include "events.h"
#include "gatekeeper.h"
#include "jwk.h"
#include "jws.h"
#include "mask.h"
#include "msg.h"
#include "nng_err.h"
#include "nonce.h"
#include "options.h"
#include "client_session.h"
#include "telemetry.h"
#include "token.h"
#include "transport.h"
#include "vocab.h"

/* Longest back-off after a failed fetch, in ms; shorter when 20 timeouts are shorter. */
#define BACKOFF_MAX_MS   1000
#define BACKOFF_TIMEOUTS 20
/* Endpoint text kept for error messages, in bytes. */
#define ENDPOINT_TEXT_BYTES 96

struct gk_client {
    nng_socket sock;
    gkp_jwks *keys;
    gks_cache *cache;
    uint32_t timeout_ms;
    uint32_t ttl_ms;
    uint32_t backoff_ms;
    bool cache_disabled;
    atomic_llong retry_after_ms;        /* monotonic ms before which fetches are skipped; 0: none */
    atomic_bool ready;                  /* a token has been verified at least once */
    _Atomic uint64_t newest_version;    /* newest snapshot version seen (events, tokens) */
    gks_events *events;                 /* change-event subscriber; NULL when turned off */
    gks_session *session;               /* the decision session (session.h) */
    gks_nonce *nonces;                  /* the requests' nonces (nonce.h) */
    gk_change_fn change_fn;             /* the caller's handler of change events, or NULL */
    void *change_user;
    gks_telemetry *telemetry;           /* migration telemetry; NULL when turned off */
    uint32_t check_ratio;               /* gk_migration_read's default comparison sampling */
    _Atomic uint64_t checks_eligible;   /* reads that could have been compared (migrate.c) */
    char endpoint[ENDPOINT_TEXT_BYTES]; /* first endpoint, for messages ("+N more") */
};

/* The outcome of asking the gatekeeper. */
typedef enum fetch_status {
    FETCH_OK,          /* *setp holds the verified decisions (already cached) */
    FETCH_UNREACHABLE, /* no reply in time: try the last known good decision */
    FETCH_REFUSED,     /* a reply that gives no usable decision: `why` says which */
    FETCH_OUTDATED,    /* a verified token from a snapshot older than one seen: not used */
} fetch_status;

/* A decision's value as the typed evaluators see it. */
typedef struct answer {
    gks_kind kind;
    bool bool_value;
    bool str_fits; /* a string value was copied whole into the caller's buffer */
} answer;

static void set_error(gk_detail *d, gk_error_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_error(gk_detail *d, gk_error_code code, const char *fmt, ...)
{
    va_list ap;

    gks_detail_clear(d);
    d->reason = GK_REASON_ERROR;
    d->error_code = code;
    va_start(ap, fmt);
    vsnprintf(d->error_message, sizeof(d->error_message), fmt, ap);
    va_end(ap);
}

/* ---- freshness --------------------------------------------------------------------------- */

/*
 * Raise newest_version to `version` unless it is already higher. Returns the value it had, so a
 * caller can tell whether `version` is at least as new as everything seen before it.
 */
static uint64_t
raise_newest(gk_client *c, uint64_t version)
{
    uint64_t seen = atomic_load(&c->newest_version);

    while (seen < version && !atomic_compare_exchange_weak(&c->newest_version, &seen, version)) {
        /* `seen` now holds the value another thread stored; try again while still lower */
    }
    return seen;
}

/*
 * A change event (events.c, on an nng task thread): raise the version, drop entries, then tell
 * the caller's handler.
 */
static void
on_change(void *arg, const gks_change *ch)
{
    gk_client *c = arg;

    (void) raise_newest(c, ch->version);
    (void) gks_cache_invalidate(c->cache, ch->version, ch->flags, ch->nflags);
    if (c->change_fn != NULL) {
        gk_change_event event = {
            .version = ch->version,
            .committed_at_us = ch->committed_at_us,
            .flags = ch->flags,
            .nflags = ch->nflags,
        };
        c->change_fn(&event, c->change_user);
    }
}

void
gks_client_sessions(const gk_client *client, gks_session_counts *out)
{
    gks_session_counts_get(client->session, out);
}

bool
gks_client_check_due(gk_client *client, uint32_t ratio)
{
    uint64_t n = atomic_fetch_add(&client->checks_eligible, 1);

    if (ratio == 0) {
        ratio = client->check_ratio;
    }
    return n % ratio == 0;
}

struct gks_telemetry *
gks_client_telemetry(gk_client *client)
{
    return client->telemetry;
}

void
gks_client_freshness(const gk_client *client, gks_freshness *out)
{
    out->newest_version = atomic_load(&client->newest_version);
    out->subscribed = client->events != NULL;
    gks_events_get_counts(client->events, &out->events);
}

/* ---- open / close ------------------------------------------------------------------------ */

gk_err
gk_client_open(gk_client **clientp, const gk_options *opts, gk_diag *diag)
{
    static const char *const default_endpoints[] = {GKS_DEFAULT_ENDPOINT};
    const char *const *endpoints;
    size_t nendpoints;
    gk_client *c;
    gk_err rv;
    int nrv;

    if (clientp == NULL || opts == NULL) {
        return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "gk_client_open: NULL argument");
    }
    *clientp = NULL;
    if (opts->jwks_file == NULL) {
        return gkp_diag_set(diag, GK_EINVAL, NULL, 0,
                            "no trusted JWKS file: call gk_options_set_jwks_file()");
    }
    if (sodium_init() < 0) {
        return gkp_diag_set(diag, GK_EIO, NULL, 0, "libsodium could not be initialised");
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return gkp_diag_set(diag, GK_ENOMEM, NULL, 0, "out of memory");
    }
    c->timeout_ms = opts->timeout_ms;
    c->ttl_ms = opts->cache_ttl_ms;
    c->cache_disabled = opts->cache_disabled;
    c->backoff_ms = (uint32_t) BACKOFF_TIMEOUTS * opts->timeout_ms;
    if (c->backoff_ms > BACKOFF_MAX_MS || c->backoff_ms < opts->timeout_ms) {
        c->backoff_ms = BACKOFF_MAX_MS;
    }
    atomic_init(&c->retry_after_ms, 0);
    atomic_init(&c->ready, false);
    atomic_init(&c->newest_version, 0);
    atomic_init(&c->checks_eligible, 0);
    c->check_ratio = opts->check_ratio > 0 ? opts->check_ratio : 1;
    c->change_fn = opts->change_fn;
    c->change_user = opts->change_user;

    rv = gkp_jwks_load_file(&c->keys, opts->jwks_file, diag);
    if (rv != GK_OK) {
        free(c);
        return rv;
    }
    rv = gks_cache_new(&c->cache, GKS_CACHE_DEFAULT_MAX);
    if (rv != GK_OK) {
        gkp_diag_set(diag, rv, NULL, 0, "out of memory");
        goto fail_keys;
    }
    rv = gks_session_new(&c->session);
    if (rv == GK_OK) {
        rv = gks_nonce_new(&c->nonces);
    }
    if (rv != GK_OK) {
        gkp_diag_set(diag, rv, NULL, 0, "out of memory");
        goto fail_cache;
    }

    nrv = gks_transport_open(&c->sock);
    if (nrv != 0) {
        rv = gkp_diag_set(diag, gks_nng_err(nrv), NULL, 0, "cannot open an nng REQ socket: %s",
                          nng_strerror(nrv));
        goto fail_cache;
    }
    endpoints = opts->nendpoints > 0 ? (const char *const *) opts->endpoints : default_endpoints;
    nendpoints = opts->nendpoints > 0 ? opts->nendpoints : 1;
    for (size_t i = 0; i < nendpoints; i++) {
        /* Non-blocking: a gatekeeper that is down now is dialled again in the background. */
        nrv = nng_dial(c->sock, endpoints[i], NULL, NNG_FLAG_NONBLOCK);
        if (nrv != 0) {
            rv = gkp_diag_set(diag, gks_nng_err(nrv), endpoints[i], 0,
                              "cannot dial endpoint \"%s\": %s (expected e.g. "
                              "tcp://127.0.0.1:7400 or ipc:///path)",
                              endpoints[i], nng_strerror(nrv));
            goto fail_sock;
        }
    }
    if (!opts->events_off) {
        /* After the cache exists: the first event may arrive before this function returns. */
        rv = gks_events_open(&c->events,
                             opts->events_endpoint != NULL ? opts->events_endpoint
                                                           : GKS_DEFAULT_EVENTS,
                             on_change, c, diag);
        if (rv != GK_OK) {
            goto fail_sock;
        }
    }
    if (!opts->telemetry_off) {
        rv = gks_telemetry_open(&c->telemetry,
                                opts->telemetry_endpoint != NULL ? opts->telemetry_endpoint
                                                                 : GKS_DEFAULT_TELEMETRY,
                                opts->service[0] != '\0' ? opts->service : GKS_DEFAULT_SERVICE,
                                diag);
        if (rv != GK_OK) {
            goto fail_events;
        }
    }
    if (nendpoints > 1) {
        snprintf(c->endpoint, sizeof(c->endpoint), "%.40s (+%zu more)", endpoints[0],
                 nendpoints - 1);
    } else {
        snprintf(c->endpoint, sizeof(c->endpoint), "%.60s", endpoints[0]);
    }
    *clientp = c;
    return GK_OK;

fail_events:
    gks_events_close(c->events);
fail_sock:
    nng_close(c->sock);
fail_cache:
    gks_nonce_free(c->nonces);
    gks_session_free(c->session);
    gks_cache_free(c->cache);
fail_keys:
    gkp_jwks_free(c->keys);
    free(c);
    return rv;
}

void
gk_client_close(gk_client *client)
{
    if (client == NULL) {
        return;
    }
    /* The subscriber first: its callback uses the cache, and no callback runs after this. */
    gks_events_close(client->events);
    /* Then the last telemetry batch (bounded wait): nothing records once close has begun. */
    gks_telemetry_close(client->telemetry);
    nng_close(client->sock);
    gks_nonce_free(client->nonces);
    gks_session_free(client->session);
    gks_cache_free(client->cache);
    gkp_jwks_free(client->keys);
    free(client);
}

/* ---- transport --------------------------------------------------------------------------- */

static void
start_backoff(gk_client *c)
{
    atomic_store(&c->retry_after_ms, gks_clock_mono_ms() + c->backoff_ms);
}

/* Remember every decision of a verified set under this context. */
static void
cache_fill(gk_client *c, const gk_decision_set *set, const gk_context *ctx, int64_t fetched_ms)
{
    size_t ctx_len;
    const char *ctx_text = gks_context_text(ctx, &ctx_len);
    /* The token's exp on the monotonic clock, so lookups read only one clock. */
    int64_t expires_ms = fetched_ms + (set->exp_s * 1000 - gks_clock_wall_ms());

    for (size_t i = 0; i < set->count; i++) {
        const gks_decision *d = &set->items[i];

        /* Errors that may pass (internal, parse, provider) are not remembered. */
        if (d->detail.reason == GK_REASON_ERROR &&
            (d->detail.error_code == GK_ERROR_GENERAL ||
             d->detail.error_code == GK_ERROR_PARSE_ERROR ||
             d->detail.error_code == GK_ERROR_PROVIDER_FATAL ||
             d->detail.error_code == GK_ERROR_PROVIDER_NOT_READY)) {
            continue;
        }
        /* On GK_ENOMEM the entry is simply not cached; the answer is still given. An entry from
         * a newer snapshot stays (an answer in flight across a reload is the older one). */
        (void) gks_cache_put(c->cache, d, ctx_text, ctx_len, gks_context_hash(ctx), fetched_ms,
                             set->iat_s, set->exp_s, expires_ms);
    }
}

/*
 * Ask the gatekeeper for `flag_key` (or every flag when NULL) for ctx, verify the answer and
 * refresh the cache. `why` is written for FETCH_UNREACHABLE and FETCH_REFUSED.
 */
static fetch_status
fetch(gk_client *c, const char *flag_key, const gk_context *ctx, gk_decision_set **setp,
      gk_detail *why)
{
    const char *const flags[1] = {flag_key};
    uint8_t nonce_bin[GKS_NONCE_BYTES];
    char nonce[2 * GKS_NONCE_BYTES];
    char *req = NULL;
    size_t req_len = 0, ctx_len = 0;
    const char *ctx_text;
    nng_msg *reply_msg = NULL;
    gkp_reply reply;
    gk_diag diag = {0};
    fetch_status status = FETCH_REFUSED;
    gks_session_ticket ticket;
    int64_t now_s;
    uint64_t seen;
    int nng_rv, mac_ok;
    gk_err rv;

    *setp = NULL;
    memset(&reply, 0, sizeof(reply));
    /* A fresh nonce per request binds the signed answer to it (see token.h). */
    gks_nonce_next(c->nonces, nonce_bin);
    gkp_b64url_encode(nonce, sizeof(nonce), nonce_bin, sizeof(nonce_bin));
    gks_session_begin(c->session, gks_clock_wall_ms() / 1000, &ticket);
    ctx_text = gks_context_text(ctx, &ctx_len);
    rv = gkp_request_encode_evaluate_text(&req, &req_len, flag_key != NULL ? flags : NULL,
                                          flag_key != NULL ? 1 : 0, ctx_text, ctx_len, nonce,
                                          ticket.in_session ? ticket.sid : NULL,
                                          ticket.opening ? ticket.pub : NULL);
    if (rv != GK_OK) {
        sodium_memzero(&ticket, sizeof(ticket));
        set_error(why, GK_ERROR_GENERAL, "cannot build the request: %s", gkp_strerror(rv));
        return FETCH_REFUSED;
    }
    nng_rv = gks_transact(c->sock, req, req_len, c->timeout_ms, &reply_msg);
    rv = gks_nng_err(nng_rv);
    free(req);
    if (rv != GK_OK) {
        start_backoff(c);
        if (rv == GK_ETIMEDOUT) {
            set_error(why, GK_ERROR_GENERAL,
                      "gatekeeper at %s did not answer within %" PRIu32
                      " ms (is it running and reachable?)",
                      c->endpoint, c->timeout_ms);
        } else {
            set_error(why, GK_ERROR_GENERAL, "cannot reach the gatekeeper at %s: %s", c->endpoint,
                      nng_strerror(nng_rv));
        }
        return FETCH_UNREACHABLE;
    }
    rv = gkp_reply_decode(&reply, nng_msg_body(reply_msg), nng_msg_len(reply_msg), &diag);
    if (rv != GK_OK) {
        set_error(why, rv == GK_ENOMEM ? GK_ERROR_GENERAL : GK_ERROR_PARSE_ERROR,
                  "malformed reply from the gatekeeper: %s", diag.text);
        goto done;
    }
    if (!reply.ok) {
        set_error(why, reply.error_code == GK_ERROR_NONE ? GK_ERROR_GENERAL : reply.error_code,
                  "gatekeeper refused the request: %s",
                  reply.error_details != NULL ? reply.error_details : "(no details)");
        goto done;
    }
    if (reply.token == NULL) {
        set_error(why, GK_ERROR_PARSE_ERROR, "gatekeeper reply carries no token");
        goto done;
    }
    now_s = gks_clock_wall_ms() / 1000;
    mac_ok = gks_session_finish(c->session, &ticket, c->keys, &reply, now_s);
    rv = gks_token_open(setp, c->keys, reply.token, reply.token_len, nonce, now_s, mac_ok, why);
    if (rv != GK_OK) {
        goto done;
    }
    gks_session_count(c->session, mac_ok);
    atomic_store(&c->ready, true);
    atomic_store(&c->retry_after_ms, 0);
    seen = raise_newest(c, (*setp)->snapshot_version);
    if ((*setp)->snapshot_version < seen) {
        set_error(why, GK_ERROR_GENERAL,
                  "the gatekeeper at %s answered from snapshot %" PRIu64
                  ", older than snapshot %" PRIu64
                  " already seen; answer not used (a replica lagging behind?)",
                  c->endpoint, (*setp)->snapshot_version, seen);
        gk_decision_set_free(*setp);
        *setp = NULL;
        status = FETCH_OUTDATED;
        goto done;
    }
    cache_fill(c, *setp, ctx, gks_clock_mono_ms());
    status = FETCH_OK;

done:
    sodium_memzero(&ticket, sizeof(ticket));
    gkp_reply_fini(&reply);
    nng_msg_free(reply_msg);
    return status;
}

/* ---- evaluation -------------------------------------------------------------------------- */

/* The answer from a cache entry, with `reason` (CACHED or STALE) when it has a value. */
static void
from_view(answer *ans, gk_detail *d, const gks_cache_view *view, gk_reason reason)
{
    ans->kind = view->kind;
    ans->bool_value = view->bool_value;
    ans->str_fits = view->str_fits;
    *d = view->detail;
    if (view->kind != GKS_KIND_NONE) {
        d->reason = reason;
    }
}

/* The answer from a fresh decision; a string value is copied into buf when it fits. */
static void
from_decision(answer *ans, gk_detail *d, const gks_decision *dec, char *buf, size_t bufsize)
{
    ans->kind = dec->kind;
    ans->bool_value = dec->bool_value;
    ans->str_fits = false;
    *d = dec->detail;
    if (dec->kind == GKS_KIND_STRING && buf != NULL && dec->str_len < bufsize) {
        memcpy(buf, dec->str, dec->str_len + 1);
        ans->str_fits = true;
    }
}

/*
 * Decide `flag_key` for ctx: fills ans (the value's kind and value) and d (reason, error code,
 * variant, ...). Never fails: an unanswerable question gives kind NONE and reason ERROR.
 * maskp (optional): one reference to the decision's mask list when there is a decision (fresh,
 * CACHED or STALE); left NULL when there is none.
 */
static void
eval_one(gk_client *c, const char *flag_key, size_t key_len, const gk_context *ctx, char *buf,
         size_t bufsize, answer *ans, gk_detail *d, gk_mask **maskp)
{
    size_t ctx_len;
    const char *ctx_text = gks_context_text(ctx, &ctx_len);
    int64_t now_ms = gks_clock_mono_ms();
    int64_t retry_after;
    gks_cache_state state = GKS_CACHE_MISS;
    gks_cache_view view;
    gk_decision_set *set = NULL;
    const gks_decision *dec;

    memset(ans, 0, sizeof(*ans));
    if (!c->cache_disabled) {
        state = gks_cache_get(c->cache, flag_key, key_len, ctx_text, ctx_len, gks_context_hash(ctx),
                              now_ms, c->ttl_ms, atomic_load(&c->newest_version), &view, buf,
                              bufsize, maskp);
        if (state == GKS_CACHE_FRESH) {
            from_view(ans, d, &view, GK_REASON_CACHED);
            return;
        }
        if (maskp != NULL) {
            gk_mask_free(*maskp); /* a STALE entry's: looked up again below if it is needed */
            *maskp = NULL;
        }
    }

    retry_after = atomic_load(&c->retry_after_ms);
    if (now_ms < retry_after) {
        set_error(d, GK_ERROR_GENERAL,
                  "gatekeeper at %s unreachable; next attempt in %" PRId64
                  " ms (is it running and reachable?)",
                  c->endpoint, retry_after - now_ms);
    } else {
        switch (fetch(c, flag_key, ctx, &set, d)) {
        case FETCH_OK:
            dec = gks_decision_find(set, flag_key);
            if (dec != NULL) {
                from_decision(ans, d, dec, buf, bufsize);
                if (maskp != NULL) {
                    *maskp = gks_mask_hold(dec->mask);
                }
            } else {
                set_error(d, GK_ERROR_GENERAL,
                          "the gatekeeper's token has no decision for flag \"%.60s\"", flag_key);
            }
            gk_decision_set_free(set);
            return;
        case FETCH_REFUSED:
            return;
        case FETCH_UNREACHABLE:
        case FETCH_OUTDATED:
            break;
        }
    }

    /* Unreachable or outdated: the last known good decision, if its token is still valid and
     * it is not older than the newest snapshot seen (looked up again: the token may have expired
     * while the request waited, and an event may have arrived). */
    state = gks_cache_get(c->cache, flag_key, key_len, ctx_text, ctx_len, gks_context_hash(ctx),
                          gks_clock_mono_ms(), 0, atomic_load(&c->newest_version), &view, buf,
                          bufsize, maskp);
    if (state != GKS_CACHE_MISS) {
        from_view(ans, d, &view, GK_REASON_STALE);
        return;
    }
    if (!atomic_load(&c->ready)) {
        /* Keep the transport message, but say that nothing was ever received. */
        d->error_code = GK_ERROR_PROVIDER_NOT_READY;
    }
}

/* Validate the common arguments; flag keys are 1..GK_FLAG_KEY_MAX-1 bytes. */
static bool
args_ok(const gk_client *client, const char *flag_key, const gk_context *ctx, size_t *key_len)
{
    if (client == NULL || flag_key == NULL || ctx == NULL) {
        return false;
    }
    *key_len = strlen(flag_key);
    return *key_len > 0 && *key_len < GK_FLAG_KEY_MAX;
}

static const char *
kind_name(gks_kind kind)
{
    switch (kind) {
    case GKS_KIND_BOOL:
        return "a boolean";
    case GKS_KIND_STRING:
        return "a string";
    case GKS_KIND_OTHER:
        return "a number, object, array or null";
    case GKS_KIND_NONE:
        break;
    }
    return "no value";
}

/*
 * Turn `ans` into the typed result: true when the value is of kind `want` and may be used; false
 * when the caller's fallback applies (d then says why: DISABLED, ERROR, TYPE_MISMATCH).
 */
static bool
use_value(const answer *ans, gk_detail *d, gks_kind want, const char *flag_key)
{
    if (ans->kind == GKS_KIND_NONE) {
        if (d->reason != GK_REASON_DISABLED && d->reason != GK_REASON_ERROR) {
            set_error(d, GK_ERROR_GENERAL, "flag \"%.60s\" has no value", flag_key);
        }
        d->variant[0] = '\0';
        return false;
    }
    if (ans->kind != want) {
        uint64_t version = d->snapshot_version;

        set_error(d, GK_ERROR_TYPE_MISMATCH, "flag \"%.60s\" has %s value, not %s", flag_key,
                  kind_name(ans->kind), kind_name(want));
        d->snapshot_version = version;
        return false;
    }
    return true;
}

gk_err
gk_client_eval_bool(gk_client *client, const char *flag_key, const gk_context *ctx, bool fallback,
                    bool *value, gk_detail *detail)
{
    gk_detail local;
    gk_detail *d = detail != NULL ? detail : &local;
    size_t key_len = 0;
    answer ans;

    if (value == NULL || !args_ok(client, flag_key, ctx, &key_len)) {
        if (value != NULL) {
            *value = fallback;
        }
        set_error(d, GK_ERROR_GENERAL, "invalid argument to gk_client_eval_bool");
        return GK_EINVAL;
    }
    eval_one(client, flag_key, key_len, ctx, NULL, 0, &ans, d, NULL);
    *value = use_value(&ans, d, GKS_KIND_BOOL, flag_key) ? ans.bool_value : fallback;
    return GK_OK;
}

gk_err
gk_client_eval_string(gk_client *client, const char *flag_key, const gk_context *ctx,
                      const char *fallback, char *buf, size_t bufsize, gk_detail *detail)
{
    gk_detail local;
    gk_detail *d = detail != NULL ? detail : &local;
    size_t key_len = 0;
    size_t fallback_len;
    answer ans;

    if (buf == NULL || bufsize == 0 || fallback == NULL ||
        !args_ok(client, flag_key, ctx, &key_len)) {
        if (buf != NULL && bufsize > 0) {
            buf[0] = '\0';
        }
        set_error(d, GK_ERROR_GENERAL, "invalid argument to gk_client_eval_string");
        return GK_EINVAL;
    }
    eval_one(client, flag_key, key_len, ctx, buf, bufsize, &ans, d, NULL);
    if (use_value(&ans, d, GKS_KIND_STRING, flag_key)) {
        if (ans.str_fits) {
            return GK_OK;
        }
        buf[0] = '\0';
        return GK_ENOSPC;
    }
    fallback_len = strlen(fallback);
    if (fallback_len >= bufsize) {
        buf[0] = '\0';
        return GK_ENOSPC;
    }
    memcpy(buf, fallback, fallback_len + 1);
    return GK_OK;
}

gk_err
gk_client_eval_mask(gk_client *client, const char *flag_key, const gk_context *ctx, gk_mask **maskp)
{
    gk_mask *mask = NULL;
    size_t key_len = 0;
    gk_detail d;
    answer ans;

    if (maskp == NULL) {
        return GK_EINVAL;
    }
    if (!args_ok(client, flag_key, ctx, &key_len)) {
        *maskp = gks_mask_all(); /* fail closed even for a caller that ignores the status */
        return GK_EINVAL;
    }
    eval_one(client, flag_key, key_len, ctx, NULL, 0, &ans, &d, &mask);
    /* No verified decision for this flag (whatever the error): privacy fails closed. */
    if (d.reason == GK_REASON_ERROR || mask == NULL) {
        gk_mask_free(mask);
        mask = gks_mask_all();
    }
    *maskp = mask;
    return GK_OK;
}

gk_err
gk_client_eval_all(gk_client *client, const gk_context *ctx, gk_decision_set **setp,
                   gk_detail *detail)
{
    gk_detail local;
    gk_detail *d = detail != NULL ? detail : &local;
    gk_decision_set *set = NULL;
    int64_t now_ms;
    int64_t retry_after;
    fetch_status status;
    gk_err rv;

    if (setp != NULL) {
        *setp = NULL;
    }
    if (client == NULL || ctx == NULL || setp == NULL) {
        set_error(d, GK_ERROR_GENERAL, "invalid argument to gk_client_eval_all");
        return GK_EINVAL;
    }
    now_ms = gks_clock_mono_ms();
    retry_after = atomic_load(&client->retry_after_ms);
    if (now_ms < retry_after) {
        set_error(d, GK_ERROR_GENERAL,
                  "gatekeeper at %s unreachable; next attempt in %" PRId64
                  " ms (is it running and reachable?)",
                  client->endpoint, retry_after - now_ms);
        status = FETCH_UNREACHABLE;
    } else {
        status = fetch(client, NULL, ctx, &set, d);
    }
    if (status == FETCH_OK) {
        gks_detail_clear(d);
        d->snapshot_version = set->snapshot_version;
        *setp = set;
        return GK_OK;
    }
    if (status == FETCH_UNREACHABLE && !atomic_load(&client->ready)) {
        d->error_code = GK_ERROR_PROVIDER_NOT_READY;
    }
    rv = gks_decision_set_new(setp, 0);
    return rv;
}
