/*
 * claims.c - the JWT claims set of a decision token.
 *
 * The encoder runs once per decision in the daemon, so it writes the text straight into one
 * growing buffer instead of building a jansson tree and dumping it: member order is fixed (see
 * claims.h), integers are printed with snprintf, flag values (arbitrary JSON) go through
 * json_dumpb, and strings take a copy-as-is path when they need no escaping (flag keys, variants
 * and rule ids almost never do). Anything else is escaped by jansson itself, so both paths emit
 * exactly what jansson would.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "claims.h"
#include "vocab.h"

/*
 * Whether a failed json_load* ran out of memory. jansson 2.14 leaves the text empty on some of
 * its allocation failures (and the code unset, hence the zeroed json_error_t).
 */
#define JSON_LOAD_OOM(e) ((e)->text[0] == '\0' || json_error_code(e) == json_error_out_of_memory)

#define SOURCE "claims"

/* A growing output buffer; "failed" latches the first error so calls can be chained. */
typedef struct outbuf {
    char *p;
    size_t len;
    size_t cap;
    gk_err failed;
} outbuf;

/* Make room for "more" bytes plus a NUL. */
static int
reserve(outbuf *b, size_t more)
{
    size_t cap;
    char *p;

    if (b->failed != GK_OK) {
        return 0;
    }
    if (b->len + more + 1 <= b->cap) {
        return 1;
    }
    cap = b->cap * 2;
    if (cap < b->len + more + 1) {
        cap = b->len + more + 1;
    }
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = GK_ENOMEM;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

static void
put(outbuf *b, const char *s, size_t n)
{
    if (reserve(b, n)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

#define PUT_LIT(b, lit) put((b), (lit), sizeof(lit) - 1)

/* Append the JSON text of "v" (compact). */
static void
put_json(outbuf *b, const json_t *v)
{
    size_t need;

    if (!reserve(b, 0)) {
        return;
    }
    need = json_dumpb(v, b->p + b->len, b->cap - b->len, JSON_COMPACT | JSON_ENCODE_ANY);
    if (need == 0) {
        b->failed = GK_EINVAL; /* a value jansson cannot encode (e.g. a NaN real) */
        return;
    }
    if (need > b->cap - b->len - 1) {
        if (!reserve(b, need)) {
            return;
        }
        need = json_dumpb(v, b->p + b->len, b->cap - b->len, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    b->len += need;
}

/* Append "s" as a JSON string. */
static void
put_str(outbuf *b, const char *s)
{
    size_t n = strlen(s);
    size_t i;
    json_t *j;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') {
            break;
        }
    }
    if (i == n) {
        if (reserve(b, n + 2)) {
            b->p[b->len++] = '"';
            memcpy(b->p + b->len, s, n);
            b->len += n;
            b->p[b->len++] = '"';
        }
        return;
    }
    j = json_stringn(s, n);
    if (j == NULL) {
        if (b->failed == GK_OK) {
            b->failed = GK_EINVAL; /* not UTF-8 (or out of memory: jansson cannot tell us) */
        }
        return;
    }
    put_json(b, j);
    json_decref(j);
}

/* Append ,"name":<integer>. */
static void
put_int(outbuf *b, const char *member, int64_t value)
{
    char num[48];
    int n = snprintf(num, sizeof(num), ",\"%s\":%" PRId64, member, value);

    put(b, num, (size_t) n);
}

static void
put_flag(outbuf *b, const gkp_flag_claim *f)
{
    PUT_LIT(b, "{\"key\":");
    put_str(b, f->key);
    if (f->variant != NULL) {
        PUT_LIT(b, ",\"variant\":");
        put_str(b, f->variant);
    }
    if (f->value != NULL) {
        PUT_LIT(b, ",\"value\":");
        put_json(b, f->value);
    }
    PUT_LIT(b, ",\"reason\":\"");
    put(b, gkp_reason_name(f->reason), strlen(gkp_reason_name(f->reason)));
    PUT_LIT(b, "\"");
    if (f->rule_id != NULL) {
        PUT_LIT(b, ",\"ruleId\":");
        put_str(b, f->rule_id);
    }
    if (f->error_code != GK_ERROR_NONE) {
        PUT_LIT(b, ",\"errorCode\":\"");
        put(b, gkp_error_code_name(f->error_code), strlen(gkp_error_code_name(f->error_code)));
        PUT_LIT(b, "\"");
    }
    if (f->error_message != NULL) {
        PUT_LIT(b, ",\"errorMessage\":");
        put_str(b, f->error_message);
    }
    if (f->mask != NULL && json_array_size(f->mask) > 0) {
        PUT_LIT(b, ",\"mask\":");
        put_json(b, f->mask);
    }
    PUT_LIT(b, "}");
}

gk_err
gkp_claims_encode(char **outp, size_t *outlen, const gkp_claims *claims)
{
    outbuf b = {NULL, 0, 0, GK_OK};
    size_t i;

    if (outp == NULL || claims == NULL || (claims->flags == NULL && claims->nflags != 0) ||
        claims->snapshot_version > (uint64_t) INT64_MAX) {
        return GK_EINVAL;
    }
    *outp = NULL;
    for (i = 0; i < claims->nflags; i++) {
        if (claims->flags[i].key == NULL) {
            return GK_EINVAL;
        }
    }
    if (!reserve(&b, 128 + claims->nflags * 96)) {
        return GK_ENOMEM;
    }
    PUT_LIT(&b, "{\"iss\":\"gatekeeper\"");
    put_int(&b, "iat", claims->iat);
    put_int(&b, "exp", claims->exp);
    put_int(&b, "snapshotVersion", (int64_t) claims->snapshot_version);
    if (claims->sub != NULL) {
        PUT_LIT(&b, ",\"sub\":");
        put_str(&b, claims->sub);
    }
    if (claims->nonce != NULL) {
        PUT_LIT(&b, ",\"nonce\":");
        put_str(&b, claims->nonce);
    }
    PUT_LIT(&b, ",\"flags\":[");
    for (i = 0; i < claims->nflags; i++) {
        if (i > 0) {
            PUT_LIT(&b, ",");
        }
        put_flag(&b, &claims->flags[i]);
    }
    PUT_LIT(&b, "]}");
    if (b.failed != GK_OK) {
        free(b.p);
        return b.failed;
    }
    b.p[b.len] = '\0';
    *outp = b.p;
    if (outlen != NULL) {
        *outlen = b.len;
    }
    return GK_OK;
}

struct gkp_claims_doc {
    json_t *root;
    gkp_claims claims;
    gkp_flag_claim flags[]; /* claims.flags points here */
};

/* Optional string member: GK_OK with *out NULL when absent, GK_EPROTO when not a string. */
static gk_err
opt_str(const char **out, const json_t *obj, const char *name, size_t i, gk_diag *diag)
{
    const json_t *v = json_object_get(obj, name);

    *out = NULL;
    if (v == NULL) {
        return GK_OK;
    }
    if (!json_is_string(v)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "flags[%zu].%s is not a string", i, name);
    }
    *out = json_string_value(v);
    return GK_OK;
}

/* Optional "mask": an array of non-empty strings (field paths); GK_EPROTO for anything else. */
static gk_err
opt_mask(const json_t **out, const json_t *obj, size_t i, gk_diag *diag)
{
    const json_t *v = json_object_get(obj, "mask");
    const json_t *field;
    size_t j;

    *out = NULL;
    if (v == NULL) {
        return GK_OK;
    }
    if (!json_is_array(v)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "flags[%zu].mask is not an array", i);
    }
    json_array_foreach(v, j, field)
    {
        if (!json_is_string(field) || json_string_length(field) == 0) {
            return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0,
                                "flags[%zu].mask[%zu] is not a non-empty string", i, j);
        }
    }
    *out = v;
    return GK_OK;
}

