/*
 * store_test.c - the data-directory store (gatekeeper/store_dir.c) through the store.h vtable:
 * commit and load across reopening, 250 commits replayed from snapshots (and without them when
 * they are corrupt), conflicts, watchers, audit from a seq, a torn last line, a bit flipped at
 * every byte of a middle record (refused by open and by the offline verifier, naming it), recovery,
 * the lock against a second gatekeeper, untrusted and rotated keys, and a failed write.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "gk_test.h"
#include "journal.h"
#include "keyfile.h"
#include "signer.h"
#include "store.h"

typedef struct fixture {
    char dir[256];
    char data[PATH_MAX];
    char keys[PATH_MAX];
    char jwks[PATH_MAX];
    char key_path[PATH_MAX];
    char kid[GKP_KID_MAX];
    gkd_signer *signer;
    gkp_jwks *trusted;
    json_t *expect; /* the state the commits should have built */
} fixture;

/* a/b into out (PATH_MAX bytes). */
static void
path_join(char *out, const char *a, const char *b)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", a, b);

    ck_assert(n > 0 && n < PATH_MAX);
}

static void
make_key(const char *keys, char *key_path, char kid[GKP_KID_MAX], gkd_signer **signerp)
{
    gk_diag d = {0};

    ck_assert_int_eq(gkd_keyfile_generate(keys, kid, key_path, &d), GK_OK);
    ck_assert_int_eq(gkd_signer_new(signerp), GK_OK);
    ck_assert_int_eq(gkd_signer_add_key_file(*signerp, key_path, &d), GK_OK);
}

static void
fx_init(fixture *f)
{
    gk_diag d = {0};

    memset(f, 0, sizeof(*f));
    gkt_tempdir(f->dir);
    path_join(f->data, f->dir, "var/data"); /* two levels made by the open */
    path_join(f->keys, f->dir, "keys");
    path_join(f->jwks, f->keys, "jwks.json");
    make_key(f->keys, f->key_path, f->kid, &f->signer);
    ck_assert_int_eq(gkp_jwks_load_file(&f->trusted, f->jwks, &d), GK_OK);
    f->expect = json_pack("{s:{}, s:{}, s:{}}", "flags", "schemas", "consumers");
}

static void
fx_fini(fixture *f)
{
    json_decref(f->expect);
    gkd_signer_free(f->signer);
    gkp_jwks_free(f->trusted);
    gkt_rmtree(f->dir);
}

static gkd_store *
open_ok(const fixture *f, int recover)
{
    gkd_store *s = NULL;
    gk_diag d = {0};
    gk_err rv = gkd_store_dir_open(&s, f->data, f->signer, f->trusted, recover, &d);

    ck_assert_msg(rv == GK_OK, "open: %d %s", rv, d.text);
    return s;
}

/* Commit one change of `kind`/`key` to `after` (stolen; NULL deletes) and track it in expect. */
static gk_err
commit_one(fixture *f, gkd_store *s, uint64_t expected, const char *kind, const char *key,
           json_t *after, json_t **recordp, gk_diag *d)
{
    const char *member = strcmp(kind, "flag") == 0     ? "flags"
                         : strcmp(kind, "schema") == 0 ? "schemas"
                                                       : "consumers";
    json_t *map = json_object_get(f->expect, member);
    json_t *before = json_object_get(map, key);
    json_t *changes = json_pack("[{s:s, s:s, s:O?, s:O?}]", "kind", kind, "key", key, "before",
                                before, "after", after);
    json_t *args = json_pack("{s:s}", "key", key);
    json_t *verdicts =
        json_pack("[{s:s, s:s, s:i}]", "policy", "ownership", "reason", "owner", "line", 12);
    gkd_store_change c = {.actor = "rita",
                          .op = "flag.set",
                          .args = args,
                          .why = "canary for the new read path",
                          .changes = changes,
                          .verdicts = verdicts,
                          .request =
                              "eyJhbGciOiJFZERTQSIsImtpZCI6InJpdGEifQ.eyJvcCI6ImZsYWcuc2V0In0."
                              "c2lnbmF0dXJlLWJ5dGVzLWFyZS1oZXJl"};
    gk_err rv = s->ops->commit(s, expected, &c, recordp, d);

    if (rv == GK_OK) {
        if (after == NULL) {
            json_object_del(map, key);
        } else {
            json_object_set(map, key, after);
        }
    }
    json_decref(after);
    json_decref(changes);
    json_decref(args);
    json_decref(verdicts);
    return rv;
}

