/*
 * inproc.c - figures 4 and 5: the in-process cost of one decision (request bytes in, reply bytes
 * out: parse -> engine -> the shipped policies -> claims -> Ed25519 JWS -> reply), with no
 * transport, through gkd_decide_handle_timed on one thread, and the share of each stage; the
 * policies' stage alone is figure 5.
 *
 * The decider is built the way gatekeeper/daemon.c builds it: snapshot and policy-set slots, the
 * daemon's own signing key. Requests are the SDK's single-flag request for 1,000 tenants in turn,
 * each with its own nonce, so caches see realistic keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "bench.h"
#include "b64url.h"
#include "decide.h"
#include "log.h"
#include "msg.h"
#include "snapshot.h"

#define TENANTS  1000
#define MAX_REPS 5

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

/* TENANTS evaluate requests for GKB_FLAG, one per tenant; NULL on failure. */
static char **
make_requests(size_t *lens)
{
    static const char *const flags[] = {GKB_FLAG};
    char **reqs = calloc(TENANTS, sizeof(*reqs));

    for (int i = 0; reqs != NULL && i < TENANTS; i++) {
        char tenant[32], nonce[40];
        uint8_t bin[16];
        json_t *ctx;
        gk_err rv;

        snprintf(tenant, sizeof(tenant), "tenant-%d", i);
        randombytes_buf(bin, sizeof(bin));
        gkp_b64url_encode(nonce, sizeof(nonce), bin, sizeof(bin));
        ctx = json_pack("{s:s, s:s, s:s}", "targetingKey", tenant, "tenantId", tenant, "service",
                        GKB_SERVICE);
        rv = ctx != NULL ? gkp_request_encode_evaluate(&reqs[i], &lens[i], flags, 1, ctx, nonce)
                         : GK_ENOMEM;
        json_decref(ctx);
        if (rv != GK_OK) {
            for (int j = 0; j < i; j++) {
                free(reqs[j]);
            }
            free(reqs);
            reqs = NULL;
        }
    }
    return reqs;
}

static void
add_stage(gkb_run *run, const char *name, double *share, size_t reps)
{
    gkb_figure *f = gkb_figure_add(run, name, "%");

    if (f != NULL) {
        gkb_figure_set(f, share, reps);
    }
}

