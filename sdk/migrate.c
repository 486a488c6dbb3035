/*
 * migrate.c - migration flags: the stage of a flag, and reads and writes run as the stage says
 * (LaunchDarkly's migration flags; the table is in gatekeeper.h, above "gk_stage").
 *
 * Execution order is serial, the authoritative origin first: LaunchDarkly's SDKs default to
 * running both reads concurrently, but this SDK starts no thread of its own and the caller's
 * origins are plain blocking functions. Serial also keeps the authoritative read's latency free
 * of the other's load. Writes are sequential as in every LaunchDarkly SDK: the non-authoritative
 * write only follows a successful authoritative one.
 *
 * Consistency sampling ("checkRatio"): the signed decision carries only the stage, so the ratio
 * comes from the client's option or the call's ops (gatekeeper.h, gk_options_set_check_ratio).
 * The sample is a counter, not a random draw, so that exactly k of ratio * k eligible reads are
 * compared (a test can tell, and a low ratio never compares nothing by bad luck).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "clock.h"
#include "gatekeeper.h"
#include "telemetry.h"

/* Longest stage name plus room to tell a longer value from a stage ("completed"), in bytes. */
#define STAGE_BUF_BYTES 16

static const char *const stage_names[] = {
    [GK_STAGE_OFF] = "off",   [GK_STAGE_DUALWRITE] = "dualwrite", [GK_STAGE_SHADOW] = "shadow",
    [GK_STAGE_LIVE] = "live", [GK_STAGE_RAMPDOWN] = "rampdown",   [GK_STAGE_COMPLETE] = "complete",
};
#define NSTAGES (sizeof(stage_names) / sizeof(stage_names[0]))

static bool
stage_valid(gk_stage stage)
{
    return (unsigned) stage < NSTAGES;
}

const char *
gk_stage_str(gk_stage stage)
{
    return stage_valid(stage) ? stage_names[stage] : "unknown";
}

gk_err
gk_stage_parse(const char *name, gk_stage *stagep)
{
    if (name == NULL || stagep == NULL) {
        return GK_EINVAL;
    }
    for (size_t i = 0; i < NSTAGES; i++) {
        if (strcmp(name, stage_names[i]) == 0) {
            *stagep = (gk_stage) i;
            return GK_OK;
        }
    }
    return GK_EINVAL;
}

gk_err
gk_client_eval_stage(gk_client *client, const char *flag_key, const gk_context *ctx,
                     gk_stage fallback, gk_stage *stage, gk_detail *detail)
{
    char buf[STAGE_BUF_BYTES];
    gk_detail local;
    gk_detail *d = detail != NULL ? detail : &local;
    gk_stage parsed;
    gk_err rv;

    if (stage != NULL) {
        *stage = fallback;
    }
    if (stage == NULL || !stage_valid(fallback)) {
        memset(d, 0, sizeof(*d));
        d->reason = GK_REASON_ERROR;
        d->error_code = GK_ERROR_GENERAL;
        snprintf(d->error_message, sizeof(d->error_message),
                 "invalid argument to gk_client_eval_stage");
        return GK_EINVAL;
    }
    rv = gk_client_eval_string(client, flag_key, ctx, stage_names[fallback], buf, sizeof(buf), d);
    if (rv == GK_EINVAL) {
        return rv;
    }
    if (rv == GK_ENOSPC) {
        /* A string longer than any stage name: as wrong as "completed". */
        buf[0] = '\0';
    } else if (d->reason == GK_REASON_ERROR || d->reason == GK_REASON_DISABLED) {
        return GK_OK; /* buf holds the fallback's name, *stage is the fallback */
    }
    if (gk_stage_parse(buf, &parsed) == GK_OK) {
        *stage = parsed;
        return GK_OK;
    }
    {
        uint64_t version = d->snapshot_version;

        memset(d, 0, sizeof(*d));
        d->reason = GK_REASON_ERROR;
        d->error_code = GK_ERROR_TYPE_MISMATCH;
        d->snapshot_version = version;
        snprintf(d->error_message, sizeof(d->error_message),
                 "flag \"%.48s\": value \"%.15s\" is not a migration stage (off .. complete)",
                 flag_key, buf);
    }
    return GK_OK;
}

