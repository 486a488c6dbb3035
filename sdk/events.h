/*
 * events.h - the SDK's subscription to the gatekeeper's change events (proto/README.md, "Change
 * events"): the decoder of one event and the nng SUB socket that receives them.
 *
 * An event {"v":1,"event":"change","version":N,"flags":[...]} says that snapshot N was committed
 * and which flag keys it changed; no "flags", or an empty list, means any flag may have changed.
 * The subscriber hands each well-formed change to a callback; it runs no thread of its own: nng
 * calls the receive aio's completion on one of its own task threads, one event at a time.
 *
 * THREAD SAFETY: gks_change_decode is reentrant. gks_events_open/_close are called once each, by
 * the client's owner; gks_events_counts may be called from any thread meanwhile.
 */
#ifndef GKS_EVENTS_H
#define GKS_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "gatekeeper.h"

/* Largest event accepted, in bytes (nng drops a larger message and its connection). */
#define GKS_EVENT_MAX_BYTES (1024u * 1024u)

/*
 * gks_change - one decoded change event.
 *   version  the new snapshot version (>= 1)
 *   committed_at_us  the commit time the event carries (0 when it has none, or not an integer)
 *   flags    nflags changed flag keys, each 1..GK_FLAG_KEY_MAX-1 bytes; nflags 0 means every
 *            flag. Owned by the change (gks_change_fini).
 */
typedef struct gks_change {
    uint64_t version;
    int64_t committed_at_us; /* "committedAtUs": µs since the Unix epoch; 0 when absent */
    const char **flags;
    size_t nflags;
    void *doc; /* the decoded JSON the keys point into */
} gks_change;

/* What gks_change_decode found. */
typedef enum gks_change_status {
    GKS_CHANGE_OK = 0,    /* a well-formed v1 change event: *ch is filled */
    GKS_CHANGE_MALFORMED, /* not JSON, not an object, not v 1, or a member of the wrong shape */
    GKS_CHANGE_OTHER,     /* a well-formed v1 event of another kind ("event" is not "change") */
    GKS_CHANGE_NOMEM,     /* out of memory */
} gks_change_status;

/*
 * gks_change_decode - decode one event message (JSON text, not NUL-terminated, len bytes).
 * Lenient as the wire protocol is: unknown members are ignored. On GKS_CHANGE_OK the caller
 * releases *ch with gks_change_fini; otherwise *ch is zeroed and needs no release.
 */
gks_change_status gks_change_decode(gks_change *ch, const void *body, size_t len);

/* gks_change_fini - release what gks_change_decode allocated (a zeroed change is fine). */
void gks_change_fini(gks_change *ch);

/*
 * gks_events_fn - called for each well-formed change event, on an nng task thread, with no lock
 * of ours held; never concurrently with itself. `ch` is borrowed for the call. It must not block
 * for long (events queue behind it) and must not call gks_events_close.
 */
typedef void (*gks_events_fn)(void *arg, const gks_change *ch);

typedef struct gks_events gks_events;

/*
 * gks_events_open - open an nng SUB socket subscribed to every message, dial `url` without
 * blocking (nng reconnects in the background while the publisher is away) and start receiving.
 * evp  out: released with gks_events_close.
 * url  nng URL, e.g. "tcp://127.0.0.1:7402"; copied by nng.
 * fn, arg  the callback for each change and its first argument.
 * Returns GK_OK, GK_EINVAL (a URL nng cannot parse or a transport it lacks), GK_ENOMEM, GK_EIO;
 * diag names the URL.
 */
gk_err gks_events_open(gks_events **evp, const char *url, gks_events_fn fn, void *arg,
                       gk_diag *diag);

/*
 * gks_events_close - stop receiving (waits for a callback that is running to return), close the
 * socket and free (NULL ignored). No callback runs after it returns.
 */
void gks_events_close(gks_events *ev);

/* The counters of one subscriber (each a snapshot; others may be changing them). */
typedef struct gks_events_counts {
    uint64_t applied;   /* change events handed to the callback */
    uint64_t malformed; /* messages ignored as malformed */
    uint64_t other;     /* well-formed events of another kind, ignored */
} gks_events_counts;

/* gks_events_get_counts - read the counters (all 0 for NULL). */
void gks_events_get_counts(const gks_events *ev, gks_events_counts *out);

#endif
