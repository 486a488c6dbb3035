/*
 * admin_test.c - the admin plane of the real daemon, decided by the shipped policies
 * (--policies <source>/policies, environment prod unless said otherwise): every op through the
 * signed admin socket with the version growing by one per change and the decision socket serving
 * it; refusals (forged, replayed, unknown actor, stale, malformed, unknown op) that write nothing;
 * denials by each shipped policy with the policy, reason and source line; optimistic concurrency;
 * the audit log (log, show, verify).
 *
 * Actors: rita (team-platform; release-manager and owner), owen (team-orders, owner), vic
 * (team-growth, viewer) come with gkt_daemon_start. The flags changed here belong to team-orders,
 * and ownership.lua lets another team act on them only with a role its ROLE_OVERRIDES names for
 * the op (creating or deleting a flag: admin only), so the tests add "ada" (team-platform, admin)
 * through the actors file and SIGHUP for flag.apply, flag.delete, rollout.plan/pause/resume and
 * optin.add/remove, use rita for rollout.set/advance/back and flag.kill/unkill, and check
 * separately that rita may not create or delete a team-orders flag.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "admin.h"
#include "b64url.h"
#include "claims.h"
#include "gk_admin_check.h"
#include "gk_test.h"
#include "jwk.h"
#include "jws.h"
#include "msg.h"
#include "vocab.h"

enum { RITA = 0, OWEN = 1, VIC = 2 };

static gkt_daemon daemon_;
static unsigned char ada_sk[crypto_sign_SECRETKEYBYTES];

/* ---- helpers ----------------------------------------------------------------------------------- */

static const char *
data_path(const char *name)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/integration/%s", gkt_env("GK_TEST_DATA"), name);
    return path;
}

/*
 * Extra daemon arguments: the shipped policies, and in prod a nonce pool of 64 (so the journal's
 * records are signed through it too); static: gkt_daemon keeps the pointer.
 */
static const char *const *
shipped_policies(const char *environment)
{
    static char policies[4096];
    static const char *prod[] = {"--policies", policies, "--nonce-pool", "64", NULL};
    static const char *staging[] = {"--policies", policies, "--environment", "staging", NULL};

    snprintf(policies, sizeof(policies), "%s/policies", gkt_env("GK_SOURCE_DIR"));
    return environment != NULL ? staging : prod;
}

static long long
mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Sends raw bytes to the admin socket; the reply parsed as JSON (caller decrefs). */
static json_t *
send_raw(const gkt_daemon *d, const char *req, size_t len)
{
    char *text = NULL;
    json_t *root;

    ck_assert_int_eq(gkt_request(d->admin_url, req, len, &text, 10000), 0);
    root = json_loads(text, 0, NULL);
    ck_assert_msg(root != NULL, "admin reply is not JSON: %.800s", text);
    free(text);
    return root;
}

/* A signed request envelope (malloc'd) for `id` with key `sk` and the given iat. */
static char *
sign_as(const char *id, const unsigned char *sk, const char *op, const char *args_json,
        const char *why, unsigned long long base, long long iat, size_t *lenp)
{
    json_t *args = json_loads(args_json != NULL ? args_json : "{}", 0, NULL);
    char *req = NULL;

    ck_assert_msg(args != NULL, "bad args in the test: %s", args_json);
    ck_assert_int_eq(gkp_admin_request_sign(&req, lenp, id, sk, op, args, why, base, iat), GK_OK);
    json_decref(args);
    return req;
}


/* One admin request by ada (the admin actor the fixture adds). */
static json_t *
admin_ada(const gkt_daemon *d, const char *op, const char *args, const char *why)
{
    size_t len;
    char *req = sign_as("ada", ada_sk, op, args, why, 0, (long long) time(NULL), &len);
    json_t *reply = send_raw(d, req, len);

    free(req);
    return reply;
}



/* The state version (a status read by rita). */
static unsigned long long
state_version(const gkt_daemon *d)
{
    json_t *reply = gkt_admin_json(d, RITA, "status", NULL, NULL, 0);
    unsigned long long v = gkt_expect_ok(reply);

    json_decref(reply);
    return v;
}

/* audit.log with `args` (rita); the records array (a new reference). */
static json_t *
audit_log(const gkt_daemon *d, const char *args)
{
    json_t *reply = gkt_admin_json(d, RITA, "audit.log", args, NULL, 0);
    json_t *records;

    gkt_expect_ok(reply);
    records = json_object_get(json_object_get(reply, "result"), "records");
    ck_assert(json_is_array(records));
    json_incref(records);
    json_decref(reply);
    return records;
}

static size_t
audit_count(const gkt_daemon *d)
{
    json_t *records = audit_log(d, "{\"limit\":1000000}");
    size_t n = json_array_size(records);

    json_decref(records);
    return n;
}

/* What must not move when a request is refused. */
typedef struct mark {
    unsigned long long version;
    size_t records;
} mark;

static mark
mark_take(const gkt_daemon *d)
{
    mark m = {state_version(d), audit_count(d)};

    ck_assert_uint_eq(m.version, m.records); /* one record per version, bootstrap included */
    return m;
}

static void
mark_same(const gkt_daemon *d, mark m)
{
    ck_assert_uint_eq(state_version(d), m.version);
    ck_assert_uint_eq(audit_count(d), m.records);
}

/* The status entry of one flag (a new reference). */
static json_t *
flag_status(const gkt_daemon *d, const char *key)
{
    char args[256];
    json_t *reply, *entry;

    snprintf(args, sizeof(args), "{\"key\":\"%s\"}", key);
    reply = gkt_admin_json(d, RITA, "status", args, NULL, 0);
    gkt_expect_ok(reply);
    entry = json_array_get(json_object_get(json_object_get(reply, "result"), "flags"), 0);
    ck_assert_ptr_nonnull(entry);
    ck_assert_str_eq(json_string_value(json_object_get(entry, "key")), key);
    json_incref(entry);
    json_decref(reply);
    return entry;
}

static double
status_percent(const gkt_daemon *d, const char *key)
{
    json_t *s = flag_status(d, key);
    double pct = json_number_value(json_object_get(s, "percent"));

    ck_assert_msg(json_is_number(json_object_get(s, "percent")), "no percent for %s", key);
    json_decref(s);
    return pct;
}

/* A signed decision for one flag and one targeting key. */
typedef struct decision {
    unsigned long long snapshot_version;
    char variant[64];       /* "" when none */
    gk_reason reason;
    gk_error_code error_code;
} decision;

