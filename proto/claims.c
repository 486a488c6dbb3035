/*
 * claims.c - the JWT claims set of a decision token.
 *
 * The encoder runs once per decision in the daemon, so it writes the text straight into one
 * growing buffer instead of building a jansson tree and dumping it: member order is fixed (see
 * claims.h), integers are written digit by digit (as printf would write them), flag values and
 * masks that are true, false, null, a string or an array of strings are written directly and other
 * values (arbitrary JSON) go through json_dumpb, and strings take a copy-as-is path when they need
 * no escaping (flag keys, variants and rule ids almost never do). Anything else is escaped by
 * jansson itself, so every path emits exactly what jansson would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "claims.h"
#include "jsonread.h"
#include "jsonutil.h"
#include "vocab.h"

#define SOURCE "claims"

/* A growing output buffer; "failed" latches the first error so calls can be chained. */
typedef struct outbuf {
    char *p;
    size_t len;
    size_t cap;
    gk_err failed;
} outbuf;

/* Grow the buffer to hold "more" bytes more plus a NUL: at least doubled, so appends are
 * amortised O(1). 0 (and the failure latched) without memory. */
static int
grow(outbuf *b, size_t more)
{
    size_t cap = b->cap * 2;
    char *p;

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

/* Make room for "more" bytes plus a NUL. Inline, so that appending a literal is a compare and a
 * few moves. */
static inline int
reserve(outbuf *b, size_t more)
{
    if (b->failed != GK_OK) {
        return 0;
    }
    return b->len + more + 1 <= b->cap || grow(b, more);
}

static inline void
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

/* Append the n bytes at "s" as a JSON string. */
static void
put_strn(outbuf *b, const char *s, size_t n)
{
    json_t *j;

    if (gkp_json_plain_len(s, n) == n) {
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

/* Append "s" as a JSON string. */
static void
put_str(outbuf *b, const char *s)
{
    put_strn(b, s, strlen(s));
}

/*
 * Append the JSON text of "v" (compact), as put_json would: the shapes a decision carries most
 * (true, false, null, a string, an array of strings such as a mask) are written here, anything
 * else by jansson.
 */
static void
put_value(outbuf *b, const json_t *v)
{
    size_t i;

    switch (json_typeof(v)) {
    case JSON_TRUE:
        PUT_LIT(b, "true");
        return;
    case JSON_FALSE:
        PUT_LIT(b, "false");
        return;
    case JSON_NULL:
        PUT_LIT(b, "null");
        return;
    case JSON_STRING:
        put_strn(b, json_string_value(v), json_string_length(v));
        return;
    case JSON_ARRAY:
        for (i = 0; i < json_array_size(v) && json_is_string(json_array_get(v, i)); i++) {
        }
        if (i < json_array_size(v)) {
            break;
        }
        PUT_LIT(b, "[");
        for (i = 0; i < json_array_size(v); i++) {
            const json_t *e = json_array_get(v, i);
            if (i > 0) {
                PUT_LIT(b, ",");
            }
            put_strn(b, json_string_value(e), json_string_length(e));
        }
        PUT_LIT(b, "]");
        return;
    default:
        break;
    }
    put_json(b, v);
}

/* Append the decimal text of "value", as printf's PRId64 writes it. */
static void
put_i64(outbuf *b, int64_t value)
{
    char digits[20]; /* 19 digits of INT64_MIN and its sign */
    uint64_t u = value < 0 ? 0 - (uint64_t) value : (uint64_t) value;
    size_t i = sizeof(digits);

    do {
        digits[--i] = (char) ('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (value < 0) {
        digits[--i] = '-';
    }
    put(b, digits + i, sizeof(digits) - i);
}

/* Append ,"name":<integer>; name a string literal. */
#define PUT_INT(b, name, value) (PUT_LIT((b), ",\"" name "\":"), put_i64((b), (value)))

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
        put_value(b, f->value);
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
        put_value(b, f->mask);
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
    /* Room for a usual claims set without growing: the members around "flags" take under 256
     * bytes, an entry 60 to 200 (a mask of a few fields included). */
    if (!reserve(&b, 256 + claims->nflags * 128)) {
        return GK_ENOMEM;
    }
    PUT_LIT(&b, "{\"iss\":\"gatekeeper\"");
    PUT_INT(&b, "iat", claims->iat);
    PUT_INT(&b, "exp", claims->exp);
    PUT_INT(&b, "snapshotVersion", (int64_t) claims->snapshot_version);
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

/*
 * Decoding. A token's payload is read once per fresh decision on the client, so it is read by a
 * reader (jsonread.h) for this one document rather than parsed into a jansson tree first: the
 * strings are unescaped into one arena as long as the input, iat/exp/snapshotVersion are read as
 * integers, and only a flag value that is a number, object or array, and a mask, become jansson
 * values (true, false and null are jansson's shared singletons). It accepts exactly RFC 8259 JSON
 * (strings UTF-8 without NUL, values at most GKP_JR_MAX_DEPTH levels deep, the claims object
 * being level 1) and refuses a known member given twice (RFC 7519 section 4 lets a reader refuse
 * duplicate claim names); unknown members are checked and skipped.
 */

/* A flag entry's member values sit in the claims object, its "flags" array and the entry (so at
 * level 4). */
#define FLAG_MEMBER_DEPTH 3

struct gkp_claims_doc {
    char *arena; /* the strings the claims point into */
    gkp_claims claims;
    gkp_flag_claim flags[]; /* claims.flags points here */
};

/* Which members of a flag entry or of the claims set were seen, to refuse one given twice. */
enum {
    SEEN_KEY = 1 << 0,
    SEEN_VARIANT = 1 << 1,
    SEEN_VALUE = 1 << 2,
    SEEN_REASON = 1 << 3,
    SEEN_RULE = 1 << 4,
    SEEN_CODE = 1 << 5,
    SEEN_MESSAGE = 1 << 6,
    SEEN_MASK = 1 << 7,
    SEEN_IAT = 1 << 0,
    SEEN_EXP = 1 << 1,
    SEEN_VERSION = 1 << 2,
    SEEN_SUB = 1 << 3,
    SEEN_NONCE = 1 << 4,
    SEEN_FLAGS = 1 << 5,
};

/* A member name the decoder knows, and its length: names are matched on length first. */
typedef struct known_name {
    const char *text;
    size_t len;
} known_name;

#define KNOWN(text) {text, sizeof(text) - 1}

/* The index of the n-byte name `key` in names[0..count); count when it is none of them. */
static size_t
known_index(const char *key, size_t n, const known_name *names, size_t count)
{
    size_t k;

    for (k = 0; k < count && (names[k].len != n || memcmp(key, names[k].text, n) != 0); k++) {
    }
    return k;
}

/* No flag entry: a member of the claims set itself, for once(). */
#define NOT_A_FLAG ((size_t) -1)

/* Marks `bit` seen in *seen; GK_EPROTO when it already was (member `name` of flags[i]). */
static gk_err
once(gkp_jr *r, unsigned *seen, unsigned bit, size_t i, const char *name)
{
    if ((*seen & bit) == 0) {
        *seen |= bit;
        return GK_OK;
    }
    if (i == NOT_A_FLAG) {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "\"%s\" is given twice", name);
    }
    return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "flags[%zu].\"%s\" is given twice", i,
                        name);
}

/* A flag entry being read. */
typedef struct flag_reader {
    gkp_flag_claim *f;
    size_t i;
    unsigned seen;
    const char *reason, *code;
} flag_reader;

/* An optional string member of a flag entry ("flags[i].name is not a string" otherwise). */
static gk_err
flag_str(gkp_jr *r, flag_reader *fr, const char **out, const char *name)
{
    if (gkp_jr_peek(r) != '"') {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "flags[%zu].%s is not a string",
                            fr->i, name);
    }
    return gkp_jr_string(r, out, NULL);
}

/* A required string member of a flag entry ("flags[i] has no string \"name\"" otherwise). */
static gk_err
flag_required_str(gkp_jr *r, flag_reader *fr, const char **out, const char *name)
{
    if (gkp_jr_peek(r) != '"') {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "flags[%zu] has no string \"%s\"",
                            fr->i, name);
    }
    return gkp_jr_string(r, out, NULL);
}

