/*
 * vm_pool.h - the decision workers' policy vms, handed out most recently used first.
 *
 * Why: nng hands each request to the worker context that has waited longest, so with a vm per
 * worker, requests rotate over every vm and each decision starts with caches cold from the
 * others (measured: about 30 µs more CPU and 50 µs more latency per decision with 4 workers than
 * with 1, for the shipped policies). A LIFO pool gives a request the vm the previous request
 * used, so a lightly loaded gatekeeper keeps one warm vm; under load as many vms are used as
 * requests run at once, never more than there are workers.
 *
 * THREAD SAFETY: take and give may be called from any thread (a mutex held for a few
 * instructions); a taken slot belongs to its taker until given back. new/free by the server only.
 */
#ifndef GKD_VM_POOL_H
#define GKD_VM_POOL_H

#include <stddef.h>

#include "gatekeeper.h"
#include "policy.h"

typedef struct gkd_vm_pool gkd_vm_pool;

/* gkd_vm_pool_new - a pool of n slots (n >= 1), each holding no vm yet. GK_OK or GK_ENOMEM. */
gk_err gkd_vm_pool_new(gkd_vm_pool **poolp, size_t n);

/* gkd_vm_pool_free - close every slot's vm and release (NULL is ignored). */
void gkd_vm_pool_free(gkd_vm_pool *pool);

/*
 * gkd_vm_pool_take - the slot given back last (its vm may be NULL: gkd_decide_handle opens one
 * in place). At most n takers may hold slots at once: each worker takes one around a decision.
 */
gkd_policy_vm **gkd_vm_pool_take(gkd_vm_pool *pool);

/* gkd_vm_pool_give - give back a slot from gkd_vm_pool_take. */
void gkd_vm_pool_give(gkd_vm_pool *pool, gkd_policy_vm **slot);

#endif