static decision
decide(const gkt_daemon *d, const char *key, const char *tk)
{
    char req[512], *text = NULL;
    gkp_reply reply;
    gkp_jwks *keys = NULL;
    uint8_t *payload = NULL;
    size_t len;
    gkp_claims_doc *doc = NULL;
    const gkp_claims *claims;
    gk_diag diag = {0};
    decision out = {0};

    snprintf(req, sizeof(req),
             "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"%s\"],\"context\":{\"targetingKey\":\"%s\"}}",
             key, tk);
    ck_assert_int_eq(gkt_request(d->tcp_url, req, strlen(req), &text, 5000), 0);
    ck_assert_int_eq(gkp_reply_decode(&reply, text, strlen(text), &diag), GK_OK);
    ck_assert_msg(reply.ok, "%s: %s", gkp_error_code_name(reply.error_code), reply.error_details);
    ck_assert_int_eq(gkp_jwks_load_file(&keys, d->jwks_path, &diag), GK_OK);
    ck_assert_int_eq(gkp_jws_verify(reply.token, reply.token_len, keys, &payload, &len, &diag),
                     GK_OK);
    ck_assert_int_eq(gkp_claims_decode(&doc, (const char *) payload, len, &diag), GK_OK);
    claims = gkp_claims_doc_get(doc);
    ck_assert_uint_eq(claims->nflags, 1);
    out.snapshot_version = claims->snapshot_version;
    snprintf(out.variant, sizeof(out.variant), "%s",
             claims->flags[0].variant != NULL ? claims->flags[0].variant : "");
    out.reason = claims->flags[0].reason;
    out.error_code = claims->flags[0].error_code;
    gkp_claims_doc_free(doc);
    free(payload);
    gkp_jwks_free(keys);
    gkp_reply_fini(&reply);
    free(text);
    return out;
}

/* How many of `n` tenants ("tenant-1000" on) get `variant`; each decision at `version`. */
static int
count_variant(const gkt_daemon *d, const char *key, const char *variant, int n,
              unsigned long long version)
{
    int hits = 0;

    for (int i = 0; i < n; i++) {
        char tk[32];
        decision dc;

        snprintf(tk, sizeof(tk), "tenant-%d", 1000 + i);
        dc = decide(d, key, tk);
        ck_assert_uint_eq(dc.snapshot_version, version);
        hits += strcmp(dc.variant, variant) == 0;
    }
    return hits;
}


/*
 * Adds actor "ada" (team-platform, admin; key made once in main) to the daemon's actors file and
 * reloads it (SIGHUP). The file keeps ada for restarts.
 */
static void
add_admin_actor(gkt_daemon *d)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    char x[64], *text;
    json_t *doc = json_load_file(d->actors_path, 0, NULL);
    long long deadline;

    ck_assert_ptr_nonnull(doc);
    crypto_sign_ed25519_sk_to_pk(pk, ada_sk);
    sodium_bin2base64(x, sizeof(x), pk, sizeof(pk), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    json_array_append_new(json_object_get(doc, "actors"),
                          json_pack("{s:s, s:s, s:[s], s:{s:s, s:s, s:s, s:s}}", "id", "ada",
                                    "team", "team-platform", "roles", "admin", "jwk", "kty",
                                    "OKP", "crv", "Ed25519", "x", x, "kid", "ada"));
    text = json_dumps(doc, JSON_INDENT(2));
    ck_assert_int_eq(gkt_write_file(d->actors_path, text, 0644), 0);
    free(text);
    json_decref(doc);
    gkt_daemon_signal(d, SIGHUP);
    deadline = mono_us() + 5000000;
    for (;;) {
        json_t *reply = admin_ada(d, "flag.list", NULL, NULL);
        int ok = json_is_true(json_object_get(reply, "ok"));

        json_decref(reply);
        if (ok) {
            return;
        }
        ck_assert_msg(mono_us() < deadline, "ada was not accepted within 5 s of SIGHUP");
        nanosleep(&(struct timespec){0, 20000000}, NULL);
    }
}

static void
start(void)
{
    ck_assert_int_eq(gkt_daemon_start(&daemon_, data_path("flags.json"), shipped_policies(NULL)),
                     0);
    add_admin_actor(&daemon_);
}

static void
stop(void)
{
    ck_assert_int_eq(gkt_daemon_stop(&daemon_), 0);
}

#define WHY "canary for the orders team, ticket OPS-1234"

#define WRITE_V2                                                                                   \
    "{\"description\":\"Write orders through the v2 schema\",\"owner\":\"team-orders\","          \
    "\"variants\":{\"off\":false,\"on\":true},\"defaultVariant\":\"off\"}"

#define WRITE_V2_TARGETED                                                                          \
    "{\"description\":\"Write orders through the v2 schema (tenant-7 first)\","                   \
    "\"owner\":\"team-orders\",\"variants\":{\"off\":false,\"on\":true},"                          \
    "\"defaultVariant\":\"off\",\"targets\":{\"on\":[\"tenant-7\"]}}"

/* ---- every op ---------------------------------------------------------------------------------- */

/* flag.apply creates, updates, and (dryRun) changes nothing; flag.get and flag.list read it. */
START_TEST(test_apply_get_list_dry_run)
{
    unsigned long long v0 = state_version(&daemon_), v;
    size_t n0 = audit_count(&daemon_);
    json_t *reply, *change, *list, *def, *want;
    decision dc;
    size_t i;
    int listed = 0;

    ck_assert_uint_eq(v0, n0);
    reply = admin_ada(&daemon_, "flag.apply", "{\"flags\":{\"orders.write_v2\":" WRITE_V2 "}}",
                      WHY);
    v = gkt_expect_ok(reply);
    ck_assert_uint_eq(v, v0 + 1);
    change = json_array_get(json_object_get(json_object_get(reply, "result"), "changes"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(change, "change")), "create");
    json_decref(reply);
    dc = decide(&daemon_, "orders.write_v2", "tenant-7");
    ck_assert_uint_eq(dc.snapshot_version, v);
    ck_assert_str_eq(dc.variant, "off");

    /* flag.get returns the definition as applied; flag.list names it with its owner. */
    reply = gkt_admin_json(&daemon_, RITA, "flag.get", "{\"key\":\"orders.write_v2\"}", NULL, 0);
    ck_assert_uint_eq(gkt_expect_ok(reply), v);
    def = json_object_get(json_object_get(reply, "result"), "definition");
    want = json_loads(WRITE_V2, 0, NULL);
    ck_assert(json_equal(def, want));
    json_decref(want);
    json_decref(reply);
    reply = gkt_admin_json(&daemon_, VIC, "flag.list", NULL, NULL, 0);
    ck_assert_uint_eq(gkt_expect_ok(reply), v);
    list = json_object_get(json_object_get(reply, "result"), "flags");
    ck_assert_uint_eq(json_array_size(list), 4);
    json_array_foreach(list, i, def)
    {
        if (strcmp(json_string_value(json_object_get(def, "key")), "orders.write_v2") == 0) {
            ck_assert_str_eq(json_string_value(json_object_get(def, "owner")), "team-orders");
            ck_assert_str_eq(json_string_value(json_object_get(def, "state")), "ENABLED");
            listed = 1;
        }
    }
    ck_assert(listed);
    json_decref(reply);

    /* An update: tenant-7 becomes a target of "on". */
    reply = admin_ada(&daemon_, "flag.apply",
                      "{\"flags\":{\"orders.write_v2\":" WRITE_V2_TARGETED "}}", WHY);
    ck_assert_uint_eq(gkt_expect_ok(reply), v + 1);
    change = json_array_get(json_object_get(json_object_get(reply, "result"), "changes"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(change, "change")), "update");
    json_decref(reply);
    dc = decide(&daemon_, "orders.write_v2", "tenant-7");
    ck_assert_uint_eq(dc.snapshot_version, v + 1);
    ck_assert_str_eq(dc.variant, "on");
    ck_assert_int_eq(dc.reason, GK_REASON_TARGETING_MATCH);

    /* A dry run answers with the diff and changes nothing. */
    reply = admin_ada(&daemon_, "flag.apply",
                      "{\"dryRun\":true,\"flags\":{\"orders.write_v2\":" WRITE_V2 "}}", WHY);
    ck_assert_uint_eq(gkt_expect_ok(reply), v + 1);
    ck_assert(json_is_true(json_object_get(json_object_get(reply, "result"), "dryRun")));
    change = json_array_get(json_object_get(json_object_get(reply, "result"), "changes"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(change, "change")), "update");
    json_decref(reply);
    ck_assert_uint_eq(state_version(&daemon_), v + 1);
    ck_assert_uint_eq(audit_count(&daemon_), n0 + 2);
    dc = decide(&daemon_, "orders.write_v2", "tenant-7");
    ck_assert_uint_eq(dc.snapshot_version, v + 1);
    ck_assert_str_eq(dc.variant, "on");
}
END_TEST

