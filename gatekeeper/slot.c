/*
 * slot.c - atomic swap of the current snapshot or policy set (see slot.h).
 */
#include "slot.h"

gk_err
gkd_slot_init(gkd_slot *slot, void *(*hold)(void *), void (*rele)(void *))
{
    slot->current = NULL;
    slot->hold = hold;
    slot->rele = rele;
    return pthread_mutex_init(&slot->lock, NULL) == 0 ? GK_OK : GK_ENOMEM;
}

void
gkd_slot_fini(gkd_slot *slot)
{
    slot->rele(slot->current);
    slot->current = NULL;
    pthread_mutex_destroy(&slot->lock);
}

void *
gkd_slot_acquire(gkd_slot *slot)
{
    void *obj;

    pthread_mutex_lock(&slot->lock);
    obj = slot->hold(slot->current);
    pthread_mutex_unlock(&slot->lock);
    return obj;
}

void
gkd_slot_swap_take(gkd_slot *slot, void *obj)
{
    void *old;

    pthread_mutex_lock(&slot->lock);
    old = slot->current;
    slot->current = obj;
    pthread_mutex_unlock(&slot->lock);
    /* Outside the lock: the last release may free a whole snapshot. */
    slot->rele(old);
}
