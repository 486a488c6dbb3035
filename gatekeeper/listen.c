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
    case NNG_ECRYPTO:
        return gkp_diag_set(diag, GK_EIO, url, 0,
                            "the TLS certificate file cannot be used: it must be PEM holding the "
                            "certificate and its private key");
    default:
        return gkp_diag_set(diag, GK_EIO, url, 0, "cannot listen: %s", nng_strerror(rv));
    }
}

/* The URL a listener is bound to: for tcp and tls+tcp, with the port the kernel chose for port 0. */
static char *
bound_url(nng_listener l, const char *url)
{
    char buf[256];
    int port;

    if ((strncmp(url, "tcp://", 6) == 0 || strncmp(url, "tls+tcp://", 10) == 0) &&
        nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) == 0) {
        const char *colon = strrchr(url, ':');
        snprintf(buf, sizeof(buf), "%.*s:%d", (int) (colon - url), url, port);
        return strdup(buf);
    }
    return strdup(url);
}

gk_err
gkd_listen_all(nng_socket sock, const char *const *urls, size_t nurls, size_t recvmax,
               const char *option, const char *tls_cert, char **bound, gk_diag *diag)
{
    nng_listener l;
    int rv;

    for (size_t i = 0; bound != NULL && i < nurls; i++) {
        bound[i] = NULL;
    }
    for (size_t i = 0; i < nurls; i++) {
        int tls = strncmp(urls[i], "tls+tcp://", 10) == 0;

        if (tls && tls_cert == NULL) {
            for (size_t j = 0; bound != NULL && j < i; j++) {
                free(bound[j]);
                bound[j] = NULL;
            }
            return gkp_diag_set(diag, GK_EINVAL, urls[i], 0,
                                "a tls+tcp:// %s URL needs a certificate: pass --admin-tls-cert "
                                "FILE (PEM with the certificate and its private key)",
                                option);
        }
        rv = nng_listener_create(&l, sock, urls[i]);
        if (rv == 0 && tls) {
            rv = nng_listener_set_string(l, NNG_OPT_TLS_CERT_KEY_FILE, tls_cert);
            if (rv != 0) {
                rv = NNG_ECRYPTO;
            }
        }
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
