/*
 * store_dir.c - the data-directory store backend (store.h): the state is what the journal's
 * records say (journal.c), rebuilt at open from the newest snapshot that checks out plus the
 * records after it.
 *
 *   DIR/LOCK                 flock(2)ed while a gatekeeper uses DIR; holds its pid as text
 *   DIR/journal.jsonl        the records, one per line: the audit log and the source of truth
 *   DIR/snapshot-<seq>.json  the state after record <seq>, every 100 records (newest two kept)
 *   DIR/journal.cut-<time>   bytes cut away by --recover-journal, kept for inspection
 *
 * A snapshot is {"seq": N, "record": "<hash of record N>", "state": {...}} sealed like a record
 * (gkd_journal_seal: "hash", "kid", "sig"). It is only a shortcut: it is used when its seal
 * verifies and the journal's record N has the hash it names; otherwise it is ignored with a
 * warning, and the state comes from an older snapshot or from replaying the whole journal. Open
 * verifies the whole journal either way.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "journal.h"
#include "log.h"
#include "store.h"
#include "vocab.h"

/* A snapshot is written after every record whose seq is a multiple of this. */
#define SNAPSHOT_EVERY 100
/* At most this many snapshots are read at open (the newest ones). */
#define SNAPSHOT_CANDIDATES_MAX 4
/* The path of a file in the data directory fits in PATH_MAX with this much room for its name. */
#define NAME_ROOM 64

typedef struct watcher {
    void (*fn)(const json_t *record, void *arg);
    void *arg;
} watcher;

typedef struct dir_store {
    gkd_store base;
    char dir[PATH_MAX];
    int lock_fd;
    const gkd_signer *signer; /* borrowed */
    gkp_jwks *trusted;        /* ours: the caller's set is borrowed for the open only */
    gkd_journal *journal;
    json_t *state; /* {"flags":{},"schemas":{},"consumers":{}} at version gkd_journal_seq */
    watcher *watchers;
    size_t nwatchers;
} dir_store;

typedef struct candidate {
    uint64_t seq;
    char record[GKD_JOURNAL_HASH_HEX_BYTES];
    json_t *state;
    int seen;      /* the journal has record seq */
    int confirmed; /* ... with the hash this snapshot names */
} candidate;

/* What replaying the journal at open needs. */
typedef struct replay {
    dir_store *s;
    candidate *cands;
    size_t ncands;
    uint64_t base; /* records after this seq are applied to s->state */
    gk_err rv;     /* for the iterate callback */
    gk_diag *diag;
} replay;

static const gkd_store_ops dir_ops;

/* DIR/name into out (PATH_MAX bytes); the open checked that DIR leaves room for any name of ours.
 */
static void
path_in(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

    if (n < 0 || n >= PATH_MAX) {
        out[0] = '\0';
    }
}

/* DIR/snapshot-<seq>.json into out (PATH_MAX bytes). */
static void
snapshot_path(char *out, const char *dir, uint64_t seq)
{
    char name[NAME_ROOM];

    snprintf(name, sizeof(name), "snapshot-%" PRIu64 ".json", seq);
    path_in(out, dir, name);
}

/* ---------------------------------------------------------------------------------------------
 * State.
 */

/* The state's member for a change kind, or NULL for an unknown kind. */
static const char *
kind_member(const char *kind)
{
    if (strcmp(kind, "flag") == 0) {
        return "flags";
    }
    if (strcmp(kind, "schema") == 0) {
        return "schemas";
    }
    if (strcmp(kind, "consumer") == 0) {
        return "consumers";
    }
    return NULL;
}

static json_t *
empty_state(void)
{
    return json_pack("{s:{}, s:{}, s:{}}", "flags", "schemas", "consumers");
}

static int
state_is_valid(const json_t *state)
{
    return json_is_object(state) && json_is_object(json_object_get(state, "flags")) &&
           json_is_object(json_object_get(state, "schemas")) &&
           json_is_object(json_object_get(state, "consumers"));
}

