/*
 * main.c - the gatekeeper command line: argument parsing and dispatch to the subcommands
 *   gatekeeper serve   --key FILE [--key FILE...] [--data-dir DIR] [--flags FILE] [options]
 *   gatekeeper keygen  --out DIR
 *   gatekeeper jwks    --key FILE [--key FILE...]
 *   gatekeeper version
 * Exit status: 0 success, 1 failure (the reason is printed), 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "admin_server.h"
#include "daemon.h"
#include "decide.h"
#include "keyfile.h"
#include "log.h"
#include "publisher.h"
#include "server.h"
#include "signer.h"
#include "telemetry.h"
#include "vocab.h"

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: gatekeeper <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve    serve signed flag decisions over nng\n"
    "             --key FILE          private signing key (JWK); repeat to publish more keys,\n"
    "                                 the first one signs                        required\n"
    "             --data-dir DIR      the store: journal (the audit log), snapshots, lock\n"
    "                                 default gatekeeper-data\n"
    "             --flags FILE        flags file (docs/flags.md) applied as the first change\n"
    "                                 when the data directory is empty\n"
    "             --recover-journal   start even if the journal is corrupt: cut it back to the\n"
    "                                 last record that verifies (the rest is kept aside)\n"
    "             --actors FILE       who may sign admin requests (gkctl actor keygen)\n"
    "             --environment NAME  environment the policies see, default prod\n"
    "             --listen URL        decision endpoint, repeatable (tcp:// or ipc://)\n"
    "                                 default " GKD_SERVER_DEFAULT_URL "\n"
    "             --admin-listen URL  admin endpoint, repeatable, default " GKD_ADMIN_DEFAULT_URL "\n"
    "                                 (tls+tcp://HOST:PORT needs --admin-tls-cert)\n"
    "             --admin-tls-cert FILE  PEM certificate and private key for tls+tcp:// admin\n"
    "             --events-listen URL change events (PUB), repeatable, default "
    GKD_PUBLISHER_DEFAULT_URL "\n"
    "             --telemetry-listen URL\n"
    "                                 SDK migration telemetry (PULL), repeatable, default\n"
    "                                 " GKD_TELEMETRY_DEFAULT_URL " (skipped with a warning when in use)\n"
    "             --workers N         concurrent decision workers (1-1024), default 2 per CPU\n"
    "             --token-ttl SECONDS decision token lifetime (1-86400), default 300\n"
    "             --nonce-pool N      compute up to N Ed25519 nonces ahead (0-65536): signing a\n"
    "                                 decision drops from ~18 to ~2 us; never snapshot or clone a\n"
    "                                 running gatekeeper that has one. Default 0: RFC 8032\n"
    "                                 deterministic signatures, made inline\n"
    "             --ready-file PATH   write the bound URLs here once serving\n"
    "             --policies DIR      Lua policy directory; DIR/tests must pass  default policies\n"
    "             --policy-instructions N   Lua instructions per hook call, default 1000000\n"
    "             --policy-timeout-ms N     wall-clock ms per hook call, default 50\n"
    "             --policy-memory-mib N     memory cap per policy state in MiB, default 32\n"
    "             --log-level LEVEL   debug, info, warn or error; default info\n"
    "  keygen   make an Ed25519 signing key: --out DIR writes DIR/<kid>.jwk (mode 0600)\n"
    "           and adds its public key to DIR/jwks.json\n"
    "  jwks     print the public JWKS of the given --key files\n"
    "  version  print the version\n"
    "\n"
    "signals (serve): SIGHUP re-reads the policies and the actors; SIGINT/SIGTERM stop.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "gatekeeper: <message>" and the pointer to --help; returns the usage exit status. */
static int
usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("gatekeeper: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nrun `gatekeeper --help` for usage\n", stderr);
    return EXIT_USAGE;
}

/* Parses a decimal integer in [min, max]; -1 when `text` is not one. */
static long
parse_range(const char *text, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
        return -1;
    }
    return v;
}

static size_t
default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n > 0 ? (size_t) n * 2 : 2;
}

enum {
    OPT_FLAGS = 1,
    OPT_KEY,
    OPT_LISTEN,
    OPT_WORKERS,
    OPT_NONCE_POOL,
    OPT_TTL,
    OPT_READY,
    OPT_LOG,
    OPT_OUT,
    OPT_POLICIES,
    OPT_POLICY_INSNS,
    OPT_POLICY_TIMEOUT,
    OPT_POLICY_MEMORY,
    OPT_DATA_DIR,
    OPT_RECOVER,
    OPT_ACTORS,
    OPT_ADMIN_LISTEN,
    OPT_EVENTS_LISTEN,
    OPT_TELEMETRY_LISTEN,
    OPT_ENVIRONMENT,
    OPT_ADMIN_TLS_CERT,
};

