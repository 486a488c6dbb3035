/*
 * ops.c - the admin operations on the state document (see ops.h).
 */
#include "ops.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bucket.h"
#include "flag.h"
#include "registry.h"

typedef gk_err (*op_fn)(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
                        gkd_op_outcome *out);

/* Refuse the op with `error` and a message; returns GK_OK (a refusal is an outcome). */
static gk_err refuse(gkd_op_outcome *out, gkp_admin_error error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static gk_err
refuse(gkd_op_outcome *out, gkp_admin_error error, const char *fmt, ...)
{
    va_list ap;

    out->error = error;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
    return GK_OK;
}

static const char *
arg_key(const json_t *args)
{
    return json_string_value(json_object_get(args, "key"));
}

/*
 * Looks up the flag named by args.key; refuses (and returns NULL) when the key is missing or the
 * flag does not exist.
 */
static const json_t *
existing_flag(const json_t *args, const json_t *state, gkd_op_outcome *out)
{
    const char *key = arg_key(args);
    const json_t *def = key != NULL ? json_object_get(json_object_get(state, "flags"), key) : NULL;

    if (key == NULL) {
        refuse(out, GKP_ADMIN_INVALID_REQUEST, "the op needs \"key\": the flag to act on");
    } else if (def == NULL) {
        refuse(out, GKP_ADMIN_NOT_FOUND, "no flag \"%.120s\"; `gkctl flag list` shows the flags",
               key);
    }
    return def;
}

/* Records the change of one state section entry (after NULL: removed) and applies it. */
static gk_err
change(gkd_op_outcome *out, const char *section, const char *kind, const char *key,
       json_t *after_take)
{
    json_t *entries, *before;

    if (out->state == NULL) {
        return GK_ENOMEM;
    }
    /* Copy-on-write: a shallow copy of the section, so the old state is never touched. */
    entries = json_copy(json_object_get(out->state, section));
    before = json_object_get(entries, key);
    if (entries == NULL ||
        json_array_append_new(out->changes, json_pack("{s:s, s:s, s:O?, s:O?}", "kind", kind,
                                                      "key", key, "before", before, "after",
                                                      after_take)) != 0) {
        json_decref(entries);
        json_decref(after_take);
        return GK_ENOMEM;
    }
    if (after_take != NULL) {
        json_object_set_new(entries, key, after_take);
    } else {
        json_object_del(entries, key);
    }
    return json_object_set_new(out->state, section, entries) == 0 ? GK_OK : GK_ENOMEM;
}

/* A deep copy of the flag `def`, for modification. */
static json_t *
edit(const json_t *def)
{
    return json_deep_copy(def);
}

/* ---- migration flags ------------------------------------------------------------------------ */

/* The stages of a migration flag, in order (docs/flags.md "Migration flags"). */
static const char *const stage_names[] = {"off",  "dualwrite", "shadow",
                                          "live", "rampdown",  "complete"};
enum { N_STAGES = 6, STAGE_SHADOW = 2, STAGE_LIVE = 3 };

static int
is_migration(const json_t *def)
{
    const char *kind = json_string_value(json_object_get(def, "kind"));

    return kind != NULL && strcmp(kind, "migration") == 0;
}

/* ---- rollout weights ------------------------------------------------------------------------- */

/* The variant a percentage applies to: args.variant, the plan's, a single true-valued one, the last. */
static const char *
target_variant(const json_t *def, const char *asked)
{
    const json_t *variants = json_object_get(def, "variants");
    const char *plan_variant = json_string_value(json_object_get(json_object_get(def, "plan"),
                                                                 "variant"));
    const char *name, *truthy = NULL, *last = NULL;
    json_t *value;
    int ntrue = 0;

    if (asked != NULL) {
        return json_object_get(variants, asked) != NULL ? asked : NULL;
    }
    if (plan_variant != NULL) {
        return plan_variant;
    }
    json_object_foreach((json_t *) (uintptr_t) variants, name, value)
    {
        if (json_is_true(value)) {
            truthy = name;
            ntrue++;
        }
        last = name;
    }
    return ntrue == 1 ? truthy : last;
}

/* Weights giving `percent` to `variant` and the rest to the default variant. */
static json_t *
percent_weights(const json_t *def, const char *variant, double percent)
{
    const char *dflt = json_string_value(json_object_get(def, "defaultVariant"));
    json_int_t share = (json_int_t) llround(percent * 1000.0);
    json_t *weights = json_object();
    const char *name;
    json_t *value;

    json_object_foreach((json_t *) (uintptr_t) json_object_get(def, "variants"), name, value)
    {
        json_int_t w = strcmp(name, variant) == 0   ? share
                       : strcmp(name, dflt) == 0 ? GKD_BUCKET_SCALE - share
                                                 : 0;
        json_object_set_new(weights, name, json_integer(w));
    }
    return weights;
}

/* The share in percent of the plan's (or the true, or the last) variant; -1 without a rollout. */
static double
current_percent(const json_t *def)
{
    const json_t *rollout = json_object_get(def, "rollout");
    const char *variant = target_variant(def, NULL);

    if (rollout == NULL || variant == NULL) {
        return -1;
    }
    return (double) json_integer_value(json_object_get(rollout, variant)) / 1000.0;
}

/* Sets the flag's rollout to `percent` of `variant` in `copy`; refuses bad combinations. */
static int
set_percent(json_t *copy, const char *key, const char *variant, double percent,
            gkd_op_outcome *out)
{
    const char *dflt = json_string_value(json_object_get(copy, "defaultVariant"));

    if (variant == NULL || dflt == NULL || strcmp(variant, dflt) == 0) {
        refuse(out, GKP_ADMIN_INVALID_REQUEST,
               "flag \"%.100s\": name the variant to roll out (--variant), one other than the "
               "default variant",
               key);
        return -1;
    }
    if (!(percent >= 0 && percent <= 100)) {
        refuse(out, GKP_ADMIN_INVALID_REQUEST, "percent must be between 0 and 100");
        return -1;
    }
    json_object_set_new(copy, "rollout", percent_weights(copy, variant, percent));
    return 0;
}

/* ---- change ops -------------------------------------------------------------------------------- */

static gk_err
op_rollout_set(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    const json_t *def = existing_flag(args, state, out);
    const json_t *percent = json_object_get(args, "percent");
    const json_t *weights = json_object_get(args, "weights");
    json_t *copy;

    (void) now_s;
    (void) actor;
    if (def == NULL) {
        return GK_OK;
    }
    if ((percent == NULL) == (weights == NULL) || (percent != NULL && !json_is_number(percent)) ||
        (weights != NULL && !json_is_object(weights))) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "rollout.set takes \"percent\" (0-100, with \"variant\" optional) or "
                      "\"weights\" ({variant: weight out of 100000})");
    }
    copy = edit(def);
    if (percent != NULL) {
        const char *asked = json_string_value(json_object_get(args, "variant"));
        if (set_percent(copy, arg_key(args), target_variant(def, asked),
                        json_number_value(percent), out) != 0) {
            json_decref(copy);
            return GK_OK;
        }
    } else {
        json_object_set(copy, "rollout", (json_t *) (uintptr_t) weights);
    }
    return change(out, "flags", "flag", arg_key(args), copy);
}

