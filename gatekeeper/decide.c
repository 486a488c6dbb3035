/*
 * decide.c - request -> engine -> policies -> signed decision token -> reply.
 *
 * One token answers one request, whatever the number of flags: every entry comes from one held
 * snapshot (one "snapshotVersion") and one policy set, under one signature, so a service sees a
 * consistent set.
 */
#include "decide.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "claims.h"
#include "clock.h"
#include "engine.h"
#include "gate.h"
#include "log.h"
#include "msg.h"
#include "redact.h"
#include "session.h"
#include "snapshot.h"
#include "vocab.h"

/* Flags evaluated with stack storage before falling back to the heap. */
#define DECIDE_STACK_FLAGS 32

/* What an entry needs beside its claim, until the token is signed. */
typedef struct entry_aux {
    char rule[GKD_GATE_RULE_MAX];
    json_t *mask;
    json_t *trace; /* the explain trace, only when the request asked for it */
} entry_aux;

/* Adds the time since *mark to the stage at byte offset `stage` of *t, and moves the mark; a
 * no-op when not timing (t NULL), so the server pays nothing for it. */
static void
lap(gkd_decide_times *t, uint64_t *mark, size_t stage)
{
    uint64_t now;

    if (t == NULL) {
        return;
    }
    now = gkd_clock_mono_ns();
    if (*mark != 0) {
        *(uint64_t *) (void *) ((char *) t + stage) += now - *mark;
    }
    *mark = now;
}

#define LAP(t, mark, field) lap((t), (mark), offsetof(gkd_decide_times, field))

static gk_err
error_reply(char **replyp, size_t *replylen, gk_error_code code, const char *details)
{
    return gkp_reply_encode_error(replyp, replylen, code, details);
}

/* A claim from a decision; members not named are zero, so a new claim field defaults to "none". */
static gkp_flag_claim
claim_of(const gkd_decision *d, const json_t *mask)
{
    return (gkp_flag_claim){
        .key = d->flag_key,
        .variant = d->variant,
        .value = d->value,
        .reason = d->reason,
        .error_code = d->error_code,
        .rule_id = d->rule_id,
        .error_message = d->error_message,
        .mask = mask,
    };
}

/*
 * Brings the worker's vm up to the current policy set and the snapshot's state. Returns the vm
 * to gate with, or NULL when policies are on but no vm could be had (gating then fails closed);
 * *gated says whether policies are on at all.
 */
static gkd_policy_vm *
policy_vm(const gkd_decider *decider, gkd_policy_vm **vmp, const gkd_snapshot *snap, int *gated)
{
    gkd_policy_set *set = decider->policies != NULL ? gkd_slot_acquire(decider->policies) : NULL;
    gk_diag diag = {0};

    *gated = set != NULL;
    if (set == NULL) {
        return NULL;
    }
    if (*vmp != NULL && gkd_policy_vm_set(*vmp) != set) {
        gkd_policy_vm_close(*vmp);
        *vmp = NULL;
    }
    if (*vmp == NULL && gkd_policy_vm_open(vmp, set, &diag) != GK_OK) {
        gkd_log(GKD_LOG_ERROR, "cannot start the policies for a worker: %s:%d: %s", diag.source,
                diag.line, diag.text);
        *vmp = NULL;
    }
    gkd_policy_set_rele(set);
    if (*vmp != NULL &&
        gkd_policy_vm_set_state(*vmp, gkd_snapshot_state(snap), gkd_snapshot_version(snap)) !=
            GK_OK) {
        gkd_log(GKD_LOG_ERROR, "cannot give the policies snapshot %llu",
                (unsigned long long) gkd_snapshot_version(snap));
        return NULL;
    }
    return *vmp;
}

/*
 * At debug level: one line per decision, with the context masked first (the policies' mask hook;
 * everything when no policy defines one or it fails), so no log holds a context's personal data.
 */
static void
log_decision(const gkd_decider *decider, gkd_policy_vm *vm, const gkd_snapshot *snap,
             const json_t *ctx, size_t n)
{
    json_t *copy = ctx != NULL ? json_deep_copy(ctx) : json_object();
    gkd_policy_result res = {.outcome = GKD_POLICY_ERROR};
    const json_t *path;
    char *text = NULL;
    size_t i;

    if (copy == NULL) {
        return;
    }
    /* No policy that says what is personal: treat everything as personal. */
    if (vm != NULL && gkd_policy_vm_has_hook(vm, "mask")) {
        gkd_policy_vm_mask(vm, "context", copy, 0, &res);
    }
    if (res.outcome == GKD_POLICY_ERROR) {
        gkp_redact_all(copy, GK_MASK_PSEUDONYMIZE, decider->log_key, sizeof(decider->log_key));
    } else {
        json_array_foreach(res.mask, i, path)
        {
            gkp_redact_path(copy, json_string_value(path), GK_MASK_PSEUDONYMIZE,
                            decider->log_key, sizeof(decider->log_key));
        }
    }
    text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    gkd_log(GKD_LOG_DEBUG, "decision: snapshot %llu, %zu flags, context %s",
            (unsigned long long) gkd_snapshot_version(snap), n, text != NULL ? text : "?");
    free(text);
    gkd_policy_result_fini(&res);
    json_decref(copy);
}

