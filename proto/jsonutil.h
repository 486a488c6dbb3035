/*
 * jsonutil.h - small jansson helpers the codec's message modules share.
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

/*
 * gkp_json_unconst - `j` without const, for jansson calls that take a reference (they change only
 * the reference count). No copy is made.
 */
json_t *gkp_json_unconst(const json_t *j);

/*
 * gkp_json_plain_len - the length of the run s[0..len) starts with that can stand between JSON
 * quotes as is: printable ASCII (0x20..0x7E) other than '"' and '\\'. A string whose run is all of
 * it is its own JSON text once quoted; any other needs jansson's escaping.
 */
size_t gkp_json_plain_len(const char *s, size_t len);

/*
 * gkp_utf8_seq_len - the length in bytes (1-4) of the valid UTF-8 sequence at s[0..len) (RFC 3629
 * section 4: no overlong forms, no surrogates, nothing above U+10FFFF), 0 when it is not one.
 * len must be at least 1.
 */
size_t gkp_utf8_seq_len(const unsigned char *s, size_t len);

/*
 * gkp_json_string_lossy - a JSON string of the NUL-terminated `s`; when `s` is not UTF-8 every
 * byte outside a valid sequence (RFC 3629 section 4) becomes '?', since error texts may quote
 * client bytes. New reference; NULL only without memory.
 */
json_t *gkp_json_string_lossy(const char *s);

#endif
