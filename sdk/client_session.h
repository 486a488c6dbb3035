/*
 * client_session.h - the client's side of decision sessions (proto/session.h): which session id or
 * which fresh key a request carries, and whether a reply's token is authenticated by the
 * session's MAC (so its Ed25519 signature need not be verified again) or must be verified.
 *
 * Life of a session: the first request carries a fresh X25519 public key; the reply's session
 * JWS is verified against the trusted JWKS (signature, the echoed key, exp) and the session key
 * derived (crypto_kx_client_session_keys, receive key); later requests name the session and
 * their tokens are accepted on a valid MAC. A reply without a valid MAC is never refused for it:
 * its token is verified by signature as before and the session is dropped, to be opened again
 * (a restarted gatekeeper forgets sessions). A gatekeeper that does not answer with a session is
 * not asked again for GKS_SESSION_RETRY_S, so talking to one costs no key generation per request;
 * nor is one opened for that long after two sessions were lost within it (a client whose requests
 * are spread over gatekeepers that do not share sessions keeps verifying signatures instead of
 * re-opening on every other request).
 *
 * THREAD SAFETY: one gks_session per client, shared by every thread; its functions lock it
 * briefly (no I/O under the lock). A gks_session_ticket belongs to one request.
 */
#ifndef GKS_CLIENT_SESSION_H
#define GKS_CLIENT_SESSION_H

#include <stdatomic.h>
#include <stdint.h>

#include "gatekeeper.h"
#include "jwk.h"
#include "msg.h"
#include "session.h"

/* Seconds before trying again to open a session with a gatekeeper that answered without one. */
#define GKS_SESSION_RETRY_S 60

typedef struct gks_session gks_session;

/* What one request carries (gks_session_begin) and needs to check its reply. */
typedef struct gks_session_ticket {
    int in_session;                         /* 1: names sid, key is its MAC key */
    int opening;                            /* 1: carries pub, sk its secret */
    char sid[GKP_SESSION_ID_CHARS + 1];
    char pub[GKP_SESSION_PUB_CHARS + 1];
    uint8_t pk[GKP_SESSION_PUB_BYTES];
    uint8_t sk[GKP_SESSION_PUB_BYTES];
    uint8_t key[GKP_SESSION_KEY_BYTES];
} gks_session_ticket;

/* How many tokens were accepted each way (for tests and diagnostics). */
typedef struct gks_session_counts {
    uint64_t by_mac;       /* on the session MAC */
    uint64_t by_signature; /* on the Ed25519 signature */
    uint64_t opened;       /* sessions opened */
} gks_session_counts;

/* gks_session_new - no session yet. GK_OK or GK_ENOMEM; free with gks_session_free. */
gk_err gks_session_new(gks_session **sp);

/* gks_session_free - wipe the key and release (NULL is ignored). */
void gks_session_free(gks_session *s);

/*
 * gks_session_begin - fill *t for the next request: the open session (in_session), or a fresh
 * key pair to open one (opening), or neither (retry pause). now_s: wall clock, s since the epoch.
 * The request then carries t->sid as "session" or t->pub as "sessionPub".
 */
void gks_session_begin(gks_session *s, int64_t now_s, gks_session_ticket *t);

/*
 * gks_session_finish - after a token reply to a request made with ticket t: verify a session JWS
 * the reply opens (against keys), record the session, and check the reply's MAC. Returns 1 when
 * the token is authenticated by a valid MAC (the caller may skip its signature), 0 when the
 * caller must verify the signature. Wipes the ticket's secrets. Counts nothing: the caller says
 * how the token was accepted with gks_session_count.
 */
int gks_session_finish(gks_session *s, gks_session_ticket *t, const gkp_jwks *keys,
                       const gkp_reply *reply, int64_t now_s);

/* gks_session_count - record that a token was accepted by MAC (by_mac 1) or by signature. */
void gks_session_count(gks_session *s, int by_mac);

/* gks_session_counts_get - the counters so far. */
void gks_session_counts_get(const gks_session *s, gks_session_counts *out);

#endif
