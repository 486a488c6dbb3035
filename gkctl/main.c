/*
 * main.c - gkctl: dispatch to a command group, global options, usage.
 *
 *   gkctl [--json] [-v] policy test [DIR]
 *   gkctl [--json] [-v] policy eval HOOK --input FILE [--policies DIR]
 *   gkctl [--json] [-v] schema check --mode MODE NEW.avsc PREV.avsc... [--policies DIR]
 *   gkctl [--json] actor keygen ... ; flag ... ; apply ... ; rollout ... ; kill ... ; unkill ... ;
 *         optin ... ; status ... ; audit ... ; schema register|list|get|diff ... ;
 *         consumer register ... ; backfill done ...   (the admin commands: docs/gkctl.md)
 *
 * --json and -v may also follow the command. Colour only when stdout is a TTY and NO_COLOR is
 * unset. Exit codes: 0 ok, 1 failure, 2 misuse or invalid input, 3-7 the admin outcomes
 * (gkctl.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "gkctl.h"
#include "log.h"

int
gkctl_usage(void)
{
    fputs("usage: gkctl [--json] [-v] <command>\n"
          "\n"
          "policies and schemas (no gatekeeper needed):\n"
          "  policy test [DIR]\n"
          "      load the policies of DIR (default: policies) and run DIR/tests/*_test.lua;\n"
          "      prints every failure as file:line and ends with \"N passed, N failed\"\n"
          "  policy eval HOOK --input FILE [--policies DIR]\n"
          "      run HOOK (authorize, on_change, on_evaluate, mask) with the arguments in the\n"
          "      JSON object FILE ({\"req\"} / {\"change\",\"state\"} /\n"
          "      {\"ctx\",\"flag\",\"proposal\",\"state\"} / {\"kind\",\"record\"}); prints the\n"
          "      combined verdict and the explain trace (exit 1 when a policy failed)\n"
          "  schema check --mode MODE NEW.avsc PREV.avsc... [--policies DIR]\n"
          "      check NEW against the previous versions (oldest first) with compatibility.lua;\n"
          "      MODE is BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL,\n"
          "      FULL_TRANSITIVE or NONE; exit 0 compatible, 1 incompatible, 2 invalid input\n"
          "  actor keygen --id ID --team TEAM --roles r1,r2 --out DIR [--actors FILE]\n"
          "      write DIR/ID.jwk (private key, mode 0600) and print the actors-file entry;\n"
          "      --actors adds (or replaces) the entry in FILE\n"
          "  audit verify --data-dir DIR --jwks FILE\n"
          "      verify DIR/journal.jsonl offline against the gatekeeper's JWKS\n"
          "\n"
          "admin commands (signed requests to the gatekeeper's admin socket; changes need --why):\n"
          "  flag apply FILE [--dry-run]      (also: apply FILE) create/update the flags of FILE\n"
          "  flag get KEY | flag list | flag delete KEY\n"
          "  rollout set FLAG --percent P [--variant V] | --variant-weights a=30,b=70\n"
          "  rollout plan FLAG --steps 1,5,25,100 --hold 10m [--variant V]\n"
          "  rollout advance FLAG [--force] | rollout pause|resume|back FLAG\n"
          "  kill FLAG | unkill FLAG | optin add|remove FLAG CONSUMER\n"
          "  status [FLAG]      (migration flags: stages, backfill, consumers)\n"
          "  schema register NAME FILE.avsc [--mode MODE] [--pii f1,f2] [--owner TEAM]\n"
          "  schema list | schema get NAME [--version N] | schema diff NAME V1 V2\n"
          "  consumer register NAME --schema S --supports 1,2 --owner TEAM [--clearances c1,c2]\n"
          "  backfill done FLAG\n"
          "  audit log [--flag F] [--since SEQ|TIME] [--limit N] | audit show SEQ | audit verify\n",
          stderr);
    fputs(gkctl_admin_usage_text, stderr);
    fputs("\n"
          "options: --json  machine-readable output;  -v, --verbose  show policy log lines\n"
          "exit codes: 0 ok, 1 failure, 2 misuse or invalid input, 3 denied by a policy,\n"
          "  4 conflict (the state moved), 5 not authenticated (unknown actor, bad signature,\n"
          "  clock skew, replay), 6 not found, 7 gatekeeper unreachable\n"
          "see docs/gkctl.md\n",
          stderr);
    return GKCTL_USAGE;
}

const char *
gkctl_color(const gkctl_opts *o, const char *code)
{
    static char buf[4][16];
    static int next;
    char *b;

    if (!o->color) {
        return "";
    }
    b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "\033[%.8sm", code);
    return b;
}

void
gkctl_print_json(json_t *v)
{
    char *s = v != NULL ? json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;

    if (s != NULL) {
        puts(s);
        free(s);
    }
    json_decref(v);
}

int
main(int argc, char **argv)
{
    gkctl_opts o = {0, 0, 0};
    char **args;
    int n = 0;

    if (sodium_init() < 0) { /* before any sodium_malloc (keys) or randombytes (jti) */
        fputs("gkctl: cannot initialise libsodium\n", stderr);
        return GKCTL_FAIL;
    }
    args = calloc((size_t) argc + 1, sizeof *args);
    if (args == NULL) {
        fputs("gkctl: out of memory\n", stderr);
        return GKCTL_FAIL;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            o.json = 1;
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            o.verbose = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            free(args);
            gkctl_usage();
            return GKCTL_OK;
        } else {
            args[n++] = argv[i];
        }
    }
    o.color = !o.json && isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
    gkd_log_set_level(o.verbose ? GKD_LOG_DEBUG : GKD_LOG_ERROR);
    int rc;
    if (n >= 2 && strcmp(args[0], "policy") == 0) {
        rc = gkctl_policy_main(n - 1, args + 1, &o);
    } else if (n >= 2 && strcmp(args[0], "schema") == 0) {
        rc = gkctl_schema_main(n - 1, args + 1, &o);
    } else if (n >= 2 && strcmp(args[0], "actor") == 0) {
        rc = gkctl_actor_main(n - 1, args + 1, &o);
    } else if (n >= 2 && strcmp(args[0], "flag") == 0) {
        rc = gkctl_flag_main(n - 1, args + 1, &o);
    } else if (n >= 1 && strcmp(args[0], "apply") == 0) {
        rc = gkctl_flag_main(n, args, &o);
    } else if (n >= 2 && strcmp(args[0], "rollout") == 0) {
        rc = gkctl_rollout_main(n - 1, args + 1, &o);
    } else if (n >= 1 && (strcmp(args[0], "kill") == 0 || strcmp(args[0], "unkill") == 0 ||
                          strcmp(args[0], "optin") == 0)) {
        rc = gkctl_rollout_main(n, args, &o);
    } else if (n >= 1 && strcmp(args[0], "status") == 0) {
        rc = gkctl_status_main(n, args, &o);
    } else if (n >= 2 && strcmp(args[0], "consumer") == 0) {
        rc = gkctl_consumer_main(n - 1, args + 1, &o);
    } else if (n >= 2 && strcmp(args[0], "backfill") == 0) {
        rc = gkctl_backfill_main(n - 1, args + 1, &o);
    } else if (n >= 2 && strcmp(args[0], "audit") == 0) {
        rc = gkctl_audit_main(n - 1, args + 1, &o);
    } else {
        if (n >= 1) {
            fprintf(stderr, "gkctl: unknown command \"%s%s%s\"\n", args[0], n >= 2 ? " " : "",
                    n >= 2 ? args[1] : "");
        }
        rc = gkctl_usage();
    }
    free(args);
    return rc;
}
