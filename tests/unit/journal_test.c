/*
 * journal_test.c - the hash-chained, signed journal (gatekeeper/journal.c): the record format
 * (checked against an independent SHA-256 of the canonical JSON and a JWS verification), the
 * chain, torn last lines cut back, each kind of bad record named ("line N: not a JSON object",
 * "record N (line N): hash mismatch", "prev does not match", "signature does not verify", a
 * non-canonical line), recovery keeping the cut bytes, an append that fails half-way (the file
 * size limit) leaving the file as it was, key rotation, and the offline verifier.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "gk_test.h"
#include "journal.h"
#include "jws.h"
#include "keyfile.h"
#include "log.h"
#include "signer.h"

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct fixture {
    char dir[256];
    char keys[PATH_MAX];
    char jwks[PATH_MAX];
    char key_path[PATH_MAX];
    char kid[GKP_KID_MAX];
    gkd_signer *signer;
    gkp_jwks *trusted;
} fixture;

/* A key in dir/<sub> (its jwks.json lists every key made there) and a signer for it. */
static void
make_key(const char *dir, const char *sub, char *keys, char *jwks, char *key_path,
         char kid[GKP_KID_MAX], gkd_signer **signerp)
{
    gk_diag d = {0};

    snprintf(keys, PATH_MAX, "%s/%s", dir, sub);
    snprintf(jwks, PATH_MAX, "%s/jwks.json", keys);
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
    make_key(f->dir, "keys", f->keys, f->jwks, f->key_path, f->kid, &f->signer);
    ck_assert_int_eq(gkp_jwks_load_file(&f->trusted, f->jwks, &d), GK_OK);
}

static void
fx_fini(fixture *f)
{
    gkd_signer_free(f->signer);
    gkp_jwks_free(f->trusted);
    gkt_rmtree(f->dir);
}

static void
journal_path(const fixture *f, char out[PATH_MAX])
{
    snprintf(out, PATH_MAX, "%s/%s", f->dir, GKD_JOURNAL_FILE);
}

/* The change of record n: one flag set, with a reason, verdicts and a request. */
static json_t *
change_json(int n)
{
    return json_pack("[{s:s, s:s, s:n, s:{s:i, s:s}}]", "kind", "flag", "key", "orders.read_v2",
                     "before", "after", "pct", n, "owner", "team-orders \u00e9");
}

static void
append_n(gkd_journal *j, const gkd_signer *signer, int n)
{
    for (int i = 0; i < n; i++) {
        json_t *changes = change_json(i);
        json_t *args = json_pack("{s:i}", "pct", i);
        json_t *verdicts = json_pack("[{s:s, s:b}]", "policy", "ownership", "allow", 1);
        gkd_store_change c = {.actor = "rita",
                              .op = "rollout.set",
                              .args = args,
                              .why = "canary",
                              .changes = changes,
                              .verdicts = verdicts,
                              .request = "eyJhbGciOiJFZERTQSJ9.e30.c2ln"};
        json_t *rec = NULL;
        gk_diag d = {0};

        ck_assert_int_eq(gkd_journal_record_new(&rec, j, &c, signer, &d), GK_OK);
        ck_assert_int_eq(gkd_journal_append(j, rec, &d), GK_OK);
        json_decref(rec);
        json_decref(changes);
        json_decref(args);
        json_decref(verdicts);
    }
}

/* A journal of n records in f->dir, closed again. */
static void
make_journal(const fixture *f, int n)
{
    gkd_journal *j = NULL;
    gk_diag d = {0};

    ck_assert_int_eq(gkd_journal_open(&j, f->dir, f->trusted, 0, NULL, NULL, &d), GK_OK);
    append_n(j, f->signer, n);
    ck_assert_uint_eq(gkd_journal_seq(j), (uint64_t) n);
    gkd_journal_close(j);
}

static char *
read_journal(const fixture *f)
{
    char path[PATH_MAX];
    char *text;

    journal_path(f, path);
    text = gkt_read_file(path);
    ck_assert_ptr_nonnull(text);
    return text;
}

static void
write_journal(const fixture *f, const char *text)
{
    char path[PATH_MAX];

    journal_path(f, path);
    ck_assert_int_eq(gkt_write_file(path, text, 0600), 0);
}

/* Offset of line n (1-based) in text. */
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

/* Line n without its newline, malloc'd. */
static char *
line_dup(const char *text, int n)
{
    size_t at = line_offset(text, n);
    const char *nl = strchr(text + at, '\n');

    ck_assert_ptr_nonnull(nl);
    return strndup(text + at, (size_t) (nl - text - at));
}

static long
file_size(const char *path)
{
    struct stat sb;

    ck_assert_int_eq(stat(path, &sb), 0);
    return (long) sb.st_size;
}

