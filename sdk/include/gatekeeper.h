/*
 * gatekeeper.h - the Gatekeeper SDK (libgatekeeper): signed feature-flag decisions for C services.
 *
 * A service opens a client with options (gatekeeper endpoints, the trusted JWKS, a timeout in ms,
 * a cache TTL in ms), builds an evaluation context (a targetingKey plus attributes) and asks for
 * decisions. Every decision arrives inside a JWS (RFC 7515 compact serialisation, alg EdDSA per
 * RFC 8037) that the SDK verifies against the trusted JWKS before using it. Decisions are cached
 * per flag and context for the TTL; when the gatekeeper cannot be reached the last known good
 * decision is served with reason GK_REASON_STALE until its token expires, then the caller's
 * fallback with reason GK_REASON_ERROR.
 *
 * FRESHNESS: besides the TTL, a client subscribes to the gatekeeper's change events (an nng PUB
 * socket, tcp://127.0.0.1:7402 by default; see gk_options_set_events_endpoint()). Each event
 * names the new snapshot version and the flags it changed; the client drops its cached decisions
 * of those flags (of every flag when none is named), so the next evaluation asks the gatekeeper.
 * The client also remembers the newest snapshot version it has seen, in events and tokens, and
 * never answers from an older one: a token from an older snapshot is neither used nor cached
 * (reason ERROR unless a last known good decision is as new), and a cached decision older than
 * that version is not served. Events are received by nng's own threads (an aio callback); the
 * SDK starts no thread. Events are an accelerator: one that is lost (publisher away, slow
 * subscriber) leaves the TTL as the bound on staleness.
 *
 * MIGRATIONS: gk_migration_read() and gk_migration_write() run a caller's old and new origins as
 * a migration flag's stage says (LaunchDarkly's six stages) and aggregate what they measured
 * (calls, errors, consistency, latency) per flag, stage and operation; the client sends the
 * aggregates to the gatekeeper once a second on an nng PUSH socket, from an nng timer callback
 * (no thread of its own), never blocking the caller.
 *
 * THREAD SAFETY: a gk_client may be shared by all threads once gk_client_open() returns; every
 * gk_client_* function is safe to call concurrently on one client, except gk_client_close(), which
 * must be the last call. A change event may update the cache at any moment (on an nng thread);
 * evaluations running meanwhile see each decision either before or after the change, never torn. gk_options and gk_context are single-threaded objects: build one, use it
 * from one thread at a time (a gk_context that is no longer modified may be read by several
 * evaluations at once). gk_decision_set and gk_mask results are immutable and may be read from
 * any thread; gk_mask_apply() is reentrant.
 * Process-wide initialisation (sodium_init) is done by gk_client_open() and is thread-safe.
 *
 * MEMORY: objects returned through a `T **` parameter are owned by the caller and released with
 * the named _free/_close function; `const char *` arguments are copied; `const T *` results are
 * borrowed with the lifetime stated on each function. _free(NULL) and _close(NULL) do nothing.
 * Text the SDK allocates for the caller (gk_mask_apply's output) is released with gk_free(), so a
 * caller built against another allocator (another C runtime) stays safe.
 *
 * Standards: OpenFeature specification (Evaluation Details: reasons and error codes), RFC 7515
 * (JWS), RFC 7517 (JWK/JWKS), RFC 8037 (EdDSA/Ed25519 in JOSE).
 */
#ifndef GATEKEEPER_H
#define GATEKEEPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GK_VERSION_MAJOR 0
#define GK_VERSION_MINOR 1
#define GK_VERSION_PATCH 0

#if defined(__GNUC__)
#define GK_API         __attribute__((visibility("default")))
#define GK_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define GK_API
#define GK_WARN_UNUSED
#endif

/* Longest variant name and rule id the protocol carries, including the NUL (bytes). */
#define GK_VARIANT_MAX 64
/* Longest flag key, including the NUL (bytes). */
#define GK_FLAG_KEY_MAX 128

/*
 * gk_err - status of an SDK, codec or daemon function. Values are only ever appended, never
 * renumbered. A decision that falls back to a default is not a failure: it returns GK_OK and says
 * why in its reason and error code.
 *
 *   GK_OK         success
 *   GK_EINVAL     an argument is NULL, empty or out of range (a caller bug)
 *   GK_ENOMEM     an allocation failed
 *   GK_ETIMEDOUT  the gatekeeper did not answer within the timeout
 *   GK_ECLOSED    the object is closed or the peer went away
 *   GK_EPROTO     a message or document does not follow its format (JSON, JWS, JWKS, flags file)
 *   GK_EBADSIG    a signature does not verify
 *   GK_EEXPIRED   a token's exp is in the past (or its iat in the future)
 *   GK_ENOKEY     a token names a key id (kid) the trusted JWKS does not hold
 *   GK_ENOENT     a file or named item does not exist
 *   GK_EIO        reading or writing a file or socket failed (see the diag text)
 *   GK_ENOSPC     a caller-supplied buffer is too small; nothing usable was written
 *   GK_EADDRINUSE a listen address is already taken
 *   GK_ECONFLICT  a change was based on a version that is no longer current (nothing changed)
 */
