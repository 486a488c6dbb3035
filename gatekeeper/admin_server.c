/*
 * admin_server.c - the admin socket: authenticate, authorise, compute, gate, commit, publish.
 */
#include "admin_server.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "admin.h" /* proto/admin.h */
#include "b64url.h"
#include "clock.h"
#include "listen.h"
#include "log.h"
#include "ops.h"
#include "policy.h"
#include "snapshot.h"
#include "vocab.h"

struct gkd_admin_server {
    gkd_admin_server_config config;
    nng_socket sock;
    int sock_open;
    pthread_t thread;
    int started;
    pthread_mutex_t actors_lock;
    gkd_actors *actors;
    json_t *state;          /* the committed state, version `version` */
    uint64_t version;
    gkd_policy_vm *vm;      /* the admin path's policies */
    uint64_t generation;    /* of the state last given to vm: every request gives a fresh one */
    json_t *jtis;           /* jti -> expiry (unix s): requests seen within the iat window */
    size_t snapshot_flags;  /* flags in the snapshot of the last change (0: none since start) */
    int64_t build_us;       /* how long that snapshot took to build and swap in, µs */
    int trim_pending;       /* a snapshot was swapped in: give the freed heap back after the reply */
};

/* A reply under construction: the outcome of one request. */
typedef struct answer {
    gkp_admin_error error;
    char message[256];
    json_t *details;        /* error details (new reference) or NULL */
    json_t *result;         /* ok result (new reference) or NULL */
} answer;

