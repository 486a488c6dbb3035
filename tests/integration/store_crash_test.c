/*
 * store_crash_test.c - the data-directory store of the real daemon: SIGKILL at random moments
 * while changes stream in loses no acknowledged change; a tampered journal stops the start (and
 * --recover-journal serves the records before the bad one); a torn last line is cut with a
 * warning; the data-directory lock names the holder's pid; the flags file bootstraps only once.
 *
 * Changes are made by rita (release-manager) under the shipped policies (the integration
 * policies authorise nothing).
 */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "admin.h"
#include "gk_test.h"
#include "journal.h"
#include "jwk.h"

enum { RITA = 0 };

#define WHY "rollout step for the crash test, OPS-77"

static gkt_daemon daemon_;

static const char *
data_path(const char *name)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/integration/%s", gkt_env("GK_TEST_DATA"), name);
    return path;
}

static char policies_dir[4096];
static const char *shipped[] = {"--policies", policies_dir, NULL};
static const char *shipped_recover[] = {"--policies", policies_dir, "--recover-journal", NULL};

/* One admin request by rita; the parsed reply. */
static json_t *
admin(const gkt_daemon *d, const char *op, const char *args, const char *why)
{
    char *text = NULL;
    json_t *root;

    ck_assert_int_eq(gkt_admin(d, RITA, op, args, why, 0, &text), 0);
    root = json_loads(text, 0, NULL);
    ck_assert_msg(root != NULL, "admin reply is not JSON: %s", text);
    free(text);
    return root;
}

static unsigned long long
ok_version(const json_t *reply)
{
    char *text = json_dumps(reply, JSON_COMPACT);

    ck_assert_msg(json_is_true(json_object_get(reply, "ok")), "expected ok, got %s", text);
    free(text);
    return (unsigned long long) json_integer_value(json_object_get(reply, "version"));
}

/* rollout.set of orders.read_v2 to `milli` thousandths of a percent; the new version. */
static unsigned long long
set_milli(const gkt_daemon *d, int milli)
{
    char args[128];
    json_t *reply;
    unsigned long long v;

    snprintf(args, sizeof(args), "{\"key\":\"orders.read_v2\",\"percent\":%d.%03d}", milli / 1000,
             milli % 1000);
    reply = admin(d, "rollout.set", args, WHY);
    v = ok_version(reply);
    json_decref(reply);
    return v;
}

/* The state: version, and orders.read_v2's share of "on" in thousandths of a percent. */
static void
state_of(const gkt_daemon *d, unsigned long long *version, long long *milli)
{
    json_t *reply = admin(d, "flag.get", "{\"key\":\"orders.read_v2\"}", NULL);
    const json_t *rollout;

    *version = ok_version(reply);
    rollout = json_object_get(json_object_get(json_object_get(reply, "result"), "definition"),
                              "rollout");
    *milli = json_integer_value(json_object_get(rollout, "on"));
    json_decref(reply);
}

static size_t
audit_count(const gkt_daemon *d)
{
    json_t *reply = admin(d, "audit.log", "{\"limit\":1000000}", NULL);
    size_t n;

    ok_version(reply);
    n = json_array_size(json_object_get(json_object_get(reply, "result"), "records"));
    json_decref(reply);
    return n;
}

static void
expect_verify_ok(const gkt_daemon *d, size_t records)
{
    json_t *reply = admin(d, "audit.verify", NULL, NULL);
    const json_t *result = json_object_get(reply, "result");
    char *text = json_dumps(reply, JSON_COMPACT);

    ok_version(reply);
    ck_assert_msg(json_is_true(json_object_get(result, "ok")), "audit.verify: %s", text);
    ck_assert_int_eq(json_integer_value(json_object_get(result, "records")), (json_int_t) records);
    free(text);
    json_decref(reply);
}

/* Stops the daemon with SIGTERM and keeps its directory (exit status 0 expected). */
static void
halt(gkt_daemon *d)
{
    gkt_daemon_signal(d, SIGTERM);
    ck_assert_int_eq(gkt_wait_exit(d->pid, 10000), 0);
    d->pid = 0;
}

/* Starts the stopped daemon again on its directory (gkt_daemon_restart stops nothing then). */
static void
resume(gkt_daemon *d, const char *const *extra)
{
    d->extra = extra;
    ck_assert_int_eq(gkt_daemon_restart(d, 0), 0);
}

