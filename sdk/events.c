/*
 * events.c - change events: the decoder and the SUB socket that receives them (see events.h).
 *
 * Receiving: one nng_aio whose completion callback handles the message and submits the next
 * receive, so there is no thread of ours and no queue but nng's. "gks_events_close" first marks
 * the subscriber closing, then "nng_aio_stop" cancels the pending receive and waits for a
 * callback that is running; a receive submitted after that is refused by nng, and the flag keeps
 * the callback from submitting one anyway. Only then is the socket closed and memory freed.
 *
 * A receive that fails for a reason other than the socket closing (out of memory, say) is retried
 * after PAUSE_MS, through the same aio ("nng_sleep_aio"), so a persistent failure cannot spin.
 *
 * Known limitation of nng 1.5.2 (Debian 12): "nng_close" can hang when messages are still
 * arriving on the socket as it closes (nng issue #1813, fixed in nng 1.8.0). It does not depend
 * on our aio: a plain SUB socket closed during a burst from its publisher hangs the same way. With
 * one event per committed admin change the window is small, but a close that meets an event in
 * flight can block; nothing in this file can prevent it.
 */
#include "events.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "gatekeeper.h"
#include "nng_err.h"
#include "vocab.h"

/* Pause before receiving again after an unexpected receive error, in ms. */
#define PAUSE_MS 100

struct gks_events {
    nng_socket sock;
    nng_aio *aio;
    gks_events_fn fn;
    void *arg;
    bool pausing; /* the aio is sleeping, not receiving; only the callback touches it */
    atomic_bool closing;
    _Atomic uint64_t applied;
    _Atomic uint64_t malformed;
    _Atomic uint64_t other;
};

/* ---- decoding ---------------------------------------------------------------------------- */

void
gks_change_fini(gks_change *ch)
{
    if (ch == NULL) {
        return;
    }
    free(ch->flags);
    json_decref(ch->doc);
    memset(ch, 0, sizeof(*ch));
}