static void answer_error(answer *a, gkp_admin_error e, json_t *details_take, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
answer_error(answer *a, gkp_admin_error e, json_t *details_take, const char *fmt, ...)
{
    va_list ap;

    a->error = e;
    va_start(ap, fmt);
    vsnprintf(a->message, sizeof(a->message), fmt, ap);
    va_end(ap);
    json_decref(a->details);
    a->details = details_take;
}

/* ---- replay protection ------------------------------------------------------------------------ */

/* Forgets jtis whose request could no longer pass the iat check. */
static void
purge_jtis(gkd_admin_server *s, int64_t now_s)
{
    const char *jti;
    json_t *expiry;
    void *tmp;

    json_object_foreach_safe(s->jtis, tmp, jti, expiry)
    {
        if (json_integer_value(expiry) < now_s) {
            json_object_del(s->jtis, jti);
        }
    }
}

/* Remembers a jti until its request's iat leaves the window; 0, or -1 when already seen. */
static int
remember_jti(gkd_admin_server *s, const char *jti, int64_t iat, int64_t now_s)
{
    if (json_object_get(s->jtis, jti) != NULL) {
        return -1;
    }
    if (json_object_size(s->jtis) > 4096) {
        purge_jtis(s, now_s);
    }
    json_object_set_new(s->jtis, jti, json_integer(iat + GKP_ADMIN_IAT_WINDOW_S));
    return 0;
}

/*
 * After a restart, the journal tells which recent requests were already applied: their jtis are
 * remembered again so they cannot be replayed in what is left of their window.
 */
static int
reload_jti(const json_t *record, void *arg)
{
    gkd_admin_server *s = arg;
    const char *jws = json_string_value(json_object_get(record, "request"));
    const char *dot1 = jws != NULL ? strchr(jws, '.') : NULL;
    const char *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    size_t b64 = dot2 != NULL ? (size_t) (dot2 - dot1 - 1) : 0, len = 0;
    uint8_t *payload = dot2 != NULL ? malloc(b64 / 4 * 3 + 3) : NULL;
    json_t *claims = NULL;

    if (payload != NULL &&
        gkp_b64url_decode(payload, b64 / 4 * 3 + 3, &len, dot1 + 1, b64) == GK_OK) {
        claims = json_loadb((const char *) payload, len, 0, NULL);
    }
    free(payload);
    if (json_is_string(json_object_get(claims, "jti"))) {
        remember_jti(s, json_string_value(json_object_get(claims, "jti")),
                     json_integer_value(json_object_get(claims, "iat")), (int64_t) time(NULL));
    }
    json_decref(claims);
    return 0;
}

/* ---- policies ---------------------------------------------------------------------------------- */

/* The admin path's vm, current with the policy set and the state; NULL when none can run. */
static gkd_policy_vm *
admin_vm(gkd_admin_server *s)
{
    gkd_policy_set *set = gkd_slot_acquire(s->config.policies);
    gk_diag diag = {0};

    if (s->vm != NULL && gkd_policy_vm_set(s->vm) != set) {
        gkd_policy_vm_close(s->vm);
        s->vm = NULL;
    }
    if (s->vm == NULL && set != NULL && gkd_policy_vm_open(&s->vm, set, &diag) != GK_OK) {
        gkd_log(GKD_LOG_ERROR, "admin: cannot start the policies: %s:%d: %s", diag.source,
                diag.line, diag.text);
    }
    gkd_policy_set_rele(set);
    if (s->vm != NULL) {
        /*
         * The stored state plus what telemetry knows now (state.telemetry: the last old-path read
         * per flag, for the complete gate), so the policies never judge on old telemetry.
         */
        json_t *state = json_copy(s->state);
        gk_err rv = GK_ENOMEM;

        if (state != NULL && s->config.telemetry != NULL) {
            json_object_set_new(state, "telemetry", gkd_telemetry_state(s->config.telemetry));
        }
        if (state != NULL) {
            rv = gkd_policy_vm_set_state(s->vm, state, ++s->generation);
        }
        json_decref(state);
        if (rv != GK_OK) {
            return NULL;
        }
    }
    return s->vm;
}

/* status: each migration flag's entry gets what telemetry counted for it, per stage. */
static void
add_telemetry(gkd_admin_server *s, json_t *result)
{
    json_t *entry;
    size_t i;

    if (s->config.telemetry == NULL) {
        return;
    }
    json_array_foreach(json_object_get(result, "flags"), i, entry)
    {
        const char *kind = json_string_value(json_object_get(entry, "kind"));
        if (kind != NULL && strcmp(kind, "migration") == 0) {
            json_object_set_new(entry, "telemetry",
                                gkd_telemetry_flag(s->config.telemetry,
                                                   json_string_value(json_object_get(entry,
                                                                                     "key"))));
        }
    }
}

/*
 * status's "signing": {"noncePool": null} without a pool, else its capacity and fill, the
 * signatures made with a precomputed nonce and inline since start, and the CPU time per nonce in
 * µs (0 before the first).
 */
static json_t *
signing_status(const gkd_admin_server *s)
{
    gkd_presign_stats st;

    if (s->config.nonce_pool == NULL) {
        return json_pack("{s:n}", "noncePool");
    }
    gkd_presign_read_stats(s->config.nonce_pool, &st);
    return json_pack("{s:{s:I, s:I, s:I, s:I, s:f}}", "noncePool", "capacity",
                     (json_int_t) st.capacity, "ready", (json_int_t) st.ready, "presigned",
                     (json_int_t) st.presigned, "inline", (json_int_t) st.inline_sigs,
                     "cpuUsPerNonce",
                     st.computed > 0 ? (double) st.compute_ns / 1e3 / (double) st.computed : 0.0);
}

/* The verdicts of a trace that denied (or failed), for the DENIED answer. */
static json_t *
denials(const json_t *trace)
{
    json_t *out = json_array();
    const json_t *v;
    size_t i;

    json_array_foreach(trace, i, v)
    {
        const char *verdict = json_string_value(json_object_get(v, "verdict"));
        if (verdict != NULL && strcmp(verdict, "allow") != 0) {
            json_array_append(out, (json_t *) (uintptr_t) v);
        }
    }
    return out;
}

/*
 * Runs one hook (authorize with `arg` = req, or on_change with `arg` = change) and appends its
 * trace to `verdicts`. Returns 0 when allowed; otherwise fills the DENIED answer and returns -1.
 * Fail closed: no vm, an error, or (authorize) every policy abstaining is a denial.
 */
static int
gate(gkd_admin_server *s, int is_authorize, const json_t *arg, json_t *verdicts, answer *a)
{
    gkd_policy_vm *vm = admin_vm(s);
    gkd_policy_result res = {0};
    const char *hook = is_authorize ? "authorize" : "on_change";
    int allowed;

    if (vm == NULL) {
        answer_error(a, GKP_ADMIN_DENIED, NULL,
                     "the policies cannot run (see the gatekeeper log); changes are refused");
        return -1;
    }
    if (is_authorize) {
        gkd_policy_vm_authorize(vm, arg, 1, &res);
    } else {
        gkd_policy_vm_on_change(vm, arg, 1, &res);
    }
    if (res.trace != NULL) {
        json_array_extend(verdicts, res.trace);
    }
    allowed = res.outcome == GKD_POLICY_ALLOW ||
              (res.outcome == GKD_POLICY_DEFAULT && !is_authorize);
    if (!allowed) {
        json_t *details = json_pack("{s:o}", "verdicts", denials(res.trace));
        if (res.outcome == GKD_POLICY_ERROR) {
            answer_error(a, GKP_ADMIN_DENIED, details, "%s failed closed: %s", hook, res.error);
        } else if (res.outcome == GKD_POLICY_DEFAULT) {
            answer_error(a, GKP_ADMIN_DENIED, details,
                         "no policy allowed this %s; authorize denies by default", hook);
        } else {
            answer_error(a, GKP_ADMIN_DENIED, details, "%s denied by %s", hook, res.policy);
        }
    }
    gkd_policy_result_fini(&res);
    return allowed ? 0 : -1;
}

/* The op name the policies know: every audit read is "audit.read", every schema read "schema.read". */
static const char *
policy_op(const char *op)
{
    if (strcmp(op, "schema.list") == 0 || strcmp(op, "schema.get") == 0) {
        return "schema.read";
    }
    return strncmp(op, "audit.", 6) == 0 ? "audit.read" : op;
}

/*
 * authorize for the request; flag.apply is authorised once per flag it touches, as the
 * policies' flag.create or flag.update.
 */
static int
authorize(gkd_admin_server *s, const gkp_admin_request *req, const json_t *actor,
          json_t *verdicts, answer *a)
{
    const json_t *flags = json_object_get(req->args, "flags");
    const char *key;
    json_t *def;
    int rv = 0;

    if (strcmp(req->op, "flag.apply") == 0 && json_object_size(flags) > 0) {
        json_object_foreach((json_t *) (uintptr_t) flags, key, def)
        {
            const json_t *cur = json_object_get(json_object_get(s->state, "flags"), key);
            const json_t *owner = json_object_get(cur != NULL ? cur : def, "owner");
            json_t *r = json_pack("{s:O, s:s, s:{s:s, s:s, s:O?}, s:s, s:s?, s:O}", "actor",
                                  actor, "op", cur != NULL ? "flag.update" : "flag.create",
                                  "resource", "kind", "flag", "key",
                                  key, "owner", owner, "environment", s->config.environment,
                                  "why", req->why, "args", req->args);
            rv = rv == 0 ? gate(s, 1, r, verdicts, a) : rv;
            json_decref(r);
        }
        return rv;
    }
    {
        json_t *r = json_pack("{s:O, s:s, s:o, s:s, s:s?, s:O}", "actor", actor, "op",
                              policy_op(req->op), "resource",
                              gkd_ops_resource(req->op, req->args, s->state), "environment",
                              s->config.environment, "why", req->why, "args", req->args);
        rv = gate(s, 1, r, verdicts, a);
        json_decref(r);
    }
    return rv;
}

/* ---- reads of the journal ---------------------------------------------------------------------- */

typedef struct audit_query {
    const char *flag;       /* only records that change this flag; NULL: all */
    const char *since_time; /* RFC 3339: only records at or after it; NULL: all */
    json_t *records;        /* summaries collected */
} audit_query;

static int
touches(const json_t *record, const char *flag)
{
    const json_t *c;
    size_t i;

    json_array_foreach(json_object_get(record, "changes"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "key")), flag) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
collect_summary(const json_t *record, void *arg)
{
    audit_query *q = arg;
    const char *time_s = json_string_value(json_object_get(record, "time"));
    json_t *keys = json_array();
    const json_t *c;
    size_t i;

    if ((q->flag != NULL && !touches(record, q->flag)) ||
        (q->since_time != NULL && time_s != NULL && strcmp(time_s, q->since_time) < 0)) {
        json_decref(keys);
        return 0;
    }
    json_array_foreach(json_object_get(record, "changes"), i, c)
    {
        json_array_append(keys, json_object_get(c, "key"));
    }
    json_array_append_new(q->records,
                          json_pack("{s:O, s:O, s:O, s:O, s:o, s:O}", "seq",
                                    json_object_get(record, "seq"), "time",
                                    json_object_get(record, "time"), "actor",
                                    json_object_get(record, "actor"), "op",
                                    json_object_get(record, "op"), "keys", keys, "why",
                                    json_object_get(record, "why")));
    return 0;
}

static int
first_record(const json_t *record, void *arg)
{
    *(json_t **) arg = json_incref((json_t *) (uintptr_t) record);
    return 1;
}

static void
audit_read(gkd_admin_server *s, const gkp_admin_request *req, answer *a)
{
    gkd_store *st = s->config.store;
    gk_diag diag = {0};

    if (strcmp(req->op, "audit.log") == 0) {
        const json_t *since = json_object_get(req->args, "since");
        const json_t *limit = json_object_get(req->args, "limit");
        audit_query q = {json_string_value(json_object_get(req->args, "flag")),
                         json_string_value(since), json_array()};
        uint64_t from = json_is_integer(since) ? (uint64_t) json_integer_value(since) : 1;
        size_t n = json_is_integer(limit) ? (size_t) json_integer_value(limit) : 100;

        st->ops->audit(st, from > 0 ? from : 1, collect_summary, &q, &diag);
        /* The newest `n`: drop the oldest beyond the limit. */
        while (json_array_size(q.records) > n) {
            json_array_remove(q.records, 0);
        }
        a->result = json_pack("{s:o}", "records", q.records);
    } else if (strcmp(req->op, "audit.show") == 0) {
        const json_t *seq = json_object_get(req->args, "seq");
        json_t *record = NULL;

        if (json_is_integer(seq) && json_integer_value(seq) > 0) {
            st->ops->audit(st, (uint64_t) json_integer_value(seq), first_record, &record, &diag);
        }
        if (record == NULL || !json_equal(json_object_get(record, "seq"), seq)) {
            json_decref(record);
            answer_error(a, GKP_ADMIN_NOT_FOUND, NULL,
                         "no audit record %lld; `gkctl audit log` lists them",
                         (long long) json_integer_value(seq));
            return;
        }
        a->result = json_pack("{s:o}", "record", record);
    } else {
        uint64_t records = 0;
        json_t *last = NULL;
        gk_err rv = st->ops->verify(st, &records, &diag);

        if (rv == GK_OK && records > 0) {
            st->ops->audit(st, records, first_record, &last, &diag);
        }
        a->result = rv == GK_OK ? json_pack("{s:b, s:I, s:O?}", "ok", 1, "records",
                                            (json_int_t) records, "head",
                                            json_object_get(last, "hash"))
                                : json_pack("{s:b, s:I, s:s}", "ok", 0, "records",
                                            (json_int_t) records, "problem", diag.text);
        json_decref(last);
    }
}

/* ---- changes ----------------------------------------------------------------------------------- */

/* The flag keys a record's changes touch, for the change event. */
static json_t *
changed_flags(const json_t *changes)
{
    json_t *keys = json_array();
    const json_t *c;
    size_t i;

    json_array_foreach(changes, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "kind")), "flag") == 0) {
            json_array_append(keys, json_object_get(c, "key"));
        } else {
            json_array_clear(keys); /* a schema or consumer change: anything may have changed */
            break;
        }
    }
    return keys;
}

