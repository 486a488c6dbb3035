/*
 * ops.h - what each admin operation does to the state document (docs/gkctl.md, proto/README.md
 * "Admin protocol"): pure functions from (state, arguments, time) to the changes a commit records,
 * or to the answer of a read. They neither authorise (the policies do), nor validate the whole new
 * state (the snapshot build does), nor write anything (the store does).
 *
 * Change ops: flag.apply, flag.delete, flag.kill, flag.unkill, rollout.set, rollout.plan,
 * rollout.advance, rollout.back, rollout.pause, rollout.resume, optin.add, optin.remove,
 * schema.register, consumer.register, backfill.done.
 * Read ops: flag.get, flag.list, status, schema.list, schema.get (audit.* are the store's).
 *
 * Percentages map to rollout weights out of 100000 (0.001 % steps): the target variant gets
 * round(percent * 1000), the flag's default variant the rest, and every other variant 0.
 *
 * THREAD SAFETY: reentrant; arguments are only read.
 */
#ifndef GKD_OPS_H
#define GKD_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "admin.h" /* proto/admin.h */
#include "gatekeeper.h"

/* What an op computed: an error to answer, or the changes / the read's result. */
typedef struct gkd_op_outcome {
    gkp_admin_error error;  /* GKP_ADMIN_OK, INVALID_REQUEST, NOT_FOUND */
    char message[256];      /* for an error: what was wrong and what to do */
    json_t *changes;        /* change ops: [{"kind","key","before","after"}] (new reference) */
    json_t *state;          /* change ops: the state after the changes (new reference) */
    json_t *result;         /* read ops, and flag.apply's diff: the reply's result (new ref) */
} gkd_op_outcome;

/*
 * gkd_ops_normalize_flag - a flag definition as the state stores it: a migration flag gets its six
 * stage variants and defaultVariant "off" when the definition leaves them out (docs/flags.md), so
 * the policies see the same variants the engine serves. New reference (NULL on ENOMEM): `def`
 * itself when nothing needs filling in, otherwise a shallow copy sharing def's nested values.
 * Either way it must not be modified (json_copy it to add members); def is not modified.
 */
json_t *gkd_ops_normalize_flag(const json_t *def);

/* gkd_ops_is_change - 1 for a change op, 0 for a read op, -1 for an unknown op. */
int gkd_ops_is_change(const char *op);

/*
 * gkd_ops_run - compute `op` with `args` (an object) on `state` (borrowed) at time now_s, for
 * the actor `actor` (its id, recorded by backfill.done; may be NULL).
 * out  always filled; release with gkd_ops_outcome_fini().
 * Returns GK_OK (also for refused ops: see out->error) or GK_ENOMEM.
 */
gk_err gkd_ops_run(const char *op, const json_t *args, const json_t *state, const char *actor,
                   int64_t now_s, gkd_op_outcome *out);

/* gkd_ops_outcome_fini - release what gkd_ops_run made. */
void gkd_ops_outcome_fini(gkd_op_outcome *out);

/*
 * gkd_ops_resource - the resource an op acts on, for the authorize hook:
 * {"kind":"flag","key":...,"owner":...} (owner from the state, or from the applied definition
 * for a new flag; absent when unknown), {"kind":"schema"|"consumer","key":name,"owner":...} for
 * the schema.* and consumer.* ops, or {"kind":"audit"} / {"kind":"status"}. New reference.
 */
json_t *gkd_ops_resource(const char *op, const json_t *args, const json_t *state);

#endif
