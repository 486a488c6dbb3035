/*
 * sessions.c - the session table (see sessions.h): direct-mapped slots, a mutex per stripe.
 *
 * A slot is found by the first 8 bytes of the id (random, so uniformly spread); the whole id is
 * compared in constant time. The slots (keys included) are wiped before they are freed.
 */
#include "sessions.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "b64url.h"

#define STRIPE_SLOTS 64u
#define STRIPES      (GKD_SESSIONS_SLOTS / STRIPE_SLOTS)

typedef struct slot {
    uint8_t id[GKP_SESSION_ID_BYTES];
    uint8_t key[GKP_SESSION_KEY_BYTES];
    int64_t exp_s; /* 0: empty */
} slot;

struct gkd_sessions {
    slot *slots; /* GKD_SESSIONS_SLOTS */
    pthread_mutex_t locks[STRIPES];
};

gk_err
gkd_sessions_new(gkd_sessions **sp)
{
    gkd_sessions *s = calloc(1, sizeof(*s));

    *sp = NULL;
    if (s == NULL) {
        return GK_ENOMEM;
    }
    s->slots = calloc(GKD_SESSIONS_SLOTS, sizeof(slot));
    if (s->slots == NULL) {
        free(s);
        return GK_ENOMEM;
    }
    for (size_t i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&s->locks[i], NULL);
    }
    *sp = s;
    return GK_OK;
}

void
gkd_sessions_free(gkd_sessions *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < STRIPES; i++) {
        pthread_mutex_destroy(&s->locks[i]);
    }
    sodium_memzero(s->slots, GKD_SESSIONS_SLOTS * sizeof(slot));
    free(s->slots);
    free(s);
}

static size_t
slot_of(const uint8_t id[GKP_SESSION_ID_BYTES])
{
    uint64_t h;

    memcpy(&h, id, sizeof(h));
    return (size_t) (h % GKD_SESSIONS_SLOTS);
}

gk_err
gkd_sessions_open(gkd_sessions *s, const uint8_t cpub[GKP_SESSION_PUB_BYTES], int64_t now_s,
                  char sid[GKP_SESSION_ID_CHARS + 1], char spub[GKP_SESSION_PUB_CHARS + 1],
                  uint8_t key[GKP_SESSION_KEY_BYTES])
{
    uint8_t pk[crypto_kx_PUBLICKEYBYTES], sk[crypto_kx_SECRETKEYBYTES];
    uint8_t rx[crypto_kx_SESSIONKEYBYTES];
    uint8_t id[GKP_SESSION_ID_BYTES];
    size_t i;
    int rv;

    crypto_kx_keypair(pk, sk);
    rv = crypto_kx_server_session_keys(rx, key, pk, sk, cpub);
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(rx, sizeof(rx));
    if (rv != 0) {
        sodium_memzero(key, GKP_SESSION_KEY_BYTES);
        return GK_EPROTO;
    }
    randombytes_buf(id, sizeof(id));
    i = slot_of(id);
    pthread_mutex_lock(&s->locks[i / STRIPE_SLOTS]);
    memcpy(s->slots[i].id, id, sizeof(id));
    memcpy(s->slots[i].key, key, GKP_SESSION_KEY_BYTES);
    s->slots[i].exp_s = now_s + GKD_SESSIONS_TTL_S;
    pthread_mutex_unlock(&s->locks[i / STRIPE_SLOTS]);
    gkp_b64url_encode(sid, GKP_SESSION_ID_CHARS + 1, id, sizeof(id));
    gkp_b64url_encode(spub, GKP_SESSION_PUB_CHARS + 1, pk, sizeof(pk));
    return GK_OK;
}

int
gkd_sessions_key(gkd_sessions *s, const char *sid, int64_t now_s,
                 uint8_t key[GKP_SESSION_KEY_BYTES])
{
    uint8_t id[GKP_SESSION_ID_BYTES];
    size_t n = 0, i;
    int found;

    if (sid == NULL ||
        gkp_b64url_decode(id, sizeof(id), &n, sid, GKP_SESSION_ID_CHARS) != GK_OK ||
        n != sizeof(id)) {
        return 0;
    }
    i = slot_of(id);
    pthread_mutex_lock(&s->locks[i / STRIPE_SLOTS]);
    found = s->slots[i].exp_s > now_s && sodium_memcmp(s->slots[i].id, id, sizeof(id)) == 0;
    if (found) {
        memcpy(key, s->slots[i].key, GKP_SESSION_KEY_BYTES);
    }
    pthread_mutex_unlock(&s->locks[i / STRIPE_SLOTS]);
    return found;
}