/* Check the kinds of a change list before anything is written. */
static gk_err
check_changes(const json_t *changes, gk_diag *diag)
{
    size_t i;
    const json_t *c;

    if (!json_is_array(changes)) {
        return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "\"changes\" must be an array");
    }
    json_array_foreach (changes, i, c) {
        const char *kind = json_string_value(json_object_get(c, "kind"));
        const json_t *after = json_object_get(c, "after");

        if (kind == NULL || kind_member(kind) == NULL ||
            !json_is_string(json_object_get(c, "key"))) {
            return gkp_diag_set(diag, GK_EINVAL, NULL, 0,
                                "change %zu: \"kind\" must be \"flag\", \"schema\" or "
                                "\"consumer\", and \"key\" a string",
                                i + 1);
        }
        if (after != NULL && !json_is_object(after) && !json_is_null(after)) {
            return gkp_diag_set(diag, GK_EINVAL, NULL, 0,
                                "change %zu: \"after\" must be an object or null", i + 1);
        }
    }
    return GK_OK;
}

/*
 * Apply a record's changes to `state` in place: state[kind][key] = after (a reference: the
 * definition is shared with the record, never copied), or removed when after is null. When `cow`
 * is set the maps touched are first replaced by shallow copies, so a state that shares them (the
 * one before a commit, which the daemon's snapshot may be reading) is left as it was. Definitions
 * are never modified once committed, only replaced, so sharing them is safe (store.h).
 */
static gk_err
apply_changes(json_t *state, const json_t *changes, uint64_t seq, int cow, gk_diag *diag)
{
    int copied[3] = {0, 0, 0};
    static const char *const members[3] = {"flags", "schemas", "consumers"};
    size_t i;
    const json_t *c;

    json_array_foreach (changes, i, c) {
        const char *kind = json_string_value(json_object_get(c, "kind"));
        const char *key = json_string_value(json_object_get(c, "key"));
        const json_t *after = json_object_get(c, "after");
        const char *member = kind != NULL ? kind_member(kind) : NULL;
        json_t *map;

        if (member == NULL || key == NULL) {
            return gkp_diag_set(
                diag, GK_EPROTO, NULL, 0,
                "record %" PRIu64 ": change %zu has no known \"kind\" or no \"key\"", seq, i + 1);
        }
        for (int m = 0; cow && m < 3; m++) {
            if (!copied[m] && strcmp(members[m], member) == 0) {
                json_t *copy = json_copy(json_object_get(state, member));
                if (copy == NULL || json_object_set_new(state, member, copy) != 0) {
                    return GK_ENOMEM;
                }
                copied[m] = 1;
            }
        }
        map = json_object_get(state, member);
        if (after == NULL || json_is_null(after)) {
            json_object_del(map, key);
        } else if (json_object_set(map, key, (json_t *) (uintptr_t) after) != 0) {
            return GK_ENOMEM;
        }
    }
    return GK_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The directory and its lock.
 */

static gk_err
fsync_dir(const char *dir, gk_diag *diag)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    gk_err rv = GK_OK;

    if (fd < 0 || fsync(fd) != 0) {
        rv = gkp_diag_set(diag, GK_EIO, dir, 0, "cannot fsync the directory: %s", strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
    return rv;
}

/* mkdir -p with mode 0700 for what is created; the parent of each new directory is fsynced. */
static gk_err
make_dir(const char *dir, gk_diag *diag)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    struct stat sb;

    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0') {
            continue;
        }
        path[i] = '\0';
        if (mkdir(path, 0700) == 0) {
            char *slash = strrchr(path, '/');
            gk_err rv;

            if (slash == path) {
                rv = fsync_dir("/", diag);
            } else if (slash != NULL) {
                *slash = '\0';
                rv = fsync_dir(path, diag);
                *slash = '/';
            } else {
                rv = fsync_dir(".", diag);
            }
            if (rv != GK_OK) {
                return rv;
            }
        } else if (errno != EEXIST) {
            return gkp_diag_set(diag, GK_EIO, path, 0, "cannot create the data directory: %s",
                                strerror(errno));
        }
        path[i] = dir[i];
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        return gkp_diag_set(diag, GK_EIO, dir, 0, "the data directory is not a directory");
    }
    return GK_OK;
}

