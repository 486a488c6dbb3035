/*
 * worker.h - one decision worker: an nng context on the decision socket and the asynchronous
 * receive -> decide -> send loop that runs on it (nng's context-based REP server pattern). Several
 * workers on one socket serve requests concurrently on all cores; each worker handles one request
 * at a time, with a policy vm (one lua_State) taken from the server's pool for that request
 * (vm_pool.h says why the vms are not the workers' own).
 *
 * THREAD SAFETY: the callbacks run on nng's threads, serialised per worker. gkd_worker_start and
 * gkd_worker_fini are called by the server only.
 */
#ifndef GKD_WORKER_H
#define GKD_WORKER_H

#include <nng/nng.h>

#include "decide.h"
#include "gatekeeper.h"
#include "vm_pool.h"

typedef struct gkd_worker {
    nng_aio *aio;
    nng_ctx ctx;
    int sending;                        /* 1 while a reply is being sent */
    const gkd_decider *decider;
    gkd_vm_pool *vms;                   /* the server's policy vms */
} gkd_worker;

/*
 * gkd_worker_start - open a context on `sock` and post the first receive.
 * Returns GK_OK, GK_ENOMEM, GK_ECLOSED (the socket is closed).
 */
gk_err gkd_worker_start(gkd_worker *w, nng_socket sock, const gkd_decider *decider,
                        gkd_vm_pool *vms);

/* gkd_worker_fini - stop the loop (waits for a running callback), release the context. */
void gkd_worker_fini(gkd_worker *w);

#endif
