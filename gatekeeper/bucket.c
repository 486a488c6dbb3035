/*
 * bucket.c - sticky bucketing; the byte layout is in bucket.h and docs/bucketing.md, with vectors
 * computed by an independent reference (tests/support/bucket_reference.py).
 *
 * "crypto_shorthash" is SipHash-2-4 in libsodium 1.0.18 (crypto_shorthash_siphash24): a 16-byte
 * key and 8 output bytes. Those bytes are read little-endian whatever the host's byte order, so a
 * key lands in the same bucket on every machine.
 */
#include "bucket.h"

#include <string.h>

#include <sodium.h>

_Static_assert(crypto_shorthash_KEYBYTES == GKD_BUCKET_SALT_BYTES, "SipHash-2-4 key is 16 bytes");
_Static_assert(crypto_shorthash_BYTES == 8, "SipHash-2-4 output is 8 bytes");

#define DEFAULT_SALT_PREFIX "gatekeeper.bucket.v1:"

uint32_t
gkd_bucket_of(const uint8_t salt[GKD_BUCKET_SALT_BYTES], const char *value, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h = 0;
    uint64_t h32;

    crypto_shorthash(out, (const unsigned char *) value, (unsigned long long) len, salt);
    for (size_t i = 0; i < sizeof out; i++) {
        h |= (uint64_t) out[i] << (8 * i);
    }
    h32 = h >> 32;
    /* flagd's projection: h32 < 2^32 and the scale < 2^17, so the product fits in 64 bits. */
    return (uint32_t) ((h32 * GKD_BUCKET_SCALE) >> 32);
}

size_t
gkd_bucket_pick(const uint32_t *weights, size_t n, uint32_t bucket)
{
    uint32_t end = 0;

    for (size_t i = 0; i < n; i++) {
        end += weights[i];
        if (bucket < end) {
            return i;
        }
    }
    /* Unreachable when the weights sum to GKD_BUCKET_SCALE; the last variant keeps it defined. */
    return n > 0 ? n - 1 : 0;
}

void
gkd_bucket_default_salt(uint8_t salt[GKD_BUCKET_SALT_BYTES], const char *flag_key)
{
    unsigned char digest[32];
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, sizeof digest);
    crypto_generichash_update(&st, (const unsigned char *) DEFAULT_SALT_PREFIX,
                              sizeof DEFAULT_SALT_PREFIX - 1);
    crypto_generichash_update(&st, (const unsigned char *) flag_key, strlen(flag_key));
    crypto_generichash_final(&st, digest, sizeof digest);
    memcpy(salt, digest, GKD_BUCKET_SALT_BYTES);
}
