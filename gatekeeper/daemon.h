/*
 * daemon.h - `gatekeeper serve`: start-up order, signals and shutdown.
 *
 * Start: load the keys and the policy directory (its tests must pass), open the data directory
 * (the journal is verified; an empty one is bootstrapped from the flags file), make the first
 * snapshot from the stored state, open the change-event, admin and decision sockets, write the
 * ready file, then wait for signals: SIGHUP re-reads the policies (swapped in only when they load
 * and their tests pass) and the actors file; SIGINT/SIGTERM stop cleanly (sockets closed, the
 * admin request in progress completed, memory released, exit status 0). State changes come only
 * through the admin socket.
 *
 * THREAD SAFETY: gkd_daemon_run is called once, from the main thread, before any other thread.
 */
#ifndef GKD_DAEMON_H
#define GKD_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* Most --listen and --key options. */
#define GKD_DAEMON_MAX_URLS 8
#define GKD_DAEMON_MAX_KEYS 8

/* The serve options, from the command line (main.c). Strings are borrowed. */
typedef struct gkd_daemon_config {
    const char *flags_path;                       /* bootstrap flags file; NULL: start empty */
    const char *key_paths[GKD_DAEMON_MAX_KEYS];   /* private JWK files; the first signs */
    size_t nkeys;
    const char *urls[GKD_DAEMON_MAX_URLS];        /* decision listen URLs */
    size_t nurls;
    size_t nworkers;                              /* decision workers */
    uint32_t token_ttl_s;                         /* decision token lifetime, seconds */
    size_t nonce_pool;                            /* nonces computed ahead (presign.h); 0: none */
    const char *ready_file;                       /* optional: bound URLs written here once serving */
    const char *policies_dir;                     /* policy directory; its tests/ run before use */
    gkd_policy_limits policy_limits;              /* budgets per hook call (zero: defaults) */
    const char *data_dir;                         /* the store: journal, snapshots, lock */
    int recover_journal;                          /* cut a corrupt journal back (store.h) */
    const char *actors_path;                      /* actors file; NULL: admin requests refused */
    const char *admin_urls[GKD_DAEMON_MAX_URLS];  /* admin listen URLs */
    size_t nadmin;
    const char *event_urls[GKD_DAEMON_MAX_URLS];  /* change-event listen URLs */
    size_t nevents;
    const char *telemetry_urls[GKD_DAEMON_MAX_URLS]; /* migration telemetry (PULL) listen URLs */
    size_t ntelemetry;
    int telemetry_default;                        /* the URLs are the default: not fatal if busy */
    const char *environment;                      /* given to the policies, e.g. "prod" */
    const char *admin_tls_cert;                   /* PEM cert + key for tls+tcp:// admin URLs */
} gkd_daemon_config;

/*
 * gkd_daemon_run - serve until SIGINT or SIGTERM.
 * Returns the process exit status: 0 after a clean stop, 1 when start-up failed (the reason is
 * logged: port in use, unreadable key, bad flags file naming the flag and the problem, a policy
 * that does not compile or whose tests fail naming file, line and test, a journal record that
 * does not verify, a data directory in use by another gatekeeper).
 */
int gkd_daemon_run(const gkd_daemon_config *config);

#endif