static json_t *
flag_def(int n)
{
    return json_pack("{s:s, s:[s,s], s:{s:i}}", "owner", "team-orders", "variants", "old", "new",
                     "rollout", "pct", n);
}

/* n commits from version `from`, over a handful of keys and all three kinds, some deletes. */
static void
commit_many(fixture *f, gkd_store *s, uint64_t from, int n)
{
    static const char *const kinds[] = {"flag", "schema", "consumer"};

    for (int i = 0; i < n; i++) {
        uint64_t v = from + (uint64_t) i;
        char key[32];
        gk_diag d = {0};
        json_t *after = (v % 11 == 10) ? NULL : flag_def((int) v);
        gk_err rv;

        snprintf(key, sizeof(key), "key.%d", (int) (v % 17));
        rv = commit_one(f, s, v, kinds[v % 3], key, after, NULL, &d);
        ck_assert_msg(rv == GK_OK, "commit %d: %s", (int) v, d.text);
    }
}

static void
assert_state(gkd_store *s, const json_t *expect, uint64_t version)
{
    json_t *state = NULL;
    uint64_t v = 0;
    gk_diag d = {0};

    ck_assert_int_eq(s->ops->load(s, &state, &v, &d), GK_OK);
    ck_assert_uint_eq(v, version);
    ck_assert_msg(json_equal(state, expect), "state differs from the commits'");
    json_decref(state);
}

static void
data_path(const fixture *f, const char *name, char out[PATH_MAX])
{
    path_join(out, f->data, name);
}

static char *
read_journal(const fixture *f)
{
    char path[PATH_MAX];
    char *text;

    data_path(f, GKD_JOURNAL_FILE, path);
    text = gkt_read_file(path);
    ck_assert_ptr_nonnull(text);
    return text;
}

static void
write_journal(const fixture *f, const char *text, size_t len)
{
    char path[PATH_MAX];
    int fd;

    data_path(f, GKD_JOURNAL_FILE, path);
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t) len);
    close(fd);
}

static size_t
line_offset(const char *text, int n)
{
    const char *p = text;

    for (int i = 1; i < n; i++) {
        p = strchr(p, '\n');
        ck_assert_ptr_nonnull(p);
        p++;
    }
    return (size_t) (p - text);
}

static int
capture_begin(const fixture *f)
{
    char path[PATH_MAX];
    int saved = dup(STDERR_FILENO);
    int fd;

    path_join(path, f->dir, "log.txt");
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    close(fd);
    return saved;
}

static char *
capture_end(const fixture *f, int saved)
{
    char path[PATH_MAX];
    char *text;

    dup2(saved, STDERR_FILENO);
    close(saved);
    path_join(path, f->dir, "log.txt");
    text = gkt_read_file(path);
    ck_assert_ptr_nonnull(text);
    return text;
}

/* Open with the log captured; the log (malloc'd) is returned, the store closed. */
static char *
open_logged(const fixture *f, const json_t *expect, uint64_t version)
{
    gkd_store *s;
    int saved = capture_begin(f);

    s = open_ok(f, 0);
    assert_state(s, expect, version);
    gkd_store_close(s);
    return capture_end(f, saved);
}

START_TEST(test_commit_load_round_trip)
{
    fixture f;
    gkd_store *s;
    json_t *rec = NULL;
    struct stat sb;
    uint64_t n = 0;
    gk_diag d = {0};

    fx_init(&f);
    s = open_ok(&f, 0);
    ck_assert_int_eq(stat(f.data, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0700);
    assert_state(s, f.expect, 0);
    ck_assert_int_eq(commit_one(&f, s, 0, "flag", "orders.read_v2", flag_def(5), &rec, &d), GK_OK);
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "seq")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "kid")), f.kid);
    json_decref(rec);
    ck_assert_int_eq(
        commit_one(&f, s, 1, "schema", "orders", json_pack("{s:i}", "version", 2), NULL, &d),
        GK_OK);
    ck_assert_int_eq(
        commit_one(&f, s, 2, "consumer", "billing", json_pack("{s:[i]}", "supports", 1), NULL, &d),
        GK_OK);
    ck_assert_int_eq(commit_one(&f, s, 3, "flag", "orders.read_v2", flag_def(10), NULL, &d), GK_OK);
    ck_assert_int_eq(commit_one(&f, s, 4, "flag", "orders.write_v2", flag_def(1), NULL, &d), GK_OK);
    ck_assert_int_eq(commit_one(&f, s, 5, "flag", "orders.write_v2", NULL, NULL, &d), GK_OK);
    assert_state(s, f.expect, 6);
    {
        json_t *state = NULL;
        json_t *flags;
        ck_assert_int_eq(s->ops->load(s, &state, NULL, &d), GK_OK);
        flags = json_object_get(state, "flags");
        ck_assert_int_eq(
            json_integer_value(json_object_get(
                json_object_get(json_object_get(flags, "orders.read_v2"), "rollout"), "pct")),
            10);
        ck_assert_ptr_null(json_object_get(flags, "orders.write_v2"));
        ck_assert_ptr_nonnull(json_object_get(json_object_get(state, "consumers"), "billing"));
        json_decref(state);
    }
    ck_assert_int_eq(s->ops->verify(s, &n, &d), GK_OK);
    ck_assert_uint_eq(n, 6);
    gkd_store_close(s);

    s = open_ok(&f, 0);
    assert_state(s, f.expect, 6);
    gkd_store_close(s);
    fx_fini(&f);
}
END_TEST

