/*
 * fake_gatekeeper.c - the in-process fake gatekeeper used by the SDK's client tests.
 *
 * It uses the real codec (gkp_request_decode, gkp_claims_encode, gkp_jws_sign, gkp_reply_*) so the
 * bytes on the wire are the ones the daemon would send; only the decisions come from a table.
 */
#include "fake_gatekeeper.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <sodium.h>

#include "b64url.h"
#include "claims.h"
#include "jwk.h"
#include "jws.h"
#include "msg.h"

#define MAX_FLAGS        16
#define SNAPSHOT_VERSION 7u
#define POLL_MS          20

typedef struct fake_flag {
    char *key;
    char *variant;
    char *rule_id;
    json_t *value;
    gk_reason reason;
    gk_error_code error_code;
    json_t *mask; /* array of field paths, NULL for none */
} fake_flag;

struct fake_gatekeeper {
    char dir[64];
    char url[128];
    char jwks_path[128];
    char kid[GKP_KID_MAX];
    uint8_t pk[GKP_ED25519_PK_BYTES];
    uint8_t sk[GKP_ED25519_SK_BYTES];
    uint8_t other_pk[GKP_ED25519_PK_BYTES];
    uint8_t other_sk[GKP_ED25519_SK_BYTES];
    nng_socket sock;
    pthread_t thread;
    bool running;
    atomic_bool stopping;
    atomic_uint requests;
    pthread_mutex_t lock; /* guards everything below */
    fake_gatekeeper_mode mode;
    gk_error_code error_code;
    int64_t lifetime_s;
    uint64_t snapshot_version;
    fake_flag flags[MAX_FLAGS];
    size_t nflags;
    char last_nonce[GKP_NONCE_MAX_CHARS + 1]; /* of the last evaluate request, "" for none */
    char *last_token;                         /* the last token signed, for FAKE_GK_REPLAY */
};

uint64_t
fake_gatekeeper_snapshot_version(void)
{
    return SNAPSHOT_VERSION;
}

static char *
dup_or_null(const char *s)
{
    char *copy;

    if (s == NULL) {
        return NULL;
    }
    copy = malloc(strlen(s) + 1);
    if (copy != NULL) {
        strcpy(copy, s);
    }
    return copy;
}

static void
flag_claim(gkp_flag_claim *c, const fake_flag *f)
{
    memset(c, 0, sizeof(*c));
    c->key = f->key;
    c->variant = f->variant;
    c->value = f->value;
    c->reason = f->reason;
    c->error_code = f->error_code;
    c->rule_id = f->rule_id;
    c->error_message = f->reason == GK_REASON_ERROR ? "fake gatekeeper error" : NULL;
    c->mask = f->mask;
}