/*
 * Runs `gatekeeper serve` once more on d's data directory (another ready file, new ports), waits
 * at most 8 s, and returns its exit status with its output in `out`: for starts that must fail.
 */
static int
serve_once(const gkt_daemon *d, const char *const *more, char *out, size_t outsize)
{
    char ready[400];
    const char *argv[40];
    size_t n = 0;

    snprintf(ready, sizeof(ready), "%s/ready-second", d->dir);
    argv[n++] = gkt_env("GK_DAEMON");
    argv[n++] = "serve";
    argv[n++] = "--flags";
    argv[n++] = d->flags_path;
    argv[n++] = "--key";
    argv[n++] = d->key_path;
    argv[n++] = "--data-dir";
    argv[n++] = d->data_dir;
    argv[n++] = "--actors";
    argv[n++] = d->actors_path;
    argv[n++] = "--listen";
    argv[n++] = "tcp://127.0.0.1:0";
    argv[n++] = "--admin-listen";
    argv[n++] = "tcp://127.0.0.1:0";
    argv[n++] = "--events-listen";
    argv[n++] = "tcp://127.0.0.1:0";
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    for (size_t i = 0; more != NULL && more[i] != NULL && n < 39; i++) {
        argv[n++] = more[i];
    }
    argv[n] = NULL;
    return gkt_run(argv, NULL, out, outsize, 8000);
}

static char *
journal_path(const gkt_daemon *d, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", d->data_dir, GKD_JOURNAL_FILE);
    return buf;
}

/* The journal's lines parsed (a new array). */
static json_t *
journal_records(const gkt_daemon *d)
{
    char path[600];
    char *text = gkt_read_file(journal_path(d, path, sizeof(path)));
    json_t *out = json_array();
    char *line = text;

    ck_assert_ptr_nonnull(text);
    while (line != NULL && *line != '\0') {
        char *nl = strchr(line, '\n');
        json_t *rec;

        ck_assert_msg(nl != NULL, "the journal ends without a newline");
        *nl = '\0';
        rec = json_loads(line, 0, NULL);
        ck_assert_msg(rec != NULL, "journal line %zu is not JSON", json_array_size(out) + 1);
        json_array_append_new(out, rec);
        line = nl + 1;
    }
    free(text);
    return out;
}

/* Verifies the journal offline with the daemon's public keys; the record count. */
static uint64_t
verify_offline(const gkt_daemon *d, char head[GKD_JOURNAL_HASH_HEX_BYTES])
{
    gkp_jwks *keys = NULL;
    gk_diag diag = {0};
    uint64_t records = 0;
    gk_err rv;

    ck_assert_int_eq(gkp_jwks_load_file(&keys, d->jwks_path, &diag), GK_OK);
    rv = gkd_journal_verify_file(d->data_dir, keys, &records, head, &diag);
    ck_assert_msg(rv == GK_OK, "offline verify: %s", diag.text);
    gkp_jwks_free(keys);
    return records;
}

/* ---- crash safety ------------------------------------------------------------------------------ */

#define MAX_ACKS 100000

typedef struct stream {
    gkt_daemon *d;
    pthread_mutex_t lock;       /* held by the main thread while it kills and restarts */
    atomic_int stop;            /* stop after the next acknowledged change */
    atomic_size_t nacked;
    int acked[MAX_ACKS];        /* milli-percent of each acknowledged change, in order */
    unsigned long long version[MAX_ACKS];
    int refused;                /* replies that were not ok (none expected) */
    char refusal[512];
    int unanswered;             /* requests without a reply (the daemon died) */
    long long deadline_ms;
} stream;