/* A flag's "value": any JSON value. */
static gk_err
flag_value(gkp_jr *r, flag_reader *fr)
{
    const char *p0 = r->p, *s;
    size_t n;
    json_error_t jerr;
    json_t *v;
    gk_err rv;

    switch (gkp_jr_peek(r)) { /* '\0' at the end of the input: the default case refuses it */
    case 't':
        rv = gkp_jr_literal(r, "true");
        v = json_true();
        break;
    case 'f':
        rv = gkp_jr_literal(r, "false");
        v = json_false();
        break;
    case 'n':
        rv = gkp_jr_literal(r, "null");
        v = json_null();
        break;
    case '"':
        rv = gkp_jr_string(r, &s, &n);
        v = rv == GK_OK ? json_stringn_nocheck(s, n) : NULL;
        break;
    default:
        /* a number, object or array: checked here, built by jansson from the same bytes */
        rv = gkp_jr_skip(r, FLAG_MEMBER_DEPTH);
        if (rv != GK_OK) {
            return rv;
        }
        memset(&jerr, 0, sizeof(jerr));
        v = json_loadb(p0, (size_t) (r->p - p0), JSON_DECODE_ANY, &jerr);
        if (v == NULL && jerr.text[0] != '\0' &&
            json_error_code(&jerr) != json_error_out_of_memory) {
            /* valid JSON that jansson cannot hold: a number out of its range */
            return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "flags[%zu].value: %s", fr->i,
                                jerr.text);
        }
        break;
    }
    if (rv != GK_OK) {
        return rv;
    }
    if (v == NULL) {
        return gkp_diag_set(r->diag, GK_ENOMEM, SOURCE, 0, "out of memory");
    }
    fr->f->value = v;
    return GK_OK;
}