static gk_err
decode_flag(gkp_flag_claim *f, const json_t *e, size_t i, gk_diag *diag)
{
    const char *reason;
    const char *code;
    gk_err rv;

    if (!json_is_object(e)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "flags[%zu] is not an object", i);
    }
    f->key = json_string_value(json_object_get(e, "key"));
    if (f->key == NULL) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "flags[%zu] has no string \"key\"", i);
    }
    reason = json_string_value(json_object_get(e, "reason"));
    if (reason == NULL) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "flags[%zu] has no string \"reason\"", i);
    }
    f->reason = gkp_reason_parse(reason);
    f->value = json_object_get(e, "value");
    rv = opt_str(&f->variant, e, "variant", i, diag);
    if (rv == GK_OK) {
        rv = opt_str(&f->rule_id, e, "ruleId", i, diag);
    }
    if (rv == GK_OK) {
        rv = opt_str(&f->error_message, e, "errorMessage", i, diag);
    }
    if (rv == GK_OK) {
        rv = opt_str(&code, e, "errorCode", i, diag);
    }
    if (rv == GK_OK) {
        rv = opt_mask(&f->mask, e, i, diag);
    }
    if (rv != GK_OK) {
        return rv;
    }
    f->error_code = code != NULL ? gkp_error_code_parse(code) : GK_ERROR_NONE;
    return GK_OK;
}

