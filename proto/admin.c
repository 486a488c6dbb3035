/*
 * admin.c - the admin protocol v1 codec: signed request envelopes (gkctl signs, the gatekeeper opens
 * and verifies) and replies (the gatekeeper encodes, gkctl decodes). The contract is admin.h and
 * the "Admin protocol" part of proto/README.md.
 *
 * Opening is split from verifying because the gatekeeper must read the "kid" (the actor id) to know
 * which key to verify with, and nothing read before the signature verifies may be trusted: open
 * hands out only the kid, verify hands out the claims.
 *
 * Which reply a failed open deserves: a problem with the envelope itself (size, JSON, "v",
 * "request" not a string) leaves req->jws NULL and is INVALID_REQUEST; a problem inside the JWS
 * (not three parts, its header, alg, typ, kid) leaves req->jws set and is UNAUTHENTICATED. The diag
 * source says the same ("admin request" or "admin request header").
 */
#include "admin.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "b64url.h"
#include "jws.h"
#include "msg.h"
#include "jsonutil.h"
#include "vocab.h"

#define SOURCE "admin request"
#define HEADER_SOURCE "admin request header"
#define REPLY_SOURCE "admin reply"
#define PROTO_VERSION 1
/* A protected header is a few short members; anything this big is not ours. */
#define HEADER_MAX_BYTES 1024
#define JSON_LOAD_OOM(e) ((e)->text[0] == '\0' || json_error_code(e) == json_error_out_of_memory)

static const char *const error_names[] = {
    [GKP_ADMIN_OK] = "OK",
    [GKP_ADMIN_INVALID_REQUEST] = "INVALID_REQUEST",
    [GKP_ADMIN_UNAUTHENTICATED] = "UNAUTHENTICATED",
    [GKP_ADMIN_STALE_REQUEST] = "STALE_REQUEST",
    [GKP_ADMIN_REPLAYED] = "REPLAYED",
    [GKP_ADMIN_DENIED] = "DENIED",
    [GKP_ADMIN_CONFLICT] = "CONFLICT",
    [GKP_ADMIN_NOT_FOUND] = "NOT_FOUND",
    [GKP_ADMIN_INTERNAL] = "INTERNAL",
};

#define NERRORS (sizeof error_names / sizeof error_names[0])

const char *
gkp_admin_error_name(gkp_admin_error e)
{
    if ((size_t) e >= NERRORS) {
        return "INTERNAL";
    }
    return error_names[e];
}

/*
 * "OK" is not an error: a reply that says ok:false with error "OK" must not read as success, so it
 * parses as INTERNAL like any other unknown name.
 */
gkp_admin_error
gkp_admin_error_parse(const char *name)
{
    size_t i;

    if (name == NULL) {
        return GKP_ADMIN_INTERNAL;
    }
    for (i = 1; i < NERRORS; i++) {
        if (strcmp(name, error_names[i]) == 0) {
            return (gkp_admin_error) i;
        }
    }
    return GKP_ADMIN_INTERNAL;
}

int
gkp_admin_exit_code(gkp_admin_error e)
{
    switch (e) {
    case GKP_ADMIN_OK:
        return 0;
    case GKP_ADMIN_INVALID_REQUEST:
        return 2;
    case GKP_ADMIN_DENIED:
        return 3;
    case GKP_ADMIN_CONFLICT:
        return 4;
    case GKP_ADMIN_UNAUTHENTICATED:
    case GKP_ADMIN_STALE_REQUEST:
    case GKP_ADMIN_REPLAYED:
        return 5;
    case GKP_ADMIN_NOT_FOUND:
        return 6;
    case GKP_ADMIN_INTERNAL:
    default:
        return 1;
    }
}

/* ---- requests ----------------------------------------------------------------------------- */

