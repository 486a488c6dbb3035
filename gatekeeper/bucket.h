/*
 * bucket.h - sticky bucketing: a keyed hash of the bucketing value projected, integer-only, onto
 * [0, 100000) (weights are out of 100000, i.e. 0.001 % resolution).
 *
 * Byte layout (version 1, published with vectors in docs/bucketing.md):
 *   h      = SipHash-2-4(key = the flag's 16-byte salt, message = UTF-8 bytes of the value)
 *            (libsodium crypto_shorthash), its 8 output bytes read as a little-endian uint64
 *   h32    = h >> 32                       (the top 32 bits)
 *   bucket = (h32 * 100000) >> 32          (flagd's projection, no float, no modulo bias)
 * A variant owns the range [sum of earlier weights, that sum + its weight) with variants laid out
 * in the flag's declaration order, so moving weight from earlier to later variants never moves a
 * key backwards.
 *
 * THREAD SAFETY: reentrant.
 */
#ifndef GKD_BUCKET_H
#define GKD_BUCKET_H

#include <stddef.h>
#include <stdint.h>

#define GKD_BUCKET_SALT_BYTES 16
#define GKD_BUCKET_SCALE      100000u

/* gkd_bucket_of - the bucket in [0, GKD_BUCKET_SCALE) of `value` (len bytes) under `salt`. */
uint32_t gkd_bucket_of(const uint8_t salt[GKD_BUCKET_SALT_BYTES], const char *value, size_t len);

/*
 * gkd_bucket_pick - index of the variant whose range holds `bucket`, given `n` weights in layout
 * order summing to GKD_BUCKET_SCALE.
 */
size_t gkd_bucket_pick(const uint32_t *weights, size_t n, uint32_t bucket);

/*
 * gkd_bucket_default_salt - the salt of a flag that names none: the first 16 bytes of the
 * unkeyed BLAKE2b-256 of "gatekeeper.bucket.v1:" followed by the flag key.
 */
void gkd_bucket_default_salt(uint8_t salt[GKD_BUCKET_SALT_BYTES], const char *flag_key);

#endif