/*
 * What on_change sees of a schema or consumer entry (policies/README.md): a schema as its latest
 * version {name, mode, version, schema, owner, pii}, a consumer with its name. New reference, or
 * NULL for no entry.
 */
static json_t *
change_view(const char *kind, const char *key, const json_t *entry)
{
    const json_t *versions = json_object_get(entry, "versions");
    size_t n = json_array_size(versions);

    if (!json_is_object(entry)) {
        return NULL;
    }
    if (strcmp(kind, "schema") == 0) {
        return json_pack("{s:s, s:O?, s:I, s:O?, s:O?, s:O?}", "name", key, "mode",
                         json_object_get(entry, "mode"), "version", (json_int_t) n, "schema",
                         n > 0 ? json_array_get(versions, n - 1) : NULL, "owner",
                         json_object_get(entry, "owner"), "pii", json_object_get(entry, "pii"));
    }
    if (strcmp(kind, "consumer") == 0) {
        json_t *view = json_copy((json_t *) (uintptr_t) entry);
        json_object_set_new(view, "name", json_string(key));
        return view;
    }
    return json_incref((json_t *) (uintptr_t) entry);
}

/* Runs on_change for each change of the outcome; 0 when every one is allowed. */
static int
gate_changes(gkd_admin_server *s, const gkp_admin_request *req, const json_t *actor,
             const json_t *changes, json_t *verdicts, answer *a)
{
    const json_t *c;
    size_t i;

    json_array_foreach(changes, i, c)
    {
        const char *op = strcmp(req->op, "flag.apply") != 0 ? req->op
                         : json_is_null(json_object_get(c, "before")) ? "flag.create"
                                                                      : "flag.update";
        const char *kind = json_string_value(json_object_get(c, "kind"));
        const char *key = json_string_value(json_object_get(c, "key"));
        json_t *before = change_view(kind, key, json_object_get(c, "before"));
        json_t *after = change_view(kind, key, json_object_get(c, "after"));
        json_t *change = json_pack("{s:O, s:s, s:s, s:s, s:o, s:o, s:s?, s:s, s:O}", "actor",
                                   actor, "op", op, "kind", kind, "key", key, "before",
                                   before != NULL ? before : json_null(), "after",
                                   after != NULL ? after : json_null(), "why", req->why,
                                   "environment", s->config.environment, "args", req->args);
        int rv = gate(s, 0, change, verdicts, a);
        json_decref(change);
        if (rv != 0) {
            return -1;
        }
    }
    return 0;
}

