/*
 * admin_client.c - what every admin command shares: the common options, loading the actor's key,
 * signing a request (gkp_admin_request_sign), one nng REQ/REP round trip to the gatekeeper's admin
 * socket, and printing the gatekeeper's errors with what to do about them.
 *
 * The actor key is read for one request and wiped right after signing (sodium_malloc'd; the
 * gkd_keyfile_read rules apply to a key file: mode 0600 or stricter).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

#include "admin.h"
#include "b64url.h"
#include "gkctl.h"
#include "keyfile.h"
#include "vocab.h"

/* Replies can be long (an audit log, a big flag list); requests stay under 1 MiB. */
#define REPLY_MAX_BYTES (64u << 20)

const char gkctl_admin_usage_text[] =
    "admin options: --admin URL (default $GK_ADMIN_URL or " GKCTL_ADMIN_URL_DEFAULT "),\n"
    "  --admin-ca FILE (the CA of a tls+tcp:// admin URL; default $GK_ADMIN_CA_FILE),\n"
    "  --key FILE (default $GK_ACTOR_KEY_FILE, or the private JWK itself in $GK_ACTOR_KEY),\n"
    "  --why TEXT (required for changes), --base VERSION, --timeout-ms N (default 5000)\n";

int
gkctl_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (s == NULL || *s == '\0') {
        return -1;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10) {
            return -1;
        }
        v = v * 10 + (uint64_t) (*s - '0');
    }
    *out = v;
    return 0;
}

int
gkctl_admin_opt(gkctl_admin_opts *a, int argc, char **argv, int *i, const char *cmd)
{
    const char *name = argv[*i];
    const char *value;
    uint64_t n;

    if (strcmp(name, "--admin") != 0 && strcmp(name, "--key") != 0 &&
        strcmp(name, "--why") != 0 && strcmp(name, "--base") != 0 &&
        strcmp(name, "--timeout-ms") != 0 && strcmp(name, "--admin-ca") != 0) {
        return 0;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "gkctl %s: %s needs a value\n", cmd, name);
        return -1;
    }
    value = argv[++*i];
    if (strcmp(name, "--admin") == 0) {
        a->url = value;
    } else if (strcmp(name, "--admin-ca") == 0) {
        a->ca_file = value;
    } else if (strcmp(name, "--key") == 0) {
        a->key_file = value;
    } else if (strcmp(name, "--why") == 0) {
        a->why = value;
    } else if (strcmp(name, "--base") == 0) {
        if (gkctl_parse_u64(value, &n) != 0 || n == 0 || n > INT64_MAX) {
            fprintf(stderr, "gkctl %s: --base \"%s\" is not a state version (an integer >= 1)\n",
                    cmd, value);
            return -1;
        }
        a->base = n;
    } else {
        if (gkctl_parse_u64(value, &n) != 0 || n == 0 || n > 3600000) {
            fprintf(stderr, "gkctl %s: --timeout-ms \"%s\" must be 1 to 3600000\n", cmd, value);
            return -1;
        }
        a->timeout_ms = (int) n;
    }
    return 1;
}

/* ---- the actor key ------------------------------------------------------------------------ */

