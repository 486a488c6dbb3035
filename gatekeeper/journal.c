/*
 * journal.c - the hash-chained, signed, append-only journal (see journal.h).
 *
 * The file is read through a small line reader over pread(2), so a journal of any length is
 * verified with one line in memory at a time, and the same code serves the daemon (which holds
 * the data directory's lock) and the offline verifier (which holds nothing and stops at the size
 * the file had when it started).
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "b64url.h"
#include "jws.h"
#include "log.h"
#include "vocab.h"

/* How records are parsed: duplicate members are refused (the canonical form has none). */
#define LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct gkd_journal {
    int fd;                                /* O_RDWR | O_APPEND */
    int broken;                            /* an fsync failed: refuse appends */
    uint64_t seq;                          /* seq of the last record */
    uint64_t size;                         /* bytes of verified or acknowledged records */
    const gkp_jwks *trusted;               /* borrowed */
    char head[GKD_JOURNAL_HASH_HEX_BYTES]; /* hash of the last record */
    char dir[PATH_MAX];
    char path[PATH_MAX];
};

/* ---------------------------------------------------------------------------------------------
 * Reading lines with pread(2), up to a fixed limit.
 */

typedef struct line_reader {
    int fd;
    uint64_t limit; /* never read at or past this offset */
    uint64_t pos;   /* file offset of buf[0] */
    char *buf;
    size_t cap;
    size_t len;   /* bytes in buf */
    size_t start; /* the next line starts at buf[start] */
    int eof;      /* everything up to limit is in buf */
} line_reader;

typedef struct line {
    const char *text; /* without the newline; valid until the next reader call */
    size_t len;
    uint64_t offset; /* file offset of the line's first byte */
    uint64_t end;    /* file offset after the line (and its newline) */
    int complete;    /* ends in a newline */
} text_line;

static void
reader_init(line_reader *r, int fd, uint64_t start, uint64_t limit)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->pos = start;
    r->limit = limit;
}

static void
reader_fini(line_reader *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* Read more bytes after buf[len]: 0 when some were read or the end was reached, -1 on error. */
static gk_err
reader_fill(line_reader *r, const char *source, gk_diag *diag)
{
    uint64_t at;
    size_t want;
    ssize_t n;

    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->pos += r->start;
        r->start = 0;
    }
    if (r->len == r->cap) {
        size_t cap = r->cap == 0 ? 64 * 1024 : r->cap * 2;
        char *buf;

        if (r->cap >= GKD_JOURNAL_LINE_MAX_BYTES) {
            return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                "a line at offset %" PRIu64 " is longer than %u bytes", r->pos,
                                GKD_JOURNAL_LINE_MAX_BYTES);
        }
        buf = realloc(r->buf, cap);
        if (buf == NULL) {
            return GK_ENOMEM;
        }
        r->buf = buf;
        r->cap = cap;
    }
    at = r->pos + r->len;
    if (at >= r->limit) {
        r->eof = 1;
        return GK_OK;
    }
    want = r->cap - r->len;
    if ((uint64_t) want > r->limit - at) {
        want = (size_t) (r->limit - at);
    }
    do {
        n = pread(r->fd, r->buf + r->len, want, (off_t) at);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return gkp_diag_set(diag, GK_EIO, source, 0, "cannot read: %s", strerror(errno));
    }
    if (n == 0) {
        r->eof = 1; /* the file is shorter than the limit (truncated behind our back) */
    }
    r->len += (size_t) n;
    return GK_OK;
}

/* The next line into *ln: GK_OK with ln->text set, or GK_OK with ln->text NULL at the end. */
static gk_err
reader_next(line_reader *r, text_line *ln, const char *source, gk_diag *diag)
{
    gk_err rv;

    ln->text = NULL;
    for (;;) {
        char *nl = r->len > r->start ? memchr(r->buf + r->start, '\n', r->len - r->start) : NULL;

        if (nl != NULL) {
            ln->text = r->buf + r->start;
            ln->len = (size_t) (nl - ln->text);
            ln->offset = r->pos + r->start;
            ln->complete = 1;
            r->start = (size_t) (nl - r->buf) + 1;
            ln->end = r->pos + r->start;
            return GK_OK;
        }
        if (r->eof) {
            if (r->start < r->len) {
                ln->text = r->buf + r->start;
                ln->len = r->len - r->start;
                ln->offset = r->pos + r->start;
                ln->complete = 0;
                r->start = r->len;
                ln->end = r->pos + r->start;
            }
            return GK_OK;
        }
        rv = reader_fill(r, source, diag);
        if (rv != GK_OK) {
            return rv;
        }
    }
}