typedef enum gk_err {
    GK_OK = 0,
    GK_EINVAL,
    GK_ENOMEM,
    GK_ETIMEDOUT,
    GK_ECLOSED,
    GK_EPROTO,
    GK_EBADSIG,
    GK_EEXPIRED,
    GK_ENOKEY,
    GK_ENOENT,
    GK_EIO,
    GK_ENOSPC,
    GK_EADDRINUSE,
    GK_ECONFLICT,
} gk_err;

/*
 * gk_strerror - a short English description of a status, e.g. "signature does not verify".
 * Returns a static string (never NULL; "unknown error" for values outside the enum).
 * Thread safety: safe. Since: 0.1
 */
GK_API const char *gk_strerror(gk_err err);

/*
 * gk_diag - detail about the first error of a call. Caller-allocated (usually on the stack), may be
 * passed as NULL; the first error written wins (a later one does not overwrite it). `source` names
 * the file or message, `line`/`column` are 1-based (0 when not applicable), `text` says what was
 * wrong and what to do. Never holds secrets.
 */
typedef struct gk_diag {
    gk_err code;
    int line;
    int column;
    char source[64];
    char text[160];
} gk_diag;

/*
 * gk_reason - why a decision has its value (OpenFeature "Resolution Details" reasons; the wire
 * strings are the upper-case names without the prefix, e.g. "TARGETING_MATCH").
 *   STATIC           the flag has no rules: its default variant is its only answer
 *   DEFAULT          no rule, target or rollout matched (or a prerequisite failed): default variant
 *   TARGETING_MATCH  an individual target or a targeting rule chose the variant
 *   SPLIT            a percentage rollout (sticky bucket) chose the variant
 *   CACHED           served from the SDK's cache within its TTL
 *   DISABLED         the flag's kill switch is on: no value, the caller's fallback is used
 *   STALE            the gatekeeper is unreachable: last known good decision, token not yet expired
 *   ERROR            no decision could be had: the caller's fallback, see the error code
 *   UNKNOWN          a reason this SDK version does not know
 */
typedef enum gk_reason {
    GK_REASON_UNKNOWN = 0,
    GK_REASON_STATIC,
    GK_REASON_DEFAULT,
    GK_REASON_TARGETING_MATCH,
    GK_REASON_SPLIT,
    GK_REASON_CACHED,
    GK_REASON_DISABLED,
    GK_REASON_STALE,
    GK_REASON_ERROR,
} gk_reason;

/*
 * gk_error_code - why a decision is an error (OpenFeature error codes; wire strings are the names
 * without the prefix, e.g. "FLAG_NOT_FOUND"). GK_ERROR_NONE (wire: absent) when there is none.
 *   PROVIDER_NOT_READY     the client has no decision yet (gatekeeper never reached)
 *   FLAG_NOT_FOUND         the snapshot has no flag with that key
 *   PARSE_ERROR            a request or reply could not be parsed
 *   TYPE_MISMATCH          the flag's value is not of the type asked for
 *   TARGETING_KEY_MISSING  the rollout needs a bucketing attribute the context lacks
 *   INVALID_CONTEXT        the context is not a JSON object of attributes
 *   PROVIDER_FATAL         the answer cannot be trusted (bad signature, unknown key id, the nonce
 *                          of another request): the call gets the fallback (not the last known
 *                          good decision), the answer is never cached, and the next call asks
 *                          the gatekeeper again (there is no latch and no back-off)
 *   GENERAL                anything else (timeout, unreachable gatekeeper, internal error)
 */
typedef enum gk_error_code {
    GK_ERROR_NONE = 0,
    GK_ERROR_PROVIDER_NOT_READY,
    GK_ERROR_FLAG_NOT_FOUND,
    GK_ERROR_PARSE_ERROR,
    GK_ERROR_TYPE_MISMATCH,
    GK_ERROR_TARGETING_KEY_MISSING,
    GK_ERROR_INVALID_CONTEXT,
    GK_ERROR_PROVIDER_FATAL,
    GK_ERROR_GENERAL,
} gk_error_code;

/*
 * gk_reason_str / gk_error_code_str - the OpenFeature wire name ("SPLIT", "FLAG_NOT_FOUND"), or
 * "UNKNOWN" / "NONE" for values outside the enum and GK_ERROR_NONE. Static strings. Since: 0.1
 */
GK_API const char *gk_reason_str(gk_reason reason);
GK_API const char *gk_error_code_str(gk_error_code code);

/*
 * gk_detail - evaluation details of one decision (OpenFeature EvaluationDetails). A small
 * caller-allocated record; every field is always written by the gk_client_eval_* functions.
 *   variant           variant name, "" when there is none (DISABLED, ERROR)
 *   reason            see gk_reason
 *   error_code        see gk_error_code; GK_ERROR_NONE unless reason is ERROR
 *   rule_id           id of the targeting rule that matched, "targets" for an individual target,
 *                     "" otherwise
 *   snapshot_version  version of the flag snapshot the decision came from; 0 when no verified
 *                     token was involved (unreachable gatekeeper, refused token, error reply)
 *   error_message     what went wrong for an ERROR, "" otherwise
 */
typedef struct gk_detail {
    char variant[GK_VARIANT_MAX];
    gk_reason reason;
    gk_error_code error_code;
    char rule_id[GK_VARIANT_MAX];
    uint64_t snapshot_version;
    char error_message[160];
} gk_detail;

/* ---- options ---------------------------------------------------------------------------- */

typedef struct gk_options gk_options;

