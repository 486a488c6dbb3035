/*
 * listen.c - listeners with clear errors and the addresses they really got.
 */
#include "listen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vocab.h"

static gk_err
listen_error(int rv, const char *url, const char *option, gk_diag *diag)
{
    switch (rv) {
    case NNG_EADDRINUSE:
        return gkp_diag_set(diag, GK_EADDRINUSE, url, 0,
                            "address already in use: another gatekeeper may be running; stop it "
                            "or choose another %s URL",
                            option);
    case NNG_EADDRINVAL:
    case NNG_EINVAL:
    case NNG_ENOTSUP:
        return gkp_diag_set(diag, GK_EINVAL, url, 0,
                            "not a usable %s URL (%s); use tcp://HOST:PORT or ipc:///PATH", option,
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
gkd_listen_all(nng_socket sock, const char *const *urls, size_t nurls, size_t recvmax,
               const char *option, char **bound, gk_diag *diag)
{
    nng_listener l;
    int rv;

    for (size_t i = 0; bound != NULL && i < nurls; i++) {
        bound[i] = NULL;
    }
    for (size_t i = 0; i < nurls; i++) {
        rv = nng_listener_create(&l, sock, urls[i]);
        if (rv == 0 && recvmax > 0) {
            rv = nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, recvmax);
        }
        if (rv == 0) {
            rv = nng_listener_start(l, 0);
        }
        if (rv != 0) {
            for (size_t j = 0; bound != NULL && j < i; j++) {
                free(bound[j]);
                bound[j] = NULL;
            }
            return listen_error(rv, urls[i], option, diag);
        }
        if (bound != NULL) {
            bound[i] = bound_url(l, urls[i]);
        }
    }
    return GK_OK;
}
