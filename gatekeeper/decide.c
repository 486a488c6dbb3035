/*
 * decide.c - request -> signed decision token -> reply.
 *
 * One token answers one request, whatever the number of flags: every entry comes from one held
 * snapshot (one "snapshotVersion") under one signature, so a service sees a consistent set.
 */
#include "decide.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "claims.h"
#include "engine.h"
#include "msg.h"
#include "vocab.h"

/* Flags evaluated with stack storage before falling back to the heap. */
#define DECIDE_STACK_FLAGS 32

static gk_err
error_reply(char **replyp, size_t *replylen, gk_error_code code, const char *details)
{
    return gkp_reply_encode_error(replyp, replylen, code, details);
}

static void
claim_of(gkp_flag_claim *claim, const gkd_decision *d)
{
    claim->key = d->flag_key;
    claim->variant = d->variant;
    claim->value = d->value;
    claim->reason = d->reason;
    claim->error_code = d->error_code;
    claim->rule_id = d->rule_id;
    claim->error_message = d->error_message;
    claim->mask = NULL;
}

/*
 * Evaluates the flags the request names, or every flag of the snapshot when it names none, into
 * `claims` (room for n).
 */
static void
evaluate(const gkd_snapshot *snap, const gkp_request *req, int named, gkp_flag_claim *claims,
         size_t n)
{
    gkd_decision d;

    for (size_t i = 0; i < n; i++) {
        if (named) {
            const json_t *key = json_array_get(req->flags, i);
            gkd_engine_eval_key(snap, json_string_value(key), json_string_length(key),
                                req->context, &d);
        } else {
            gkd_engine_eval(snap, gkd_snapshot_flag_at(snap, i), req->context, &d);
        }
        claim_of(&claims[i], &d);
    }
}

static gk_err
sign_claims(const gkd_decider *decider, const gkd_snapshot *snap, const gkp_request *req,
            char **replyp, size_t *replylen)
{
    gkp_flag_claim stack_claims[DECIDE_STACK_FLAGS];
    gkp_flag_claim *claims = stack_claims;
    char subject[GKD_SUBJECT_MAX];
    const json_t *tk = json_object_get(req->context, "targetingKey");
    char *payload = NULL, *token = NULL;
    int named = json_array_size(req->flags) > 0;
    size_t n = named ? json_array_size(req->flags) : gkd_snapshot_count(snap);
    size_t payload_len, toklen;
    gkp_claims set;
    gk_err rv;

    if (n > DECIDE_STACK_FLAGS) {
        claims = malloc(n * sizeof(*claims));
        if (claims == NULL) {
            return GK_ENOMEM;
        }
    }
    evaluate(snap, req, named, claims, n);
    memset(&set, 0, sizeof(set));
    set.iat = (int64_t) time(NULL);
    set.exp = set.iat + (int64_t) decider->token_ttl_s;
    set.snapshot_version = gkd_snapshot_version(snap);
    if (json_is_string(tk)) {
        gkd_signer_subject(decider->signer, json_string_value(tk), json_string_length(tk),
                           subject);
        set.sub = subject;
    }
    set.nflags = n;
    set.flags = claims;
    rv = gkp_claims_encode(&payload, &payload_len, &set);
    if (rv == GK_OK) {
        rv = gkd_signer_sign(decider->signer, payload, payload_len, &token, &toklen);
    }
    if (rv == GK_OK) {
        rv = gkp_reply_encode_token(replyp, replylen, token, toklen);
    }
    free(token);
    free(payload);
    if (claims != stack_claims) {
        free(claims);
    }
    return rv;
}

gk_err
gkd_decide_handle(const gkd_decider *decider, const char *req, size_t len, char **replyp,
                  size_t *replylen)
{
    gkp_request request;
    gk_error_code code = GK_ERROR_GENERAL;
    gk_diag diag = {0};
    gkd_snapshot *snap;
    json_t *jwks;
    gk_err rv;

    *replyp = NULL;
    rv = gkp_request_decode(&request, req, len, &code, &diag);
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
        snap = gkd_snapshot_slot_acquire(decider->slot);
        if (snap == NULL) {
            rv = error_reply(replyp, replylen, GK_ERROR_PROVIDER_NOT_READY,
                             "no flag snapshot is loaded yet; try again shortly");
        } else {
            rv = sign_claims(decider, snap, &request, replyp, replylen);
            gkd_snapshot_rele(snap);
        }
    }
    gkp_request_fini(&request);
    if (rv == GK_ENOMEM && *replyp == NULL) {
        rv = error_reply(replyp, replylen, GK_ERROR_GENERAL, "out of memory; try again");
    }
    return rv;
}
