/*
 * snapshot.h - an immutable, reference-counted set of flag definitions with the schemas and
 * consumers the policies read.
 *
 * A snapshot is built once (from a flags document) and never changes; readers hold a reference for
 * the length of one request, and a reload swaps in the next one through a gkd_slot (slot.h).
 *
 * THREAD SAFETY: gkd_snapshot_hold/rele and every read function are safe from any thread on a held
 * snapshot.
 */
#ifndef GKD_SNAPSHOT_H
#define GKD_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"
#include "slot.h"

typedef struct gkd_snapshot gkd_snapshot;
typedef struct gkd_flag gkd_flag;   /* defined in flag.h */

/* Most flags one snapshot may hold. */
#define GKD_SNAPSHOT_MAX_FLAGS 100000u

/*
 * gkd_snapshot_build - build a snapshot from a flags document (docs/flags.md): validates every
 * flag, resolves prerequisites and refuses prerequisite cycles.
 * snapp    out: a snapshot with one reference, released with gkd_snapshot_rele().
 * doc      a flags document (docs/flags.md): "flags", and optionally "schemas" and "consumers"
 *          (registry.h); the snapshot keeps references to its values, so the caller must not
 *          modify it afterwards.
 * version  the snapshot version carried in decisions (monotonic within one daemon).
 * source   name of the document for diag (e.g. the file path).
 * diag     on error names the flag key and the problem, e.g.
 *          `flag "orders.read_v2": rule "eu": unknown operator "eq" (use "equals")`.
 * Returns GK_OK, GK_EPROTO, GK_ENOMEM.
 */
gk_err gkd_snapshot_build(gkd_snapshot **snapp, const json_t *doc, uint64_t version,
                          const char *source, gk_diag *diag);

/*
 * gkd_snapshot_read_file - parse a flags file as gkd_snapshot_load_file does (duplicate keys
 * refused; diag has the line and column of a syntax error), without building a snapshot.
 * docp  out: the document (a new reference, the caller's); NULL on error.
 * Returns GK_OK, GK_ENOENT, GK_EIO, GK_EPROTO.
 */
gk_err gkd_snapshot_read_file(json_t **docp, const char *path, gk_diag *diag);

/*
 * gkd_snapshot_rebuild - gkd_snapshot_build, taking over from `prev` (a snapshot the caller holds
 * for the call; NULL builds from scratch) the compiled flags whose definition in `doc` is the very
 * same JSON value as prev's (pointer equality: definitions are never modified once built into a
 * snapshot, store.h) and that have no prerequisites; the rest are parsed. The result is the
 * same as gkd_snapshot_build's, only faster when few definitions changed (one flag parsed instead
 * of 10,000). The two snapshots share those flags' allocations; each may be released first.
 */
gk_err gkd_snapshot_rebuild(gkd_snapshot **snapp, const gkd_snapshot *prev, const json_t *doc,
                            uint64_t version, const char *source, gk_diag *diag);

/* gkd_snapshot_load_file - read a flags file and build a snapshot (adds GK_ENOENT, GK_EIO). */
gk_err gkd_snapshot_load_file(gkd_snapshot **snapp, const char *path, uint64_t version,
                              gk_diag *diag);

/* gkd_snapshot_hold - take one more reference; returns snap. */
gkd_snapshot *gkd_snapshot_hold(gkd_snapshot *snap);

/* gkd_snapshot_rele - drop one reference; the last frees the snapshot (NULL is ignored). */
void gkd_snapshot_rele(gkd_snapshot *snap);

/* gkd_snapshot_slot_init - gkd_slot_init for a slot of snapshots (held and released with
 * gkd_snapshot_hold and gkd_snapshot_rele). GK_OK or GK_ENOMEM. */
gk_err gkd_snapshot_slot_init(gkd_slot *slot);

/* gkd_snapshot_version - the version given at build. */
uint64_t gkd_snapshot_version(const gkd_snapshot *snap);

/* gkd_snapshot_count - number of flags. */
size_t gkd_snapshot_count(const gkd_snapshot *snap);

/*
 * gkd_snapshot_flag_at - flag `i` (0 .. count-1) in key order (bytewise), or NULL past the end;
 * borrowed while snap is held. flag.h describes struct gkd_flag (gkd_flag_key() for the key).
 */
const gkd_flag *gkd_snapshot_flag_at(const gkd_snapshot *snap, size_t i);

/* gkd_snapshot_find - the flag with this key (len bytes, need not be NUL-terminated), or NULL.
 * O(log n) binary search, no allocation. */
const gkd_flag *gkd_snapshot_find(const gkd_snapshot *snap, const char *key, size_t len);

/*
 * gkd_snapshot_state - the document as the policies see it: {"flags": {key: definition},
 * "schemas": {...}, "consumers": {...}} (absent sections are empty objects). Borrowed while snap
 * is held; never modified.
 */
const json_t *gkd_snapshot_state(const gkd_snapshot *snap);

#endif
