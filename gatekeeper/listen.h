/*
 * listen.h - putting an nng socket on its listen URLs, with the errors and bound addresses every
 * gatekeeper socket (decisions, admin, change events) reports the same way.
 *
 * THREAD SAFETY: as nng: call it while setting a socket up, from one thread.
 */
#ifndef GKD_LISTEN_H
#define GKD_LISTEN_H

#include <stddef.h>

#include <nng/nng.h>

#include "gatekeeper.h"

/*
 * gkd_listen_all - listen on every URL (tcp://, ipc://, tls+tcp:// as nng allows).
 * recvmax  the largest message accepted, in bytes (0: nng's default).
 * option   the command-line option that sets these URLs, for the error text ("--listen").
 * tls_cert  for tls+tcp:// URLs: a PEM file holding the certificate and its private key
 *           (NNG_OPT_TLS_CERT_KEY_FILE; nng's TLS is mbed TLS); NULL refuses tls+tcp:// URLs.
 * bound    optional, nurls entries: the URL actually bound (a tcp port 0 replaced by the port the
 *          kernel chose), malloc'd; the caller frees them. All NULL on failure.
 * Returns GK_OK, GK_EADDRINUSE, GK_EINVAL (not a usable URL, or tls+tcp:// without a
 * certificate), GK_EIO (also an unreadable certificate); diag names the URL and what to do.
 */
gk_err gkd_listen_all(nng_socket sock, const char *const *urls, size_t nurls, size_t recvmax,
                      const char *option, const char *tls_cert, char **bound, gk_diag *diag);

#endif