/* The loaded state's maps are the caller's: changing them does not change the store's. */
START_TEST(test_load_returns_a_copy)
{
    fixture f;
    gkd_store *s;
    json_t *state = NULL;
    uint64_t v;
    gk_diag d = {0};

    fx_init(&f);
    s = open_ok(&f, 0);
    ck_assert_int_eq(commit_one(&f, s, 0, "flag", "a", flag_def(1), NULL, &d), GK_OK);
    ck_assert_int_eq(s->ops->load(s, &state, &v, &d), GK_OK);
    json_object_clear(json_object_get(state, "flags"));
    json_decref(state);
    assert_state(s, f.expect, 1);
    gkd_store_close(s);
    fx_fini(&f);
}
END_TEST

static void
corrupt_file(const char *path, const char *needle)
{
    char *text = gkt_read_file(path);
    char *p;

    ck_assert_ptr_nonnull(text);
    p = strstr(text, needle);
    ck_assert_ptr_nonnull(p);
    p[strlen(needle) - 1] ^= 0x01;
    ck_assert_int_eq(gkt_write_file(path, text, 0600), 0);
    free(text);
}

START_TEST(test_replay_with_snapshots)
{
    fixture f;
    gkd_store *s;
    char path[PATH_MAX];
    char *log;
    json_t *doc;
    gk_diag d = {0};

    fx_init(&f);
    s = open_ok(&f, 0);
    commit_many(&f, s, 0, 250);
    assert_state(s, f.expect, 250);
    gkd_store_close(s);

    data_path(&f, "snapshot-100.json", path);
    ck_assert_int_eq(access(path, F_OK), 0);
    data_path(&f, "snapshot-200.json", path);
    ck_assert_int_eq(access(path, F_OK), 0);
    data_path(&f, "snapshot-250.json", path);
    ck_assert_int_ne(access(path, F_OK), 0);

    /* Newest snapshot and the records after it. */
    log = open_logged(&f, f.expect, 250);
    ck_assert_msg(strstr(log, "250 records verified; state from snapshot-200.json and the 50 "
                              "records after it") != NULL,
                  "log: %s", log);
    free(log);

    /* A corrupt newest snapshot is ignored with a warning: the one before it is used. */
    data_path(&f, "snapshot-200.json", path);
    corrupt_file(path, "team-o");
    log = open_logged(&f, f.expect, 250);
    ck_assert_msg(strstr(log, "WARN  data directory") != NULL &&
                      strstr(log, "ignoring snapshot-200.json: hash mismatch") != NULL &&
                      strstr(log, "state from snapshot-100.json and the 150 records after it") !=
                          NULL,
                  "log: %s", log);
    free(log);

    /* A well-sealed snapshot naming another record hash is ignored too. */
    doc = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    json_object_set_new(doc, "record",
                        json_string("00000000000000000000000000000000000000000000"
                                    "00000000000000000000"));
    json_object_set_new(json_object_get(doc, "state"), "flags", json_object()); /* wrong state */
    ck_assert_int_eq(gkd_journal_seal(doc, f.signer), GK_OK);
    ck_assert_int_eq(json_dump_file(doc, path, GKD_JOURNAL_CANONICAL), 0);
    json_decref(doc);
    log = open_logged(&f, f.expect, 250);
    ck_assert_msg(
        strstr(log, "ignoring snapshot-200.json: its record hash is not the journal's") != NULL &&
            strstr(log, "state from snapshot-100.json and the 150 records after it") != NULL,
        "log: %s", log);
    free(log);

    /* Both corrupt: replay from the start. */
    data_path(&f, "snapshot-100.json", path);
    corrupt_file(path, "\"seq\":10");
    log = open_logged(&f, f.expect, 250);
    ck_assert_msg(strstr(log, "ignoring snapshot-100.json") != NULL &&
                      strstr(log, "state replayed from the start") != NULL,
                  "log: %s", log);
    free(log);

    /* Going on to 300 writes snapshot-300 and keeps only it and snapshot-200. */
    s = open_ok(&f, 0);
    commit_many(&f, s, 250, 50);
    gkd_store_close(s);
    data_path(&f, "snapshot-300.json", path);
    ck_assert_int_eq(access(path, F_OK), 0);
    data_path(&f, "snapshot-100.json", path);
    ck_assert_int_ne(access(path, F_OK), 0);
    log = open_logged(&f, f.expect, 300);
    ck_assert_msg(strstr(log, "state from snapshot-300.json and the 0 records after it") != NULL,
                  "log: %s", log);
    free(log);
    (void) d;
    fx_fini(&f);
}
END_TEST

