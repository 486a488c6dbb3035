/*
 * msg.c - request and reply envelopes of decision protocol v1.
 *
 * Decoding is lenient about members it does not know and strict about the types of those it does:
 * each refusal says what was wrong in words a client developer can act on, because that text is
 * sent back as "errorDetails". Replies the daemon sends on every decision ("token") are written
 * by hand: a token is base64url and dots, so nothing needs escaping and jansson would only add
 * allocations.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "msg.h"
#include "b64url.h"
#include "jsonread.h"
#include "jsonutil.h"
#include "session.h"
#include "vocab.h"

/*
 * Whether a failed json_load* ran out of memory. jansson 2.14 leaves the text empty on some of
 * its allocation failures (and the code unset, hence the zeroed json_error_t).
 */
#define JSON_LOAD_OOM(e) ((e)->text[0] == '\0' || json_error_code(e) == json_error_out_of_memory)

#define SOURCE "request"
#define OPS "expected one of \"evaluate\", \"jwks\""

/*
 * Copy at most 32 characters of client text into "out" for an error detail, replacing everything
 * but printable ASCII with '?', so that details stay valid UTF-8 and safe to log.
 */
static const char *
snippet(char out[40], const char *s, size_t len)
{
    size_t i;
    size_t n = len < 32 ? len : 32;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        out[i] = (c >= 0x20 && c < 0x7F) ? (char) c : '?';
    }
    if (n < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

/* Record a request error: *code for the reply, diag for its errorDetails. */
static gk_err
fail(gk_error_code *code, gk_error_code ec, gk_err rv)
{
    if (code != NULL) {
        *code = ec;
    }
    return rv;
}

static gk_err
check_version(const json_t *v, gk_diag *diag)
{
    char buf[40];

    if (v == NULL) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "missing protocol version \"v\"; this gatekeeper speaks v1");
    }
    if (json_is_integer(v)) {
        if (json_integer_value(v) == GKP_PROTO_VERSION) {
            return GK_OK;
        }
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "unsupported protocol version %" JSON_INTEGER_FORMAT
                            "; this gatekeeper speaks v1",
                            json_integer_value(v));
    }
    if (json_is_string(v)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "unsupported protocol version \"%s\" (a string; \"v\" is the integer "
                            "1); this gatekeeper speaks v1",
                            snippet(buf, json_string_value(v), json_string_length(v)));
    }
    return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                        "unsupported protocol version (%s; \"v\" is the integer 1); this "
                        "gatekeeper speaks v1",
                        gkp_json_type_name(v));
}

static gk_err
check_op(gkp_op *op, const json_t *o, gk_diag *diag)
{
    char buf[40];

    if (o == NULL) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "missing \"op\"; " OPS);
    }
    if (!json_is_string(o)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "\"op\" is %s, not a string; " OPS,
                            gkp_json_type_name(o));
    }
    if (strcmp(json_string_value(o), "evaluate") == 0 && json_string_length(o) == 8) {
        *op = GKP_OP_EVALUATE;
        return GK_OK;
    }
    if (strcmp(json_string_value(o), "jwks") == 0 && json_string_length(o) == 4) {
        *op = GKP_OP_JWKS;
        return GK_OK;
    }
    return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "unknown op \"%s\"; " OPS,
                        snippet(buf, json_string_value(o), json_string_length(o)));
}

static gk_err
check_flags(const json_t *flags, gk_diag *diag)
{
    size_t i;
    size_t n;
    const json_t *f;

    if (!json_is_array(flags)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "\"flags\" is %s; it must be an array of flag keys (strings)",
                            gkp_json_type_name(flags));
    }
    n = json_array_size(flags);
    if (n > GKP_REQUEST_MAX_FLAGS) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "\"flags\" names %zu flags; the limit is %u per request", n,
                            GKP_REQUEST_MAX_FLAGS);
    }
    for (i = 0; i < n; i++) {
        f = json_array_get(flags, i);
        if (!json_is_string(f)) {
            return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                                "flags[%zu] is %s; a flag key is a string", i, gkp_json_type_name(f));
        }
        if (json_string_length(f) == 0 || json_string_length(f) >= GK_FLAG_KEY_MAX) {
            return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                                "flags[%zu] is %zu bytes; a flag key is 1..%d bytes", i,
                                json_string_length(f), GK_FLAG_KEY_MAX - 1);
        }
    }
    return GK_OK;
}

