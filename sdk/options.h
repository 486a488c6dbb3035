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
#define GKS_DEFAULT_TELEMETRY    "tcp://127.0.0.1:7403"
#define GKS_DEFAULT_SERVICE      "unknown"
#define GKS_SERVICE_NAME_MAX     64u /* bytes, NUL included */
#define GKS_MAX_CHECK_RATIO      1000000u

struct gk_options {
    char **endpoints; /* nendpoints malloc'd URLs; none means GKS_DEFAULT_ENDPOINT */
    size_t nendpoints;
    char *jwks_file;       /* malloc'd path, NULL until set */
    uint32_t timeout_ms;   /* 1..GKS_MAX_TIMEOUT_MS */
    uint32_t cache_ttl_ms; /* 1..GKS_MAX_CACHE_TTL_MS */
    bool cache_disabled;
    char *events_endpoint; /* malloc'd URL of the change-event publisher; NULL: see events_off */
    bool events_off;       /* subscription turned off (set_events_endpoint with NULL or "") */
    uint32_t check_ratio;  /* 1..GKS_MAX_CHECK_RATIO */
    char *telemetry_endpoint; /* malloc'd URL of the collector; NULL: see telemetry_off */
    bool telemetry_off;       /* telemetry turned off (set_telemetry_endpoint with NULL or "") */
    char service[GKS_SERVICE_NAME_MAX]; /* "" means GKS_DEFAULT_SERVICE */
    gk_change_fn change_fn;   /* called after each change event is applied; NULL: none */
    void *change_user;
};

#endif