gk_err
gkp_admin_request_sign(char **outp, size_t *outlen, const char *actor_id,
                       const uint8_t sk[GKP_ED25519_SK_BYTES], const char *op, const json_t *args,
                       const char *why, uint64_t base, int64_t now_s)
{
    uint8_t raw_jti[16];
    char jti[32];
    json_t *header = NULL;
    json_t *claims = NULL;
    char *header_json = NULL;
    char *payload = NULL;
    char *token = NULL;
    size_t toklen = 0;
    gk_err rv = GK_ENOMEM;

    if (outp == NULL) {
        return GK_EINVAL;
    }
    *outp = NULL;
    if (actor_id == NULL || actor_id[0] == '\0' || strlen(actor_id) >= GKP_KID_MAX || sk == NULL ||
        op == NULL || op[0] == '\0' || (args != NULL && !json_is_object(args)) ||
        base > (uint64_t) INT64_MAX) {
        return GK_EINVAL;
    }
    if (sodium_init() < 0) {
        return GK_ENOMEM;
    }
    randombytes_buf(raw_jti, sizeof raw_jti);
    gkp_b64url_encode(jti, sizeof jti, raw_jti, sizeof raw_jti);

    /* Members in the documented order: jansson keeps insertion order. */
    header = json_pack("{s:s,s:s,s:s}", "alg", "EdDSA", "kid", actor_id, "typ", GKP_ADMIN_TYP);
    if (args != NULL) {
        claims = json_pack("{s:s,s:O}", "op", op, "args", gkp_json_unconst(args));
    } else {
        claims = json_pack("{s:s,s:o}", "op", op, "args", json_object());
    }
    if (header == NULL || claims == NULL) {
        rv = GK_EINVAL; /* also strings that are not UTF-8 */
        goto done;
    }
    if (why != NULL && json_object_set_new(claims, "why", json_string(why)) != 0) {
        rv = GK_EINVAL;
        goto done;
    }
    if (json_object_set_new(claims, "iat", json_integer((json_int_t) now_s)) != 0 ||
        json_object_set_new(claims, "jti", json_string(jti)) != 0) {
        goto done;
    }
    if (base != 0 && json_object_set_new(claims, "base", json_integer((json_int_t) base)) != 0) {
        goto done;
    }
    header_json = json_dumps(header, JSON_COMPACT);
    payload = json_dumps(claims, JSON_COMPACT);
    if (header_json == NULL || payload == NULL) {
        goto done;
    }
    rv = gkp_jws_sign(&token, &toklen, header_json, (const uint8_t *) payload, strlen(payload), sk);
    if (rv != GK_OK) {
        goto done;
    }
    /* The token is base64url and dots: it needs no escaping in the envelope. */
    rv = gkp_json_dump_take(outp, outlen, json_pack("{s:i,s:s%}", "v", PROTO_VERSION, "request", token,
                                           toklen));
    if (rv == GK_OK && strlen(*outp) > GKP_ADMIN_REQUEST_MAX_BYTES) {
        free(*outp);
        *outp = NULL;
        rv = GK_EINVAL; /* no gatekeeper would read it */
    }

done:
    json_decref(header);
    json_decref(claims);
    free(header_json);
    free(payload);
    free(token);
    sodium_memzero(raw_jti, sizeof raw_jti);
    return rv;
}

/* Fail an open on a problem inside the JWS (UNAUTHENTICATED): req keeps envelope and jws. */
static gk_err
header_fail(gk_diag *diag, const char *what)
{
    return gkp_diag_set(diag, GK_EPROTO, HEADER_SOURCE, 0, "%s", what);
}

/* Check the protected header of req->jws and copy its kid into req->actor. */
static gk_err
open_header(gkp_admin_request *req, gk_diag *diag)
{
    uint8_t raw[HEADER_MAX_BYTES];
    const char *dot = memchr(req->jws, '.', req->jws_len);
    const char *dot2;
    size_t rawlen = 0;
    json_t *h;
    json_error_t jerr;
    const json_t *alg;
    const json_t *typ;
    const json_t *kid;
    gk_err rv;

    if (dot == NULL || dot == req->jws) {
        return header_fail(diag, "\"request\" is not a compact JWS (header.payload.signature)");
    }
    dot2 = memchr(dot + 1, '.', req->jws_len - (size_t) (dot + 1 - req->jws));
    if (dot2 == NULL || dot2 == dot + 1 || dot2 + 1 == req->jws + req->jws_len ||
        memchr(dot2 + 1, '.', req->jws_len - (size_t) (dot2 + 1 - req->jws)) != NULL) {
        return header_fail(diag, "\"request\" is not a compact JWS of three non-empty parts");
    }
    rv = gkp_b64url_decode(raw, sizeof raw, &rawlen, req->jws, (size_t) (dot - req->jws));
    if (rv != GK_OK) {
        return header_fail(diag, rv == GK_ENOSPC ? "JWS header is too large"
                                                 : "JWS header is not base64url");
    }
    h = json_loadb((const char *) raw, rawlen, JSON_REJECT_DUPLICATES, &jerr);
    if (h == NULL) {
        if (JSON_LOAD_OOM(&jerr)) {
            return gkp_diag_set(diag, GK_ENOMEM, HEADER_SOURCE, 0, "out of memory");
        }
        return header_fail(diag, "JWS header is not JSON (or repeats a member)");
    }
    alg = json_object_get(h, "alg");
    typ = json_object_get(h, "typ");
    kid = json_object_get(h, "kid");
    if (!json_is_object(h)) {
        rv = header_fail(diag, "JWS header is not a JSON object");
    } else if (!json_is_string(alg) || strcmp(json_string_value(alg), "EdDSA") != 0) {
        rv = gkp_diag_set(diag, GK_EPROTO, HEADER_SOURCE, 0,
                          "JWS alg must be \"EdDSA\"; this one is %s",
                          json_is_string(alg) ? "another algorithm" : gkp_json_type_name(alg));
    } else if (!json_is_string(typ) || strcmp(json_string_value(typ), GKP_ADMIN_TYP) != 0) {
        rv = header_fail(diag, "JWS typ must be \"" GKP_ADMIN_TYP "\" (an admin request)");
    } else if (json_object_get(h, "crit") != NULL) {
        rv = header_fail(diag, "JWS header has \"crit\"; no extension is understood");
    } else if (!json_is_string(kid) || json_string_length(kid) == 0 ||
               json_string_length(kid) >= GKP_KID_MAX ||
               strlen(json_string_value(kid)) != json_string_length(kid)) {
        rv = header_fail(diag, "JWS header needs \"kid\": the actor id, 1 to 63 bytes");
    } else {
        memcpy(req->actor, json_string_value(kid), json_string_length(kid) + 1);
        rv = GK_OK;
    }
    json_decref(h);
    return rv;
}

