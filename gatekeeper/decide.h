/*
 * decide.h - the whole decision path in process, without transport: request bytes in, reply bytes
 * out (decode -> snapshot -> engine -> policies' on_evaluate -> claims -> Ed25519 JWS -> reply).
 * The server calls it from its workers; tests and the benchmark call it directly.
 *
 * THREAD SAFETY: gkd_decide_handle may run on any number of threads at once with one decider, each
 * with its own vm; the decider's slots and signer are only read (slot swaps are thread-safe).
 */
#ifndef GKD_DECIDE_H
#define GKD_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "gatekeeper.h"
#include "policy.h"
#include "sessions.h"
#include "signer.h"
#include "slot.h"

/* Default lifetime of a decision token, in seconds (its exp is iat + this). */
#define GKD_TOKEN_TTL_DEFAULT_S 300u

/* Bytes of the key that pseudonymises personal data in logged contexts. */
#define GKD_DECIDE_LOG_KEY_BYTES 32

/*
 * What a decision needs: all borrowed, and outliving every gkd_decide_handle call.
 *   snapshots  slot of gkd_snapshot: the current flags
 *   policies   slot of gkd_policy_set: the current policies; NULL to decide without policies
 *   signer     the key ring
 *   sessions   the decision sessions clients open (proto/session.h); NULL to answer without
 *   log_key    random per process: at log level debug each decision is logged with its context
 *              masked by the policies' mask("context", ...) hook, the masked values replaced by
 *              pseudonyms under this key (equal within one run, unrecoverable); with no mask
 *              hook, or a failing one, every attribute is masked
 */
typedef struct gkd_decider {
    gkd_slot *snapshots;
    gkd_slot *policies;
    const gkd_signer *signer;
    gkd_sessions *sessions;
    uint32_t token_ttl_s;
    uint8_t log_key[GKD_DECIDE_LOG_KEY_BYTES];
} gkd_decider;

/*
 * gkd_decide_handle - answer one request of the decision protocol (proto/README.md).
 * vmp       the calling worker's policy vm: *vmp NULL at first; replaced here whenever the
 *           policy set has changed since (the worker closes the last one with
 *           gkd_policy_vm_close). When no vm can be opened, gated decisions fail closed.
 * req, len  the request bytes (not NUL-terminated); borrowed.
 * replyp    out: malloc'd reply bytes (a token, JWKS or error reply), caller frees; replylen its
 *           length. Bad requests, and answers that cannot be built (a token over the JWS size
 *           limit, no memory), get an error reply, not a failure.
 * Returns GK_OK, or GK_ENOMEM when not even an error reply could be built (*replyp NULL).
 */
gk_err gkd_decide_handle(const gkd_decider *decider, gkd_policy_vm **vmp, const char *req,
                         size_t len, char **replyp, size_t *replylen);

/*
 * gkd_decide_times - where one or more decisions spent their time, in nanoseconds of
 * CLOCK_MONOTONIC per stage (summed over calls):
 *   decode_ns  parsing and checking the request (proto/msg.c)
 *   engine_ns  flag evaluation: rules, rollouts, bucketing (engine.c), every flag of the request
 *   policy_ns  the policies' on_evaluate for every flag, including bringing the worker's vm up to
 *              the current policy set and snapshot state (gate.c, policy.c)
 *   claims_ns  serialising the claims set (proto/claims.c)
 *   sign_ns    the Ed25519 JWS over it: signature and base64url (signer.c, RFC 7515/8037)
 *   reply_ns   serialising the reply around the token (proto/msg.c)
 */
typedef struct gkd_decide_times {
    uint64_t decode_ns, engine_ns, policy_ns, claims_ns, sign_ns, reply_ns;
} gkd_decide_times;

/*
 * gkd_decide_handle_timed - gkd_decide_handle, adding the time of each stage to *times (not
 * NULL; the caller zeroes it first). Reading the clock costs about 20 ns per stage, so the
 * server calls gkd_decide_handle; this is for the benchmark and for tests.
 */
gk_err gkd_decide_handle_timed(const gkd_decider *decider, gkd_policy_vm **vmp, const char *req,
                               size_t len, char **replyp, size_t *replylen,
                               gkd_decide_times *times);

#endif