static gk_err
take_lock(dir_store *s, gk_diag *diag)
{
    char path[PATH_MAX];
    char text[32];
    int fd, n;

    path_in(path, s->dir, "LOCK");
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return gkp_diag_set(diag, GK_EIO, path, 0, "cannot open the lock file: %s",
                            strerror(errno));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        ssize_t got;
        long pid = 0;

        if (err != EWOULDBLOCK) {
            close(fd);
            return gkp_diag_set(diag, GK_EIO, path, 0, "cannot lock: %s", strerror(err));
        }
        got = pread(fd, text, sizeof(text) - 1, 0);
        close(fd);
        text[got > 0 ? got : 0] = '\0';
        pid = strtol(text, NULL, 10);
        if (pid > 0) {
            return gkp_diag_set(diag, GK_EADDRINUSE, path, 0,
                                "data directory %s is in use by another gatekeeper (pid %ld); stop "
                                "it or use another --data-dir",
                                s->dir, pid);
        }
        return gkp_diag_set(diag, GK_EADDRINUSE, path, 0,
                            "data directory %s is in use by another gatekeeper (pid unknown); "
                            "stop it or use another --data-dir",
                            s->dir);
    }
    n = snprintf(text, sizeof(text), "%ld\n", (long) getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t) n, 0) != n) {
        int err = errno;
        close(fd);
        return gkp_diag_set(diag, GK_EIO, path, 0, "cannot write the lock file: %s", strerror(err));
    }
    s->lock_fd = fd;
    return GK_OK;
}

/* Our copy of `trusted`, plus the signer's signing key (so our own records always verify). */
static gk_err
copy_trusted(dir_store *s, const gkp_jwks *trusted, gk_diag *diag)
{
    const char *kid = gkd_signer_kid(s->signer);
    json_t *doc = NULL;
    gkp_jwks *ring = NULL;
    const uint8_t *pk;
    gk_err rv;

    if (kid == NULL) {
        return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "the signer holds no key");
    }
    if (trusted != NULL && gkp_jwks_count(trusted) > 0) {
        doc = gkp_jwks_to_json(trusted);
        rv = doc != NULL ? gkp_jwks_parse(&s->trusted, doc, "trusted keys", diag) : GK_ENOMEM;
        json_decref(doc);
    } else {
        rv = gkp_jwks_new(&s->trusted);
    }
    if (rv != GK_OK) {
        return rv;
    }
    doc = gkd_signer_jwks(s->signer);
    rv = doc != NULL ? gkp_jwks_parse(&ring, doc, "signing keys", diag) : GK_ENOMEM;
    json_decref(doc);
    if (rv != GK_OK) {
        return rv;
    }
    pk = gkp_jwks_find(ring, kid, strlen(kid));
    if (pk != NULL && gkp_jwks_find(s->trusted, kid, strlen(kid)) == NULL) {
        rv = gkp_jwks_add(s->trusted, kid, pk);
    }
    gkp_jwks_free(ring);
    return rv;
}

/* ---------------------------------------------------------------------------------------------
 * Snapshots.
 */

/* seq of a "snapshot-<seq>.json" name, or 0 for any other name. */
static uint64_t
snapshot_name_seq(const char *name)
{
    static const char prefix[] = "snapshot-";
    const char *p = name + sizeof(prefix) - 1;
    uint64_t seq = 0;

    if (strncmp(name, prefix, sizeof(prefix) - 1) != 0 || *p < '1' || *p > '9') {
        return 0;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        if (seq > (UINT64_MAX - 9) / 10) {
            return 0;
        }
        seq = seq * 10 + (uint64_t) (*p - '0');
    }
    return strcmp(p, ".json") == 0 ? seq : 0;
}

static int
cmp_seq_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * The seqs of the snapshots in DIR, newest first, into a malloc'd array; leftover temporary files
 * of an interrupted snapshot write are removed.
 */