static gk_err
op_rollout_plan(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    const json_t *def = existing_flag(args, state, out);
    const json_t *steps = json_object_get(args, "steps");
    const json_t *hold = json_object_get(args, "holdSeconds");
    const char *variant;
    json_t *copy;

    (void) now_s;
    (void) actor;
    if (def == NULL) {
        return GK_OK;
    }
    variant = target_variant(def, json_string_value(json_object_get(args, "variant")));
    if (!json_is_array(steps) || (hold != NULL && !json_is_integer(hold)) || variant == NULL) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "rollout.plan takes \"steps\" (increasing percentages), \"holdSeconds\" and "
                      "optionally \"variant\" (one of the flag's variants)");
    }
    copy = edit(def);
    json_object_set_new(copy, "plan",
                        json_pack("{s:s, s:O, s:I, s:i, s:b}", "variant", variant, "steps", steps,
                                  "holdSeconds", hold != NULL ? json_integer_value(hold) : 0,
                                  "step", -1, "paused", 0));
    return change(out, "flags", "flag", arg_key(args), copy);
}

/* The plan of `def`, or a refusal saying how to make one. */
static const json_t *
existing_plan(const json_t *def, const char *key, gkd_op_outcome *out)
{
    const json_t *plan = json_object_get(def, "plan");

    if (plan == NULL) {
        refuse(out, GKP_ADMIN_INVALID_REQUEST,
               "flag \"%.100s\" has no rollout plan; make one with `gkctl rollout plan %.100s "
               "--steps 1,5,25,100 --hold 10m`",
               key, key);
    }
    return plan;
}

