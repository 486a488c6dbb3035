/*
 * worker.c - receive, decide, reply, repeat; on one nng context.
 */
#include "worker.h"

#include <stdlib.h>

#include "log.h"

static void
post_receive(gkd_worker *w)
{
    w->sending = 0;
    nng_ctx_recv(w->ctx, w->aio);
}

/* Builds the reply in the request's message, so a request costs no message allocation. */
static void
answer(gkd_worker *w, nng_msg *msg)
{
    char *reply = NULL;
    size_t len = 0;
    gkd_policy_vm **vm = gkd_vm_pool_take(w->vms);
    gk_err rv = gkd_decide_handle(w->decider, vm, nng_msg_body(msg), nng_msg_len(msg), &reply,
                                  &len);

    gkd_vm_pool_give(w->vms, vm);
    if (rv != GK_OK && reply == NULL) {
        /* Out of memory even for an error reply: drop it; the client's timeout answers. */
        gkd_log(GKD_LOG_ERROR, "out of memory answering a request; dropped");
        nng_msg_free(msg);
        post_receive(w);
        return;
    }
    nng_msg_clear(msg);
    if (nng_msg_append(msg, reply, len) != 0) {
        free(reply);
        nng_msg_free(msg);
        post_receive(w);
        return;
    }
    free(reply);
    nng_aio_set_msg(w->aio, msg);
    w->sending = 1;
    nng_ctx_send(w->ctx, w->aio);
}

static void
worker_cb(void *arg)
{
    gkd_worker *w = arg;
    int rv = nng_aio_result(w->aio);

    if (w->sending) {
        if (rv != 0) {
            /* The requester went away before the reply: drop it and serve the next one. */
            nng_msg_free(nng_aio_get_msg(w->aio));
        }
        if (rv == NNG_ECLOSED) {
            return;
        }
        post_receive(w);
        return;
    }
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
        return;
    }
    if (rv != 0) {
        gkd_log(GKD_LOG_WARN, "decision receive failed: %s", nng_strerror(rv));
        post_receive(w);
        return;
    }
    answer(w, nng_aio_get_msg(w->aio));
}

gk_err
gkd_worker_start(gkd_worker *w, nng_socket sock, const gkd_decider *decider, gkd_vm_pool *vms)
{
    int rv;

    w->decider = decider;
    w->sending = 0;
    w->vms = vms;
    rv = nng_aio_alloc(&w->aio, worker_cb, w);
    if (rv != 0) {
        return GK_ENOMEM;
    }
    rv = nng_ctx_open(&w->ctx, sock);
    if (rv != 0) {
        nng_aio_free(w->aio);
        w->aio = NULL;
        return rv == NNG_ENOMEM ? GK_ENOMEM : GK_ECLOSED;
    }
    post_receive(w);
    return GK_OK;
}

void
gkd_worker_fini(gkd_worker *w)
{
    if (w->aio == NULL) {
        return;
    }
    nng_aio_stop(w->aio);
    nng_ctx_close(w->ctx);
    nng_aio_free(w->aio);
    w->aio = NULL;
}