int
gkp_nonce_valid(const char *s, size_t len)
{
    return s != NULL && len >= GKP_NONCE_MIN_CHARS && len <= GKP_NONCE_MAX_CHARS &&
           gkp_b64url_span(s, len) == len;
}

/*
 * The characters of member `name` (s, len bytes, of a length already checked): GK_OK when all are
 * base64url, else GK_EPROTO naming the offset of the first that is not.
 */
static gk_err
check_b64url_chars(const char *name, const char *s, size_t len, gk_diag *diag)
{
    size_t bad = gkp_b64url_span(s, len);

    if (bad == len) {
        return GK_OK;
    }
    return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                        "\"%s\" has a character outside the base64url alphabet "
                        "(A-Z a-z 0-9 - _) at offset %zu",
                        name, bad);
}

/*
 * "nonce" binds the token to this request (the gatekeeper signs it back): only what a client
 * could have drawn at random is accepted, so it cannot smuggle text into a signed token.
 */
static gk_err
check_nonce(const json_t *nonce, gk_diag *diag)
{
    size_t len;

    if (!json_is_string(nonce)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "\"nonce\" is %s; it must be a string of %u to %u base64url "
                            "characters",
                            gkp_json_type_name(nonce), GKP_NONCE_MIN_CHARS, GKP_NONCE_MAX_CHARS);
    }
    len = json_string_length(nonce);
    if (len < GKP_NONCE_MIN_CHARS || len > GKP_NONCE_MAX_CHARS) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "\"nonce\" is %zu bytes; it must be %u to %u base64url characters",
                            len, GKP_NONCE_MIN_CHARS, GKP_NONCE_MAX_CHARS);
    }
    return check_b64url_chars("nonce", json_string_value(nonce), len, diag);
}

/* A base64url string member of exactly `chars` characters (a session id or key), or absent. */
static gk_err
check_b64_exact(const json_t *v, const char *name, size_t chars, gk_diag *diag)
{
    if (v == NULL) {
        return GK_OK;
    }
    if (!json_is_string(v) || json_string_length(v) != chars) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "\"%s\" must be a string of %zu base64url characters", name, chars);
    }
    return check_b64url_chars(name, json_string_value(v), chars, diag);
}

static gk_err
check_context(const json_t *ctx, gk_diag *diag)
{
    const json_t *tk;

    if (!json_is_object(ctx)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "\"context\" is %s; it must be an object of attributes",
                            gkp_json_type_name(ctx));
    }
    tk = json_object_get(ctx, "targetingKey");
    if (tk != NULL && !json_is_string(tk)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                            "context.targetingKey is %s; it must be a string", gkp_json_type_name(tk));
    }
    return GK_OK;
}

/* The members of a request the decoder reads; NULL when absent. */
typedef struct request_members {
    const json_t *v, *op, *flags, *nonce, *session, *session_pub, *explain, *context;
} request_members;

/*
 * The members of request object `root`, found in one walk over it rather than one hash lookup
 * each (the reader has already kept the last of duplicates, as json_object_get would find).
 */
static void
request_members_get(request_members *m, const json_t *root)
{
    const char *key;
    size_t key_len;
    json_t *value;

    memset(m, 0, sizeof(*m));
    json_object_keylen_foreach (gkp_json_unconst(root), key, key_len, value) {
        const json_t **slot = NULL;

        switch (key_len) {
        case 1:
            slot = key[0] == 'v' ? &m->v : NULL;
            break;
        case 2:
            slot = memcmp(key, "op", 2) == 0 ? &m->op : NULL;
            break;
        case 5:
            slot = memcmp(key, "flags", 5) == 0 ? &m->flags
                   : memcmp(key, "nonce", 5) == 0 ? &m->nonce
                                                  : NULL;
            break;
        case 7:
            slot = memcmp(key, "session", 7) == 0 ? &m->session
                   : memcmp(key, "explain", 7) == 0 ? &m->explain
                   : memcmp(key, "context", 7) == 0 ? &m->context
                                                    : NULL;
            break;
        case 10:
            slot = memcmp(key, "sessionPub", 10) == 0 ? &m->session_pub : NULL;
            break;
        default:
            break;
        }
        if (slot != NULL) {
            *slot = value;
        }
    }
}