/* 1 when nothing follows the line last returned. Moves the buffer: call after using the line. */
static gk_err
reader_at_end(line_reader *r, int *at_end, const char *source, gk_diag *diag)
{
    while (r->start == r->len && !r->eof) {
        gk_err rv = reader_fill(r, source, diag);
        if (rv != GK_OK) {
            return rv;
        }
    }
    *at_end = r->start == r->len;
    return GK_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Hashes and seals.
 */

static int
is_hash_hex(const char *s, size_t len)
{
    if (s == NULL || len != 64) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/*
 * json_dump_callback sinks. The canonical text of a record is streamed to where it goes (the hash,
 * a comparison with the line read, the file) instead of being built as one string first: jansson
 * writes the same bytes either way (json_dumps is json_dump_callback into a growing buffer).
 */

static int
hash_part(const char *buf, size_t len, void *arg)
{
    crypto_hash_sha256_update(arg, (const unsigned char *) buf, len);
    return 0;
}

typedef struct same_text {
    const char *text; /* the line as read */
    size_t len;
    size_t off;  /* bytes matched so far */
    int differs; /* a part did not match: the dump was stopped */
} same_text;

static int
compare_part(const char *buf, size_t len, void *arg)
{
    same_text *c = arg;

    if (len > c->len - c->off || memcmp(c->text + c->off, buf, len) != 0) {
        c->differs = 1;
        return -1;
    }
    c->off += len;
    return 0;
}

gk_err
gkd_journal_hash(char hex[GKD_JOURNAL_HASH_HEX_BYTES], const json_t *obj)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    json_t *body;
    int failed;

    if (!json_is_object(obj)) {
        return GK_EINVAL;
    }
    /* A shallow copy: the members are shared, only the three seal members are left out. */
    body = json_copy((json_t *) (uintptr_t) obj);
    if (body == NULL) {
        return GK_ENOMEM;
    }
    json_object_del(body, "hash");
    json_object_del(body, "kid");
    json_object_del(body, "sig");
    /* Streamed into the hash: a 10,000-flag bootstrap record is never held as one string. */
    crypto_hash_sha256_init(&st);
    failed = json_dump_callback(body, hash_part, &st, GKD_JOURNAL_CANONICAL);
    json_decref(body);
    if (failed != 0) {
        return GK_ENOMEM;
    }
    crypto_hash_sha256_final(&st, digest);
    sodium_bin2hex(hex, GKD_JOURNAL_HASH_HEX_BYTES, digest, sizeof(digest));
    return GK_OK;
}

gk_err
gkd_journal_seal(json_t *obj, const gkd_signer *signer)
{
    char hex[GKD_JOURNAL_HASH_HEX_BYTES];
    const char *kid = gkd_signer_kid(signer);
    char *token = NULL;
    size_t toklen = 0;
    gk_err rv;

    if (!json_is_object(obj) || kid == NULL) {
        return GK_EINVAL;
    }
    rv = gkd_journal_hash(hex, obj);
    if (rv != GK_OK) {
        return rv;
    }
    rv = gkd_signer_sign(signer, hex, 64, &token, &toklen);
    if (rv != GK_OK) {
        return rv;
    }
    if (json_object_set_new(obj, "hash", json_string(hex)) != 0 ||
        json_object_set_new(obj, "kid", json_string(kid)) != 0 ||
        json_object_set_new(obj, "sig", json_stringn(token, toklen)) != 0) {
        rv = GK_ENOMEM;
    }
    free(token);
    return rv;
}

/* The "kid" of a JWS compact's protected header, into kid (NUL-terminated); 0 or -1. */
static int
jws_header_kid(const char *token, size_t toklen, char kid[GKP_KID_MAX])
{
    const char *dot = memchr(token, '.', toklen);
    uint8_t header[1024];
    size_t hlen = 0;
    json_t *doc;
    const json_t *k;
    int ok = 0;

    if (dot == NULL ||
        gkp_b64url_decode(header, sizeof(header), &hlen, token, (size_t) (dot - token)) != GK_OK) {
        return -1;
    }
    doc = json_loadb((const char *) header, hlen, JSON_REJECT_DUPLICATES, NULL);
    k = json_object_get(doc, "kid");
    if (json_is_string(k) && json_string_length(k) < GKP_KID_MAX) {
        memcpy(kid, json_string_value(k), json_string_length(k) + 1);
        ok = 1;
    }
    json_decref(doc);
    return ok ? 0 : -1;
}

gk_err
gkd_journal_check_seal(const json_t *obj, const gkp_jwks *trusted, gk_diag *diag)
{
    char hex[GKD_JOURNAL_HASH_HEX_BYTES];
    char header_kid[GKP_KID_MAX];
    const json_t *hash = json_object_get(obj, "hash");
    const json_t *kid = json_object_get(obj, "kid");
    const json_t *sig = json_object_get(obj, "sig");
    uint8_t *payload = NULL;
    size_t plen = 0;
    gk_diag jd = {0};
    gk_err rv;

    if (!json_is_string(hash) || !is_hash_hex(json_string_value(hash), json_string_length(hash))) {
        return gkp_diag_set(diag, GK_EPROTO, NULL, 0, "\"hash\" is not 64 lowercase hex digits");
    }
    rv = gkd_journal_hash(hex, obj);
    if (rv != GK_OK) {
        return rv;
    }
    if (memcmp(hex, json_string_value(hash), 64) != 0) {
        return gkp_diag_set(diag, GK_EPROTO, NULL, 0, "hash mismatch");
    }
    if (!json_is_string(kid) || !json_is_string(sig)) {
        return gkp_diag_set(diag, GK_EPROTO, NULL, 0, "no \"kid\" and \"sig\" strings");
    }
    rv = gkp_jws_verify(json_string_value(sig), json_string_length(sig), trusted, &payload, &plen,
                        &jd);
    if (rv == GK_ENOMEM) {
        return rv;
    }
    if (rv != GK_OK) {
        return gkp_diag_set(diag, GK_EBADSIG, NULL, 0, "signature does not verify (%s)", jd.text);
    }
    if (plen != 64 || memcmp(payload, hex, 64) != 0) {
        rv = gkp_diag_set(diag, GK_EBADSIG, NULL, 0,
                          "signature does not verify (it signs something other than the hash)");
    } else if (jws_header_kid(json_string_value(sig), json_string_length(sig), header_kid) != 0 ||
               strlen(header_kid) != json_string_length(kid) ||
               strcmp(header_kid, json_string_value(kid)) != 0) {
        rv = gkp_diag_set(diag, GK_EBADSIG, NULL, 0,
                          "signature does not verify (its key is not the record's \"kid\")");
    }
    free(payload);
    return rv;
}

/* ---------------------------------------------------------------------------------------------
 * Checking one record.
 */

/* Prefix a check's reason with where it is, keeping its code. */
static gk_err
fail_record(gk_diag *diag, gk_err code, const char *source, uint64_t lineno, const char *reason)
{
    return gkp_diag_set(diag, code, source, lineno > INT_MAX ? 0 : (int) lineno,
                        "record %" PRIu64 " (line %" PRIu64 "): %s", lineno, lineno, reason);
}

static int
has_type(const json_t *rec, const char *name, int string, int null_ok)
{
    const json_t *v = json_object_get(rec, name);

    if (v == NULL) {
        return 0;
    }
    if (null_ok && json_is_null(v)) {
        return 1;
    }
    return string ? json_is_string(v) : 1;
}

/*
 * Check the record parsed from `ln` (line `lineno`), which must follow a record chain ending at
 * seq lineno-1 with hash `prev`.
 */
static gk_err
check_record(const json_t *rec, const text_line *ln, uint64_t lineno, const char *prev,
             const gkp_jwks *trusted, const char *source, gk_diag *diag)
{
    static const char *const strings[] = {"time", "actor", "op", "prev", "hash", "kid", "sig"};
    const json_t *seq = json_object_get(rec, "seq");
    const json_t *p;
    char reason[160];
    gk_diag sd = {0};
    same_text cmp;
    gk_err rv;

    if (!json_is_integer(seq)) {
        return gkp_diag_set(diag, GK_EPROTO, source, lineno > INT_MAX ? 0 : (int) lineno,
                            "line %" PRIu64 ": no \"seq\" number", lineno);
    }
    if (json_integer_value(seq) != (json_int_t) lineno) {
        snprintf(reason, sizeof(reason),
                 "seq is %" JSON_INTEGER_FORMAT " (a record is missing or out of order)",
                 json_integer_value(seq));
        return fail_record(diag, GK_EPROTO, source, lineno, reason);
    }
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        if (!has_type(rec, strings[i], 1, 0)) {
            snprintf(reason, sizeof(reason), "no \"%s\" string", strings[i]);
            return fail_record(diag, GK_EPROTO, source, lineno, reason);
        }
    }
    if (!has_type(rec, "why", 1, 1) || !has_type(rec, "request", 1, 1) ||
        !has_type(rec, "verdicts", 0, 1) || !json_is_object(json_object_get(rec, "args")) ||
        !json_is_array(json_object_get(rec, "changes"))) {
        return fail_record(diag, GK_EPROTO, source, lineno,
                           "\"why\", \"request\", \"verdicts\", \"args\" or \"changes\" is missing "
                           "or of the wrong type");
    }
    p = json_object_get(rec, "prev");
    if (json_string_length(p) != 64 || memcmp(json_string_value(p), prev, 64) != 0) {
        if (lineno == 1) {
            return fail_record(diag, GK_EPROTO, source, lineno,
                               "prev is not 64 zeros (the first record has no predecessor)");
        }
        snprintf(reason, sizeof(reason), "prev does not match record %" PRIu64, lineno - 1);
        return fail_record(diag, GK_EPROTO, source, lineno, reason);
    }
    rv = gkd_journal_check_seal(rec, trusted, &sd);
    if (rv == GK_ENOMEM) {
        return rv;
    }
    if (rv != GK_OK) {
        return fail_record(diag, rv, source, lineno, sd.text);
    }
    /* Any other spelling of the same value (an escape, a letter's case in \u00e9) is an edit. */
    cmp = (same_text){.text = ln->text, .len = ln->len};
    if (json_dump_callback(rec, compare_part, &cmp, GKD_JOURNAL_CANONICAL) != 0 && !cmp.differs) {
        return GK_ENOMEM;
    }
    if (cmp.differs || cmp.off != ln->len) {
        return fail_record(diag, GK_EPROTO, source, lineno,
                           "the line is not the record's canonical JSON (it was edited)");
    }
    return GK_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Scanning a whole file.
 */

typedef struct scan_state {
    uint64_t records;                      /* records that verified */
    char head[GKD_JOURNAL_HASH_HEX_BYTES]; /* hash of the last one */
    uint64_t good_end;                     /* offset after the last verified line */
    uint64_t file_end;                     /* the scan's limit */
    int torn;                              /* bytes after good_end are a torn last line */
    int bad;                               /* the scan stopped at a bad record at good_end */
} scan_state;

static gk_err
parse_failure(gk_diag *diag, const char *source, uint64_t lineno, const json_error_t *jerr)
{
    return gkp_diag_set(diag, GK_EPROTO, source, lineno > INT_MAX ? 0 : (int) lineno,
                        "line %" PRIu64 ": not a JSON object (column %d: %.80s)", lineno,
                        jerr->column, jerr->text);
}

/*
 * Verify records from the start of `fd` up to `limit` bytes. A last line without a newline is
 * torn; so is a last line that does not parse when unparseable_is_torn. apply (may be NULL) sees
 * each verified record.
 */
static gk_err
scan_file(int fd, uint64_t limit, const char *source, const gkp_jwks *trusted,
          int unparseable_is_torn, gk_err (*apply)(const json_t *, void *), void *arg,
          scan_state *st, gk_diag *diag)
{
    line_reader r;
    text_line ln;
    gk_err rv = GK_OK;

    memset(st, 0, sizeof(*st));
    memcpy(st->head, ZERO_HASH, sizeof(st->head));
    st->file_end = limit;
    reader_init(&r, fd, 0, limit);
    for (;;) {
        uint64_t lineno = st->records + 1;
        json_error_t jerr;
        json_t *rec;

        rv = reader_next(&r, &ln, source, diag);
        if (rv != GK_OK || ln.text == NULL) {
            break;
        }
        if (!ln.complete) {
            st->torn = 1;
            break;
        }
        rec = json_loadb(ln.text, ln.len, LOAD_FLAGS, &jerr);
        if (!json_is_object(rec)) {
            int at_end = 0;

            json_decref(rec);
            if (rec != NULL) {
                snprintf(jerr.text, sizeof(jerr.text), "not an object");
                jerr.column = 1;
            }
            if (unparseable_is_torn) {
                rv = reader_at_end(&r, &at_end, source, diag);
                if (rv != GK_OK) {
                    break;
                }
            }
            if (at_end) {
                st->torn = 1;
            } else {
                rv = parse_failure(diag, source, lineno, &jerr);
                st->bad = 1;
            }
            break;
        }
        rv = check_record(rec, &ln, lineno, st->head, trusted, source, diag);
        if (rv != GK_OK) {
            st->bad = rv != GK_ENOMEM;
            json_decref(rec);
            break;
        }
        if (apply != NULL) {
            rv = apply(rec, arg);
        }
        if (rv == GK_OK) {
            memcpy(st->head, json_string_value(json_object_get(rec, "hash")), 64);
            st->records = lineno;
            st->good_end = ln.end;
        }
        json_decref(rec);
        if (rv != GK_OK) {
            break;
        }
    }
    reader_fini(&r);
    return rv;
}

/* ---------------------------------------------------------------------------------------------
 * Files and directories.
 */

static gk_err
fsync_dir(const char *dir, gk_diag *diag)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ok;

    if (fd < 0) {
        return gkp_diag_set(diag, GK_EIO, dir, 0, "cannot open the directory: %s", strerror(errno));
    }
    ok = fsync(fd) == 0;
    if (!ok) {
        int err = errno;
        close(fd);
        return gkp_diag_set(diag, GK_EIO, dir, 0, "cannot fsync the directory: %s", strerror(err));
    }
    close(fd);
    return GK_OK;
}