static gk_err
list_snapshots(const char *dir, uint64_t **seqsp, size_t *np, gk_diag *diag)
{
    DIR *d = opendir(dir);
    uint64_t *seqs = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;

    *seqsp = NULL;
    *np = 0;
    if (d == NULL) {
        return gkp_diag_set(diag, GK_EIO, dir, 0, "cannot read the data directory: %s",
                            strerror(errno));
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        uint64_t seq = snapshot_name_seq(e->d_name);

        if (strncmp(e->d_name, "snapshot-", 9) == 0 && len > 4 &&
            strcmp(e->d_name + len - 4, ".tmp") == 0) {
            char path[PATH_MAX];
            path_in(path, dir, e->d_name);
            unlink(path);
            continue;
        }
        if (seq == 0) {
            continue;
        }
        if (n == cap) {
            uint64_t *more = realloc(seqs, (cap = cap ? cap * 2 : 8) * sizeof(*seqs));
            if (more == NULL) {
                free(seqs);
                closedir(d);
                return GK_ENOMEM;
            }
            seqs = more;
        }
        seqs[n++] = seq;
    }
    closedir(d);
    if (n > 0) {
        qsort(seqs, n, sizeof(*seqs), cmp_seq_desc);
    }
    *seqsp = seqs;
    *np = n;
    return GK_OK;
}

/* Read and check snapshot `seq`: its shape and its seal. The reason goes to `why` on failure. */
static gk_err
read_snapshot(dir_store *s, uint64_t seq, candidate *c, gk_diag *why)
{
    char path[PATH_MAX];
    json_error_t jerr;
    json_t *doc;
    const json_t *rec;
    gk_err rv;

    snapshot_path(path, s->dir, seq);
    doc = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return gkp_diag_set(why, GK_EPROTO, NULL, 0, "not a JSON object (line %d: %.80s)",
                            jerr.line, doc != NULL ? "not an object" : jerr.text);
    }
    rec = json_object_get(doc, "record");
    if (!json_is_integer(json_object_get(doc, "seq")) ||
        json_integer_value(json_object_get(doc, "seq")) != (json_int_t) seq ||
        !json_is_string(rec) || json_string_length(rec) != 64 ||
        !state_is_valid(json_object_get(doc, "state"))) {
        json_decref(doc);
        return gkp_diag_set(why, GK_EPROTO, NULL, 0,
                            "\"seq\", \"record\" or \"state\" is missing or wrong");
    }
    rv = gkd_journal_check_seal(doc, s->trusted, why);
    if (rv != GK_OK) {
        json_decref(doc);
        return rv;
    }
    c->seq = seq;
    memcpy(c->record, json_string_value(rec), GKD_JOURNAL_HASH_HEX_BYTES);
    c->state = json_incref(json_object_get(doc, "state"));
    json_decref(doc);
    return GK_OK;
}

/* The usable snapshots, newest first (at most SNAPSHOT_CANDIDATES_MAX); bad ones are logged. */
static gk_err
load_candidates(dir_store *s, candidate **candsp, size_t *np, gk_diag *diag)
{
    uint64_t *seqs;
    size_t nseqs, n = 0;
    candidate *cands;
    gk_err rv;

    *candsp = NULL;
    *np = 0;
    rv = list_snapshots(s->dir, &seqs, &nseqs, diag);
    if (rv != GK_OK || nseqs == 0) {
        return rv;
    }
    cands = calloc(SNAPSHOT_CANDIDATES_MAX, sizeof(*cands));
    if (cands == NULL) {
        free(seqs);
        return GK_ENOMEM;
    }
    for (size_t i = 0; i < nseqs && n < SNAPSHOT_CANDIDATES_MAX; i++) {
        gk_diag why = {0};

        rv = read_snapshot(s, seqs[i], &cands[n], &why);
        if (rv == GK_ENOMEM) {
            break;
        }
        if (rv != GK_OK) {
            gkd_log(GKD_LOG_WARN, "data directory %s: ignoring snapshot-%" PRIu64 ".json: %s",
                    s->dir, seqs[i], why.text);
            rv = GK_OK;
            continue;
        }
        n++;
    }
    free(seqs);
    if (rv != GK_OK) {
        for (size_t i = 0; i < n; i++) {
            json_decref(cands[i].state);
        }
        free(cands);
        return rv;
    }
    *candsp = cands;
    *np = n;
    return GK_OK;
}

static void
free_candidates(candidate *cands, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(cands[i].state);
    }
    free(cands);
}