/* Moves the plan of `def` to step `step` (-1: before the first) at now_s. */
static gk_err
go_to_step(const json_t *def, const json_t *plan, json_int_t step, int64_t now_s,
           const char *key, gkd_op_outcome *out)
{
    json_t *copy = edit(def);
    json_t *cplan = json_object_get(copy, "plan");
    const json_t *steps = json_object_get(plan, "steps");
    double percent = step >= 0 ? json_number_value(json_array_get(steps, (size_t) step)) : 0;

    json_object_set_new(cplan, "step", json_integer(step));
    json_object_set_new(cplan, "stepAt", json_integer(now_s));
    if (set_percent(copy, key, json_string_value(json_object_get(plan, "variant")), percent,
                    out) != 0) {
        json_decref(copy);
        return GK_OK;
    }
    return change(out, "flags", "flag", key, copy);
}

static gk_err
op_rollout_advance(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    const json_t *def = existing_flag(args, state, out);
    const json_t *plan = def != NULL ? existing_plan(def, arg_key(args), out) : NULL;
    json_int_t step, hold, at, last;

    (void) actor;
    if (plan == NULL) {
        return GK_OK;
    }
    step = json_integer_value(json_object_get(plan, "step"));
    hold = json_integer_value(json_object_get(plan, "holdSeconds"));
    at = json_integer_value(json_object_get(plan, "stepAt"));
    last = (json_int_t) json_array_size(json_object_get(plan, "steps")) - 1;
    if (json_is_true(json_object_get(plan, "paused"))) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "the rollout of \"%.100s\" is paused; `gkctl rollout resume %.100s` first",
                      arg_key(args), arg_key(args));
    }
    if (step >= last) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "the rollout of \"%.100s\" is at its last step already", arg_key(args));
    }
    if (step >= 0 && now_s < at + hold && !json_is_true(json_object_get(args, "force"))) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "step %lld of \"%.100s\" holds for %lld s more; wait, or pass --force",
                      (long long) step + 1, arg_key(args), (long long) (at + hold - now_s));
    }
    return go_to_step(def, plan, step + 1, now_s, arg_key(args), out);
}

static gk_err
op_rollout_back(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    const json_t *def = existing_flag(args, state, out);
    const json_t *plan = def != NULL ? existing_plan(def, arg_key(args), out) : NULL;
    json_int_t step;

    (void) actor;
    if (plan == NULL) {
        return GK_OK;
    }
    step = json_integer_value(json_object_get(plan, "step"));
    if (step < 0) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "the rollout of \"%.100s\" has not started: nothing to go back to",
                      arg_key(args));
    }
    return go_to_step(def, plan, step - 1, now_s, arg_key(args), out);
}

/* Sets member `name` of the flag (value NULL: removes it) and records the change. */
static gk_err
set_member(const json_t *def, const char *key, const char *name, json_t *value_take,
           gkd_op_outcome *out)
{
    json_t *copy = edit(def);

    if (value_take != NULL) {
        json_object_set_new(copy, name, value_take);
    } else {
        json_object_del(copy, name);
    }
    return change(out, "flags", "flag", key, copy);
}

static gk_err
set_paused(const json_t *args, const json_t *state, int paused, gkd_op_outcome *out)
{
    const json_t *def = existing_flag(args, state, out);
    const json_t *plan = def != NULL ? existing_plan(def, arg_key(args), out) : NULL;
    json_t *cplan;

    if (plan == NULL) {
        return GK_OK;
    }
    cplan = json_deep_copy(plan);
    json_object_set_new(cplan, "paused", json_boolean(paused));
    return set_member(def, arg_key(args), "plan", cplan, out);
}

static gk_err
op_rollout_pause(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    (void) now_s;
    (void) actor;
    return set_paused(args, state, 1, out);
}

static gk_err
op_rollout_resume(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    (void) now_s;
    (void) actor;
    return set_paused(args, state, 0, out);
}

static gk_err
op_kill(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    const json_t *def = existing_flag(args, state, out);

    (void) now_s;
    (void) actor;
    return def == NULL ? GK_OK
                       : set_member(def, arg_key(args), "state", json_string("DISABLED"), out);
}

static gk_err
op_unkill(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    const json_t *def = existing_flag(args, state, out);

    (void) now_s;
    (void) actor;
    return def == NULL ? GK_OK : set_member(def, arg_key(args), "state", NULL, out);
}