static gk_err
write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EIO;
            }
            return GK_EIO;
        }
        buf += n;
        len -= (size_t) n;
    }
    return GK_OK;
}

/* Copy bytes [from, to) of the journal into a new DIR/journal.cut-<unix time>[.N], durably. */
static gk_err
save_cut(const gkd_journal *j, uint64_t from, uint64_t to, char *out, size_t outsize, gk_diag *diag)
{
    long long now = (long long) time(NULL);
    char buf[64 * 1024];
    int fd = -1;
    gk_err rv = GK_OK;

    for (int n = 0; fd < 0 && n < 100; n++) {
        int w = n == 0 ? snprintf(out, outsize, "%s/journal.cut-%lld", j->dir, now)
                       : snprintf(out, outsize, "%s/journal.cut-%lld.%d", j->dir, now, n);
        if (w < 0 || (size_t) w >= outsize) {
            return gkp_diag_set(diag, GK_EIO, j->path, 0, "the data directory's path is too long");
        }
        fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) {
            return gkp_diag_set(diag, GK_EIO, out, 0, "cannot create: %s", strerror(errno));
        }
    }
    if (fd < 0) {
        return gkp_diag_set(diag, GK_EIO, out, 0, "cannot create: too many cut files this second");
    }
    while (from < to && rv == GK_OK) {
        size_t want = to - from < sizeof(buf) ? (size_t) (to - from) : sizeof(buf);
        ssize_t n = pread(j->fd, buf, want, (off_t) from);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rv = gkp_diag_set(diag, GK_EIO, j->path, 0, "cannot read: %s",
                              n == 0 ? "file shrank" : strerror(errno));
            break;
        }
        if (write_all(fd, buf, (size_t) n) != GK_OK) {
            rv = gkp_diag_set(diag, GK_EIO, out, 0, "cannot write: %s", strerror(errno));
            break;
        }
        from += (uint64_t) n;
    }
    if (rv == GK_OK && fsync(fd) != 0) {
        rv = gkp_diag_set(diag, GK_EIO, out, 0, "cannot fsync: %s", strerror(errno));
    }
    close(fd);
    if (rv == GK_OK) {
        rv = fsync_dir(j->dir, diag);
    }
    if (rv != GK_OK) {
        unlink(out);
    }
    return rv;
}

