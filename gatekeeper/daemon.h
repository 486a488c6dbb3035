/*
 * daemon.h - `gatekeeper serve`: start-up order, signals and shutdown.
 *
 * Start: load the keys, the flags file (the first snapshot) and the policy directory (its tests must
 * pass), listen, write the ready file, then wait for signals: SIGHUP re-reads the flags file and
 * the policies (each is swapped in only when it loads, and for policies when their tests pass;
 * otherwise the error is logged with file, line and test and the current one keeps serving),
 * SIGINT/SIGTERM stop cleanly (listeners closed, in-flight requests finished or cancelled, memory
 * released, exit status 0).
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
    const char *flags_path;                       /* flags file (docs/flags.md) */
    const char *key_paths[GKD_DAEMON_MAX_KEYS];   /* private JWK files; the first signs */
    size_t nkeys;
    const char *urls[GKD_DAEMON_MAX_URLS];        /* decision listen URLs */
    size_t nurls;
    size_t nworkers;                              /* decision workers */
    uint32_t token_ttl_s;                         /* decision token lifetime, seconds */
    const char *ready_file;                       /* optional: bound URLs written here once serving */
    const char *policies_dir;                     /* policy directory; its tests/ run before use */
    gkd_policy_limits policy_limits;              /* budgets per hook call (zero: defaults) */
} gkd_daemon_config;

/*
 * gkd_daemon_run - serve until SIGINT or SIGTERM.
 * Returns the process exit status: 0 after a clean stop, 1 when start-up failed (the reason is
 * logged: port in use, unreadable key, bad flags file naming the flag and the problem, a policy
 * that does not compile or whose tests fail, naming file, line and test).
 */
int gkd_daemon_run(const gkd_daemon_config *config);

#endif
