/*
 * journal.h - the hash-chained, signed, append-only journal file DIR/journal.jsonl: the audit log
 * of the data-directory store (store_dir.c). One record per line, in the format of store.h:
 *
 *   - every line is the canonical JSON of its record (jansson JSON_COMPACT | JSON_SORT_KEYS |
 *     JSON_ENSURE_ASCII) followed by '\n'; line N holds the record with seq N;
 *   - "hash" is the lowercase hex SHA-256 of the canonical JSON of the record without "hash",
 *     "kid" and "sig"; "prev" is the hash of the record before (64 zeros for seq 1);
 *   - "sig" is a JWS compact (alg EdDSA) whose payload is exactly the 64 hash characters, signed
 *     by the gatekeeper key named by "kid" (the JWS header's kid must be the same).
 *
 * Verification checks, line by line and in this order, and stops at the first failure: the line
 * is a JSON object; seq is the next number; the members have their types; prev is the hash of the
 * record before; hash is right; the signature verifies against a trusted key; the line is
 * byte for byte the canonical form (so no edit that keeps the parsed value, such as an escape
 * written another way, goes unnoticed). A failure names the record and its line:
 * "record 12 (line 12): hash mismatch", or only the line when no record can be read from it:
 * "line 7: not a JSON object".
 *
 * A torn last line (bytes after the last newline, or a last line that does not parse) is what a
 * crash in the middle of an append leaves; it was never acknowledged, so gkd_journal_open cuts it
 * away (ftruncate) with a warning in the log. Anything else is corruption or tampering.
 *
 * THREAD SAFETY: a gkd_journal is used by one thread at a time. gkd_journal_verify_file and the
 * hash/seal functions are reentrant and take no lock, so an offline verifier may read a journal
 * that a running gatekeeper appends to (it stops at the size the file had when it started).
 */
#ifndef GKD_JOURNAL_H
#define GKD_JOURNAL_H

#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"
#include "jwk.h"
#include "signer.h"
#include "store.h"

/* A SHA-256 in lowercase hex plus the NUL. */
#define GKD_JOURNAL_HASH_HEX_BYTES 65

/* Longest journal line accepted, newline included (the actor's request is at most 1 MiB). */
#define GKD_JOURNAL_LINE_MAX_BYTES (16u * 1024u * 1024u)

/* The journal's file name inside the data directory. */
#define GKD_JOURNAL_FILE "journal.jsonl"

typedef struct gkd_journal gkd_journal;

/* The canonical JSON flags of store.h. */
#define GKD_JOURNAL_CANONICAL (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII)

/*
 * gkd_journal_open - open (creating it, mode 0600, and fsyncing `dir` when it is new) the journal
 * DIR/journal.jsonl for appending, and verify every record in it.
 * trusted  keys whose signatures are accepted; borrowed, must outlive the journal.
 * recover  0: a bad record stops the open; 1: the journal is cut back to the last record that
 *          verifies, the cut bytes are kept in DIR/journal.cut-<unix time> and a warning is logged.
 * apply    called with each verified record in order (borrowed for the call; may be NULL); a
 *          status other than GK_OK stops the open and is returned. With recover=1 it sees only the
 *          records that are kept.
 * A torn last line is always cut away with a warning. The caller must hold the data directory's
 * lock: nothing else may write the file.
 * Returns GK_OK, GK_EPROTO / GK_EBADSIG (diag names the first bad record or line), GK_EIO (diag
 * names the file and the errno text), GK_ENOMEM, GK_EINVAL.
 */
gk_err gkd_journal_open(gkd_journal **jp, const char *dir, const gkp_jwks *trusted, int recover,
                        gk_err (*apply)(const json_t *record, void *arg), void *arg, gk_diag *diag);

/* gkd_journal_close - close the file and free the handle (NULL is ignored). */
void gkd_journal_close(gkd_journal *j);

/* gkd_journal_seq - seq of the last record (0 for an empty journal). */
uint64_t gkd_journal_seq(const gkd_journal *j);

/* gkd_journal_head - hash of the last record (64 zeros when empty); borrowed until the next append.
 */
const char *gkd_journal_head(const gkd_journal *j);

/*
 * gkd_journal_record_new - build the next record (seq = gkd_journal_seq + 1, prev = the head) from
 * `change`, timestamped now (RFC 3339 UTC with milliseconds), hashed and signed by `signer`.
 * "why", "verdicts" and "request" are null when absent; "args" is {} when NULL; every change gets
 * "before" and "after" (null when missing). "args" and "verdicts" are deep-copied; each change is
 * a new object, but its "before" and "after" definitions are shared with the caller's (a
 * reference, not a copy), so they must not be modified afterwards (store.h: committed
 * definitions are never modified, only replaced).
 * recordp  out: a new reference, the caller's.
 * Returns GK_OK, GK_EINVAL (diag says which member is wrong: actor and op must be non-empty
 * strings, args an object, changes an array of objects with a "kind" string and a "key" string),
 * GK_ENOMEM.
 */