/* Cut the journal to `size` bytes, durably. */
static gk_err
cut_to(gkd_journal *j, uint64_t size, gk_diag *diag)
{
    if (ftruncate(j->fd, (off_t) size) != 0 || fsync(j->fd) != 0) {
        return gkp_diag_set(diag, GK_EIO, j->path, 0, "cannot cut the journal back: %s",
                            strerror(errno));
    }
    return GK_OK;
}

static gk_err
open_file(gkd_journal *j, gk_diag *diag)
{
    j->fd = open(j->path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (j->fd < 0 && errno == ENOENT) {
        j->fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (j->fd >= 0) {
            /* The new name must survive a crash as well as the records written to it. */
            if (fsync(j->fd) != 0) {
                return gkp_diag_set(diag, GK_EIO, j->path, 0, "cannot fsync: %s", strerror(errno));
            }
            return fsync_dir(j->dir, diag);
        }
    }
    if (j->fd < 0) {
        return gkp_diag_set(diag, GK_EIO, j->path, 0, "cannot open the journal: %s",
                            strerror(errno));
    }
    return GK_OK;
}

gk_err
gkd_journal_open(gkd_journal **jp, const char *dir, const gkp_jwks *trusted, int recover,
                 gk_err (*apply)(const json_t *record, void *arg), void *arg, gk_diag *diag)
{
    gkd_journal *j;
    scan_state st;
    struct stat sb;
    gk_diag sd = {0};
    gk_err rv;
    int n;

    if (jp == NULL || dir == NULL || trusted == NULL) {
        return GK_EINVAL;
    }
    *jp = NULL;
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return GK_ENOMEM;
    }
    j->fd = -1;
    j->trusted = trusted;
    n = snprintf(j->path, sizeof(j->path), "%s/%s", dir, GKD_JOURNAL_FILE);
    if (n < 0 || (size_t) n >= sizeof(j->path)) {
        free(j);
        return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "the data directory's path is too long");
    }
    memcpy(j->dir, dir, strlen(dir) + 1);
    rv = open_file(j, diag);
    if (rv != GK_OK) {
        goto fail;
    }
    if (fstat(j->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rv = gkp_diag_set(diag, GK_EIO, j->path, 0, "the journal is not a regular file");
        goto fail;
    }
    rv = scan_file(j->fd, (uint64_t) sb.st_size, j->path, trusted, 1, apply, arg, &st, &sd);
    if (rv != GK_OK && !(st.bad && recover)) {
        if (sd.code != GK_OK) {
            gkp_diag_set(diag, sd.code, sd.source, sd.line, "%s", sd.text);
        }
        goto fail;
    }
    if (rv != GK_OK) {
        char cut[PATH_MAX];

        rv = save_cut(j, st.good_end, st.file_end, cut, sizeof(cut), diag);
        if (rv == GK_OK) {
            rv = cut_to(j, st.good_end, diag);
        }
        if (rv != GK_OK) {
            goto fail;
        }
        gkd_log(GKD_LOG_WARN,
                "journal %s: %s; recovered: cut back to record %" PRIu64 ", the %" PRIu64
                " bytes cut are kept in %s",
                j->path, sd.text, st.records, st.file_end - st.good_end, cut);
    } else if (st.torn) {
        rv = cut_to(j, st.good_end, diag);
        if (rv != GK_OK) {
            goto fail;
        }
        gkd_log(GKD_LOG_WARN,
                "journal %s: cut a torn last line (%" PRIu64 " bytes at offset %" PRIu64
                ", an append interrupted by a crash; it was never acknowledged)",
                j->path, st.file_end - st.good_end, st.good_end);
    }
    j->seq = st.records;
    j->size = st.good_end;
    memcpy(j->head, st.head, sizeof(j->head));
    *jp = j;
    return GK_OK;
fail:
    gkd_journal_close(j);
    return rv;
}

