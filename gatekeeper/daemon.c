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

#include <sodium.h>

#include "decide.h"
#include "log.h"
#include "server.h"
#include "signer.h"
#include "slot.h"
#include "snapshot.h"
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

/* gkd_slot adapters for the two kinds of object the daemon swaps. */
static void *
snapshot_hold(void *snap)
{
    return gkd_snapshot_hold(snap);
}

static void
snapshot_rele(void *snap)
{
    gkd_snapshot_rele(snap);
}

static void *
policies_hold(void *set)
{
    return set != NULL ? gkd_policy_set_hold(set) : NULL;
}

static void
policies_rele(void *set)
{
    gkd_policy_set_rele(set);
}

/* Loads the flags file as snapshot `version` and makes it current; the old one stays on failure. */
static int
load_flags(gkd_slot *slot, const char *path, uint64_t version)
{
    gk_diag diag = {0};
    gkd_snapshot *snap = NULL;

    if (gkd_snapshot_load_file(&snap, path, version, &diag) != GK_OK) {
        log_diag("flags file refused", &diag);
        return -1;
    }
    gkd_log(GKD_LOG_INFO, "loaded %zu flags from %s as snapshot version %llu",
            gkd_snapshot_count(snap), path, (unsigned long long) version);
    gkd_slot_swap_take(slot, snap);
    return 0;
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

/* Writes the bound URLs, one per line, atomically (tests and scripts wait for this file). */
static int
write_ready_file(const char *path, char *const *bound, size_t n)
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
    return 0;
}

/* Waits for signals: HUP reloads the flags and the policies, INT/TERM return. */
static void
signal_loop(const sigset_t *set, gkd_slot *snapshots, gkd_slot *policies,
            const gkd_daemon_config *config, uint64_t *version)
{
    int sig;

    for (;;) {
        if (sigwait(set, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            gkd_log(GKD_LOG_INFO, "SIGHUP: reloading %s and %s", config->flags_path,
                    config->policies_dir);
            if (load_flags(snapshots, config->flags_path, *version + 1) == 0) {
                (*version)++;
            } else {
                gkd_log(GKD_LOG_WARN, "still serving snapshot version %llu",
                        (unsigned long long) *version);
            }
            if (load_policies(policies, config->policies_dir, &config->policy_limits) != 0) {
                gkd_log(GKD_LOG_WARN, "still serving the previous policies");
            }
            continue;
        }
        gkd_log(GKD_LOG_INFO, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
}

int
gkd_daemon_run(const gkd_daemon_config *config)
{
    gkd_slot snapshots, policies;
    gkd_signer *signer = NULL;
    gkd_server *server = NULL;
    char *bound[GKD_DAEMON_MAX_URLS] = {0};
    gk_diag diag = {0};
    gkd_decider decider;
    uint64_t version = 1;
    sigset_t set;
    int status = 1, ready = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (sodium_init() < 0 || gkd_slot_init(&snapshots, snapshot_hold, snapshot_rele) != GK_OK) {
        gkd_log(GKD_LOG_ERROR, "cannot initialise libsodium");
        return 1;
    }
    if (gkd_slot_init(&policies, policies_hold, policies_rele) != GK_OK) {
        gkd_slot_fini(&snapshots);
        return 1;
    }
    if (open_signer(&signer, config) != 0 ||
        load_flags(&snapshots, config->flags_path, version) != 0 ||
        load_policies(&policies, config->policies_dir, &config->policy_limits) != 0) {
        goto done;
    }
    decider.snapshots = &snapshots;
    decider.policies = &policies;
    decider.signer = signer;
    decider.token_ttl_s = config->token_ttl_s;
    randombytes_buf(decider.log_key, sizeof(decider.log_key));
    if (gkd_server_open(&server, config->urls, config->nurls, config->nworkers, &decider, bound,
                        &diag) != GK_OK) {
        log_diag("cannot serve decisions", &diag);
        goto done;
    }
    for (size_t i = 0; i < config->nurls; i++) {
        gkd_log(GKD_LOG_INFO, "serving decisions on %s (%zu workers)", bound[i], config->nworkers);
    }
    if (config->ready_file != NULL &&
        write_ready_file(config->ready_file, bound, config->nurls) != 0) {
        gkd_log(GKD_LOG_ERROR, "cannot write the ready file %s", config->ready_file);
        goto done;
    }
    ready = config->ready_file != NULL;
    signal_loop(&set, &snapshots, &policies, config, &version);
    status = 0;
done:
    gkd_server_close(server);
    for (size_t i = 0; i < config->nurls; i++) {
        free(bound[i]);
    }
    /* Only our own: a daemon that failed to start must not remove a running one's file. */
    if (ready) {
        unlink(config->ready_file);
    }
    gkd_signer_free(signer);
    gkd_slot_fini(&policies);
    gkd_slot_fini(&snapshots);
    if (status == 0) {
        gkd_log(GKD_LOG_INFO, "stopped");
    }
    return status;
}
