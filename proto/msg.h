/*
 * msg.h - version 1 of the decision protocol: request and reply envelopes on the decision socket
 * (nng REQ/REP). The wire contract is proto/README.md and the JSON Schemas in proto/schemas/.
 *
 *   request  {"v":1,"op":"evaluate","flags":["orders.read_v2"],"context":{"targetingKey":"t-42"},
 *             "nonce":"<16..64 base64url characters, echoed in the token's claims>",
 *             "session":"<session id>" | "sessionPub":"<client X25519 key>"}  (session.h)
 *            {"v":1,"op":"jwks"}
 *   reply    {"v":1,"ok":true,"token":"<JWS compact>"}            (evaluate)
 *            ... ,"mac":"<HMAC of the token>","session":"<session JWS>"} (session.h)
 *            {"v":1,"ok":true,"jwks":{"keys":[...]}}               (jwks)
 *            {"v":1,"ok":false,"errorCode":"PARSE_ERROR","errorDetails":"..."}
 *
 * Parsing is lenient about unknown members (they are ignored) and strict about types: a member of
 * the wrong type is a PARSE_ERROR (INVALID_CONTEXT for the context), never a crash.
 *
 * THREAD SAFETY: every function is reentrant.
 */
#ifndef GKP_MSG_H
#define GKP_MSG_H

#include <stddef.h>

#include <jansson.h>

#include "gatekeeper.h"

/* Protocol version this codec speaks. */
#define GKP_PROTO_VERSION 1
/* Largest request the daemon answers, in bytes; a larger one gets a PARSE_ERROR reply. */
#define GKP_REQUEST_MAX_BYTES (64u * 1024u)
/* Most flag keys one evaluate request may name. */
#define GKP_REQUEST_MAX_FLAGS 1024u
/*
 * Length bounds of an evaluate request's "nonce", in characters of the base64url alphabet
 * (RFC 4648 section 5: A-Z a-z 0-9 - _). The SDK sends 22 (16 random bytes).
 */
#define GKP_NONCE_MIN_CHARS 16u
#define GKP_NONCE_MAX_CHARS 64u

typedef enum gkp_op {
    GKP_OP_EVALUATE = 1,
    GKP_OP_JWKS,
} gkp_op;

/*
 * gkp_request - a decoded request. `root` owns everything; `flags` (an array of strings, possibly
 * empty, NULL when absent), `context` (an object, NULL when absent) and `nonce` (a valid nonce,
 * see gkp_nonce_valid, NULL when absent) are borrowed from it. Release with gkp_request_fini().
 */
typedef struct gkp_request {
    json_t *root;
    gkp_op op;
    const json_t *flags;
    const json_t *context;
    const char *nonce;
    int explain;          /* "explain": true asks for the policies' explain trace */
    const char *session;     /* "session": an open session's id (GKP_SESSION_ID_CHARS), or NULL */
    const char *session_pub; /* "sessionPub": a client's X25519 key opening a session, or NULL */
} gkp_request;

/*
 * gkp_nonce_valid - whether s[0..len) is a valid request nonce: GKP_NONCE_MIN_CHARS to
 * GKP_NONCE_MAX_CHARS characters, all of the base64url alphabet. Returns 1 or 0.
 */
int gkp_nonce_valid(const char *s, size_t len);

/*
 * gkp_request_decode - parse a request of `len` bytes (need not be NUL-terminated).
 * On failure `*code` is the OpenFeature error code for the error reply (PARSE_ERROR for bad JSON,
 * a missing or unsupported "v", an unknown "op", a wrong-typed or oversized "flags", a "nonce"
 * that is not a string of 16..64 base64url characters; INVALID_CONTEXT for a context that is not
 * an object or whose "targetingKey" is not a string) and diag->text the errorDetails to send. req
 * is left empty on failure.
 * Checks run in this order and the first failure is reported: size (at most
 * GKP_REQUEST_MAX_BYTES, checked before parsing), no NUL byte, JSON (diag line/column from
 * jansson), root is an object, "v", "op", then for evaluate "flags", "nonce" and "context". A
 * jwks request ignores every other member. code (optional) is GK_ERROR_NONE on success,
 * GK_ERROR_GENERAL on GK_ENOMEM/GK_EINVAL. diag->text is valid UTF-8 except where jansson quotes raw input bytes;
 * gkp_reply_encode_error() copes with those.
 * Returns GK_OK, GK_EPROTO, GK_ENOMEM, GK_EINVAL (req NULL, or buf NULL with len > 0).
 */
