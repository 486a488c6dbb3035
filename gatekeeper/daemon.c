/*
 * daemon.c - the serve loop: start-up in dependency order, then a signal loop on the main thread.
 *
 * Signals are blocked before nng starts its threads and taken with sigwait() here, so no handler
 * ever runs inside the request path and reload happens on an ordinary thread.
 */
#include "daemon.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#include <sodium.h>

#include "actors.h"
#include "admin_server.h"
#include "bootstrap.h"
#include "decide.h"
#include "log.h"
#include "publisher.h"
#include "server.h"
#include "sessions.h"
#include "signer.h"
#include "slot.h"
#include "snapshot.h"
#include "store.h"
#include "telemetry.h"
#include "vocab.h"

static void
log_diag(const char *what, const gk_diag *diag)
{
    if (diag->line > 0) {
        gkd_log(GKD_LOG_ERROR, "%s: %s:%d: %s", what, diag->source, diag->line, diag->text);
    } else if (diag->source[0] != '\0') {
        gkd_log(GKD_LOG_ERROR, "%s: %s: %s", what, diag->source, diag->text);
    } else {
        gkd_log(GKD_LOG_ERROR, "%s: %s", what, diag->text[0] ? diag->text : gkp_strerror(diag->code));
    }
}

/*
 * Gives the heap's free memory back to the kernel. Start-up peaks well above the steady state
 * (verifying the journal parses every record, the bootstrap parses the flags file, and the policy
 * tests run), and glibc keeps what was freed as resident memory. Called once, when serving.
 */
static void
trim_heap(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/*
 * Opens the data directory (verifying the journal), bootstraps an empty one from the flags file,
 * and makes the stored state the first snapshot.
 */
static int
open_store(gkd_store **storep, gkd_slot *snapshots, const gkd_signer *signer,
           const gkd_daemon_config *config)
{
    json_t *jwks = gkd_signer_jwks(signer), *state = NULL;
    gkp_jwks *trusted = NULL;
    gkd_snapshot *snap = NULL;
    gk_diag diag = {0};
    uint64_t version = 0;
    gk_err rv;

    rv = jwks != NULL ? gkp_jwks_parse(&trusted, jwks, "signing keys", &diag) : GK_ENOMEM;
    json_decref(jwks);
    if (rv == GK_OK) {
        rv = gkd_store_dir_open(storep, config->data_dir, signer, trusted,
                                config->recover_journal, &diag);
    }
    gkp_jwks_free(trusted);
    if (rv == GK_OK) {
        rv = (*storep)->ops->load(*storep, &state, &version, &diag);
    }
    if (rv == GK_OK && version == 0 && config->flags_path != NULL) {
        json_decref(state);
        state = NULL;
        rv = gkd_bootstrap_apply(*storep, config->flags_path, &diag);
        if (rv == GK_OK) {
            gkd_log(GKD_LOG_INFO, "bootstrapped %s from %s", config->data_dir, config->flags_path);
            rv = (*storep)->ops->load(*storep, &state, &version, &diag);
        }
    }
    if (rv == GK_OK) {
        /*
         * Built on the loaded state itself: its maps are ours, and the definitions it shares
         * with the store are never modified (store.h), so readers need no lock and no copy.
         */
        rv = gkd_snapshot_build(&snap, state, version, config->data_dir, &diag);
    }
    json_decref(state);
    if (rv != GK_OK) {
        log_diag("cannot open the data directory", &diag);
        return -1;
    }
    gkd_log(GKD_LOG_INFO, "state version %llu from %s: %zu flags", (unsigned long long) version,
            config->data_dir, gkd_snapshot_count(snap));
    gkd_slot_swap_take(snapshots, snap);
    return 0;
}

/* Loads the actors file (none configured: nobody may change anything). */
static gkd_actors *
load_actors(const gkd_daemon_config *config)
{
    gkd_actors *actors = NULL;
    gk_diag diag = {0};

    if (config->actors_path == NULL) {
        gkd_log(GKD_LOG_WARN, "no --actors file: every admin request will be refused");
        return gkd_actors_empty(&actors) == GK_OK ? actors : NULL;
    }
    if (gkd_actors_load(&actors, config->actors_path, &diag) != GK_OK) {
        log_diag("actors file refused", &diag);
        return NULL;
    }
    gkd_log(GKD_LOG_INFO, "%zu actors from %s", gkd_actors_count(actors), config->actors_path);
    return actors;
}

/*
 * Loads the policy directory and runs its tests (DIR/tests) in scratch states; only a set whose
 * tests all pass becomes current. The old set stays on failure.
 */
static int
load_policies(gkd_slot *slot, const char *dir, const gkd_policy_limits *limits)
{
    char tests[4096];
    gkd_policy_set *set = NULL;
    gk_diag diag = {0};
    size_t passed = 0, failed = 0;

    if (gkd_policy_set_load(&set, dir, limits, &diag) != GK_OK) {
        log_diag("policies refused", &diag);
        return -1;
    }
    snprintf(tests, sizeof(tests), "%s/tests", dir);
    if (gkd_policy_set_test(set, tests, &passed, &failed, &diag) != GK_OK) {
        log_diag("policies refused: a policy test failed", &diag);
        gkd_policy_set_rele(set);
        return -1;
    }
    gkd_log(GKD_LOG_INFO, "loaded %zu policies from %s (%zu tests passed)",
            gkd_policy_set_count(set), dir, passed);
    gkd_slot_swap_take(slot, set);
    return 0;
}

/*
 * Writes the bound URLs atomically (tests and scripts wait for this file): the decision URLs one
 * per line, then "admin URL", "events URL" and "telemetry URL" lines.
 */
static int
write_ready_file(const char *path, char *const *bound, size_t n, char *const *admin,
                 size_t nadmin, char *const *events, size_t nevents, char *const *telemetry,
                 size_t ntelemetry)
{
    char tmp[4096];
    FILE *f;
    int ok;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s\n", bound[i]);
    }
    for (size_t i = 0; i < nadmin; i++) {
        fprintf(f, "admin %s\n", admin[i]);
    }
    for (size_t i = 0; i < nevents; i++) {
        fprintf(f, "events %s\n", events[i]);
    }
    for (size_t i = 0; i < ntelemetry; i++) {
        fprintf(f, "telemetry %s\n", telemetry[i]);
    }
    ok = fclose(f) == 0 && rename(tmp, path) == 0;
    return ok ? 0 : -1;
}