gk_err
gkp_admin_request_open(gkp_admin_request *req, const char *buf, size_t len, gk_diag *diag)
{
    json_error_t jerr;
    const json_t *v;
    const json_t *r;
    gk_err rv;

    if (req == NULL) {
        return GK_EINVAL;
    }
    memset(req, 0, sizeof *req);
    if (buf == NULL && len != 0) {
        return GK_EINVAL;
    }
    if (len > GKP_ADMIN_REQUEST_MAX_BYTES) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "request is %zu bytes; the limit is %u bytes", len,
                            GKP_ADMIN_REQUEST_MAX_BYTES);
    }
    req->envelope = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (req->envelope == NULL) {
        if (JSON_LOAD_OOM(&jerr)) {
            return gkp_diag_set(diag, GK_ENOMEM, SOURCE, 0, "out of memory");
        }
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, jerr.line,
                            "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                            jerr.text);
    }
    v = json_object_get(req->envelope, "v");
    r = json_object_get(req->envelope, "request");
    if (!json_is_object(req->envelope)) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "request is %s; it must be a JSON object",
                          gkp_json_type_name(req->envelope));
        goto fail;
    }
    if (!json_is_integer(v) || json_integer_value(v) != PROTO_VERSION) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                          "unsupported admin protocol version; this gatekeeper speaks v1");
        goto fail;
    }
    if (!json_is_string(r)) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                          "\"request\" is %s; it must be the signed request (a compact JWS)",
                          gkp_json_type_name(r));
        goto fail;
    }
    req->jws = json_string_value(r);
    req->jws_len = json_string_length(r);
    if (req->jws_len > GKP_JWS_MAX_BYTES) {
        return header_fail(diag, "the signed request is too large");
    }
    return open_header(req, diag);

fail:
    json_decref(req->envelope);
    req->envelope = NULL;
    return rv;
}

/* Forget everything verify filled in (a failed verify hands out nothing). */
static void
clear_claims(gkp_admin_request *req)
{
    json_decref(req->claims);
    req->claims = NULL;
    req->op = NULL;
    req->args = NULL;
    req->why = NULL;
    req->jti = NULL;
    req->iat = 0;
    req->base = 0;
}

