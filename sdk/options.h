/*
 * options.h - the layout of gk_options, shared by options.c (the builder) and client.c (which
 * reads it once, in gk_client_open).
 *
 * THREAD SAFETY: none; a gk_options is single-threaded (see gatekeeper.h).
 */
#ifndef GKS_OPTIONS_H
#define GKS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gatekeeper.h"

#define GKS_DEFAULT_ENDPOINT     "tcp://127.0.0.1:7400"
#define GKS_DEFAULT_EVENTS       "tcp://127.0.0.1:7402"
#define GKS_DEFAULT_TIMEOUT_MS   50u
#define GKS_MAX_TIMEOUT_MS       60000u
#define GKS_DEFAULT_CACHE_TTL_MS 1000u
#define GKS_MAX_CACHE_TTL_MS     86400000u

struct gk_options {
    char **endpoints; /* nendpoints malloc'd URLs; none means GKS_DEFAULT_ENDPOINT */
    size_t nendpoints;
    char *jwks_file;       /* malloc'd path, NULL until set */
    uint32_t timeout_ms;   /* 1..GKS_MAX_TIMEOUT_MS */
    uint32_t cache_ttl_ms; /* 1..GKS_MAX_CACHE_TTL_MS */
    bool cache_disabled;
    char *events_endpoint; /* malloc'd URL of the change-event publisher; NULL: see events_off */
    bool events_off;       /* subscription turned off (set_events_endpoint with NULL or "") */
};

#endif