/*
 * Evaluates the flags the request names, or every flag of the snapshot when it names none, gates
 * each through the policies, and fills `claims` (room for n).
 */
static void
evaluate(const gkd_decider *decider, gkd_policy_vm **vmp, const gkd_snapshot *snap,
         const gkp_request *req, int named, gkp_flag_claim *claims, entry_aux *aux, size_t n,
         gkd_decide_times *t, uint64_t *mark)
{
    int gated;
    gkd_policy_vm *vm = policy_vm(decider, vmp, snap, &gated);
    gkd_decision d;

    if (gkd_log_enabled(GKD_LOG_DEBUG)) {
        log_decision(decider, vm, snap, req->context, n);
    }
    LAP(t, mark, policy_ns);

    for (size_t i = 0; i < n; i++) {
        if (named) {
            const json_t *key = json_array_get(req->flags, i);
            gkd_engine_eval_key(snap, json_string_value(key), json_string_length(key),
                                req->context, &d);
        } else {
            gkd_engine_eval(snap, gkd_snapshot_flag_at(snap, i), req->context, &d);
        }
        LAP(t, mark, engine_ns);
        aux[i].mask = NULL;
        aux[i].trace = NULL;
        if (gated) {
            gkd_gate_apply(vm, snap, req->context, &d, aux[i].rule, &aux[i].mask,
                           req->explain ? &aux[i].trace : NULL);
        }
        claims[i] = claim_of(&d, aux[i].mask);
        LAP(t, mark, policy_ns);
    }
}

/*
 * The MAC of the token under the key of the session the request names, into mac; 0 (no MAC) when
 * the table does not know the session (expired, taken over, opened before a restart).
 */
static int
session_mac(const gkd_decider *decider, const gkp_request *req, const char *token, size_t toklen,
            int64_t now_s, char mac[GKP_SESSION_MAC_CHARS + 1])
{
    uint8_t key[GKP_SESSION_KEY_BYTES];

    if (!gkd_sessions_key(decider->sessions, req->session, now_s, key)) {
        return 0;
    }
    gkp_session_mac(mac, key, token, toklen);
    sodium_memzero(key, sizeof(key));
    return 1;
}

/*
 * A request in a session gets the token's MAC under the session key beside the token; one that
 * opens a session also gets the session JWS (proto/session.h). A session the table does not know
 * or a client key that cannot be used gets a plain token reply: the client checks the signature
 * and opens a new session.
 */
static gk_err
add_session(const gkd_decider *decider, const gkp_request *req, const char *token, size_t toklen,
            int64_t now_s, char **replyp, size_t *replylen)
{
    uint8_t key[GKP_SESSION_KEY_BYTES], cpub[GKP_SESSION_PUB_BYTES];
    char mac[GKP_SESSION_MAC_CHARS + 1], sid[GKP_SESSION_ID_CHARS + 1];
    char spub[GKP_SESSION_PUB_CHARS + 1];
    char *claims = NULL, *jws = NULL;
    size_t claims_len, jws_len;
    gk_err rv;

    if (req->session_pub == NULL) {
        return session_mac(decider, req, token, toklen, now_s, mac)
                   ? gkp_reply_add_session(replyp, replylen, mac, NULL)
                   : GK_OK;
    }
    if (gkp_session_pub_decode(cpub, req->session_pub, strlen(req->session_pub)) != GK_OK ||
        gkd_sessions_open(decider->sessions, cpub, now_s, sid, spub, key) != GK_OK) {
        return GK_OK;
    }
    rv = gkp_session_claims_encode(&claims, &claims_len,
                                   &(gkp_session_claims){
                                       .sid = sid,
                                       .pub = spub,
                                       .cpub = req->session_pub,
                                       .iat = now_s,
                                       .exp = now_s + GKD_SESSIONS_TTL_S,
                                   });
    if (rv == GK_OK) {
        rv = gkd_signer_sign_typed(decider->signer, GKP_SESSION_TYP, claims, claims_len, &jws,
                                   &jws_len);
    }
    if (rv == GK_OK) {
        gkp_session_mac(mac, key, token, toklen);
        rv = gkp_reply_add_session(replyp, replylen, mac, jws);
    }
    sodium_memzero(key, sizeof(key));
    free(claims);
    free(jws);
    return rv;
}