/* rollout.set by percent and by weights; status and every tenant's decision follow. */
START_TEST(test_rollout_set)
{
    unsigned long long v = state_version(&daemon_);
    json_t *reply;
    int on;

    reply = gkt_admin_json(&daemon_, RITA, "rollout.set", "{\"key\":\"orders.read_v2\",\"percent\":100}",
                  WHY, 0);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);
    ck_assert(status_percent(&daemon_, "orders.read_v2") == 100.0);
    ck_assert_int_eq(count_variant(&daemon_, "orders.read_v2", "on", 40, v), 40);
    ck_assert_int_eq(decide(&daemon_, "orders.read_v2", "tenant-1001").reason, GK_REASON_SPLIT);

    reply = gkt_admin_json(&daemon_, RITA, "rollout.set",
                  "{\"key\":\"orders.read_v2\",\"weights\":{\"off\":100000,\"on\":0}}", WHY, 0);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);
    ck_assert(status_percent(&daemon_, "orders.read_v2") == 0.0);
    ck_assert_int_eq(count_variant(&daemon_, "orders.read_v2", "on", 40, v), 0);

    reply = gkt_admin_json(&daemon_, RITA, "rollout.set",
                  "{\"key\":\"orders.read_v2\",\"percent\":50,\"variant\":\"on\"}", WHY, 0);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);
    ck_assert(status_percent(&daemon_, "orders.read_v2") == 50.0);
    on = count_variant(&daemon_, "orders.read_v2", "on", 200, v);
    fprintf(stderr, "rollout 50%%: %d of 200 tenants on the new variant\n", on);
    ck_assert_msg(on > 60 && on < 140, "%d of 200 tenants at 50%%", on);
    ck_assert_uint_eq(audit_count(&daemon_), v);
}
END_TEST

/* One rollout step by rita; returns the new version after checking status and decisions. */
static unsigned long long
step_ok(json_t *reply, unsigned long long v, double percent)
{
    ck_assert_uint_eq(gkt_expect_ok(reply), v + 1);
    json_decref(reply);
    ck_assert_msg(status_percent(&daemon_, "orders.read_v2") == percent, "percent is %g, not %g",
                  status_percent(&daemon_, "orders.read_v2"), percent);
    ck_assert_uint_eq(decide(&daemon_, "orders.read_v2", "tenant-1000").snapshot_version, v + 1);
    return v + 1;
}

static json_t *
plan_step(const char *op, int force)
{
    return gkt_admin_json(&daemon_, RITA, op,
                 force ? "{\"key\":\"orders.read_v2\",\"force\":true}" : "{\"key\":\"orders.read_v2\"}",
                 WHY, 0);
}

/* rollout.plan, advance through every step, hold, pause/resume, back. */
START_TEST(test_rollout_plan)
{
    unsigned long long v = state_version(&daemon_);
    json_t *reply, *st;
    mark m;

    reply = admin_ada(&daemon_, "rollout.plan",
                      "{\"key\":\"orders.read_v2\",\"steps\":[5,50,100],\"holdSeconds\":3600}", WHY);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);
    st = flag_status(&daemon_, "orders.read_v2");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(st, "plan"), "step")), -1);
    json_decref(st);

    v = step_ok(plan_step("rollout.advance", 0), v, 5);
    /* Inside the hold: refused, nothing written. */
    m = mark_take(&daemon_);
    reply = plan_step("rollout.advance", 0);
    gkt_expect_error(reply, "INVALID_REQUEST", "holds for");
    json_decref(reply);
    mark_same(&daemon_, m);
    v = step_ok(plan_step("rollout.advance", 1), v, 50);

    /* Paused: even a forced advance is refused. */
    reply = admin_ada(&daemon_, "rollout.pause", "{\"key\":\"orders.read_v2\"}", WHY);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);
    st = flag_status(&daemon_, "orders.read_v2");
    ck_assert(json_is_true(json_object_get(json_object_get(st, "plan"), "paused")));
    json_decref(st);
    m = mark_take(&daemon_);
    reply = plan_step("rollout.advance", 1);
    gkt_expect_error(reply, "INVALID_REQUEST", "paused");
    json_decref(reply);
    mark_same(&daemon_, m);
    reply = admin_ada(&daemon_, "rollout.resume", "{\"key\":\"orders.read_v2\"}", WHY);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);

    v = step_ok(plan_step("rollout.advance", 1), v, 100);
    ck_assert_int_eq(count_variant(&daemon_, "orders.read_v2", "on", 40, v), 40);
    m = mark_take(&daemon_);
    reply = plan_step("rollout.advance", 1);
    gkt_expect_error(reply, "INVALID_REQUEST", "last step");
    json_decref(reply);
    mark_same(&daemon_, m);

    v = step_ok(plan_step("rollout.back", 0), v, 50);
    v = step_ok(plan_step("rollout.back", 0), v, 5);
    ck_assert_uint_eq(audit_count(&daemon_), v);
}
END_TEST

/* Once the hold time has passed, advance needs no force. */
START_TEST(test_rollout_hold_expires)
{
    unsigned long long v = state_version(&daemon_);
    json_t *reply;

    reply = admin_ada(&daemon_, "rollout.plan",
                      "{\"key\":\"orders.read_v2\",\"steps\":[10,20],\"holdSeconds\":1}", WHY);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);
    v = step_ok(plan_step("rollout.advance", 0), v, 10);
    nanosleep(&(struct timespec){2, 200000000}, NULL);
    v = step_ok(plan_step("rollout.advance", 0), v, 20);
}
END_TEST

