/*
 * server.c - the REP socket, its listeners and its worker pool.
 */
#include "server.h"

#include <stdlib.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "listen.h"
#include "vocab.h"
#include "worker.h"

struct gkd_server {
    nng_socket sock;
    size_t nworkers;
    gkd_worker *workers;
    gkd_vm_pool *vms; /* one vm slot per worker */
};

gk_err
gkd_server_open(gkd_server **serverp, const char *const *urls, size_t nurls, size_t nworkers,
                const gkd_decider *decider, char **bound, gk_diag *diag)
{
    gkd_server *s;
    gk_err rv;

    if (nurls == 0 || nworkers == 0 || nworkers > 1024) {
        return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "need 1..1024 workers and a listen URL");
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return GK_ENOMEM;
    }
    s->workers = calloc(nworkers, sizeof(*s->workers));
    if (s->workers == NULL || gkd_vm_pool_new(&s->vms, nworkers) != GK_OK ||
        nng_rep0_open(&s->sock) != 0) {
        gkd_vm_pool_free(s->vms);
        free(s->workers);
        free(s);
        return GK_ENOMEM;
    }
    nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, GKD_SERVER_RECV_MAX_BYTES);
    rv = gkd_listen_all(s->sock, urls, nurls, GKD_SERVER_RECV_MAX_BYTES, "--listen", NULL, bound,
                        diag);
    if (rv != GK_OK) {
        gkd_server_close(s);
        return rv;
    }
    for (size_t i = 0; i < nworkers; i++) {
        rv = gkd_worker_start(&s->workers[i], s->sock, decider, s->vms);
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
    gkd_vm_pool_free(server->vms);
    free(server->workers);
    free(server);
}
