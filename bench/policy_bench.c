/*
 * policy_bench.c - what the policies add to one decision: the cost of on_evaluate across a policy
 * directory (by default the four shipped policies) for one flag of a flags file, next to the cost
 * of the engine's evaluation of the same flag, in one run on one core.
 *
 *   gk-bench-policy [--policies DIR] [--flags FILE] [--flag KEY] [--service NAME] [--calls N]
 *
 * Prints, for each of 5 repetitions of N calls, the mean µs per call, then the median and the
 * spread (max - min). Contexts rotate over 1,000 tenants so caches see realistic keys.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "engine.h"
#include "log.h"
#include "policy.h"
#include "snapshot.h"
#include "vocab.h"

#define REPS    5
#define TENANTS 1000

static double
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}

static void
report(const char *what, double *reps)
{
    qsort(reps, REPS, sizeof(*reps), cmp_double);
    printf("%-34s median %7.3f us/call   spread %6.3f us   (%d reps)\n", what, reps[REPS / 2],
           reps[REPS - 1] - reps[0], REPS);
}

int
main(int argc, char **argv)
{
    const char *policies = "policies", *flags = "config/flags.json", *key = "orders.read_v2";
    const char *service = "billing";
    long calls = 200000;
    static const struct option opts[] = {
        {"policies", required_argument, NULL, 'p'}, {"flags", required_argument, NULL, 'f'},
        {"flag", required_argument, NULL, 'k'},     {"service", required_argument, NULL, 's'},
        {"calls", required_argument, NULL, 'n'},    {NULL, 0, NULL, 0},
    };
    json_t *ctx[TENANTS];
    gkd_snapshot *snap = NULL;
    gkd_policy_set *set = NULL;
    gkd_policy_vm *vm = NULL;
    const gkd_flag *flag;
    gk_diag diag = {0};
    double engine[REPS], gated[REPS];
    int opt;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            policies = optarg;
            break;
        case 'f':
            flags = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 's':
            service = optarg;
            break;
        case 'n':
            calls = strtol(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: gk-bench-policy [--policies DIR] [--flags FILE] [--flag KEY] "
                            "[--service NAME] [--calls N]\n");
            return 2;
        }
    }
    gkd_log_set_level(GKD_LOG_ERROR);
    if (calls < 1000 || gkd_snapshot_load_file(&snap, flags, 1, &diag) != GK_OK ||
        gkd_policy_set_load(&set, policies, NULL, &diag) != GK_OK ||
        gkd_policy_vm_open(&vm, set, &diag) != GK_OK ||
        gkd_policy_vm_set_state(vm, gkd_snapshot_state(snap), 1) != GK_OK) {
        fprintf(stderr, "gk-bench-policy: %s:%d: %s\n", diag.source, diag.line, diag.text);
        return 1;
    }
    flag = gkd_snapshot_find(snap, key, strlen(key));
    if (flag == NULL) {
        fprintf(stderr, "gk-bench-policy: no flag %s in %s\n", key, flags);
        return 1;
    }
    for (int i = 0; i < TENANTS; i++) {
        char tenant[32];
        snprintf(tenant, sizeof(tenant), "tenant-%d", i);
        ctx[i] = json_pack("{s:s, s:s, s:s, s:s}", "targetingKey", tenant, "tenantId", tenant,
                           "service", service, "plan", i % 7 == 0 ? "gold" : "basic");
    }
    printf("policies %s (%zu files), flag %s, service %s, %ld calls per rep\n", policies,
           gkd_policy_set_count(set), key, service, calls);
    for (int r = 0; r < REPS; r++) {
        gkd_decision d;
        gkd_policy_result res;
        gkd_policy_proposal p;
        double t0 = now_us(), t1, t2;

        for (long i = 0; i < calls; i++) {
            gkd_engine_eval(snap, flag, ctx[i % TENANTS], &d);
        }
        t1 = now_us();
        for (long i = 0; i < calls; i++) {
            gkd_engine_eval(snap, flag, ctx[i % TENANTS], &d);
            p.variant = d.variant;
            p.reason = gkp_reason_name(d.reason);
            p.rule_id = d.rule_id;
            gkd_policy_vm_on_evaluate(vm, key, ctx[i % TENANTS], &p, 0, &res);
            gkd_policy_result_fini(&res);
        }
        t2 = now_us();
        engine[r] = (t1 - t0) / (double) calls;
        gated[r] = (t2 - t1) / (double) calls - engine[r];
    }
    report("engine evaluation", engine);
    report("on_evaluate across the policies", gated);
    for (int i = 0; i < TENANTS; i++) {
        json_decref(ctx[i]);
    }
    gkd_policy_vm_close(vm);
    gkd_policy_set_rele(set);
    gkd_snapshot_rele(snap);
    return 0;
}
