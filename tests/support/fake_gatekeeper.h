/*
 * fake_gatekeeper.h - an in-process stand-in for the gatekeeper's decision socket, for SDK tests.
 *
 * A thread serves an nng REP socket on ipc:// in a fresh temporary directory and answers evaluate
 * requests with tokens it signs itself (gkp_jws_sign, a key pair from crypto_sign_keypair), from a
 * small table of flags the test sets. Like the daemon, it echoes the request's "nonce" in the
 * claims. A mode makes it misbehave on purpose: forged or tampered tokens, an unknown kid, expired
 * tokens, a wrong or missing nonce, a replayed token, error replies, garbage, or no answer at
 * all. The JWKS holding its public key is written to a file the client can load.
 *
 * A fake publisher (fake_publisher_*) stands in for the daemon's change-event socket: an nng PUB
 * socket on ipc:// in a directory of the test's (the fake gatekeeper's temp dir, say) that sends
 * change events, well-formed or not, when the test says.
 *
 * Needs nng at link time (the sdk_* test executables link nng::nng).
 * THREAD SAFETY: every function may be called from the test thread while the server runs;
 * fake_gatekeeper_free must be the last call.
 */
#ifndef FAKE_GATEKEEPER_H
#define FAKE_GATEKEEPER_H

#include <stddef.h>
#include <stdint.h>

#include "gatekeeper.h"

typedef enum fake_gatekeeper_mode {
    FAKE_GK_OK = 0,      /* well-formed tokens */
    FAKE_GK_FORGED,      /* signed by another key under the trusted kid */
    FAKE_GK_TAMPERED,    /* payload changed after signing */
    FAKE_GK_UNKNOWN_KID, /* signed with the right key under a kid the JWKS does not hold */
    FAKE_GK_EXPIRED,     /* exp in the past */
    FAKE_GK_ERROR_REPLY, /* {"ok":false,"errorCode":<error_code>} */
    FAKE_GK_GARBAGE,     /* a reply that is not JSON */
    FAKE_GK_SILENT,      /* receive requests and never answer */
    FAKE_GK_NONCE_WRONG, /* well-formed tokens whose nonce is not the request's */
    FAKE_GK_NONCE_NONE,  /* well-formed tokens without a nonce */
    FAKE_GK_REPLAY,      /* the token signed for the previous request, sent again */
} fake_gatekeeper_mode;

typedef struct fake_gatekeeper fake_gatekeeper;

/* fake_gatekeeper_start - create the temp dir, keys and JWKS file, and start serving. NULL on
 * failure. */
fake_gatekeeper *fake_gatekeeper_start(void);

/* fake_gatekeeper_stop - stop serving and close the socket (the files stay). Idempotent. */
void fake_gatekeeper_stop(fake_gatekeeper *fg);

/* fake_gatekeeper_free - stop, remove the temp dir and free (NULL is ignored). */
void fake_gatekeeper_free(fake_gatekeeper *fg);

/* The URL clients dial and the JWKS file they trust; valid until fake_gatekeeper_free. */
const char *fake_gatekeeper_url(const fake_gatekeeper *fg);
const char *fake_gatekeeper_jwks_path(const fake_gatekeeper *fg);

/* fake_gatekeeper_set_mode - how to answer from now on; error_code is used by ERROR_REPLY. */
void fake_gatekeeper_set_mode(fake_gatekeeper *fg, fake_gatekeeper_mode mode,
                              gk_error_code error_code);

/* fake_gatekeeper_set_lifetime_s - exp = now + seconds for the next tokens (default 300). */
void fake_gatekeeper_set_lifetime_s(fake_gatekeeper *fg, int64_t seconds);

/*
 * fake_gatekeeper_set_flag - add or replace a flag. value_json NULL means no value (use with
 * reason DISABLED or ERROR); variant and rule_id may be NULL. Requests for a flag not in the
 * table are answered with reason ERROR, FLAG_NOT_FOUND.
 */
void fake_gatekeeper_set_flag(fake_gatekeeper *fg, const char *key, const char *value_json,
                              const char *variant, gk_reason reason, const char *rule_id,
                              gk_error_code error_code);

/*
 * fake_gatekeeper_set_stage - make `key` a migration flag answering `stage` (any text, so tests
 * can send a name that is no stage): the string value and variant `stage`, reason
 * TARGETING_MATCH, as the daemon signs a migration flag's decision.
 */
void fake_gatekeeper_set_stage(fake_gatekeeper *fg, const char *key, const char *stage);

/*
 * fake_gatekeeper_set_mask - give flag `key` (set before; set_flag clears it) a mask list of
 * `count` field paths, copied, signed as the entry's "mask"; count 0 removes it.
 */
void fake_gatekeeper_set_mask(fake_gatekeeper *fg, const char *key, const char *const *fields,
                              size_t count);

/* fake_gatekeeper_requests - number of requests received so far. */
unsigned fake_gatekeeper_requests(fake_gatekeeper *fg);

/*
 * fake_gatekeeper_last_nonce - copy the "nonce" of the last evaluate request into buf ("" when it
 * had none or there was none yet; truncated to fit). Returns buf.
 */
char *fake_gatekeeper_last_nonce(fake_gatekeeper *fg, char *buf, size_t size);

/* fake_gatekeeper_snapshot_version - the snapshotVersion put in tokens by default (7). */
uint64_t fake_gatekeeper_snapshot_version(void);

/* fake_gatekeeper_set_snapshot_version - the snapshotVersion of the next tokens. */
void fake_gatekeeper_set_snapshot_version(fake_gatekeeper *fg, uint64_t version);

/* fake_gatekeeper_dir - the fake's temporary directory; valid until fake_gatekeeper_free. */
const char *fake_gatekeeper_dir(const fake_gatekeeper *fg);

/* ---- change-event publisher ------------------------------------------------------------- */

typedef struct fake_publisher fake_publisher;

/*
 * fake_publisher_start - listen with an nng PUB socket on ipc://<dir>/events.sock. NULL on
 * failure. Free it before removing `dir` (fake_gatekeeper_free removes the fake's).
 */
fake_publisher *fake_publisher_start(const char *dir);

/* fake_publisher_free - close the socket, remove the socket file and free (NULL is ignored). */
void fake_publisher_free(fake_publisher *fp);

/* The URL subscribers dial; valid until fake_publisher_free. */
const char *fake_publisher_url(const fake_publisher *fp);

/*
 * fake_publisher_wait_subscribers - wait until at least n subscribers have connected (ever), at
 * most timeout_ms. Returns 0 when they have, -1 on timeout. A message sent after that reaches
 * them (PUB drops messages for subscribers not yet connected).
 */
int fake_publisher_wait_subscribers(fake_publisher *fp, unsigned n, int timeout_ms);

/* fake_publisher_send - publish `text` as it is (any bytes, for malformed events). 0 or -1. */
int fake_publisher_send(fake_publisher *fp, const char *text);

/*
 * fake_publisher_send_change - publish {"v":1,"event":"change","version":V,"flags":[...]};
 * flags NULL leaves the member out, nflags 0 with flags not NULL sends []. 0 or -1.
 */
int fake_publisher_send_change(fake_publisher *fp, uint64_t version, const char *const *flags,
                               size_t nflags);

#endif
