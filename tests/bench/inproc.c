/*
 * inproc.c - figures 4 and 5: the in-process cost of one decision (request bytes in, reply bytes
 * out: parse -> engine -> the shipped policies -> claims -> Ed25519 JWS -> reply), with no
 * transport, through gkd_decide_handle_timed on one thread, and the share of each stage; the
 * policies' stage alone is figure 5.
 *
 * The decider is built the way gatekeeper/daemon.c builds it: snapshot and policy-set slots, the
 * daemon's own signing key with a nonce pool of the size the run gives the daemon
 * (gatekeeper/presign.h, GKB_NONCE_POOL). Requests are the SDK's single-flag request for 1,000
 * tenants in turn, each with its own nonce, so caches see realistic keys.
 *
 * Figure 4 is what a request costs while the pool has nonces, as it does whenever the gatekeeper
 * has time between requests (its idle-priority refill thread puts back each nonce a signature
 * takes): decisions run in batches of half the pool, each started when the pool holds nonces for
 * the whole batch (the refill thread fills it, and may be at work meanwhile), and only the
 * batches are timed (at most 1 % of their signatures may have been made inline). Two rows without a bar
 * give the rest of the picture: the same decisions with the pool empty (RFC 8032's deterministic
 * signature made inline, what a saturated gatekeeper pays), and the CPU time per nonce, which the
 * pool spends off the request path.
 *
 * The shipped policies declare what on_evaluate reads, so after its first decision each policy vm
 * answers the policies' stage from its kept outcomes (policies/README.md, "Declaring what
 * on_evaluate reads"): figure 5 is that stage as decisions pay it. One more row without a bar
 * gives the stage with the policies run every time: the same files without their on_evaluate_reads
 * lines, what a decision pays the first time per state version, flag, proposal and service.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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
/* Most time to wait for the nonce pool to fill before a batch, in ms. */
#define POOL_FILL_MS 5000

/* TENANTS evaluate requests for GKB_FLAG (for all flags when all_flags), one per tenant; NULL on
 * failure. */
static char **
make_requests(size_t *lens, int all_flags)
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
        rv = ctx != NULL ? gkp_request_encode_evaluate(&reqs[i], &lens[i], all_flags ? NULL : flags,
                                                       all_flags ? 0 : 1, ctx, nonce)
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

/*
 * Copies the policies of `from` (*.lua) into the new directory `to` without their
 * on_evaluate_reads lines, so that their outcomes are not kept; 0 or -1.
 */
static int
copy_undeclared(const char *from, const char *to)
{
    DIR *d = opendir(from);
    struct dirent *e;
    int rc = d != NULL && mkdir(to, 0700) == 0 ? 0 : -1;

    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char path[4096 + 256], *text, *line, *out;

        if (n < 5 || strcmp(e->d_name + n - 4, ".lua") != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", from, e->d_name);
        text = gkt_read_file(path);
        out = text != NULL ? calloc(1, strlen(text) + 1) : NULL;
        for (line = text; out != NULL && *line != '\0';) {
            char *next = strchr(line, '\n');
            size_t len = next != NULL ? (size_t) (next - line) + 1 : strlen(line);

            if (strncmp(line, "on_evaluate_reads", 17) != 0) {
                strncat(out, line, len);
            }
            line += len;
        }
        snprintf(path, sizeof(path), "%s/%s", to, e->d_name);
        rc = out != NULL && gkt_write_file(path, out, 0600) == 0 ? 0 : -1;
        free(text);
        free(out);
    }
    if (d != NULL) {
        closedir(d);
    }
    return rc;
}

/* Runs n decisions from request i0 on, adding each stage's time to *t. */
static void
decide_n(gkd_decider *d, gkd_policy_vm **vm, char **reqs, const size_t *lens, long i0, long n,
         gkd_decide_times *t)
{
    for (long i = i0; i < i0 + n; i++) {
        char *reply = NULL;
        size_t rlen = 0;

        gkd_decide_handle_timed(d, vm, reqs[i % TENANTS], lens[i % TENANTS], &reply, &rlen, t);
        free(reply);
    }
}

/*
 * Waits (at most POOL_FILL_MS) until the pool holds n nonces; 0 when it does. n must be at most
 * half the pool: below half, the refill thread is awake until the pool is full.
 */
static int
wait_pool(gkd_presign *pool, size_t n)
{
    const struct timespec ms = {0, 1000000};
    gkd_presign_stats st;

    for (int i = 0; i < POOL_FILL_MS; i++) {
        gkd_presign_read_stats(pool, &st);
        if (st.ready >= n) {
            return 0;
        }
        nanosleep(&ms, NULL);
    }
    return -1;
}

/*
 * One repetition of figure 4 on the pool: `calls` decisions in batches of half the pool, each
 * started with enough nonces for the whole batch; returns the time spent in the batches (ns), 0
 * when the pool did not fill or more than 1 % of the signatures were made inline.
 */