void
gkd_journal_close(gkd_journal *j)
{
    if (j == NULL) {
        return;
    }
    if (j->fd >= 0) {
        close(j->fd);
    }
    free(j);
}

uint64_t
gkd_journal_seq(const gkd_journal *j)
{
    return j->seq;
}

const char *
gkd_journal_head(const gkd_journal *j)
{
    return j->head;
}

/* ---------------------------------------------------------------------------------------------
 * Making and appending records.
 */

static json_t *
string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/*
 * The changes, each a new object with "before" and "after" (null when missing). The definitions
 * are shared, not copied (json_copy is shallow): a bootstrap of 10,000 flags would otherwise be
 * copied whole into every record. Nothing modifies a committed definition (store.h).
 */
static gk_err
copy_changes(json_t **outp, const json_t *changes, gk_diag *diag)
{
    json_t *out;
    size_t i;
    const json_t *c;

    if (!json_is_array(changes)) {
        return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "\"changes\" must be an array");
    }
    out = json_array();
    if (out == NULL) {
        return GK_ENOMEM;
    }
    json_array_foreach (changes, i, c) {
        json_t *change;

        if (!json_is_object(c) || !json_is_string(json_object_get(c, "kind")) ||
            !json_is_string(json_object_get(c, "key"))) {
            json_decref(out);
            return gkp_diag_set(diag, GK_EINVAL, NULL, 0,
                                "change %zu must be an object with \"kind\" and \"key\" strings",
                                i + 1);
        }
        change = json_copy((json_t *) (uintptr_t) c);
        if (change == NULL || json_array_append_new(out, change) != 0 ||
            (json_object_get(change, "before") == NULL &&
             json_object_set_new(change, "before", json_null()) != 0) ||
            (json_object_get(change, "after") == NULL &&
             json_object_set_new(change, "after", json_null()) != 0)) {
            json_decref(out);
            return GK_ENOMEM;
        }
    }
    *outp = out;
    return GK_OK;
}

