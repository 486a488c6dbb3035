/*
 * transport.c - one request/reply round trip through a fresh nng context (see transport.h).
 *
 * A context is opened per attempt (cheap: no socket, no thread) so that concurrent callers each
 * match their own reply; the aio is waited on synchronously, once for the send and once for the
 * receive, with what is left of the one deadline. An attempt whose connection closed before the
 * reply is followed by another (the socket has no resend timer: gks_transport_open says why).
 */
#include "transport.h"

#include <nng/protocol/reqrep0/req.h>

#include "clock.h"
#include "jws.h"

int
gks_transport_open(nng_socket *sockp)
{
    int rv = nng_req0_open(sockp);

    if (rv != 0) {
        return rv;
    }
    rv = nng_socket_set_size(*sockp, NNG_OPT_RECVMAXSZ,
                             (size_t) GKP_JWS_MAX_BYTES + GKS_REPLY_SLACK_BYTES);
    if (rv == 0) {
        rv = nng_socket_set_ms(*sockp, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    }
    if (rv != 0) {
        nng_close(*sockp);
    }
    return rv;
}

/* One attempt: send on a fresh context and wait for the reply until `deadline` (monotonic ms). */
static int
round_trip(nng_socket sock, nng_aio *aio, const void *req, size_t len, int64_t deadline,
           nng_msg **replyp)
{
    int64_t remaining = deadline - gks_clock_mono_ms();
    nng_ctx ctx;
    nng_msg *msg = NULL;
    int rv;

    if (remaining <= 0) {
        return NNG_ETIMEDOUT;
    }
    rv = nng_ctx_open(&ctx, sock);
    if (rv != 0) {
        return rv;
    }
    rv = nng_msg_alloc(&msg, 0);
    if (rv == 0) {
        rv = nng_msg_append(msg, req, len);
    }
    if (rv != 0) {
        goto done;
    }
    nng_aio_set_msg(aio, msg);
    nng_aio_set_timeout(aio, (nng_duration) remaining);
    nng_ctx_send(ctx, aio);
    nng_aio_wait(aio);
    rv = nng_aio_result(aio);
    if (rv != 0) {
        goto done; /* the message is still ours: freed below */
    }
    msg = NULL; /* sent: nng owns it now */

    remaining = deadline - gks_clock_mono_ms();
    if (remaining <= 0) {
        rv = NNG_ETIMEDOUT;
        goto done;
    }
    nng_aio_set_timeout(aio, (nng_duration) remaining);
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    rv = nng_aio_result(aio);
    if (rv == 0) {
        *replyp = nng_aio_get_msg(aio);
    }

done:
    nng_msg_free(msg);
    nng_ctx_close(ctx);
    return rv;
}

int
gks_transact(nng_socket sock, const void *req, size_t len, uint32_t timeout_ms,
             nng_msg **replyp)
{
    int64_t deadline = gks_clock_mono_ms() + timeout_ms;
    nng_aio *aio = NULL;
    int rv;

    *replyp = NULL;
    rv = nng_aio_alloc(&aio, NULL, NULL);
    if (rv != 0) {
        return rv;
    }
    rv = round_trip(sock, aio, req, len, deadline, replyp);
    for (int i = 0; i < GKS_RESENDS_ON_RESET && (rv == NNG_ECONNRESET || rv == NNG_ECONNSHUT);
         i++) {
        rv = round_trip(sock, aio, req, len, deadline, replyp);
    }
    nng_aio_free(aio);
    return rv;
}