gk_err gkd_journal_record_new(json_t **recordp, const gkd_journal *j,
                              const gkd_store_change *change, const gkd_signer *signer,
                              gk_diag *diag);

/*
 * gkd_journal_append - write `record` (from gkd_journal_record_new) as one line and fsync(2) it;
 * the record is durable when GK_OK is returned. The canonical text is streamed to the file in
 * 64 KiB write(2)s, never built as one string (a usual record is a single write). On failure the
 * bytes that did reach the file are truncated away and the journal does not advance. After an
 * fsync failure the journal refuses further appends (the page cache can no longer be trusted):
 * reopen it to verify.
 * Returns GK_OK, GK_EINVAL (seq or prev do not follow the head, or the line would be longer than
 * GKD_JOURNAL_LINE_MAX_BYTES), GK_EIO, GK_ENOMEM.
 */
gk_err gkd_journal_append(gkd_journal *j, const json_t *record, gk_diag *diag);

/*
 * gkd_journal_iterate - call fn(record, arg) for each record with seq >= from, reading the file
 * (records are not kept in memory); fn returns non-zero to stop. Records are borrowed for the call.
 * Records are parsed, not verified (gkd_journal_open did that). Returns GK_OK, GK_EPROTO (a line
 * does not parse), GK_EIO, GK_ENOMEM.
 */
gk_err gkd_journal_iterate(const gkd_journal *j, uint64_t from,
                           int (*fn)(const json_t *record, void *arg), void *arg, gk_diag *diag);

/*
 * gkd_journal_verify - verify the whole file again, and that it still ends at the record this
 * handle last wrote. recordsp (optional) gets the number of records verified.
 * Returns GK_OK, GK_EPROTO / GK_EBADSIG naming the first bad record, GK_EIO, GK_ENOMEM.
 */
gk_err gkd_journal_verify(const gkd_journal *j, uint64_t *recordsp, gk_diag *diag);

/*
 * gkd_journal_verify_file - verify a journal offline, read-only and without the data directory's
 * lock (a running gatekeeper may hold it): for `gkctl audit verify`.
 * path       the journal file, or a data directory (then DIR/journal.jsonl).
 * trusted    the keys to accept (the gatekeeper's JWKS, with retired keys); borrowed.
 * records    optional out: the number of records that verified (on failure: before the bad one).
 * head_hash  optional out: the hash of the last record that verified (64 zeros if none).
 * Bytes after the last newline are not counted (an append in progress, or a torn line the
 * gatekeeper cuts at its next start); a last line that ends in a newline but does not parse is
 * reported.
 * Returns GK_OK, GK_EPROTO / GK_EBADSIG naming the first bad record, GK_ENOENT, GK_EIO, GK_ENOMEM,
 * GK_EINVAL.
 */
GK_WARN_UNUSED gk_err gkd_journal_verify_file(const char *path, const gkp_jwks *trusted,
                                              uint64_t *records,
                                              char head_hash[GKD_JOURNAL_HASH_HEX_BYTES],
                                              gk_diag *diag);

/*
 * gkd_journal_hash - the lowercase hex SHA-256 of the canonical JSON of `obj` (an object) without
 * its "hash", "kid" and "sig" members. Returns GK_OK, GK_EINVAL, GK_ENOMEM.
 */
gk_err gkd_journal_hash(char hex[GKD_JOURNAL_HASH_HEX_BYTES], const json_t *obj);

/*
 * gkd_journal_seal - set "hash" (gkd_journal_hash), "kid" and "sig" (gkd_signer_sign over the hash
 * hex) on `obj`. Records and the store's snapshots are sealed this way.
 * Returns GK_OK, GK_EINVAL (not an object, empty signer), GK_ENOMEM.
 */
gk_err gkd_journal_seal(json_t *obj, const gkd_signer *signer);

/*
 * gkd_journal_check_seal - check what gkd_journal_seal set: "hash" is 64 lowercase hex digits and
 * right, "sig" verifies against `trusted` with the payload "hash" and a header kid equal to "kid".
 * diag text: "hash mismatch", "signature does not verify", "signed by key K, which is not
 * trusted", ...
 * Returns GK_OK, GK_EPROTO (missing or wrong hash), GK_EBADSIG (signature), GK_ENOMEM.
 */
GK_WARN_UNUSED gk_err gkd_journal_check_seal(const json_t *obj, const gkp_jwks *trusted,
                                             gk_diag *diag);

#endif
