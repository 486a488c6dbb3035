/*
 * server.h - the decision socket: an nng REP socket listening on one or more URLs (tcp://, ipc://)
 * with a pool of workers (worker.h), each on its own nng context.
 *
 * Requests up to GKD_SERVER_RECV_MAX_BYTES reach the decision path, which answers those over
 * GKP_REQUEST_MAX_BYTES with a PARSE_ERROR reply naming the limit; nng drops a larger message and
 * the connection that sent it, before any of it is buffered.
 *
 * THREAD SAFETY: open and close from one thread (the daemon's main thread).
 */
#ifndef GKD_SERVER_H
#define GKD_SERVER_H

#include <stddef.h>

#include "decide.h"
#include "gatekeeper.h"

/* Largest message nng accepts on the decision socket, in bytes. */
#define GKD_SERVER_RECV_MAX_BYTES (1024u * 1024u)
/* Default decision endpoint. */
#define GKD_SERVER_DEFAULT_URL "tcp://127.0.0.1:7400"

typedef struct gkd_server gkd_server;

/*
 * gkd_server_open - listen on every URL and start `nworkers` workers (1..1024).
 * urls      borrowed for the call.
 * decider   borrowed; must outlive the server.
 * bound     out, optional: for each URL the URL actually bound (a tcp port 0 replaced by the
 *           port chosen), malloc'd strings the caller frees (array of nurls entries).
 * Returns GK_OK, GK_EINVAL (a malformed URL), GK_EADDRINUSE (an address already taken),
 * GK_EIO (another listen failure), GK_ENOMEM; diag names the URL and what to do.
 */
gk_err gkd_server_open(gkd_server **serverp, const char *const *urls, size_t nurls,
                       size_t nworkers, const gkd_decider *decider, char **bound, gk_diag *diag);

/* gkd_server_close - stop the workers, close the socket and free the server (NULL is ignored). */
void gkd_server_close(gkd_server *server);

#endif