static const struct option long_options[] = {
    {"flags", required_argument, NULL, OPT_FLAGS},
    {"key", required_argument, NULL, OPT_KEY},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"token-ttl", required_argument, NULL, OPT_TTL},
    {"nonce-pool", required_argument, NULL, OPT_NONCE_POOL},
    {"ready-file", required_argument, NULL, OPT_READY},
    {"log-level", required_argument, NULL, OPT_LOG},
    {"out", required_argument, NULL, OPT_OUT},
    {"policies", required_argument, NULL, OPT_POLICIES},
    {"policy-instructions", required_argument, NULL, OPT_POLICY_INSNS},
    {"policy-timeout-ms", required_argument, NULL, OPT_POLICY_TIMEOUT},
    {"policy-memory-mib", required_argument, NULL, OPT_POLICY_MEMORY},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"recover-journal", no_argument, NULL, OPT_RECOVER},
    {"actors", required_argument, NULL, OPT_ACTORS},
    {"admin-listen", required_argument, NULL, OPT_ADMIN_LISTEN},
    {"events-listen", required_argument, NULL, OPT_EVENTS_LISTEN},
    {"telemetry-listen", required_argument, NULL, OPT_TELEMETRY_LISTEN},
    {"environment", required_argument, NULL, OPT_ENVIRONMENT},
    {"admin-tls-cert", required_argument, NULL, OPT_ADMIN_TLS_CERT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Appends a URL to a listen list; -1 when it is full. */
static int
add_url(const char **urls, size_t *n, const char *url)
{
    if (*n == GKD_DAEMON_MAX_URLS) {
        return -1;
    }
    urls[(*n)++] = url;
    return 0;
}

/* Options common to the commands; each command checks the ones it needs. */
typedef struct cli {
    gkd_daemon_config serve;
    const char *out;
} cli;

static int
parse_options(cli *c, int argc, char **argv)
{
    gkd_log_level level;
    long v;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (opt) {
        case OPT_FLAGS:
            c->serve.flags_path = optarg;
            break;
        case OPT_KEY:
            if (c->serve.nkeys == GKD_DAEMON_MAX_KEYS) {
                return usage_error("at most %d --key options", GKD_DAEMON_MAX_KEYS);
            }
            c->serve.key_paths[c->serve.nkeys++] = optarg;
            break;
        case OPT_LISTEN:
            if (add_url(c->serve.urls, &c->serve.nurls, optarg) != 0) {
                return usage_error("at most %d --listen options", GKD_DAEMON_MAX_URLS);
            }
            break;
        case OPT_WORKERS:
            v = parse_range(optarg, 1, 1024);
            if (v < 0) {
                return usage_error("--workers %s: give a number from 1 to 1024", optarg);
            }
            c->serve.nworkers = (size_t) v;
            break;
        case OPT_NONCE_POOL:
            v = parse_range(optarg, 0, 65536);
            if (v < 0) {
                return usage_error("--nonce-pool %s: give a number of nonces from 0 to 65536",
                                   optarg);
            }
            c->serve.nonce_pool = (size_t) v;
            break;
        case OPT_TTL:
            v = parse_range(optarg, 1, 86400);
            if (v < 0) {
                return usage_error("--token-ttl %s: give seconds from 1 to 86400", optarg);
            }
            c->serve.token_ttl_s = (uint32_t) v;
            break;
        case OPT_READY:
            c->serve.ready_file = optarg;
            break;
        case OPT_LOG:
            if (gkd_log_parse_level(optarg, &level) != 0) {
                return usage_error("--log-level %s: use debug, info, warn or error", optarg);
            }
            gkd_log_set_level(level);
            break;
        case OPT_OUT:
            c->out = optarg;
            break;
        case OPT_POLICIES:
            c->serve.policies_dir = optarg;
            break;
        case OPT_DATA_DIR:
            c->serve.data_dir = optarg;
            break;
        case OPT_RECOVER:
            c->serve.recover_journal = 1;
            break;
        case OPT_ACTORS:
            c->serve.actors_path = optarg;
            break;
        case OPT_ADMIN_LISTEN:
        case OPT_EVENTS_LISTEN:
            if (add_url(opt == OPT_ADMIN_LISTEN ? c->serve.admin_urls : c->serve.event_urls,
                        opt == OPT_ADMIN_LISTEN ? &c->serve.nadmin : &c->serve.nevents,
                        optarg) != 0) {
                return usage_error("at most %d URLs per listen option", GKD_DAEMON_MAX_URLS);
            }
            break;
        case OPT_TELEMETRY_LISTEN:
            if (add_url(c->serve.telemetry_urls, &c->serve.ntelemetry, optarg) != 0) {
                return usage_error("at most %d URLs per listen option", GKD_DAEMON_MAX_URLS);
            }
            break;
        case OPT_ENVIRONMENT:
            c->serve.environment = optarg;
            break;
        case OPT_ADMIN_TLS_CERT:
            c->serve.admin_tls_cert = optarg;
            break;
        case OPT_POLICY_INSNS:
            v = parse_range(optarg, 1000, 1000000000L);
            if (v < 0) {
                return usage_error("--policy-instructions %s: give 1000 to 1000000000", optarg);
            }
            c->serve.policy_limits.instructions = (uint64_t) v;
            break;
        case OPT_POLICY_TIMEOUT:
            v = parse_range(optarg, 1, 60000);
            if (v < 0) {
                return usage_error("--policy-timeout-ms %s: give 1 to 60000 ms", optarg);
            }
            c->serve.policy_limits.timeout_ms = (uint32_t) v;
            break;
        case OPT_POLICY_MEMORY:
            v = parse_range(optarg, 1, 4096);
            if (v < 0) {
                return usage_error("--policy-memory-mib %s: give 1 to 4096 MiB", optarg);
            }
            c->serve.policy_limits.memory_bytes = (size_t) v * 1024 * 1024;
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(0);
        default:
            return usage_error("%s", "unknown or incomplete option (getopt printed which)");
        }
    }
    if (optind < argc) {
        return usage_error("unexpected argument '%s'", argv[optind]);
    }
    return 0;
}