/*
 * gk_options_new - a new options builder with every option at its default.
 * optsp  out: the caller owns it and releases it with gk_options_free().
 * Returns GK_OK, GK_EINVAL (optsp NULL), GK_ENOMEM. Since: 0.1
 */
GK_API gk_err gk_options_new(gk_options **optsp);

/* gk_options_free - release a builder (NULL is ignored). Since: 0.1 */
GK_API void gk_options_free(gk_options *opts);

/*
 * gk_options_add_endpoint - add a gatekeeper decision URL, e.g. "tcp://127.0.0.1:7400" or
 * "ipc:///run/gatekeeper.sock" (nng URL syntax). Several endpoints may be added; requests are
 * spread over the connected ones and fail over. Default when none is added:
 * "tcp://127.0.0.1:7400". The string is copied.
 * Returns GK_OK, GK_EINVAL (NULL or empty url), GK_ENOMEM. Since: 0.1
 */
GK_API gk_err gk_options_add_endpoint(gk_options *opts, const char *url);

/*
 * gk_options_set_jwks_file - path of the trusted JWKS document (RFC 7517 JSON: {"keys":[...]})
 * holding the gatekeeper's Ed25519 public keys (kty "OKP", crv "Ed25519", x, kid). Required:
 * gk_client_open() refuses options without one. The path is copied; the file is read at open.
 * Returns GK_OK, GK_EINVAL (NULL opts, NULL or empty path), GK_ENOMEM. Since: 0.1
 */
GK_API gk_err gk_options_set_jwks_file(gk_options *opts, const char *path);

/*
 * gk_options_set_timeout_ms - longest time one evaluation waits for the gatekeeper, in
 * milliseconds (1..60000; 0 restores the default of 50 ms).
 * Returns GK_OK, GK_EINVAL (out of range). Since: 0.1
 */
GK_API gk_err gk_options_set_timeout_ms(gk_options *opts, uint32_t timeout_ms);

/*
 * gk_options_set_cache_ttl_ms - how long a verified decision is served from the cache (reason
 * CACHED) without asking the gatekeeper, in milliseconds (0..86400000; 0 means the default of
 * 1000 ms). A decision is never served from the cache past its token's exp.
 * Returns GK_OK, GK_EINVAL (out of range). Since: 0.1
 */
GK_API gk_err gk_options_set_cache_ttl_ms(gk_options *opts, uint32_t ttl_ms);

/*
 * gk_options_set_cache_disabled - when true, every evaluation asks the gatekeeper (no CACHED
 * answers); the last known good decision is still kept for STALE answers. Default false.
 * Returns GK_OK, GK_EINVAL (opts NULL). Since: 0.1
 */
GK_API gk_err gk_options_set_cache_disabled(gk_options *opts, bool disabled);

/*
 * gk_options_set_events_endpoint - the gatekeeper's change-event publisher to subscribe to.
 *
 * opts  builder from gk_options_new(); not NULL.
 * url   nng URL of the publisher, e.g. "tcp://127.0.0.1:7402" (the default when this is never
 *       called) or "ipc:///run/gatekeeper-events.sock"; copied. NULL or "" turns the subscription
 *       off: freshness then rests on the TTL (and on the snapshot versions of tokens) alone.
 *
 * gk_client_open() dials it without blocking: a publisher that is down is dialled again in the
 * background, and meanwhile the cache works by TTL alone. A URL nng cannot parse makes
 * gk_client_open() fail with GK_EINVAL.
 * Returns GK_OK, GK_EINVAL (opts NULL), GK_ENOMEM (the earlier setting is kept).
 * Thread safety: none (gk_options is single-threaded).
 * Standard: nng pub0/sub0; message format in proto/README.md ("Change events"). Since: 0.1
 */
GK_API gk_err gk_options_set_events_endpoint(gk_options *opts, const char *url);

/*
 * gk_change_event - one change the gatekeeper announced (OpenFeature's
 * PROVIDER_CONFIGURATION_CHANGED event), as handed to a gk_change_fn.
 *   version          the snapshot version the change produced (>= 1)
 *   committed_at_us  when the gatekeeper committed it: microseconds since the Unix epoch on the
 *                    gatekeeper's clock (CLOCK_REALTIME); 0 when the event does not say
 *   flags, nflags    the changed flag keys (OpenFeature's flagsChanged); nflags 0 means any
 *                    flag may have changed
 * Everything is borrowed for the duration of the call only. Since: 0.1
 */
typedef struct gk_change_event {
    uint64_t version;
    int64_t committed_at_us;
    const char *const *flags;
    size_t nflags;
} gk_change_event;

/*
 * gk_change_fn - called once per change event the client receives, after it has dropped the
 * cached decisions the change affects (so an evaluation made from the handler, or after it,
 * does not answer from before the change). Runs on one of nng's threads, never concurrently with
 * itself, with no lock of the SDK held; it must return quickly (later events wait behind it) and
 * must not call gk_client_close(). It may evaluate flags.
 */
typedef void (*gk_change_fn)(const gk_change_event *event, void *user);

/*
 * gk_options_set_change_handler - a function to call on every change event (see gk_change_fn);
 * events arrive only while the subscription is on (gk_options_set_events_endpoint).
 *
 * opts  builder from gk_options_new(); not NULL.
 * fn    the handler, or NULL for none (the default); user is passed to it unchanged and must
 *       outlive the client.
 * Returns GK_OK, GK_EINVAL (opts NULL). Thread safety: none (gk_options is single-threaded).
 * Since: 0.1
 */
