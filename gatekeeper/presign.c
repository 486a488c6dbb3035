/*
 * presign.c - Ed25519 signing with precomputed nonce commitments (presign.h).
 *
 * The pool is a ring of (r, R) pairs behind one mutex. A signer takes the oldest pair, wiping its
 * slot, and finishes the signature outside the lock. Pairs are computed outside the lock too, by
 * the refill thread, which takes it only to append one. The refill thread sleeps on a condition
 * variable once the ring is full and is woken by the signer that takes the first pair out of it
 * (`filling` says it is awake, so a signer signals at most once per refill).
 *
 * Key material (the libsodium secret key for the deterministic fallback, the scalar a, the nonce
 * prefix) is in sodium_malloc'd memory; the ring and its counters in a separate anonymous mapping
 * marked MADV_WIPEONFORK, so that a forked child finds an empty pool and signs deterministically.
 */
#define _GNU_SOURCE /* SCHED_IDLE, MADV_WIPEONFORK, MADV_DONTDUMP */
#include "presign.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "clock.h"
#include "vocab.h"

#define SOURCE       "presign"
#define MAX_CAPACITY 65536u
#define SCALAR_BYTES 32
/* Attempts at the pool's lock before a signer signs inline instead (about 20 ns each). */
#define LOCK_TRIES 256

/* One nonce and its commitment: R = r * B. */
typedef struct pair {
    uint8_t r[SCALAR_BYTES];
    uint8_t R[SCALAR_BYTES];
} pair;

/* The pool's ring, in the wipe-on-fork mapping: a forked child sees count 0. */
typedef struct ring {
    size_t head;  /* index of the oldest pair */
    size_t count; /* pairs ready */
    pair slot[];  /* capacity pairs */
} ring;

/* The signing key, in sodium_malloc'd memory. */
typedef struct keys {
    uint8_t sk[GKP_ED25519_SK_BYTES]; /* seed || A, for the deterministic fallback */
    uint8_t a[SCALAR_BYTES];          /* the secret scalar, clamped then reduced mod L */
    uint8_t prefix[SCALAR_BYTES];     /* SHA-512(seed)[32..63], RFC 8032's nonce key */
} keys;

struct gkd_presign {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the refill thread waits here while the ring is full */
    pthread_t thread;
    bool stop;
    bool filling;     /* the refill thread is awake: no need to signal it */
    uint64_t counter; /* n of the next nonce */
    size_t capacity;
    size_t map_len;
    ring *ring;
    keys *keys;
    gkd_presign_stats stats;
    atomic_uint_fast64_t inline_busy; /* inline signatures because the lock stayed held */
};

/* r = SHA-512(prefix || Z || n) mod L with Z fresh from the CSPRNG, and R = r * B. */
static void
make_pair(const keys *k, uint64_t n, pair *out)
{
    crypto_hash_sha512_state st;
    uint8_t z[32];
    uint8_t nle[8];
    uint8_t h[crypto_hash_sha512_BYTES];

    for (;;) {
        randombytes_buf(z, sizeof(z));
        for (size_t i = 0; i < sizeof(nle); i++) {
            nle[i] = (uint8_t) (n >> (8 * i));
        }
        crypto_hash_sha512_init(&st);
        crypto_hash_sha512_update(&st, k->prefix, sizeof(k->prefix));
        crypto_hash_sha512_update(&st, z, sizeof(z));
        crypto_hash_sha512_update(&st, nle, sizeof(nle));
        crypto_hash_sha512_final(&st, h);
        crypto_core_ed25519_scalar_reduce(out->r, h);
        /* Refuses only r = 0 (probability 2^-252): draw again. */
        if (crypto_scalarmult_ed25519_base_noclamp(out->R, out->r) == 0) {
            break;
        }
    }
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(z, sizeof(z));
    sodium_memzero(h, sizeof(h));
}

