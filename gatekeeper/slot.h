/*
 * slot.h - the place through which readers get the current version of a reference-counted,
 * immutable object (the flag snapshot, the policy set) while a reload swaps in the next one.
 *
 * A reader gets either the old or the new object, whole, with a reference of its own; the lock is
 * held only to copy a pointer and take that reference, and the old object is released outside it,
 * so a reader never waits behind a writer for longer than that.
 *
 * THREAD SAFETY: every function but init/fini is safe from any thread.
 */
#ifndef GKD_SLOT_H
#define GKD_SLOT_H

#include <pthread.h>

#include "gatekeeper.h"

typedef struct gkd_slot {
    pthread_mutex_t lock;
    void *current;
    void *(*hold)(void *);  /* takes a reference; must accept NULL (returning NULL) */
    void (*rele)(void *);   /* drops one; must accept NULL */
} gkd_slot;

/* gkd_slot_init - an empty slot for objects with these hold/rele functions. GK_OK or GK_ENOMEM. */
gk_err gkd_slot_init(gkd_slot *slot, void *(*hold)(void *), void (*rele)(void *));

/* gkd_slot_fini - release the current object and the lock. */
void gkd_slot_fini(gkd_slot *slot);

/* gkd_slot_acquire - the current object with a reference the caller releases, or NULL. */
void *gkd_slot_acquire(gkd_slot *slot);

/*
 * gkd_slot_swap_take - make obj current, taking the caller's reference, and release the old one;
 * readers still holding the old one keep it until they release it.
 */
void gkd_slot_swap_take(gkd_slot *slot, void *obj);

#endif