gk_err
gkp_request_decode(gkp_request *req, const char *buf, size_t len, gk_error_code *code,
                   gk_diag *diag)
{
    request_members m;
    json_t *root;
    json_error_t jerr = {0};
    const json_t *flags = NULL;
    const json_t *ctx = NULL;
    const json_t *nonce = NULL;
    const json_t *explain = NULL;
    const json_t *session = NULL;
    const json_t *session_pub = NULL;
    const char *nul;
    gkp_op op = GKP_OP_EVALUATE;
    gk_err rv;
    int first = diag != NULL && diag->code == GK_OK;

    if (code != NULL) {
        *code = GK_ERROR_NONE;
    }
    if (req == NULL || (buf == NULL && len != 0)) {
        return fail(code, GK_ERROR_GENERAL, GK_EINVAL);
    }
    memset(req, 0, sizeof(*req));
    if (len > GKP_REQUEST_MAX_BYTES) {
        return fail(code, GK_ERROR_PARSE_ERROR,
                    gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                                 "request is %zu bytes; the limit is %u bytes", len,
                                 GKP_REQUEST_MAX_BYTES));
    }
    /* jansson would stop at a NUL byte and report a confusing "expected near end of file". */
    nul = len != 0 ? memchr(buf, '\0', len) : NULL;
    if (nul != NULL) {
        return fail(code, GK_ERROR_PARSE_ERROR,
                    gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                                 "invalid JSON: a NUL byte at offset %zu", (size_t) (nul - buf)));
    }
    root = gkp_json_loadb(buf != NULL ? buf : "", len, &jerr);
    if (root == NULL) {
        if (JSON_LOAD_OOM(&jerr)) {
            return fail(code, GK_ERROR_GENERAL,
                        gkp_diag_set(diag, GK_ENOMEM, SOURCE, 0, "out of memory"));
        }
        gkp_diag_set(diag, GK_EPROTO, SOURCE, jerr.line,
                     "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        if (first) {
            diag->column = jerr.column;
        }
        return fail(code, GK_ERROR_PARSE_ERROR, GK_EPROTO);
    }
    if (!json_is_object(root)) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "request is %s; it must be a JSON object",
                          gkp_json_type_name(root));
        goto parse_error;
    }
    request_members_get(&m, root);
    rv = check_version(m.v, diag);
    if (rv != GK_OK) {
        goto parse_error;
    }
    rv = check_op(&op, m.op, diag);
    if (rv != GK_OK) {
        goto parse_error;
    }
    /* A jwks request has no arguments; whatever else it carries is ignored. */
    if (op == GKP_OP_EVALUATE) {
        flags = m.flags;
        if (flags != NULL) {
            rv = check_flags(flags, diag);
            if (rv != GK_OK) {
                goto parse_error;
            }
        }
        nonce = m.nonce;
        if (nonce != NULL) {
            rv = check_nonce(nonce, diag);
            if (rv != GK_OK) {
                goto parse_error;
            }
        }
        session = m.session;
        session_pub = m.session_pub;
        rv = check_b64_exact(session, "session", GKP_SESSION_ID_CHARS, diag);
        if (rv == GK_OK) {
            rv = check_b64_exact(session_pub, "sessionPub", GKP_SESSION_PUB_CHARS, diag);
        }
        if (rv != GK_OK) {
            goto parse_error;
        }
        explain = m.explain;
        if (explain != NULL && !json_is_boolean(explain)) {
            rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                              "\"explain\" is %s; it must be true or false", gkp_json_type_name(explain));
            goto parse_error;
        }
        ctx = m.context;
        if (ctx != NULL) {
            rv = check_context(ctx, diag);
            if (rv != GK_OK) {
                json_decref(root);
                return fail(code, GK_ERROR_INVALID_CONTEXT, rv);
            }
        }
    }
    req->root = root;
    req->op = op;
    req->flags = flags;
    req->context = ctx;
    req->nonce = json_string_value(nonce);
    req->explain = json_is_true(explain);
    req->session = json_string_value(session);
    req->session_pub = json_string_value(session_pub);
    return GK_OK;

