/*
 * gkctl.h - shared pieces of the gkctl command groups (main.c dispatches to them).
 *
 * Exit codes: GKCTL_OK 0 success; GKCTL_FAIL 1 the check failed (a test failed, a policy does not
 * compile, a schema is incompatible); GKCTL_USAGE 2 misuse or invalid input.
 *
 * THREAD SAFETY: single-threaded program.
 */
#ifndef GKCTL_H
#define GKCTL_H

#include <jansson.h>

enum { GKCTL_OK = 0, GKCTL_FAIL = 1, GKCTL_USAGE = 2 };

/* gkctl_opts - options every command understands. */
typedef struct gkctl_opts {
    int json;    /* --json: machine-readable output on stdout */
    int color;   /* stdout is a TTY and NO_COLOR is unset */
    int verbose; /* -v/--verbose: show the daemon log (policy print/gk.log) on stderr */
} gkctl_opts;

/* gkctl_policy_main - `gkctl policy test|eval ...`; argv[0] is "test" or "eval". */
int gkctl_policy_main(int argc, char **argv, const gkctl_opts *o);

/* gkctl_schema_main - `gkctl schema check ...`; argv[0] is "check". */
int gkctl_schema_main(int argc, char **argv, const gkctl_opts *o);

/* gkctl_color - the ANSI sequence `code` (e.g. "31" red) when colour is on, else "". */
const char *gkctl_color(const gkctl_opts *o, const char *code);

/* gkctl_print_json - dump `v` to stdout (indented, sorted keys) and a newline; steals v. */
void gkctl_print_json(json_t *v);

/* gkctl_usage - print the usage text to stderr and return GKCTL_USAGE. */
int gkctl_usage(void);

#endif
