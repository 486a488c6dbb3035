/*
 * publisher.c - change events on an nng PUB socket.
 */
#include "publisher.h"

#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "listen.h"
#include "log.h"

struct gkd_publisher {
    nng_socket sock;
};

gk_err
gkd_publisher_open(gkd_publisher **pubp, const char *const *urls, size_t nurls, char **bound,
                   gk_diag *diag)
{
    gkd_publisher *p = calloc(1, sizeof(*p));
    gk_err rv;

    if (p == NULL || nng_pub0_open(&p->sock) != 0) {
        free(p);
        return GK_ENOMEM;
    }
    rv = gkd_listen_all(p->sock, urls, nurls, 0, "--events-listen", NULL, bound, diag);
    if (rv != GK_OK) {
        gkd_publisher_close(p);
        return rv;
    }
    *pubp = p;
    return GK_OK;
}

void
gkd_publisher_send(gkd_publisher *pub, uint64_t version, const json_t *flags,
                   int64_t committed_at_us)
{
    json_t *event = json_pack("{s:i, s:s, s:I, s:o, s:I}", "v", 1, "event", "change", "version",
                              (json_int_t) version, "flags",
                              flags != NULL ? json_copy((json_t *) (uintptr_t) flags)
                                            : json_array(),
                              "committedAtUs", (json_int_t) committed_at_us);
    char *text = event != NULL ? json_dumps(event, JSON_COMPACT) : NULL;
    int rv;

    rv = text != NULL ? nng_send(pub->sock, text, strlen(text), NNG_FLAG_NONBLOCK) : NNG_ENOMEM;
    if (rv != 0) {
        gkd_log(GKD_LOG_WARN, "change event for version %llu not sent: %s",
                (unsigned long long) version, nng_strerror(rv));
    }
    free(text);
    json_decref(event);
}

void
gkd_publisher_close(gkd_publisher *pub)
{
    if (pub == NULL) {
        return;
    }
    nng_close(pub->sock);
    free(pub);
}