parse_error:
    json_decref(root);
    return fail(code, GK_ERROR_PARSE_ERROR, rv);
}

void
gkp_request_fini(gkp_request *req)
{
    if (req == NULL) {
        return;
    }
    json_decref(req->root);
    memset(req, 0, sizeof(*req));
}

gk_err
gkp_request_encode_evaluate(char **outp, size_t *outlen, const char *const *flags, size_t nflags,
                            const json_t *context, const char *nonce)
{
    return gkp_request_encode_evaluate_session(outp, outlen, flags, nflags, context, nonce, NULL,
                                               NULL);
}

gk_err
gkp_request_encode_evaluate_session(char **outp, size_t *outlen, const char *const *flags,
                                    size_t nflags, const json_t *context, const char *nonce,
                                    const char *session, const char *session_pub)
{
    char *text = context != NULL ? json_dumps(context, JSON_COMPACT) : NULL;
    gk_err rv;

    if (context != NULL && text == NULL) {
        return GK_ENOMEM;
    }
    rv = gkp_request_encode_evaluate_text(outp, outlen, flags, nflags, text,
                                          text != NULL ? strlen(text) : 0, nonce, session,
                                          session_pub);
    free(text);
    return rv;
}

/* Whether s is NULL or exactly `chars` base64url characters (16 <= chars <= 64). */
static int
b64_exact_or_null(const char *s, size_t chars)
{
    return s == NULL || (strlen(s) == chars && gkp_nonce_valid(s, chars));
}

/* Appends n bytes to the buffer at *p (room is the caller's business: see the size bound). */
static void
put(char **p, const char *s, size_t n)
{
    memcpy(*p, s, n);
    *p += n;
}

/* Appends `"name":"value"` (value of base64url characters: no escaping) after a comma. */
static void
put_member(char **p, const char *name, const char *value)
{
    put(p, ",\"", 2);
    put(p, name, strlen(name));
    put(p, "\":\"", 3);
    put(p, value, strlen(value));
    put(p, "\"", 1);
}