gks_change_status
gks_change_decode(gks_change *ch, const void *body, size_t len)
{
    json_t *doc;
    json_t *v;
    json_t *event;
    json_t *version;
    json_t *flags;
    json_t *committed;
    json_error_t jerr;
    size_t n;

    memset(ch, 0, sizeof(*ch));
    /* Lenient, as the wire protocol is everywhere: no JSON_STRICT-like checks, unknown members
     * ignored. A NUL byte inside the text is an error (jansson's default). */
    doc = json_loadb(body, len, 0, &jerr);
    if (doc == NULL) {
        return json_error_code(&jerr) == json_error_out_of_memory ? GKS_CHANGE_NOMEM
                                                                    : GKS_CHANGE_MALFORMED;
    }
    v = json_object_get(doc, "v");
    event = json_object_get(doc, "event");
    if (!json_is_object(doc) || !json_is_integer(v) || json_integer_value(v) != 1 ||
        !json_is_string(event)) {
        json_decref(doc);
        return GKS_CHANGE_MALFORMED;
    }
    if (strcmp(json_string_value(event), "change") != 0) {
        json_decref(doc);
        return GKS_CHANGE_OTHER;
    }
    version = json_object_get(doc, "version");
    flags = json_object_get(doc, "flags");
    if (!json_is_integer(version) || json_integer_value(version) < 1 ||
        (flags != NULL && !json_is_array(flags))) {
        json_decref(doc);
        return GKS_CHANGE_MALFORMED;
    }
    n = json_array_size(flags); /* 0 for an absent list */
    if (n > 0) {
        ch->flags = malloc(n * sizeof(*ch->flags));
        if (ch->flags == NULL) {
            json_decref(doc);
            return GKS_CHANGE_NOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *key = json_array_get(flags, i);
        size_t key_len = json_string_length(key);

        /* A flag key is 1..127 bytes, without NUL (jansson strings may hold one). */
        if (!json_is_string(key) || key_len == 0 || key_len >= GK_FLAG_KEY_MAX ||
            strlen(json_string_value(key)) != key_len) {
            free(ch->flags);
            ch->flags = NULL;
            json_decref(doc);
            return GKS_CHANGE_MALFORMED;
        }
        ch->flags[i] = json_string_value(key);
    }
    ch->version = (uint64_t) json_integer_value(version);
    committed = json_object_get(doc, "committedAtUs");
    ch->committed_at_us = json_is_integer(committed) && json_integer_value(committed) > 0
                              ? (int64_t) json_integer_value(committed)
                              : 0;
    ch->nflags = n;
    ch->doc = doc;
    return GKS_CHANGE_OK;
}

/* ---- receiving --------------------------------------------------------------------------- */

static void
handle(gks_events *ev, const void *body, size_t len)
{
    gks_change ch;

    switch (gks_change_decode(&ch, body, len)) {
    case GKS_CHANGE_OK:
        ev->fn(ev->arg, &ch);
        gks_change_fini(&ch);
        atomic_fetch_add(&ev->applied, 1);
        break;
    case GKS_CHANGE_OTHER:
        atomic_fetch_add(&ev->other, 1);
        break;
    case GKS_CHANGE_NOMEM:
    case GKS_CHANGE_MALFORMED:
        /* Out of memory loses the event like a malformed one: the TTL still bounds staleness. */
        atomic_fetch_add(&ev->malformed, 1);
        break;
    }
}

static void
on_recv(void *arg)
{
    gks_events *ev = arg;
    int rv = nng_aio_result(ev->aio);

    if (ev->pausing) {
        ev->pausing = false;
        if (rv == NNG_ECANCELED || rv == NNG_ECLOSED) {
            return;
        }
    } else if (rv == 0) {
        nng_msg *msg = nng_aio_get_msg(ev->aio);

        handle(ev, nng_msg_body(msg), nng_msg_len(msg));
        nng_msg_free(msg);
    } else if (rv == NNG_ECANCELED || rv == NNG_ECLOSED) {
        return; /* closing */
    } else {
        if (!atomic_load(&ev->closing)) {
            ev->pausing = true;
            nng_sleep_aio(PAUSE_MS, ev->aio);
        }
        return;
    }
    if (!atomic_load(&ev->closing)) {
        nng_recv_aio(ev->sock, ev->aio);
    }
}

gk_err
gks_events_open(gks_events **evp, const char *url, gks_events_fn fn, void *arg, gk_diag *diag)
{
    gks_events *ev;
    gk_err rv;
    int nrv;

    *evp = NULL;
    ev = calloc(1, sizeof(*ev));
    if (ev == NULL) {
        return gkp_diag_set(diag, GK_ENOMEM, NULL, 0, "out of memory");
    }
    ev->fn = fn;
    ev->arg = arg;
    atomic_init(&ev->closing, false);
    atomic_init(&ev->applied, 0);
    atomic_init(&ev->malformed, 0);
    atomic_init(&ev->other, 0);

    nrv = nng_sub0_open(&ev->sock);
    if (nrv != 0) {
        rv = gkp_diag_set(diag, gks_nng_err(nrv), NULL, 0, "cannot open an nng SUB socket: %s",
                          nng_strerror(nrv));
        free(ev);
        return rv;
    }
    /* The empty topic is a prefix of every message: subscribe to all of them. */
    nrv = nng_socket_set(ev->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0);
    if (nrv == 0) {
        nrv = nng_socket_set_size(ev->sock, NNG_OPT_RECVMAXSZ, GKS_EVENT_MAX_BYTES);
    }
    if (nrv != 0) {
        rv = gkp_diag_set(diag, gks_nng_err(nrv), NULL, 0, "cannot set up the SUB socket: %s",
                          nng_strerror(nrv));
        goto fail_sock;
    }
    nrv = nng_aio_alloc(&ev->aio, on_recv, ev);
    if (nrv != 0) {
        rv = gkp_diag_set(diag, gks_nng_err(nrv), NULL, 0, "out of memory");
        goto fail_sock;
    }
    /* Non-blocking: a publisher that is down now is dialled again in the background. */
    nrv = nng_dial(ev->sock, url, NULL, NNG_FLAG_NONBLOCK);
    if (nrv != 0) {
        rv = gkp_diag_set(diag, gks_nng_err(nrv), url, 0,
                          "cannot dial events endpoint \"%s\": %s (expected e.g. "
                          "tcp://127.0.0.1:7402 or ipc:///path)",
                          url, nng_strerror(nrv));
        goto fail_aio;
    }
    nng_recv_aio(ev->sock, ev->aio);
    *evp = ev;
    return GK_OK;

fail_aio:
    nng_aio_free(ev->aio);
fail_sock:
    nng_close(ev->sock);
    free(ev);
    return rv;
}

void
gks_events_close(gks_events *ev)
{
    if (ev == NULL) {
        return;
    }
    atomic_store(&ev->closing, true);
    nng_aio_stop(ev->aio); /* no callback runs past this line */
    nng_close(ev->sock);
    nng_aio_free(ev->aio);
    free(ev);
}

void
gks_events_get_counts(const gks_events *ev, gks_events_counts *out)
{
    memset(out, 0, sizeof(*out));
    if (ev == NULL) {
        return;
    }
    out->applied = atomic_load(&ev->applied);
    out->malformed = atomic_load(&ev->malformed);
    out->other = atomic_load(&ev->other);
}
