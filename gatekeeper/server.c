/*
 * server.c - the REP socket, its listeners and its worker pool.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "vocab.h"
#include "worker.h"

struct gkd_server {
    nng_socket sock;
    size_t nworkers;
    gkd_worker *workers;
};

static gk_err
listen_error(int rv, const char *url, gk_diag *diag)
{
    switch (rv) {
    case NNG_EADDRINUSE:
        return gkp_diag_set(diag, GK_EADDRINUSE, url, 0,
                            "address already in use: another gatekeeper may be running; stop it "
                            "or choose another --listen URL");
    case NNG_EADDRINVAL:
    case NNG_EINVAL:
    case NNG_ENOTSUP:
        return gkp_diag_set(diag, GK_EINVAL, url, 0,
                            "not a usable listen URL (%s); use tcp://HOST:PORT or ipc:///PATH",
                            nng_strerror(rv));
    default:
        return gkp_diag_set(diag, GK_EIO, url, 0, "cannot listen: %s", nng_strerror(rv));
    }
}

/* The URL a listener is bound to: for tcp, with the port the kernel chose for port 0. */
static char *
bound_url(nng_listener l, const char *url)
{
    char buf[256];
    int port;

    if (strncmp(url, "tcp://", 6) == 0 &&
        nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0) {
        const char *colon = strrchr(url, ':');
        snprintf(buf, sizeof(buf), "%.*s:%d", (int) (colon - url), url, port);
        return strdup(buf);
    }
    return strdup(url);
}

gk_err
gkd_server_open(gkd_server **serverp, const char *const *urls, size_t nurls, size_t nworkers,
                const gkd_decider *decider, char **bound, gk_diag *diag)
{
    gkd_server *s;
    nng_listener l;
    gk_err rv = GK_ENOMEM;
    int nrv;

    if (nurls == 0 || nworkers == 0 || nworkers > 1024) {
        return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "need 1..1024 workers and a listen URL");
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return GK_ENOMEM;
    }
    s->workers = calloc(nworkers, sizeof(*s->workers));
    if (s->workers == NULL || nng_rep0_open(&s->sock) != 0) {
        free(s->workers);
        free(s);
        return GK_ENOMEM;
    }
    for (size_t i = 0; bound != NULL && i < nurls; i++) {
        bound[i] = NULL;
    }
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, GKD_SERVER_RECV_MAX_BYTES);
    for (size_t i = 0; i < nurls; i++) {
        nrv = nng_listener_create(&l, s->sock, urls[i]);
        if (nrv == 0) {
            nrv = nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, GKD_SERVER_RECV_MAX_BYTES);
        }
        if (nrv == 0) {
            nrv = nng_listener_start(l, 0);
        }
        if (nrv != 0) {
            rv = listen_error(nrv, urls[i], diag);
            goto fail;
        }
        if (bound != NULL) {
            bound[i] = bound_url(l, urls[i]);
        }
    }
    for (size_t i = 0; i < nworkers; i++) {
        rv = gkd_worker_start(&s->workers[i], s->sock, decider);
        if (rv != GK_OK) {
            goto fail;
        }
        s->nworkers++;
    }
    *serverp = s;
    return GK_OK;
fail:
    if (bound != NULL) {
        for (size_t i = 0; i < nurls; i++) {
            free(bound[i]);
            bound[i] = NULL;
        }
    }
    gkd_server_close(s);
    return rv;
}

void
gkd_server_close(gkd_server *server)
{
    if (server == NULL) {
        return;
    }
    /* Closing the socket first fails every pending aio with NNG_ECLOSED; then reap the workers. */
    nng_close(server->sock);
    for (size_t i = 0; i < server->nworkers; i++) {
        gkd_worker_fini(&server->workers[i]);
    }
    free(server->workers);
    free(server);
}