START_TEST(test_conflict)
{
    fixture f;
    gkd_store *s;
    uint64_t n = 0;
    gk_diag d = {0};

    fx_init(&f);
    s = open_ok(&f, 0);
    commit_many(&f, s, 0, 43);
    ck_assert_int_eq(commit_one(&f, s, 41, "flag", "x", flag_def(1), NULL, &d), GK_ECONFLICT);
    ck_assert_int_eq(d.code, GK_ECONFLICT);
    ck_assert_str_eq(d.text, "state is at version 43; the change was based on 41");
    ck_assert_int_eq(commit_one(&f, s, 44, "flag", "x", flag_def(1), NULL, NULL), GK_ECONFLICT);
    ck_assert_int_eq(s->ops->verify(s, &n, NULL), GK_OK);
    ck_assert_uint_eq(n, 43);
    assert_state(s, f.expect, 43);
    ck_assert_int_eq(commit_one(&f, s, 43, "flag", "x", flag_def(1), NULL, NULL), GK_OK);
    gkd_store_close(s);
    fx_fini(&f);
}
END_TEST

START_TEST(test_bad_change_refused)
{
    fixture f;
    gkd_store *s;
    json_t *changes =
        json_pack("[{s:s, s:s, s:n, s:{}}]", "kind", "rollout", "key", "x", "before", "after");
    gkd_store_change c = {.actor = "rita", .op = "x.set", .changes = changes};
    uint64_t n = 9;
    gk_diag d = {0};

    fx_init(&f);
    s = open_ok(&f, 0);
    ck_assert_int_eq(s->ops->commit(s, 0, &c, NULL, &d), GK_EINVAL);
    ck_assert_ptr_nonnull(strstr(d.text, "change 1: \"kind\" must be"));
    ck_assert_int_eq(s->ops->verify(s, &n, NULL), GK_OK);
    ck_assert_uint_eq(n, 0);
    json_decref(changes);
    gkd_store_close(s);
    fx_fini(&f);
}
END_TEST

typedef struct seen {
    int calls;
    json_int_t last_seq;
} seen;

static void
on_commit(const json_t *record, void *arg)
{
    seen *w = arg;

    w->calls++;
    w->last_seq = json_integer_value(json_object_get(record, "seq"));
}

START_TEST(test_watch)
{
    fixture f;
    gkd_store *s;
    seen a = {0}, b = {0};
    gk_diag d = {0};

    fx_init(&f);
    s = open_ok(&f, 0);
    ck_assert_int_eq(s->ops->watch(s, on_commit, &a), GK_OK);
    ck_assert_int_eq(commit_one(&f, s, 0, "flag", "x", flag_def(1), NULL, &d), GK_OK);
    ck_assert_int_eq(s->ops->watch(s, on_commit, &b), GK_OK);
    ck_assert_int_eq(commit_one(&f, s, 1, "flag", "x", flag_def(2), NULL, &d), GK_OK);
    ck_assert_int_eq(commit_one(&f, s, 1, "flag", "x", flag_def(3), NULL, &d), GK_ECONFLICT);
    ck_assert_int_eq(a.calls, 2);
    ck_assert_int_eq(a.last_seq, 2);
    ck_assert_int_eq(b.calls, 1);
    ck_assert_int_eq(b.last_seq, 2);
    gkd_store_close(s);
    fx_fini(&f);
}
END_TEST

typedef struct audit_acc {
    json_t *seqs;
    int stop_after;
} audit_acc;

