/*
 * publisher.h - change events: an nng PUB socket (default tcp://127.0.0.1:7402) on which the
 * gatekeeper announces every committed change, so SDKs drop the cached decisions it affects:
 *   {"v":1,"event":"change","version":42,"flags":["orders.read_v2"],"committedAtUs":...}
 * ("flags" empty: anything may have changed). See proto/README.md, "Change events".
 *
 * THREAD SAFETY: gkd_publisher_send may be called from any thread (nng sockets are thread-safe).
 */
#ifndef GKD_PUBLISHER_H
#define GKD_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"

/* Default change-event endpoint. */
#define GKD_PUBLISHER_DEFAULT_URL "tcp://127.0.0.1:7402"

typedef struct gkd_publisher gkd_publisher;

/*
 * gkd_publisher_open - listen on every URL. bound (optional) as for gkd_server_open.
 * Returns GK_OK, GK_EADDRINUSE, GK_EINVAL, GK_EIO, GK_ENOMEM; diag names the URL.
 */
gk_err gkd_publisher_open(gkd_publisher **pubp, const char *const *urls, size_t nurls,
                          char **bound, gk_diag *diag);

/*
 * gkd_publisher_send - announce snapshot `version`, the changed flag keys (an array of strings,
 * borrowed; NULL or empty for "anything") and when the change was committed (committed_at_us:
 * CLOCK_REALTIME in µs since the Unix epoch). Never blocks: PUB drops what a slow subscriber
 * cannot take, and subscribers also check versions in tokens.
 */
void gkd_publisher_send(gkd_publisher *pub, uint64_t version, const json_t *flags,
                        int64_t committed_at_us);

/* gkd_publisher_close - close the socket (NULL is ignored). */
void gkd_publisher_close(gkd_publisher *pub);

#endif