static void
apply_change(gkd_admin_server *s, const gkp_admin_request *req, const json_t *actor, answer *a)
{
    gkd_op_outcome out;
    json_t *verdicts = json_array(), *record = NULL;
    gkd_snapshot *snap = NULL;
    gkd_store_change change;
    gk_diag diag = {0};
    int64_t now = (int64_t) time(NULL);
    int dry = json_is_true(json_object_get(req->args, "dryRun"));
    int64_t build_us, committed_at_us;
    gk_err rv;

    if (req->base != 0 && req->base != s->version) {
        answer_error(a, GKP_ADMIN_CONFLICT,
                     json_pack("{s:I, s:I}", "base", (json_int_t) req->base, "current",
                               (json_int_t) s->version),
                     "the state changed since version %llu (it is at %llu); read it again and "
                     "redo the change",
                     (unsigned long long) req->base, (unsigned long long) s->version);
        json_decref(verdicts);
        return;
    }
    if (gkd_ops_run(req->op, req->args, s->state, req->actor, now, &out) != GK_OK) {
        answer_error(a, GKP_ADMIN_INTERNAL, NULL, "out of memory; nothing was changed");
        json_decref(verdicts);
        return;
    }
    if (out.error != GKP_ADMIN_OK) {
        answer_error(a, out.error, NULL, "%s", out.message);
        goto done;
    }
    if (authorize(s, req, actor, verdicts, a) != 0 ||
        gate_changes(s, req, actor, out.changes, verdicts, a) != 0) {
        goto done;
    }
    /* The whole new state must build before anything is recorded. */
    build_us = gkd_clock_mono_us();
    {
        /* Unchanged flags are taken over from the serving snapshot instead of parsed again. */
        gkd_snapshot *prev = gkd_slot_acquire(s->config.snapshots);
        rv = gkd_snapshot_rebuild(&snap, prev, out.state, s->version + 1, "change", &diag);
        gkd_snapshot_rele(prev);
    }
    build_us = gkd_clock_mono_us() - build_us;
    if (rv != GK_OK) {
        answer_error(a, GKP_ADMIN_INVALID_REQUEST, NULL, "%s", diag.text);
        goto done;
    }
    a->result = out.result != NULL ? json_incref(out.result)
                                   : json_pack("{s:O}", "changes", out.changes);
    if (dry || json_array_size(out.changes) == 0) {
        goto done;
    }
    change = (gkd_store_change){
        .actor = req->actor,
        .op = req->op,
        .args = req->args,
        .why = req->why,
        .changes = out.changes,
        .verdicts = verdicts,
        .request = req->jws,
    };
    rv = s->config.store->ops->commit(s->config.store, s->version, &change, &record, &diag);
    if (rv != GK_OK) {
        json_decref(a->result);
        a->result = NULL;
        answer_error(a, rv == GK_ECONFLICT ? GKP_ADMIN_CONFLICT : GKP_ADMIN_INTERNAL, NULL,
                     "the change was not recorded, so nothing was applied: %s", diag.text);
        goto done;
    }
    committed_at_us = gkd_clock_wall_us();
    json_decref(s->state);
    s->state = json_incref(out.state);
    s->version++;
    s->snapshot_flags = gkd_snapshot_count(snap);
    s->build_us = gkd_clock_mono_us();
    gkd_slot_swap_take(s->config.snapshots, snap);
    s->build_us = gkd_clock_mono_us() - s->build_us + build_us;
    s->trim_pending = 1;
    snap = NULL;
    if (s->config.publisher != NULL) {
        json_t *keys = changed_flags(out.changes);
        gkd_publisher_send(s->config.publisher, s->version, keys, committed_at_us);
        json_decref(keys);
    }
    gkd_log(GKD_LOG_INFO, "change %llu by %s: %s (%s)", (unsigned long long) s->version,
            req->actor, req->op, req->why != NULL ? req->why : "no reason given");
done:
    gkd_snapshot_rele(snap);
    json_decref(record);
    json_decref(verdicts);
    gkd_ops_outcome_fini(&out);
}