/* Log capture: gkd_log writes to fd 2, which points at dir/log.txt in between. */
static int
capture_begin(const fixture *f)
{
    char path[PATH_MAX];
    int saved = dup(STDERR_FILENO);
    int fd;

    snprintf(path, sizeof(path), "%s/log.txt", f->dir);
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

    dup2(saved, STDERR_FILENO);
    close(saved);
    snprintf(path, sizeof(path), "%s/log.txt", f->dir);
    return gkt_read_file(path);
}

static gk_err
open_expect(const fixture *f, const gkp_jwks *trusted, gk_diag *d)
{
    gkd_journal *j = NULL;
    gk_err rv = gkd_journal_open(&j, f->dir, trusted, 0, NULL, NULL, d);

    if (rv == GK_OK) {
        gkd_journal_close(j);
    } else {
        ck_assert_ptr_null(j);
    }
    return rv;
}

START_TEST(test_record_format)
{
    fixture f;
    gkd_journal *j = NULL;
    json_t *changes = change_json(5), *rec = NULL, *body;
    gkd_store_change c = {.actor = "rita", .op = "rollout.set", .changes = changes};
    unsigned char digest[crypto_hash_sha256_BYTES];
    char hex[65];
    char *canon, *text;
    uint8_t *payload = NULL;
    size_t plen = 0;
    gk_diag d = {0};
    const char *time_text;

    fx_init(&f);
    ck_assert_int_eq(gkd_journal_open(&j, f.dir, f.trusted, 0, NULL, NULL, &d), GK_OK);
    ck_assert_str_eq(gkd_journal_head(j), ZEROS);
    ck_assert_int_eq(gkd_journal_record_new(&rec, j, &c, f.signer, &d), GK_OK);

    ck_assert_int_eq(json_integer_value(json_object_get(rec, "seq")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "actor")), "rita");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "op")), "rollout.set");
    ck_assert(json_is_null(json_object_get(rec, "why")));
    ck_assert(json_is_null(json_object_get(rec, "verdicts")));
    ck_assert(json_is_null(json_object_get(rec, "request")));
    ck_assert(json_is_object(json_object_get(rec, "args")));
    ck_assert_uint_eq(json_object_size(json_object_get(rec, "args")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "prev")), ZEROS);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "kid")), f.kid);
    ck_assert(json_is_null(
        json_object_get(json_array_get(json_object_get(rec, "changes"), 0), "before")));
    ck_assert_int_eq(json_object_size(rec), 13);
    /* The record owns its copy of the changes. */
    ck_assert_ptr_ne(json_object_get(rec, "changes"), changes);

    /* RFC 3339, UTC, milliseconds: 2026-11-21T14:03:07.123Z */
    time_text = json_string_value(json_object_get(rec, "time"));
    ck_assert_uint_eq(strlen(time_text), 24);
    for (int i = 0; i < 24; i++) {
        char want = "dddd-dd-ddTdd:dd:dd.dddZ"[i];
        if (want == 'd') {
            ck_assert_msg(time_text[i] >= '0' && time_text[i] <= '9', "time %s", time_text);
        } else {
            ck_assert_int_eq(time_text[i], want);
        }
    }

    /* The hash, computed here without the journal's code. */
    body = json_deep_copy(rec);
    json_object_del(body, "hash");
    json_object_del(body, "kid");
    json_object_del(body, "sig");
    canon = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    crypto_hash_sha256(digest, (const unsigned char *) canon, strlen(canon));
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    ck_assert_str_eq(json_string_value(json_object_get(rec, "hash")), hex);
    free(canon);
    json_decref(body);

    /* The signature is a JWS over exactly the hash hex. */
    ck_assert_int_eq(gkp_jws_verify(json_string_value(json_object_get(rec, "sig")),
                                    json_string_length(json_object_get(rec, "sig")), f.trusted,
                                    &payload, &plen, &d),
                     GK_OK);
    ck_assert_uint_eq(plen, 64);
    ck_assert_mem_eq(payload, hex, 64);
    free(payload);

    /* On disk: the canonical JSON of the whole record and a newline. */
    ck_assert_int_eq(gkd_journal_append(j, rec, &d), GK_OK);
    ck_assert_str_eq(gkd_journal_head(j), hex);
    canon = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    text = read_journal(&f);
    ck_assert_uint_eq(strlen(text), strlen(canon) + 1);
    ck_assert_mem_eq(text, canon, strlen(canon));
    ck_assert_int_eq(text[strlen(canon)], '\n');
    /* A record that does not follow the head is refused. */
    ck_assert_int_eq(gkd_journal_append(j, rec, NULL), GK_EINVAL);
    free(text);
    free(canon);
    json_decref(rec);
    json_decref(changes);
    gkd_journal_close(j);
    fx_fini(&f);
}
END_TEST

