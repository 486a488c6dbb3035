/*
 * gate.h - the decision-time gate: the engine's proposal for one flag goes through the policies'
 * on_evaluate hook before it is signed (policies/README.md, "Combination").
 *
 *   outcome          decision becomes
 *   DEFAULT          the proposal, unchanged
 *   ALLOW            the proposal, or the forced variant: reason TARGETING_MATCH, ruleId
 *                    "policy:<file>"
 *   DENY             the flag's default variant, reason DEFAULT, ruleId "policy:<file>"
 *   ERROR            the flag's default variant, reason ERROR, error code GENERAL (fail closed)
 * and every mask list the policies returned rides on the decision.
 *
 * Decisions without a variant (kill switch, errors, unknown flags) are not gated: there is nothing
 * to force or mask, and a kill switch must win whatever a policy says.
 *
 * THREAD SAFETY: as the vm: one thread at a time per vm.
 */
#ifndef GKD_GATE_H
#define GKD_GATE_H

#include <jansson.h>

#include "engine.h"
#include "policy.h"
#include "snapshot.h"

/* Room for "policy:" plus a policy file name, NUL included (bytes). */
#define GKD_GATE_RULE_MAX 80

/*
 * gkd_gate_apply - gate decision `d` (made from `snap` for context `ctx`) with the vm's policies.
 * vm        the worker's vm, already given snap's state; NULL means policies are unavailable, and
 *           every gated decision fails closed (reason ERROR).
 * rule_buf  storage for the "policy:<file>" rule id d may point to afterwards; must outlive d.
 *           Written only when a policy changed the decision (left as it was otherwise).
 * maskp     out: a new reference to the decision's mask list, or NULL; the caller decrefs it.
 * tracep    NULL, or out: a new reference to the explain trace (every verdict with its policy,
 *           reason and source line), NULL when the decision was not gated; the caller decrefs it.
 */
void gkd_gate_apply(gkd_policy_vm *vm, const gkd_snapshot *snap, const json_t *ctx,
                    gkd_decision *d, char rule_buf[GKD_GATE_RULE_MAX], json_t **maskp,
                    json_t **tracep);

#endif