gk_err
gkp_request_encode_evaluate_text(char **outp, size_t *outlen, const char *const *flags,
                                 size_t nflags, const char *context, size_t context_len,
                                 const char *nonce, const char *session, const char *session_pub)
{
    static const char head[] = "{\"v\":1,\"op\":\"evaluate\"";
    char **keys = NULL; /* each key's JSON text: jansson's for a key that needs escaping */
    size_t cap = sizeof(head) + 16 + context_len + 4 * GKP_NONCE_MAX_CHARS;
    char *out, *p;
    gk_err rv = GK_OK;

    if (outp == NULL || (flags == NULL && nflags != 0) ||
        (nonce != NULL && !gkp_nonce_valid(nonce, strlen(nonce))) ||
        !b64_exact_or_null(session, GKP_SESSION_ID_CHARS) ||
        !b64_exact_or_null(session_pub, GKP_SESSION_PUB_CHARS)) {
        return GK_EINVAL;
    }
    *outp = NULL;
    if (nflags > 0 && (keys = calloc(nflags, sizeof(*keys))) == NULL) {
        return GK_ENOMEM;
    }
    for (size_t i = 0; i < nflags && rv == GK_OK; i++) {
        json_t *k;
        size_t n;

        if (flags[i] == NULL) {
            rv = GK_EINVAL;
            break;
        }
        n = strlen(flags[i]);
        if (gkp_json_plain_len(flags[i], n) != n) { /* a key that needs escaping */
            k = json_string(flags[i]); /* NULL also for a key that is not UTF-8 */
            keys[i] = k != NULL ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
            json_decref(k);
            rv = keys[i] != NULL ? GK_OK : GK_ENOMEM;
        }
        cap += (keys[i] != NULL ? strlen(keys[i]) : n) + 3;
    }
    out = rv == GK_OK ? malloc(cap) : NULL;
    if (rv == GK_OK && out == NULL) {
        rv = GK_ENOMEM;
    }
    if (rv == GK_OK) {
        p = out;
        put(&p, head, sizeof(head) - 1);
        if (flags != NULL) {
            put(&p, ",\"flags\":[", 10);
            for (size_t i = 0; i < nflags; i++) {
                if (i > 0) {
                    put(&p, ",", 1);
                }
                if (keys[i] != NULL) {
                    put(&p, keys[i], strlen(keys[i]));
                } else {
                    put(&p, "\"", 1);
                    put(&p, flags[i], strlen(flags[i]));
                    put(&p, "\"", 1);
                }
            }
            put(&p, "]", 1);
        }
        if (context != NULL) {
            put(&p, ",\"context\":", 11);
            put(&p, context, context_len);
        }
        if (nonce != NULL) {
            put_member(&p, "nonce", nonce);
        }
        if (session != NULL) {
            put_member(&p, "session", session);
        }
        if (session_pub != NULL) {
            put_member(&p, "sessionPub", session_pub);
        }
        put(&p, "}", 2); /* with the NUL */
        *outp = out;
        if (outlen != NULL) {
            *outlen = (size_t) (p - out) - 1;
        }
    }
    for (size_t i = 0; keys != NULL && i < nflags; i++) {
        free(keys[i]);
    }
    free(keys);
    return rv;
}

/*
 * PLAIN[c] is 1 for the base64url characters and '.' (what a compact JWS and a MAC are made of),
 * 0 for every other byte; one row per 16 codes.
 */