GK_API gk_err gk_options_set_change_handler(gk_options *opts, gk_change_fn fn, void *user);

/*
 * gk_options_set_check_ratio - how often gk_migration_read() runs the caller's comparator: on one
 * read in every `ratio` of those where both origins succeeded (LaunchDarkly's checkRatio).
 *
 * opts   builder from gk_options_new(); not NULL.
 * ratio  1 compares on every such read (the default; 0 restores it), N on the 1st, N+1st, ...
 *        of them, counted per client; at most 1000000.
 *
 * Why an option and not the flag's "migration.checkRatio": the signed decision carries the stage
 * (the variant) only, not the flag definition, so the SDK cannot see the flag's checkRatio. Set
 * this to the flag's value; gk_migration_read_ops.check_ratio overrides it per call.
 * Returns GK_OK, GK_EINVAL (opts NULL, ratio out of range).
 * Thread safety: none (gk_options is single-threaded). Since: 0.1
 */
GK_API gk_err gk_options_set_check_ratio(gk_options *opts, uint32_t ratio);

/*
 * gk_options_set_telemetry_endpoint - where the client sends its migration telemetry.
 *
 * opts  builder from gk_options_new(); not NULL.
 * url   nng URL of the gatekeeper's telemetry collector (an nng PULL socket), e.g.
 *       "tcp://127.0.0.1:7403" (the default when this is never called); copied. NULL or "" turns
 *       telemetry off: gk_migration_read()/gk_migration_write() then aggregate nothing.
 *
 * The client dials it on its first migration call, without blocking (a collector that is down
 * is dialled again in the background); a client that never calls gk_migration_read() or
 * gk_migration_write() opens no connection. Batches are sent once a second without blocking; one
 * that cannot be queued is dropped (docs/sdk.md, "Telemetry"). A URL nng cannot parse makes
 * gk_client_open() fail with GK_EINVAL.
 * Returns GK_OK, GK_EINVAL (opts NULL), GK_ENOMEM (the earlier setting is kept).
 * Thread safety: none. Standard: nng push0/pull0; message format in proto/README.md
 * ("Telemetry"). Since: 0.1
 */
GK_API gk_err gk_options_set_telemetry_endpoint(gk_options *opts, const char *url);

/*
 * gk_options_set_service_name - the name this client reports in its telemetry batches
 * ("service"), e.g. "orders-api"; independent of any evaluation context. Default "unknown".
 * name  1..63 bytes of UTF-8, copied.
 * Returns GK_OK, GK_EINVAL (opts or name NULL, name empty, too long or not UTF-8), GK_ENOMEM.
 * Thread safety: none. Since: 0.1
 */
GK_API gk_err gk_options_set_service_name(gk_options *opts, const char *name);

/* ---- evaluation context ------------------------------------------------------------------ */

typedef struct gk_context gk_context;

/*
 * gk_context_new - a new evaluation context (OpenFeature EvaluationContext).
 * ctxp           out: caller-owned, released with gk_context_free().
 * targeting_key  the context's targetingKey (a tenant, account or user id), copied; may be NULL
 *                for a context without one (rollouts then answer TARGETING_KEY_MISSING).
 * Returns GK_OK, GK_EINVAL (ctxp NULL, targeting_key not valid UTF-8), GK_ENOMEM. Since: 0.1
 */
GK_API gk_err gk_context_new(gk_context **ctxp, const char *targeting_key);

/* gk_context_free - release a context (NULL is ignored). Since: 0.1 */
GK_API void gk_context_free(gk_context *ctx);

/*
 * gk_context_set_string / _number / _bool - set attribute `name` (copied; not "targetingKey",
 * which gk_context_new sets) to a value, replacing an earlier value of the same name. Numbers are
 * IEEE doubles on the wire (integers up to 2^53 are exact).
 * Returns GK_OK, GK_EINVAL (NULL or empty name, "targetingKey", non-finite number, name or value
 * not valid UTF-8), GK_ENOMEM; on an error the context is unchanged.
 * Since: 0.1
 */
GK_API gk_err gk_context_set_string(gk_context *ctx, const char *name, const char *value);
GK_API gk_err gk_context_set_number(gk_context *ctx, const char *name, double value);
GK_API gk_err gk_context_set_bool(gk_context *ctx, const char *name, bool value);

/* ---- client -------------------------------------------------------------------------------- */

typedef struct gk_client gk_client;

/*
 * gk_client_open - connect to the gatekeeper(s) named in opts and load the trusted JWKS.
 * clientp  out: caller-owned, released with gk_client_close().
 * opts     borrowed for the call; may be freed right after.
 * diag     optional detail (which file, which option was wrong).
 * Dialing is asynchronous: an unreachable gatekeeper or event publisher is not an error here
 * (evaluations answer STALE/ERROR and the client reconnects in the background).
 * Returns GK_OK, GK_EINVAL (NULL argument, no JWKS file, bad endpoint or events URL),
 * GK_ENOENT / GK_EIO (JWKS unreadable), GK_EPROTO (JWKS malformed or without an Ed25519 key),
 * GK_ENOMEM.
 * Thread safety: safe. Since: 0.1
 */
GK_API gk_err gk_client_open(gk_client **clientp, const gk_options *opts, gk_diag *diag);

