/*
 * gk_test.h - support for integration tests: temporary directories, child processes with bounded
 * waits, a real gatekeeper daemon on loopback ports the kernel picks (tcp port 0, reported through
 * the daemon's ready file) or on ipc:// in the test's directory, and a bounded nng request.
 *
 * Paths of the programs under test come from the environment CTest sets (GK_DAEMON, GK_NNGCAT,
 * GK_PYTHON3, GK_EXAMPLE_EVALUATE, GK_SOURCE_DIR, GK_TEST_DATA). Every wait is bounded; every
 * process and directory a test makes is removed by the matching stop/cleanup call.
 *
 * THREAD SAFETY: gkt_request may run on several threads at once; the rest is for the test's main
 * thread.
 */
#ifndef GK_TEST_H
#define GK_TEST_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* gkt_now_ms - the monotonic clock in milliseconds (CLOCK_MONOTONIC). */
long long gkt_now_ms(void);

/* gkt_sleep_ms - sleep about `ms` milliseconds. */
void gkt_sleep_ms(int ms);

/* gkt_env - the environment variable `name`; aborts the test with a message when unset. */
const char *gkt_env(const char *name);

/* gkt_tempdir - make a fresh private directory under $TMPDIR (or /tmp) into `out`. */
void gkt_tempdir(char out[256]);

/* gkt_rmtree - remove a directory tree (for tempdirs). */
void gkt_rmtree(const char *dir);

/* gkt_read_file - the whole file, NUL-terminated, malloc'd (caller frees); NULL if unreadable. */
char *gkt_read_file(const char *path);

/* gkt_write_file - write `text` to `path` with `mode`; 0 or -1. */
int gkt_write_file(const char *path, const char *text, mode_t mode);

/*
 * gkt_run - run argv (argv[0] a path), wait at most timeout_ms, capture stdout and stderr
 * (merged) into out (NUL-terminated, truncated to outsize). stdin_text, when not NULL, is fed to
 * the child's standard input. Returns the exit status, 128+signal when killed, -1 on timeout
 * (the child is then killed).
 */
int gkt_run(const char *const argv[], const char *stdin_text, char *out, size_t outsize,
            int timeout_ms);

/* The actors every test daemon trusts (see gkt_daemon_start). */
#define GKT_ACTORS 3
extern const char *const gkt_actor_ids[GKT_ACTORS]; /* "rita", "owen", "vic" */

/* A daemon started by gkt_daemon_start. */
typedef struct gkt_daemon {
    pid_t pid;
    char dir[256];               /* the test's directory: keys, ready file, log */
    char key_path[PATH_MAX];     /* the signing key made for it */
    char jwks_path[PATH_MAX];    /* dir/keys/jwks.json */
    char log_path[PATH_MAX];     /* the daemon's stderr */
    char tcp_url[256];           /* tcp://127.0.0.1:<port the kernel chose> */
    char ipc_url[300];           /* ipc://<dir>/decide.sock */
    char admin_url[256];         /* the admin socket (tcp, kernel-chosen port) */
    char events_url[256];        /* the change-event socket (tcp, kernel-chosen port) */
    char telemetry_url[256];     /* the migration telemetry collector (tcp, kernel-chosen port) */
    char data_dir[300];          /* <dir>/data: the store */
    char actors_path[300];       /* <dir>/actors.json */
    char actor_key_path[GKT_ACTORS][400]; /* <dir>/actors/<id>.jwk, private, mode 0600 */
    unsigned char actor_sk[GKT_ACTORS][64];
    char flags_path[4096];       /* the bootstrap flags file */
    const char *const *extra;    /* the caller's extra arguments (kept for restarts) */
} gkt_daemon;

/*
 * gkt_daemon_start - make a temp dir, a signing key and three actors (rita: team-platform,
 * release-manager and owner; owen: team-orders, owner; vic: team-growth, viewer), start
 * `gatekeeper serve`
 * with a data directory in the temp dir bootstrapped from `flags_path`, decisions on tcp port 0
 * and an ipc socket, admin, events and telemetry on tcp port 0, the policies of
 * tests/data/integration/policies, and any `extra` arguments (NULL-terminated, may be NULL; a
 * later --policies or --environment overrides),
 * and wait (at most 10 s) until it is serving. Returns 0, or -1 (the log is printed to stderr).
 */
int gkt_daemon_start(gkt_daemon *d, const char *flags_path, const char *const *extra);

/* gkt_daemon_signal - send a signal to the daemon. */
void gkt_daemon_signal(const gkt_daemon *d, int sig);

/*
 * gkt_daemon_stop - SIGTERM, wait at most 10 s (then SIGKILL), remove the directory.
 * Returns the daemon's exit status (128+signal if it had to be killed).
 */
int gkt_daemon_stop(gkt_daemon *d);

/* gkt_wait_exit - wait at most timeout_ms for `pid`; its exit status, or -1 on timeout. */
int gkt_wait_exit(pid_t pid, int timeout_ms);

/*
 * gkt_request - one nng REQ/REP round trip to `url` with a timeout in ms.
 * replyp: malloc'd, NUL-terminated reply (caller frees). Returns 0 or the nng error number.
 */
int gkt_request(const char *url, const char *req, size_t len, char **replyp, int timeout_ms);

/*
 * gkt_daemon_restart - stop the daemon (SIGTERM, or SIGKILL when `kill9`) and start it again on
 * the same directory, data and keys, with new ports. Returns 0 or -1.
 */
int gkt_daemon_restart(gkt_daemon *d, int kill9);

/*
 * gkt_admin - send one admin request signed by actor `actor` (an index into gkt_actor_ids):
 * op, args as JSON text (NULL: {}), why (may be NULL), base (0: none). replyp: the reply text,
 * malloc'd. Returns 0 or an nng error number.
 */
int gkt_admin(const gkt_daemon *d, int actor, const char *op, const char *args_json,
              const char *why, unsigned long long base, char **replyp);

/* gkt_log_contains - 1 if the daemon's log contains `needle` (waits up to timeout_ms for it). */
int gkt_log_contains(const gkt_daemon *d, const char *needle, int timeout_ms);

#endif
