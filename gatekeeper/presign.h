/*
 * presign.h - Ed25519 signing with nonce commitments computed ahead of time.
 *
 * An Ed25519 signature (RFC 8032 section 5.1.6) is R || S with R = r*B for a secret nonce r and
 * S = (r + SHA-512(R || A || M) * a) mod L. The fixed-base multiplication r*B is almost all of the
 * cost (about 17 of libsodium's 19 us here) and does not depend on the message, so a background
 * thread computes (r, R) pairs while the gatekeeper is idle and a decision's signature costs one
 * SHA-512 and two scalar operations (about 1.5 us). The signatures are ordinary Ed25519: any
 * verifier accepts them (the nonce's derivation is not visible in a signature and RFC 8032's
 * verification does not depend on it). What changes is that they are no longer deterministic:
 *
 * - r = SHA-512(prefix || Z || n) mod L, where prefix is the second half of SHA-512(seed) (RFC 8032
 *   step 1's nonce key, so r is unpredictable without the secret key), Z 32 bytes from the system
 *   CSPRNG (libsodium randombytes_buf) and n a 64-bit counter (so r is unique within a process even
 *   if Z were to repeat). This is RFC 8032's nonce with the message replaced by fresh randomness;
 *   unlike RFC 8032 (and unlike hedged signing, draft-irtf-cfrg-det-sigs-with-noise, which still
 *   hashes the message), r does not depend on the message.
 * - Hence the one condition of use: the pool must never exist twice. Two copies of a running
 *   gatekeeper restored from one memory image (a VM snapshot restored twice or cloned, a CRIU
 *   checkpoint) would sign different messages with the same r, and two such signatures give away
 *   the key. That is why the gatekeeper starts without a pool (--nonce-pool 0, RFC 8032's
 *   deterministic signatures, immune to this) and a pool is asked for explicitly.
 * - A pair is used once: taking it out of the pool wipes its slot. The pool lives in its own
 *   mapping, locked in memory where the limit allows (mlock), left out of core dumps
 *   (MADV_DONTDUMP) and wiped in a forked child (MADV_WIPEONFORK), so a child process never
 *   signs with its parent's nonces; a kernel without MADV_WIPEONFORK gets no pool (every signature
 *   is then RFC 8032's deterministic one).
 * - When the pool is empty (a burst, or a machine so busy that the idle-priority thread does not
 *   run), or its lock stays held for more than a few hundred tries (its holder, the idle-priority
 *   thread, preempted), the signature is RFC 8032's deterministic one, made inline: nothing waits
 *   for the pool.
 *
 * Who computes the pairs: a refill thread running under SCHED_IDLE, so it takes only CPU time
 * nothing else wants. It sleeps while the pool is full, and the first signature that takes a pair
 * out of a full pool wakes it: at a light load it computes one pair after each signature, in the
 * idle time between requests, and the pool stays full; when the machine is busy it gets almost no
 * CPU, the pool drains and signatures are made inline, as without a pool; after a burst it refills
 * the pool at idle priority. (Two designs measured worse. Decision workers computing a pair after
 * each reply, on their own thread: over 13 paired runs the fresh-decision p50 ratio was 1.20 over
 * tcp and 1.25 over ipc, against 1.17 and 1.19 this way, with the same throughput. A thread woken
 * only when the pool is 1/8 or 1/2 down: its bursts of a millisecond or more raised the p99 to
 * 1.7-2.6x the echo's.)
 *
 * THREAD SAFETY: gkd_presign_sign and gkd_presign_read_stats may run from any number of threads at
 * once; gkd_presign_start and gkd_presign_stop from one owner.
 */
#ifndef GKD_PRESIGN_H
#define GKD_PRESIGN_H

#include <stddef.h>
#include <stdint.h>

#include "gatekeeper.h"
#include "jwk.h"

typedef struct gkd_presign gkd_presign;

/* A pool's size and fill now, and its counters since its start, for status and the benchmark. */
typedef struct gkd_presign_stats {
    size_t capacity;      /* pairs the pool holds when full */
    size_t ready;         /* pairs in the pool now (0..capacity) */
    uint64_t presigned;   /* signatures made with a precomputed pair */
    uint64_t inline_sigs; /* signatures made deterministically because the pool was empty */
    uint64_t computed;    /* pairs computed by the refill thread */
    uint64_t compute_ns;  /* the CPU time spent computing them (CLOCK_THREAD_CPUTIME_ID) */
} gkd_presign_stats;

/*
 * gkd_presign_start - a pool for the libsodium Ed25519 secret key `sk` (seed || public key, 64
 * bytes; copied, the caller keeps its own) holding up to `capacity` pairs (1..65536), and its
 * refill thread. Before it returns it signs a test message with a precomputed pair and verifies it
 * with crypto_sign_verify_detached, so a pool that could make a bad signature never starts.
 * out   set to the pool (free with gkd_presign_stop), NULL on failure.
 * diag  optional: what failed.
 * Returns GK_OK; GK_EINVAL (capacity out of range, NULL argument); GK_EIO (the mapping, its
 * MADV_WIPEONFORK, or the thread could not be set up); GK_ENOMEM; GK_EBADSIG (the self-test
 * signature did not verify).
 */
gk_err gkd_presign_start(gkd_presign **out, const uint8_t sk[GKP_ED25519_SK_BYTES], size_t capacity,
                         gk_diag *diag);

/*
 * gkd_presign_stop - stop and join the refill thread, wipe the key material and the unused pairs,
 * release everything (NULL is ignored). No gkd_presign_sign may be running
 * or start after it. Not for a forked child (it would join a thread the child does not have).
 */
void gkd_presign_stop(gkd_presign *p);

/*
 * gkd_presign_sign - the Ed25519 signature (R || S, 64 bytes) of the `mlen` bytes at `m`: with a
 * precomputed pair when the pool has one, RFC 8032's deterministic signature otherwise. Has the
 * shape of gkp_ed25519_sign_fn (jws.h), `arg` being the gkd_presign. Always GK_OK.
 */
gk_err gkd_presign_sign(uint8_t sig[GKP_ED25519_SIG_BYTES], const uint8_t *m, size_t mlen,
                        void *arg);

/* gkd_presign_read_stats - the pool's size, fill and counters, read together under its lock. */
void gkd_presign_read_stats(gkd_presign *p, gkd_presign_stats *out);

#endif