/* ---- requests ---------------------------------------------------------------------------------- */

/* Authenticates the request; returns the actor's policy view, or NULL with the answer filled. */
static const json_t *
authenticate(gkd_admin_server *s, gkp_admin_request *req, const char *buf, size_t len, answer *a)
{
    const uint8_t *pk = NULL;
    const json_t *actor;
    gk_diag diag = {0};
    int64_t now = (int64_t) time(NULL);
    gk_err rv;

    if (gkp_admin_request_open(req, buf, len, &diag) != GK_OK) {
        /* A readable envelope whose JWS header is wrong is an authentication failure. */
        answer_error(a, req->jws != NULL ? GKP_ADMIN_UNAUTHENTICATED : GKP_ADMIN_INVALID_REQUEST,
                     NULL, "%s", diag.text);
        return NULL;
    }
    pthread_mutex_lock(&s->actors_lock);
    actor = gkd_actors_find(s->actors, req->actor, &pk);
    rv = actor != NULL ? gkp_admin_request_verify(req, pk, now, &diag) : GK_ENOKEY;
    actor = actor != NULL ? json_incref((json_t *) (uintptr_t) actor) : NULL;
    pthread_mutex_unlock(&s->actors_lock);
    if (rv == GK_ENOKEY) {
        answer_error(a, GKP_ADMIN_UNAUTHENTICATED, NULL,
                     "unknown actor \"%.60s\": not in the gatekeeper's actors file", req->actor);
    } else if (rv == GK_EBADSIG) {
        answer_error(a, GKP_ADMIN_UNAUTHENTICATED, NULL,
                     "the request's signature does not verify with the key of actor \"%.60s\"",
                     req->actor);
    } else if (rv == GK_EEXPIRED) {
        answer_error(a, GKP_ADMIN_STALE_REQUEST, NULL, "%s", diag.text);
    } else if (rv != GK_OK) {
        answer_error(a, GKP_ADMIN_INVALID_REQUEST, NULL, "%s", diag.text);
    } else if (remember_jti(s, req->jti, req->iat, now) != 0) {
        answer_error(a, GKP_ADMIN_REPLAYED, NULL,
                     "request %.64s was already received; sign a new request", req->jti);
        rv = GK_EPROTO;
    }
    if (rv != GK_OK) {
        json_decref((json_t *) (uintptr_t) actor);
        return NULL;
    }
    return actor;
}