static int
cmd_serve(cli *c)
{
    if (c->serve.nkeys == 0) {
        return usage_error("serve needs %s", "--key FILE (make one with `gatekeeper keygen`)");
    }
    if (c->serve.nurls == 0) {
        c->serve.urls[c->serve.nurls++] = GKD_SERVER_DEFAULT_URL;
    }
    if (c->serve.nworkers == 0) {
        c->serve.nworkers = default_workers();
    }
    if (c->serve.token_ttl_s == 0) {
        c->serve.token_ttl_s = GKD_TOKEN_TTL_DEFAULT_S;
    }
    if (c->serve.policies_dir == NULL) {
        c->serve.policies_dir = "policies";
    }
    if (c->serve.data_dir == NULL) {
        c->serve.data_dir = "gatekeeper-data";
    }
    if (c->serve.nadmin == 0) {
        c->serve.admin_urls[c->serve.nadmin++] = GKD_ADMIN_DEFAULT_URL;
    }
    if (c->serve.nevents == 0) {
        c->serve.event_urls[c->serve.nevents++] = GKD_PUBLISHER_DEFAULT_URL;
    }
    if (c->serve.ntelemetry == 0) {
        c->serve.telemetry_urls[c->serve.ntelemetry++] = GKD_TELEMETRY_DEFAULT_URL;
        c->serve.telemetry_default = 1;
    }
    if (c->serve.environment == NULL) {
        c->serve.environment = "prod";
    }
    return gkd_daemon_run(&c->serve);
}

static void
print_diag(const char *what, const gk_diag *diag)
{
    fprintf(stderr, "gatekeeper: %s: %s%s%s\n", what, diag->source, diag->source[0] ? ": " : "",
            diag->text[0] ? diag->text : gkp_strerror(diag->code));
}

static int
cmd_keygen(const cli *c)
{
    char kid[GKP_KID_MAX], path[PATH_MAX];
    gk_diag diag = {0};

    if (c->out == NULL) {
        return usage_error("keygen needs %s", "--out DIR");
    }
    if (gkd_keyfile_generate(c->out, kid, path, &diag) != GK_OK) {
        print_diag("keygen failed", &diag);
        return 1;
    }
    printf("kid:         %s\nprivate key: %s (mode 0600; keep it secret)\npublic JWKS: %s/jwks.json\n",
           kid, path, c->out);
    return 0;
}

static int
cmd_jwks(const cli *c)
{
    gkd_signer *signer = NULL;
    gk_diag diag = {0};
    json_t *doc = NULL;
    int status = 1;

    if (c->serve.nkeys == 0) {
        return usage_error("jwks needs %s", "--key FILE");
    }
    if (gkd_signer_new(&signer) != GK_OK) {
        return 1;
    }
    for (size_t i = 0; i < c->serve.nkeys; i++) {
        if (gkd_signer_add_key_file(signer, c->serve.key_paths[i], &diag) != GK_OK) {
            print_diag("key refused", &diag);
            goto done;
        }
    }
    doc = gkd_signer_jwks(signer);
    if (doc != NULL && json_dumpf(doc, stdout, JSON_INDENT(2)) == 0) {
        putchar('\n');
        status = 0;
    }
done:
    json_decref(doc);
    gkd_signer_free(signer);
    return status;
}

int
main(int argc, char **argv)
{
    cli c;
    const char *cmd;
    int rv;

    memset(&c, 0, sizeof(c));
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    cmd = argv[1];
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("gatekeeper %d.%d.%d\n", GK_VERSION_MAJOR, GK_VERSION_MINOR, GK_VERSION_PATCH);
        return 0;
    }
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "keygen") != 0 && strcmp(cmd, "jwks") != 0) {
        return usage_error("unknown command '%s'; commands: serve, keygen, jwks, version", cmd);
    }
    if (sodium_init() < 0) {
        fputs("gatekeeper: cannot initialise libsodium\n", stderr);
        return 1;
    }
    rv = parse_options(&c, argc - 1, argv + 1);
    if (rv != 0) {
        return rv;
    }
    if (strcmp(cmd, "serve") == 0) {
        return cmd_serve(&c);
    }
    return strcmp(cmd, "keygen") == 0 ? cmd_keygen(&c) : cmd_jwks(&c);
}
