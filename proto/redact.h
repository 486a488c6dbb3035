/*
 * redact.h - masking a JSON object in place by field paths: remove the members, or replace their
 * values with keyed pseudonyms ("pseudo:" + base64url of the 16-byte keyed BLAKE2b of the value's
 * compact JSON text, members sorted). Used by the SDK's gk_mask_apply and by the daemon to mask
 * contexts before it logs them.
 *
 * Paths are dot-separated member names ("address.street"); a path that meets an array applies
 * the rest of the path to every element; a missing path changes nothing.
 *
 * THREAD SAFETY: reentrant; the json_t being masked must not be shared with another thread.
 * Requires sodium_init() to have run.
 */
#ifndef GKP_REDACT_H
#define GKP_REDACT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"

/*
 * gkp_redact_path - mask `path` below `node` (an object, or an array of objects).
 * mode    GK_MASK_REMOVE or GK_MASK_PSEUDONYMIZE.
 * key     the pseudonym key (keylen bytes, GK_MASK_KEY_MIN_BYTES..GK_MASK_KEY_MAX_BYTES); only
 *         read for GK_MASK_PSEUDONYMIZE.
 * Returns GK_OK or GK_ENOMEM.
 */
gk_err gkp_redact_path(json_t *node, const char *path, gk_mask_mode mode, const uint8_t *key,
                       size_t keylen);

/* gkp_redact_all - mask every top-level member of object `root`. GK_OK or GK_ENOMEM. */
gk_err gkp_redact_all(json_t *root, gk_mask_mode mode, const uint8_t *key, size_t keylen);

#endif