static void
handle(gkd_admin_server *s, const char *buf, size_t len, answer *a)
{
    gkp_admin_request req = {0};
    const json_t *actor = authenticate(s, &req, buf, len, a);
    int kind;

    if (actor == NULL) {
        gkp_admin_request_fini(&req);
        return;
    }
    kind = gkd_ops_is_change(req.op);
    if (kind < 0 && strcmp(req.op, "audit.log") != 0 && strcmp(req.op, "audit.show") != 0 &&
        strcmp(req.op, "audit.verify") != 0) {
        answer_error(a, GKP_ADMIN_INVALID_REQUEST, NULL,
                     "unknown op \"%.60s\"; see `gkctl --help` for what the gatekeeper does",
                     req.op);
    } else if (kind == 1) {
        apply_change(s, &req, actor, a);
    } else {
        json_t *verdicts = json_array();
        if (authorize(s, &req, actor, verdicts, a) == 0) {
            if (kind < 0) {
                audit_read(s, &req, a);
            } else {
                gkd_op_outcome out;
                if (gkd_ops_run(req.op, req.args, s->state, req.actor,
                                (int64_t) time(NULL), &out) == GK_OK &&
                    out.error == GKP_ADMIN_OK) {
                    a->result = json_incref(out.result);
                    if (strcmp(req.op, "status") == 0) {
                        json_object_set_new(a->result, "version",
                                            json_integer((json_int_t) s->version));
                        json_object_set_new(a->result, "snapshot",
                                            json_pack("{s:I, s:I, s:I}", "version",
                                                      (json_int_t) s->version, "flags",
                                                      (json_int_t) s->snapshot_flags,
                                                      "buildUs", (json_int_t) s->build_us));
                        json_object_set_new(a->result, "signing", signing_status(s));
                        add_telemetry(s, a->result);
                    }
                } else {
                    answer_error(a, out.error != GKP_ADMIN_OK ? out.error : GKP_ADMIN_INTERNAL,
                                 NULL, "%s", out.message);
                }
                gkd_ops_outcome_fini(&out);
            }
        }
        json_decref(verdicts);
    }
    json_decref((json_t *) (uintptr_t) actor);
    gkp_admin_request_fini(&req);
}

