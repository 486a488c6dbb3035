/*
 * context.h - read access to a gk_context for the client: its attributes as a JSON object and
 * its canonical text (compact, keys sorted), which is both the cache key and the request's
 * "context", and the text's hash, computed once with the text so that a cache hit does not hash it.
 *
 * THREAD SAFETY: the readers only read; several evaluations may read one unmodified context at
 * once (gatekeeper.h). The setters in context.c are single-threaded.
 */
#ifndef GKS_CONTEXT_H
#define GKS_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"

/* Flags of the canonical text: same attributes, same bytes, whatever the insertion order. */
#define GKS_CONTEXT_DUMP_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

/*
 * gks_context_text - the canonical JSON text of ctx, e.g. {"region":"eu","targetingKey":"t-42"}.
 * len  out, optional: its length in bytes.
 * Borrowed until the next setter call on ctx or gk_context_free(). Never NULL.
 */
const char *gks_context_text(const gk_context *ctx, size_t *len);

/*
 * gks_context_hash - the hash of gks_context_text(ctx), i.e. gks_context_hash_text() of it,
 * computed when the text was. Valid as long as the text.
 */
uint64_t gks_context_hash(const gk_context *ctx);

/*
 * gks_context_hash_text - SipHash-2-4 of `len` bytes of `text` under the process's random key
 * (drawn on first use, like every gk_context_new). Equal texts give equal hashes within one
 * process; outsiders cannot predict them. Thread-safe.
 */
uint64_t gks_context_hash_text(const char *text, size_t len);

/* gks_context_json - the attributes object (targetingKey included); borrowed like the text. */
const json_t *gks_context_json(const gk_context *ctx);

#endif