/* RFC 8032 section 5.1.6 steps 4-6 with a precomputed (r, R): S = (r + k * a) mod L. */
static void
sign_with_pair(const keys *k, const pair *use, uint8_t sig[GKP_ED25519_SIG_BYTES], const uint8_t *m,
               size_t mlen)
{
    crypto_hash_sha512_state st;
    uint8_t h[crypto_hash_sha512_BYTES];
    uint8_t kred[SCALAR_BYTES];
    uint8_t ka[SCALAR_BYTES];

    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, use->R, sizeof(use->R));
    crypto_hash_sha512_update(&st, k->sk + GKP_ED25519_SEED_BYTES, GKP_ED25519_PK_BYTES);
    crypto_hash_sha512_update(&st, m, mlen);
    crypto_hash_sha512_final(&st, h);
    crypto_core_ed25519_scalar_reduce(kred, h);
    crypto_core_ed25519_scalar_mul(ka, kred, k->a);
    memcpy(sig, use->R, SCALAR_BYTES);
    crypto_core_ed25519_scalar_add(sig + SCALAR_BYTES, use->r, ka);
    sodium_memzero(ka, sizeof(ka));
}

/*
 * Computes one pair outside the lock (called and returning with it held, by the refill thread when
 * the ring is not full) and appends it: only this thread adds pairs and signers only take them,
 * so the room it saw is still there.
 */
static void
add_pair(gkd_presign *p)
{
    uint64_t n = p->counter++;
    uint64_t t0;
    uint64_t spent;
    pair fresh;

    pthread_mutex_unlock(&p->lock);
    t0 = gkd_clock_thread_cpu_ns();
    make_pair(p->keys, n, &fresh);
    spent = gkd_clock_thread_cpu_ns() - t0;
    pthread_mutex_lock(&p->lock);
    p->ring->slot[(p->ring->head + p->ring->count) % p->capacity] = fresh;
    p->ring->count++;
    p->stats.computed++;
    p->stats.compute_ns += spent;
    sodium_memzero(&fresh, sizeof(fresh));
}

static void *
refill(void *arg)
{
    gkd_presign *p = arg;
    struct sched_param idle = {0};

    /* Best effort: at normal priority the pool still works, it only competes with requests. */
    (void) pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        if (p->ring->count == p->capacity) {
            p->filling = false;
            pthread_cond_wait(&p->wake, &p->lock);
            continue;
        }
        p->filling = true;
        add_pair(p);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* The secret scalar and nonce key of RFC 8032 section 5.1.5 from the seed. */
static void
derive_keys(keys *k, const uint8_t sk[GKP_ED25519_SK_BYTES])
{
    uint8_t h[crypto_hash_sha512_BYTES];
    uint8_t wide[crypto_core_ed25519_NONREDUCEDSCALARBYTES] = {0};

    memcpy(k->sk, sk, GKP_ED25519_SK_BYTES);
    crypto_hash_sha512(h, sk, GKP_ED25519_SEED_BYTES);
    h[0] &= 248;
    h[31] &= 127;
    h[31] |= 64;
    memcpy(wide, h, SCALAR_BYTES);
    crypto_core_ed25519_scalar_reduce(k->a, wide);
    memcpy(k->prefix, h + SCALAR_BYTES, SCALAR_BYTES);
    sodium_memzero(h, sizeof(h));
    sodium_memzero(wide, sizeof(wide));
}

/* The ring's mapping: wiped in a forked child (required), locked and not dumped (best effort). */
static gk_err
map_ring(gkd_presign *p, gk_diag *diag)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t len = sizeof(ring) + p->capacity * sizeof(pair);
    void *m;

    if (page <= 0) {
        page = 4096;
    }
    len = (len + (size_t) page - 1) / (size_t) page * (size_t) page;
    m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        return gkp_diag_set(diag, GK_ENOMEM, SOURCE, 0, "cannot map %zu bytes for the nonce pool",
                            len);
    }
    if (madvise(m, len, MADV_WIPEONFORK) != 0) {
        munmap(m, len);
        return gkp_diag_set(diag, GK_EIO, SOURCE, 0,
                            "the kernel has no MADV_WIPEONFORK (Linux 4.14 or later): without it a "
                            "forked child could reuse nonces, so no pool is kept");
    }
    (void) madvise(m, len, MADV_DONTDUMP);
    (void) mlock(m, len);
    p->ring = m;
    p->map_len = len;
    return GK_OK;
}