/*
 * gk_client_close - stop receiving change events (waiting for one being applied), send the
 * migration telemetry not yet sent (one last batch, waiting at most 100 ms), close the sockets,
 * drop the cache and free the client (NULL is ignored). No other call on this client may
 * be running or follow. With nng 1.5.2, closing while a change event is still arriving can block
 * in nng_close (nng issue #1813, fixed in nng 1.8.0); docs/sdk.md, "Freshness". Since: 0.1
 */
GK_API void gk_client_close(gk_client *client);

/*
 * gk_client_eval_bool - evaluate one boolean flag for one context.
 *
 * client    handle from gk_client_open(); not NULL.
 * flag_key  NUL-terminated key, e.g. "orders.read_v2" (shorter than GK_FLAG_KEY_MAX).
 * ctx       evaluation context; borrowed for the call.
 * fallback  the value used when no decision can be had (DISABLED, ERROR).
 * value     out: the decided value, or fallback.
 * detail    out, optional (NULL discards it): variant, reason, error code, rule id.
 *
 * Returns GK_OK (also for fallbacks: see detail->reason), GK_EINVAL on a NULL argument or a
 * flag_key that is empty or not shorter than GK_FLAG_KEY_MAX (value is then the fallback).
 * A non-boolean flag value gives the fallback with error code TYPE_MISMATCH.
 * Reasons: the token's own (STATIC, DEFAULT, TARGETING_MATCH, SPLIT) when fresh; CACHED when a
 * value comes from the cache; STALE when the gatekeeper is unreachable and the last known good
 * value's token has not expired. DISABLED, and ERROR answers the gatekeeper signed (e.g.
 * FLAG_NOT_FOUND), keep their reason when they come from the cache. A token that fails
 * verification (PROVIDER_FATAL, PARSE_ERROR, GENERAL) and an error reply are never cached.
 * Freshness: a cached decision of a flag named by a change event is not served again; a token from
 * a snapshot older than the newest seen is neither used nor cached: the answer is then the last
 * known good decision if that is not older either (STALE), else the fallback with reason ERROR,
 * error code GENERAL and a message naming both snapshot versions.
 * After a failed request the client does not ask again for min(1 s, 20 x timeout_ms): calls in
 * that back-off answer from the last known good decision or the fallback without waiting.
 * Latency: well under 1 µs from the cache; at most the client's timeout_ms when fresh.
 * Thread safety: safe to call concurrently on one client.
 * Standard: OpenFeature (Evaluation Details). Since: 0.1
 */
GK_API gk_err gk_client_eval_bool(gk_client *client, const char *flag_key, const gk_context *ctx,
                                  bool fallback, bool *value, gk_detail *detail);

/*
 * gk_client_eval_string - evaluate one string-valued flag (or a flag whose variants are strings,
 * such as a migration stage) for one context.
 *
 * buf, bufsize  out: the decided string or the fallback, NUL-terminated; caller-owned.
 * fallback      copied into buf when no decision can be had; not NULL.
 * Other parameters as gk_client_eval_bool().
 *
 * Returns GK_OK (also for fallbacks), GK_EINVAL (NULL argument, bufsize 0), GK_ENOSPC when the
 * value or fallback does not fit in buf (buf then holds "").
 * A non-string flag value gives the fallback with error code TYPE_MISMATCH.
 * Thread safety: safe to call concurrently on one client. Since: 0.1
 */
GK_API gk_err gk_client_eval_string(gk_client *client, const char *flag_key,
                                    const gk_context *ctx, const char *fallback, char *buf,
                                    size_t bufsize, gk_detail *detail);

/*
 * gk_decision_set - every decision of one signed token (one snapshot version, one signature).
 * Immutable; read it from any thread; release it with gk_decision_set_free().
 */
typedef struct gk_decision_set gk_decision_set;

/*
 * gk_client_eval_all - ask the gatekeeper for every flag for one context, in one signed token.
 * setp  out: caller-owned decision set (also on fallback: then it is empty).
 * Never served from the cache (the answer refreshes the cache of every flag in it); when the
 * gatekeeper cannot be reached the set is empty and detail (optional) says why (reason ERROR).
 * On success detail has reason UNKNOWN (each decision carries its own), error code NONE and the
 * token's snapshot_version.
 * Returns GK_OK, GK_EINVAL (NULL argument), GK_ENOMEM (*setp is then NULL).
 * Thread safety: safe to call concurrently on one client. Since: 0.1
 */
GK_API gk_err gk_client_eval_all(gk_client *client, const gk_context *ctx, gk_decision_set **setp,
                                 gk_detail *detail);

/* gk_decision_set_free - release a set (NULL is ignored). Since: 0.1 */
GK_API void gk_decision_set_free(gk_decision_set *set);

/* gk_decision_set_count - number of decisions in the set. Since: 0.1 */
GK_API size_t gk_decision_set_count(const gk_decision_set *set);

/*
 * gk_decision_set_get - decision `index` (0 .. count-1) of the set.
 * key         out, optional: the flag key, borrowed until gk_decision_set_free().
 * value_json  out, optional: the value as compact JSON text ("true", "\"new\"", "{...}") or NULL
 *             when the decision has no value (DISABLED, ERROR); borrowed until the set is freed.
 * detail      out, optional.
 * Returns GK_OK, GK_EINVAL (NULL set or index out of range). Since: 0.1
 */