static int
open_signer(gkd_signer **signerp, const gkd_daemon_config *config)
{
    gk_diag diag = {0};

    if (gkd_signer_new(signerp) != GK_OK) {
        return -1;
    }
    for (size_t i = 0; i < config->nkeys; i++) {
        if (gkd_signer_add_key_file(*signerp, config->key_paths[i], &diag) != GK_OK) {
            log_diag("signing key refused", &diag);
            return -1;
        }
    }
    gkd_log(GKD_LOG_INFO, "signing with key %s (%zu key(s) published)", gkd_signer_kid(*signerp),
            gkd_signer_count(*signerp));
    if (config->nonce_pool > 0) {
        if (gkd_signer_presign(*signerp, config->nonce_pool, &diag) == GK_OK) {
            gkd_log(GKD_LOG_INFO, "computing up to %zu signature nonces ahead", config->nonce_pool);
        } else {
            /* Deterministic signing is the safe baseline: serve with it. */
            log_diag("no nonce pool, every signature made inline", &diag);
        }
    }
    return 0;
}

/* Waits for signals: HUP reloads the policies and the actors, INT/TERM return. */
static void
signal_loop(const sigset_t *set, gkd_slot *policies, gkd_admin_server *admin,
            const gkd_daemon_config *config)
{
    gkd_actors *actors;
    int sig;

    for (;;) {
        if (sigwait(set, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            gkd_log(GKD_LOG_INFO, "SIGHUP: reloading %s and the actors", config->policies_dir);
            if (load_policies(policies, config->policies_dir, &config->policy_limits) != 0) {
                gkd_log(GKD_LOG_WARN, "still serving the previous policies");
            }
            actors = load_actors(config);
            if (actors != NULL) {
                gkd_admin_server_set_actors(admin, actors);
            } else {
                gkd_log(GKD_LOG_WARN, "still using the previous actors");
            }
            continue;
        }
        gkd_log(GKD_LOG_INFO, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
}

/* Logs "serving <what> on URL" for each bound URL. */
static void
log_bound(const char *what, char *const *bound, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        gkd_log(GKD_LOG_INFO, "serving %s on %s", what, bound[i]);
    }
}

static void
free_bound(char **bound, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(bound[i]);
        bound[i] = NULL;
    }
}

int
gkd_daemon_run(const gkd_daemon_config *config)
{
    gkd_slot snapshots, policies;
    gkd_signer *signer = NULL;
    gkd_store *store = NULL;
    gkd_publisher *publisher = NULL;
    gkd_telemetry *telemetry = NULL;
    gkd_admin_server *admin = NULL;
    gkd_server *server = NULL;
    gkd_actors *actors = NULL;
    gkd_sessions *sessions = NULL;
    char *bound[GKD_DAEMON_MAX_URLS] = {0}, *admin_bound[GKD_DAEMON_MAX_URLS] = {0};
    char *event_bound[GKD_DAEMON_MAX_URLS] = {0};
    char *telemetry_bound[GKD_DAEMON_MAX_URLS] = {0};
    size_t ntelemetry = 0;
    gk_diag diag = {0};
    gkd_decider decider;
    sigset_t set;
    int status = 1, ready = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (sodium_init() < 0 || gkd_snapshot_slot_init(&snapshots) != GK_OK) {
        gkd_log(GKD_LOG_ERROR, "cannot initialise libsodium");
        return 1;
    }
    if (gkd_policy_set_slot_init(&policies) != GK_OK) {
        gkd_slot_fini(&snapshots);
        return 1;
    }
    if (open_signer(&signer, config) != 0 ||
        load_policies(&policies, config->policies_dir, &config->policy_limits) != 0 ||
        open_store(&store, &snapshots, signer, config) != 0 || (actors = load_actors(config)) == NULL) {
        goto done;
    }
    if (gkd_publisher_open(&publisher, config->event_urls, config->nevents, event_bound,
                           &diag) != GK_OK) {
        log_diag("cannot publish change events", &diag);
        goto done;
    }
    if (config->ntelemetry > 0) {
        gk_diag tdiag = {0};

        if (gkd_telemetry_open(&telemetry, config->telemetry_urls, config->ntelemetry,
                               telemetry_bound, &tdiag) == GK_OK) {
            ntelemetry = config->ntelemetry;
        } else if (config->telemetry_default) {
            /* Telemetry only informs; the default port may belong to another gatekeeper. */
            gkd_log(GKD_LOG_WARN, "not collecting migration telemetry: %s (give --telemetry-listen)",
                    tdiag.text[0] != '\0' ? tdiag.text : gkp_strerror(tdiag.code));
        } else {
            log_diag("cannot collect migration telemetry", &tdiag);
            goto done;
        }
    }
    {
        const gkd_admin_server_config ac = {
            .urls = config->admin_urls,
            .nurls = config->nadmin,
            .store = store,
            .snapshots = &snapshots,
            .policies = &policies,
            .publisher = publisher,
            .environment = config->environment,
            .tls_cert = config->admin_tls_cert,
            .telemetry = telemetry,
            .nonce_pool = gkd_signer_presigner(signer),
        };
        gk_err rv = gkd_admin_server_open(&admin, &ac, actors, admin_bound, &diag);
        actors = NULL; /* taken */
        if (rv != GK_OK) {
            log_diag("cannot serve the admin socket", &diag);
            goto done;
        }
    }
    if (gkd_sessions_new(&sessions) != GK_OK) {
        gkd_log(GKD_LOG_ERROR, "out of memory for the decision sessions");
        goto done;
    }
    decider.snapshots = &snapshots;
    decider.policies = &policies;
    decider.signer = signer;
    decider.sessions = sessions;
    decider.token_ttl_s = config->token_ttl_s;
    randombytes_buf(decider.log_key, sizeof(decider.log_key));
    if (gkd_server_open(&server, config->urls, config->nurls, config->nworkers, &decider, bound,
                        &diag) != GK_OK) {
        log_diag("cannot serve decisions", &diag);
        goto done;
    }
    log_bound("decisions", bound, config->nurls);
    log_bound("admin requests", admin_bound, config->nadmin);
    log_bound("change events", event_bound, config->nevents);
    log_bound("migration telemetry", telemetry_bound, ntelemetry);
    if (config->ready_file != NULL &&
        write_ready_file(config->ready_file, bound, config->nurls, admin_bound, config->nadmin,
                         event_bound, config->nevents, telemetry_bound, ntelemetry) != 0) {
        gkd_log(GKD_LOG_ERROR, "cannot write the ready file %s", config->ready_file);
        goto done;
    }
    ready = config->ready_file != NULL;
    trim_heap();
    signal_loop(&set, &policies, admin, config);
    status = 0;
done:
    gkd_server_close(server);
    gkd_admin_server_close(admin);
    gkd_publisher_close(publisher);
    gkd_telemetry_close(telemetry);
    gkd_store_close(store);
    gkd_actors_free(actors);
    free_bound(bound, config->nurls);
    free_bound(admin_bound, config->nadmin);
    free_bound(event_bound, config->nevents);
    free_bound(telemetry_bound, ntelemetry);
    /* Only our own: a daemon that failed to start must not remove a running one's file. */
    if (ready) {
        unlink(config->ready_file);
    }
    gkd_sessions_free(sessions);
    gkd_signer_free(signer);
    gkd_slot_fini(&policies);
    gkd_slot_fini(&snapshots);
    if (status == 0) {
        gkd_log(GKD_LOG_INFO, "stopped");
    }
    return status;
}
