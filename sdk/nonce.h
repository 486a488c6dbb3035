/*
 * nonce.h - the request nonces of one SDK client (proto/README.md, "Evaluate request": 16 random
 * bytes a request carries and its signed answer echoes), made without a system call each.
 *
 * Why: the CSPRNG's getrandom(2) per request cost about 1.3 µs of a 2-vCPU KVM guest's CPU at
 * 16 busy clients, a tenth of the SDK's own work per fresh decision. A nonce here is 16 bytes of
 * ChaCha20 keystream (libsodium crypto_stream_chacha20, RFC 7539's block function with a 64-bit
 * nonce): the key, 32 bytes from the system CSPRNG (randombytes_buf), is drawn once, and each
 * request takes the next value of a 64-bit counter as ChaCha20's nonce. Under a secret key the
 * keystreams of distinct counters are independent and unpredictable, so each nonce is as good as
 * a fresh random one, and no two requests of a client share one.
 *
 * Fork: the key and the counter live in a page of their own mapped with MADV_WIPEONFORK, so a
 * forked child reads zeros there and draws a key of its own before its first nonce: parent and
 * child never send the same nonces. A kernel without MADV_WIPEONFORK (before Linux 4.14) gets a
 * generator that calls randombytes_buf for every nonce, as before.
 *
 * THREAD SAFETY: gks_nonce_next may be called from any number of threads at once (an atomic
 * counter; the key is written once per process, under a mutex). new/free by the client's owner.
 */
#ifndef GKS_NONCE_H
#define GKS_NONCE_H

#include <stdint.h>

#include "gatekeeper.h"

/* Bytes of a request nonce (22 base64url characters on the wire). */
#define GKS_NONCE_BYTES 16u

typedef struct gks_nonce gks_nonce;

/* gks_nonce_new - a generator (its key is drawn at the first nonce). GK_OK or GK_ENOMEM. */
gk_err gks_nonce_new(gks_nonce **noncep);

/* gks_nonce_free - wipe the key and release (NULL is ignored). */
void gks_nonce_free(gks_nonce *nonce);

/* gks_nonce_next - the next nonce into out (GKS_NONCE_BYTES bytes). Never fails. */
void gks_nonce_next(gks_nonce *nonce, uint8_t out[GKS_NONCE_BYTES]);

#endif