/* optin.add / optin.remove: the consumer joins or leaves the flag's "optIns". */
static gk_err
opt_in(const json_t *args, const json_t *state, int add, gkd_op_outcome *out)
{
    const json_t *def = existing_flag(args, state, out);
    const char *consumer = json_string_value(json_object_get(args, "consumer"));
    json_t *list, *name;
    size_t i, found = (size_t) -1;

    if (def == NULL) {
        return GK_OK;
    }
    if (consumer == NULL || !gkd_flag_valid_key(consumer)) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "optin takes \"consumer\": the service name that opts in or out");
    }
    list = json_deep_copy(json_object_get(def, "optIns"));
    list = list != NULL ? list : json_array();
    json_array_foreach(list, i, name)
    {
        if (strcmp(json_string_value(name), consumer) == 0) {
            found = i;
        }
    }
    if (add == (found != (size_t) -1)) {
        json_decref(list);
        return refuse(out, GKP_ADMIN_INVALID_REQUEST, "consumer \"%.60s\" has %s opted in to %.100s",
                      consumer, add ? "already" : "not", arg_key(args));
    }
    if (add) {
        json_array_append_new(list, json_string(consumer));
    } else {
        json_array_remove(list, found);
    }
    return set_member(def, arg_key(args), "optIns", list, out);
}

static gk_err
op_optin_add(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    (void) now_s;
    (void) actor;
    return opt_in(args, state, 1, out);
}

static gk_err
op_optin_remove(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    (void) now_s;
    (void) actor;
    return opt_in(args, state, 0, out);
}

static gk_err
op_delete(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    (void) now_s;
    (void) actor;
    return existing_flag(args, state, out) == NULL ? GK_OK
                                                   : change(out, "flags", "flag", arg_key(args),
                                                            NULL);
}

json_t *
gkd_ops_normalize_flag(const json_t *def)
{
    json_t *out;

    /* Most flags need nothing: they are shared, not copied (a bootstrap has 10,000 of them). */
    if (!is_migration(def) || (json_object_get(def, "variants") != NULL &&
                               json_object_get(def, "defaultVariant") != NULL)) {
        return json_incref((json_t *) (uintptr_t) def);
    }
    /* Shallow: only top-level members are added; the nested values stay shared. */
    out = json_copy((json_t *) (uintptr_t) def);
    if (out != NULL) {
        if (json_object_get(out, "variants") == NULL) {
            json_t *stages = json_object();
            for (size_t i = 0; stages != NULL && i < N_STAGES; i++) {
                json_object_set_new(stages, stage_names[i], json_string(stage_names[i]));
            }
            json_object_set_new(out, "variants", stages);
        }
        if (json_object_get(out, "defaultVariant") == NULL) {
            json_object_set_new(out, "defaultVariant", json_string("off"));
        }
    }
    return out;
}

/*
 * The definition flag.apply stores: the one given (normalised), keeping what the admin plane
 * maintains (the kill switch "state", the rollout "plan", the "optIns", a migration's "backfill")
 * unless the definition sets them, so that applying a file neither unkills a flag nor drops a
 * running plan. New reference.
 */
static json_t *
applied(const json_t *def, const json_t *before)
{
    static const char *const kept[] = {"state", "plan", "optIns", "backfill"};
    json_t *normal = gkd_ops_normalize_flag(def);
    json_t *out = normal != NULL ? json_copy(normal) : NULL; /* ours to add members to */

    json_decref(normal);
    for (size_t i = 0; out != NULL && before != NULL && i < sizeof(kept) / sizeof(kept[0]); i++) {
        const json_t *v = json_object_get(before, kept[i]);
        if (v != NULL && json_object_get(out, kept[i]) == NULL) {
            json_object_set(out, kept[i], (json_t *) (uintptr_t) v);
        }
    }
    return out;
}

/* flag.apply: every definition given is created or replaced; the result lists each with its diff. */
static gk_err
op_apply(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    const json_t *flags = json_object_get(args, "flags");
    const json_t *current = json_object_get(state, "flags");
    json_t *list = json_array();
    const char *key;
    json_t *def;
    gk_err rv = GK_OK;

    (void) now_s;
    (void) actor;
    if (!json_is_object(flags) || json_object_size(flags) == 0) {
        json_decref(list);
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "flag.apply takes \"flags\": {key: definition, ...} (a flags document's "
                      "\"flags\")");
    }
    json_object_foreach((json_t *) (uintptr_t) flags, key, def)
    {
        const json_t *before = json_object_get(current, key);
        json_t *after = applied(def, before);
        const char *what = before == NULL ? "create" : json_equal(before, after) ? "unchanged"
                                                                                 : "update";
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:O?, s:O}", "kind", "flag", "key",
                                              key, "change", what, "before", before, "after",
                                              after));
        if (rv == GK_OK && strcmp(what, "unchanged") != 0) {
            rv = change(out, "flags", "flag", key, json_incref(after));
        }
        json_decref(after);
    }
    out->result = json_pack("{s:b, s:o}", "dryRun", json_is_true(json_object_get(args, "dryRun")),
                            "changes", list);
    return rv;
}

