/*
 * mask.h - gk_mask inside the SDK: how a decision's privacy mask list (the "mask" member of a
 * flag entry, proto/README.md) is built from verified claims and shared.
 *
 * A gk_mask is immutable and reference counted: one decision set, any number of cache entries
 * and any number of handles given to callers share it, so serving a mask from the cache costs an
 * atomic increment and no allocation. gk_mask_free() releases one reference. The empty mask and
 * the mask that masks everything are static and never freed, so the fail-closed answer can
 * always be given, even when memory is short.
 *
 * THREAD SAFETY: every function may be called from any thread; a mask is never modified.
 */
#ifndef GKS_MASK_H
#define GKS_MASK_H

#include <jansson.h>

#include "gatekeeper.h"

/*
 * gks_mask_from_json - a mask holding the field paths of `array` (strings, copied, in order).
 * NULL or an empty array gives the shared empty mask. The claims decoder has already checked
 * that every element is a non-empty string; anything else is GK_EPROTO.
 * Returns GK_OK (*maskp: one reference, release with gk_mask_free), GK_EPROTO, GK_ENOMEM.
 */
gk_err gks_mask_from_json(gk_mask **maskp, const json_t *array);

/* gks_mask_hold - take one more reference to `mask` (NULL gives the empty mask); returns it. */
gk_mask *gks_mask_hold(gk_mask *mask);

/* gks_mask_empty / gks_mask_all - the shared static masks: nothing, and every field. */
gk_mask *gks_mask_empty(void);
gk_mask *gks_mask_all(void);

#endif