/* A required integer member of the claims set. */
static gk_err
req_int(json_int_t *out, const json_t *root, const char *name, gk_diag *diag)
{
    const json_t *v = json_object_get(root, name);

    if (!json_is_integer(v)) {
        return gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "claims have no integer \"%s\"", name);
    }
    *out = json_integer_value(v);
    return GK_OK;
}

gk_err
gkp_claims_decode(gkp_claims_doc **docp, const char *json, size_t len, gk_diag *diag)
{
    json_t *root;
    json_error_t jerr = {0};
    const json_t *flags;
    const json_t *sub;
    const json_t *nonce;
    gkp_claims_doc *doc = NULL;
    json_int_t iat = 0;
    json_int_t exp = 0;
    json_int_t ver = 0;
    size_t n;
    size_t i;
    gk_err rv;

    if (docp == NULL || (json == NULL && len != 0)) {
        return GK_EINVAL;
    }
    *docp = NULL;
    root = json_loadb(json != NULL ? json : "", len, 0, &jerr);
    if (root == NULL) {
        rv = JSON_LOAD_OOM(&jerr) ? GK_ENOMEM : GK_EPROTO;
        return gkp_diag_set(diag, rv, SOURCE, jerr.line, "invalid JSON: %s", jerr.text);
    }
    if (!json_is_object(root)) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "claims are not a JSON object");
        goto fail;
    }
    rv = req_int(&iat, root, "iat", diag);
    if (rv == GK_OK) {
        rv = req_int(&exp, root, "exp", diag);
    }
    if (rv == GK_OK) {
        rv = req_int(&ver, root, "snapshotVersion", diag);
    }
    if (rv != GK_OK) {
        goto fail;
    }
    if (ver < 0) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "snapshotVersion is negative");
        goto fail;
    }
    sub = json_object_get(root, "sub");
    if (sub != NULL && !json_is_string(sub)) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "\"sub\" is not a string");
        goto fail;
    }
    nonce = json_object_get(root, "nonce");
    if (nonce != NULL && !json_is_string(nonce)) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "\"nonce\" is not a string");
        goto fail;
    }
    flags = json_object_get(root, "flags");
    if (!json_is_array(flags)) {
        rv = gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "claims have no \"flags\" array");
        goto fail;
    }
    n = json_array_size(flags);
    doc = calloc(1, sizeof(*doc) + n * sizeof(doc->flags[0]));
    if (doc == NULL) {
        rv = gkp_diag_set(diag, GK_ENOMEM, SOURCE, 0, "out of memory");
        goto fail;
    }
    for (i = 0; i < n; i++) {
        rv = decode_flag(&doc->flags[i], json_array_get(flags, i), i, diag);
        if (rv != GK_OK) {
            goto fail;
        }
    }
    doc->root = root;
    doc->claims.iat = iat;
    doc->claims.exp = exp;
    doc->claims.snapshot_version = (uint64_t) ver;
    doc->claims.sub = json_string_value(sub);
    doc->claims.nonce = json_string_value(nonce);
    doc->claims.nflags = n;
    doc->claims.flags = doc->flags;
    *docp = doc;
    return GK_OK;

fail:
    free(doc);
    json_decref(root);
    return rv;
}

const gkp_claims *
gkp_claims_doc_get(const gkp_claims_doc *doc)
{
    return doc != NULL ? &doc->claims : NULL;
}

void
gkp_claims_doc_free(gkp_claims_doc *doc)
{
    if (doc == NULL) {
        return;
    }
    json_decref(doc->root);
    free(doc);
}