/* The j-th field name of a flag's mask: a non-empty string, appended to the entry's mask. */
static gk_err
mask_element(gkp_jr *r, size_t j, void *arg)
{
    flag_reader *fr = arg;
    char *mark = r->arena;
    const char *s;
    size_t n;
    gk_err rv;

    if (gkp_jr_peek(r) != '"') {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0,
                            "flags[%zu].mask[%zu] is not a non-empty string", fr->i, j);
    }
    rv = gkp_jr_string(r, &s, &n);
    if (rv != GK_OK) {
        return rv;
    }
    if (n == 0) {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0,
                            "flags[%zu].mask[%zu] is not a non-empty string", fr->i, j);
    }
    if (json_array_append_new(gkp_json_unconst(fr->f->mask), json_stringn_nocheck(s, n)) != 0) {
        return gkp_diag_set(r->diag, GK_ENOMEM, SOURCE, 0, "out of memory");
    }
    r->arena = mark; /* jansson has its own copy */
    return GK_OK;
}

/* A flag's "mask": an array of non-empty strings (field paths). */
static gk_err
flag_mask(gkp_jr *r, flag_reader *fr)
{
    if (gkp_jr_peek(r) != '[') {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "flags[%zu].mask is not an array",
                            fr->i);
    }
    fr->f->mask = json_array(); /* freed with the entry from here on */
    if (fr->f->mask == NULL) {
        return gkp_diag_set(r->diag, GK_ENOMEM, SOURCE, 0, "out of memory");
    }
    return gkp_jr_array(r, mask_element, fr);
}

static gk_err
flag_member(gkp_jr *r, const char *key, size_t key_len, void *arg)
{
    /* in the order of the SEEN_ bits */
    static const known_name names[] = {
        KNOWN("key"),    KNOWN("variant"),   KNOWN("value"),        KNOWN("reason"),
        KNOWN("ruleId"), KNOWN("errorCode"), KNOWN("errorMessage"), KNOWN("mask"),
    };
    flag_reader *fr = arg;
    size_t k = known_index(key, key_len, names, sizeof(names) / sizeof(names[0]));
    const char *name;
    gk_err rv;

    if (k == sizeof(names) / sizeof(names[0])) {
        return gkp_jr_skip(r, FLAG_MEMBER_DEPTH);
    }
    name = names[k].text;
    rv = once(r, &fr->seen, 1u << k, fr->i, name);
    if (rv != GK_OK) {
        return rv;
    }
    switch (1u << k) {
    case SEEN_KEY:
        return flag_required_str(r, fr, &fr->f->key, name);
    case SEEN_REASON:
        return flag_required_str(r, fr, &fr->reason, name);
    case SEEN_VARIANT:
        return flag_str(r, fr, &fr->f->variant, name);
    case SEEN_RULE:
        return flag_str(r, fr, &fr->f->rule_id, name);
    case SEEN_CODE:
        return flag_str(r, fr, &fr->code, name);
    case SEEN_MESSAGE:
        return flag_str(r, fr, &fr->f->error_message, name);
    case SEEN_VALUE:
        return flag_value(r, fr);
    default:
        return flag_mask(r, fr);
    }
}