/* Whether the reply to the request carries session members (add_session). */
static int
in_session(const gkd_decider *decider, const gkp_request *req)
{
    return decider->sessions != NULL && (req->session != NULL || req->session_pub != NULL);
}

/*
 * The token reply, in one buffer: the token is signed straight into its place in the reply, the
 * session MAC (a request in a known session) computed over it there, and the reply completed
 * around it, without copying the token. Opening a session goes through add_session, which MACs
 * the token where it is before the reply grows.
 */
static gk_err
token_reply(const gkd_decider *decider, const gkp_request *req, const char *payload,
            size_t payload_len, int64_t now_s, char **replyp, size_t *replylen,
            gkd_decide_times *t, uint64_t *mark)
{
    int with_mac = in_session(decider, req);
    size_t toklen = gkd_signer_token_len(decider->signer, payload_len);
    size_t size;
    char mac[GKP_SESSION_MAC_CHARS + 1];
    const char *token;
    char *reply;
    gk_err rv;

    if (toklen == 0) {
        return GK_EINVAL; /* an empty ring, or a token no verifier would accept */
    }
    size = gkp_reply_token_size(toklen, with_mac);
    reply = malloc(size);
    if (reply == NULL) {
        return GK_ENOMEM;
    }
    token = reply + GKP_REPLY_TOKEN_AT;
    rv = gkd_signer_sign_into(decider->signer, payload, payload_len, reply + GKP_REPLY_TOKEN_AT,
                              size - GKP_REPLY_TOKEN_AT, &toklen);
    LAP(t, mark, sign_ns);
    if (rv != GK_OK) {
        free(reply);
        return rv;
    }
    with_mac = with_mac && req->session_pub == NULL &&
               session_mac(decider, req, token, toklen, now_s, mac);
    *replylen = gkp_reply_token_finish(reply, toklen, with_mac ? mac : NULL);
    *replyp = reply;
    LAP(t, mark, reply_ns);
    if (in_session(decider, req) && req->session_pub != NULL) {
        rv = add_session(decider, req, token, toklen, now_s, replyp, replylen);
        LAP(t, mark, sign_ns);
    }
    return rv;
}

/* The token reply with [{"key": flag, "trace": [...]}] for every flag the policies gated. */
static gk_err
reply_with_explain(char **replyp, size_t *replylen, const char *token, size_t toklen,
                   const gkp_flag_claim *claims, const entry_aux *aux, size_t n)
{
    json_t *explain = json_array();
    gk_err rv;

    for (size_t i = 0; explain != NULL && i < n; i++) {
        if (aux[i].trace != NULL &&
            json_array_append_new(explain, json_pack("{s:s, s:O}", "key", claims[i].key, "trace",
                                                     aux[i].trace)) != 0) {
            json_decref(explain);
            explain = NULL;
        }
    }
    if (explain == NULL) {
        return GK_ENOMEM;
    }
    rv = gkp_reply_encode_token_explain(replyp, replylen, token, toklen, explain);
    json_decref(explain);
    return rv;
}

/* The token reply with the explain trace the request asked for (reply_with_explain), and the
 * session members (add_session). */
static gk_err
explained_reply(const gkd_decider *decider, const gkp_request *req, const char *payload,
                size_t payload_len, const gkp_flag_claim *claims, const entry_aux *aux, size_t n,
                int64_t now_s, char **replyp, size_t *replylen, gkd_decide_times *t,
                uint64_t *mark)
{
    char *token = NULL;
    size_t toklen = 0;
    gk_err rv = gkd_signer_sign(decider->signer, payload, payload_len, &token, &toklen);

    LAP(t, mark, sign_ns);
    if (rv == GK_OK) {
        rv = reply_with_explain(replyp, replylen, token, toklen, claims, aux, n);
        LAP(t, mark, reply_ns);
    }
    if (rv == GK_OK && in_session(decider, req)) {
        rv = add_session(decider, req, token, toklen, now_s, replyp, replylen);
        LAP(t, mark, sign_ns);
    }
    free(token);
    return rv;
}