/* Build the signed token for `req` under the current mode; NULL on failure. Lock held. */
static char *
make_token(fake_gatekeeper *fg, const gkp_request *req)
{
    gkp_flag_claim claims_flags[GKP_REQUEST_MAX_FLAGS];
    gkp_claims claims;
    char header[160];
    char *payload = NULL;
    size_t payload_len = 0;
    char *token = NULL;
    size_t n = 0;
    int64_t now = (int64_t) time(NULL);
    const char *kid = fg->mode == FAKE_GK_UNKNOWN_KID ? "unknown-kid" : fg->kid;
    const uint8_t *sk = fg->mode == FAKE_GK_FORGED ? fg->other_sk : fg->sk;

    if (req->flags == NULL || json_array_size(req->flags) == 0) {
        for (size_t i = 0; i < fg->nflags; i++) {
            flag_claim(&claims_flags[n++], &fg->flags[i]);
        }
    } else {
        size_t i;
        const json_t *k;

        json_array_foreach (req->flags, i, k) {
            const char *key = json_string_value(k);
            size_t j;

            for (j = 0; j < fg->nflags; j++) {
                if (strcmp(fg->flags[j].key, key) == 0) {
                    break;
                }
            }
            if (j < fg->nflags) {
                flag_claim(&claims_flags[n], &fg->flags[j]);
            } else {
                memset(&claims_flags[n], 0, sizeof(claims_flags[n]));
                claims_flags[n].key = key;
                claims_flags[n].reason = GK_REASON_ERROR;
                claims_flags[n].error_code = GK_ERROR_FLAG_NOT_FOUND;
                claims_flags[n].error_message = "no such flag";
            }
            n++;
        }
    }
    memset(&claims, 0, sizeof(claims));
    claims.iat = now;
    claims.exp = fg->mode == FAKE_GK_EXPIRED ? now - 10 : now + fg->lifetime_s;
    claims.snapshot_version = fg->snapshot_version;
    /* Echo the nonce as the daemon does, unless the mode says otherwise. */
    if (fg->mode == FAKE_GK_NONCE_WRONG) {
        claims.nonce = "AAAAAAAAAAAAAAAAAAAAAA";
    } else if (fg->mode != FAKE_GK_NONCE_NONE) {
        claims.nonce = req->nonce;
    }
    claims.nflags = n;
    claims.flags = claims_flags;
    if (gkp_claims_encode(&payload, &payload_len, &claims) != GK_OK) {
        return NULL;
    }
    snprintf(header, sizeof(header), "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", kid);
    if (gkp_jws_sign(&token, NULL, header, (const uint8_t *) payload, payload_len, sk) != GK_OK) {
        free(payload);
        return NULL;
    }
    if (fg->mode == FAKE_GK_TAMPERED) {
        /* Same header and signature, different payload: the snapshot version is raised. */
        char *tampered = NULL;
        char *dot1 = strchr(token, '.');
        char *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
        size_t enc_len;
        char *enc;
        char *out;

        claims.snapshot_version = fg->snapshot_version + 1;
        free(payload);
        payload = NULL;
        if (dot2 == NULL || gkp_claims_encode(&payload, &payload_len, &claims) != GK_OK) {
            free(token);
            return NULL;
        }
        enc_len = gkp_b64url_encoded_len(payload_len);
        enc = malloc(enc_len);
        out = malloc((size_t) (dot1 - token) + 1 + enc_len + strlen(dot2) + 1);
        if (enc != NULL && out != NULL) {
            gkp_b64url_encode(enc, enc_len, (const uint8_t *) payload, payload_len);
            sprintf(out, "%.*s.%s%s", (int) (dot1 - token), token, enc, dot2);
            tampered = out;
            out = NULL;
        }
        free(enc);
        free(out);
        free(token);
        token = tampered;
    }
    free(payload);
    return token;
}

/* The reply text for one request, or NULL for none (SILENT). */
static char *
answer(fake_gatekeeper *fg, const char *body, size_t len, size_t *outlen)
{
    gkp_request req;
    gk_error_code code = GK_ERROR_NONE;
    gk_diag diag = {0};
    char *out = NULL;
    char *token;

    memset(&req, 0, sizeof(req));
    if (gkp_request_decode(&req, body, len, &code, &diag) != GK_OK) {
        gkp_reply_encode_error(&out, outlen, code, diag.text);
        return out;
    }
    pthread_mutex_lock(&fg->lock);
    snprintf(fg->last_nonce, sizeof(fg->last_nonce), "%s", req.nonce != NULL ? req.nonce : "");
    switch (fg->mode) {
    case FAKE_GK_SILENT:
        break;
    case FAKE_GK_ERROR_REPLY:
        gkp_reply_encode_error(&out, outlen, fg->error_code, "fake gatekeeper refuses");
        break;
    case FAKE_GK_GARBAGE:
        out = dup_or_null("this is not JSON");
        *outlen = strlen("this is not JSON");
        break;
    case FAKE_GK_REPLAY:
        if (fg->last_token != NULL) {
            gkp_reply_encode_token(&out, outlen, fg->last_token, strlen(fg->last_token));
        }
        break;
    default:
        token = make_token(fg, &req);
        if (token != NULL) {
            free(fg->last_token);
            fg->last_token = dup_or_null(token);
            gkp_reply_encode_token(&out, outlen, token, strlen(token));
            free(token);
        }
        break;
    }
    pthread_mutex_unlock(&fg->lock);
    gkp_request_fini(&req);
    return out;
}