static void *
serve(void *arg)
{
    gkd_admin_server *s = arg;

    for (;;) {
        nng_msg *msg;
        answer a = {0};
        char *reply = NULL;
        size_t len = 0;
        int rv = nng_recvmsg(s->sock, &msg, 0);

        if (rv == NNG_ECLOSED) {
            return NULL;
        }
        if (rv != 0) {
            continue;
        }
        if (nng_msg_len(msg) > GKP_ADMIN_REQUEST_MAX_BYTES) {
            answer_error(&a, GKP_ADMIN_INVALID_REQUEST, NULL,
                         "request is %zu bytes; the limit is %u", nng_msg_len(msg),
                         GKP_ADMIN_REQUEST_MAX_BYTES);
        } else {
            handle(s, nng_msg_body(msg), nng_msg_len(msg), &a);
        }
        if (a.error == GKP_ADMIN_OK) {
            gkp_admin_reply_encode_ok(&reply, &len, s->version, a.result);
        } else {
            gkd_log(GKD_LOG_INFO, "admin request refused: %s: %s", gkp_admin_error_name(a.error),
                    a.message);
            gkp_admin_reply_encode_error(&reply, &len, a.error, a.message, a.details);
        }
        json_decref(a.result);
        json_decref(a.details);
        nng_msg_clear(msg);
        if (reply == NULL || nng_msg_append(msg, reply, len) != 0 ||
            nng_sendmsg(s->sock, msg, 0) != 0) {
            nng_msg_free(msg);
        }
        free(reply);
        /*
         * A change builds a new snapshot (a few MiB for 10,000 flags) and drops the one before;
         * glibc keeps freed memory as resident unless asked, and a daemon that takes changes
         * all day would otherwise grow to its worst interleaving. Done after the reply, so the
         * caller does not wait for it.
         */
        if (s->trim_pending) {
            s->trim_pending = 0;
#ifdef __GLIBC__
            malloc_trim(0);
#endif
        }
    }
}