START_TEST(test_record_new_refuses_bad_changes)
{
    fixture f;
    gkd_journal *j = NULL;
    json_t *bad = json_pack("[{s:s}]", "kind", "flag"); /* no key */
    json_t *args = json_pack("[]");
    gkd_store_change c = {.actor = "rita", .op = "rollout.set", .changes = bad};
    json_t *rec = NULL;
    gk_diag d = {0};

    fx_init(&f);
    ck_assert_int_eq(gkd_journal_open(&j, f.dir, f.trusted, 0, NULL, NULL, &d), GK_OK);
    ck_assert_int_eq(gkd_journal_record_new(&rec, j, &c, f.signer, &d), GK_EINVAL);
    ck_assert_ptr_nonnull(strstr(d.text, "change 1"));
    ck_assert_ptr_null(rec);
    c.changes = NULL;
    ck_assert_int_eq(gkd_journal_record_new(&rec, j, &c, f.signer, NULL), GK_EINVAL);
    json_decref(bad);
    bad = json_pack("[]");
    c.changes = bad;
    c.args = args;
    ck_assert_int_eq(gkd_journal_record_new(&rec, j, &c, f.signer, NULL), GK_EINVAL);
    c.args = NULL;
    c.actor = "";
    ck_assert_int_eq(gkd_journal_record_new(&rec, j, &c, f.signer, NULL), GK_EINVAL);
    c.actor = "rita";
    c.why = "\xff\xfe";
    ck_assert_int_eq(gkd_journal_record_new(&rec, j, &c, f.signer, NULL), GK_EINVAL);
    json_decref(bad);
    json_decref(args);
    gkd_journal_close(j);
    fx_fini(&f);
}
END_TEST

static int
collect_seq(const json_t *rec, void *arg)
{
    json_t *seqs = arg;

    json_array_append_new(seqs, json_copy(json_object_get(rec, "seq")));
    return 0;
}

static gk_err
apply_seq(const json_t *rec, void *arg)
{
    return collect_seq(rec, arg) == 0 ? GK_OK : GK_EINVAL;
}