/* Sign a fixed message with a fresh pair and verify it: a pool that errs never serves. */
static gk_err
self_test(const gkd_presign *p, gk_diag *diag)
{
    static const uint8_t msg[] = "gatekeeper nonce pool self-test";
    uint8_t sig[GKP_ED25519_SIG_BYTES];
    pair use;

    make_pair(p->keys, UINT64_MAX, &use);
    sign_with_pair(p->keys, &use, sig, msg, sizeof(msg));
    sodium_memzero(&use, sizeof(use));
    if (crypto_sign_verify_detached(sig, msg, sizeof(msg), p->keys->sk + GKP_ED25519_SEED_BYTES) !=
        0) {
        return gkp_diag_set(diag, GK_EBADSIG, SOURCE, 0,
                            "a signature made with a precomputed nonce did not verify; signing "
                            "stays deterministic");
    }
    return GK_OK;
}

gk_err
gkd_presign_start(gkd_presign **out, const uint8_t sk[GKP_ED25519_SK_BYTES], size_t capacity,
                  gk_diag *diag)
{
    gkd_presign *p;
    gk_err rv;

    if (out == NULL || sk == NULL || capacity == 0 || capacity > MAX_CAPACITY) {
        return gkp_diag_set(diag, GK_EINVAL, SOURCE, 0,
                            "the nonce pool needs a key and a capacity of 1 to %u pairs",
                            MAX_CAPACITY);
    }
    *out = NULL;
    if (sodium_init() < 0) {
        return gkp_diag_set(diag, GK_EIO, SOURCE, 0, "libsodium could not initialise");
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return GK_ENOMEM;
    }
    p->capacity = capacity;
    p->keys = sodium_malloc(sizeof(keys));
    if (p->keys == NULL) {
        free(p);
        return GK_ENOMEM;
    }
    derive_keys(p->keys, sk);
    rv = map_ring(p, diag);
    if (rv == GK_OK) {
        rv = self_test(p, diag);
    }
    if (rv != GK_OK) {
        if (p->ring != NULL) {
            munmap(p->ring, p->map_len);
        }
        sodium_free(p->keys);
        free(p);
        return rv;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->filling = true;
    if (pthread_create(&p->thread, NULL, refill, p) != 0) {
        p->stop = true; /* no thread to join */
        gkd_presign_stop(p);
        return gkp_diag_set(diag, GK_EIO, SOURCE, 0, "cannot start the nonce pool's thread");
    }
    *out = p;
    return GK_OK;
}

void
gkd_presign_stop(gkd_presign *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    if (!p->stop) {
        p->stop = true;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
    } else {
        pthread_mutex_unlock(&p->lock);
    }
    sodium_memzero(p->ring, p->map_len);
    munlock(p->ring, p->map_len);
    munmap(p->ring, p->map_len);
    sodium_free(p->keys);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/*
 * Takes the lock if it comes within a few hundred tries (its holders keep it for well under a
 * microsecond); 0 otherwise. Never waits longer: a holder that keeps it is the idle-priority
 * refill thread preempted for as long as the machine is busy, and then signing inline beats
 * waiting for it.
 */
static int
lock_briefly(gkd_presign *p)
{
    for (int i = 0; i < LOCK_TRIES; i++) {
        if (pthread_mutex_trylock(&p->lock) == 0) {
            return 1;
        }
    }
    return 0;
}

gk_err
gkd_presign_sign(uint8_t sig[GKP_ED25519_SIG_BYTES], const uint8_t *m, size_t mlen, void *arg)
{
    gkd_presign *p = arg;
    ring *rg = p->ring;
    pair use;
    bool have = false;

    if (!lock_briefly(p)) {
        atomic_fetch_add(&p->inline_busy, 1);
        crypto_sign_detached(sig, NULL, m, mlen, p->keys->sk);
        return GK_OK;
    }
    if (rg->count > 0) {
        use = rg->slot[rg->head];
        sodium_memzero(&rg->slot[rg->head], sizeof(pair));
        rg->head = (rg->head + 1) % p->capacity;
        rg->count--;
        p->stats.presigned++;
        have = true;
    } else {
        p->stats.inline_sigs++;
    }
    if (!p->filling) {
        p->filling = true;
        pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
    if (!have) {
        crypto_sign_detached(sig, NULL, m, mlen, p->keys->sk);
        return GK_OK;
    }
    sign_with_pair(p->keys, &use, sig, m, mlen);
    sodium_memzero(&use, sizeof(use));
    return GK_OK;
}

void
gkd_presign_read_stats(gkd_presign *p, gkd_presign_stats *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->stats;
    out->ready = p->ring->count;
    pthread_mutex_unlock(&p->lock);
    out->inline_sigs += atomic_load(&p->inline_busy);
    out->capacity = p->capacity;
}