/* flag.kill serves DISABLED; flag.unkill restores the rules. */
START_TEST(test_kill_unkill)
{
    unsigned long long v = state_version(&daemon_);
    json_t *reply, *st;
    decision dc;

    reply = gkt_admin_json(&daemon_, RITA, "flag.kill", "{\"key\":\"orders.read_v2\"}", WHY, 0);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);
    dc = decide(&daemon_, "orders.read_v2", "tenant-1");
    ck_assert_uint_eq(dc.snapshot_version, v);
    ck_assert_int_eq(dc.reason, GK_REASON_DISABLED);
    st = flag_status(&daemon_, "orders.read_v2");
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "DISABLED");
    json_decref(st);

    reply = gkt_admin_json(&daemon_, RITA, "flag.unkill", "{\"key\":\"orders.read_v2\"}", WHY, 0);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);
    dc = decide(&daemon_, "orders.read_v2", "tenant-1");
    ck_assert_uint_eq(dc.snapshot_version, v);
    ck_assert_int_eq(dc.reason, GK_REASON_TARGETING_MATCH);
    ck_assert_str_eq(dc.variant, "on");
    st = flag_status(&daemon_, "orders.read_v2");
    ck_assert_str_eq(json_string_value(json_object_get(st, "state")), "ENABLED");
    json_decref(st);
}
END_TEST

/* optin.add / optin.remove and flag.delete (ada: the policies give these to owners and admins). */
START_TEST(test_optin_and_delete)
{
    unsigned long long v = state_version(&daemon_);
    json_t *reply, *st;
    decision dc;

    reply = admin_ada(&daemon_, "flag.apply", "{\"flags\":{\"orders.write_v2\":" WRITE_V2 "}}",
                      WHY);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);
    reply = admin_ada(&daemon_, "optin.add", "{\"key\":\"orders.write_v2\",\"consumer\":\"billing\"}",
                      WHY);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);
    st = flag_status(&daemon_, "orders.write_v2");
    ck_assert_uint_eq(json_array_size(json_object_get(st, "optIns")), 1);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(st, "optIns"), 0)),
                     "billing");
    json_decref(st);
    ck_assert_uint_eq(decide(&daemon_, "orders.write_v2", "tenant-1").snapshot_version, v);

    reply = admin_ada(&daemon_, "optin.remove",
                      "{\"key\":\"orders.write_v2\",\"consumer\":\"billing\"}", WHY);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);
    st = flag_status(&daemon_, "orders.write_v2");
    ck_assert_uint_eq(json_array_size(json_object_get(st, "optIns")), 0);
    json_decref(st);

    reply = admin_ada(&daemon_, "flag.delete", "{\"key\":\"orders.write_v2\"}", WHY);
    ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
    json_decref(reply);
    reply = gkt_admin_json(&daemon_, RITA, "flag.get", "{\"key\":\"orders.write_v2\"}", NULL, 0);
    gkt_expect_error(reply, "NOT_FOUND", "orders.write_v2");
    json_decref(reply);
    dc = decide(&daemon_, "orders.write_v2", "tenant-1");
    ck_assert_uint_eq(dc.snapshot_version, v);
    ck_assert_int_eq(dc.reason, GK_REASON_ERROR);
    ck_assert_int_eq(dc.error_code, GK_ERROR_FLAG_NOT_FOUND);
    ck_assert_uint_eq(audit_count(&daemon_), v);
}
END_TEST

/* Commit round trip of a change (rollout.set), median of 50, printed. */
static int
cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *) a, y = *(const long long *) b;

    return (x > y) - (x < y);
}

START_TEST(test_commit_round_trip)
{
    unsigned long long v = state_version(&daemon_);
    long long us[50];

    for (int i = 0; i < 50; i++) {
        char args[128];
        long long t0;
        json_t *reply;

        snprintf(args, sizeof(args), "{\"key\":\"orders.read_v2\",\"percent\":%d}", i + 1);
        t0 = mono_us();
        reply = gkt_admin_json(&daemon_, RITA, "rollout.set", args, WHY, 0);
        us[i] = mono_us() - t0;
        ck_assert_uint_eq(gkt_expect_ok(reply), ++v);
        json_decref(reply);
    }
    qsort(us, 50, sizeof(us[0]), cmp_ll);
    fprintf(stderr, "admin commit round trip (rollout.set, signed, fsync'd): median %lld us, "
                    "min %lld us, max %lld us (50 changes)\n",
            us[25], us[0], us[49]);
    ck_assert_uint_eq(audit_count(&daemon_), v);
}
END_TEST

/* status reports the signing key's nonce pool, and its counters count the decisions signed. */
START_TEST(test_status_reports_nonce_pool)
{
    json_t *reply, *pool;
    long long before, after;

    reply = gkt_admin_json(&daemon_, RITA, "status", NULL, NULL, 0);
    gkt_expect_ok(reply);
    pool = json_object_get(json_object_get(json_object_get(reply, "result"), "signing"),
                           "noncePool");
    ck_assert_msg(json_is_object(pool), "status has no signing.noncePool");
    ck_assert_int_eq(json_integer_value(json_object_get(pool, "capacity")), 64);
    ck_assert_int_le(json_integer_value(json_object_get(pool, "ready")), 64);
    ck_assert(json_is_real(json_object_get(pool, "cpuUsPerNonce")));
    before = json_integer_value(json_object_get(pool, "presigned")) +
             json_integer_value(json_object_get(pool, "inline"));
    json_decref(reply);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(decide(&daemon_, "orders.read_v2", "tenant-1").error_code,
                         GK_ERROR_NONE);
    }
    reply = gkt_admin_json(&daemon_, RITA, "status", NULL, NULL, 0);
    gkt_expect_ok(reply);
    pool = json_object_get(json_object_get(json_object_get(reply, "result"), "signing"),
                           "noncePool");
    after = json_integer_value(json_object_get(pool, "presigned")) +
            json_integer_value(json_object_get(pool, "inline"));
    /* Three decisions signed (the status replies are not signed with the pool). */
    ck_assert_int_eq(after - before, 3);
    json_decref(reply);
}
END_TEST

/* ---- refusals ---------------------------------------------------------------------------------- */

/* A request for rita signed with owen's key. */
START_TEST(test_forged_signature)
{
    mark m = mark_take(&daemon_);
    size_t len;
    char *req = sign_as("rita", daemon_.actor_sk[OWEN], "rollout.set",
                        "{\"key\":\"orders.read_v2\",\"percent\":90}", WHY, 0,
                        (long long) time(NULL), &len);
    json_t *reply = send_raw(&daemon_, req, len);

    gkt_expect_error(reply, "UNAUTHENTICATED", "rita");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(reply, "message")),
                                 "signature"));
    json_decref(reply);
    free(req);
    mark_same(&daemon_, m);
}
END_TEST

/* The same bytes twice: the second is REPLAYED, also after a restart. */
START_TEST(test_replay)
{
    unsigned long long v = state_version(&daemon_);
    size_t len;
    char *req = sign_as("rita", daemon_.actor_sk[RITA], "rollout.set",
                        "{\"key\":\"orders.read_v2\",\"percent\":90}", WHY, 0,
                        (long long) time(NULL), &len);
    json_t *reply = send_raw(&daemon_, req, len);
    mark m;

    ck_assert_uint_eq(gkt_expect_ok(reply), v + 1);
    json_decref(reply);
    m = mark_take(&daemon_);
    reply = send_raw(&daemon_, req, len);
    gkt_expect_error(reply, "REPLAYED", NULL);
    json_decref(reply);
    mark_same(&daemon_, m);

    ck_assert_int_eq(gkt_daemon_restart(&daemon_, 0), 0);
    reply = send_raw(&daemon_, req, len);
    gkt_expect_error(reply, "REPLAYED", NULL);
    json_decref(reply);
    mark_same(&daemon_, m);
    free(req);
}
END_TEST