static void *
serve(void *arg)
{
    fake_gatekeeper *fg = arg;

    while (!atomic_load(&fg->stopping)) {
        nng_msg *msg = NULL;
        nng_msg *reply = NULL;
        char *text;
        size_t text_len = 0;
        int rv = nng_recvmsg(fg->sock, &msg, 0);

        if (rv == NNG_ETIMEDOUT) {
            continue;
        }
        if (rv != 0) {
            break;
        }
        atomic_fetch_add(&fg->requests, 1);
        text = answer(fg, nng_msg_body(msg), nng_msg_len(msg), &text_len);
        nng_msg_free(msg);
        if (text == NULL) {
            continue;
        }
        if (nng_msg_alloc(&reply, 0) == 0 && nng_msg_append(reply, text, text_len) == 0 &&
            nng_sendmsg(fg->sock, reply, 0) == 0) {
            reply = NULL;
        }
        nng_msg_free(reply);
        free(text);
    }
    return NULL;
}

static int
write_jwks(fake_gatekeeper *fg)
{
    gkp_jwks *set = NULL;
    json_t *doc = NULL;
    int rv = -1;

    if (gkp_jwks_new(&set) != GK_OK || gkp_jwks_add(set, fg->kid, fg->pk) != GK_OK) {
        goto done;
    }
    doc = gkp_jwks_to_json(set);
    if (doc != NULL && json_dump_file(doc, fg->jwks_path, JSON_INDENT(2)) == 0) {
        rv = 0;
    }
done:
    json_decref(doc);
    gkp_jwks_free(set);
    return rv;
}

fake_gatekeeper *
fake_gatekeeper_start(void)
{
    fake_gatekeeper *fg;

    if (sodium_init() < 0) {
        return NULL;
    }
    fg = calloc(1, sizeof(*fg));
    if (fg == NULL) {
        return NULL;
    }
    pthread_mutex_init(&fg->lock, NULL);
    fg->lifetime_s = 300;
    fg->snapshot_version = SNAPSHOT_VERSION;
    strcpy(fg->dir, "/tmp/gk-fake-XXXXXX");
    if (mkdtemp(fg->dir) == NULL) {
        free(fg);
        return NULL;
    }
    snprintf(fg->url, sizeof(fg->url), "ipc://%s/decide.sock", fg->dir);
    snprintf(fg->jwks_path, sizeof(fg->jwks_path), "%s/jwks.json", fg->dir);
    crypto_sign_keypair(fg->pk, fg->sk);
    crypto_sign_keypair(fg->other_pk, fg->other_sk);
    gkp_jwk_thumbprint(fg->kid, fg->pk);
    if (write_jwks(fg) != 0 || nng_rep0_open(&fg->sock) != 0) {
        fake_gatekeeper_free(fg);
        return NULL;
    }
    if (nng_socket_set_ms(fg->sock, NNG_OPT_RECVTIMEO, POLL_MS) != 0 ||
        nng_listen(fg->sock, fg->url, NULL, 0) != 0 ||
        pthread_create(&fg->thread, NULL, serve, fg) != 0) {
        nng_close(fg->sock);
        fake_gatekeeper_free(fg);
        return NULL;
    }
    fg->running = true;
    return fg;
}

void
fake_gatekeeper_stop(fake_gatekeeper *fg)
{
    if (fg == NULL || !fg->running) {
        return;
    }
    atomic_store(&fg->stopping, true);
    pthread_join(fg->thread, NULL);
    nng_close(fg->sock);
    fg->running = false;
}