/* Read a private JWK given as JSON text (GK_ACTOR_KEY) into a sodium_malloc'd secret key. */
static gk_err
key_from_json(uint8_t **skp, char kid[GKP_KID_MAX], const char *text, gk_diag *d)
{
    json_t *jwk = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    const char *x = gkctl_str(json_object_get(jwk, "x"), NULL);
    const char *dd = gkctl_str(json_object_get(jwk, "d"), NULL);
    const char *k = gkctl_str(json_object_get(jwk, "kid"), NULL);
    uint8_t seed[GKP_ED25519_SEED_BYTES];
    uint8_t xpk[GKP_ED25519_PK_BYTES];
    uint8_t *sk = NULL;
    size_t n1 = 0, n2 = 0;
    gk_err rv = GK_EPROTO;

    *skp = NULL;
    if (!json_is_object(jwk) ||
        strcmp(gkctl_str(json_object_get(jwk, "kty"), ""), "OKP") != 0 ||
        strcmp(gkctl_str(json_object_get(jwk, "crv"), ""), "Ed25519") != 0 || x == NULL ||
        dd == NULL) {
        snprintf(d->text, sizeof d->text, "not an Ed25519 private JWK (kty OKP, crv Ed25519, x, d)");
        goto done;
    }
    if (k == NULL || k[0] == '\0' || strlen(k) >= GKP_KID_MAX) {
        snprintf(d->text, sizeof d->text, "the key has no \"kid\" (the actor id, 1 to 63 bytes)");
        goto done;
    }
    if (gkp_b64url_decode_secret(seed, sizeof seed, &n1, dd, strlen(dd)) != GK_OK ||
        n1 != sizeof seed ||
        gkp_b64url_decode(xpk, sizeof xpk, &n2, x, strlen(x)) != GK_OK || n2 != sizeof xpk) {
        snprintf(d->text, sizeof d->text, "\"d\" and \"x\" must be base64url of 32 bytes each");
        goto done;
    }
    sk = sodium_malloc(GKP_ED25519_SK_BYTES);
    if (sk == NULL) {
        rv = GK_ENOMEM;
        snprintf(d->text, sizeof d->text, "out of memory");
        goto done;
    }
    {
        uint8_t pk[GKP_ED25519_PK_BYTES];
        crypto_sign_seed_keypair(pk, sk, seed);
        if (sodium_memcmp(pk, xpk, sizeof pk) != 0) {
            snprintf(d->text, sizeof d->text, "\"x\" is not the public half of \"d\"");
            sodium_free(sk);
            sk = NULL;
            goto done;
        }
    }
    memcpy(kid, k, strlen(k) + 1);
    *skp = sk;
    rv = GK_OK;

done:
    sodium_memzero(seed, sizeof seed);
    json_decref(jwk); /* "d" stays in jansson's heap until freed: a short-lived CLI accepts that */
    d->code = rv;
    return rv;
}

/* Load the actor's key as a names it; prints what is wrong. GKCTL_OK or GKCTL_USAGE. */
static int
load_actor_key(uint8_t **skp, char kid[GKP_KID_MAX], const gkctl_admin_opts *a, const char *cmd)
{
    const char *file = a->key_file != NULL ? a->key_file : getenv("GK_ACTOR_KEY_FILE");
    const char *text = getenv("GK_ACTOR_KEY");
    gk_diag d;

    memset(&d, 0, sizeof d);
    if (file != NULL && file[0] != '\0') {
        if (gkd_keyfile_read(skp, kid, file, &d) != GK_OK) {
            fprintf(stderr, "gkctl %s: actor key %s: %s\n", cmd, file, d.text);
            return GKCTL_USAGE;
        }
        return GKCTL_OK;
    }
    if (text != NULL && text[0] != '\0') {
        if (key_from_json(skp, kid, text, &d) != GK_OK) {
            fprintf(stderr, "gkctl %s: actor key in GK_ACTOR_KEY: %s\n", cmd, d.text);
            return GKCTL_USAGE;
        }
        return GKCTL_OK;
    }
    fprintf(stderr, "gkctl %s: no actor key: pass --key FILE or set GK_ACTOR_KEY_FILE (make a key "
                    "with `gkctl actor keygen`)\n", cmd);
    return GKCTL_USAGE;
}

/* ---- the round trip ----------------------------------------------------------------------- */

/*
 * Dials `url` synchronously; for tls+tcp:// the server's certificate must chain to `ca_file` and
 * name the URL's host (nng's TLS is mbed TLS).
 */
