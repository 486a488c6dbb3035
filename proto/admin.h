/*
 * admin.h - version 1 of the admin protocol: signed change requests from actors (release managers,
 * reviewers, automation) to the gatekeeper's admin socket (nng REQ/REP, default
 * tcp://127.0.0.1:7401), and the replies. The wire contract is the "Admin protocol" part of
 * proto/README.md.
 *
 *   request  {"v":1,"request":"<JWS compact>"}
 *            JWS protected header {"alg":"EdDSA","kid":"<actor id>","typ":"gk-admin+jwt"};
 *            payload {"op":"rollout.set","args":{...},"why":"canary","iat":1763740000,
 *                     "jti":"<16..64 base64url chars>","base":41}
 *            ("why" and "base" optional: the policies require a why for changes; "base" is the
 *            state version the change was computed from, for optimistic concurrency)
 *   reply    {"v":1,"ok":true,"version":42,"result":{...}}
 *            {"v":1,"ok":false,"error":"DENIED","message":"...","details":{...}}
 *
 * The actor signs with its own Ed25519 key (RFC 7515 compact JWS, alg EdDSA per RFC 8037); the
 * gatekeeper verifies it against the actors file, refuses an iat outside GKP_ADMIN_IAT_WINDOW_S of
 * its clock and a jti it has already seen within that window.
 *
 * THREAD SAFETY: every function is reentrant.
 */
#ifndef GKP_ADMIN_H
#define GKP_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"
#include "jwk.h"

/* How far an admin request's iat may be from the gatekeeper's clock, in seconds (either way). */
#define GKP_ADMIN_IAT_WINDOW_S 300
/* Largest admin request, in bytes (a flags file applied in one request must fit). */
#define GKP_ADMIN_REQUEST_MAX_BYTES (1024u * 1024u)
/* The JWS "typ" of an admin request. */
#define GKP_ADMIN_TYP "gk-admin+jwt"

/*
 * gkp_admin_error - why an admin request was refused. Wire names are the enumerator names
 * without the prefix ("DENIED"); gkctl exits with gkp_admin_exit_code(). Append only.
 *   INVALID_REQUEST   not a v1 admin request, unknown op, bad arguments (exit 2)
 *   UNAUTHENTICATED   unknown actor, bad signature, wrong alg/typ (exit 5)
 *   STALE_REQUEST     iat outside the window: check the clock, sign again (exit 5)
 *   REPLAYED          a jti already used: sign a new request (exit 5)
 *   DENIED            a policy denied: details.verdicts lists every deny (exit 3)
 *   CONFLICT          the state moved since "base": details.base and details.current (exit 4)
 *   NOT_FOUND         no such flag / record (exit 6)
 *   INTERNAL          the gatekeeper could not record the change; nothing was applied (exit 1)
 */
typedef enum gkp_admin_error {
    GKP_ADMIN_OK = 0,
    GKP_ADMIN_INVALID_REQUEST,
    GKP_ADMIN_UNAUTHENTICATED,
    GKP_ADMIN_STALE_REQUEST,
    GKP_ADMIN_REPLAYED,
    GKP_ADMIN_DENIED,
    GKP_ADMIN_CONFLICT,
    GKP_ADMIN_NOT_FOUND,
    GKP_ADMIN_INTERNAL,
} gkp_admin_error;

/* gkp_admin_error_name - "DENIED", ...; "INTERNAL" outside the enum. */
const char *gkp_admin_error_name(gkp_admin_error e);

/* gkp_admin_error_parse - the error named `name`; GKP_ADMIN_INTERNAL for an unknown name. */
gkp_admin_error gkp_admin_error_parse(const char *name);

/* gkp_admin_exit_code - gkctl's exit status for an outcome (0 for GKP_ADMIN_OK; see above). */
int gkp_admin_exit_code(gkp_admin_error e);

/*
 * gkp_admin_request_sign - build a signed admin request envelope.
 * actor_id  the actor's id (the JWS kid); sk the actor's libsodium Ed25519 secret key (only read).
 * op        e.g. "rollout.set"; args an object (borrowed; NULL means {}); why may be NULL.
 * base      the state version the change is based on; 0 means none.
 * now_s     the iat, seconds since the epoch.
 * outp      malloc'd NUL-terminated JSON {"v":1,"request":"..."}; caller frees. A fresh random jti
 *           (16 bytes, base64url) is made for every call.
 * Returns GK_OK, GK_EINVAL, GK_ENOMEM.
 */
