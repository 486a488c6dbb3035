/*
 * decide.h - the whole decision path in process, without transport: request bytes in, reply bytes
 * out (decode -> snapshot -> engine -> claims -> Ed25519 JWS -> reply). The server calls it from
 * its workers; tests and the benchmark call it directly.
 *
 * THREAD SAFETY: gkd_decide_handle may run on any number of threads at once with one decider; the
 * decider's slot and signer are only read (the slot's swap is itself thread-safe).
 */
#ifndef GKD_DECIDE_H
#define GKD_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "gatekeeper.h"
#include "signer.h"
#include "snapshot.h"

/* Default lifetime of a decision token, in seconds (its exp is iat + this). */
#define GKD_TOKEN_TTL_DEFAULT_S 300u

/* What a decision needs: all borrowed, and outliving every gkd_decide_handle call. */
typedef struct gkd_decider {
    gkd_snapshot_slot *slot;
    const gkd_signer *signer;
    uint32_t token_ttl_s;
} gkd_decider;

/*
 * gkd_decide_handle - answer one request of the decision protocol (proto/README.md).
 * req, len  the request bytes (not NUL-terminated); borrowed.
 * replyp    out: malloc'd reply bytes (a token, JWKS or error reply), caller frees; replylen its
 *           length. Bad requests get an error reply, not a failure.
 * Returns GK_OK, or GK_ENOMEM when not even an error reply could be built (*replyp NULL).
 */
gk_err gkd_decide_handle(const gkd_decider *decider, const char *req, size_t len, char **replyp,
                         size_t *replylen);

#endif