static int
dial(nng_socket sock, const char *url, const char *ca_file)
{
    char host[256];
    const char *start, *end;
    nng_dialer d;
    int rv;

    if (strncmp(url, "tls+tcp://", 10) != 0) {
        return nng_dial(sock, url, NULL, 0);
    }
    start = url + 10;
    end = strrchr(start, ':');
    snprintf(host, sizeof(host), "%.*s", end != NULL ? (int) (end - start) : (int) strlen(start),
             start);
    rv = nng_dialer_create(&d, sock, url);
    if (rv == 0) {
        rv = nng_dialer_set_string(d, NNG_OPT_TLS_CA_FILE, ca_file);
    }
    if (rv == 0) {
        rv = nng_dialer_set_string(d, NNG_OPT_TLS_SERVER_NAME, host);
    }
    if (rv == 0) {
        rv = nng_dialer_start(d, 0);
    }
    return rv;
}

/* Send `req` and wait for the reply; an nng error number (0 ok). replyp: nng-allocated. */
static int
transact(const char *url, const char *ca_file, int timeout_ms, char *req, size_t len,
         char **replyp, size_t *replylen, int *dialed)
{
    nng_socket sock;
    int rv;

    *replyp = NULL;
    *dialed = 0;
    rv = nng_req0_open(&sock);
    if (rv != 0) {
        return rv;
    }
    nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, timeout_ms);
    nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, timeout_ms);
    nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, REPLY_MAX_BYTES);
    /* Never resend: a resent change carries the same jti and would only come back REPLAYED. */
    nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    /* A synchronous dial: a refused connection is reported now, not as a timeout later. */
    rv = dial(sock, url, ca_file);
    if (rv == 0) {
        *dialed = 1;
        rv = nng_send(sock, (void *) req, len, 0);
    }
    if (rv == 0) {
        rv = nng_recv(sock, replyp, replylen, NNG_FLAG_ALLOC);
    }
    nng_close(sock);
    return rv;
}

static const char *
hint(gkp_admin_error e)
{
    switch (e) {
    case GKP_ADMIN_INVALID_REQUEST:
        return "nothing was changed: the message says what to fix (gkctl --help, docs/gkctl.md)";
    case GKP_ADMIN_UNAUTHENTICATED:
        return "check that your key (--key, GK_ACTOR_KEY_FILE) is in the gatekeeper's actors file "
               "under its kid (gkctl actor keygen --actors FILE)";
    case GKP_ADMIN_STALE_REQUEST:
        return "this machine's clock must be within 300 s of the gatekeeper's: fix it and run the "
               "command again";
    case GKP_ADMIN_REPLAYED:
        return "run the command again (every run signs a new request)";
    case GKP_ADMIN_DENIED:
        return "the policies' verdicts are above; change the request or ask someone who may";
    case GKP_ADMIN_CONFLICT:
        return "the state moved since the version you based this on: read it again (gkctl status, "
               "gkctl flag get) and retry, with --base set to the current version";
    case GKP_ADMIN_NOT_FOUND:
        return "check the name (gkctl flag list, gkctl audit log)";
    case GKP_ADMIN_INTERNAL:
    default:
        return "nothing was applied; see the gatekeeper's log";
    }
}