gk_err gkp_admin_request_sign(char **outp, size_t *outlen, const char *actor_id,
                              const uint8_t sk[GKP_ED25519_SK_BYTES], const char *op,
                              const json_t *args, const char *why, uint64_t base, int64_t now_s);

/*
 * gkp_admin_request - an admin request as the gatekeeper decodes it, in two steps: open (parse the
 * envelope and read the actor id, without trusting anything), then verify (with that actor's
 * public key) which fills the claims. Everything is owned by the struct; release with
 * gkp_admin_request_fini().
 */
typedef struct gkp_admin_request {
    json_t *envelope;
    char actor[GKP_KID_MAX];    /* the JWS kid: who claims to have signed */
    const char *jws;            /* borrowed from envelope */
    size_t jws_len;
    json_t *claims;             /* after verify: the payload */
    const char *op;             /* after verify: borrowed from claims */
    const json_t *args;         /* after verify: an object, {} when absent */
    const char *why;            /* after verify: NULL when absent */
    const char *jti;            /* after verify */
    int64_t iat;                /* after verify */
    uint64_t base;              /* after verify: 0 when absent */
} gkp_admin_request;

/*
 * gkp_admin_request_open - parse the envelope and the JWS header (alg EdDSA, typ GKP_ADMIN_TYP,
 * kid present). Returns GK_OK, GK_EPROTO (diag says what; reply INVALID_REQUEST or, for a header
 * problem, UNAUTHENTICATED), GK_ENOMEM.
 */
gk_err gkp_admin_request_open(gkp_admin_request *req, const char *buf, size_t len, gk_diag *diag);

/*
 * gkp_admin_request_verify - verify the signature with the actor's public key, then decode and
 * check the payload: op a non-empty string, args an object if present, why a string if present,
 * iat an integer within GKP_ADMIN_IAT_WINDOW_S of now_s, jti 16..64 base64url characters, base a
 * non-negative integer if present.
 * Returns GK_OK, GK_EBADSIG (UNAUTHENTICATED), GK_EEXPIRED (STALE_REQUEST), GK_EPROTO
 * (INVALID_REQUEST), GK_ENOMEM. diag says what.
 */
GK_WARN_UNUSED gk_err gkp_admin_request_verify(gkp_admin_request *req,
                                               const uint8_t pk[GKP_ED25519_PK_BYTES],
                                               int64_t now_s, gk_diag *diag);

/* gkp_admin_request_fini - release what open/verify built (safe on a zeroed struct). */
void gkp_admin_request_fini(gkp_admin_request *req);

/* gkp_admin_reply_encode_ok - {"v":1,"ok":true,"version":version,"result":result (borrowed)}. */
gk_err gkp_admin_reply_encode_ok(char **outp, size_t *outlen, uint64_t version,
                                 const json_t *result);

/*
 * gkp_admin_reply_encode_error - {"v":1,"ok":false,"error":...,"message":...,"details":...};
 * message copied (NULL: ""), details borrowed (NULL: absent).
 */
gk_err gkp_admin_reply_encode_error(char **outp, size_t *outlen, gkp_admin_error error,
                                    const char *message, const json_t *details);

/* A decoded admin reply; borrowed members live in root. Release with gkp_admin_reply_fini(). */
typedef struct gkp_admin_reply {
    json_t *root;
    int ok;
    uint64_t version;
    const json_t *result;       /* ok: the result (may be NULL) */
    gkp_admin_error error;      /* not ok */
    const char *message;        /* not ok */
    const json_t *details;      /* not ok: may be NULL */
} gkp_admin_reply;

/* gkp_admin_reply_decode - GK_OK (also for a well-formed error reply), GK_EPROTO, GK_ENOMEM. */
gk_err gkp_admin_reply_decode(gkp_admin_reply *reply, const char *buf, size_t len, gk_diag *diag);

/* gkp_admin_reply_fini - release a decoded reply (safe on a zeroed struct). */
void gkp_admin_reply_fini(gkp_admin_reply *reply);

#endif