/* Write DIR/snapshot-<seq>.json atomically and durably; drop the ones older than the last. */
static gk_err
write_snapshot(dir_store *s, gk_diag *diag)
{
    uint64_t seq = gkd_journal_seq(s->journal);
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    json_t *doc;
    uint64_t *seqs = NULL;
    size_t nseqs = 0;
    gk_err rv = GK_OK;
    FILE *fp = NULL;
    int fd = -1;

    snapshot_path(path, s->dir, seq);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    doc = json_pack("{s:I, s:s, s:O}", "seq", (json_int_t) seq, "record",
                    gkd_journal_head(s->journal), "state", s->state);
    if (doc == NULL || gkd_journal_seal(doc, s->signer) != GK_OK) {
        json_decref(doc);
        return GK_ENOMEM;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fp == NULL) {
        rv = gkp_diag_set(diag, GK_EIO, tmp, 0, "cannot create: %s", strerror(errno));
        goto done;
    }
    fd = -1; /* the stream's now */
    /* Streamed through stdio's buffer: the state is never built as one string. */
    if (json_dumpf(doc, fp, GKD_JOURNAL_CANONICAL) != 0 || fflush(fp) != 0) {
        rv = gkp_diag_set(diag, GK_EIO, tmp, 0, "cannot write: %s", strerror(errno));
        goto done;
    }
    if (fsync(fileno(fp)) != 0) {
        rv = gkp_diag_set(diag, GK_EIO, tmp, 0, "cannot fsync: %s", strerror(errno));
        goto done;
    }
    if (fclose(fp) != 0) {
        fp = NULL;
        rv = gkp_diag_set(diag, GK_EIO, tmp, 0, "cannot close: %s", strerror(errno));
        unlink(tmp);
        goto done;
    }
    fp = NULL;
    if (rename(tmp, path) != 0) {
        rv = gkp_diag_set(diag, GK_EIO, path, 0, "cannot rename: %s", strerror(errno));
        goto done;
    }
    rv = fsync_dir(s->dir, diag);
    if (rv != GK_OK) {
        goto done;
    }
    /* Keep this snapshot and the one before it; older ones only cost space. */
    if (list_snapshots(s->dir, &seqs, &nseqs, NULL) == GK_OK) {
        for (size_t i = 0; i < nseqs; i++) {
            if (seqs[i] + SNAPSHOT_EVERY < seq) {
                char old[PATH_MAX];
                snapshot_path(old, s->dir, seqs[i]);
                unlink(old);
            }
        }
        free(seqs);
    }
done:
    json_decref(doc);
    if (fp != NULL || fd >= 0) {
        if (fp != NULL) {
            fclose(fp);
        } else {
            close(fd);
        }
        unlink(tmp);
    }
    return rv;
}

/* ---------------------------------------------------------------------------------------------
 * Replay at open.
 */

static gk_err
replay_record(const json_t *rec, void *arg)
{
    replay *r = arg;
    uint64_t seq = (uint64_t) json_integer_value(json_object_get(rec, "seq"));

    for (size_t i = 0; i < r->ncands; i++) {
        if (r->cands[i].seq == seq) {
            r->cands[i].seen = 1;
            r->cands[i].confirmed =
                strcmp(json_string_value(json_object_get(rec, "hash")), r->cands[i].record) == 0;
        }
    }
    if (seq <= r->base) {
        return GK_OK;
    }
    return apply_changes(r->s->state, json_object_get(rec, "changes"), seq, 0, r->diag);
}

static int
replay_iterated(const json_t *rec, void *arg)
{
    replay *r = arg;

    r->rv = replay_record(rec, arg);
    return r->rv != GK_OK;
}

/*
 * After the journal was verified with the newest snapshot as the base: when that snapshot did
 * not match its record, rebuild the state from the next one that did, or from the start.
 */