gk_err
gkd_admin_server_open(gkd_admin_server **serverp, const gkd_admin_server_config *config,
                      gkd_actors *actors, char **bound, gk_diag *diag)
{
    gkd_admin_server *s = calloc(1, sizeof(*s));
    gk_err rv = GK_ENOMEM;

    if (s == NULL) {
        gkd_actors_free(actors);
        return GK_ENOMEM;
    }
    s->config = *config;
    s->actors = actors;
    pthread_mutex_init(&s->actors_lock, NULL);
    s->jtis = json_object();
    if (s->jtis == NULL || nng_rep0_open(&s->sock) != 0) {
        goto fail;
    }
    s->sock_open = 1;
    /*
     * Its maps are ours; the definitions are shared with the store and the snapshots and never
     * modified (store.h), so the workers read them without a lock and nothing is copied.
     */
    rv = config->store->ops->load(config->store, &s->state, &s->version, diag);
    if (rv == GK_OK) {
        rv = config->store->ops->audit(config->store, 1, reload_jti, s, diag);
    }
    if (rv == GK_OK) {
        nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, GKP_ADMIN_REQUEST_MAX_BYTES + 4096);
        rv = gkd_listen_all(s->sock, config->urls, config->nurls,
                            GKP_ADMIN_REQUEST_MAX_BYTES + 4096, "--admin-listen", config->tls_cert,
                            bound, diag);
    }
    if (rv == GK_OK && pthread_create(&s->thread, NULL, serve, s) != 0) {
        rv = GK_ENOMEM;
    }
    if (rv != GK_OK) {
        goto fail;
    }
    s->started = 1;
    *serverp = s;
    return GK_OK;
fail:
    gkd_admin_server_close(s);
    return rv;
}

void
gkd_admin_server_set_actors(gkd_admin_server *server, gkd_actors *actors)
{
    gkd_actors *old;

    pthread_mutex_lock(&server->actors_lock);
    old = server->actors;
    server->actors = actors;
    pthread_mutex_unlock(&server->actors_lock);
    gkd_actors_free(old);
}

void
gkd_admin_server_close(gkd_admin_server *server)
{
    if (server == NULL) {
        return;
    }
    if (server->sock_open) {
        nng_close(server->sock); /* the thread's nng_recvmsg returns NNG_ECLOSED */
    }
    if (server->started) {
        pthread_join(server->thread, NULL);
    }
    gkd_policy_vm_close(server->vm);
    gkd_actors_free(server->actors);
    json_decref(server->state);
    json_decref(server->jtis);
    pthread_mutex_destroy(&server->actors_lock);
    free(server);
}
