/*
 * echo.h - the transport floor: a bare nng REQ/REP echo server built like the daemon's decision
 * server (one REP socket, one nng_ctx + nng_aio per worker, 2 workers per CPU, the reply sent from
 * the aio callback), and its client, which opens the SDK's own socket (gks_transport_open) and
 * goes through its round-trip function (gks_transact, sdk/transport.h) with a request of the
 * SDK's size.
 *
 * THREAD SAFETY: an echo client is used by one thread at a time.
 */
#ifndef GKB_ECHO_H
#define GKB_ECHO_H

#include <stddef.h>

#include <nng/nng.h>

#include "procs.h"

/*
 * gkb_echo_server_main - run the echo server (the `gk-bench --echo-server IPC_URL --reply-bytes N
 * [--spin-us W]` child): listen on tcp://127.0.0.1:0 and on ipc_url, print the bound tcp URL as
 * one line on stdout, answer every request with reply_bytes bytes, after busy-waiting spin_us µs
 * (0: none) in the aio callback, until standard input reaches end of file.
 * Returns the process exit status: 0, or 1 when it could not serve.
 */
int gkb_echo_server_main(const char *ipc_url, size_t reply_bytes, double spin_us);

/*
 * gkb_echo_start - start that child (this executable, `self`) and read its tcp URL into tcp_url
 * (NUL-terminated, at most size bytes). Returns 0, or -1 (reason on stderr; no child left).
 */
int gkb_echo_start(gkb_child *c, const char *self, const char *ipc_url, size_t reply_bytes,
                   double spin_us, char *tcp_url, size_t size);

/*
 * gkb_sample_request - the single-flag evaluate request the SDK sends for the harness's flag and
 * context (same members, a fresh 22-character nonce), built with the SDK's codec.
 * outp: malloc'd JSON (not NUL-counted in *lenp), caller frees. Returns 0 or -1 (no memory).
 */
int gkb_sample_request(char **outp, size_t *lenp);

/* An echo client: a REQ socket dialled to one URL, and the request it sends. */
typedef struct gkb_echo_client {
    nng_socket sock;
    char *req;
    size_t req_len;
    size_t reply_bytes; /* what every reply must hold; 0: any */
} gkb_echo_client;

/*
 * gkb_echo_client_open - open the SDK's REQ socket (gks_transport_open), dial `url` (waiting
 * until connected, at most a few seconds) and build the request. Returns 0, or an nng error
 * number (nothing to close then).
 */
int gkb_echo_client_open(gkb_echo_client *c, const char *url, size_t reply_bytes);

/*
 * gkb_echo_call - one round trip through gks_transact with a 1 s deadline. Returns 0, an nng
 * error number, or -1 when the reply has the wrong size.
 */
int gkb_echo_call(gkb_echo_client *c);

/* gkb_echo_client_close - close the socket and free the request. */
void gkb_echo_client_close(gkb_echo_client *c);

#endif