/* ---- reads and writes ---------------------------------------------------------------------- */

/* Which origin answers (old for off, dualwrite, shadow; new from live on). */
static bool
new_is_authoritative(gk_stage stage)
{
    return stage >= GK_STAGE_LIVE;
}

/* One origin's side of a call. */
typedef struct side {
    gk_origin_fn fn;
    int invoked;
    int error;
    uint32_t us;
    void *result;
} side;

static void
run_side(side *s, void *arg)
{
    int64_t start = gks_clock_mono_us();
    int64_t took;
    int rc;

    s->result = NULL;
    rc = s->fn(arg, &s->result);
    took = gks_clock_mono_us() - start;
    s->invoked = 1;
    s->error = rc != 0;
    s->us = took < 0 ? 0 : (took > (int64_t) UINT32_MAX ? UINT32_MAX : (uint32_t) took);
}

/*
 * Fill every field of *out that its size covers from `full` (a result of this SDK's layout).
 * A caller built against an older, shorter gk_migration_result gets the fields it knows.
 */
static void
deliver(gk_migration_result *out, const gk_migration_result *full)
{
    size_t size = out->size;

    if (size > sizeof(*full)) {
        size = sizeof(*full);
    }
    memcpy((char *) out + sizeof(out->size), (const char *) full + sizeof(full->size),
           size - sizeof(out->size));
}

/* The smallest result record the SDK can fill: up to and including `consistency`. */
#define RESULT_MIN_SIZE (offsetof(gk_migration_result, consistency) + sizeof(int))

static void
result_start(gk_migration_result *r, gk_stage stage)
{
    memset(r, 0, sizeof(*r));
    r->size = sizeof(*r);
    r->stage = stage;
    r->consistency = -1;
}

static void
result_sides(gk_migration_result *r, const side *old_side, const side *new_side, bool new_auth)
{
    const side *auth = new_auth ? new_side : old_side;

    r->ok = auth->invoked && !auth->error;
    r->result = auth->result;
    r->old_invoked = old_side->invoked;
    r->new_invoked = new_side->invoked;
    r->old_error = old_side->error;
    r->new_error = new_side->error;
    r->old_us = old_side->us;
    r->new_us = new_side->us;
}

static void
free_other(side *other, gk_result_free_fn free_result, void *arg)
{
    if (other->result != NULL && free_result != NULL) {
        free_result(arg, other->result);
    }
    other->result = NULL;
}

/* The answer to a caller bug: nothing invoked, reason ERROR (when *out can take it). */
static void
fill_einval(gk_migration_result *out, gk_stage fallback)
{
    gk_migration_result full;

    if (out == NULL || out->size < RESULT_MIN_SIZE) {
        return;
    }
    result_start(&full, fallback);
    full.detail.reason = GK_REASON_ERROR;
    full.detail.error_code = GK_ERROR_GENERAL;
    snprintf(full.detail.error_message, sizeof(full.detail.error_message),
             "invalid argument to a gk_migration function");
    deliver(out, &full);
}

/* Argument checks shared by read and write (origins apart). */
static bool
args_ok(gk_client *client, const char *flag_key, const gk_context *ctx, gk_stage fallback,
        size_t ops_size, size_t ops_min, const gk_migration_result *out)
{
    size_t key_len = flag_key != NULL ? strnlen(flag_key, GK_FLAG_KEY_MAX) : 0;

    return out != NULL && out->size >= RESULT_MIN_SIZE && client != NULL && ctx != NULL &&
           ops_size >= ops_min && key_len > 0 && key_len < GK_FLAG_KEY_MAX && stage_valid(fallback);
}

/* The smallest ops records the SDK accepts: everything up to and including `arg`. */
#define READ_OPS_MIN_SIZE  (offsetof(gk_migration_read_ops, arg) + sizeof(void *))
#define WRITE_OPS_MIN_SIZE (offsetof(gk_migration_write_ops, arg) + sizeof(void *))

