/*
 * sessions.h - the gatekeeper's side of decision sessions (proto/session.h): a bounded table of
 * the sessions clients opened, each a random id and the key the gatekeeper MACs its tokens with.
 *
 * The table has a fixed number of slots (memory is bounded whatever clients do); a session lives
 * in the slot its id hashes to and a new session may take the slot of an older one, whose client
 * then gets tokens without a MAC, checks their signatures and opens a new session. Nothing is
 * persisted: after a restart every client re-opens. Ids are 16 random bytes chosen here, so a
 * client cannot name, or overwrite, another client's session.
 *
 * THREAD SAFETY: every function may be called from any number of threads at once (one mutex per
 * 64 slots); gkd_sessions_free only once nobody else uses the table.
 */
#ifndef GKD_SESSIONS_H
#define GKD_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "gatekeeper.h"
#include "session.h"

/* Slots in the table (56 bytes each) and how long a session lasts, in seconds. */
#define GKD_SESSIONS_SLOTS 16384u
#define GKD_SESSIONS_TTL_S 3600u

typedef struct gkd_sessions gkd_sessions;

/* gkd_sessions_new - an empty table (about 0.9 MiB); free with gkd_sessions_free. GK_ENOMEM. */
gk_err gkd_sessions_new(gkd_sessions **sp);

/* gkd_sessions_free - wipe every key and release (NULL is ignored). */
void gkd_sessions_free(gkd_sessions *s);

/*
 * gkd_sessions_open - open a session for a client's X25519 public key `cpub`: a fresh key pair
 * for the gatekeeper, the session keys by crypto_kx_server_session_keys (libsodium: X25519, then
 * BLAKE2b-512 over the shared point and both public keys), and a random id.
 * sid   out: the id in base64url (GKP_SESSION_ID_CHARS + 1 bytes, NUL-terminated)
 * spub  out: the gatekeeper's session public key in base64url (GKP_SESSION_PUB_CHARS + 1)
 * key   out: the key to MAC this session's tokens with (the server's transmit key)
 * now_s the wall clock (s since the epoch); the session lasts GKD_SESSIONS_TTL_S from it.
 * Returns GK_OK, GK_EPROTO (cpub is not a usable public key: a low-order point).
 */
gk_err gkd_sessions_open(gkd_sessions *s, const uint8_t cpub[GKP_SESSION_PUB_BYTES],
                         int64_t now_s, char sid[GKP_SESSION_ID_CHARS + 1],
                         char spub[GKP_SESSION_PUB_CHARS + 1],
                         uint8_t key[GKP_SESSION_KEY_BYTES]);

/*
 * gkd_sessions_key - the MAC key of session `sid` (base64url text, GKP_SESSION_ID_CHARS) into
 * key. Returns 1 when the session is open and unexpired at now_s, 0 otherwise (unknown, taken
 * over by a newer session, expired: the client will re-open).
 */
int gkd_sessions_key(gkd_sessions *s, const char *sid, int64_t now_s,
                     uint8_t key[GKP_SESSION_KEY_BYTES]);

#endif