static int
on_record(const json_t *record, void *arg)
{
    audit_acc *acc = arg;

    json_array_append_new(acc->seqs, json_copy(json_object_get(record, "seq")));
    return acc->stop_after > 0 && (int) json_array_size(acc->seqs) >= acc->stop_after;
}

START_TEST(test_audit_from_seq)
{
    fixture f;
    gkd_store *s;
    audit_acc acc = {json_array(), 0};
    gk_diag d = {0};

    fx_init(&f);
    s = open_ok(&f, 0);
    commit_many(&f, s, 0, 10);
    ck_assert_int_eq(s->ops->audit(s, 4, on_record, &acc, &d), GK_OK);
    ck_assert_uint_eq(json_array_size(acc.seqs), 7);
    for (size_t i = 0; i < 7; i++) {
        ck_assert_int_eq(json_integer_value(json_array_get(acc.seqs, i)), (json_int_t) i + 4);
    }
    json_array_clear(acc.seqs);
    acc.stop_after = 2;
    ck_assert_int_eq(s->ops->audit(s, 0, on_record, &acc, &d), GK_OK);
    ck_assert_uint_eq(json_array_size(acc.seqs), 2);
    ck_assert_int_eq(json_integer_value(json_array_get(acc.seqs, 1)), 2);
    json_array_clear(acc.seqs);
    acc.stop_after = 0;
    ck_assert_int_eq(s->ops->audit(s, 11, on_record, &acc, &d), GK_OK);
    ck_assert_uint_eq(json_array_size(acc.seqs), 0);
    /* A record is the same read back as when committed. */
    {
        json_t *rec = NULL;
        ck_assert_int_eq(commit_one(&f, s, 10, "flag", "z", flag_def(9), &rec, &d), GK_OK);
        acc.stop_after = 1;
        ck_assert_int_eq(s->ops->audit(s, 11, on_record, &acc, &d), GK_OK);
        json_decref(rec);
    }
    json_decref(acc.seqs);
    gkd_store_close(s);
    fx_fini(&f);
}
END_TEST

/* Half a record written by hand after record 4: open cuts it and has record 4's state. */
START_TEST(test_torn_last_line)
{
    fixture f;
    gkd_store *s;
    json_t *after4;
    char *text, *log;
    size_t at;
    char path[PATH_MAX];
    struct stat sb;
    int saved;

    fx_init(&f);
    s = open_ok(&f, 0);
    commit_many(&f, s, 0, 4);
    after4 = json_deep_copy(f.expect);
    commit_many(&f, s, 4, 1);
    gkd_store_close(s);

    text = read_journal(&f);
    at = line_offset(text, 5);
    write_journal(&f, text, at + (strlen(text) - at) / 2);
    saved = capture_begin(&f);
    s = open_ok(&f, 0);
    log = capture_end(&f, saved);
    ck_assert_ptr_nonnull(strstr(log, "cut a torn last line"));
    assert_state(s, after4, 4);
    data_path(&f, GKD_JOURNAL_FILE, path);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq((size_t) sb.st_size, at);
    json_decref(f.expect);
    f.expect = after4;
    commit_many(&f, s, 4, 2);
    gkd_store_close(s);
    s = open_ok(&f, 0);
    assert_state(s, f.expect, 6);
    gkd_store_close(s);
    free(log);
    free(text);
    fx_fini(&f);
}
END_TEST

/* The diag names record 3 (line 3), or line 3 when the line is no record at all. */
static int
names_line3(const gk_diag *d)
{
    return strncmp(d->text, "record 3 (line 3): ", 19) == 0 || strncmp(d->text, "line 3: ", 8) == 0;
}

/* Bounds of the value of "name":"..." in line (offsets into it). */
static void
value_span(const char *line, size_t len, const char *name, size_t *from, size_t *to)
{
    char pat[32];
    const char *p, *q;

    snprintf(pat, sizeof(pat), "\"%s\":\"", name);
    p = strstr(line, pat);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_lt((size_t) (p - line), len);
    p += strlen(pat);
    q = strchr(p, '"');
    ck_assert_ptr_nonnull(q);
    *from = (size_t) (p - line);
    *to = (size_t) (q - line);
}