void
fake_gatekeeper_free(fake_gatekeeper *fg)
{
    char path[192];

    if (fg == NULL) {
        return;
    }
    fake_gatekeeper_stop(fg);
    for (size_t i = 0; i < fg->nflags; i++) {
        free(fg->flags[i].key);
        free(fg->flags[i].variant);
        free(fg->flags[i].rule_id);
        json_decref(fg->flags[i].value);
        json_decref(fg->flags[i].mask);
    }
    free(fg->last_token);
    unlink(fg->jwks_path);
    snprintf(path, sizeof(path), "%s/decide.sock", fg->dir);
    unlink(path);
    rmdir(fg->dir);
    sodium_memzero(fg->sk, sizeof(fg->sk));
    sodium_memzero(fg->other_sk, sizeof(fg->other_sk));
    pthread_mutex_destroy(&fg->lock);
    free(fg);
}

const char *
fake_gatekeeper_url(const fake_gatekeeper *fg)
{
    return fg->url;
}

const char *
fake_gatekeeper_jwks_path(const fake_gatekeeper *fg)
{
    return fg->jwks_path;
}

void
fake_gatekeeper_set_mode(fake_gatekeeper *fg, fake_gatekeeper_mode mode, gk_error_code error_code)
{
    pthread_mutex_lock(&fg->lock);
    fg->mode = mode;
    fg->error_code = error_code;
    pthread_mutex_unlock(&fg->lock);
}

void
fake_gatekeeper_set_lifetime_s(fake_gatekeeper *fg, int64_t seconds)
{
    pthread_mutex_lock(&fg->lock);
    fg->lifetime_s = seconds;
    pthread_mutex_unlock(&fg->lock);
}

void
fake_gatekeeper_set_flag(fake_gatekeeper *fg, const char *key, const char *value_json,
                         const char *variant, gk_reason reason, const char *rule_id,
                         gk_error_code error_code)
{
    fake_flag *f = NULL;

    pthread_mutex_lock(&fg->lock);
    for (size_t i = 0; i < fg->nflags; i++) {
        if (strcmp(fg->flags[i].key, key) == 0) {
            f = &fg->flags[i];
            free(f->key);
            free(f->variant);
            free(f->rule_id);
            json_decref(f->value);
            json_decref(f->mask);
            f->mask = NULL;
            break;
        }
    }
    if (f == NULL && fg->nflags < MAX_FLAGS) {
        f = &fg->flags[fg->nflags++];
    }
    if (f != NULL) {
        f->key = dup_or_null(key);
        f->variant = dup_or_null(variant);
        f->rule_id = dup_or_null(rule_id);
        f->value = value_json != NULL ? json_loads(value_json, JSON_DECODE_ANY, NULL) : NULL;
        f->reason = reason;
        f->error_code = error_code;
    }
    pthread_mutex_unlock(&fg->lock);
}

unsigned
fake_gatekeeper_requests(fake_gatekeeper *fg)
{
    return atomic_load(&fg->requests);
}

char *
fake_gatekeeper_last_nonce(fake_gatekeeper *fg, char *buf, size_t size)
{
    pthread_mutex_lock(&fg->lock);
    snprintf(buf, size, "%s", fg->last_nonce);
    pthread_mutex_unlock(&fg->lock);
    return buf;
}

void
fake_gatekeeper_set_stage(fake_gatekeeper *fg, const char *key, const char *stage)
{
    json_t *value = json_string(stage);
    char *text = value != NULL ? json_dumps(value, JSON_ENCODE_ANY) : NULL;

    fake_gatekeeper_set_flag(fg, key, text, stage, GK_REASON_TARGETING_MATCH, NULL,
                             GK_ERROR_NONE);
    free(text);
    json_decref(value);
}