static void *
streamer(void *arg)
{
    stream *s = arg;
    int last_acked = 0;

    for (int milli = 1; milli <= 100000 && gkt_now_ms() < s->deadline_ms; milli++) {
        char url[256], args[128], *req = NULL, *text = NULL;
        size_t len;
        json_t *jargs;
        int rv;

        if (atomic_load(&s->stop) && last_acked) {
            break;
        }
        pthread_mutex_lock(&s->lock);
        snprintf(url, sizeof(url), "%s", s->d->admin_url);
        pthread_mutex_unlock(&s->lock);
        snprintf(args, sizeof(args), "{\"key\":\"orders.read_v2\",\"percent\":%d.%03d}",
                 milli / 1000, milli % 1000);
        jargs = json_loads(args, 0, NULL);
        if (gkp_admin_request_sign(&req, &len, "rita", s->d->actor_sk[RITA], "rollout.set", jargs,
                                   WHY, 0, (int64_t) time(NULL)) != GK_OK) {
            json_decref(jargs);
            s->refused++;
            snprintf(s->refusal, sizeof(s->refusal), "cannot sign");
            break;
        }
        json_decref(jargs);
        rv = gkt_request(url, req, len, &text, 2000);
        free(req);
        last_acked = 0;
        if (rv != 0) {
            s->unanswered++;
            gkt_sleep_ms(2);
            continue;
        }
        {
            json_t *reply = json_loads(text, 0, NULL);
            if (json_is_true(json_object_get(reply, "ok"))) {
                size_t n = atomic_load(&s->nacked);
                if (n < MAX_ACKS) {
                    s->acked[n] = milli;
                    s->version[n] = (unsigned long long) json_integer_value(
                        json_object_get(reply, "version"));
                    atomic_store(&s->nacked, n + 1);
                }
                last_acked = 1;
            } else {
                s->refused++;
                snprintf(s->refusal, sizeof(s->refusal), "%s", text);
            }
            json_decref(reply);
        }
        free(text);
    }
    return NULL;
}

/* Waits (at most timeout_ms) until the streamer has more than `n` acknowledged changes. */
static int
wait_acks_beyond(stream *s, size_t n, int timeout_ms)
{
    long long deadline = gkt_now_ms() + timeout_ms;

    while (atomic_load(&s->nacked) <= n) {
        if (gkt_now_ms() > deadline) {
            return 0;
        }
        gkt_sleep_ms(1);
    }
    return 1;
}