GK_API gk_err gk_decision_set_get(const gk_decision_set *set, size_t index, const char **key,
                                  const char **value_json, gk_detail *detail);

/* ---- privacy masks ------------------------------------------------------------------------ */

/*
 * gk_mask - the privacy mask list of one decision: field paths ("email", "address.street") that
 * the service must mask in the records it reads on the flag's path before they leave it or reach
 * a log (a privacy policy of the gatekeeper puts them in the signed token). Immutable; read it
 * from any thread; release it with gk_mask_free(). A mask may also say "every field"
 * (gk_mask_masks_all): the answer when no verified decision could be had, since privacy fails
 * closed.
 */
typedef struct gk_mask gk_mask;

/* gk_mask_mode - what gk_mask_apply() does to a masked value. */
typedef enum gk_mask_mode {
    GK_MASK_REMOVE = 0,   /* the member is removed from the record */
    GK_MASK_PSEUDONYMIZE, /* the value becomes "pseudo:" + a keyed hash of it (see below) */
} gk_mask_mode;

/* Length bounds of the key of GK_MASK_PSEUDONYMIZE, in bytes (BLAKE2b's key sizes). */
#define GK_MASK_KEY_MIN_BYTES 16
#define GK_MASK_KEY_MAX_BYTES 64

/*
 * gk_client_eval_mask - the mask list of flag_key's decision for one context.
 *
 * client    handle from gk_client_open(); not NULL.
 * flag_key  NUL-terminated key (shorter than GK_FLAG_KEY_MAX).
 * ctx       evaluation context; borrowed for the call.
 * maskp     out: caller-owned, released with gk_mask_free(). Always written when not NULL, on
 *           GK_EINVAL too, so a caller that ignores the status still masks.
 *
 * The decision is found exactly as gk_client_eval_bool() finds it: from the cache within the TTL
 * (CACHED), fresh from the gatekeeper, or the last known good decision when the gatekeeper is
 * unreachable (STALE); a CACHED or STALE decision keeps the mask it was signed with. A decision
 * without a mask gives an empty list (gk_mask_count 0). When no verified decision can be had
 * (every case in which the typed functions answer reason ERROR: unreachable with nothing cached,
 * a refused token, FLAG_NOT_FOUND, ...), *maskp masks every field (gk_mask_masks_all true):
 * privacy fails closed. A DISABLED decision gives the mask it was signed with.
 *
 * Returns GK_OK (also for the masks-all answer), GK_EINVAL (NULL argument, flag_key empty or
 * too long).
 * Latency: as gk_client_eval_bool(). Thread safety: safe to call concurrently on one client.
 * Since: 0.1
 */
GK_API gk_err gk_client_eval_mask(gk_client *client, const char *flag_key, const gk_context *ctx,
                                  gk_mask **maskp);

/*
 * gk_decision_set_mask - the mask list of decision `index` (0 .. count-1) of a set.
 * maskp  out: caller-owned, released with gk_mask_free(); it stays valid after the set is freed.
 *        Always written when not NULL: an empty list when the decision has no mask, a mask that
 *        masks every field when the decision is an ERROR (no decision for that flag) or on
 *        GK_EINVAL.
 * Returns GK_OK, GK_EINVAL (NULL set or maskp, index out of range). Since: 0.1
 */
GK_API gk_err gk_decision_set_mask(const gk_decision_set *set, size_t index, gk_mask **maskp);

/* gk_mask_count - number of field paths in the list (0 for NULL and for a masks-all mask). */
GK_API size_t gk_mask_count(const gk_mask *mask);

/*
 * gk_mask_field - field path `i` (0 .. count-1), e.g. "address.street": dot-separated member
 * names of nested objects. Borrowed until gk_mask_free(); NULL when i is out of range.
 * Since: 0.1
 */
GK_API const char *gk_mask_field(const gk_mask *mask, size_t i);

/*
 * gk_mask_masks_all - whether every field must be masked (no verified decision could be had).
 * true for NULL. Since: 0.1
 */
GK_API bool gk_mask_masks_all(const gk_mask *mask);

/* gk_mask_free - release a mask (NULL is ignored). Since: 0.1 */
GK_API void gk_mask_free(gk_mask *mask);

/*
 * gk_mask_apply - mask a record (a JSON object) as `mask` says, into a new record.
 *
 * mask         from gk_client_eval_mask() or gk_decision_set_mask(); not NULL.
 * record_json  NUL-terminated JSON text of an object; copied (parsed), never modified.
 * mode         GK_MASK_REMOVE: each masked member is removed. GK_MASK_PSEUDONYMIZE: each masked
 *              value (any JSON value) is replaced by the string "pseudo:" followed by the
 *              base64url (22 characters) of the 16-byte keyed BLAKE2b (libsodium
 *              crypto_generichash) of the value's compact JSON text with object members sorted.
 *              Equal values under one key give equal pseudonyms, so records can still be joined
 *              and counted; nobody without the key can reverse or recompute them.
 * key, keylen  the pseudonym key, GK_MASK_KEY_MIN_BYTES..GK_MASK_KEY_MAX_BYTES bytes; keep it
 *              secret and stable for as long as pseudonyms must match. Ignored (may be NULL) for
 *              GK_MASK_REMOVE.
 * outp         out: the masked record as compact JSON, NUL-terminated, member order kept;
 *              caller-owned, released with gk_free(). NULL on failure.
 *
 * Each field path names members by dot-separated names ("address.street": member "street" of
 * the object in member "address"); a path that is absent from the record changes nothing; where a
 * path meets an array, the rest of it applies to every element ("contacts.email"); a path that
 * ends at an object or array masks it whole. A masks-all mask masks every top-level member. A
 * member name that itself contains a dot cannot be named. Duplicate member names in the record
 * keep the last value.
 *
 * Returns GK_OK, GK_EINVAL (NULL mask, record or outp; a record that is not a JSON object; an
 * unknown mode; for GK_MASK_PSEUDONYMIZE a NULL key or a key length out of range), GK_ENOMEM,
 * GK_EIO (libsodium could not be initialised).
 * Thread safety: reentrant. Since: 0.1
 */