/* ---- schemas, consumers, backfill -------------------------------------------------------------- */

static const char *
arg_name(const json_t *args)
{
    return json_string_value(json_object_get(args, "name"));
}

/* An array of non-empty strings (NULL passes: the member is optional). */
static int
string_list_or_absent(const json_t *v)
{
    const json_t *item;
    size_t i;

    if (v == NULL) {
        return 1;
    }
    if (!json_is_array(v)) {
        return 0;
    }
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item) || json_string_length(item) == 0) {
            return 0;
        }
    }
    return 1;
}

/*
 * schema.register: appends args.schema as the next version of state.schemas[name] (creating the
 * schema, which then needs a mode). The change's before/after are the schema entries; the admin
 * path shows the policies the version view {name, mode, version, schema} (policies/README.md).
 */
static gk_err
op_schema_register(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
                   gkd_op_outcome *out)
{
    const char *name = arg_name(args);
    const json_t *schema = json_object_get(args, "schema");
    const char *mode = json_string_value(json_object_get(args, "mode"));
    const json_t *pii = json_object_get(args, "pii");
    const json_t *owner = json_object_get(args, "owner");
    const json_t *before = name != NULL
                               ? json_object_get(json_object_get(state, "schemas"), name)
                               : NULL;
    json_t *entry, *versions;

    (void) actor;
    (void) now_s;
    if (name == NULL || !gkd_flag_valid_key(name)) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "schema.register takes \"name\": the schema's name (letters, digits, '.', "
                      "'_', '-')");
    }
    if (!json_is_object(schema) && !json_is_array(schema) && !json_is_string(schema)) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "schema.register takes \"schema\": the Avro schema (JSON) of the new version");
    }
    if ((json_object_get(args, "mode") != NULL && (mode == NULL || !gkd_registry_valid_mode(mode))) ||
        (mode == NULL && before == NULL)) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "schema \"%.60s\": %s \"mode\": BACKWARD, BACKWARD_TRANSITIVE, FORWARD, "
                      "FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE or NONE",
                      name, before == NULL ? "a new schema needs" : "give a valid");
    }
    if (!string_list_or_absent(pii) || (owner != NULL && !json_is_string(owner))) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "schema.register: \"pii\" is a list of field names and \"owner\" a team");
    }
    entry = before != NULL ? json_deep_copy(before) : json_object();
    versions = json_object_get(entry, "versions");
    if (versions == NULL) {
        versions = json_array();
        json_object_set_new(entry, "versions", versions);
    }
    json_array_append(versions, (json_t *) (uintptr_t) schema);
    if (mode != NULL) {
        json_object_set_new(entry, "mode", json_string(mode));
    }
    if (pii != NULL) {
        json_object_set(entry, "pii", (json_t *) (uintptr_t) pii);
    }
    if (owner != NULL) {
        json_object_set(entry, "owner", (json_t *) (uintptr_t) owner);
    }
    out->result = json_pack("{s:s, s:I}", "name", name, "version",
                            (json_int_t) json_array_size(versions));
    return change(out, "schemas", "schema", name, entry);
}

/* An array of schema versions (integers >= 1), non-empty. */
static int
version_list(const json_t *v)
{
    const json_t *item;
    size_t i;

    if (!json_is_array(v) || json_array_size(v) == 0) {
        return 0;
    }
    json_array_foreach(v, i, item)
    {
        if (!json_is_integer(item) || json_integer_value(item) < 1) {
            return 0;
        }
    }
    return 1;
}

/*
 * consumer.register: creates or replaces state.consumers[name] with the versions it supports of
 * args.schema (its support of other schemas is kept), its owner and clearances.
 */
static gk_err
op_consumer_register(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
                     gkd_op_outcome *out)
{
    const char *name = arg_name(args);
    const char *schema = json_string_value(json_object_get(args, "schema"));
    const json_t *supports = json_object_get(args, "supports");
    const json_t *owner = json_object_get(args, "owner");
    const json_t *clearances = json_object_get(args, "clearances");
    const json_t *before = name != NULL
                               ? json_object_get(json_object_get(state, "consumers"), name)
                               : NULL;
    json_t *entry, *schemas;

    (void) actor;
    (void) now_s;
    if (name == NULL || !gkd_flag_valid_key(name) || schema == NULL ||
        !gkd_flag_valid_key(schema) || !version_list(supports) || !json_is_string(owner) ||
        json_string_length(owner) == 0 || !string_list_or_absent(clearances)) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "consumer.register takes \"name\" (the service), \"schema\", \"supports\" "
                      "(the versions it reads, e.g. [1, 2]), \"owner\" (its team) and optionally "
                      "\"clearances\" (e.g. [\"pii\"])");
    }
    entry = before != NULL ? json_deep_copy(before) : json_object();
    schemas = json_object_get(entry, "schemas");
    if (!json_is_object(schemas)) {
        schemas = json_object();
        json_object_set_new(entry, "schemas", schemas);
    }
    json_object_set(schemas, schema, (json_t *) (uintptr_t) supports);
    json_object_set(entry, "owner", (json_t *) (uintptr_t) owner);
    if (clearances != NULL) {
        json_object_set(entry, "clearances", (json_t *) (uintptr_t) clearances);
    }
    return change(out, "consumers", "consumer", name, entry);
}