/* Print an error reply and return its exit code. */
static int
print_error(const gkctl_opts *o, const char *cmd, const gkp_admin_reply *r)
{
    const json_t *verdicts = json_object_get(r->details, "verdicts");
    const json_t *v;
    size_t i;

    if (o->json) {
        json_t *out = json_pack("{s:s,s:s}", "error", gkp_admin_error_name(r->error), "message",
                                r->message);
        if (out != NULL && r->details != NULL) {
            json_object_set(out, "details", (json_t *) (uintptr_t) r->details);
        }
        gkctl_print_json(out);
        return gkp_admin_exit_code(r->error);
    }
    fprintf(stderr, "gkctl %s: %s: %s\n", cmd, gkp_admin_error_name(r->error),
            r->message[0] != '\0' ? r->message : "(no message)");
    json_array_foreach (verdicts, i, v) {
        const json_t *violations = json_object_get(v, "violations");
        const json_t *x;
        size_t j;

        fprintf(stderr, "  %s %s: %s (%s)\n", gkctl_str(json_object_get(v, "verdict"), "deny"),
                gkctl_str(json_object_get(v, "policy"), "?"),
                gkctl_str(json_object_get(v, "reason"), "no reason given"),
                gkctl_str(json_object_get(v, "source"), "no source"));
        /* A verdict may carry its evidence: compatibility.lua lists {location, message}. */
        if (json_is_string(violations)) {
            fprintf(stderr, "      %s\n", json_string_value(violations));
        }
        json_array_foreach (violations, j, x) {
            fprintf(stderr, "      %s: %s\n", gkctl_str(json_object_get(x, "location"), "?"),
                    gkctl_str(json_object_get(x, "message"), gkctl_str(x, "?")));
        }
    }
    if (r->error == GKP_ADMIN_CONFLICT && json_is_integer(json_object_get(r->details, "base")) &&
        json_is_integer(json_object_get(r->details, "current"))) {
        fprintf(stderr, "  based on version %lld; the gatekeeper is at version %lld\n",
                (long long) json_integer_value(json_object_get(r->details, "base")),
                (long long) json_integer_value(json_object_get(r->details, "current")));
    }
    fprintf(stderr, "  %s\n", hint(r->error));
    return gkp_admin_exit_code(r->error);
}

/* Print a local failure (unreachable, bad reply) in the output mode and return `code`. */
static int
local_error(const gkctl_opts *o, const char *cmd, const char *name, int code, const char *msg)
{
    if (o->json) {
        gkctl_print_json(json_pack("{s:s,s:s}", "error", name, "message", msg));
    } else {
        fprintf(stderr, "gkctl %s: %s\n", cmd, msg);
    }
    return code;
}