gk_err gkp_request_decode(gkp_request *req, const char *buf, size_t len, gk_error_code *code,
                          gk_diag *diag);

/* gkp_request_fini - release what gkp_request_decode() built (safe on a zeroed or failed req). */
void gkp_request_fini(gkp_request *req);

/*
 * gkp_request_encode_evaluate - build an evaluate request. flags may be NULL (all flags) and is
 * borrowed; context is borrowed (may be NULL); nonce (NUL-terminated, may be NULL for none) is
 * sent as "nonce" for the gatekeeper to echo in the token's claims. outp: malloc'd NUL-terminated
 * JSON, caller frees.
 * Returns GK_OK, GK_EINVAL (flags NULL with nflags > 0, a NULL flag, a nonce gkp_nonce_valid
 * refuses), GK_ENOMEM.
 */
gk_err gkp_request_encode_evaluate(char **outp, size_t *outlen, const char *const *flags,
                                   size_t nflags, const json_t *context, const char *nonce);

/*
 * gkp_request_encode_evaluate_session - gkp_request_encode_evaluate, naming an open session
 * ("session": its id, GKP_SESSION_ID_CHARS of base64url) or opening one ("sessionPub": the
 * client's X25519 public key, GKP_SESSION_PUB_CHARS of base64url); either or both NULL.
 * Returns as gkp_request_encode_evaluate, and GK_EINVAL for an id or key of the wrong shape.
 */
gk_err gkp_request_encode_evaluate_session(char **outp, size_t *outlen, const char *const *flags,
                                           size_t nflags, const json_t *context,
                                           const char *nonce, const char *session,
                                           const char *session_pub);

/*
 * gkp_request_encode_evaluate_text - gkp_request_encode_evaluate_session with the context given
 * as JSON text (context_len bytes of a JSON object, e.g. a gk_context's canonical text; NULL for
 * none), spliced into the request as it is: the caller vouches that it is one JSON object. The
 * request is written directly, without building a JSON tree (the SDK sends one per fresh
 * decision). Returns as gkp_request_encode_evaluate_session.
 */
gk_err gkp_request_encode_evaluate_text(char **outp, size_t *outlen, const char *const *flags,
                                        size_t nflags, const char *context, size_t context_len,
                                        const char *nonce, const char *session,
                                        const char *session_pub);

/*
 * gkp_reply_encode_token - {"v":1,"ok":true,"token":token}; outp malloc'd. GK_OK, GK_ENOMEM.
 * A token of base64url characters and dots (any compact JWS) is copied without escaping work.
 */
gk_err gkp_reply_encode_token(char **outp, size_t *outlen, const char *token, size_t toklen);

/* Where the token starts in a token reply: after {"v":1,"ok":true,"token":" (26 bytes). */
#define GKP_REPLY_TOKEN_AT 26u

/*
 * gkp_reply_token_size - the bytes (NUL included) of a token reply to a toklen-character token
 * of base64url and dots, with room for the "mac" member when with_mac is not 0: the buffer
 * gkp_reply_token_finish completes.
 */
size_t gkp_reply_token_size(size_t toklen, int with_mac);

