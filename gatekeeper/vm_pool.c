/*
 * vm_pool.c - a stack of vm slots (see vm_pool.h).
 */
#include "vm_pool.h"

#include <pthread.h>
#include <stdlib.h>

struct gkd_vm_pool {
    pthread_mutex_t lock;
    size_t n;
    size_t free;            /* slots on the stack: stack[0 .. free) */
    gkd_policy_vm **vms;    /* n slots */
    gkd_policy_vm ***stack; /* n entries; the top is the slot given back last */
};

gk_err
gkd_vm_pool_new(gkd_vm_pool **poolp, size_t n)
{
    gkd_vm_pool *p = calloc(1, sizeof(*p));

    *poolp = NULL;
    if (p == NULL || n == 0 || (p->vms = calloc(n, sizeof(*p->vms))) == NULL ||
        (p->stack = calloc(n, sizeof(*p->stack))) == NULL) {
        if (p != NULL) {
            free(p->vms);
        }
        free(p);
        return GK_ENOMEM;
    }
    pthread_mutex_init(&p->lock, NULL);
    p->n = n;
    for (size_t i = 0; i < n; i++) {
        p->stack[i] = &p->vms[n - 1 - i];
    }
    p->free = n;
    *poolp = p;
    return GK_OK;
}

void
gkd_vm_pool_free(gkd_vm_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    for (size_t i = 0; i < pool->n; i++) {
        gkd_policy_vm_close(pool->vms[i]);
    }
    pthread_mutex_destroy(&pool->lock);
    free(pool->stack);
    free(pool->vms);
    free(pool);
}

gkd_policy_vm **
gkd_vm_pool_take(gkd_vm_pool *pool)
{
    gkd_policy_vm **slot;

    pthread_mutex_lock(&pool->lock);
    slot = pool->stack[--pool->free];
    pthread_mutex_unlock(&pool->lock);
    return slot;
}

void
gkd_vm_pool_give(gkd_vm_pool *pool, gkd_policy_vm **slot)
{
    pthread_mutex_lock(&pool->lock);
    pool->stack[pool->free++] = slot;
    pthread_mutex_unlock(&pool->lock);
}
