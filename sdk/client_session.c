/*
 * client_session.c - the client's decision session (see client_session.h).
 */
#include "client_session.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "b64url.h"
#include "jws.h"

/* A session is not used within this many seconds of its exp (clock skew, requests in flight). */
#define EXPIRY_MARGIN_S 60

struct gks_session {
    pthread_mutex_t lock;
    char sid[GKP_SESSION_ID_CHARS + 1]; /* "" when no session is open */
    uint8_t key[GKP_SESSION_KEY_BYTES];
    int64_t exp_s;
    int64_t open_after_s; /* no opening before this (see client_session.h) */
    int64_t dropped_s;    /* when a session was last dropped for a missing MAC; 0: never */
    _Atomic uint64_t by_mac, by_signature, opened;
};

gk_err
gks_session_new(gks_session **sp)
{
    gks_session *s = calloc(1, sizeof(*s));

    *sp = s;
    if (s == NULL) {
        return GK_ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    return GK_OK;
}

void
gks_session_free(gks_session *s)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_destroy(&s->lock);
    sodium_memzero(s->key, sizeof(s->key));
    free(s);
}

void
gks_session_begin(gks_session *s, int64_t now_s, gks_session_ticket *t)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_lock(&s->lock);
    if (s->sid[0] != '\0' && s->exp_s - EXPIRY_MARGIN_S > now_s) {
        t->in_session = 1;
        memcpy(t->sid, s->sid, sizeof(t->sid));
        memcpy(t->key, s->key, sizeof(t->key));
    } else if (now_s >= s->open_after_s) {
        t->opening = 1;
    }
    pthread_mutex_unlock(&s->lock);
    if (t->opening) {
        crypto_kx_keypair(t->pk, t->sk);
        gkp_b64url_encode(t->pub, sizeof(t->pub), t->pk, sizeof(t->pk));
    }
}

/*
 * Forget session `sid` if it is still the open one (another thread may have opened a new one).
 * The first drop in GKS_SESSION_RETRY_S lets the next request open a new session at once (a
 * restarted gatekeeper); a second one pauses opening for that long (answers alternating between
 * gatekeepers that do not share sessions would otherwise re-open on every other request).
 */
static void
drop(gks_session *s, const char *sid, int64_t now_s)
{
    pthread_mutex_lock(&s->lock);
    if (strcmp(s->sid, sid) == 0) {
        s->sid[0] = '\0';
        sodium_memzero(s->key, sizeof(s->key));
        if (s->dropped_s != 0 && now_s - s->dropped_s < GKS_SESSION_RETRY_S) {
            s->open_after_s = now_s + GKS_SESSION_RETRY_S;
        }
        s->dropped_s = now_s;
    }
    pthread_mutex_unlock(&s->lock);
}

/*
 * The session JWS of a reply to an opening request: signed by a trusted key, for this client's
 * key, unexpired. On success the MAC key is in t->key and the session is recorded.
 */
static int
open_session(gks_session *s, gks_session_ticket *t, const gkp_jwks *keys, const gkp_reply *reply,
             int64_t now_s)
{
    uint8_t *payload = NULL;
    size_t payload_len = 0;
    json_t *doc = NULL;
    gkp_session_claims claims;
    uint8_t spub[GKP_SESSION_PUB_BYTES], tx[GKP_SESSION_KEY_BYTES];
    int ok;

    if (gkp_jws_verify(reply->session, reply->session_len, keys, &payload, &payload_len, NULL) !=
        GK_OK) {
        return 0;
    }
    ok = gkp_session_claims_decode(&doc, &claims, (const char *) payload, payload_len, NULL) ==
             GK_OK &&
         strcmp(claims.cpub, t->pub) == 0 && claims.exp - EXPIRY_MARGIN_S > now_s &&
         gkp_session_pub_decode(spub, claims.pub, strlen(claims.pub)) == GK_OK &&
         crypto_kx_client_session_keys(t->key, tx, t->pk, t->sk, spub) == 0;
    sodium_memzero(tx, sizeof(tx));
    free(payload);
    if (ok) {
        pthread_mutex_lock(&s->lock);
        memcpy(s->sid, claims.sid, sizeof(s->sid));
        memcpy(s->key, t->key, sizeof(s->key));
        s->exp_s = claims.exp;
        pthread_mutex_unlock(&s->lock);
        atomic_fetch_add(&s->opened, 1);
    }
    json_decref(doc);
    return ok;
}

int
gks_session_finish(gks_session *s, gks_session_ticket *t, const gkp_jwks *keys,
                   const gkp_reply *reply, int64_t now_s)
{
    int by_mac = 0;

    if (t->opening) {
        if (reply->session != NULL && open_session(s, t, keys, reply, now_s)) {
            by_mac = gkp_session_mac_check(reply->mac, reply->mac_len, t->key, reply->token,
                                           reply->token_len);
        } else {
            pthread_mutex_lock(&s->lock);
            s->open_after_s = now_s + GKS_SESSION_RETRY_S;
            pthread_mutex_unlock(&s->lock);
        }
    } else if (t->in_session) {
        by_mac = gkp_session_mac_check(reply->mac, reply->mac_len, t->key, reply->token,
                                       reply->token_len);
        if (!by_mac) {
            drop(s, t->sid, now_s);
        }
    }
    sodium_memzero(t, sizeof(*t));
    return by_mac;
}

void
gks_session_count(gks_session *s, int by_mac)
{
    atomic_fetch_add(by_mac ? &s->by_mac : &s->by_signature, 1);
}

void
gks_session_counts_get(const gks_session *s, gks_session_counts *out)
{
    out->by_mac = atomic_load(&s->by_mac);
    out->by_signature = atomic_load(&s->by_signature);
    out->opened = atomic_load(&s->opened);
}