static gk_err
sign_claims(const gkd_decider *decider, gkd_policy_vm **vmp, const gkd_snapshot *snap,
            const gkp_request *req, char **replyp, size_t *replylen, gkd_decide_times *t,
            uint64_t *mark)
{
    gkp_flag_claim stack_claims[DECIDE_STACK_FLAGS];
    entry_aux stack_aux[DECIDE_STACK_FLAGS];
    gkp_flag_claim *claims = stack_claims;
    entry_aux *aux = stack_aux;
    char subject[GKD_SUBJECT_MAX];
    const json_t *tk = json_object_get(req->context, "targetingKey");
    char *payload = NULL;
    int named = json_array_size(req->flags) > 0;
    size_t n = named ? json_array_size(req->flags) : gkd_snapshot_count(snap);
    size_t payload_len;
    gkp_claims set;
    gk_err rv;

    if (n > DECIDE_STACK_FLAGS) {
        claims = malloc(n * sizeof(*claims));
        aux = malloc(n * sizeof(*aux));
        if (claims == NULL || aux == NULL) {
            free(claims);
            free(aux);
            return GK_ENOMEM;
        }
    }
    evaluate(decider, vmp, snap, req, named, claims, aux, n, t, mark);
    memset(&set, 0, sizeof(set));
    set.iat = (int64_t) time(NULL);
    set.exp = set.iat + (int64_t) decider->token_ttl_s;
    set.snapshot_version = gkd_snapshot_version(snap);
    if (json_is_string(tk)) {
        gkd_signer_subject(decider->signer, json_string_value(tk), json_string_length(tk),
                           subject);
        set.sub = subject;
    }
    set.nonce = req->nonce;
    set.nflags = n;
    set.flags = claims;
    rv = gkp_claims_encode(&payload, &payload_len, &set);
    LAP(t, mark, claims_ns);
    if (rv == GK_OK) {
        rv = req->explain ? explained_reply(decider, req, payload, payload_len, claims, aux, n,
                                            set.iat, replyp, replylen, t, mark)
                          : token_reply(decider, req, payload, payload_len, set.iat, replyp,
                                        replylen, t, mark);
    }
    free(payload);
    for (size_t i = 0; i < n; i++) {
        json_decref(aux[i].mask);
        json_decref(aux[i].trace);
    }
    if (claims != stack_claims) {
        free(claims);
        free(aux);
    }
    return rv;
}

gk_err
gkd_decide_handle(const gkd_decider *decider, gkd_policy_vm **vmp, const char *req, size_t len,
                  char **replyp, size_t *replylen)
{
    return gkd_decide_handle_timed(decider, vmp, req, len, replyp, replylen, NULL);
}

gk_err
gkd_decide_handle_timed(const gkd_decider *decider, gkd_policy_vm **vmp, const char *req,
                        size_t len, char **replyp, size_t *replylen, gkd_decide_times *t)
{
    uint64_t mark = 0;
    gkp_request request;
    gk_error_code code = GK_ERROR_GENERAL;
    gk_diag diag = {0};
    gkd_snapshot *snap;
    json_t *jwks;
    gk_err rv;

    *replyp = NULL;
    LAP(t, &mark, decode_ns);
    rv = gkp_request_decode(&request, req, len, &code, &diag);
    LAP(t, &mark, decode_ns);
    if (rv == GK_ENOMEM) {
        return error_reply(replyp, replylen, GK_ERROR_GENERAL, "out of memory; try again");
    }
    if (rv != GK_OK) {
        return error_reply(replyp, replylen, code, diag.text);
    }
    if (request.op == GKP_OP_JWKS) {
        jwks = gkd_signer_jwks(decider->signer);
        rv = jwks != NULL ? gkp_reply_encode_jwks(replyp, replylen, jwks) : GK_ENOMEM;
        json_decref(jwks);
    } else {
        snap = gkd_slot_acquire(decider->snapshots);
        if (snap == NULL) {
            rv = error_reply(replyp, replylen, GK_ERROR_PROVIDER_NOT_READY,
                             "no flag snapshot is loaded yet; try again shortly");
        } else {
            rv = sign_claims(decider, vmp, snap, &request, replyp, replylen, t, &mark);
            gkd_snapshot_rele(snap);
        }
    }
    gkp_request_fini(&request);
    if (rv != GK_OK) {
        /* Never leave a request unanswered: the client would take it for a dead gatekeeper. */
        free(*replyp);
        *replyp = NULL;
        rv = error_reply(replyp, replylen, GK_ERROR_GENERAL,
                         rv == GK_ENOMEM ? "out of memory; try again"
                         : rv == GK_EINVAL
                             ? "the signed answer would exceed the 1 MiB token limit; name fewer "
                               "flags or use smaller values"
                             : gkp_strerror(rv));
    }
    return rv;
}