START_TEST(test_chain_iterate_and_verify_file)
{
    fixture f;
    gkd_journal *j = NULL;
    char head[GKD_JOURNAL_HASH_HEX_BYTES], path[PATH_MAX];
    uint64_t n = 0;
    json_t *seqs = json_array();
    char *text, *l1, *l2;
    json_t *r1, *r2;
    gk_diag d = {0};

    fx_init(&f);
    make_journal(&f, 5);
    ck_assert_int_eq(gkd_journal_open(&j, f.dir, f.trusted, 0, NULL, NULL, &d), GK_OK);
    ck_assert_uint_eq(gkd_journal_seq(j), 5);
    ck_assert_int_eq(gkd_journal_verify(j, &n, &d), GK_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(gkd_journal_iterate(j, 3, collect_seq, seqs, &d), GK_OK);
    ck_assert_uint_eq(json_array_size(seqs), 3);
    ck_assert_int_eq(json_integer_value(json_array_get(seqs, 0)), 3);
    ck_assert_int_eq(json_integer_value(json_array_get(seqs, 2)), 5);

    /* prev links: record 2's prev is record 1's hash. */
    text = read_journal(&f);
    l1 = line_dup(text, 1);
    l2 = line_dup(text, 2);
    r1 = json_loads(l1, 0, NULL);
    r2 = json_loads(l2, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(r2, "prev")),
                     json_string_value(json_object_get(r1, "hash")));

    /* Offline: by file and by directory, same count and head. */
    journal_path(&f, path);
    ck_assert_int_eq(gkd_journal_verify_file(path, f.trusted, &n, head, &d), GK_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(head, gkd_journal_head(j));
    n = 0;
    ck_assert_int_eq(gkd_journal_verify_file(f.dir, f.trusted, &n, NULL, &d), GK_OK);
    ck_assert_uint_eq(n, 5);
    snprintf(path, sizeof(path), "%s/nothing", f.dir);
    ck_assert_int_eq(gkd_journal_verify_file(path, f.trusted, &n, head, &d), GK_ENOENT);

    json_decref(r1);
    json_decref(r2);
    free(l1);
    free(l2);
    free(text);
    json_decref(seqs);
    gkd_journal_close(j);
    fx_fini(&f);
}
END_TEST

/* A torn last line without a newline: ignored offline, cut back with a warning at open. */
START_TEST(test_torn_line_cut)
{
    fixture f;
    char path[PATH_MAX];
    char *text, *whole, *log;
    gkd_journal *j = NULL;
    uint64_t n = 0;
    size_t cut;
    long size4;
    gk_diag d = {0};
    int saved;

    fx_init(&f);
    make_journal(&f, 5);
    text = read_journal(&f);
    journal_path(&f, path);
    /* Keep four records and half of the fifth. */
    cut = line_offset(text, 5);
    whole = strndup(text, cut + (strlen(text) - cut) / 2);
    write_journal(&f, whole);
    size4 = (long) cut;

    ck_assert_int_eq(gkd_journal_verify_file(path, f.trusted, &n, NULL, &d), GK_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_gt(file_size(path), size4);

    saved = capture_begin(&f);
    ck_assert_int_eq(gkd_journal_open(&j, f.dir, f.trusted, 0, NULL, NULL, &d), GK_OK);
    log = capture_end(&f, saved);
    ck_assert_uint_eq(gkd_journal_seq(j), 4);
    ck_assert_int_eq(file_size(path), size4);
    ck_assert_ptr_nonnull(strstr(log, "WARN"));
    ck_assert_ptr_nonnull(strstr(log, "torn last line"));
    /* The next record continues the chain from record 4. */
    append_n(j, f.signer, 1);
    ck_assert_int_eq(gkd_journal_verify(j, &n, &d), GK_OK);
    ck_assert_uint_eq(n, 5);
    gkd_journal_close(j);
    free(log);
    free(whole);
    free(text);
    fx_fini(&f);
}
END_TEST

/* A last line that ends in a newline but does not parse is cut too; offline it is reported. */
START_TEST(test_unparseable_last_line_cut)
{
    fixture f;
    char path[PATH_MAX];
    char *text, *bad;
    gkd_journal *j = NULL;
    uint64_t n = 0;
    size_t len;
    gk_diag d = {0};
    int saved;

    fx_init(&f);
    make_journal(&f, 3);
    text = read_journal(&f);
    len = strlen(text);
    bad = malloc(len + 32);
    memcpy(bad, text, len);
    memcpy(bad + len, "{\"seq\":4,\"act\n", 15);
    write_journal(&f, bad);
    journal_path(&f, path);

    ck_assert_int_eq(gkd_journal_verify_file(path, f.trusted, &n, NULL, &d), GK_EPROTO);
    ck_assert_str_eq(d.text,
                     "line 4: not a JSON object (column 13: premature end of input near '\"act')");
    ck_assert_uint_eq(n, 3);

    saved = capture_begin(&f);
    ck_assert_int_eq(gkd_journal_open(&j, f.dir, f.trusted, 0, NULL, NULL, &d), GK_OK);
    free(capture_end(&f, saved));
    ck_assert_uint_eq(gkd_journal_seq(j), 3);
    ck_assert_int_eq(file_size(path), (long) len);
    gkd_journal_close(j);
    free(bad);
    free(text);
    fx_fini(&f);
}
END_TEST

/* Replace line n of the journal with `repl` (no newline). */
static void
replace_line(const fixture *f, int n, const char *repl)
{
    char *text = read_journal(f);
    size_t at = line_offset(text, n);
    const char *nl = strchr(text + at, '\n');
    size_t len = strlen(text), rl = strlen(repl);
    char *out = malloc(len + rl + 1);

    memcpy(out, text, at);
    memcpy(out + at, repl, rl);
    memcpy(out + at + rl, nl, strlen(nl) + 1);
    write_journal(f, out);
    free(out);
    free(text);
}

/* Open and offline verification both refuse, with this code and exactly this text. */
static void
expect_refused(const fixture *f, const gkp_jwks *trusted, gk_err code, const char *text)
{
    char path[PATH_MAX];
    gk_diag d = {0};
    uint64_t n = 99;

    ck_assert_int_eq(open_expect(f, trusted, &d), code);
    ck_assert_str_eq(d.text, text);
    memset(&d, 0, sizeof(d));
    journal_path(f, path);
    ck_assert_int_eq(gkd_journal_verify_file(path, trusted, &n, NULL, &d), code);
    ck_assert_str_eq(d.text, text);
}

START_TEST(test_middle_line_not_json)
{
    fixture f;

    fx_init(&f);
    make_journal(&f, 3);
    replace_line(&f, 2, "[1,2]");
    expect_refused(&f, f.trusted, GK_EPROTO, "line 2: not a JSON object (column 1: not an object)");
    replace_line(&f, 2, "hello");
    expect_refused(&f, f.trusted, GK_EPROTO,
                   "line 2: not a JSON object (column 5: '[' or '{' expected near 'hello')");
    fx_fini(&f);
}
END_TEST

START_TEST(test_hash_mismatch)
{
    fixture f;
    char *text, *l2, *p;

    fx_init(&f);
    make_journal(&f, 3);
    text = read_journal(&f);
    l2 = line_dup(text, 2);
    p = strstr(l2, "\"rita\"");
    ck_assert_ptr_nonnull(p);
    memcpy(p, "\"mala\"", 6);
    replace_line(&f, 2, l2);
    expect_refused(&f, f.trusted, GK_EPROTO, "record 2 (line 2): hash mismatch");
    free(l2);
    free(text);
    fx_fini(&f);
}
END_TEST

/* Line 2 of another journal (same key, valid on its own) does not follow this line 1. */
START_TEST(test_prev_mismatch)
{
    fixture f;
    char other[PATH_MAX];
    char *text, *l2;
    gkd_journal *j = NULL;
    gk_diag d = {0};

    fx_init(&f);
    make_journal(&f, 3);
    snprintf(other, sizeof(other), "%s/other", f.dir);
    ck_assert_int_eq(mkdir(other, 0700), 0);
    ck_assert_int_eq(gkd_journal_open(&j, other, f.trusted, 0, NULL, NULL, &d), GK_OK);
    append_n(j, f.signer, 2);
    gkd_journal_close(j);
    snprintf(other, sizeof(other), "%s/other/%s", f.dir, GKD_JOURNAL_FILE);
    text = gkt_read_file(other);
    l2 = line_dup(text, 2);
    replace_line(&f, 2, l2);
    expect_refused(&f, f.trusted, GK_EPROTO, "record 2 (line 2): prev does not match record 1");
    free(l2);
    free(text);
    fx_fini(&f);
}
END_TEST

START_TEST(test_seq_gap)
{
    fixture f;
    char *text, *l3;

    fx_init(&f);
    make_journal(&f, 3);
    text = read_journal(&f);
    l3 = line_dup(text, 3);
    replace_line(&f, 2, l3);
    expect_refused(&f, f.trusted, GK_EPROTO,
                   "record 2 (line 2): seq is 3 (a record is missing or out of order)");
    free(l3);
    free(text);
    fx_fini(&f);
}
END_TEST

/* Record 2 carrying record 3's signature: a valid JWS, but not over record 2's hash. */
START_TEST(test_signature_of_another_record)
{
    fixture f;
    char *text, *l2, *l3, *out;
    json_t *r2, *r3;

    fx_init(&f);
    make_journal(&f, 3);
    text = read_journal(&f);
    l2 = line_dup(text, 2);
    l3 = line_dup(text, 3);
    r2 = json_loads(l2, 0, NULL);
    r3 = json_loads(l3, 0, NULL);
    json_object_set(r2, "sig", json_object_get(r3, "sig"));
    out = json_dumps(r2, GKD_JOURNAL_CANONICAL);
    replace_line(&f, 2, out);
    expect_refused(&f, f.trusted, GK_EBADSIG,
                   "record 2 (line 2): signature does not verify (it signs something other than "
                   "the hash)");
    free(out);
    json_decref(r2);
    json_decref(r3);
    free(l2);
    free(l3);
    free(text);
    fx_fini(&f);
}
END_TEST

/* The same record written another way (spaces; \u00e9 with a lower-case hex digit) is an edit. */
START_TEST(test_non_canonical_line)
{
    fixture f;
    char *text, *l2, *out, *p;
    json_t *r2;
    const char *msg = "record 2 (line 2): the line is not the record's canonical JSON (it was "
                      "edited)";

    fx_init(&f);
    make_journal(&f, 3);
    text = read_journal(&f);
    l2 = line_dup(text, 2);
    r2 = json_loads(l2, 0, NULL);
    out = json_dumps(r2, JSON_SORT_KEYS | JSON_ENSURE_ASCII); /* ", " and ": " separators */
    replace_line(&f, 2, out);
    expect_refused(&f, f.trusted, GK_EPROTO, msg);
    write_journal(&f, text);
    p = strstr(l2, "\\u00E9");
    ck_assert_ptr_nonnull(p);
    p[4] = 'e';
    replace_line(&f, 2, l2);
    expect_refused(&f, f.trusted, GK_EPROTO, msg);
    free(out);
    json_decref(r2);
    free(l2);
    free(text);
    fx_fini(&f);
}
END_TEST

START_TEST(test_untrusted_key)
{
    fixture f;
    char keys[PATH_MAX], jwks[PATH_MAX], key_path[PATH_MAX], kid[GKP_KID_MAX];
    char msg[200];
    gkd_signer *other = NULL;
    gkp_jwks *other_set = NULL;
    gk_diag d = {0};

    fx_init(&f);
    make_journal(&f, 2);
    make_key(f.dir, "other", keys, jwks, key_path, kid, &other);
    ck_assert_int_eq(gkp_jwks_load_file(&other_set, jwks, &d), GK_OK);
    snprintf(msg, sizeof(msg),
             "record 1 (line 1): signature does not verify (kid \"%s\" is not in the trusted "
             "JWKS)",
             f.kid);
    expect_refused(&f, other_set, GK_EBADSIG, msg);
    gkp_jwks_free(other_set);
    gkd_signer_free(other);
    fx_fini(&f);
}
END_TEST

/* Records signed before a rotation verify while the old key is trusted, and only then. */
START_TEST(test_key_rotation)
{
    fixture f;
    char key2[PATH_MAX], kid2[GKP_KID_MAX], path[PATH_MAX], msg[200];
    gkd_signer *rotated = NULL;
    gkp_jwks *both = NULL, *old_only = NULL, *new_only = NULL;
    gkd_journal *j = NULL;
    uint64_t n = 0;
    gk_diag d = {0};

    fx_init(&f);
    make_journal(&f, 3);
    /* The new key goes into the same directory, so jwks.json lists both. */
    ck_assert_int_eq(gkd_keyfile_generate(f.keys, kid2, key2, &d), GK_OK);
    ck_assert_int_eq(gkd_signer_new(&rotated), GK_OK);
    ck_assert_int_eq(gkd_signer_add_key_file(rotated, key2, &d), GK_OK);
    ck_assert_int_eq(gkd_signer_add_key_file(rotated, f.key_path, &d), GK_OK);
    ck_assert_int_eq(gkp_jwks_load_file(&both, f.jwks, &d), GK_OK);
    ck_assert_uint_eq(gkp_jwks_count(both), 2);
    ck_assert_int_eq(gkd_journal_open(&j, f.dir, both, 0, NULL, NULL, &d), GK_OK);
    append_n(j, rotated, 2);
    ck_assert_int_eq(gkd_journal_verify(j, &n, &d), GK_OK);
    ck_assert_uint_eq(n, 5);
    gkd_journal_close(j);

    journal_path(&f, path);
    ck_assert_int_eq(gkd_journal_verify_file(path, both, &n, NULL, &d), GK_OK);
    ck_assert_uint_eq(n, 5);
    /* f.trusted was loaded before the rotation: the old key only. */
    old_only = f.trusted;
    snprintf(msg, sizeof(msg),
             "record 4 (line 4): signature does not verify (kid \"%s\" is not in the trusted "
             "JWKS)",
             kid2);
    expect_refused(&f, old_only, GK_EBADSIG, msg);
    ck_assert_int_eq(gkp_jwks_new(&new_only), GK_OK);
    ck_assert_int_eq(gkp_jwks_add(new_only, kid2, gkp_jwks_find(both, kid2, strlen(kid2))), GK_OK);
    snprintf(msg, sizeof(msg),
             "record 1 (line 1): signature does not verify (kid \"%s\" is not in the trusted "
             "JWKS)",
             f.kid);
    expect_refused(&f, new_only, GK_EBADSIG, msg);
    gkp_jwks_free(both);
    gkp_jwks_free(new_only);
    gkd_signer_free(rotated);
    fx_fini(&f);
}
END_TEST

/* recover=1: cut back to the last good record, the rest kept byte for byte in journal.cut-*. */
START_TEST(test_recover_keeps_cut_bytes)
{
    fixture f;
    char *text, *l3, *p, *tampered, *log, *cut_text = NULL;
    gkd_journal *j = NULL;
    char path[PATH_MAX];
    json_t *seqs = json_array();
    size_t at;
    gk_diag d = {0};
    int saved;

    fx_init(&f);
    make_journal(&f, 5);
    text = read_journal(&f);
    l3 = line_dup(text, 3);
    p = strstr(l3, "canary");
    ck_assert_ptr_nonnull(p);
    p[0] = 'C';
    replace_line(&f, 3, l3);
    tampered = read_journal(&f);
    at = line_offset(tampered, 3);

    ck_assert_int_eq(open_expect(&f, f.trusted, &d), GK_EPROTO);
    saved = capture_begin(&f);
    ck_assert_int_eq(gkd_journal_open(&j, f.dir, f.trusted, 1, apply_seq, seqs, &d), GK_OK);
    log = capture_end(&f, saved);
    ck_assert_uint_eq(gkd_journal_seq(j), 2);
    ck_assert_uint_eq(json_array_size(seqs), 2); /* apply saw only the records kept */
    ck_assert_ptr_nonnull(strstr(log, "record 3 (line 3): hash mismatch; recovered: cut back to "
                                      "record 2"));
    p = strstr(log, "kept in ");
    ck_assert_ptr_nonnull(p);
    p += strlen("kept in ");
    p[strcspn(p, "\n")] = '\0';
    snprintf(path, sizeof(path), "%s/journal.cut-", f.dir);
    ck_assert_int_eq(strncmp(p, path, strlen(path)), 0);
    cut_text = gkt_read_file(p);
    ck_assert_ptr_nonnull(cut_text);
    ck_assert_str_eq(cut_text, tampered + at);
    /* The journal continues from record 2. */
    append_n(j, f.signer, 1);
    gkd_journal_close(j);
    journal_path(&f, path);
    ck_assert_int_eq(gkd_journal_verify_file(path, f.trusted, NULL, NULL, &d), GK_OK);

    free(cut_text);
    free(log);
    free(tampered);
    free(l3);
    free(text);
    json_decref(seqs);
    fx_fini(&f);
}
END_TEST

/* gkd_journal_append with the file size limited to `cap` bytes (SIGXFSZ ignored): its result. */
static gk_err
append_capped(gkd_journal *j, json_t *rec, long cap, gk_diag *d)
{
    struct rlimit old, lim;
    gk_err rv;

    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t) cap;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    rv = gkd_journal_append(j, rec, d);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    return rv;
}

/*
 * An append that fails half-way (the file size limit stops write(2) mid-line) leaves the file as it
 * was and the journal where it was; the next append succeeds.
 */
START_TEST(test_append_failure_truncates)
{
    fixture f;
    char path[PATH_MAX];
    gkd_journal *j = NULL;
    json_t *changes = change_json(1), *rec = NULL;
    gkd_store_change c = {.actor = "rita", .op = "rollout.set", .changes = changes};
    char head[GKD_JOURNAL_HASH_HEX_BYTES];
    uint64_t n = 0;
    long size;
    gk_diag d = {0};

    fx_init(&f);
    make_journal(&f, 2);
    journal_path(&f, path);
    size = file_size(path);
    ck_assert_int_eq(gkd_journal_open(&j, f.dir, f.trusted, 0, NULL, NULL, &d), GK_OK);
    memcpy(head, gkd_journal_head(j), sizeof(head));
    ck_assert_int_eq(gkd_journal_record_new(&rec, j, &c, f.signer, &d), GK_OK);

    ck_assert_int_eq(append_capped(j, rec, size + 40, &d), GK_EIO);
    ck_assert_ptr_nonnull(strstr(d.text, "cannot append record 3"));
    ck_assert_int_eq(file_size(path), size);
    ck_assert_uint_eq(gkd_journal_seq(j), 2);
    ck_assert_str_eq(gkd_journal_head(j), head);

    ck_assert_int_eq(gkd_journal_append(j, rec, &d), GK_OK);
    ck_assert_int_eq(gkd_journal_verify(j, &n, &d), GK_OK);
    ck_assert_uint_eq(n, 3);
    json_decref(rec);
    json_decref(changes);
    gkd_journal_close(j);
    fx_fini(&f);
}
END_TEST

/*
 * A record of several 64 KiB chunks is streamed to the file as exactly its canonical JSON and a
 * newline, its hash is the SHA-256 of that text without the seal, and it verifies at the next
 * open. An append that fails part way through leaves no trace.
 */
START_TEST(test_large_record_streamed)
{
    fixture f;
    char path[PATH_MAX], hex[GKD_JOURNAL_HASH_HEX_BYTES];
    unsigned char digest[crypto_hash_sha256_BYTES];
    gkd_journal *j = NULL;
    json_t *changes = json_array(), *rec = NULL, *body;
    gkd_store_change c = {.actor = "system", .op = "bootstrap"};
    char *text, *canon;
    long size;
    gk_diag d = {0};

    for (int i = 0; i < 2000; i++) {
        char key[32];
        snprintf(key, sizeof(key), "bench.flag_%05d", i);
        json_array_append_new(changes,
                              json_pack("{s:s, s:s, s:n, s:{s:s, s:{s:b, s:b}, s:s}}", "kind",
                                        "flag", "key", key, "before", "after", "owner",
                                        "team-platform \u00e9", "variants", "off", 0, "on", 1,
                                        "defaultVariant", "off"));
    }
    c.changes = changes;
    fx_init(&f);
    make_journal(&f, 1);
    journal_path(&f, path);
    size = file_size(path);
    ck_assert_int_eq(gkd_journal_open(&j, f.dir, f.trusted, 0, NULL, NULL, &d), GK_OK);
    ck_assert_int_eq(gkd_journal_record_new(&rec, j, &c, f.signer, &d), GK_OK);
    canon = json_dumps(rec, GKD_JOURNAL_CANONICAL);
    ck_assert_uint_gt(strlen(canon), 3 * 64 * 1024);

    /* Cut off by the file size limit in the middle of the second chunk: nothing stays. */
    ck_assert_int_eq(append_capped(j, rec, size + 100000, &d), GK_EIO);
    ck_assert_int_eq(file_size(path), size);
    ck_assert_uint_eq(gkd_journal_seq(j), 1);

    ck_assert_int_eq(gkd_journal_append(j, rec, &d), GK_OK);
    gkd_journal_close(j);
    text = read_journal(&f);
    ck_assert_uint_eq(strlen(text + line_offset(text, 2)), strlen(canon) + 1);
    ck_assert_int_eq(memcmp(text + line_offset(text, 2), canon, strlen(canon)), 0);

    /* The hash is over the canonical text without hash, kid and sig. */
    body = json_copy(rec);
    json_object_del(body, "hash");
    json_object_del(body, "kid");
    json_object_del(body, "sig");
    free(canon);
    canon = json_dumps(body, GKD_JOURNAL_CANONICAL);
    crypto_hash_sha256(digest, (const unsigned char *) canon, strlen(canon));
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    ck_assert_str_eq(hex, json_string_value(json_object_get(rec, "hash")));

    ck_assert_int_eq(open_expect(&f, f.trusted, &d), GK_OK);
    json_decref(body);
    free(canon);
    free(text);
    json_decref(rec);
    json_decref(changes);
    fx_fini(&f);
}
END_TEST

/* verify() on an open journal notices records removed behind its back. */
START_TEST(test_verify_notices_truncation)
{
    fixture f;
    char path[PATH_MAX];
    gkd_journal *j = NULL;
    char *text;
    uint64_t n = 0;
    gk_diag d = {0};

    fx_init(&f);
    make_journal(&f, 3);
    ck_assert_int_eq(gkd_journal_open(&j, f.dir, f.trusted, 0, NULL, NULL, &d), GK_OK);
    text = read_journal(&f);
    journal_path(&f, path);
    ck_assert_int_eq(truncate(path, (off_t) line_offset(text, 3)), 0);
    ck_assert_int_eq(gkd_journal_verify(j, &n, &d), GK_EPROTO);
    ck_assert_uint_eq(n, 2);
    ck_assert_ptr_nonnull(strstr(d.text, "ends at record 2 but the gatekeeper wrote 3"));
    free(text);
    gkd_journal_close(j);
    fx_fini(&f);
}
END_TEST

START_TEST(test_seal_and_check)
{
    fixture f;
    json_t *obj = json_pack("{s:i, s:s}", "seq", 7, "x", "y");
    gk_diag d = {0};

    fx_init(&f);
    ck_assert_int_eq(gkd_journal_check_seal(obj, f.trusted, &d), GK_EPROTO);
    ck_assert_int_eq(gkd_journal_seal(obj, f.signer), GK_OK);
    ck_assert_int_eq(gkd_journal_check_seal(obj, f.trusted, NULL), GK_OK);
    json_object_set_new(obj, "x", json_string("z"));
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(gkd_journal_check_seal(obj, f.trusted, &d), GK_EPROTO);
    ck_assert_str_eq(d.text, "hash mismatch");
    ck_assert_int_eq(gkd_journal_seal(obj, f.signer), GK_OK);
    ck_assert_int_eq(gkd_journal_check_seal(obj, f.trusted, NULL), GK_OK);
    json_object_set_new(obj, "kid", json_string("someone-else"));
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(gkd_journal_check_seal(obj, f.trusted, &d), GK_EBADSIG);
    ck_assert_str_eq(d.text, "signature does not verify (its key is not the record's \"kid\")");
    json_decref(obj);
    fx_fini(&f);
}
END_TEST

static Suite *
journal_suite(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("format");

    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_record_format);
    tcase_add_test(tc, test_record_new_refuses_bad_changes);
    tcase_add_test(tc, test_chain_iterate_and_verify_file);
    tcase_add_test(tc, test_seal_and_check);
    suite_add_tcase(s, tc);

    tc = tcase_create("torn");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_torn_line_cut);
    tcase_add_test(tc, test_unparseable_last_line_cut);
    tcase_add_test(tc, test_append_failure_truncates);
    tcase_add_test(tc, test_large_record_streamed);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_middle_line_not_json);
    tcase_add_test(tc, test_hash_mismatch);
    tcase_add_test(tc, test_prev_mismatch);
    tcase_add_test(tc, test_seq_gap);
    tcase_add_test(tc, test_signature_of_another_record);
    tcase_add_test(tc, test_non_canonical_line);
    tcase_add_test(tc, test_untrusted_key);
    tcase_add_test(tc, test_key_rotation);
    tcase_add_test(tc, test_recover_keeps_cut_bytes);
    tcase_add_test(tc, test_verify_notices_truncation);
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
    sr = srunner_create(journal_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