static void
format_time(char out[64])
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 64 - n, ".%03dZ", (int) ((ts.tv_nsec / 1000000L) % 1000));
}

/* Set obj[name] = value (stolen); a NULL value means the value could not be made. */
static int
set_member(json_t *obj, const char *name, json_t *value)
{
    return value == NULL || json_object_set_new(obj, name, value) != 0 ? -1 : 0;
}

gk_err
gkd_journal_record_new(json_t **recordp, const gkd_journal *j, const gkd_store_change *change,
                       const gkd_signer *signer, gk_diag *diag)
{
    char now[64];
    json_t *rec = NULL, *changes = NULL;
    gk_err rv;

    if (recordp == NULL || j == NULL || change == NULL || signer == NULL) {
        return GK_EINVAL;
    }
    *recordp = NULL;
    if (change->actor == NULL || change->actor[0] == '\0' || change->op == NULL ||
        change->op[0] == '\0') {
        return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "a change needs an actor and an op");
    }
    if (change->args != NULL && !json_is_object(change->args)) {
        return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "\"args\" must be an object");
    }
    rv = copy_changes(&changes, change->changes, diag);
    if (rv != GK_OK) {
        return rv;
    }
    format_time(now);
    rec = json_object();
    if (rec == NULL || set_member(rec, "seq", json_integer((json_int_t) (j->seq + 1))) != 0 ||
        set_member(rec, "time", json_string(now)) != 0 ||
        set_member(rec, "prev", json_string(j->head)) != 0) {
        rv = GK_ENOMEM;
        goto fail;
    }
    if (set_member(rec, "actor", json_string(change->actor)) != 0 ||
        set_member(rec, "op", json_string(change->op)) != 0 ||
        set_member(rec, "why", string_or_null(change->why)) != 0 ||
        set_member(rec, "request", string_or_null(change->request)) != 0) {
        /* json_string refuses text that is not UTF-8 (the likelier cause than memory). */
        rv = gkp_diag_set(diag, GK_EINVAL, NULL, 0,
                          "\"actor\", \"op\", \"why\" and \"request\" must be UTF-8 text");
        goto fail;
    }
    if (set_member(rec, "args",
                   change->args != NULL ? json_deep_copy(change->args) : json_object()) != 0 ||
        set_member(rec, "verdicts",
                   change->verdicts != NULL ? json_deep_copy(change->verdicts) : json_null()) !=
            0 ||
        json_object_set(rec, "changes", changes) != 0) {
        rv = GK_ENOMEM;
        goto fail;
    }
    rv = gkd_journal_seal(rec, signer);
    if (rv != GK_OK) {
        goto fail;
    }
    json_decref(changes);
    *recordp = rec;
    return GK_OK;