static const uint8_t PLAIN[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* The length of the run of base64url characters and dots that s[0..len) starts with. */
static size_t
plain_span(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t i = 0;

    /* four at a time: a token is hundreds of characters */
    while (i + 4 <= len && (PLAIN[p[i]] & PLAIN[p[i + 1]] & PLAIN[p[i + 2]] & PLAIN[p[i + 3]])) {
        i += 4;
    }
    while (i < len && PLAIN[p[i]]) {
        i++;
    }
    return i;
}

/* Whether "s" can go between JSON quotes as is (base64url and dots, as in a compact JWS). */
static int
is_plain_token(const char *s, size_t len)
{
    return plain_span(s, len) == len;
}

gk_err
gkp_reply_encode_token_explain(char **outp, size_t *outlen, const char *token, size_t toklen,
                               const json_t *explain)
{
    if (outp == NULL || token == NULL || explain == NULL) {
        return GK_EINVAL;
    }
    *outp = NULL;
    return gkp_json_dump_take(outp, outlen,
                     json_pack("{s:i,s:b,s:s%,s:O}", "v", GKP_PROTO_VERSION, "ok", 1, "token",
                               token, toklen, "explain", explain));
}

/* A token reply: TOKEN_HEAD, the token, [MAC_HEAD, the MAC,] TOKEN_TAIL. */
static const char TOKEN_HEAD[] = "{\"v\":1,\"ok\":true,\"token\":\"";
static const char MAC_HEAD[] = "\",\"mac\":\"";
static const char TOKEN_TAIL[] = "\"}";

_Static_assert(sizeof(TOKEN_HEAD) - 1 == GKP_REPLY_TOKEN_AT, "the token's offset in a reply");

size_t
gkp_reply_token_size(size_t toklen, int with_mac)
{
    return GKP_REPLY_TOKEN_AT + toklen +
           (with_mac ? sizeof(MAC_HEAD) - 1 + GKP_SESSION_MAC_CHARS : 0) + sizeof(TOKEN_TAIL);
}

size_t
gkp_reply_token_finish(char *out, size_t toklen, const char *mac)
{
    char *p = out + GKP_REPLY_TOKEN_AT + toklen;

    memcpy(out, TOKEN_HEAD, GKP_REPLY_TOKEN_AT);
    if (mac != NULL) {
        memcpy(p, MAC_HEAD, sizeof(MAC_HEAD) - 1);
        p += sizeof(MAC_HEAD) - 1;
        memcpy(p, mac, GKP_SESSION_MAC_CHARS);
        p += GKP_SESSION_MAC_CHARS;
    }
    memcpy(p, TOKEN_TAIL, sizeof(TOKEN_TAIL));
    return (size_t) (p - out) + sizeof(TOKEN_TAIL) - 1;
}

gk_err
gkp_reply_encode_token(char **outp, size_t *outlen, const char *token, size_t toklen)
{
    char *out;
    size_t n;

    if (outp == NULL || (token == NULL && toklen != 0)) {
        return GK_EINVAL;
    }
    *outp = NULL;
    if (!is_plain_token(token, toklen)) {
        return gkp_json_dump_take(outp, outlen,
                         json_pack("{s:i,s:b,s:s%}", "v", GKP_PROTO_VERSION, "ok", 1, "token",
                                   token, toklen));
    }
    out = malloc(gkp_reply_token_size(toklen, 0));
    if (out == NULL) {
        return GK_ENOMEM;
    }
    if (toklen != 0) {
        memcpy(out + GKP_REPLY_TOKEN_AT, token, toklen);
    }
    n = gkp_reply_token_finish(out, toklen, NULL);
    *outp = out;
    if (outlen != NULL) {
        *outlen = n;
    }
    return GK_OK;
}

gk_err
gkp_reply_add_session(char **replyp, size_t *replylen, const char *mac, const char *session_jws)
{
    static const char *const mac_head = MAC_HEAD + 1; /* after the token's closing quote */
    static const char session_head[] = "\",\"session\":\"";
    size_t maclen = mac != NULL ? strlen(mac) : 0;
    size_t jwslen = session_jws != NULL ? strlen(session_jws) : 0;
    size_t n, need;
    char *out, *p;

    if (replyp == NULL || *replyp == NULL || replylen == NULL ||
        /* a token reply: TOKEN_HEAD, up to the quote that opens the token */
        *replylen < GKP_REPLY_TOKEN_AT ||
        memcmp(*replyp, TOKEN_HEAD, GKP_REPLY_TOKEN_AT - 1) != 0 ||
        (*replyp)[*replylen - 1] != '}' || maclen != GKP_SESSION_MAC_CHARS ||
        !is_plain_token(mac, maclen) || !is_plain_token(session_jws, jwslen)) {
        return GK_EINVAL;
    }
    n = *replylen - 1; /* the reply without its closing brace */
    need = n + sizeof(MAC_HEAD) - 2 + maclen +
           (session_jws != NULL ? sizeof(session_head) - 1 + jwslen : 0) + 3;
    out = realloc(*replyp, need);
    if (out == NULL) {
        return GK_ENOMEM;
    }
    p = out + n;
    memcpy(p, mac_head, sizeof(MAC_HEAD) - 2);
    p += sizeof(MAC_HEAD) - 2;
    memcpy(p, mac, maclen);
    p += maclen;
    if (session_jws != NULL) {
        memcpy(p, session_head, sizeof(session_head) - 1);
        p += sizeof(session_head) - 1;
        memcpy(p, session_jws, jwslen);
        p += jwslen;
    }
    memcpy(p, TOKEN_TAIL, sizeof(TOKEN_TAIL));
    *replyp = out;
    *replylen = (size_t) (p - out) + sizeof(TOKEN_TAIL) - 1;
    return GK_OK;
}

gk_err
gkp_reply_encode_jwks(char **outp, size_t *outlen, const json_t *jwks)
{
    if (outp == NULL || jwks == NULL) {
        return GK_EINVAL;
    }
    *outp = NULL;
    return gkp_json_dump_take(outp, outlen,
                     json_pack("{s:i,s:b,s:O}", "v", GKP_PROTO_VERSION, "ok", 1, "jwks",
                               gkp_json_unconst(jwks)));
}

gk_err
gkp_reply_encode_error(char **outp, size_t *outlen, gk_error_code code, const char *details)
{
    json_t *text;

    if (outp == NULL) {
        return GK_EINVAL;
    }
    *outp = NULL;
    if (details == NULL) {
        details = "";
    }
    text = gkp_json_string_lossy(details);
    return gkp_json_dump_take(outp, outlen,
                     json_pack("{s:i,s:b,s:s,s:o}", "v", GKP_PROTO_VERSION, "ok", 0, "errorCode",
                               gkp_error_code_name(code), "errorDetails", text));
}

/*
 * Reads `"name":"<plain text>"` at *pp (within end): on a match points *valp and *lenp at the
 * text and moves *pp past the closing quote. Returns 1 on a match, 0 otherwise (*pp unchanged).
 */
static int
plain_member(const char **pp, const char *end, const char *name, const char **valp,
             size_t *lenp)
{
    size_t n = strlen(name);
    const char *p = *pp, *v;

    if ((size_t) (end - p) < n + 4 || p[0] != '"' || memcmp(p + 1, name, n) != 0 ||
        memcmp(p + 1 + n, "\":\"", 3) != 0) {
        return 0;
    }
    v = p + n + 4;
    p = v + plain_span(v, (size_t) (end - v));
    if (p == end || *p != '"') {
        return 0;
    }
    *valp = v;
    *lenp = (size_t) (p - v);
    *pp = p + 1;
    return 1;
}

/* The string at s (n bytes, in buf, followed by its closing quote) in the copy of buf, ended. */
static const char *
in_copy(char *copy, const char *buf, const char *s, size_t n)
{
    char *t;

    if (s == NULL) {
        return NULL;
    }
    t = copy + (s - buf);
    t[n] = '\0'; /* was the closing quote */
    return t;
}

/*
 * The token reply exactly as gkp_reply_encode_token and gkp_reply_add_session write it:
 * {"v":1,"ok":true,"token":"<jws>"[,"mac":"<mac>"[,"session":"<jws>"]]}, every value of
 * base64url characters and dots, nothing else. Read without building a JSON tree (a token is
 * hundreds of characters that a general parser checks one by one). Returns 1 when buf is such a
 * reply (reply filled, its strings in reply->text), 0 for anything else (or no memory: the
 * general parser then answers).
 */
static int
decode_plain_token_reply(gkp_reply *reply, const char *buf, size_t len)
{
    static const char head[] = "{\"v\":1,\"ok\":true,";
    const char *p = buf + sizeof(head) - 1, *end;

    if (len < sizeof(head) + 1 || memcmp(buf, head, sizeof(head) - 1) != 0) {
        return 0;
    }
    end = buf + len - 1; /* the closing brace */
    if (*end != '}' || !plain_member(&p, end, "token", &reply->token, &reply->token_len)) {
        return 0;
    }
    if (p < end && *p == ',') {
        p++;
        if (!plain_member(&p, end, "mac", &reply->mac, &reply->mac_len)) {
            return 0;
        }
        if (p < end && *p == ',') {
            p++;
            if (!plain_member(&p, end, "session", &reply->session, &reply->session_len)) {
                return 0;
            }
        }
    }
    if (p != end) {
        return 0;
    }
    /* A copy of buf whose closing quotes become NULs: the strings outlive buf and end in NUL. */
    reply->text = malloc(len);
    if (reply->text == NULL) {
        return 0;
    }
    memcpy(reply->text, buf, len);
    reply->token = in_copy(reply->text, buf, reply->token, reply->token_len);
    reply->mac = in_copy(reply->text, buf, reply->mac, reply->mac_len);
    reply->session = in_copy(reply->text, buf, reply->session, reply->session_len);
    reply->ok = 1;
    return 1;
}

gk_err
gkp_reply_decode(gkp_reply *reply, const char *buf, size_t len, gk_diag *diag)
{
    json_t *root;
    json_error_t jerr = {0};
    const json_t *v;
    const json_t *ok;
    const json_t *m;
    gk_err rv;
    int first = diag != NULL && diag->code == GK_OK;

    if (reply == NULL || (buf == NULL && len != 0)) {
        return GK_EINVAL;
    }
    memset(reply, 0, sizeof(*reply));
    if (buf != NULL && decode_plain_token_reply(reply, buf, len)) {
        return GK_OK;
    }
    memset(reply, 0, sizeof(*reply));
    root = json_loadb(buf != NULL ? buf : "", len, 0, &jerr);
    if (root == NULL) {
        if (JSON_LOAD_OOM(&jerr)) {
            return gkp_diag_set(diag, GK_ENOMEM, "reply", 0, "out of memory");
        }
        gkp_diag_set(diag, GK_EPROTO, "reply", jerr.line, "invalid JSON at line %d, column %d: %s",
                     jerr.line, jerr.column, jerr.text);
        if (first) {
            diag->column = jerr.column;
        }
        return GK_EPROTO;
    }
    v = json_object_get(root, "v");
    ok = json_object_get(root, "ok");
    if (!json_is_object(root) || !json_is_integer(v) ||
        json_integer_value(v) != GKP_PROTO_VERSION) {
        rv = gkp_diag_set(diag, GK_EPROTO, "reply", 0, "not a v1 reply (\"v\" is not 1)");
        goto fail;
    }
    if (!json_is_boolean(ok)) {
        rv = gkp_diag_set(diag, GK_EPROTO, "reply", 0, "reply has no boolean \"ok\"");
        goto fail;
    }
    reply->ok = json_is_true(ok);
    if (!reply->ok) {
        m = json_object_get(root, "errorCode");
        if (!json_is_string(m)) {
            rv = gkp_diag_set(diag, GK_EPROTO, "reply", 0, "error reply has no \"errorCode\"");
            goto fail;
        }
        reply->error_code = gkp_error_code_parse(json_string_value(m));
        m = json_object_get(root, "errorDetails");
        if (m != NULL && !json_is_string(m)) {
            rv = gkp_diag_set(diag, GK_EPROTO, "reply", 0, "\"errorDetails\" is not a string");
            goto fail;
        }
        reply->error_details = m != NULL ? json_string_value(m) : "";
    } else if ((m = json_object_get(root, "token")) != NULL) {
        if (!json_is_string(m)) {
            rv = gkp_diag_set(diag, GK_EPROTO, "reply", 0, "\"token\" is not a string");
            goto fail;
        }
        reply->token = json_string_value(m);
        reply->token_len = json_string_length(m);
        reply->explain = json_object_get(root, "explain");
        m = json_object_get(root, "mac");
        if (m != NULL && !json_is_string(m)) {
            rv = gkp_diag_set(diag, GK_EPROTO, "reply", 0, "\"mac\" is not a string");
            goto fail;
        }
        reply->mac = json_string_value(m);
        reply->mac_len = json_string_length(m);
        m = json_object_get(root, "session");
        if (m != NULL && !json_is_string(m)) {
            rv = gkp_diag_set(diag, GK_EPROTO, "reply", 0, "\"session\" is not a string");
            goto fail;
        }
        reply->session = json_string_value(m);
        reply->session_len = json_string_length(m);
    } else if ((m = json_object_get(root, "jwks")) != NULL) {
        if (!json_is_object(m)) {
            rv = gkp_diag_set(diag, GK_EPROTO, "reply", 0, "\"jwks\" is not an object");
            goto fail;
        }
        reply->jwks = m;
    } else {
        rv = gkp_diag_set(diag, GK_EPROTO, "reply", 0,
                          "reply has neither \"token\" nor \"jwks\" nor an error");
        goto fail;
    }
    reply->root = root;
    return GK_OK;

fail:
    json_decref(root);
    memset(reply, 0, sizeof(*reply));
    return rv;
}

void
gkp_reply_fini(gkp_reply *reply)
{
    if (reply == NULL) {
        return;
    }
    json_decref(reply->root);
    free(reply->text);
    memset(reply, 0, sizeof(*reply));
}