/*
 * A large change request (a flag.apply whose payload is over 8 KiB) replayed after a restart: the
 * journal holds it, so it must still be REPLAYED (not applied a second time).
 */
START_TEST(test_replay_large_request_after_restart)
{
    char *desc = malloc(12001), *args = malloc(13000), *req;
    size_t len;
    json_t *reply;
    mark m;

    memset(desc, 'x', 12000);
    desc[12000] = '\0';
    snprintf(args, 13000,
             "{\"flags\":{\"orders.bulk_v2\":{\"description\":\"%s\",\"owner\":\"team-orders\","
             "\"variants\":{\"off\":false,\"on\":true},\"defaultVariant\":\"off\"}}}",
             desc);
    req = sign_as("ada", ada_sk, "flag.apply", args, WHY, 0, (long long) time(NULL), &len);
    reply = send_raw(&daemon_, req, len);
    gkt_expect_ok(reply);
    json_decref(reply);
    reply = admin_ada(&daemon_, "flag.delete", "{\"key\":\"orders.bulk_v2\"}", WHY);
    gkt_expect_ok(reply);
    json_decref(reply);
    ck_assert_int_eq(gkt_daemon_restart(&daemon_, 0), 0);
    m = mark_take(&daemon_);
    reply = send_raw(&daemon_, req, len);
    gkt_expect_error(reply, "REPLAYED", NULL);
    json_decref(reply);
    mark_same(&daemon_, m);
    free(req);
    free(args);
    free(desc);
}
END_TEST

/* A key pair the gatekeeper does not know. */
START_TEST(test_unknown_actor)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    mark m = mark_take(&daemon_);
    size_t len;
    char *req;
    json_t *reply;

    crypto_sign_keypair(pk, sk);
    req = sign_as("mallory", sk, "flag.kill", "{\"key\":\"orders.read_v2\"}", WHY, 0,
                  (long long) time(NULL), &len);
    reply = send_raw(&daemon_, req, len);
    gkt_expect_error(reply, "UNAUTHENTICATED", "mallory");
    json_decref(reply);
    free(req);
    mark_same(&daemon_, m);
}
END_TEST

/* An iat an hour old, and one an hour ahead. */
START_TEST(test_stale_and_future_iat)
{
    static const long long offsets[] = {-3600, 3600};
    mark m = mark_take(&daemon_);

    for (size_t i = 0; i < 2; i++) {
        size_t len;
        char *req = sign_as("rita", daemon_.actor_sk[RITA], "flag.kill",
                            "{\"key\":\"orders.read_v2\"}", WHY, 0,
                            (long long) time(NULL) + offsets[i], &len);
        json_t *reply = send_raw(&daemon_, req, len);

        gkt_expect_error(reply, "STALE_REQUEST", offsets[i] < 0 ? "behind" : "ahead");
        json_decref(reply);
        free(req);
    }
    mark_same(&daemon_, m);
}
END_TEST

/* A compact JWS made by hand: header and payload as given, signed by `sk` (NULL: `sig` text). */
static char *
envelope(const char *header, const char *payload, const unsigned char *sk, const char *sig)
{
    char *token = NULL, *out;
    size_t toklen = 0;

    if (sk != NULL) {
        ck_assert_int_eq(gkp_jws_sign(&token, &toklen, header, (const uint8_t *) payload,
                                      strlen(payload), sk),
                         GK_OK);
    } else {
        size_t hl = gkp_b64url_encoded_len(strlen(header));
        size_t pl = gkp_b64url_encoded_len(strlen(payload));
        token = malloc(hl + pl + strlen(sig) + 4);
        gkp_b64url_encode(token, hl + 1, (const uint8_t *) header, strlen(header));
        strcat(token, ".");
        gkp_b64url_encode(token + strlen(token), pl + 1, (const uint8_t *) payload,
                          strlen(payload));
        strcat(token, ".");
        strcat(token, sig);
    }
    out = malloc(strlen(token) + 32);
    sprintf(out, "{\"v\":1,\"request\":\"%s\"}", token);
    free(token);
    return out;
}

/* Not JSON, no "request", a missing op: INVALID_REQUEST; nothing written. */
START_TEST(test_malformed_requests)
{
    mark m = mark_take(&daemon_);
    char payload[512];
    char *req;
    json_t *reply;

    reply = send_raw(&daemon_, "this is not JSON", 16);
    gkt_expect_error(reply, "INVALID_REQUEST", NULL);
    json_decref(reply);
    reply = send_raw(&daemon_, "{\"v\":1}", 7);
    gkt_expect_error(reply, "INVALID_REQUEST", "request");
    json_decref(reply);
    reply = send_raw(&daemon_, "{\"v\":1,\"request\":\"abc\"}", 24);
    ck_assert_msg(strcmp(json_string_value(json_object_get(reply, "error")), "INVALID_REQUEST") ==
                          0 ||
                      strcmp(json_string_value(json_object_get(reply, "error")),
                             "UNAUTHENTICATED") == 0,
                  "a request that is not a JWS");
    json_decref(reply);

    /* Signed properly, but the claims have no op. */
    snprintf(payload, sizeof(payload),
             "{\"args\":{\"key\":\"orders.read_v2\"},\"why\":\"" WHY "\",\"iat\":%lld,"
             "\"jti\":\"bm8tb3AtaW4tdGhpcy1yZXF1ZXN0\"}",
             (long long) time(NULL));
    req = envelope("{\"alg\":\"EdDSA\",\"kid\":\"rita\",\"typ\":\"gk-admin+jwt\"}", payload,
                   daemon_.actor_sk[RITA], NULL);
    reply = send_raw(&daemon_, req, strlen(req));
    gkt_expect_error(reply, "INVALID_REQUEST", "\"op\"");
    json_decref(reply);
    free(req);

    /* An unknown op. */
    reply = gkt_admin_json(&daemon_, RITA, "flag.explode", "{\"key\":\"orders.read_v2\"}", WHY, 0);
    gkt_expect_error(reply, "INVALID_REQUEST", "flag.explode");
    json_decref(reply);
    mark_same(&daemon_, m);
}
END_TEST

/* alg "none": refused as UNAUTHENTICATED (admin.h: "wrong alg/typ"), nothing written. */
START_TEST(test_alg_none)
{
    mark m = mark_take(&daemon_);
    char payload[512];
    char *req;
    json_t *reply;

    snprintf(payload, sizeof(payload),
             "{\"op\":\"flag.kill\",\"args\":{\"key\":\"orders.read_v2\"},\"why\":\"" WHY
             "\",\"iat\":%lld,\"jti\":\"YWxnLW5vbmUtcmVxdWVzdC0x\"}",
             (long long) time(NULL));
    req = envelope("{\"alg\":\"none\",\"kid\":\"rita\",\"typ\":\"gk-admin+jwt\"}", payload, NULL,
                   "AAAA");
    reply = send_raw(&daemon_, req, strlen(req));
    gkt_expect_error(reply, "UNAUTHENTICATED", "alg");
    json_decref(reply);
    free(req);
    mark_same(&daemon_, m);
}
END_TEST

