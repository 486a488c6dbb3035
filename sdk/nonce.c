/*
 * nonce.c - request nonces from a ChaCha20 keystream keyed once per process (see nonce.h).
 */
#define _GNU_SOURCE /* MADV_WIPEONFORK */
#include "nonce.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

/* The wipe-on-fork page: all zero in a forked child, which then draws its own key. */
typedef struct keyed_page {
    atomic_int keyed; /* 1 once key holds this process's key */
    _Atomic uint64_t counter;
    uint8_t key[crypto_stream_chacha20_KEYBYTES];
} keyed_page;

struct gks_nonce {
    pthread_mutex_t lock; /* held while a key is drawn */
    keyed_page *page;     /* NULL: no MADV_WIPEONFORK, randombytes_buf for every nonce */
    size_t page_len;
};

gk_err
gks_nonce_new(gks_nonce **noncep)
{
    gks_nonce *n = calloc(1, sizeof(*n));
    long pagesize = sysconf(_SC_PAGESIZE);
    void *m;

    *noncep = NULL;
    if (n == NULL || sodium_init() < 0) {
        free(n);
        return GK_ENOMEM;
    }
    pthread_mutex_init(&n->lock, NULL);
    n->page_len = pagesize > 0 && (size_t) pagesize >= sizeof(keyed_page) ? (size_t) pagesize
                                                                           : sizeof(keyed_page);
    m = mmap(NULL, n->page_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED && madvise(m, n->page_len, MADV_WIPEONFORK) != 0) {
        munmap(m, n->page_len);
        m = MAP_FAILED;
    }
    if (m != MAP_FAILED) {
        (void) madvise(m, n->page_len, MADV_DONTDUMP);
        n->page = m; /* zero-filled: keyed is 0 */
    }
    *noncep = n;
    return GK_OK;
}

void
gks_nonce_free(gks_nonce *n)
{
    if (n == NULL) {
        return;
    }
    if (n->page != NULL) {
        sodium_memzero(n->page, n->page_len);
        munmap(n->page, n->page_len);
    }
    pthread_mutex_destroy(&n->lock);
    free(n);
}

/* Draw this process's key (once; again in a forked child, whose page reads zero). */
static void
draw_key(gks_nonce *n)
{
    pthread_mutex_lock(&n->lock);
    if (!atomic_load_explicit(&n->page->keyed, memory_order_acquire)) {
        randombytes_buf(n->page->key, sizeof(n->page->key));
        atomic_store_explicit(&n->page->keyed, 1, memory_order_release);
    }
    pthread_mutex_unlock(&n->lock);
}

void
gks_nonce_next(gks_nonce *n, uint8_t out[GKS_NONCE_BYTES])
{
    uint64_t count;
    uint8_t iv[crypto_stream_chacha20_NONCEBYTES];

    if (n->page == NULL) {
        randombytes_buf(out, GKS_NONCE_BYTES);
        return;
    }
    if (!atomic_load_explicit(&n->page->keyed, memory_order_acquire)) {
        draw_key(n);
    }
    count = atomic_fetch_add_explicit(&n->page->counter, 1, memory_order_relaxed);
    for (size_t i = 0; i < sizeof(iv); i++) {
        iv[i] = (uint8_t) (count >> (8 * i));
    }
    crypto_stream_chacha20(out, GKS_NONCE_BYTES, iv, n->page->key);
}