int
gkb_bench_inproc(gkb_run *run)
{
    gkb_figure *f_total = gkb_figure_add(run, "4 in-process decision", "us");
    gkb_figure *f_policy = gkb_figure_add(run, "5 policy overhead per decision", "us");
    char policies[4096];
    gkd_slot snapshots, policy_slot;
    gkd_snapshot *snap = NULL;
    gkd_policy_set *set = NULL;
    gkd_signer *signer = NULL;
    gkd_policy_vm *vm = NULL;
    gkd_decider decider;
    gk_diag diag = {0};
    size_t lens[TENANTS];
    char **reqs = NULL;
    long calls = run->quick ? 3000 : 30000;
    int reps = run->quick ? 3 : MAX_REPS;
    double total[MAX_REPS], policy[MAX_REPS];
    double shares[7][MAX_REPS];
    int slots = 0, ok = 1;

    if (f_total == NULL || f_policy == NULL) {
        return 0;
    }
    gkd_log_set_level(GKD_LOG_ERROR);
    snprintf(policies, sizeof(policies), "%s/policies", GKB_SOURCE_DIR);
    if (gkd_slot_init(&snapshots, snapshot_hold, snapshot_rele) != GK_OK) {
        return -1;
    }
    if (gkd_slot_init(&policy_slot, policies_hold, policies_rele) != GK_OK) {
        gkd_slot_fini(&snapshots);
        return -1;
    }
    slots = 1;
    if (gkd_snapshot_load_file(&snap, run->flags20_path, 1, &diag) != GK_OK ||
        gkd_policy_set_load(&set, policies, NULL, &diag) != GK_OK || gkd_signer_new(&signer) != GK_OK ||
        gkd_signer_add_key_file(signer, run->daemon.key_path, &diag) != GK_OK ||
        (reqs = make_requests(lens)) == NULL) {
        fprintf(stderr, "gk-bench: in-process decider: %s:%d: %s\n", diag.source, diag.line,
                diag.text);
        gkb_figure_not_measured(f_total, "the decider could not be built");
        gkb_figure_not_measured(f_policy, "the decider could not be built");
        ok = 0;
    }
    if (ok) {
        gkd_slot_swap_take(&snapshots, snap);
        gkd_slot_swap_take(&policy_slot, set);
        snap = NULL;
        set = NULL;
        memset(&decider, 0, sizeof(decider));
        decider.snapshots = &snapshots;
        decider.policies = &policy_slot;
        decider.signer = signer;
        decider.token_ttl_s = GKD_TOKEN_TTL_DEFAULT_S;
        randombytes_buf(decider.log_key, sizeof(decider.log_key));
        gkb_progress("in-process decisions: %d reps of %ld calls", reps, calls);
    }
    for (long i = 0; ok && i < 1000; i++) {
        gkd_decide_times t = {0};
        char *reply = NULL;
        size_t rlen = 0;

        if (gkd_decide_handle_timed(&decider, &vm, reqs[i % TENANTS], lens[i % TENANTS], &reply,
                                    &rlen, &t) != GK_OK ||
            (i == 0 && (reply == NULL || strstr(reply, "\"ok\":true") == NULL))) {
            gkb_fail(run, "the in-process decision gave no token: %.*s", (int) rlen,
                     reply != NULL ? reply : "");
            free(reply);
            gkb_figure_not_measured(f_total, "no token");
            gkb_figure_not_measured(f_policy, "no token");
            ok = 0;
            break;
        }
        free(reply);
    }
    for (int r = 0; ok && r < reps; r++) {
        gkd_decide_times t = {0};
        uint64_t t0 = gkb_now_ns(), wall;
        double stages[6];
        double sum = 0;

        for (long i = 0; i < calls; i++) {
            char *reply = NULL;
            size_t rlen = 0;

            gkd_decide_handle_timed(&decider, &vm, reqs[i % TENANTS], lens[i % TENANTS], &reply,
                                    &rlen, &t);
            free(reply);
        }
        wall = gkb_now_ns() - t0;
        stages[0] = (double) t.decode_ns;
        stages[1] = (double) t.engine_ns;
        stages[2] = (double) t.policy_ns;
        stages[3] = (double) t.claims_ns;
        stages[4] = (double) t.sign_ns;
        stages[5] = (double) t.reply_ns;
        for (int s = 0; s < 6; s++) {
            shares[s][r] = 100.0 * stages[s] / (double) wall;
            sum += stages[s];
        }
        shares[6][r] = 100.0 * ((double) wall - sum) / (double) wall;
        total[r] = (double) wall / 1e3 / (double) calls;
        policy[r] = stages[2] / 1e3 / (double) calls;
        gkb_progress("  rep %d/%d: %.1f us per decision, policies %.2f us, signing %.1f us", r + 1,
                     reps, total[r], policy[r], stages[4] / 1e3 / (double) calls);
    }
    if (ok) {
        static const char *const names[7] = {
            "  4 share: decode request",  "  4 share: engine",
            "  4 share: policies",        "  4 share: claims JSON",
            "  4 share: sign (Ed25519 JWS)", "  4 share: reply JSON",
            "  4 share: outside the stages"};

        gkb_figure_set(f_total, total, (size_t) reps);
        gkb_figure_bar(f_total, GKB_BAR_MAX, 25, 0);
        run->decision_us = f_total->median;
        gkb_figure_set(f_policy, policy, (size_t) reps);
        gkb_figure_bar(f_policy, GKB_BAR_MAX, 3, 0);
        for (int s = 0; s < 7; s++) {
            add_stage(run, names[s], shares[s], (size_t) reps);
        }
    }
    if (reqs != NULL) {
        for (int i = 0; i < TENANTS; i++) {
            free(reqs[i]);
        }
        free(reqs);
    }
    gkd_policy_vm_close(vm);
    gkd_signer_free(signer);
    gkd_snapshot_rele(snap);
    gkd_policy_set_rele(set);
    if (slots) {
        gkd_slot_fini(&policy_slot);
        gkd_slot_fini(&snapshots);
    }
    return 0;
}