/* ---- denials by the shipped policies ---------------------------------------------------------- */

START_TEST(test_owner_denied_in_prod)
{
    mark m = mark_take(&daemon_);
    json_t *reply = gkt_admin_json(&daemon_, OWEN, "rollout.set",
                          "{\"key\":\"orders.read_v2\",\"percent\":30}", WHY, 0);

    gkt_expect_denied_by(reply, "security.lua",
                     "only a release-manager or an admin may change anything in prod; owen may "
                     "not rollout.set there");
    json_decref(reply);
    reply = gkt_admin_json(&daemon_, OWEN, "flag.kill", "{\"key\":\"orders.read_v2\"}", WHY, 0);
    gkt_expect_denied_by(reply, "security.lua", "may change anything in prod");
    json_decref(reply);
    mark_same(&daemon_, m);
}
END_TEST

START_TEST(test_viewer_denied)
{
    static const char *const ops[][3] = {
        {"rollout.set", "{\"key\":\"orders.read_v2\",\"percent\":30}", "owner, release-manager or admin"},
        {"flag.kill", "{\"key\":\"orders.read_v2\"}", "owner, release-manager or admin"},
        {"flag.delete", "{\"key\":\"orders.read_v2\"}", "owner or admin"},
        {"optin.add", "{\"key\":\"orders.read_v2\",\"consumer\":\"billing\"}",
         "owner, release-manager or admin"},
    };
    mark m = mark_take(&daemon_);

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        char reason[160];
        json_t *reply = gkt_admin_json(&daemon_, VIC, ops[i][0], ops[i][1], WHY, 0);

        snprintf(reason, sizeof(reason), "%s needs the role %s; vic holds viewer", ops[i][0],
                 ops[i][2]);
        gkt_expect_denied_by(reply, "security.lua", reason);
        json_decref(reply);
    }
    mark_same(&daemon_, m);
}
END_TEST

START_TEST(test_short_why_denied)
{
    mark m = mark_take(&daemon_);
    json_t *reply = gkt_admin_json(&daemon_, RITA, "rollout.set",
                          "{\"key\":\"orders.read_v2\",\"percent\":30}", "too short", 0);

    gkt_expect_denied_by(reply, "security.lua", "every change needs a reason");
    json_decref(reply);
    reply = gkt_admin_json(&daemon_, RITA, "flag.kill", "{\"key\":\"orders.read_v2\"}", NULL, 0);
    gkt_expect_denied_by(reply, "security.lua", "every change needs a reason");
    json_decref(reply);
    reply = gkt_admin_json(&daemon_, RITA, "flag.kill", "{\"key\":\"orders.read_v2\"}", "   padded   ", 0);
    gkt_expect_denied_by(reply, "security.lua", "every change needs a reason");
    json_decref(reply);
    mark_same(&daemon_, m);
}
END_TEST

START_TEST(test_rollout_without_owner_denied)
{
    mark m = mark_take(&daemon_);
    json_t *reply = gkt_admin_json(&daemon_, RITA, "rollout.set",
                          "{\"key\":\"checkout.theme\",\"percent\":10,\"variant\":\"dark\"}", WHY,
                          0);

    gkt_expect_denied_by(reply, "security.lua", "flag checkout.theme has no owner");
    json_decref(reply);
    mark_same(&daemon_, m);
}
END_TEST

/* What the shipped ownership policy keeps from rita, whose team is not the flag's owner. */
START_TEST(test_release_manager_limits)
{
    mark m = mark_take(&daemon_);
    json_t *reply;

    /* A new flag for team-orders: only that team or an admin may create it. */
    reply = gkt_admin_json(&daemon_, RITA, "flag.apply", "{\"flags\":{\"orders.write_v2\":" WRITE_V2 "}}",
                  WHY, 0);
    gkt_expect_denied_by(reply, "ownership.lua",
                     "only team-orders or an admin may flag.create flag orders.write_v2");
    json_decref(reply);
    /* Nor delete one: no release-manager override for flag.delete. */
    reply = gkt_admin_json(&daemon_, RITA, "flag.delete", "{\"key\":\"orders.read_v2\"}", WHY, 0);
    gkt_expect_denied_by(reply, "ownership.lua",
                     "only team-orders or an admin may flag.delete flag orders.read_v2");
    json_decref(reply);
    mark_same(&daemon_, m);
}
END_TEST

/*
 * security.lua: in prod only a release-manager or an admin may change anything, and only owners
 * and admins create flags. flag.apply reaches the policies as flag.create / flag.update (one per
 * flag), and the plan ops by their own names: none of them may slip past these rules.
 */
START_TEST(test_owner_apply_denied_in_prod)
{
    mark m = mark_take(&daemon_);
    json_t *reply = gkt_admin_json(&daemon_, OWEN, "flag.apply",
                          "{\"flags\":{\"orders.read_v2\":{\"description\":\"changed in prod\","
                          "\"owner\":\"team-orders\",\"variants\":{\"off\":false,\"on\":true},"
                          "\"defaultVariant\":\"on\"}}}",
                          WHY, 0);

    gkt_expect_denied_by(reply, "security.lua", "may change anything in prod");
    json_decref(reply);
    mark_same(&daemon_, m);
}
END_TEST

START_TEST(test_owner_plan_denied_in_prod)
{
    mark m = mark_take(&daemon_);
    json_t *reply = gkt_admin_json(&daemon_, OWEN, "rollout.plan",
                          "{\"key\":\"orders.read_v2\",\"steps\":[50,100],\"holdSeconds\":0}",
                          WHY, 0);

    gkt_expect_denied_by(reply, "security.lua", "may change anything in prod");
    json_decref(reply);
    mark_same(&daemon_, m);
}
END_TEST

START_TEST(test_viewer_apply_denied)
{
    mark m = mark_take(&daemon_);
    json_t *reply = gkt_admin_json(&daemon_, VIC, "flag.apply",
                          "{\"flags\":{\"growth.banner\":{\"owner\":\"team-growth\","
                          "\"variants\":{\"off\":false,\"on\":true},\"defaultVariant\":\"on\"}}}",
                          WHY, 0);

    gkt_expect_denied_by(reply, "security.lua", "vic");
    json_decref(reply);
    mark_same(&daemon_, m);
}
END_TEST