/* A flag entry into *f (zeroed), the i-th of the array. */
static gk_err
read_flag(gkp_jr *r, gkp_flag_claim *f, size_t i)
{
    flag_reader fr = {.f = f, .i = i};
    gk_err rv;

    if (gkp_jr_peek(r) != '{') {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "flags[%zu] is not an object", i);
    }
    rv = gkp_jr_object(r, flag_member, &fr);
    if (rv != GK_OK) {
        return rv;
    }
    if (f->key == NULL) {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "flags[%zu] has no string \"key\"", i);
    }
    if (fr.reason == NULL) {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "flags[%zu] has no string \"reason\"",
                            i);
    }
    f->reason = gkp_reason_parse(fr.reason);
    f->error_code = fr.code != NULL ? gkp_error_code_parse(fr.code) : GK_ERROR_NONE;
    return GK_OK;
}

/* What the claims set's members are read into. */
typedef struct claims_reader {
    unsigned seen;
    int64_t iat, exp, version;
    const char *sub, *nonce;
    gkp_flag_claim *flags; /* malloc'd, room for cap */
    size_t nflags, cap;
} claims_reader;

/* Releases the values an entry holds (its strings are in the arena). */
static void
flag_fini(gkp_flag_claim *f)
{
    json_decref(gkp_json_unconst(f->value));
    json_decref(gkp_json_unconst(f->mask));
}

/* The i-th flag entry: room for it in cr->flags, then read_flag. */
static gk_err
flag_element(gkp_jr *r, size_t i, void *arg)
{
    claims_reader *cr = arg;
    gkp_flag_claim *grown;

    if (cr->nflags == cr->cap) {
        cr->cap = cr->cap == 0 ? 4 : cr->cap * 2;
        grown = realloc(cr->flags, cr->cap * sizeof(*grown));
        if (grown == NULL) {
            return gkp_diag_set(r->diag, GK_ENOMEM, SOURCE, 0, "out of memory");
        }
        cr->flags = grown;
    }
    memset(&cr->flags[cr->nflags], 0, sizeof(cr->flags[0]));
    cr->nflags++;
    return read_flag(r, &cr->flags[i], i);
}

static gk_err
read_flags(gkp_jr *r, claims_reader *cr)
{
    if (gkp_jr_peek(r) != '[') {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "claims have no \"flags\" array");
    }
    return gkp_jr_array(r, flag_element, cr);
}

/* A required integer member of the claims set. */
static gk_err
claims_int(gkp_jr *r, int64_t *out, const char *name)
{
    int is_int = 0;
    char c = gkp_jr_peek(r);
    gk_err rv;

    if (c != '-' && (c < '0' || c > '9')) {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "claims have no integer \"%s\"", name);
    }
    rv = gkp_jr_number(r, &is_int, out);
    if (rv == GK_OK && !is_int) {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "claims have no integer \"%s\"", name);
    }
    return rv;
}

/* An optional string member of the claims set. */
static gk_err
claims_str(gkp_jr *r, const char **out, const char *name)
{
    if (gkp_jr_peek(r) != '"') {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "\"%s\" is not a string", name);
    }
    return gkp_jr_string(r, out, NULL);
}