int
gkctl_admin_call(const gkctl_opts *o, const gkctl_admin_opts *a, const char *cmd, const char *op,
                 json_t *args, int change, json_t **resultp, uint64_t *versionp)
{
    const char *url = a->url;
    int timeout_ms = a->timeout_ms > 0 ? a->timeout_ms : GKCTL_ADMIN_TIMEOUT_MS_DEFAULT;
    const char *ca_file = a->ca_file;
    char kid[GKP_KID_MAX];
    uint8_t *sk = NULL;
    char *req = NULL;
    size_t reqlen = 0;
    char *rep = NULL;
    size_t replen = 0;
    char msg[512];
    gkp_admin_reply r;
    gk_diag d;
    gk_err rv;
    int nrv, dialed, rc;

    *resultp = NULL;
    if (url == NULL) {
        url = getenv("GK_ADMIN_URL");
        if (url == NULL || url[0] == '\0') {
            url = GKCTL_ADMIN_URL_DEFAULT;
        }
    }
    if (ca_file == NULL || ca_file[0] == '\0') {
        ca_file = getenv("GK_ADMIN_CA_FILE");
    }
    if (strncmp(url, "tls+tcp://", 10) == 0 && (ca_file == NULL || ca_file[0] == '\0')) {
        fprintf(stderr, "gkctl %s: %s is a TLS URL: pass --admin-ca FILE (or GK_ADMIN_CA_FILE), "
                        "the PEM certificate that signed the gatekeeper's\n",
                cmd, url);
        json_decref(args);
        return GKCTL_USAGE;
    }
    if (change && (a->why == NULL || a->why[0] == '\0')) {
        fprintf(stderr, "gkctl %s: a change needs a reason: pass --why \"TEXT\" (what and why, "
                        "at least 10 characters; it is recorded in the audit log)\n", cmd);
        json_decref(args);
        return GKCTL_USAGE;
    }
    if (args == NULL) {
        args = json_object();
    }
    rc = load_actor_key(&sk, kid, a, cmd);
    if (rc != GKCTL_OK) {
        json_decref(args);
        return rc;
    }
    rv = gkp_admin_request_sign(&req, &reqlen, kid, sk, op, args, a->why, a->base,
                                (int64_t) time(NULL));
    sodium_free(sk);
    json_decref(args);
    if (rv != GK_OK) {
        fprintf(stderr, "gkctl %s: cannot sign the request (%s): %s\n", cmd, gkp_strerror(rv),
                rv == GK_EINVAL ? "an argument is not UTF-8 or the request is over 1 MiB"
                                : "out of memory");
        free(req);
        return rv == GK_EINVAL ? GKCTL_USAGE : GKCTL_FAIL;
    }
    nrv = transact(url, ca_file, timeout_ms, req, reqlen, &rep, &replen, &dialed);
    free(req);
    if (nrv == NNG_EADDRINVAL || nrv == NNG_ENOTSUP) {
        fprintf(stderr, "gkctl %s: \"%s\" is not a valid admin URL (e.g. %s, ipc:///path): %s\n",
                cmd, url, GKCTL_ADMIN_URL_DEFAULT, nng_strerror(nrv));
        return GKCTL_USAGE;
    }
    if (nrv == NNG_ETIMEDOUT && dialed) {
        snprintf(msg, sizeof msg,
                 "no reply from the gatekeeper at %s within %d ms: is it running? (--admin, "
                 "GK_ADMIN_URL, --timeout-ms)",
                 url, timeout_ms);
        return local_error(o, cmd, "UNREACHABLE", GKCTL_UNREACHABLE, msg);
    }
    if (nrv == NNG_ECRYPTO || nrv == NNG_EPEERAUTH) {
        snprintf(msg, sizeof msg,
                 "the TLS handshake with %s failed (%s): is --admin-ca the certificate that "
                 "signed the gatekeeper's, and does it name the URL's host?",
                 url, nng_strerror(nrv));
        return local_error(o, cmd, "UNREACHABLE", GKCTL_UNREACHABLE, msg);
    }
    if (nrv != 0) {
        snprintf(msg, sizeof msg,
                 "cannot reach the gatekeeper at %s: is it running? (--admin, GK_ADMIN_URL) (%s)",
                 url, nng_strerror(nrv));
        return local_error(o, cmd, "UNREACHABLE", GKCTL_UNREACHABLE, msg);
    }
    memset(&d, 0, sizeof d);
    rv = gkp_admin_reply_decode(&r, rep, replen, &d);
    nng_free(rep, replen);
    if (rv != GK_OK) {
        snprintf(msg, sizeof msg, "the reply from %s is not an admin reply: %s", url, d.text);
        return local_error(o, cmd, "BAD_REPLY", GKCTL_FAIL, msg);
    }
    if (!r.ok) {
        rc = print_error(o, cmd, &r);
        gkp_admin_reply_fini(&r);
        return rc;
    }
    *resultp = r.result != NULL ? json_deep_copy(r.result) : json_object();
    if (versionp != NULL) {
        *versionp = r.version;
    }
    gkp_admin_reply_fini(&r);
    if (*resultp == NULL) {
        fprintf(stderr, "gkctl %s: out of memory\n", cmd);
        return GKCTL_FAIL;
    }
    return GKCTL_OK;
}

/* ---- shared output ------------------------------------------------------------------------ */

const char *
gkctl_str(const json_t *v, const char *dflt)
{
    return json_is_string(v) ? json_string_value(v) : dflt;
}

const char *
gkctl_compact(char *buf, size_t size, const json_t *v)
{
    char *s;
    size_t n;

    if (size == 0) {
        return buf;
    }
    if (v == NULL) {
        snprintf(buf, size, "(none)");
        return buf;
    }
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (s == NULL) {
        snprintf(buf, size, "?");
        return buf;
    }
    n = strlen(s);
    if (n < size) {
        memcpy(buf, s, n + 1);
    } else if (size > 4) {
        memcpy(buf, s, size - 4);
        memcpy(buf + size - 4, "...", 4);
    } else {
        buf[0] = '\0';
    }
    free(s);
    return buf;
}