void
fake_gatekeeper_set_mask(fake_gatekeeper *fg, const char *key, const char *const *fields,
                         size_t count)
{
    pthread_mutex_lock(&fg->lock);
    for (size_t i = 0; i < fg->nflags; i++) {
        if (strcmp(fg->flags[i].key, key) == 0) {
            json_decref(fg->flags[i].mask);
            fg->flags[i].mask = NULL;
            if (count > 0) {
                fg->flags[i].mask = json_array();
                for (size_t j = 0; j < count; j++) {
                    json_array_append_new(fg->flags[i].mask, json_string(fields[j]));
                }
            }
            break;
        }
    }
    pthread_mutex_unlock(&fg->lock);
}

void
fake_gatekeeper_set_snapshot_version(fake_gatekeeper *fg, uint64_t version)
{
    pthread_mutex_lock(&fg->lock);
    fg->snapshot_version = version;
    pthread_mutex_unlock(&fg->lock);
}

const char *
fake_gatekeeper_dir(const fake_gatekeeper *fg)
{
    return fg->dir;
}

/* ---- change-event publisher ------------------------------------------------------------- */

struct fake_publisher {
    nng_socket sock;
    char path[192];
    char url[208];
    atomic_uint subscribers; /* pipes ever added */
};

/* Runs on an nng thread after a subscriber's connection is set up. */
static void
on_pipe_added(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    fake_publisher *fp = arg;

    (void) pipe;
    (void) ev;
    atomic_fetch_add(&fp->subscribers, 1);
}

fake_publisher *
fake_publisher_start(const char *dir)
{
    fake_publisher *fp = calloc(1, sizeof(*fp));

    if (fp == NULL) {
        return NULL;
    }
    snprintf(fp->path, sizeof(fp->path), "%s/events.sock", dir);
    snprintf(fp->url, sizeof(fp->url), "ipc://%s", fp->path);
    if (nng_pub0_open(&fp->sock) != 0) {
        free(fp);
        return NULL;
    }
    /* Room for a burst of events per subscriber: pub0 drops what does not fit. */
    if (nng_socket_set_int(fp->sock, NNG_OPT_SENDBUF, 1024) != 0 ||
        nng_pipe_notify(fp->sock, NNG_PIPE_EV_ADD_POST, on_pipe_added, fp) != 0 ||
        nng_listen(fp->sock, fp->url, NULL, 0) != 0) {
        nng_close(fp->sock);
        free(fp);
        return NULL;
    }
    return fp;
}

void
fake_publisher_free(fake_publisher *fp)
{
    if (fp == NULL) {
        return;
    }
    nng_close(fp->sock); /* waits for its pipes, and so for their callbacks */
    unlink(fp->path);
    free(fp);
}

const char *
fake_publisher_url(const fake_publisher *fp)
{
    return fp->url;
}

int
fake_publisher_wait_subscribers(fake_publisher *fp, unsigned n, int timeout_ms)
{
    for (int waited = 0; atomic_load(&fp->subscribers) < n; waited++) {
        struct timespec ts = {0, 1000000L};

        if (waited >= timeout_ms) {
            return -1;
        }
        nanosleep(&ts, NULL);
    }
    return 0;
}

int
fake_publisher_send(fake_publisher *fp, const char *text)
{
    return nng_send(fp->sock, (void *) (uintptr_t) text, strlen(text), 0) == 0 ? 0 : -1;
}

int
fake_publisher_send_change(fake_publisher *fp, uint64_t version, const char *const *flags,
                           size_t nflags)
{
    json_t *doc = json_pack("{s:i, s:s, s:I}", "v", 1, "event", "change", "version",
                            (json_int_t) version);
    char *text = NULL;
    int rv = -1;

    if (doc == NULL) {
        return -1;
    }
    if (flags != NULL) {
        json_t *list = json_array();

        for (size_t i = 0; i < nflags; i++) {
            json_array_append_new(list, json_string(flags[i]));
        }
        json_object_set_new(doc, "flags", list);
    }
    text = json_dumps(doc, JSON_COMPACT);
    if (text != NULL) {
        rv = fake_publisher_send(fp, text);
    }
    free(text);
    json_decref(doc);
    return rv;
}