static void
expect_tamper_refused(fixture *f, const char *orig, size_t len, size_t pos, int bit, char *buf)
{
    char path[PATH_MAX];
    gkd_store *s = NULL;
    gk_diag d = {0};
    gk_err rv;
    char *after;

    memcpy(buf, orig, len);
    buf[pos] = (char) (buf[pos] ^ (1 << bit));
    write_journal(f, buf, len);
    rv = gkd_store_dir_open(&s, f->data, f->signer, f->trusted, 0, &d);
    ck_assert_msg(rv == GK_EPROTO || rv == GK_EBADSIG, "byte %zu bit %d: open gave %d (%s)", pos,
                  bit, rv, d.text);
    ck_assert_ptr_null(s);
    ck_assert_msg(names_line3(&d), "byte %zu bit %d: %s", pos, bit, d.text);
    /* A refused open changes nothing. */
    data_path(f, GKD_JOURNAL_FILE, path);
    after = gkt_read_file(path);
    ck_assert_ptr_nonnull(after);
    ck_assert_msg(memcmp(after, buf, len) == 0, "byte %zu bit %d: the journal changed", pos, bit);
    free(after);
    memset(&d, 0, sizeof(d));
    rv = gkd_journal_verify_file(path, f->trusted, NULL, NULL, &d);
    ck_assert_msg(rv == GK_EPROTO || rv == GK_EBADSIG, "byte %zu bit %d: verify gave %d", pos, bit,
                  rv);
    ck_assert_msg(names_line3(&d), "byte %zu bit %d: verify: %s", pos, bit, d.text);
}

/*
 * One bit flipped in every byte of record 3 of 5 (newline included; the bit changes with the
 * position), and every bit of every byte of its hash, prev and sig values.
 */
START_TEST(test_tamper_every_byte)
{
    fixture f;
    gkd_store *s;
    char *orig, *buf;
    size_t len, l3, l3_end, from, to;
    uint64_t n = 0;
    gk_diag d = {0};
    int runs = 0;

    fx_init(&f);
    s = open_ok(&f, 0);
    commit_many(&f, s, 0, 5);
    gkd_store_close(s);
    orig = read_journal(&f);
    len = strlen(orig);
    buf = malloc(len);
    l3 = line_offset(orig, 3);
    l3_end = line_offset(orig, 4); /* just past line 3's newline */

    /* Control: the untouched journal opens and verifies. */
    s = open_ok(&f, 0);
    gkd_store_close(s);
    ck_assert_int_eq(gkd_journal_verify_file(f.data, f.trusted, &n, NULL, &d), GK_OK);
    ck_assert_uint_eq(n, 5);

    for (size_t pos = l3; pos < l3_end; pos++) {
        expect_tamper_refused(&f, orig, len, pos, (int) (pos % 8), buf);
        runs++;
    }
    {
        static const char *const fields[] = {"hash", "prev", "sig"};
        for (size_t k = 0; k < 3; k++) {
            value_span(orig + l3, l3_end - l3, fields[k], &from, &to);
            for (size_t pos = l3 + from; pos < l3 + to; pos++) {
                for (int bit = 0; bit < 8; bit++) {
                    expect_tamper_refused(&f, orig, len, pos, bit, buf);
                    runs++;
                }
            }
        }
    }
    ck_assert_int_gt(runs, 1000);
    free(buf);
    free(orig);
    fx_fini(&f);
}
END_TEST

/* recover=1 cuts back to record 2, keeps the rest in journal.cut-*, and commits go on. */
START_TEST(test_recover)
{
    fixture f;
    gkd_store *s = NULL;
    json_t *after2;
    char *orig, *log, *p, *cut;
    size_t at;
    uint64_t n = 0;
    gk_diag d = {0};
    int saved;

    fx_init(&f);
    s = open_ok(&f, 0);
    commit_many(&f, s, 0, 2);
    after2 = json_deep_copy(f.expect);
    commit_many(&f, s, 2, 3);
    gkd_store_close(s);
    orig = read_journal(&f);
    at = line_offset(orig, 3);
    p = strstr(orig + at, "\"actor\":\"rita\"");
    ck_assert_ptr_nonnull(p);
    p[10] = 'R';
    write_journal(&f, orig, strlen(orig));

    s = NULL;
    ck_assert_int_eq(gkd_store_dir_open(&s, f.data, f.signer, f.trusted, 0, &d), GK_EPROTO);
    ck_assert_str_eq(d.text, "record 3 (line 3): hash mismatch");
    saved = capture_begin(&f);
    s = open_ok(&f, 1);
    log = capture_end(&f, saved);
    assert_state(s, after2, 2);
    p = strstr(log, "kept in ");
    ck_assert_msg(p != NULL, "log: %s", log);
    p += strlen("kept in ");
    p[strcspn(p, "\n")] = '\0';
    ck_assert_ptr_nonnull(strstr(p, "/journal.cut-"));
    cut = gkt_read_file(p);
    ck_assert_ptr_nonnull(cut);
    ck_assert_str_eq(cut, orig + at);
    ck_assert_int_eq(s->ops->verify(s, &n, &d), GK_OK);
    ck_assert_uint_eq(n, 2);
    json_decref(f.expect);
    f.expect = after2;
    commit_many(&f, s, 2, 3);
    gkd_store_close(s);
    s = open_ok(&f, 0);
    assert_state(s, f.expect, 5);
    gkd_store_close(s);
    free(cut);
    free(log);
    free(orig);
    fx_fini(&f);
}
END_TEST