/* ownership.lua in staging: owen may change his team's flag, not team-checkout's. */
START_TEST(test_ownership_in_staging)
{
    gkt_daemon d;
    json_t *reply;
    mark m;
    size_t len;
    char *req;

    ck_assert_int_eq(gkt_daemon_start(&d, data_path("flags.json"), shipped_policies("staging")),
                     0);
    add_admin_actor(&d);
    reply = gkt_admin_json(&d, OWEN, "rollout.set", "{\"key\":\"orders.read_v2\",\"percent\":30}", WHY, 0);
    ck_assert_uint_eq(gkt_expect_ok(reply), 2);
    json_decref(reply);

    /* rita may not create a flag for team-checkout; ada (admin) may. */
    reply = gkt_admin_json(&d, RITA, "flag.apply",
                  "{\"flags\":{\"checkout.banner\":{\"owner\":\"team-checkout\","
                  "\"variants\":{\"off\":false,\"on\":true},\"defaultVariant\":\"off\"}}}",
                  WHY, 0);
    gkt_expect_denied_by(reply, "ownership.lua", "checkout.banner");
    json_decref(reply);
    req = sign_as("ada", ada_sk, "flag.apply",
                  "{\"flags\":{\"checkout.banner\":{\"owner\":\"team-checkout\","
                  "\"variants\":{\"off\":false,\"on\":true},\"defaultVariant\":\"off\"}}}",
                  WHY, 0, (long long) time(NULL), &len);
    reply = send_raw(&d, req, len);
    ck_assert_uint_eq(gkt_expect_ok(reply), 3);
    json_decref(reply);
    free(req);

    m = (mark){state_version(&d), audit_count(&d)};
    reply = gkt_admin_json(&d, OWEN, "rollout.set", "{\"key\":\"checkout.banner\",\"percent\":30}", WHY, 0);
    gkt_expect_denied_by(reply, "ownership.lua",
                     "only team-checkout, a release-manager or an admin may rollout.set flag "
                     "checkout.banner");
    json_decref(reply);
    mark_same(&d, m);
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
}
END_TEST

/* ---- optimistic concurrency ------------------------------------------------------------------- */

typedef struct racer {
    pthread_barrier_t *barrier;
    const char *url;
    char *req;
    size_t len;
    char *reply;
    int rv;
} racer;

static void *
race(void *arg)
{
    racer *r = arg;

    pthread_barrier_wait(r->barrier);
    r->rv = gkt_request(r->url, r->req, r->len, &r->reply, 10000);
    return NULL;
}

START_TEST(test_conflict)
{
    for (int round = 0; round < 5; round++) {
        unsigned long long v = state_version(&daemon_);
        pthread_barrier_t barrier;
        pthread_t t[2];
        racer r[2];
        json_t *reply[2];
        int winner = -1;

        pthread_barrier_init(&barrier, NULL, 2);
        for (int i = 0; i < 2; i++) {
            char args[128];
            snprintf(args, sizeof(args), "{\"key\":\"orders.read_v2\",\"percent\":%d}",
                     10 + round * 10 + i);
            r[i] = (racer){&barrier, daemon_.admin_url, NULL, 0, NULL, -1};
            r[i].req = sign_as("rita", daemon_.actor_sk[RITA], "rollout.set", args, WHY, v,
                               (long long) time(NULL), &r[i].len);
            pthread_create(&t[i], NULL, race, &r[i]);
        }
        for (int i = 0; i < 2; i++) {
            pthread_join(t[i], NULL);
            ck_assert_int_eq(r[i].rv, 0);
            reply[i] = json_loads(r[i].reply, 0, NULL);
            ck_assert_ptr_nonnull(reply[i]);
            if (json_is_true(json_object_get(reply[i], "ok"))) {
                ck_assert_msg(winner < 0, "both changes based on version %llu succeeded", v);
                winner = i;
            }
        }
        pthread_barrier_destroy(&barrier);
        ck_assert_msg(winner >= 0, "neither change succeeded");
        ck_assert_uint_eq(gkt_expect_ok(reply[winner]), v + 1);
        {
            const json_t *loser = reply[1 - winner];
            const json_t *details = json_object_get(loser, "details");
            gkt_expect_error(loser, "CONFLICT", NULL);
            ck_assert_int_eq(json_integer_value(json_object_get(details, "base")), (json_int_t) v);
            ck_assert_int_eq(json_integer_value(json_object_get(details, "current")),
                             (json_int_t) v + 1);
        }
        ck_assert(status_percent(&daemon_, "orders.read_v2") == 10 + round * 10 + winner);
        /* Nothing lost: the loser's change, redone on the new version, goes through. */
        {
            char args[128];
            json_t *redo;
            snprintf(args, sizeof(args), "{\"key\":\"orders.read_v2\",\"percent\":%d}",
                     10 + round * 10 + (1 - winner));
            redo = gkt_admin_json(&daemon_, RITA, "rollout.set", args, WHY, v + 1);
            ck_assert_uint_eq(gkt_expect_ok(redo), v + 2);
            json_decref(redo);
            ck_assert(status_percent(&daemon_, "orders.read_v2") == 10 + round * 10 + (1 - winner));
        }
        for (int i = 0; i < 2; i++) {
            json_decref(reply[i]);
            free(r[i].reply);
            free(r[i].req);
        }
        ck_assert_uint_eq(audit_count(&daemon_), v + 2);
    }
}
END_TEST

/* ---- the audit log ----------------------------------------------------------------------------- */

static json_t *
audit_show(const gkt_daemon *d, long long seq)
{
    char args[64];
    json_t *reply, *record;

    snprintf(args, sizeof(args), "{\"seq\":%lld}", seq);
    reply = gkt_admin_json(d, VIC, "audit.show", args, NULL, 0);
    gkt_expect_ok(reply);
    record = json_object_get(json_object_get(reply, "result"), "record");
    ck_assert_ptr_nonnull(record);
    json_incref(record);
    json_decref(reply);
    return record;
}

/* SHA-256 hex of the canonical JSON of `record` without hash, kid and sig (store.h). */
static void
record_hash(char hex[65], const json_t *record)
{
    json_t *copy = json_deep_copy(record);
    unsigned char h[crypto_hash_sha256_BYTES];
    char *text;

    json_object_del(copy, "hash");
    json_object_del(copy, "kid");
    json_object_del(copy, "sig");
    text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    crypto_hash_sha256(h, (const unsigned char *) text, strlen(text));
    sodium_bin2hex(hex, 65, h, sizeof(h));
    free(text);
    json_decref(copy);
}