fail:
    json_decref(changes);
    json_decref(rec);
    return rv;
}

/* Bytes gathered before each write(2) while a record is streamed to the journal. */
#define APPEND_CHUNK_BYTES (64u * 1024u)

/* Where gkd_journal_append streams a record: a buffer written out whenever it is full. */
typedef struct line_writer {
    int fd;
    char *buf; /* APPEND_CHUNK_BYTES */
    size_t used;
    size_t total;  /* bytes of the line so far */
    int err;       /* errno of a failed write, or 0 */
    int too_long;  /* the line would pass GKD_JOURNAL_LINE_MAX_BYTES */
} line_writer;

static int
writer_flush(line_writer *w)
{
    if (w->used > 0 && write_all(w->fd, w->buf, w->used) != GK_OK) {
        w->err = errno != 0 ? errno : EIO;
        return -1;
    }
    w->used = 0;
    return 0;
}

static int
write_part(const char *buf, size_t len, void *arg)
{
    line_writer *w = arg;

    w->total += len;
    if (w->total + 1 > GKD_JOURNAL_LINE_MAX_BYTES) {
        w->too_long = 1;
        return -1;
    }
    while (len > 0) {
        size_t n = APPEND_CHUNK_BYTES - w->used;

        if (n == 0) {
            if (writer_flush(w) != 0) {
                return -1;
            }
            continue;
        }
        n = n < len ? n : len;
        memcpy(w->buf + w->used, buf, n);
        w->used += n;
        buf += n;
        len -= n;
    }
    return 0;
}

gk_err
gkd_journal_append(gkd_journal *j, const json_t *record, gk_diag *diag)
{
    const json_t *seq = json_object_get(record, "seq");
    const json_t *prev = json_object_get(record, "prev");
    const json_t *hash = json_object_get(record, "hash");
    line_writer w = {0};
    int failed;

    if (j == NULL || !json_is_integer(seq) ||
        json_integer_value(seq) != (json_int_t) (j->seq + 1) || !json_is_string(prev) ||
        strcmp(json_string_value(prev), j->head) != 0 || !json_is_string(hash) ||
        json_string_length(hash) != 64) {
        return gkp_diag_set(diag, GK_EINVAL, NULL, 0,
                            "the record does not follow the journal's last record");
    }
    if (j->broken) {
        return gkp_diag_set(diag, GK_EIO, j->path, 0,
                            "an earlier fsync of the journal failed; restart the gatekeeper (it "
                            "verifies the journal at start)");
    }
    /*
     * The canonical text is streamed to the file in APPEND_CHUNK_BYTES writes, so a record is
     * never held whole as a string (a 10,000-flag bootstrap record is megabytes). A usual record
     * fits in one chunk and so is still one write(2). Whatever reached the file of a line that
     * did not complete is truncated away below, as for a failed write.
     */
    w.fd = j->fd;
    w.buf = malloc(APPEND_CHUNK_BYTES);
    if (w.buf == NULL) {
        return GK_ENOMEM;
    }
    failed = json_dump_callback(record, write_part, &w, GKD_JOURNAL_CANONICAL);
    if (failed == 0) {
        failed = write_part("\n", 1, &w) != 0 || writer_flush(&w) != 0;
    }
    free(w.buf);
    if (failed) {
        /* Take back whatever part of the line reached the file, so the next append is whole. */
        if (ftruncate(j->fd, (off_t) j->size) != 0) {
            j->broken = 1;
        }
        if (w.too_long) {
            return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "the record is longer than %u bytes",
                                GKD_JOURNAL_LINE_MAX_BYTES);
        }
        if (w.err == 0) {
            return GK_ENOMEM;
        }
        return gkp_diag_set(diag, GK_EIO, j->path, 0, "cannot append record %" PRIu64 ": %s",
                            j->seq + 1, strerror(w.err));
    }
    if (fsync(j->fd) != 0) {
        int err = errno;
        /*
         * After a failed fsync the kernel may have dropped the dirty pages and marked them clean:
         * what the file holds is no longer known. Take the line back and stop appending.
         */
        if (ftruncate(j->fd, (off_t) j->size) == 0) {
            (void) fsync(j->fd);
        }
        j->broken = 1;
        return gkp_diag_set(diag, GK_EIO, j->path, 0, "cannot fsync record %" PRIu64 ": %s",
                            j->seq + 1, strerror(err));
    }
    j->size += w.total;
    j->seq++;
    memcpy(j->head, json_string_value(hash), 64);
    return GK_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reading back.
 */