static uint64_t
pooled_rep(gkd_decider *d, gkd_policy_vm **vm, char **reqs, const size_t *lens, long calls,
           gkd_decide_times *t)
{
    gkd_presign *pool = gkd_signer_presigner(d->signer);
    const long batch = GKB_NONCE_POOL / 2;
    gkd_presign_stats before, after;
    uint64_t wall = 0;

    gkd_presign_read_stats(pool, &before);
    for (long done = 0; done < calls; done += batch) {
        long n = calls - done < batch ? calls - done : batch;
        uint64_t t0;

        if (wait_pool(pool, (size_t) n) != 0) {
            return 0;
        }
        t0 = gkd_clock_mono_ns();
        decide_n(d, vm, reqs, lens, done, n, t);
        wall += gkd_clock_mono_ns() - t0;
    }
    gkd_presign_read_stats(pool, &after);
    /* A few inline signatures (the pool's lock held by a preempted refill thread) stay counted
     * in the time; more than 1 % means the figure is not what it says. */
    if ((after.inline_sigs - before.inline_sigs) * 100 > (uint64_t) calls) {
        fprintf(stderr, "gk-bench: %llu of %ld signatures were made inline\n",
                (unsigned long long) (after.inline_sigs - before.inline_sigs), calls);
        return 0;
    }
    return wall;
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
    gkb_figure *f_policy_run =
        gkb_figure_add(run, "  5 policies run every time (outcomes not kept)", "us");
    gkb_figure *f_inline = gkb_figure_add(run, "4 in-process, nonce pool empty", "us");
    gkb_figure *f_sign_inline = gkb_figure_add(run, "  4 signing, nonce pool empty", "us");
    gkb_figure *f_nonce = gkb_figure_add(run, "4 nonce precomputed off the path", "us");
    gkb_figure *f_all = gkb_figure_add(run, "4 in-process, all 20 flags", "us");
    gkb_figure *f_all_policy = gkb_figure_add(run, "  4 policies, all 20 flags", "us");
    char policies[4096], undeclared[300];
    gkd_slot snapshots, policy_slot, run_slot;
    gkd_snapshot *snap = NULL;
    gkd_policy_set *set = NULL, *run_set = NULL;
    gkd_signer *signer = NULL, *inline_signer = NULL;
    gkd_policy_vm *vm = NULL, *run_vm = NULL;
    gkd_decider decider;
    gk_diag diag = {0};
    size_t lens[TENANTS], lens_all[TENANTS];
    char **reqs = NULL, **reqs_all = NULL;
    long calls = run->quick ? 3000 : 30000;
    int reps = run->quick ? 3 : MAX_REPS;
    double total[MAX_REPS], policy[MAX_REPS], inline_us[MAX_REPS], nonce_us[MAX_REPS];
    double policy_run[MAX_REPS];
    double sign_inline_us[MAX_REPS];
    double all_us[MAX_REPS], all_policy[MAX_REPS];
    double shares[7][MAX_REPS];
    int slots = 0, ok = 1;

    if (f_total == NULL || f_policy == NULL || f_policy_run == NULL || f_inline == NULL ||
        f_sign_inline == NULL || f_nonce == NULL || f_all == NULL || f_all_policy == NULL) {
        return 0;
    }
    gkd_log_set_level(GKD_LOG_ERROR);
    snprintf(policies, sizeof(policies), "%s/policies", GKB_SOURCE_DIR);
    snprintf(undeclared, sizeof(undeclared), "%s/policies-undeclared", run->dir);
    if (gkd_snapshot_slot_init(&snapshots) != GK_OK) {
        return -1;
    }
    if (gkd_policy_set_slot_init(&policy_slot) != GK_OK) {
        gkd_slot_fini(&snapshots);
        return -1;
    }
    if (gkd_policy_set_slot_init(&run_slot) != GK_OK) {
        gkd_slot_fini(&policy_slot);
        gkd_slot_fini(&snapshots);
        return -1;
    }
    slots = 1;
    if (copy_undeclared(policies, undeclared) != 0) {
        fprintf(stderr, "gk-bench: cannot copy the policies into %s\n", undeclared);
        ok = 0;
    }
    if (!ok || gkd_snapshot_load_file(&snap, run->flags20_path, 1, &diag) != GK_OK ||
        gkd_policy_set_load(&set, policies, NULL, &diag) != GK_OK ||
        gkd_policy_set_load(&run_set, undeclared, NULL, &diag) != GK_OK ||
        gkd_signer_new(&signer) != GK_OK ||
        gkd_signer_add_key_file(signer, run->daemon.key_path, &diag) != GK_OK ||
        gkd_signer_presign(signer, GKB_NONCE_POOL, &diag) != GK_OK ||
        gkd_signer_new(&inline_signer) != GK_OK ||
        gkd_signer_add_key_file(inline_signer, run->daemon.key_path, &diag) != GK_OK ||
        (reqs = make_requests(lens, 0)) == NULL ||
        (reqs_all = make_requests(lens_all, 1)) == NULL) {
        fprintf(stderr, "gk-bench: in-process decider: %s:%d: %s\n", diag.source, diag.line,
                diag.text);
        ok = 0;
    }
    if (ok) {
        gkd_slot_swap_take(&snapshots, snap);
        gkd_slot_swap_take(&policy_slot, set);
        gkd_slot_swap_take(&run_slot, run_set);
        snap = NULL;
        set = NULL;
        run_set = NULL;
        memset(&decider, 0, sizeof(decider));
        decider.snapshots = &snapshots;
        decider.policies = &policy_slot;
        decider.signer = signer;
        decider.token_ttl_s = GKD_TOKEN_TTL_DEFAULT_S;
        randombytes_buf(decider.log_key, sizeof(decider.log_key));
        gkb_progress("in-process decisions: %d reps of %ld calls, on the nonce pool and without",
                     reps, calls);
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
            ok = 0;
            break;
        }
        free(reply);
    }
    for (int r = 0; ok && r < reps; r++) {
        gkd_decide_times t = {0}, t_inline = {0}, t_all = {0}, t_run = {0};
        gkd_presign_stats st;
        uint64_t wall, wall_all, t0;
        double stages[6];
        double sum = 0;

        decider.signer = signer;
        wall = pooled_rep(&decider, &vm, reqs, lens, calls, &t);
        wall_all = pooled_rep(&decider, &vm, reqs_all, lens_all, calls / 10, &t_all);
        if (wall == 0 || wall_all == 0) {
            fprintf(stderr, "gk-bench: the nonce pool did not keep up with a batch\n");
            ok = 0;
            break;
        }
        decider.signer = inline_signer;
        t0 = gkd_clock_mono_ns();
        decide_n(&decider, &vm, reqs, lens, 0, calls, &t_inline);
        inline_us[r] = (double) (gkd_clock_mono_ns() - t0) / 1e3 / (double) calls;
        sign_inline_us[r] = (double) t_inline.sign_ns / 1e3 / (double) calls;
        decider.policies = &run_slot;
        decide_n(&decider, &run_vm, reqs, lens, 0, calls / 3, &t_run);
        decider.policies = &policy_slot;
        policy_run[r] = (double) t_run.policy_ns / 1e3 / (double) (calls / 3);
        gkd_presign_read_stats(gkd_signer_presigner(signer), &st);
        nonce_us[r] = (double) st.compute_ns / 1e3 / (double) st.computed;
        all_us[r] = (double) wall_all / 1e3 / (double) (calls / 10);
        all_policy[r] = (double) t_all.policy_ns / 1e3 / (double) (calls / 10);
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
        gkb_progress("  rep %d/%d: %.1f us per decision (signing %.1f us), policies %.2f us; "
                     "pool empty %.1f us; a nonce %.1f us off the path",
                     r + 1, reps, total[r], stages[4] / 1e3 / (double) calls, policy[r],
                     inline_us[r], nonce_us[r]);
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
        gkb_figure_set(f_policy_run, policy_run, (size_t) reps);
        gkb_figure_set(f_inline, inline_us, (size_t) reps);
        run->decision_inline_us = f_inline->median;
        gkb_figure_set(f_sign_inline, sign_inline_us, (size_t) reps);
        run->sign_inline_us = f_sign_inline->median;
        gkb_figure_set(f_nonce, nonce_us, (size_t) reps);
        gkb_figure_set(f_all, all_us, (size_t) reps);
        gkb_figure_set(f_all_policy, all_policy, (size_t) reps);
        for (int s = 0; s < 7; s++) {
            add_stage(run, names[s], shares[s], (size_t) reps);
        }
    } else {
        gkb_figure *figs[8] = {f_total, f_policy, f_policy_run, f_inline,
                               f_sign_inline, f_nonce, f_all, f_all_policy};

        for (int i = 0; i < 8; i++) {
            gkb_figure_not_measured(figs[i], "the in-process decider could not run (see above)");
        }
    }
    for (int i = 0; i < TENANTS; i++) {
        free(reqs != NULL ? reqs[i] : NULL);
        free(reqs_all != NULL ? reqs_all[i] : NULL);
    }
    free(reqs);
    free(reqs_all);
    gkd_policy_vm_close(vm);
    gkd_policy_vm_close(run_vm);
    gkd_signer_free(signer);
    gkd_signer_free(inline_signer);
    gkd_snapshot_rele(snap);
    gkd_policy_set_rele(set);
    gkd_policy_set_rele(run_set);
    if (slots) {
        gkd_slot_fini(&run_slot);
        gkd_slot_fini(&policy_slot);
        gkd_slot_fini(&snapshots);
    }
    return 0;
}