START_TEST(test_audit)
{
    json_t *reply, *records, *rec, *prev, *c;
    size_t len, n, i;
    char *req, hex[65];
    gkp_jwks *keys = NULL;
    gk_diag diag = {0};
    uint8_t *payload = NULL;
    size_t plen;
    unsigned long long seq_kill;

    reply = admin_ada(&daemon_, "flag.apply", "{\"flags\":{\"orders.write_v2\":" WRITE_V2 "}}",
                      WHY);
    gkt_expect_ok(reply);
    json_decref(reply);
    req = sign_as("rita", daemon_.actor_sk[RITA], "flag.kill", "{\"key\":\"orders.read_v2\"}",
                  "stop the bleeding, INC-42", 0, (long long) time(NULL), &len);
    reply = send_raw(&daemon_, req, len);
    seq_kill = gkt_expect_ok(reply);
    json_decref(reply);
    reply = gkt_admin_json(&daemon_, RITA, "rollout.set", "{\"key\":\"orders.write_v2\",\"percent\":20}",
                  WHY, 0);
    gkt_expect_ok(reply);
    json_decref(reply);
    n = state_version(&daemon_);
    ck_assert_uint_eq(n, 4);

    /* All of it, oldest first; the first record is the bootstrap. */
    records = audit_log(&daemon_, NULL);
    ck_assert_uint_eq(json_array_size(records), n);
    json_array_foreach(records, i, rec)
    {
        ck_assert_int_eq(json_integer_value(json_object_get(rec, "seq")), (json_int_t) i + 1);
    }
    rec = json_array_get(records, 0);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "op")), "bootstrap");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "actor")), "system");
    json_decref(records);

    /* flag filter. */
    records = audit_log(&daemon_, "{\"flag\":\"orders.write_v2\"}");
    ck_assert_uint_eq(json_array_size(records), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(records, 0), "seq")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(records, 1), "seq")), 4);
    json_decref(records);
    /* limit: the newest ones. */
    records = audit_log(&daemon_, "{\"limit\":2}");
    ck_assert_uint_eq(json_array_size(records), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(records, 0), "seq")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(records, 1), "seq")), 4);
    json_decref(records);
    /* since: a seq, or a time. */
    records = audit_log(&daemon_, "{\"since\":3}");
    ck_assert_uint_eq(json_array_size(records), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(records, 0), "seq")), 3);
    json_decref(records);
    rec = audit_show(&daemon_, 3);
    {
        char args[128];
        snprintf(args, sizeof(args), "{\"since\":\"%s\"}",
                 json_string_value(json_object_get(rec, "time")));
        records = audit_log(&daemon_, args);
        ck_assert_uint_ge(json_array_size(records), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(
                             json_array_get(records, json_array_size(records) - 2), "seq")),
                         3);
        json_decref(records);
    }
    json_decref(rec);

    /* One record in full: rita's kill. */
    rec = audit_show(&daemon_, (long long) seq_kill);
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "seq")), (json_int_t) seq_kill);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(rec, "time")));
    ck_assert_str_eq(json_string_value(json_object_get(rec, "actor")), "rita");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "op")), "flag.kill");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "why")), "stop the bleeding, INC-42");
    ck_assert_uint_eq(json_array_size(json_object_get(rec, "changes")), 1);
    c = json_array_get(json_object_get(rec, "changes"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "kind")), "flag");
    ck_assert_str_eq(json_string_value(json_object_get(c, "key")), "orders.read_v2");
    ck_assert_ptr_null(json_object_get(json_object_get(c, "before"), "state"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "after"), "state")),
                     "DISABLED");
    ck_assert_msg(json_array_size(json_object_get(rec, "verdicts")) > 0, "no verdicts");
    {
        const json_t *v;
        int security = 0;
        json_array_foreach(json_object_get(rec, "verdicts"), i, v)
        {
            security |= strcmp(json_string_value(json_object_get(v, "policy")), "security.lua") ==
                            0 &&
                        strcmp(json_string_value(json_object_get(v, "verdict")), "allow") == 0;
        }
        ck_assert_msg(security, "no allow verdict of security.lua in the record");
    }
    {
        json_t *env = json_loads(req, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(rec, "request")),
                         json_string_value(json_object_get(env, "request")));
        json_decref(env);
    }
    prev = audit_show(&daemon_, (long long) seq_kill - 1);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "prev")),
                     json_string_value(json_object_get(prev, "hash")));
    json_decref(prev);
    record_hash(hex, rec);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "hash")), hex);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(rec, "kid")));
    ck_assert_int_eq(gkp_jwks_load_file(&keys, daemon_.jwks_path, &diag), GK_OK);
    ck_assert_ptr_nonnull(gkp_jwks_find(keys, json_string_value(json_object_get(rec, "kid")),
                                        strlen(json_string_value(json_object_get(rec, "kid")))));
    ck_assert_int_eq(gkp_jws_verify(json_string_value(json_object_get(rec, "sig")),
                                    strlen(json_string_value(json_object_get(rec, "sig"))), keys,
                                    &payload, &plen, &diag),
                     GK_OK);
    ck_assert_uint_eq(plen, 64);
    ck_assert_int_eq(memcmp(payload, hex, 64), 0);
    free(payload);
    gkp_jwks_free(keys);
    json_decref(rec);
    free(req);

    /* The first record chains from 64 zeros. */
    rec = audit_show(&daemon_, 1);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "prev")),
                     "0000000000000000000000000000000000000000000000000000000000000000");
    json_decref(rec);

    reply = gkt_admin_json(&daemon_, RITA, "audit.show", "{\"seq\":999}", NULL, 0);
    gkt_expect_error(reply, "NOT_FOUND", "999");
    json_decref(reply);

    reply = gkt_admin_json(&daemon_, VIC, "audit.verify", NULL, NULL, 0);
    gkt_expect_ok(reply);
    ck_assert(json_is_true(json_object_get(json_object_get(reply, "result"), "ok")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(reply, "result"), "records")),
                     (json_int_t) n);
    json_decref(reply);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("admin");
    TCase *ops = tcase_create("ops");
    TCase *refusals = tcase_create("refusals");
    TCase *denials = tcase_create("denials");
    TCase *concurrency = tcase_create("concurrency");
    TCase *audit = tcase_create("audit");
    SRunner *sr;
    int failed;

    if (sodium_init() < 0) {
        return 1;
    }
    {
        unsigned char pk[crypto_sign_PUBLICKEYBYTES];
        crypto_sign_keypair(pk, ada_sk);
    }
    tcase_add_checked_fixture(ops, start, stop);
    tcase_set_timeout(ops, 60);
    tcase_add_test(ops, test_apply_get_list_dry_run);
    tcase_add_test(ops, test_rollout_set);
    tcase_add_test(ops, test_rollout_plan);
    tcase_add_test(ops, test_rollout_hold_expires);
    tcase_add_test(ops, test_kill_unkill);
    tcase_add_test(ops, test_optin_and_delete);
    tcase_add_test(ops, test_commit_round_trip);
    tcase_add_test(ops, test_status_reports_nonce_pool);

    tcase_add_checked_fixture(refusals, start, stop);
    tcase_set_timeout(refusals, 60);
    tcase_add_test(refusals, test_forged_signature);
    tcase_add_test(refusals, test_replay);
    tcase_add_test(refusals, test_replay_large_request_after_restart);
    tcase_add_test(refusals, test_unknown_actor);
    tcase_add_test(refusals, test_stale_and_future_iat);
    tcase_add_test(refusals, test_malformed_requests);
    tcase_add_test(refusals, test_alg_none);

    tcase_add_checked_fixture(denials, start, stop);
    tcase_set_timeout(denials, 60);
    tcase_add_test(denials, test_owner_denied_in_prod);
    tcase_add_test(denials, test_viewer_denied);
    tcase_add_test(denials, test_short_why_denied);
    tcase_add_test(denials, test_rollout_without_owner_denied);
    tcase_add_test(denials, test_release_manager_limits);
    tcase_add_test(denials, test_owner_apply_denied_in_prod);
    tcase_add_test(denials, test_owner_plan_denied_in_prod);
    tcase_add_test(denials, test_viewer_apply_denied);
    tcase_add_test(denials, test_ownership_in_staging);

    tcase_add_checked_fixture(concurrency, start, stop);
    tcase_set_timeout(concurrency, 60);
    tcase_add_test(concurrency, test_conflict);

    tcase_add_checked_fixture(audit, start, stop);
    tcase_set_timeout(audit, 60);
    tcase_add_test(audit, test_audit);

    suite_add_tcase(s, ops);
    suite_add_tcase(s, refusals);
    suite_add_tcase(s, denials);
    suite_add_tcase(s, concurrency);
    suite_add_tcase(s, audit);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
