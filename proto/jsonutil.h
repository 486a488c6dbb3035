/*
 * jsonutil.h - two small jansson helpers the codec's message modules share.
 *
 * THREAD SAFETY: reentrant.
 */
#ifndef GKP_JSONUTIL_H
#define GKP_JSONUTIL_H

#include <stddef.h>

#include <jansson.h>

#include "gatekeeper.h"

/* gkp_json_type_name - "an object", "an array", "a string", ..., "missing" for NULL: for errors. */
const char *gkp_json_type_name(const json_t *j);

/*
 * gkp_json_dump_take - serialise `root` compactly into a malloc'd string (*outp, caller frees;
 * *outlen its length when outlen is not NULL), consuming the reference to root even on failure.
 * Returns GK_OK, or GK_ENOMEM when root is NULL or serialising fails.
 */
gk_err gkp_json_dump_take(char **outp, size_t *outlen, json_t *root);

#endif