/*
 * gkp_reply_token_finish - complete the token reply in `out` (gkp_reply_token_size(toklen,
 * mac != NULL) bytes) whose token the caller has written at out + GKP_REPLY_TOKEN_AT, so that it
 * can be signed in place: writes the text before the token, and after it the "mac" member when
 * mac is not NULL (GKP_SESSION_MAC_CHARS characters of base64url, as gkp_session_mac writes
 * them), the end and a NUL. The token must be base64url and dots (any compact JWS): it is not
 * escaped. The result is byte for byte what gkp_reply_encode_token, then gkp_reply_add_session
 * with that mac and no session JWS, make.
 * Returns the reply's length without the NUL. Thread safety: safe; out belongs to the caller.
 */
size_t gkp_reply_token_finish(char *out, size_t toklen, const char *mac);

/*
 * gkp_reply_encode_token_explain - {"v":1,"ok":true,"token":token,"explain":explain}: a token
 * reply with the policies' explain trace beside the token (not signed: it explains, it does not
 * decide). explain is borrowed: [{"key": flag, "trace": [verdicts]}]. GK_OK, GK_EINVAL, GK_ENOMEM.
 */
gk_err gkp_reply_encode_token_explain(char **outp, size_t *outlen, const char *token,
                                      size_t toklen, const json_t *explain);

/*
 * gkp_reply_add_session - add "mac" (the session MAC of the token, GKP_SESSION_MAC_CHARS of
 * base64url) and, when not NULL, "session" (a session JWS: base64url and dots) to a token reply
 * *replyp of *replylen bytes made by gkp_reply_encode_token or _explain; *replyp is reallocated.
 * Returns GK_OK, GK_EINVAL (not such a reply, or a member of the wrong shape), GK_ENOMEM (the
 * reply is left as it was).
 */
gk_err gkp_reply_add_session(char **replyp, size_t *replylen, const char *mac,
                             const char *session_jws);

/* gkp_reply_encode_jwks - {"v":1,"ok":true,"jwks":jwks}; jwks borrowed. GK_OK, GK_ENOMEM. */
gk_err gkp_reply_encode_jwks(char **outp, size_t *outlen, const json_t *jwks);

/*
 * gkp_reply_encode_error - {"v":1,"ok":false,"errorCode":...,"errorDetails":details}.
 * details is copied (NULL means ""); bytes that are not valid UTF-8 become '?'. outp malloc'd.
 * GK_OK, GK_ENOMEM.
 */
gk_err gkp_reply_encode_error(char **outp, size_t *outlen, gk_error_code code, const char *details);

/*
 * gkp_reply - a decoded reply: on ok, `token` (evaluate) or `jwks` (jwks) borrowed from root or
 * text; on an error reply, error_code and error_details (borrowed). Strings are NUL-terminated.
 * Release with gkp_reply_fini().
 */
typedef struct gkp_reply {
    json_t *root;
    char *text;             /* the strings of a plain token reply (see gkp_reply_decode), or NULL */
    int ok;
    const char *token;
    size_t token_len;
    const json_t *jwks;
    gk_error_code error_code;
    const char *error_details;
    const json_t *explain;  /* token replies to an explain request, else NULL */
    const char *mac;        /* token replies in a session: the token's MAC, else NULL */
    size_t mac_len;
    const char *session;    /* token replies opening a session: the session JWS, else NULL */
    size_t session_len;
} gkp_reply;

/*
 * gkp_reply_decode - parse a reply. A well-formed error reply is GK_OK with ok == 0.
 * A token reply in exactly the form this codec writes ({"v":1,"ok":true,"token":...} with
 * optional "mac" and "session", every value base64url and dots) is read without a JSON parser
 * (root NULL, the strings in a copy of buf). Anything else goes through jansson, as lenient about
 * member order and unknown members as the protocol is.
 * Returns GK_OK, GK_EPROTO (not a v1 reply: diag says what), GK_ENOMEM.
 */
gk_err gkp_reply_decode(gkp_reply *reply, const char *buf, size_t len, gk_diag *diag);

/* gkp_reply_fini - release a decoded reply (safe on a zeroed or failed reply). */
void gkp_reply_fini(gkp_reply *reply);

#endif