START_TEST(test_sigkill_loses_no_acknowledged_change)
{
    stream *s = calloc(1, sizeof(*s));
    pthread_t thread;
    unsigned seed = (unsigned) time(NULL) ^ (unsigned) getpid();
    long long restart_ms[16];
    json_t *records;
    unsigned long long version;
    long long milli;
    size_t nacked, rollouts = 0, j;
    int kills = 0, prev = 0;
    char head[GKD_JOURNAL_HASH_HEX_BYTES];

    ck_assert_ptr_nonnull(s);
    fprintf(stderr, "crash test seed %u\n", seed);
    srand(seed);
    s->d = &daemon_;
    s->deadline_ms = gkt_now_ms() + 60000;
    pthread_mutex_init(&s->lock, NULL);
    pthread_create(&thread, NULL, streamer, s);

    for (kills = 0; kills < 8; kills++) {
        long long t0;
        int rv;

        /* Kill while changes are flowing: after an acknowledgement, 0-50 ms later. */
        ck_assert_msg(wait_acks_beyond(s, atomic_load(&s->nacked), 10000),
                      "no change acknowledged within 10 s (kill %d)", kills);
        gkt_sleep_ms(rand() % 51);
        pthread_mutex_lock(&s->lock);
        t0 = gkt_now_ms();
        rv = gkt_daemon_restart(&daemon_, 1);
        restart_ms[kills] = gkt_now_ms() - t0;
        pthread_mutex_unlock(&s->lock);
        ck_assert_msg(rv == 0, "restart after SIGKILL %d failed", kills + 1);
    }
    /* One more acknowledged change on the last daemon, then stop after an acknowledgement. */
    ck_assert(wait_acks_beyond(s, atomic_load(&s->nacked), 10000));
    atomic_store(&s->stop, 1);
    pthread_join(thread, NULL);
    ck_assert_msg(s->refused == 0, "%d changes refused, e.g. %s", s->refused, s->refusal);
    nacked = atomic_load(&s->nacked);
    ck_assert_uint_gt(nacked, 0);

    /* Every acknowledged change is in the journal, in order, at the version it was given. */
    records = journal_records(&daemon_);
    state_of(&daemon_, &version, &milli);
    ck_assert_uint_eq(json_array_size(records), version);
    ck_assert_uint_eq(audit_count(&daemon_), version);
    for (size_t i = 0; i < nacked; i++) {
        const json_t *rec;
        ck_assert_msg(s->version[i] >= 2 && s->version[i] <= version, "ack %zu: version %llu", i,
                      s->version[i]);
        ck_assert(i == 0 || s->version[i] > s->version[i - 1]);
        rec = json_array_get(records, (size_t) s->version[i] - 1);
        ck_assert_int_eq(json_integer_value(json_object_get(rec, "seq")),
                         (json_int_t) s->version[i]);
        ck_assert_str_eq(json_string_value(json_object_get(rec, "op")), "rollout.set");
        ck_assert_msg(llround(json_number_value(json_object_get(json_object_get(rec, "args"),
                                                                "percent")) *
                              1000) == s->acked[i],
                      "record %llu is not acknowledged change %d", s->version[i], s->acked[i]);
    }
    /* No change recorded twice or out of order, acknowledged or not. */
    for (j = 1; j < json_array_size(records); j++) {
        const json_t *rec = json_array_get(records, j);
        int m = (int) llround(json_number_value(
                          json_object_get(json_object_get(rec, "args"), "percent")) *
                      1000);
        ck_assert_int_eq(json_integer_value(json_object_get(rec, "seq")), (json_int_t) j + 1);
        ck_assert_msg(m > prev, "record %zu (%d) does not follow %d", j + 1, m, prev);
        prev = m;
        rollouts++;
    }
    /* The state is the last acknowledged change. */
    ck_assert_uint_eq(version, s->version[nacked - 1]);
    ck_assert_int_eq(milli, s->acked[nacked - 1]);
    expect_verify_ok(&daemon_, version);
    ck_assert_uint_eq(verify_offline(&daemon_, head), version);
    ck_assert_str_eq(head, json_string_value(json_object_get(
                               json_array_get(records, json_array_size(records) - 1), "hash")));
    {
        long long sorted[16], sum = 0;
        memcpy(sorted, restart_ms, sizeof(long long) * (size_t) kills);
        for (int a = 0; a < kills; a++) {
            for (int b = a + 1; b < kills; b++) {
                if (sorted[b] < sorted[a]) {
                    long long t = sorted[a];
                    sorted[a] = sorted[b];
                    sorted[b] = t;
                }
            }
            sum += sorted[a];
        }
        fprintf(stderr,
                "crash test: %d SIGKILLs, %zu changes acknowledged, %zu recorded, %zu recorded "
                "without an acknowledgement, %d requests unanswered; restart after SIGKILL: "
                "median %lld ms, max %lld ms\n",
                kills, nacked, rollouts, rollouts - nacked, s->unanswered, sorted[kills / 2],
                sorted[kills - 1]);
        (void) sum;
    }
    json_decref(records);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
END_TEST

/* ---- tampering --------------------------------------------------------------------------------- */

/* Changes one byte of journal line `lineno` (1-based): the first character after `marker`. */
static void
tamper(const gkt_daemon *d, int lineno, const char *marker)
{
    char path[600];
    char *text = gkt_read_file(journal_path(d, path, sizeof(path)));
    char *line = text, *at, *end;

    ck_assert_ptr_nonnull(text);
    for (int n = 1; n < lineno; n++) {
        line = strchr(line, '\n');
        ck_assert_ptr_nonnull(line);
        line++;
    }
    end = strchr(line, '\n');
    at = strstr(line, marker);
    ck_assert_msg(at != NULL && at < end, "line %d has no %s", lineno, marker);
    at += strlen(marker);
    *at = *at == 'a' ? 'b' : 'a'; /* a why is text; a hash is hex: either way a different byte */
    ck_assert_int_eq(gkt_write_file(path, text, 0600), 0);
    free(text);
}

static int
count_cut_files(const gkt_daemon *d)
{
    DIR *dir = opendir(d->data_dir);
    struct dirent *e;
    int n = 0;

    ck_assert_ptr_nonnull(dir);
    while ((e = readdir(dir)) != NULL) {
        n += strncmp(e->d_name, "journal.cut-", 12) == 0;
    }
    closedir(dir);
    return n;
}

static void
remove_cut_files(const gkt_daemon *d)
{
    DIR *dir = opendir(d->data_dir);
    struct dirent *e;

    ck_assert_ptr_nonnull(dir);
    while ((e = readdir(dir)) != NULL) {
        if (strncmp(e->d_name, "journal.cut-", 12) == 0) {
            char path[600];
            snprintf(path, sizeof(path), "%s/%s", d->data_dir, e->d_name);
            unlink(path);
        }
    }
    closedir(dir);
}

/*
 * With `changes` rollout.set changes (milli 1000+i, records 2..changes+1), tampering line `bad`
 * at `marker` stops the start naming record `bad`; --recover-journal serves record bad-1.
 */
static void
tamper_case(int changes, int bad, const char *marker)
{
    char path[600], out[16384], needle[64];
    char *original;
    unsigned long long version;
    long long milli;
    int status;

    for (int i = 1; i <= changes; i++) {
        set_milli(&daemon_, 1000 + i);
    }
    halt(&daemon_);
    original = gkt_read_file(journal_path(&daemon_, path, sizeof(path)));
    ck_assert_ptr_nonnull(original);
    tamper(&daemon_, bad, marker);

    status = serve_once(&daemon_, shipped, out, sizeof(out));
    ck_assert_msg(status == 1, "start on a tampered journal: exit status %d; output:\n%s", status,
                  out);
    snprintf(needle, sizeof(needle), "record %d", bad);
    ck_assert_msg(strstr(out, needle) != NULL, "the error does not name %s:\n%s", needle, out);

    resume(&daemon_, shipped_recover);
    state_of(&daemon_, &version, &milli);
    ck_assert_uint_eq(version, (unsigned long long) bad - 1);
    ck_assert_int_eq(milli, bad - 1 >= 2 ? 1000 + (bad - 2) : 25000);
    ck_assert_int_eq(count_cut_files(&daemon_), 1);
    ck_assert(gkt_log_contains(&daemon_, "recovered", 2000));
    expect_verify_ok(&daemon_, version);
    /* It goes on from there. */
    ck_assert_uint_eq(set_milli(&daemon_, 77000), (unsigned long long) bad);
    halt(&daemon_);

    /* Put the original back for the next case. */
    ck_assert_int_eq(gkt_write_file(path, original, 0600), 0);
    remove_cut_files(&daemon_);
    free(original);
    resume(&daemon_, shipped);
}

START_TEST(test_tampered_why)
{
    tamper_case(5, 4, "\"why\":\"");
}
END_TEST

START_TEST(test_tampered_hash)
{
    tamper_case(5, 4, "\"hash\":\"");
}
END_TEST

/* A tampered record below the newest compacted snapshot (every 100 records). */
START_TEST(test_tampered_below_snapshot)
{
    tamper_case(110, 50, "\"why\":\"");
}
END_TEST

/* ---- torn last line ---------------------------------------------------------------------------- */

START_TEST(test_torn_last_line)
{
    char path[600];
    char *text, *last, *torn;
    unsigned long long version;
    long long milli;
    size_t whole;

    for (int i = 1; i <= 3; i++) {
        set_milli(&daemon_, 2000 + i);
    }
    halt(&daemon_);
    text = gkt_read_file(journal_path(&daemon_, path, sizeof(path)));
    ck_assert_ptr_nonnull(text);
    whole = strlen(text);
    /* Half of a copy of the last record, without its newline, as a crash mid-append leaves. */
    text[whole - 1] = '\0';
    last = strrchr(text, '\n');
    last = last != NULL ? last + 1 : text;
    torn = malloc(whole + strlen(last) / 2 + 2);
    text[whole - 1] = '\n';
    memcpy(torn, text, whole);
    memcpy(torn + whole, last, strlen(last) / 2);
    torn[whole + strlen(last) / 2] = '\0';
    ck_assert_int_eq(gkt_write_file(path, torn, 0600), 0);

    resume(&daemon_, shipped);
    ck_assert(gkt_log_contains(&daemon_, "torn last line", 2000));
    state_of(&daemon_, &version, &milli);
    ck_assert_uint_eq(version, 4);
    ck_assert_int_eq(milli, 2003);
    expect_verify_ok(&daemon_, 4);
    free(torn);
    torn = gkt_read_file(path);
    ck_assert_str_eq(torn, text);
    ck_assert_uint_eq(set_milli(&daemon_, 2004), 5);
    free(torn);
    free(text);
}
END_TEST

/* ---- the lock ---------------------------------------------------------------------------------- */

START_TEST(test_second_daemon_refused)
{
    char out[16384], pid[32];
    int status = serve_once(&daemon_, shipped, out, sizeof(out));
    unsigned long long version;
    long long milli;

    ck_assert_msg(status == 1, "a second daemon on the same data dir: exit status %d:\n%s", status,
                  out);
    snprintf(pid, sizeof(pid), "pid %d", (int) daemon_.pid);
    ck_assert_msg(strstr(out, pid) != NULL, "the error does not name %s:\n%s", pid, out);
    /* The first one is unharmed. */
    ck_assert_uint_eq(set_milli(&daemon_, 3000), 2);
    state_of(&daemon_, &version, &milli);
    ck_assert_uint_eq(version, 2);
}
END_TEST

/* ---- bootstrap once ---------------------------------------------------------------------------- */

START_TEST(test_bootstrap_once)
{
    char dir[256], flags[300];
    char *text = gkt_read_file(data_path("flags.json"));
    json_t *doc, *reply;
    unsigned long long version;
    long long milli;
    gkt_daemon d;

    gkt_tempdir(dir);
    snprintf(flags, sizeof(flags), "%s/flags.json", dir);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(gkt_write_file(flags, text, 0644), 0);
    free(text);
    ck_assert_int_eq(gkt_daemon_start(&d, flags, shipped), 0);
    ck_assert_uint_eq(set_milli(&d, 42000), 2);

    /* The flags file changes: a restart must not apply it again. */
    doc = json_load_file(flags, 0, NULL);
    json_object_set_new(json_object_get(doc, "flags"), "extra.flag",
                        json_pack("{s:s, s:{s:b, s:b}, s:s}", "owner", "team-orders", "variants",
                                  "off", 0, "on", 1, "defaultVariant", "off"));
    json_object_set_new(json_object_get(json_object_get(doc, "flags"), "orders.read_v2"),
                        "rollout", json_pack("{s:i, s:i}", "off", 100000, "on", 0));
    ck_assert_int_eq(json_dump_file(doc, flags, JSON_INDENT(2)), 0);
    json_decref(doc);
    ck_assert_int_eq(gkt_daemon_restart(&d, 0), 0);
    state_of(&d, &version, &milli);
    ck_assert_uint_eq(version, 2);
    ck_assert_int_eq(milli, 42000);
    ck_assert_uint_eq(audit_count(&d), 2);
    reply = admin(&d, "flag.get", "{\"key\":\"extra.flag\"}", NULL);
    ck_assert_str_eq(json_string_value(json_object_get(reply, "error")), "NOT_FOUND");
    json_decref(reply);
    ck_assert_int_eq(gkt_daemon_restart(&d, 1), 0);
    state_of(&d, &version, &milli);
    ck_assert_uint_eq(version, 2);
    ck_assert_int_eq(milli, 42000);
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
    gkt_rmtree(dir);
}
END_TEST

static void
start(void)
{
    ck_assert_int_eq(gkt_daemon_start(&daemon_, data_path("flags.json"), shipped), 0);
}

static void
stop(void)
{
    ck_assert_int_eq(gkt_daemon_stop(&daemon_), 0);
}

int
main(void)
{
    Suite *s = suite_create("store_crash");
    TCase *crash = tcase_create("crash");
    TCase *tampering = tcase_create("tampering");
    TCase *files = tcase_create("files");
    SRunner *sr;
    int failed;

    snprintf(policies_dir, sizeof(policies_dir), "%s/policies", gkt_env("GK_SOURCE_DIR"));
    tcase_add_checked_fixture(crash, start, stop);
    tcase_set_timeout(crash, 120);
    tcase_add_test(crash, test_sigkill_loses_no_acknowledged_change);

    tcase_add_checked_fixture(tampering, start, stop);
    tcase_set_timeout(tampering, 60);
    tcase_add_test(tampering, test_tampered_why);
    tcase_add_test(tampering, test_tampered_hash);
    tcase_add_test(tampering, test_tampered_below_snapshot);
    tcase_add_test(tampering, test_torn_last_line);

    tcase_add_checked_fixture(files, start, stop);
    tcase_set_timeout(files, 60);
    tcase_add_test(files, test_second_daemon_refused);
    tcase_add_test(files, test_bootstrap_once);

    suite_add_tcase(s, crash);
    suite_add_tcase(s, tampering);
    suite_add_tcase(s, files);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
