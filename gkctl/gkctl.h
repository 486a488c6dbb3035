/*
 * gkctl.h - shared pieces of the gkctl command groups (main.c dispatches to them).
 *
 * Exit codes: GKCTL_OK 0 success; GKCTL_FAIL 1 the check failed (a test failed, a policy does not
 * compile, a schema is incompatible, the gatekeeper failed); GKCTL_USAGE 2 misuse or invalid input;
 * 3..7 the admin commands' outcomes (gkp_admin_exit_code() in proto/admin.h, and 7 unreachable).
 *
 * THREAD SAFETY: single-threaded program.
 */
#ifndef GKCTL_H
#define GKCTL_H

#include <stdint.h>

#include <jansson.h>

enum {
    GKCTL_OK = 0,
    GKCTL_FAIL = 1,            /* a check failed; INTERNAL from the gatekeeper */
    GKCTL_USAGE = 2,           /* misuse, invalid input; INVALID_REQUEST */
    GKCTL_DENIED = 3,          /* a policy denied (DENIED) */
    GKCTL_CONFLICT = 4,        /* the state moved since --base (CONFLICT) */
    GKCTL_UNAUTHENTICATED = 5, /* UNAUTHENTICATED, STALE_REQUEST, REPLAYED */
    GKCTL_NOT_FOUND = 6,       /* no such flag or record (NOT_FOUND) */
    GKCTL_UNREACHABLE = 7,     /* no gatekeeper answered at the admin URL */
};

/* Where the admin commands find the gatekeeper unless --admin or GK_ADMIN_URL says otherwise. */
#define GKCTL_ADMIN_URL_DEFAULT "tcp://127.0.0.1:7401"
#define GKCTL_ADMIN_TIMEOUT_MS_DEFAULT 5000

/* gkctl_opts - options every command understands. */
typedef struct gkctl_opts {
    int json;    /* --json: machine-readable output on stdout */
    int color;   /* stdout is a TTY and NO_COLOR is unset */
    int verbose; /* -v/--verbose: show the daemon log (policy print/gk.log) on stderr */
} gkctl_opts;

/* gkctl_policy_main - `gkctl policy test|eval ...`; argv[0] is "test" or "eval". */
int gkctl_policy_main(int argc, char **argv, const gkctl_opts *o);

/* gkctl_schema_main - `gkctl schema check|register|list|get|diff ...`; argv[0] the subcommand. */
int gkctl_schema_main(int argc, char **argv, const gkctl_opts *o);

/* The schema registry (registry_cmd.c): `schema register|list|get|diff`, argv[0] as above. */
int gkctl_registry_schema_main(int argc, char **argv, const gkctl_opts *o);
int gkctl_consumer_main(int argc, char **argv, const gkctl_opts *o); /* consumer register */
int gkctl_backfill_main(int argc, char **argv, const gkctl_opts *o); /* backfill done */

/* The admin command groups (admin protocol v1, see proto/README.md); argv[0] is the subcommand. */
int gkctl_actor_main(int argc, char **argv, const gkctl_opts *o);   /* actor keygen */
int gkctl_flag_main(int argc, char **argv, const gkctl_opts *o);    /* apply, get, list, delete */
int gkctl_rollout_main(int argc, char **argv, const gkctl_opts *o); /* set, plan, advance, pause,
                                                                       resume, back; kill, unkill,
                                                                       optin (argv[0]) */
int gkctl_status_main(int argc, char **argv, const gkctl_opts *o);  /* argv[0] is "status" */
int gkctl_audit_main(int argc, char **argv, const gkctl_opts *o);   /* log, show, verify */

/* gkctl_admin_opts - how an admin command reaches and signs for the gatekeeper. */
typedef struct gkctl_admin_opts {
    const char *url;      /* --admin URL; NULL: $GK_ADMIN_URL, else GKCTL_ADMIN_URL_DEFAULT */
    const char *key_file; /* --key FILE; NULL: $GK_ACTOR_KEY_FILE, else the JWK in $GK_ACTOR_KEY */
    const char *why;      /* --why TEXT: the reason recorded with a change; NULL when none */
    uint64_t base;        /* --base N: the state version the change was computed from; 0 none */
    int timeout_ms;       /* --timeout-ms N; 0 means GKCTL_ADMIN_TIMEOUT_MS_DEFAULT */
    const char *ca_file;  /* --admin-ca FILE: PEM CA for tls+tcp://; NULL: $GK_ADMIN_CA_FILE */
} gkctl_admin_opts;

/*
 * gkctl_admin_opt - consume argv[*i] (and its value, advancing *i) when it is one of the options
 * every admin command takes: --admin URL, --key FILE, --why TEXT, --base N, --timeout-ms N,
 * --admin-ca FILE.
 * Returns 1 when consumed, 0 when argv[*i] is not one of them, -1 on a bad or missing value (the
 * message, prefixed with "gkctl CMD", is printed).
 */
int gkctl_admin_opt(gkctl_admin_opts *a, int argc, char **argv, int *i, const char *cmd);

/*
 * gkctl_admin_call - sign `op` with `args` (stolen, NULL means {}) as the actor whose key a names,
 * send it to the gatekeeper and wait for the reply.
 * change     the op changes state: without --why nothing is sent (exit 2, saying what to pass).
 * resultp    out on GKCTL_OK: the reply's result (a new reference; {} when the reply had none).
 * versionp   out on GKCTL_OK (optional): the reply's state version.
 * On failure the error is printed (on stderr with the message and what to do, every policy
 * verdict for DENIED; with --json as {"error","message","details"} on stdout) and the exit code
 * returned: gkp_admin_exit_code() for the gatekeeper's errors, GKCTL_USAGE for a missing reason or
 * key, GKCTL_UNREACHABLE when no gatekeeper answered, GKCTL_FAIL for a reply that is not one.
 */
int gkctl_admin_call(const gkctl_opts *o, const gkctl_admin_opts *a, const char *cmd,
                     const char *op, json_t *args, int change, json_t **resultp,
                     uint64_t *versionp);

/* gkctl_admin_usage - the options every admin command takes, for usage texts. */
extern const char gkctl_admin_usage_text[];

/*
 * gkctl_print_changes - print a result's "changes" readably: one line per change ("+ key
 * created", "~ key updated", "= key unchanged", "- key deleted") and, for an update, one line
 * per changed member ("    member: before -> after"). Returns the number of changes.
 */
size_t gkctl_print_changes(const gkctl_opts *o, const json_t *changes);

/* gkctl_change_kind - "create", "update", "unchanged" or "delete" for one change entry. */
const char *gkctl_change_kind(const json_t *change);

/* gkctl_str - the string value of v, or dflt when v is not a string. */
const char *gkctl_str(const json_t *v, const char *dflt);

/* gkctl_compact - v as compact JSON into buf (truncated with "..." to fit); returns buf. */
const char *gkctl_compact(char *buf, size_t size, const json_t *v);

/* gkctl_parse_u64 - a decimal integer 0..UINT64_MAX with nothing after it; 0 ok, -1 not one. */
int gkctl_parse_u64(const char *s, uint64_t *out);

/* gkctl_color - the ANSI sequence `code` (e.g. "31" red) when colour is on, else "". */
const char *gkctl_color(const gkctl_opts *o, const char *code);

/* gkctl_print_json - dump `v` to stdout (indented, sorted keys) and a newline; steals v. */
void gkctl_print_json(json_t *v);

/* gkctl_usage - print the usage text to stderr and return GKCTL_USAGE. */
int gkctl_usage(void);

#endif
