/*
 * admin_server.h - the admin socket: signed change requests from actors, end to end (design.md
 * section 2): verify the actor's signature against the actors file, refuse a stale iat or a
 * replayed jti, run the policies' authorize, compute the op, run on_change for every change, check
 * the new state builds, commit it to the store (durable before the answer), swap in the new
 * snapshot and announce the change. Reads (status, get, list, audit) are signed and authorised too.
 *
 * One thread serves the socket: changes are applied one at a time, in order, so a change never
 * races another; its policy vm (the admin path's lua_State) is its own.
 *
 * THREAD SAFETY: open/close from the main thread; gkd_admin_server_set_actors from any thread.
 */
#ifndef GKD_ADMIN_SERVER_H
#define GKD_ADMIN_SERVER_H

#include <stddef.h>

#include <jansson.h>

#include "actors.h"
#include "gatekeeper.h"
#include "presign.h"
#include "publisher.h"
#include "slot.h"
#include "store.h"
#include "telemetry.h"

/* Default admin endpoint. */
#define GKD_ADMIN_DEFAULT_URL "tcp://127.0.0.1:7401"

typedef struct gkd_admin_server gkd_admin_server;

/* What the admin server works with; all borrowed and outliving the server. */
typedef struct gkd_admin_server_config {
    const char *const *urls;    /* admin listen URLs */
    size_t nurls;
    gkd_store *store;           /* the state and the journal */
    gkd_slot *snapshots;        /* where the new snapshot goes after each commit */
    gkd_slot *policies;         /* the current policy set (authorize, on_change) */
    gkd_publisher *publisher;   /* change events; may be NULL */
    const char *environment;    /* passed to the policies, e.g. "prod" */
    const char *tls_cert;       /* PEM certificate + key for tls+tcp:// URLs; NULL: none */
    gkd_telemetry *telemetry;   /* migration telemetry for the policies and status; may be NULL */
    gkd_presign *nonce_pool;    /* the signing key's nonce pool, for status; may be NULL */
} gkd_admin_server_config;

/*
 * gkd_admin_server_open - load the state from the store, listen and start the admin thread.
 * actors  taken (freed by the server, also on failure).
 * bound   optional, as gkd_server_open.
 * The snapshot of the loaded state must already be in config->snapshots.
 * Returns GK_OK, GK_EADDRINUSE, GK_EINVAL, GK_EIO, GK_ENOMEM; diag says what.
 */
gk_err gkd_admin_server_open(gkd_admin_server **serverp, const gkd_admin_server_config *config,
                             gkd_actors *actors, char **bound, gk_diag *diag);

/* gkd_admin_server_set_actors - replace the actors (taken), e.g. after SIGHUP. */
void gkd_admin_server_set_actors(gkd_admin_server *server, gkd_actors *actors);

/* gkd_admin_server_close - stop the thread (a request in progress completes), close, free. */
void gkd_admin_server_close(gkd_admin_server *server);

#endif