gk_err
gkd_journal_iterate(const gkd_journal *j, uint64_t from, int (*fn)(const json_t *record, void *arg),
                    void *arg, gk_diag *diag)
{
    line_reader r;
    text_line ln;
    uint64_t lineno = 0;
    gk_err rv;

    if (j == NULL || fn == NULL) {
        return GK_EINVAL;
    }
    reader_init(&r, j->fd, 0, j->size);
    for (;;) {
        json_error_t jerr;
        json_t *rec;
        int stop;

        rv = reader_next(&r, &ln, j->path, diag);
        if (rv != GK_OK || ln.text == NULL) {
            break;
        }
        lineno++;
        if (lineno < from) {
            continue; /* line N holds record N */
        }
        rec = json_loadb(ln.text, ln.len, LOAD_FLAGS, &jerr);
        if (!json_is_object(rec)) {
            json_decref(rec);
            rv = parse_failure(diag, j->path, lineno, &jerr);
            break;
        }
        stop = fn(rec, arg);
        json_decref(rec);
        if (stop) {
            break;
        }
    }
    reader_fini(&r);
    return rv;
}

gk_err
gkd_journal_verify(const gkd_journal *j, uint64_t *recordsp, gk_diag *diag)
{
    scan_state st;
    struct stat sb;
    gk_err rv;

    if (recordsp != NULL) {
        *recordsp = 0;
    }
    if (j == NULL) {
        return GK_EINVAL;
    }
    if (fstat(j->fd, &sb) != 0) {
        return gkp_diag_set(diag, GK_EIO, j->path, 0, "cannot stat: %s", strerror(errno));
    }
    rv = scan_file(j->fd, (uint64_t) sb.st_size, j->path, j->trusted, 0, NULL, NULL, &st, diag);
    if (recordsp != NULL) {
        *recordsp = st.records;
    }
    if (rv != GK_OK) {
        return rv;
    }
    if (st.torn) {
        return gkp_diag_set(diag, GK_EPROTO, j->path, 0,
                            "line %" PRIu64 ": %" PRIu64 " bytes without a newline after the last "
                            "record",
                            st.records + 1, st.file_end - st.good_end);
    }
    if (st.records != j->seq || memcmp(st.head, j->head, 64) != 0) {
        return gkp_diag_set(diag, GK_EPROTO, j->path, 0,
                            "the journal ends at record %" PRIu64
                            " but the gatekeeper wrote %" PRIu64
                            " (the file was changed behind its back)",
                            st.records, j->seq);
    }
    return GK_OK;
}

gk_err
gkd_journal_verify_file(const char *path, const gkp_jwks *trusted, uint64_t *records,
                        char head_hash[GKD_JOURNAL_HASH_HEX_BYTES], gk_diag *diag)
{
    char file[PATH_MAX];
    struct stat sb;
    scan_state st;
    gk_err rv;
    int fd;

    if (records != NULL) {
        *records = 0;
    }
    if (head_hash != NULL) {
        memcpy(head_hash, ZERO_HASH, GKD_JOURNAL_HASH_HEX_BYTES);
    }
    if (path == NULL || trusted == NULL) {
        return GK_EINVAL;
    }
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        int n = snprintf(file, sizeof(file), "%s/%s", path, GKD_JOURNAL_FILE);
        if (n < 0 || (size_t) n >= sizeof(file)) {
            return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "the path is too long");
        }
    } else {
        int n = snprintf(file, sizeof(file), "%s", path);
        if (n < 0 || (size_t) n >= sizeof(file)) {
            return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "the path is too long");
        }
    }
    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return gkp_diag_set(diag, errno == ENOENT ? GK_ENOENT : GK_EIO, file, 0,
                            "cannot open the journal: %s", strerror(errno));
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return gkp_diag_set(diag, GK_EIO, file, 0, "the journal is not a regular file");
    }
    /* Stop at today's size: an append in progress is left for the next run. */
    rv = scan_file(fd, (uint64_t) sb.st_size, file, trusted, 0, NULL, NULL, &st, diag);
    close(fd);
    if (records != NULL) {
        *records = st.records;
    }
    if (head_hash != NULL) {
        memcpy(head_hash, st.head, GKD_JOURNAL_HASH_HEX_BYTES);
    }
    return rv;
}
