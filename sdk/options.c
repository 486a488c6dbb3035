/*
 * options.c - the gk_options builder: typed setters, units in the names, zero means default.
 *
 * Every string is copied (curl's rule), so the caller may free its own right after a setter.
 */
#include "options.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gatekeeper.h"

static char *
dup_string(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = malloc(len);

    if (copy != NULL) {
        memcpy(copy, s, len);
    }
    return copy;
}

gk_err
gk_options_new(gk_options **optsp)
{
    gk_options *opts;

    if (optsp == NULL) {
        return GK_EINVAL;
    }
    *optsp = NULL;
    opts = calloc(1, sizeof(*opts));
    if (opts == NULL) {
        return GK_ENOMEM;
    }
    opts->timeout_ms = GKS_DEFAULT_TIMEOUT_MS;
    opts->cache_ttl_ms = GKS_DEFAULT_CACHE_TTL_MS;
    opts->check_ratio = 1;
    *optsp = opts;
    return GK_OK;
}

void
gk_options_free(gk_options *opts)
{
    if (opts == NULL) {
        return;
    }
    for (size_t i = 0; i < opts->nendpoints; i++) {
        free(opts->endpoints[i]);
    }
    free(opts->endpoints);
    free(opts->jwks_file);
    free(opts->events_endpoint);
    free(opts->telemetry_endpoint);
    free(opts);
}

gk_err
gk_options_add_endpoint(gk_options *opts, const char *url)
{
    char **grown;
    char *copy;

    if (opts == NULL || url == NULL || url[0] == '\0') {
        return GK_EINVAL;
    }
    copy = dup_string(url);
    if (copy == NULL) {
        return GK_ENOMEM;
    }
    grown = realloc(opts->endpoints, (opts->nendpoints + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(copy);
        return GK_ENOMEM;
    }
    grown[opts->nendpoints++] = copy;
    opts->endpoints = grown;
    return GK_OK;
}

gk_err
gk_options_set_jwks_file(gk_options *opts, const char *path)
{
    char *copy;

    if (opts == NULL || path == NULL || path[0] == '\0') {
        return GK_EINVAL;
    }
    copy = dup_string(path);
    if (copy == NULL) {
        return GK_ENOMEM;
    }
    free(opts->jwks_file);
    opts->jwks_file = copy;
    return GK_OK;
}

gk_err
gk_options_set_timeout_ms(gk_options *opts, uint32_t timeout_ms)
{
    if (opts == NULL || timeout_ms > GKS_MAX_TIMEOUT_MS) {
        return GK_EINVAL;
    }
    opts->timeout_ms = timeout_ms == 0 ? GKS_DEFAULT_TIMEOUT_MS : timeout_ms;
    return GK_OK;
}

gk_err
gk_options_set_cache_ttl_ms(gk_options *opts, uint32_t ttl_ms)
{
    if (opts == NULL || ttl_ms > GKS_MAX_CACHE_TTL_MS) {
        return GK_EINVAL;
    }
    opts->cache_ttl_ms = ttl_ms == 0 ? GKS_DEFAULT_CACHE_TTL_MS : ttl_ms;
    return GK_OK;
}

gk_err
gk_options_set_cache_disabled(gk_options *opts, bool disabled)
{
    if (opts == NULL) {
        return GK_EINVAL;
    }
    opts->cache_disabled = disabled;
    return GK_OK;
}

/* Replaces an optional endpoint: a copy of url, or none (and *off set) for NULL or "". */
static gk_err
set_optional_endpoint(char **field, bool *off, const char *url)
{
    char *copy = NULL;

    if (url != NULL && url[0] != '\0') {
        copy = dup_string(url);
        if (copy == NULL) {
            return GK_ENOMEM;
        }
    }
    free(*field);
    *field = copy;
    *off = copy == NULL;
    return GK_OK;
}

gk_err
gk_options_set_events_endpoint(gk_options *opts, const char *url)
{
    if (opts == NULL) {
        return GK_EINVAL;
    }
    return set_optional_endpoint(&opts->events_endpoint, &opts->events_off, url);
}

gk_err
gk_options_set_change_handler(gk_options *opts, gk_change_fn fn, void *user)
{
    if (opts == NULL) {
        return GK_EINVAL;
    }
    opts->change_fn = fn;
    opts->change_user = user;
    return GK_OK;
}

gk_err
gk_options_set_check_ratio(gk_options *opts, uint32_t ratio)
{
    if (opts == NULL || ratio > GKS_MAX_CHECK_RATIO) {
        return GK_EINVAL;
    }
    opts->check_ratio = ratio == 0 ? 1 : ratio;
    return GK_OK;
}

gk_err
gk_options_set_telemetry_endpoint(gk_options *opts, const char *url)
{
    if (opts == NULL) {
        return GK_EINVAL;
    }
    return set_optional_endpoint(&opts->telemetry_endpoint, &opts->telemetry_off, url);
}

gk_err
gk_options_set_service_name(gk_options *opts, const char *name)
{
    json_t *probe;
    size_t len;

    if (opts == NULL || name == NULL) {
        return GK_EINVAL;
    }
    len = strlen(name);
    if (len == 0 || len >= sizeof(opts->service)) {
        return GK_EINVAL;
    }
    /* jansson refuses invalid UTF-8 (NULL); the name goes into JSON batches, so test it there */
    probe = json_string(name);
    if (probe == NULL) {
        return GK_EINVAL;
    }
    json_decref(probe);
    memcpy(opts->service, name, len + 1);
    return GK_OK;
}