gk_err
gk_migration_read(gk_client *client, const char *flag_key, const gk_context *ctx, gk_stage fallback,
                  const gk_migration_read_ops *ops, gk_migration_result *out)
{
    gk_migration_result r;
    side old_side = {0};
    side new_side = {0};
    uint32_t ratio = 0;
    bool new_auth;

    if (!args_ok(client, flag_key, ctx, fallback, ops != NULL ? ops->size : 0, READ_OPS_MIN_SIZE,
                 out) ||
        ops->read_old == NULL || ops->read_new == NULL) {
        fill_einval(out, fallback);
        return GK_EINVAL;
    }
    if (ops->size >= offsetof(gk_migration_read_ops, check_ratio) + sizeof(uint32_t)) {
        ratio = ops->check_ratio;
    }
    result_start(&r, fallback);
    (void) gk_client_eval_stage(client, flag_key, ctx, fallback, &r.stage, &r.detail);
    old_side.fn = ops->read_old;
    new_side.fn = ops->read_new;
    new_auth = new_is_authoritative(r.stage);

    switch (r.stage) {
    case GK_STAGE_OFF:
    case GK_STAGE_DUALWRITE:
        run_side(&old_side, ops->arg);
        break;
    case GK_STAGE_SHADOW:
        run_side(&old_side, ops->arg);
        run_side(&new_side, ops->arg);
        break;
    case GK_STAGE_LIVE:
        run_side(&new_side, ops->arg);
        run_side(&old_side, ops->arg);
        break;
    case GK_STAGE_RAMPDOWN:
    case GK_STAGE_COMPLETE:
        run_side(&new_side, ops->arg);
        break;
    }
    if (old_side.invoked && new_side.invoked && !old_side.error && !new_side.error &&
        ops->compare != NULL && gks_client_check_due(client, ratio)) {
        r.consistency = ops->compare(ops->arg, old_side.result, new_side.result) == 1 ? 1 : 0;
    }
    free_other(new_auth ? &old_side : &new_side, ops->free_result, ops->arg);
    result_sides(&r, &old_side, &new_side, new_auth);
    gks_telemetry_record(gks_client_telemetry(client), flag_key, GKS_TELEMETRY_READ, &r);
    deliver(out, &r);
    return GK_OK;
}

gk_err
gk_migration_write(gk_client *client, const char *flag_key, const gk_context *ctx,
                   gk_stage fallback, const gk_migration_write_ops *ops, gk_migration_result *out)
{
    gk_migration_result r;
    side old_side = {0};
    side new_side = {0};
    side *first;
    side *second = NULL;
    bool new_auth;

    if (!args_ok(client, flag_key, ctx, fallback, ops != NULL ? ops->size : 0, WRITE_OPS_MIN_SIZE,
                 out) ||
        ops->write_old == NULL || ops->write_new == NULL) {
        fill_einval(out, fallback);
        return GK_EINVAL;
    }
    result_start(&r, fallback);
    (void) gk_client_eval_stage(client, flag_key, ctx, fallback, &r.stage, &r.detail);
    old_side.fn = ops->write_old;
    new_side.fn = ops->write_new;
    new_auth = new_is_authoritative(r.stage);
    first = new_auth ? &new_side : &old_side;
    if (r.stage != GK_STAGE_OFF && r.stage != GK_STAGE_COMPLETE) {
        second = new_auth ? &old_side : &new_side;
    }
    run_side(first, ops->arg);
    /* Sequential: the second write only follows a successful first (no compensation). */
    if (second != NULL && !first->error) {
        run_side(second, ops->arg);
        free_other(second, ops->free_result, ops->arg);
    }
    result_sides(&r, &old_side, &new_side, new_auth);
    gks_telemetry_record(gks_client_telemetry(client), flag_key, GKS_TELEMETRY_WRITE, &r);
    deliver(out, &r);
    return GK_OK;
}