/* Decode and check the verified payload; fills req's claim members. */
static gk_err
check_claims(gkp_admin_request *req, int64_t now_s, gk_diag *diag)
{
    json_t *c = req->claims;
    const json_t *op = json_object_get(c, "op");
    const json_t *args = json_object_get(c, "args");
    const json_t *why = json_object_get(c, "why");
    const json_t *iat = json_object_get(c, "iat");
    const json_t *jti = json_object_get(c, "jti");
    const json_t *base = json_object_get(c, "base");
    uint64_t skew;

    if (!json_is_object(c)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "the signed payload is %s; it must be a "
                            "JSON object of claims", gkp_json_type_name(c));
    }
    if (!json_is_string(op) || json_string_length(op) == 0) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "\"op\" is %s; it must name the operation, e.g. \"flag.get\"",
                            json_is_string(op) ? "empty" : gkp_json_type_name(op));
    }
    if (args != NULL && !json_is_object(args)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "\"args\" is %s; it must be an object",
                            gkp_json_type_name(args));
    }
    if (why != NULL && !json_is_string(why)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "\"why\" is %s; it must be a string",
                            gkp_json_type_name(why));
    }
    if (!json_is_integer(iat) || json_integer_value(iat) < 0) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "\"iat\" is %s; it must be the signing time in seconds since the epoch",
                            json_is_integer(iat) ? "negative" : gkp_json_type_name(iat));
    }
    if (!json_is_string(jti) || !gkp_nonce_valid(json_string_value(jti), json_string_length(jti))) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "\"jti\" must be 16 to 64 base64url characters, fresh for every "
                            "request");
    }
    if (base != NULL && (!json_is_integer(base) || json_integer_value(base) < 0)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "\"base\" must be a state version (an integer >= 0)");
    }
    if (args == NULL) {
        if (json_object_set_new(c, "args", json_object()) != 0) {
            return gkp_diag_set(diag, GK_ENOMEM, SOURCE, 0, "out of memory");
        }
        args = json_object_get(c, "args");
    }
    req->op = json_string_value(op);
    req->args = args;
    req->why = why != NULL ? json_string_value(why) : NULL;
    req->jti = json_string_value(jti);
    req->iat = (int64_t) json_integer_value(iat);
    req->base = base != NULL ? (uint64_t) json_integer_value(base) : 0;

    /* |iat - now| without overflow: unsigned differences are exact for any two int64 values. */
    skew = req->iat >= now_s ? (uint64_t) req->iat - (uint64_t) now_s
                             : (uint64_t) now_s - (uint64_t) req->iat;
    if (skew > GKP_ADMIN_IAT_WINDOW_S) {
        return gkp_diag_set(diag, GK_EEXPIRED, SOURCE, 0,
                            "request signed %llu s %s the gatekeeper's clock (the window is %d s): "
                            "check the clock and sign again",
                            (unsigned long long) skew, req->iat >= now_s ? "ahead of" : "behind",
                            GKP_ADMIN_IAT_WINDOW_S);
    }
    return GK_OK;
}

gk_err
gkp_admin_request_verify(gkp_admin_request *req, const uint8_t pk[GKP_ED25519_PK_BYTES],
                         int64_t now_s, gk_diag *diag)
{
    uint8_t *payload = NULL;
    size_t plen = 0;
    json_error_t jerr;
    gk_diag jd;
    gk_err rv;

    if (req == NULL || pk == NULL || req->jws == NULL || req->actor[0] == '\0') {
        return GK_EINVAL;
    }
    clear_claims(req);
    memset(&jd, 0, sizeof jd);
    rv = gkp_jws_verify_key(req->jws, req->jws_len, pk, &payload, &plen, &jd);
    if (rv == GK_ENOMEM || rv == GK_EINVAL) {
        return gkp_diag_set(diag, rv, SOURCE, 0, "%s", jd.text);
    }
    if (rv != GK_OK) {
        /* A malformed signature part is as unauthenticated as a wrong one. */
        return gkp_diag_set(diag, GK_EBADSIG, SOURCE, 0,
                            "signature of actor \"%.63s\" does not verify (%.80s)", req->actor,
                            jd.text);
    }
    req->claims = json_loadb((const char *) payload, plen, JSON_REJECT_DUPLICATES, &jerr);
    free(payload);
    if (req->claims == NULL) {
        if (JSON_LOAD_OOM(&jerr)) {
            return gkp_diag_set(diag, GK_ENOMEM, SOURCE, 0, "out of memory");
        }
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "the signed payload is not JSON (or repeats a member): %s", jerr.text);
    }
    rv = check_claims(req, now_s, diag);
    if (rv != GK_OK) {
        clear_claims(req);
    }
    return rv;
}

void
gkp_admin_request_fini(gkp_admin_request *req)
{
    if (req == NULL) {
        return;
    }
    json_decref(req->claims);
    json_decref(req->envelope);
    memset(req, 0, sizeof *req);
}

/* ---- replies ------------------------------------------------------------------------------ */

gk_err
gkp_admin_reply_encode_ok(char **outp, size_t *outlen, uint64_t version, const json_t *result)
{
    json_t *root;

    if (outp == NULL) {
        return GK_EINVAL;
    }
    *outp = NULL;
    if (version > (uint64_t) INT64_MAX) {
        return GK_EINVAL;
    }
    root = json_pack("{s:i,s:b,s:I}", "v", PROTO_VERSION, "ok", 1, "version", (json_int_t) version);
    if (root != NULL && result != NULL &&
        json_object_set(root, "result", gkp_json_unconst(result)) != 0) {
        json_decref(root);
        root = NULL;
    }
    return gkp_json_dump_take(outp, outlen, root);
}

