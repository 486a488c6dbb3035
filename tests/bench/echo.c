/*
 * echo.c - the echo server and client of the transport floor (see echo.h).
 *
 * The server mirrors gatekeeper/worker.c: each worker owns a context and an aio whose callback
 * either posts the next receive or, with a request in hand, turns the same message into the reply
 * and sends it. So the floor and the daemon differ only by what happens between receive and send.
 * With --spin-us W it busy-waits in that callback until its thread has used W µs of CPU
 * (CLOCK_THREAD_CPUTIME_ID) before replying: the floor of a server that does the daemon's
 * in-process work (figure 4) and nothing else. It spins rather than sleeping, because a sleeping
 * thread frees its vCPU and a working one does not, and it counts CPU time rather than wall-clock
 * time, because with the clients on the same two vCPUs a spinning thread is preempted as a working
 * one would be, and the work would still take W µs of CPU.
 */
#include "echo.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <nng/protocol/reqrep0/rep.h>
#include <sodium.h>

#include "b64url.h"
#include "bench.h"
#include "msg.h"
#include "sdk/transport.h"

typedef struct echo_worker {
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
} echo_worker;

static const char *echo_reply;
static size_t echo_reply_len;
static uint64_t echo_spin_ns;

static void
echo_cb(void *arg)
{
    echo_worker *w = arg;
    uint64_t t0 = echo_spin_ns != 0 ? gkd_clock_thread_cpu_ns() : 0;
    nng_msg *msg;
    int rv = nng_aio_result(w->aio);

    if (w->sending) {
        w->sending = 0;
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(w->aio));
        }
        nng_ctx_recv(w->ctx, w->aio);
        return;
    }
    if (rv == NNG_ECLOSED) {
        return;
    }
    if (rv != 0) {
        nng_ctx_recv(w->ctx, w->aio);
        return;
    }
    while (echo_spin_ns != 0 && gkd_clock_thread_cpu_ns() - t0 < echo_spin_ns) {
        /* the work of a decision, without doing it */
    }
    msg = nng_aio_get_msg(w->aio);
    nng_msg_clear(msg);
    if (nng_msg_append(msg, echo_reply, echo_reply_len) != 0) {
        nng_msg_free(msg);
        nng_ctx_recv(w->ctx, w->aio);
        return;
    }
    w->sending = 1;
    nng_aio_set_msg(w->aio, msg);
    nng_ctx_send(w->ctx, w->aio);
}

int
gkb_echo_server_main(const char *ipc_url, size_t reply_bytes, double spin_us)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nworkers = (size_t) (ncpu > 0 ? ncpu : 1) * 2;
    echo_worker *workers = calloc(nworkers, sizeof(*workers));
    char *reply = malloc(reply_bytes > 0 ? reply_bytes : 1);
    nng_socket sock;
    nng_listener l;
    nng_sockaddr sa;
    char sink[256];

    if (workers == NULL || reply == NULL || nng_rep0_open(&sock) != 0) {
        fprintf(stderr, "gk-bench echo server: out of memory\n");
        return 1;
    }
    memset(reply, 'x', reply_bytes);
    echo_reply = reply;
    echo_reply_len = reply_bytes;
    echo_spin_ns = (uint64_t) (spin_us * 1e3);
    if (nng_listen(sock, "tcp://127.0.0.1:0", &l, 0) != 0 ||
        nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) != 0 ||
        nng_listen(sock, ipc_url, NULL, 0) != 0) {
        fprintf(stderr, "gk-bench echo server: cannot listen on tcp or on %s\n", ipc_url);
        return 1;
    }
    for (size_t i = 0; i < nworkers; i++) {
        if (nng_aio_alloc(&workers[i].aio, echo_cb, &workers[i]) != 0 ||
            nng_ctx_open(&workers[i].ctx, sock) != 0) {
            fprintf(stderr, "gk-bench echo server: cannot start worker %zu\n", i);
            return 1;
        }
        nng_ctx_recv(workers[i].ctx, workers[i].aio);
    }
    printf("tcp://127.0.0.1:%u\n", (unsigned) ntohs(sa.s_in.sa_port));
    fflush(stdout);
    while (read(0, sink, sizeof(sink)) > 0) {
        /* serve until the harness closes our standard input */
    }
    nng_close(sock);
    for (size_t i = 0; i < nworkers; i++) {
        nng_aio_stop(workers[i].aio);
        nng_aio_free(workers[i].aio);
    }
    free(workers);
    free(reply);
    return 0;
}

int
gkb_echo_start(gkb_child *c, const char *self, const char *ipc_url, size_t reply_bytes,
               double spin_us, char *tcp_url, size_t size)
{
    char bytes[32], spin[32];
    const char *argv[] = {self, "--echo-server", ipc_url, "--reply-bytes", bytes, "--spin-us",
                          spin, NULL};

    snprintf(bytes, sizeof(bytes), "%zu", reply_bytes);
    snprintf(spin, sizeof(spin), "%.3f", spin_us);
    if (gkb_spawn(c, argv) != 0) {
        return -1;
    }
    if (gkb_child_readline(c, tcp_url, size, 10000) != 0 || strncmp(tcp_url, "tcp://", 6) != 0) {
        fprintf(stderr, "gk-bench: the echo server did not start\n");
        gkb_child_finish(c, 2000);
        return -1;
    }
    return 0;
}

int
gkb_sample_request(char **outp, size_t *lenp)
{
    static const char *const flags[] = {GKB_FLAG};
    uint8_t nonce_bin[16];
    char nonce[40];
    json_t *ctx = json_pack("{s:s, s:s, s:s}", "targetingKey", "tenant-42", "tenantId",
                            "tenant-42", "service", GKB_SERVICE);
    gk_err rv;

    if (ctx == NULL) {
        return -1;
    }
    randombytes_buf(nonce_bin, sizeof(nonce_bin));
    gkp_b64url_encode(nonce, sizeof(nonce), nonce_bin, sizeof(nonce_bin));
    rv = gkp_request_encode_evaluate(outp, lenp, flags, 1, ctx, nonce);
    json_decref(ctx);
    return rv == GK_OK ? 0 : -1;
}

int
gkb_echo_client_open(gkb_echo_client *c, const char *url, size_t reply_bytes)
{
    int rv;

    memset(c, 0, sizeof(*c));
    c->reply_bytes = reply_bytes;
    if (gkb_sample_request(&c->req, &c->req_len) != 0) {
        return NNG_ENOMEM;
    }
    rv = gks_transport_open(&c->sock);
    if (rv == 0) {
        rv = nng_dial(c->sock, url, NULL, 0);
        if (rv != 0) {
            nng_close(c->sock);
        }
    }
    if (rv != 0) {
        free(c->req);
        c->req = NULL;
    }
    return rv;
}

int
gkb_echo_call(gkb_echo_client *c)
{
    nng_msg *reply = NULL;
    int rv = gks_transact(c->sock, c->req, c->req_len, 1000, &reply);

    if (rv != 0) {
        return rv;
    }
    if (c->reply_bytes != 0 && nng_msg_len(reply) != c->reply_bytes) {
        rv = -1;
    }
    nng_msg_free(reply);
    return rv;
}

void
gkb_echo_client_close(gkb_echo_client *c)
{
    nng_close(c->sock);
    free(c->req);
    c->req = NULL;
}
