/*
 * store.h - where the gatekeeper's state and its audit log live, behind one small interface so a
 * fleet backend (etcd) can be added without touching callers. The embedded default is a data
 * directory whose append-only journal IS the audit log (store_dir.c, journal.c).
 *
 * The state is one JSON document of the flags-file shape (docs/flags.md):
 *   {"flags": {key: definition}, "schemas": {...}, "consumers": {...}}
 * Its version is the sequence number of the last committed record (0 for an empty store).
 *
 * A record (one per committed admin request), one JSON object per journal line:
 *   {"seq": 12, "time": "2026-11-21T14:03:07.123Z", "actor": "rita", "op": "rollout.set",
 *    "why": "canary", "args": {...},
 *    "changes": [{"kind": "flag", "key": "orders.read_v2", "before": {...}|null, "after": {...}|null}],
 *    "verdicts": [explain trace], "request": "<the actor's signed JWS>",
 *    "prev": "<hash of record seq-1, 64 hex; 64 zeros for seq 1>",
 *    "hash": "<SHA-256 hex of the record's canonical JSON without hash, kid and sig>",
 *    "kid": "<the gatekeeper key that signed>", "sig": "<JWS compact, EdDSA, payload = hash>"}
 * Canonical JSON: jansson's JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII of the record.
 *
 * Sharing: committed definitions (the values under "flags", "schemas" and "consumers", and the
 * "before"/"after" of a change) are never modified, only replaced, so the store's state, the
 * records, the admin plane's state and the snapshots hold references to the same definitions
 * instead of copies (10,000 flags are in memory once). A change builds its new state
 * copy-on-write: new maps (json_copy is shallow) over the shared definitions, and a new object
 * (a modified deep copy) for each definition it changes. jansson's reference counts are atomic,
 * so the workers may read definitions while the admin thread takes and drops references.
 *
 * THREAD SAFETY: a store is used by one thread at a time (the admin thread); watch callbacks run
 * on the committing thread, after the record is durable.
 */
#ifndef GKD_STORE_H
#define GKD_STORE_H

#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"
#include "jwk.h"
#include "signer.h"

typedef struct gkd_store gkd_store;

/*
 * What the admin path commits: borrowed for the call. The "before"/"after" definitions in
 * `changes` may be kept by reference (in the record and the state), so they must not be modified
 * afterwards; the rest of `changes`, `args` and `verdicts` are copied.
 */
typedef struct gkd_store_change {
    const char *actor;        /* actor id ("system" for the bootstrap) */
    const char *op;           /* e.g. "rollout.set" */
    const json_t *args;       /* the request's arguments (an object) */
    const char *why;          /* the reason text; NULL when none */
    const json_t *changes;    /* array of {"kind","key","before","after"} (before/after null) */
    const json_t *verdicts;   /* the policies' explain trace; NULL when none */
    const char *request;      /* the actor's JWS compact; NULL for the system actor */
} gkd_store_change;

/* The backend's operations (Redis-engine style vtable); every member is required. */
typedef struct gkd_store_ops {
    /*
     * load - the current state (a new reference, the caller's) and its version. On an empty store
     * the state is {"flags":{},"schemas":{},"consumers":{}} and the version 0. The top object and
     * its three maps are new (adding or removing entries does not change the store's); the
     * definitions in them are shared with the store and must not be modified (replace them).
     */
    gk_err (*load)(gkd_store *s, json_t **statep, uint64_t *versionp, gk_diag *diag);
    /*
     * commit - when the store's version is `expected`, append `change` as record expected+1,
     * applying change->changes to the state, and return only once the record is durable (fsync'd).
     * recordp (optional) gets the record as written (a new reference).
     * Returns GK_OK, GK_ECONFLICT (the version is not `expected`: nothing written; diag names
     * both versions), GK_EIO (nothing acknowledged; diag says what), GK_EINVAL, GK_ENOMEM.
     */
    gk_err (*commit)(gkd_store *s, uint64_t expected, const gkd_store_change *change,
                     json_t **recordp, gk_diag *diag);
    /*
     * audit - call fn(record, arg) for every record with seq >= from, in order; fn returns
     * non-zero to stop. Records are borrowed for the call. from 0 means from the first record.
     */
    gk_err (*audit)(gkd_store *s, uint64_t from, int (*fn)(const json_t *record, void *arg),
                    void *arg, gk_diag *diag);
    /*
     * verify - check every record: its hash, the chain of prev hashes, contiguous seq and the
     * gatekeeper's signature. recordsp (optional) gets the number of records checked.
     * Returns GK_OK, GK_EPROTO naming the first bad record (diag: "record 12 (line 12): hash
     * mismatch"), GK_EBADSIG, GK_EIO.
     */
    gk_err (*verify)(gkd_store *s, uint64_t *recordsp, gk_diag *diag);
    /* watch - call fn(record, arg) after every commit (on the committing thread). */
    gk_err (*watch)(gkd_store *s, void (*fn)(const json_t *record, void *arg), void *arg);
    /* close - release the store (and its lock). */
    void (*close)(gkd_store *s);
} gkd_store_ops;

/* Every backend's handle starts with this. */
struct gkd_store {
    const gkd_store_ops *ops;
};

/*
 * gkd_store_dir_open - open (creating if needed) the data-directory backend at `dir`:
 * DIR/journal.jsonl, DIR/snapshot-<seq>.json (compacted state, every 100 records), DIR/LOCK.
 * signer    signs each record (its first key); borrowed, must outlive the store.
 * trusted   keys whose signatures are accepted on old records (the signer's JWKS plus retired
 *           keys); borrowed for the call (the store keeps a copy). The signer's signing key is
 *           always trusted as well; NULL means only that key.
 * recover   0: any corruption other than a torn last line stops the open (GK_EPROTO naming the
 *           record); 1: cut the journal back to the last record that verifies, keeping the cut
 *           bytes in DIR/journal.cut-<unix time>, and warn.
 * A torn last line (a crash mid-append) is always cut back, with a warning in the log.
 * The whole journal is verified on every open; a snapshot only saves the replay (docs/store.md).
 * Returns GK_OK, GK_EADDRINUSE (another gatekeeper holds DIR/LOCK: diag names its pid),
 * GK_EPROTO / GK_EBADSIG (corruption or tampering, naming the record), GK_EIO, GK_ENOMEM.
 */
gk_err gkd_store_dir_open(gkd_store **sp, const char *dir, const gkd_signer *signer,
                          const gkp_jwks *trusted, int recover, gk_diag *diag);

/* Convenience calls through the vtable. */
static inline void
gkd_store_close(gkd_store *s)
{
    if (s != NULL) {
        s->ops->close(s);
    }
}

#endif