GK_API gk_err gk_mask_apply(const gk_mask *mask, const char *record_json, gk_mask_mode mode,
                            const uint8_t *key, size_t keylen, char **outp);

/* ---- migration helpers ------------------------------------------------------------------ */

/*
 * gk_stage - the stage of a migration flag (LaunchDarkly's six migration stages; the flag's
 * variants carry these names as string values: "off", "dualwrite", "shadow", "live", "rampdown",
 * "complete"). What each stage does:
 *
 *   stage      reads run          read returned   writes run (in order)           authoritative
 *   OFF        old                old             old                             old
 *   DUALWRITE  old                old             old, then new if old succeeded  old
 *   SHADOW     old, then new      old             old, then new if old succeeded  old
 *   LIVE       new, then old      new             new, then old if new succeeded  new
 *   RAMPDOWN   new                new             new, then old if new succeeded  new
 *   COMPLETE   new                new             new                             new
 *
 * Values are only ever appended.
 */
typedef enum gk_stage {
    GK_STAGE_OFF = 0,
    GK_STAGE_DUALWRITE,
    GK_STAGE_SHADOW,
    GK_STAGE_LIVE,
    GK_STAGE_RAMPDOWN,
    GK_STAGE_COMPLETE,
} gk_stage;

/*
 * gk_stage_str - the wire name of a stage ("off", "dualwrite", ...), or "unknown" for a value
 * outside the enum. A static string. Thread safety: safe. Since: 0.1
 */
GK_API const char *gk_stage_str(gk_stage stage);

/*
 * gk_stage_parse - the stage named `name` (exactly a wire name, lower case).
 * stagep  out: the stage; untouched on failure.
 * Returns GK_OK, GK_EINVAL (NULL argument or not a stage name). Thread safety: safe. Since: 0.1
 */
GK_API gk_err gk_stage_parse(const char *name, gk_stage *stagep);

/*
 * gk_client_eval_stage - evaluate a migration flag: its string value parsed as a stage.
 *
 * client    handle from gk_client_open(); not NULL.
 * flag_key  NUL-terminated key (shorter than GK_FLAG_KEY_MAX).
 * ctx       evaluation context; borrowed for the call.
 * fallback  the caller's safe stage (usually GK_STAGE_OFF), used when no decision can be had.
 * stage     out: the decided stage, or fallback.
 * detail    out, optional (NULL discards it).
 *
 * Found exactly as gk_client_eval_string() finds a value (cache, fresh, STALE, fallback). A value
 * that is not a string, or a string that is not a stage name, gives the fallback with reason
 * ERROR and error code TYPE_MISMATCH.
 * Returns GK_OK (also for fallbacks: see detail->reason), GK_EINVAL (NULL argument, bad flag_key,
 * fallback outside the enum; *stage is then fallback when stage is not NULL).
 * Latency and thread safety: as gk_client_eval_bool(). Since: 0.1
 */
GK_API gk_err gk_client_eval_stage(gk_client *client, const char *flag_key, const gk_context *ctx,
                                   gk_stage fallback, gk_stage *stage, gk_detail *detail);

/*
 * gk_origin_fn - one read or write on one origin (the old or the new system), supplied by the
 * caller. Called on the thread that called gk_migration_read()/gk_migration_write(), with no SDK
 * lock held; it may call gk_client_eval_* (not gk_client_close).
 * arg      the ops' `arg`.
 * resultp  out: the caller's result object (may be left NULL). Whatever the function leaves in it,
 *          also on failure, is handed back (authoritative origin) or passed to free_result
 *          (non-authoritative origin).
 * Returns 0 on success, any other value on failure (the SDK only counts it as an error).
 */
typedef int (*gk_origin_fn)(void *arg, void **resultp);

/*
 * gk_compare_fn - whether the old and the new read results agree: 1 consistent, 0 not (any other
 * value is taken as 0). Called only when both reads succeeded; results are borrowed for the call.
 */
typedef int (*gk_compare_fn)(void *arg, const void *old_result, const void *new_result);

/* gk_result_free_fn - release a result object an origin made (never called with NULL). */
typedef void (*gk_result_free_fn)(void *arg, void *result);

/*
 * gk_migration_read_ops - the caller's read path. Caller-allocated; set `size` to
 * sizeof(gk_migration_read_ops) (fields added later are read only when size covers them).
 *   read_old, read_new  the two origins; both required.
 *   compare             consistency check; NULL: never compared (consistency stays -1).
 *   free_result         releases the non-authoritative result; NULL: it is not released
 *                       (choose NULL only when results need no release).
 *   arg                 passed to every callback.
 *   check_ratio         compare on 1 in check_ratio eligible reads; 0: the client's option
 *                       (gk_options_set_check_ratio, default 1).
 */
