/*
 * transport.h - the SDK's nng REQ socket and one request/reply round trip on it: the exact code
 * the SDK's fresh path uses, exposed inside the library so that the benchmark's echo floor goes
 * through the same client machinery.
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
 * gks_transport_open - open the REQ socket the SDK talks to gatekeepers on (dial it afterwards):
 * replies up to the largest token plus GKS_REPLY_SLACK_BYTES, and nng's resend timer off. REQ
 * resends a request that got no reply within its resend time (60 s by default), longer than any
 * deadline gks_transact is given, so the timer never fired; but arming it for every request woke
 * nng's timer thread each time: 7 µs of CPU and 3 context switches per round trip on a 2-vCPU
 * KVM guest (one echo client, nng 1.5.2). Without the timer nng also stops resending a request
 * whose connection closes before the reply (a gatekeeper stopping or dying): gks_transact does
 * that itself.
 * sockp  out: the socket (nng_close it).
 * Returns 0 or the nng error of nng_req0_open or of setting an option (the socket then closed).
 */
int gks_transport_open(nng_socket *sockp);

/* Room above the largest token for a reply's envelope, in bytes. */
#define GKS_REPLY_SLACK_BYTES 4096

/* Most times gks_transact sends a request again after its connection closed without a reply. */
#define GKS_RESENDS_ON_RESET 3

/*
 * gks_transact - send `len` bytes of `req` (copied) on the REQ socket `sock` and wait for the
 * reply, with one deadline of timeout_ms (milliseconds) over both the send and the receive. When
 * the connection the request went out on closes before the reply (NNG_ECONNRESET or
 * NNG_ECONNSHUT: a gatekeeper stopping or dying), the request is sent again, on whatever
 * connection the socket has, up to GKS_RESENDS_ON_RESET times within the same deadline
 * (requests are idempotent: proto/README.md).
 * replyp  out: on success the reply message, which the caller frees with nng_msg_free;
 *         NULL on failure.
 * Returns 0, or the nng error: NNG_ETIMEDOUT (deadline passed), NNG_ECLOSED (socket closed),
 * NNG_ENOMEM, NNG_ECONNRESET (every attempt's connection closed), or another transport error.
 */
int gks_transact(nng_socket sock, const void *req, size_t len, uint32_t timeout_ms,
                 nng_msg **replyp);

#endif
