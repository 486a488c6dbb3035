/*
 * transport.h - one request/reply round trip on an nng REQ socket: the exact code the SDK's
 * fresh path uses, exposed inside the library so that the benchmark's echo floor goes through
 * the same client machinery.
 *
 * THREAD SAFETY: any number of threads may call gks_transact on one socket at once; each call
 * opens its own nng context, so round trips never wait on each other's replies.
 */
#ifndef GKS_TRANSPORT_H
#define GKS_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>

/*
 * gks_transact - send `len` bytes of `req` (copied) on the REQ socket `sock` and wait for the
 * reply, with one deadline of timeout_ms (milliseconds) over both the send and the receive.
 * replyp  out: on success the reply message, which the caller frees with nng_msg_free;
 *         NULL on failure.
 * Returns 0, or the nng error: NNG_ETIMEDOUT (deadline passed), NNG_ECLOSED (socket closed),
 * NNG_ENOMEM, or another transport error.
 */
int gks_transact(nng_socket sock, const void *req, size_t len, uint32_t timeout_ms,
                 nng_msg **replyp);

#endif