/* backfill.done: the migration flag's backfill is complete, as of now, by the actor. */
static gk_err
op_backfill_done(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
                 gkd_op_outcome *out)
{
    const json_t *def = existing_flag(args, state, out);

    if (def == NULL) {
        return GK_OK;
    }
    if (!is_migration(def)) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST,
                      "flag \"%.100s\" is not a migration flag (\"kind\": \"migration\"): it has "
                      "no backfill",
                      arg_key(args));
    }
    return set_member(def, arg_key(args), "backfill",
                      json_pack("{s:b, s:I, s:s?}", "complete", 1, "at", (json_int_t) now_s, "by",
                                actor),
                      out);
}

static gk_err
op_schema_list(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
               gkd_op_outcome *out)
{
    json_t *list = json_array();
    const char *name;
    json_t *entry;

    (void) args;
    (void) actor;
    (void) now_s;
    json_object_foreach((json_t *) (uintptr_t) json_object_get(state, "schemas"), name, entry)
    {
        json_array_append_new(
            list, json_pack("{s:s, s:O?, s:O?, s:I, s:O?}", "name", name, "mode",
                            json_object_get(entry, "mode"), "owner",
                            json_object_get(entry, "owner"), "versions",
                            (json_int_t) json_array_size(json_object_get(entry, "versions")),
                            "pii", json_object_get(entry, "pii")));
    }
    out->result = json_pack("{s:o}", "schemas", list);
    return GK_OK;
}

static gk_err
op_schema_get(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
              gkd_op_outcome *out)
{
    const char *name = arg_name(args);
    const json_t *entry = name != NULL ? json_object_get(json_object_get(state, "schemas"), name)
                                       : NULL;
    const json_t *version = json_object_get(args, "version");
    const json_t *versions = json_object_get(entry, "versions");
    size_t n = json_array_size(versions);
    json_int_t v = json_is_integer(version) ? json_integer_value(version) : (json_int_t) n;

    (void) actor;
    (void) now_s;
    if (name == NULL) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST, "schema.get takes \"name\"");
    }
    if (entry == NULL) {
        return refuse(out, GKP_ADMIN_NOT_FOUND,
                      "no schema \"%.100s\"; `gkctl schema list` shows the schemas", name);
    }
    if ((version != NULL && !json_is_integer(version)) || v < 1 || v > (json_int_t) n) {
        return refuse(out, GKP_ADMIN_NOT_FOUND, "schema \"%.100s\" has versions 1 to %zu", name,
                      n);
    }
    out->result = json_pack("{s:s, s:O?, s:O?, s:O?, s:I, s:I, s:O}", "name", name, "mode",
                            json_object_get(entry, "mode"), "owner",
                            json_object_get(entry, "owner"), "pii", json_object_get(entry, "pii"),
                            "version", v, "versions", (json_int_t) n, "schema",
                            json_array_get(versions, (size_t) (v - 1)));
    return GK_OK;
}

/* ---- read ops ---------------------------------------------------------------------------------- */

static gk_err
op_get(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    const json_t *def = existing_flag(args, state, out);

    (void) now_s;
    (void) actor;
    if (def != NULL) {
        out->result = json_pack("{s:s, s:O}", "key", arg_key(args), "definition", def);
    }
    return GK_OK;
}

static json_t *
variant_names(const json_t *def)
{
    json_t *names = json_array();
    const char *name;
    json_t *value;

    json_object_foreach((json_t *) (uintptr_t) json_object_get(def, "variants"), name, value)
    {
        json_array_append_new(names, json_string(name));
    }
    return names;
}

static const char *
state_of(const json_t *def)
{
    const char *s = json_string_value(json_object_get(def, "state"));

    return s != NULL ? s : "ENABLED";
}