/* A second gatekeeper (a forked child) is refused, told our pid; after close the lock is free. */
START_TEST(test_lock)
{
    fixture f;
    gkd_store *s;
    char text[200] = {0}, want[64], path[PATH_MAX];
    char *pidtext;
    int fds[2];
    pid_t child;
    ssize_t got;

    fx_init(&f);
    s = open_ok(&f, 0);
    data_path(&f, "LOCK", path);
    pidtext = gkt_read_file(path);
    ck_assert_ptr_nonnull(pidtext);
    ck_assert_int_eq(atol(pidtext), (long) getpid());
    free(pidtext);
    ck_assert_int_eq(pipe(fds), 0);
    child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        gkd_store *s2 = NULL;
        gk_diag d = {0};
        gk_err rv = gkd_store_dir_open(&s2, f.data, f.signer, f.trusted, 0, &d);
        ssize_t w = write(fds[1], d.text, strlen(d.text));

        (void) w;
        _exit(rv == GK_EADDRINUSE && s2 == NULL ? 0 : 1);
    }
    close(fds[1]);
    got = read(fds[0], text, sizeof(text) - 1);
    close(fds[0]);
    ck_assert_int_gt(got, 0);
    ck_assert_int_eq(gkt_wait_exit(child, 10000), 0);
    snprintf(want, sizeof(want), "(pid %ld); stop it or use another --data-dir", (long) getpid());
    ck_assert_msg(strstr(text, want) != NULL, "child got: %s", text);
    ck_assert_msg(strstr(text, "is in use by another gatekeeper") != NULL, "child got: %s", text);
    gkd_store_close(s);
    s = open_ok(&f, 0);
    gkd_store_close(s);
    fx_fini(&f);
}
END_TEST

START_TEST(test_untrusted_key_refused)
{
    fixture f;
    gkd_store *s = NULL;
    char keys[PATH_MAX], jwks[PATH_MAX], key_path[PATH_MAX], kid[GKP_KID_MAX], want[200];
    gkd_signer *other = NULL;
    gkp_jwks *other_set = NULL;
    gk_diag d = {0};

    fx_init(&f);
    s = open_ok(&f, 0);
    commit_many(&f, s, 0, 2);
    gkd_store_close(s);
    path_join(keys, f.dir, "other-keys");
    path_join(jwks, keys, "jwks.json");
    make_key(keys, key_path, kid, &other);
    ck_assert_int_eq(gkp_jwks_load_file(&other_set, jwks, &d), GK_OK);
    s = NULL;
    ck_assert_int_eq(gkd_store_dir_open(&s, f.data, other, other_set, 0, &d), GK_EBADSIG);
    ck_assert_ptr_null(s);
    snprintf(want, sizeof(want),
             "record 1 (line 1): signature does not verify (kid \"%s\" is not in the trusted "
             "JWKS)",
             f.kid);
    ck_assert_str_eq(d.text, want);
    gkp_jwks_free(other_set);
    gkd_signer_free(other);
    fx_fini(&f);
}
END_TEST

