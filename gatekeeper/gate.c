/*
 * gate.c - on_evaluate between the engine and the signer.
 */
#include "gate.h"

#include <stdio.h>

#include "flag.h"
#include "vocab.h"

/* Serve the flag's default variant with `reason` (and an error code for ERROR). */
static void
serve_default(gkd_decision *d, const gkd_flag *flag, gk_reason reason, const char *rule_id)
{
    d->variant = flag->variants[flag->default_variant].name;
    d->value = flag->variants[flag->default_variant].value;
    d->reason = reason;
    d->rule_id = rule_id;
    d->error_code = reason == GK_REASON_ERROR ? GK_ERROR_GENERAL : GK_ERROR_NONE;
    d->error_message = reason == GK_REASON_ERROR ? "a policy failed; see the gatekeeper log" : NULL;
}

/* Write the rule id "policy:<file>" into rule_buf and return rule_buf (only a gated outcome that
 * changes the decision names it, so an allowed proposal costs no formatting). */
static const char *
policy_rule(char rule_buf[GKD_GATE_RULE_MAX], const char *policy)
{
    snprintf(rule_buf, GKD_GATE_RULE_MAX, "policy:%s", policy);
    return rule_buf;
}

void
gkd_gate_apply(gkd_policy_vm *vm, const gkd_snapshot *snap, const json_t *ctx, gkd_decision *d,
               char rule_buf[GKD_GATE_RULE_MAX], json_t **maskp, json_t **tracep)
{
    const gkd_flag *flag;
    gkd_policy_proposal proposal;
    gkd_policy_result res = {0};
    int forced;

    *maskp = NULL;
    if (tracep != NULL) {
        *tracep = NULL;
    }
    if (d->variant == NULL) {
        return;
    }
    flag = gkd_snapshot_find(snap, d->flag_key, d->flag_key_len);
    if (vm == NULL) {
        serve_default(d, flag, GK_REASON_ERROR, NULL);
        return;
    }
    if (!gkd_policy_vm_has_hook(vm, "on_evaluate")) {
        return;
    }
    proposal.variant = d->variant;
    proposal.reason = gkp_reason_name(d->reason);
    proposal.rule_id = d->rule_id;
    gkd_policy_vm_on_evaluate(vm, flag->key, ctx, &proposal, tracep != NULL, &res);
    switch (res.outcome) {
    case GKD_POLICY_DEFAULT:
        break;
    case GKD_POLICY_ALLOW:
        forced = res.variant[0] != '\0' ? gkd_flag_variant_index(flag, res.variant) : -1;
        if (forced >= 0) {
            d->variant = flag->variants[forced].name;
            d->value = flag->variants[forced].value;
            d->reason = GK_REASON_TARGETING_MATCH;
            d->rule_id = policy_rule(rule_buf, res.policy);
        }
        break;
    case GKD_POLICY_DENY:
        serve_default(d, flag, GK_REASON_DEFAULT, policy_rule(rule_buf, res.policy));
        break;
    case GKD_POLICY_ERROR:
        serve_default(d, flag, GK_REASON_ERROR, policy_rule(rule_buf, res.policy));
        break;
    }
    *maskp = res.mask;
    res.mask = NULL;
    if (tracep != NULL) {
        *tracep = res.trace;
        res.trace = NULL;
    }
    gkd_policy_result_fini(&res);
}