typedef struct gk_migration_read_ops {
    size_t size;
    gk_origin_fn read_old;
    gk_origin_fn read_new;
    gk_compare_fn compare;
    gk_result_free_fn free_result;
    void *arg;
    uint32_t check_ratio;
} gk_migration_read_ops;

/*
 * gk_migration_write_ops - the caller's write path, as gk_migration_read_ops: set `size` to
 * sizeof(gk_migration_write_ops); write_old and write_new required; free_result releases the
 * non-authoritative write's result (NULL: not released); arg passed to every callback.
 */
typedef struct gk_migration_write_ops {
    size_t size;
    gk_origin_fn write_old;
    gk_origin_fn write_new;
    gk_result_free_fn free_result;
    void *arg;
} gk_migration_write_ops;

/*
 * gk_migration_result - what one migration read or write did (the measurements of a LaunchDarkly
 * migration_op event). Caller-allocated; set `size` to sizeof(gk_migration_result) before the
 * call; the SDK writes every field that size covers, also on GK_EINVAL.
 *   stage        the stage acted on (the decision's, or the fallback)
 *   ok           1 when the authoritative origin succeeded, else 0
 *   result       the authoritative origin's result object (whatever it left in *resultp, also on
 *                failure); the caller owns it. NULL when it was not invoked (GK_EINVAL).
 *   old_invoked, new_invoked  1 when that origin was called
 *   old_error, new_error      1 when that origin was called and failed
 *   consistency  reads: 1 consistent, 0 mismatch, -1 not checked (no comparator, a read failed,
 *                not sampled, a single-origin stage, any write)
 *   old_us, new_us  wall time of each origin's call in µs (monotonic clock; 0 when not invoked;
 *                   saturates at UINT32_MAX)
 *   detail       the stage decision's details (see gk_client_eval_stage)
 */
typedef struct gk_migration_result {
    size_t size;
    gk_stage stage;
    int ok;
    void *result;
    int old_invoked;
    int new_invoked;
    int old_error;
    int new_error;
    int consistency;
    uint32_t old_us;
    uint32_t new_us;
    gk_detail detail;
} gk_migration_result;

/*
 * gk_migration_read - read through a migration flag: evaluate its stage, then run the reads the
 * stage calls for (see gk_stage), serially, the authoritative origin first.
 *
 * client    handle from gk_client_open(); not NULL.
 * flag_key  the migration flag (shorter than GK_FLAG_KEY_MAX).
 * ctx       evaluation context; borrowed for the call.
 * fallback  the stage used when no decision can be had (usually GK_STAGE_OFF).
 * ops       the read path; borrowed for the call.
 * out       out: see gk_migration_result; out->result is the authoritative read's result.
 *
 * In SHADOW and LIVE both origins are read (the second even when the first failed: the caller
 * still gets the authoritative answer, and the other read is measured); when both succeeded and
 * ops->compare is set, the comparator runs on 1 in check_ratio such reads (a counter per client:
 * exactly k comparisons over check_ratio * k eligible reads). The non-authoritative result is
 * released with ops->free_result before returning.
 * Telemetry: the call is added to the client's aggregates (non-blocking; see "Telemetry" in
 * docs/sdk.md) unless telemetry is off.
 * Returns GK_OK (also when origins failed: see out->ok), GK_EINVAL (NULL argument, size fields
 * too small, read_old or read_new NULL, bad flag_key, fallback outside the enum: no origin is
 * called).
 * Latency: a stage evaluation plus the origins' own time. Thread safety: safe to call
 * concurrently on one client. Standard: LaunchDarkly migration flags (stages, checkRatio).
 * Since: 0.1
 */
GK_API gk_err gk_migration_read(gk_client *client, const char *flag_key, const gk_context *ctx,
                                gk_stage fallback, const gk_migration_read_ops *ops,
                                gk_migration_result *out);

/*
 * gk_migration_write - write through a migration flag: evaluate its stage, then run the writes
 * it calls for, sequentially, the authoritative origin first (see gk_stage): OFF old only;
 * DUALWRITE and SHADOW old, then new only if old succeeded; LIVE and RAMPDOWN new, then old only
 * if new succeeded; COMPLETE new only. When the authoritative write fails the other one is never
 * attempted (no compensation: reconciling is the application's job).
 *
 * Parameters as gk_migration_read(); out->result is the authoritative write's result, the other
 * one is released with ops->free_result; out->consistency is always -1.
 * Returns GK_OK (also when a write failed: see out->ok, old_error, new_error), GK_EINVAL as
 * gk_migration_read() (write_old or write_new NULL).
 * Thread safety: safe to call concurrently on one client. Since: 0.1
 */
GK_API gk_err gk_migration_write(gk_client *client, const char *flag_key, const gk_context *ctx,
                                 gk_stage fallback, const gk_migration_write_ops *ops,
                                 gk_migration_result *out);

/* gk_free - release memory the SDK allocated for the caller (gk_mask_apply's output). NULL is
 * ignored. Since: 0.1 */
GK_API void gk_free(void *p);

#ifdef __cplusplus
}
#endif

#endif /* GATEKEEPER_H */