static gk_err
settle_base(replay *r, gk_diag *diag)
{
    dir_store *s = r->s;
    candidate *used = NULL;
    gk_err rv;

    if (r->ncands == 0 || r->cands[0].confirmed) {
        return GK_OK;
    }
    if (r->cands[0].seen) {
        gkd_log(GKD_LOG_WARN,
                "data directory %s: ignoring snapshot-%" PRIu64 ".json: its record hash is not "
                "the journal's",
                s->dir, r->cands[0].seq);
    } else {
        gkd_log(GKD_LOG_WARN,
                "data directory %s: ignoring snapshot-%" PRIu64 ".json: the journal ends at record "
                "%" PRIu64 ", before the record it names (was the journal cut?)",
                s->dir, r->cands[0].seq, gkd_journal_seq(s->journal));
    }
    for (size_t i = 1; i < r->ncands; i++) {
        if (r->cands[i].confirmed) {
            used = &r->cands[i];
            break;
        }
    }
    json_decref(s->state);
    /* Taken over: the replay below changes it in place, and the candidates are freed after. */
    s->state = used != NULL ? json_incref(used->state) : empty_state();
    if (s->state == NULL) {
        return GK_ENOMEM;
    }
    r->base = used != NULL ? used->seq : 0;
    r->ncands = 0; /* no more confirming */
    r->rv = GK_OK;
    rv = gkd_journal_iterate(s->journal, r->base + 1, replay_iterated, r, diag);
    return rv != GK_OK ? rv : r->rv;
}

gk_err
gkd_store_dir_open(gkd_store **sp, const char *dir, const gkd_signer *signer,
                   const gkp_jwks *trusted, int recover, gk_diag *diag)
{
    dir_store *s;
    candidate *cands = NULL;
    size_t ncands = 0;
    replay r;
    gk_err rv;

    if (sp == NULL || dir == NULL || dir[0] == '\0' || signer == NULL) {
        return GK_EINVAL;
    }
    *sp = NULL;
    if (strlen(dir) >= PATH_MAX - NAME_ROOM) {
        return gkp_diag_set(diag, GK_EINVAL, NULL, 0, "the data directory's path is too long");
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return GK_ENOMEM;
    }
    s->base.ops = &dir_ops;
    s->lock_fd = -1;
    s->signer = signer;
    memcpy(s->dir, dir, strlen(dir) + 1);
    rv = make_dir(dir, diag);
    if (rv == GK_OK) {
        rv = take_lock(s, diag);
    }
    if (rv == GK_OK) {
        rv = copy_trusted(s, trusted, diag);
    }
    if (rv == GK_OK) {
        rv = load_candidates(s, &cands, &ncands, diag);
    }
    if (rv != GK_OK) {
        goto fail;
    }
    /* Taken over, not copied: the replay changes it in place and the candidate is freed after. */
    s->state = ncands > 0 ? json_incref(cands[0].state) : empty_state();
    if (s->state == NULL) {
        rv = GK_ENOMEM;
        goto fail;
    }
    r = (replay){.s = s, .cands = cands, .ncands = ncands, .diag = diag};
    r.base = ncands > 0 ? cands[0].seq : 0;
    rv = gkd_journal_open(&s->journal, dir, s->trusted, recover, replay_record, &r, diag);
    if (rv == GK_OK) {
        rv = settle_base(&r, diag);
    }
    if (rv != GK_OK) {
        goto fail;
    }
    if (r.base > 0) {
        gkd_log(GKD_LOG_INFO,
                "data directory %s: %" PRIu64 " records verified; state from snapshot-%" PRIu64
                ".json and the %" PRIu64 " records after it",
                dir, gkd_journal_seq(s->journal), r.base, gkd_journal_seq(s->journal) - r.base);
    } else {
        gkd_log(GKD_LOG_INFO,
                "data directory %s: %" PRIu64 " records verified; state replayed from the start",
                dir, gkd_journal_seq(s->journal));
    }
    free_candidates(cands, ncands);
    *sp = &s->base;
    return GK_OK;
fail:
    free_candidates(cands, ncands);
    s->base.ops->close(&s->base);
    return rv;
}

/* ---------------------------------------------------------------------------------------------
 * The operations.
 */

static gk_err
dir_load(gkd_store *base, json_t **statep, uint64_t *versionp, gk_diag *diag)
{
    dir_store *s = (dir_store *) base;
    static const char *const members[3] = {"flags", "schemas", "consumers"};
    json_t *copy = json_object();

    (void) diag;
    if (statep == NULL || copy == NULL) {
        json_decref(copy);
        return statep == NULL ? GK_EINVAL : GK_ENOMEM;
    }
    /* New maps over the shared definitions (store.h): 10,000 flags cost their map, not a copy. */
    for (size_t i = 0; i < 3; i++) {
        json_t *map = json_copy(json_object_get(s->state, members[i]));
        if (map == NULL || json_object_set_new(copy, members[i], map) != 0) {
            json_decref(copy);
            return GK_ENOMEM;
        }
    }
    *statep = copy;
    if (versionp != NULL) {
        *versionp = gkd_journal_seq(s->journal);
    }
    return GK_OK;
}