gk_err
gkp_admin_reply_encode_error(char **outp, size_t *outlen, gkp_admin_error error,
                             const char *message, const json_t *details)
{
    json_t *root;

    if (outp == NULL) {
        return GK_EINVAL;
    }
    *outp = NULL;
    if (error == GKP_ADMIN_OK || (size_t) error >= NERRORS) {
        error = GKP_ADMIN_INTERNAL; /* an error reply always names an error */
    }
    root = json_pack("{s:i,s:b,s:s,s:o}", "v", PROTO_VERSION, "ok", 0, "error",
                     gkp_admin_error_name(error), "message",
                     gkp_json_string_lossy(message != NULL ? message : ""));
    if (root != NULL && details != NULL &&
        json_object_set(root, "details", gkp_json_unconst(details)) != 0) {
        json_decref(root);
        root = NULL;
    }
    return gkp_json_dump_take(outp, outlen, root);
}

gk_err
gkp_admin_reply_decode(gkp_admin_reply *reply, const char *buf, size_t len, gk_diag *diag)
{
    json_error_t jerr;
    const json_t *v;
    const json_t *ok;
    const json_t *version;
    const json_t *error;
    const json_t *message;
    const json_t *details;
    gk_err rv;

    if (reply == NULL) {
        return GK_EINVAL;
    }
    memset(reply, 0, sizeof *reply);
    if (buf == NULL && len != 0) {
        return GK_EINVAL;
    }
    reply->root = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (reply->root == NULL) {
        if (JSON_LOAD_OOM(&jerr)) {
            return gkp_diag_set(diag, GK_ENOMEM, REPLY_SOURCE, 0, "out of memory");
        }
        return gkp_diag_set(diag, GK_EPROTO, REPLY_SOURCE, jerr.line,
                            "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                            jerr.text);
    }
    v = json_object_get(reply->root, "v");
    ok = json_object_get(reply->root, "ok");
    if (!json_is_object(reply->root) || !json_is_integer(v) ||
        json_integer_value(v) != PROTO_VERSION) {
        rv = gkp_diag_set(diag, GK_EPROTO, REPLY_SOURCE, 0, "not a v1 admin reply");
        goto fail;
    }
    if (!json_is_boolean(ok)) {
        rv = gkp_diag_set(diag, GK_EPROTO, REPLY_SOURCE, 0, "reply has no boolean \"ok\"");
        goto fail;
    }
    reply->ok = json_is_true(ok);
    if (reply->ok) {
        version = json_object_get(reply->root, "version");
        if (version != NULL && (!json_is_integer(version) || json_integer_value(version) < 0)) {
            rv = gkp_diag_set(diag, GK_EPROTO, REPLY_SOURCE, 0,
                              "\"version\" is %s; it must be an integer >= 0", gkp_json_type_name(version));
            goto fail;
        }
        reply->version = version != NULL ? (uint64_t) json_integer_value(version) : 0;
        reply->result = json_object_get(reply->root, "result");
        reply->error = GKP_ADMIN_OK;
        return GK_OK;
    }
    error = json_object_get(reply->root, "error");
    message = json_object_get(reply->root, "message");
    details = json_object_get(reply->root, "details");
    if (!json_is_string(error)) {
        rv = gkp_diag_set(diag, GK_EPROTO, REPLY_SOURCE, 0,
                          "error reply's \"error\" is %s; it must be a string", gkp_json_type_name(error));
        goto fail;
    }
    if (message != NULL && !json_is_string(message)) {
        rv = gkp_diag_set(diag, GK_EPROTO, REPLY_SOURCE, 0,
                          "error reply's \"message\" is %s; it must be a string",
                          gkp_json_type_name(message));
        goto fail;
    }
    if (details != NULL && !json_is_object(details) && !json_is_null(details)) {
        rv = gkp_diag_set(diag, GK_EPROTO, REPLY_SOURCE, 0,
                          "error reply's \"details\" is %s; it must be an object",
                          gkp_json_type_name(details));
        goto fail;
    }
    reply->error = gkp_admin_error_parse(json_string_value(error));
    reply->message = message != NULL ? json_string_value(message) : "";
    reply->details = json_is_object(details) ? details : NULL;
    return GK_OK;

fail:
    json_decref(reply->root);
    memset(reply, 0, sizeof *reply);
    return rv;
}

void
gkp_admin_reply_fini(gkp_admin_reply *reply)
{
    if (reply == NULL) {
        return;
    }
    json_decref(reply->root);
    memset(reply, 0, sizeof *reply);
}