static gk_err
claims_member(gkp_jr *r, const char *key, size_t key_len, void *arg)
{
    /* in the order of the SEEN_ bits */
    static const known_name names[] = {
        KNOWN("iat"), KNOWN("exp"), KNOWN("snapshotVersion"), KNOWN("sub"), KNOWN("nonce"),
        KNOWN("flags"),
    };
    claims_reader *cr = arg;
    size_t k = known_index(key, key_len, names, sizeof(names) / sizeof(names[0]));
    const char *name;
    gk_err rv;

    if (k == sizeof(names) / sizeof(names[0])) {
        return gkp_jr_skip(r, 1); /* in the claims object */
    }
    name = names[k].text;
    rv = once(r, &cr->seen, 1u << k, NOT_A_FLAG, name);
    if (rv != GK_OK) {
        return rv;
    }
    switch (1u << k) {
    case SEEN_IAT:
        return claims_int(r, &cr->iat, name);
    case SEEN_EXP:
        return claims_int(r, &cr->exp, name);
    case SEEN_VERSION:
        return claims_int(r, &cr->version, name);
    case SEEN_SUB:
        return claims_str(r, &cr->sub, name);
    case SEEN_NONCE:
        return claims_str(r, &cr->nonce, name);
    default:
        return read_flags(r, cr);
    }
}

/* The required members, in the order their absence is reported. */
static gk_err
claims_complete(gkp_jr *r, const claims_reader *cr)
{
    static const struct {
        unsigned bit;
        const char *text;
    } required[] = {
        {SEEN_IAT, "claims have no integer \"iat\""},
        {SEEN_EXP, "claims have no integer \"exp\""},
        {SEEN_VERSION, "claims have no integer \"snapshotVersion\""},
        {SEEN_FLAGS, "claims have no \"flags\" array"},
    };

    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if ((cr->seen & required[i].bit) == 0) {
            return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "%s", required[i].text);
        }
    }
    if (cr->version < 0) {
        return gkp_diag_set(r->diag, GK_EPROTO, SOURCE, 0, "snapshotVersion is negative");
    }
    return GK_OK;
}

gk_err
gkp_claims_decode(gkp_claims_doc **docp, const char *json, size_t len, gk_diag *diag)
{
    claims_reader cr;
    gkp_jr r;
    gkp_claims_doc *doc = NULL;
    char *arena;
    gk_err rv;

    if (docp == NULL || (json == NULL && len != 0)) {
        return GK_EINVAL;
    }
    *docp = NULL;
    if (json == NULL) {
        json = ""; /* no text: refused below as empty (NULL + 0 is undefined in C) */
    }
    arena = malloc(len + 1);
    if (arena == NULL) {
        return gkp_diag_set(diag, GK_ENOMEM, SOURCE, 0, "out of memory");
    }
    memset(&cr, 0, sizeof(cr));
    r = (gkp_jr){.start = json, .p = json, .end = json + len, .arena = arena, .source = SOURCE,
                 .diag = diag};
    if (gkp_jr_peek(&r) != '{') {
        rv = len == 0 || gkp_jr_peek(&r) == '\0'
                 ? gkp_jr_syntax(&r, "the claims are empty")
                 : gkp_diag_set(diag, GK_EPROTO, SOURCE, 0, "claims are not a JSON object");
    } else {
        rv = gkp_jr_object(&r, claims_member, &cr);
    }
    if (rv == GK_OK) {
        gkp_jr_skip_ws(&r);
        rv = r.p != r.end ? gkp_jr_syntax(&r, "text follows the claims object") : GK_OK;
    }
    if (rv == GK_OK) {
        rv = claims_complete(&r, &cr);
    }
    if (rv == GK_OK) {
        doc = malloc(sizeof(*doc) + cr.nflags * sizeof(doc->flags[0]));
        rv = doc != NULL ? GK_OK : gkp_diag_set(diag, GK_ENOMEM, SOURCE, 0, "out of memory");
    }
    if (rv != GK_OK) {
        for (size_t i = 0; i < cr.nflags; i++) {
            flag_fini(&cr.flags[i]);
        }
        free(cr.flags);
        free(arena);
        return rv;
    }
    if (cr.nflags > 0) {
        memcpy(doc->flags, cr.flags, cr.nflags * sizeof(doc->flags[0]));
    }
    free(cr.flags);
    doc->arena = arena;
    doc->claims = (gkp_claims){
        .iat = cr.iat,
        .exp = cr.exp,
        .snapshot_version = (uint64_t) cr.version,
        .sub = cr.sub,
        .nonce = cr.nonce,
        .nflags = cr.nflags,
        .flags = doc->flags,
    };
    *docp = doc;
    return GK_OK;
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
    for (size_t i = 0; i < doc->claims.nflags; i++) {
        flag_fini(&doc->flags[i]);
    }
    free(doc->arena);
    free(doc);
}