/* Rotation: a new signing key, the old one kept in `trusted`; the old records still verify. */
START_TEST(test_key_rotation)
{
    fixture f;
    gkd_store *s;
    char key2[PATH_MAX], kid2[GKP_KID_MAX];
    gkd_signer *rotated = NULL;
    gkp_jwks *both = NULL;
    json_t *rec = NULL;
    uint64_t n = 0;
    gk_diag d = {0};

    fx_init(&f);
    s = open_ok(&f, 0);
    commit_many(&f, s, 0, 3);
    gkd_store_close(s);
    ck_assert_int_eq(gkd_keyfile_generate(f.keys, kid2, key2, &d), GK_OK);
    ck_assert_int_eq(gkd_signer_new(&rotated), GK_OK);
    ck_assert_int_eq(gkd_signer_add_key_file(rotated, key2, &d), GK_OK);
    ck_assert_int_eq(gkp_jwks_load_file(&both, f.jwks, &d), GK_OK);
    s = NULL;
    ck_assert_int_eq(gkd_store_dir_open(&s, f.data, rotated, both, 0, &d), GK_OK);
    ck_assert_int_eq(commit_one(&f, s, 3, "flag", "r", flag_def(1), &rec, &d), GK_OK);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "kid")), kid2);
    json_decref(rec);
    ck_assert_int_eq(s->ops->verify(s, &n, &d), GK_OK);
    ck_assert_uint_eq(n, 4);
    assert_state(s, f.expect, 4);
    gkd_store_close(s);
    ck_assert_int_eq(gkd_journal_verify_file(f.data, both, &n, NULL, &d), GK_OK);
    ck_assert_uint_eq(n, 4);
    /* Without the old key in `trusted` the old records are refused. */
    s = NULL;
    ck_assert_int_eq(gkd_store_dir_open(&s, f.data, rotated, NULL, 0, &d), GK_EBADSIG);
    ck_assert_ptr_nonnull(strstr(d.text, "record 1 (line 1): signature does not verify"));
    gkp_jwks_free(both);
    gkd_signer_free(rotated);
    fx_fini(&f);
}
END_TEST

/* A write that fails half-way: GK_EIO, nothing changed, and the next commit works. */
START_TEST(test_write_failure)
{
    fixture f;
    gkd_store *s;
    char path[PATH_MAX];
    struct rlimit old, lim;
    struct stat sb;
    seen w = {0};
    off_t size;
    gk_diag d = {0};

    fx_init(&f);
    s = open_ok(&f, 0);
    ck_assert_int_eq(s->ops->watch(s, on_commit, &w), GK_OK);
    commit_many(&f, s, 0, 3);
    data_path(&f, GKD_JOURNAL_FILE, path);
    ck_assert_int_eq(stat(path, &sb), 0);
    size = sb.st_size;

    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t) size + 100;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    {
        json_t *saved = json_deep_copy(f.expect);
        gk_err rv = commit_one(&f, s, 3, "flag", "big", flag_def(7), NULL, &d);
        json_decref(f.expect);
        f.expect = saved; /* commit_one tracks only successes, but be sure */
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
        ck_assert_int_eq(rv, GK_EIO);
    }
    ck_assert_ptr_nonnull(strstr(d.text, "cannot append record 4"));
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_size, size);
    ck_assert_int_eq(w.calls, 3);
    assert_state(s, f.expect, 3);
    ck_assert_int_eq(commit_one(&f, s, 3, "flag", "big", flag_def(7), NULL, &d), GK_OK);
    gkd_store_close(s);
    s = open_ok(&f, 0);
    assert_state(s, f.expect, 4);
    gkd_store_close(s);
    fx_fini(&f);
}
END_TEST

/* verify() of an open store notices a record edited behind its back. */
START_TEST(test_verify_notices_edit)
{
    fixture f;
    gkd_store *s;
    char *text, *p;
    uint64_t n = 0;
    gk_diag d = {0};

    fx_init(&f);
    s = open_ok(&f, 0);
    commit_many(&f, s, 0, 3);
    text = read_journal(&f);
    p = strstr(text + line_offset(text, 2), "canary");
    ck_assert_ptr_nonnull(p);
    p[0] = 'K';
    write_journal(&f, text, strlen(text));
    ck_assert_int_eq(s->ops->verify(s, &n, &d), GK_EPROTO);
    ck_assert_str_eq(d.text, "record 2 (line 2): hash mismatch");
    ck_assert_uint_eq(n, 1);
    free(text);
    gkd_store_close(s);
    fx_fini(&f);
}
END_TEST

static Suite *
store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("state");

    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_commit_load_round_trip);
    tcase_add_test(tc, test_load_returns_a_copy);
    tcase_add_test(tc, test_replay_with_snapshots);
    tcase_add_test(tc, test_conflict);
    tcase_add_test(tc, test_bad_change_refused);
    tcase_add_test(tc, test_watch);
    tcase_add_test(tc, test_audit_from_seq);
    suite_add_tcase(s, tc);

    tc = tcase_create("durability");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_torn_last_line);
    tcase_add_test(tc, test_write_failure);
    tcase_add_test(tc, test_lock);
    suite_add_tcase(s, tc);

    tc = tcase_create("integrity");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_tamper_every_byte);
    tcase_add_test(tc, test_recover);
    tcase_add_test(tc, test_untrusted_key_refused);
    tcase_add_test(tc, test_key_rotation);
    tcase_add_test(tc, test_verify_notices_edit);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr;
    int failed;

    if (sodium_init() < 0) {
        return 1;
    }
    sr = srunner_create(store_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