const char *
gkctl_change_kind(const json_t *change)
{
    const char *c = gkctl_str(json_object_get(change, "change"), NULL);
    const json_t *before = json_object_get(change, "before");
    const json_t *after = json_object_get(change, "after");

    if (c != NULL) {
        return c;
    }
    if (before == NULL || json_is_null(before)) {
        return "create";
    }
    if (after == NULL || json_is_null(after)) {
        return "delete";
    }
    return json_equal(before, after) ? "unchanged" : "update";
}

/*
 * One line per member that differs between before and after (objects), sorted by name. Members
 * that are objects on both sides are compared member by member ("plan.step: 0 -> 1"), so a
 * small change inside a big member reads as what it is.
 */
static void
print_member_diff(const gkctl_opts *o, const json_t *before, const json_t *after,
                  const char *prefix, int depth)
{
    const char *names[256];
    size_t n = 0, i, j;
    const char *k;
    json_t *v;
    char b1[160], b2[160];

    json_object_foreach ((json_t *) (uintptr_t) before, k, v) {
        if (n < 256) {
            names[n++] = k;
        }
    }
    json_object_foreach ((json_t *) (uintptr_t) after, k, v) {
        if (n < 256 && json_object_get(before, k) == NULL) {
            names[n++] = k;
        }
    }
    for (i = 1; i < n; i++) { /* insertion sort: a flag has a handful of members */
        const char *t = names[i];
        for (j = i; j > 0 && strcmp(names[j - 1], t) > 0; j--) {
            names[j] = names[j - 1];
        }
        names[j] = t;
    }
    for (i = 0; i < n; i++) {
        const json_t *bv = json_object_get(before, names[i]);
        const json_t *av = json_object_get(after, names[i]);
        if (bv != NULL && av != NULL && json_equal(bv, av)) {
            continue;
        }
        if (depth < 2 && json_is_object(bv) && json_is_object(av)) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s%s.", prefix, names[i]);
            print_member_diff(o, bv, av, sub, depth + 1);
            continue;
        }
        printf("    %s%s: %s%s%s -> %s%s%s\n", prefix, names[i], gkctl_color(o, "31"),
               bv != NULL ? gkctl_compact(b1, sizeof b1, bv) : "(absent)", gkctl_color(o, "0"),
               gkctl_color(o, "32"), av != NULL ? gkctl_compact(b2, sizeof b2, av) : "(absent)",
               gkctl_color(o, "0"));
    }
}

size_t
gkctl_print_changes(const gkctl_opts *o, const json_t *changes)
{
    const json_t *c;
    size_t i;

    json_array_foreach (changes, i, c) {
        const char *kind = gkctl_change_kind(c);
        const char *key = gkctl_str(json_object_get(c, "key"), "?");
        const char *what = gkctl_str(json_object_get(c, "kind"), "flag");
        const char *mark = "~", *word = "updated", *col = "33";

        if (strcmp(kind, "create") == 0) {
            mark = "+", word = "created", col = "32";
        } else if (strcmp(kind, "delete") == 0) {
            mark = "-", word = "deleted", col = "31";
        } else if (strcmp(kind, "unchanged") == 0) {
            mark = "=", word = "unchanged", col = "0";
        }
        printf("%s%s %s%s%s%s %s\n", gkctl_color(o, col), mark,
               strcmp(what, "flag") == 0 ? "" : what, strcmp(what, "flag") == 0 ? "" : " ", key,
               gkctl_color(o, "0"), word);
        if (strcmp(kind, "update") == 0 && json_is_object(json_object_get(c, "before")) &&
            json_is_object(json_object_get(c, "after"))) {
            print_member_diff(o, json_object_get(c, "before"), json_object_get(c, "after"), "", 0);
        }
    }
    return json_array_size(changes);
}