static gk_err
op_list(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    json_t *list = json_array();
    const char *key;
    json_t *def;

    (void) args;
    (void) now_s;
    (void) actor;
    json_object_foreach((json_t *) (uintptr_t) json_object_get(state, "flags"), key, def)
    {
        json_array_append_new(
            list, json_pack("{s:s, s:O?, s:s, s:o, s:O?}", "key", key, "owner",
                            json_object_get(def, "owner"), "state", state_of(def), "variants",
                            variant_names(def), "rollout", json_object_get(def, "rollout")));
    }
    out->result = json_pack("{s:o}", "flags", list);
    return GK_OK;
}

static int
list_has_string(const json_t *list, const char *s)
{
    const json_t *item;
    size_t i;

    json_array_foreach(list, i, item)
    {
        if (json_is_string(item) && strcmp(json_string_value(item), s) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
list_has_integer(const json_t *list, json_int_t v)
{
    const json_t *item;
    size_t i;

    json_array_foreach(list, i, item)
    {
        if (json_is_integer(item) && json_integer_value(item) == v) {
            return 1;
        }
    }
    return 0;
}

/*
 * What `gkctl status` shows of a migration flag: the share of each stage (percent, flag-level
 * rollout; the default stage holds everything without one), and every registered consumer of the
 * schema with the last stage it can be given ("off" without support for the target version,
 * at most "shadow" until it opts in) and the gate it blocks ("live") or null.
 */
static void
migration_status(json_t *entry, const json_t *def, const json_t *state)
{
    const json_t *mig = json_object_get(def, "migration");
    const json_t *rollout = json_object_get(def, "rollout");
    const char *dflt = json_string_value(json_object_get(def, "defaultVariant"));
    const char *schema = json_string_value(json_object_get(mig, "schema"));
    json_int_t to = json_integer_value(json_object_get(mig, "to"));
    json_t *stages = json_object(), *consumers = json_array(), *cdef;
    const char *cname;
    int furthest = 0;

    for (int i = 0; i < N_STAGES; i++) {
        json_int_t w = rollout != NULL
                           ? json_integer_value(json_object_get(rollout, stage_names[i]))
                           : (dflt != NULL && strcmp(dflt, stage_names[i]) == 0 ? 100000 : 0);
        json_object_set_new(stages, stage_names[i], json_real((double) w / 1000.0));
        if (w > 0) {
            furthest = i;
        }
    }
    json_object_foreach((json_t *) (uintptr_t) json_object_get(state, "consumers"), cname, cdef)
    {
        const json_t *supports =
            schema != NULL ? json_object_get(json_object_get(cdef, "schemas"), schema) : NULL;
        int supported, opted;
        int stage = furthest;

        if (supports == NULL) {
            continue;
        }
        supported = list_has_integer(supports, to);
        opted = list_has_string(json_object_get(def, "optIns"), cname);
        if (!supported) {
            stage = 0;
        } else if (!opted && stage > STAGE_SHADOW) {
            stage = STAGE_SHADOW;
        }
        json_array_append_new(consumers,
                              json_pack("{s:s, s:O, s:b, s:b, s:s, s:s?}", "name", cname,
                                        "supports", supports, "supportsTarget", supported,
                                        "optedIn", opted, "stage", stage_names[stage], "blocks",
                                        supported && opted ? NULL : "live"));
    }
    json_object_set_new(entry, "kind", json_string("migration"));
    json_object_set(entry, "migration", (json_t *) (uintptr_t) mig);
    json_object_set_new(entry, "backfill",
                        json_object_get(def, "backfill") != NULL
                            ? json_incref(json_object_get(def, "backfill"))
                            : json_pack("{s:b}", "complete", 0));
    json_object_set_new(entry, "stages", stages);
    json_object_set_new(entry, "consumers", consumers);
}

static gk_err
op_status(const json_t *args, const json_t *state, const char *actor, int64_t now_s,
    gkd_op_outcome *out)
{
    const char *only = arg_key(args);
    json_t *list = json_array();
    const char *key;
    json_t *def;

    (void) now_s;
    (void) actor;
    if (only != NULL && existing_flag(args, state, out) == NULL) {
        json_decref(list);
        return GK_OK;
    }
    json_object_foreach((json_t *) (uintptr_t) json_object_get(state, "flags"), key, def)
    {
        double pct = current_percent(def);
        json_t *opt_ins = json_object_get(def, "optIns");
        json_t *entry;

        if (only != NULL && strcmp(only, key) != 0) {
            continue;
        }
        entry = json_pack("{s:s, s:O?, s:s, s:O?, s:O?, s:o, s:O?, s:o}", "key", key, "owner",
                          json_object_get(def, "owner"), "state", state_of(def),
                          "defaultVariant", json_object_get(def, "defaultVariant"), "rollout",
                          json_object_get(def, "rollout"), "percent",
                          pct >= 0 ? json_real(pct) : json_null(), "plan",
                          json_object_get(def, "plan"), "optIns",
                          opt_ins != NULL ? json_incref(opt_ins) : json_array());
        if (entry != NULL && is_migration(def)) {
            migration_status(entry, def, state);
        }
        json_array_append_new(list, entry);
    }
    out->result = json_pack("{s:o}", "flags", list);
    return GK_OK;
}

/* ---- dispatch ---------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    op_fn fn;
    int changes;
} ops[] = {
    {"flag.apply", op_apply, 1},           {"flag.delete", op_delete, 1},
    {"flag.kill", op_kill, 1},             {"flag.unkill", op_unkill, 1},
    {"rollout.set", op_rollout_set, 1},    {"rollout.plan", op_rollout_plan, 1},
    {"rollout.advance", op_rollout_advance, 1}, {"rollout.back", op_rollout_back, 1},
    {"rollout.pause", op_rollout_pause, 1}, {"rollout.resume", op_rollout_resume, 1},
    {"optin.add", op_optin_add, 1},        {"optin.remove", op_optin_remove, 1},
    {"flag.get", op_get, 0},               {"flag.list", op_list, 0},
    {"status", op_status, 0},
    {"schema.register", op_schema_register, 1},
    {"consumer.register", op_consumer_register, 1},
    {"backfill.done", op_backfill_done, 1},
    {"schema.list", op_schema_list, 0},
    {"schema.get", op_schema_get, 0},
};

static int
find_op(const char *name)
{
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(ops[i].name, name) == 0) {
            return (int) i;
        }
    }
    return -1;
}

int
gkd_ops_is_change(const char *op)
{
    int i = find_op(op);

    return i < 0 ? -1 : ops[i].changes;
}

gk_err
gkd_ops_run(const char *op, const json_t *args, const json_t *state, const char *actor,
            int64_t now_s, gkd_op_outcome *out)
{
    int i = find_op(op);
    gk_err rv;

    memset(out, 0, sizeof(*out));
    if (i < 0) {
        return refuse(out, GKP_ADMIN_INVALID_REQUEST, "unknown op \"%.60s\"", op);
    }
    if (ops[i].changes) {
        out->changes = json_array();
        out->state = json_copy((json_t *) (uintptr_t) state);
        if (out->changes == NULL || out->state == NULL) {
            gkd_ops_outcome_fini(out);
            return GK_ENOMEM;
        }
    }
    rv = ops[i].fn(args, state, actor, now_s, out);
    if (rv != GK_OK || out->error != GKP_ADMIN_OK) {
        json_decref(out->changes);
        json_decref(out->state);
        out->changes = NULL;
        out->state = NULL;
    }
    return rv;
}

void
gkd_ops_outcome_fini(gkd_op_outcome *out)
{
    json_decref(out->changes);
    json_decref(out->state);
    json_decref(out->result);
    memset(out, 0, sizeof(*out));
}

json_t *
gkd_ops_resource(const char *op, const json_t *args, const json_t *state)
{
    const char *key = arg_key(args);
    const json_t *owner = NULL;

    if (strncmp(op, "audit.", 6) == 0) {
        return json_pack("{s:s}", "kind", "audit");
    }
    if (strncmp(op, "schema.", 7) == 0 || strcmp(op, "consumer.register") == 0) {
        const char *kind = op[0] == 's' ? "schema" : "consumer";
        const char *name = json_string_value(json_object_get(args, "name"));
        owner = name != NULL ? json_object_get(
                                   json_object_get(json_object_get(state, op[0] == 's'
                                                                              ? "schemas"
                                                                              : "consumers"),
                                                   name),
                                   "owner")
                             : NULL;
        return json_pack("{s:s, s:s?, s:O?}", "kind", kind, "key", name, "owner", owner);
    }
    if (strcmp(op, "status") == 0 || strcmp(op, "flag.list") == 0 ||
        (strcmp(op, "flag.apply") == 0 && key == NULL)) {
        /* flag.apply of several flags is authorised per flag by the admin path. */
        return json_pack("{s:s}", "kind", strcmp(op, "flag.apply") == 0 ? "flag" : "status");
    }
    owner = json_object_get(json_object_get(json_object_get(state, "flags"), key), "owner");
    return json_pack("{s:s, s:s?, s:O?}", "kind", "flag", "key", key, "owner", owner);
}