static gk_err
dir_commit(gkd_store *base, uint64_t expected, const gkd_store_change *change, json_t **recordp,
           gk_diag *diag)
{
    dir_store *s = (dir_store *) base;
    uint64_t version = gkd_journal_seq(s->journal);
    json_t *rec = NULL, *next = NULL;
    gk_err rv;

    if (recordp != NULL) {
        *recordp = NULL;
    }
    if (change == NULL) {
        return GK_EINVAL;
    }
    if (expected != version) {
        return gkp_diag_set(diag, GK_ECONFLICT, NULL, 0,
                            "state is at version %" PRIu64 "; the change was based on %" PRIu64,
                            version, expected);
    }
    rv = check_changes(change->changes, diag);
    if (rv == GK_OK) {
        rv = gkd_journal_record_new(&rec, s->journal, change, s->signer, diag);
    }
    if (rv != GK_OK) {
        return rv;
    }
    /* The next state is built before the record is written, so nothing can fail after it. */
    next = json_copy(s->state);
    if (next == NULL) {
        rv = GK_ENOMEM;
        goto fail;
    }
    rv = apply_changes(next, json_object_get(rec, "changes"), version + 1, 1, diag);
    if (rv == GK_OK) {
        rv = gkd_journal_append(s->journal, rec, diag);
    }
    if (rv != GK_OK) {
        goto fail;
    }
    json_decref(s->state);
    s->state = next;
    for (size_t i = 0; i < s->nwatchers; i++) {
        s->watchers[i].fn(rec, s->watchers[i].arg);
    }
    if ((version + 1) % SNAPSHOT_EVERY == 0) {
        gk_diag sd = {0};
        if (write_snapshot(s, &sd) != GK_OK) {
            /* The record is durable; the snapshot is only a shortcut for the next start. */
            gkd_log(GKD_LOG_WARN, "data directory %s: cannot write snapshot-%" PRIu64 ".json: %s",
                    s->dir, version + 1, sd.code != GK_OK ? sd.text : "out of memory");
        }
    }
    if (recordp != NULL) {
        *recordp = rec;
    } else {
        json_decref(rec);
    }
    return GK_OK;
fail:
    json_decref(next);
    json_decref(rec);
    return rv;
}

static gk_err
dir_audit(gkd_store *base, uint64_t from, int (*fn)(const json_t *record, void *arg), void *arg,
          gk_diag *diag)
{
    dir_store *s = (dir_store *) base;

    return gkd_journal_iterate(s->journal, from, fn, arg, diag);
}

static gk_err
dir_verify(gkd_store *base, uint64_t *recordsp, gk_diag *diag)
{
    dir_store *s = (dir_store *) base;

    return gkd_journal_verify(s->journal, recordsp, diag);
}

static gk_err
dir_watch(gkd_store *base, void (*fn)(const json_t *record, void *arg), void *arg)
{
    dir_store *s = (dir_store *) base;
    watcher *more;

    if (fn == NULL) {
        return GK_EINVAL;
    }
    more = realloc(s->watchers, (s->nwatchers + 1) * sizeof(*more));
    if (more == NULL) {
        return GK_ENOMEM;
    }
    s->watchers = more;
    s->watchers[s->nwatchers++] = (watcher){fn, arg};
    return GK_OK;
}

static void
dir_close(gkd_store *base)
{
    dir_store *s = (dir_store *) base;

    gkd_journal_close(s->journal);
    json_decref(s->state);
    gkp_jwks_free(s->trusted);
    free(s->watchers);
    if (s->lock_fd >= 0) {
        close(s->lock_fd); /* releases the flock */
    }
    free(s);
}

static const gkd_store_ops dir_ops = {
    .load = dir_load,
    .commit = dir_commit,
    .audit = dir_audit,
    .verify = dir_verify,
    .watch = dir_watch,
    .close = dir_close,
};
