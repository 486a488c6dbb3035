/*
 * telemetry_test.c - the daemon's migration telemetry collector: batches sent with an nng PUSH
 * socket are merged per flag, stage and operation (counters, p50/p99 from the merged histograms,
 * lastOldReadAt), malformed batches change nothing and are counted, and the listen address is
 * reported and refused when taken.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/supplemental/util/platform.h>

#include "telemetry.h"

static gkd_telemetry *tel;
static nng_socket push;
static char *bound_url;

static void
setup(void)
{
    const char *urls[] = {"tcp://127.0.0.1:0"};
    gk_diag diag = {0};

    ck_assert_msg(gkd_telemetry_open(&tel, urls, 1, &bound_url, &diag) == GK_OK, "open: %s",
                  diag.text);
    ck_assert_ptr_nonnull(bound_url);
    ck_assert_ptr_null(strstr(bound_url, ":0"));
    ck_assert_int_eq(nng_push0_open(&push), 0);
    ck_assert_int_eq(nng_dial(push, bound_url, NULL, 0), 0); /* blocking: connected after */
}

static void
teardown(void)
{
    nng_close(push);
    gkd_telemetry_close(tel);
    free(bound_url);
    tel = NULL;
    bound_url = NULL;
    nng_fini();
}

/* Sends text and waits (at most 5 s) until the collector has taken one more batch. */
static void
send_batch(const char *text)
{
    gkd_telemetry_counts before, now;

    gkd_telemetry_get_counts(tel, &before);
    ck_assert_int_eq(nng_send(push, (void *) (uintptr_t) text, strlen(text), 0), 0);
    for (int i = 0; i < 500; i++) {
        gkd_telemetry_get_counts(tel, &now);
        if (now.batches + now.malformed > before.batches + before.malformed) {
            return;
        }
        nng_msleep(10);
    }
    ck_abort_msg("the collector did not take the batch");
}

/* A batch of one entry; buckets as JSON array text. */
static char *
batch(const char *key, const char *stage, const char *op, int calls, int old_reads,
      const char *old_buckets, const char *new_buckets)
{
    static char buf[4096];

    snprintf(buf, sizeof(buf),
             "{\"v\":1,\"service\":\"orders-api\",\"oldReads\":%d,\"sentAt\":1763737200,"
             "\"flags\":[{\"key\":\"%s\",\"stage\":\"%s\",\"op\":\"%s\",\"calls\":%d,"
             "\"invoked\":{\"old\":%d,\"new\":%d},\"errors\":{\"old\":1,\"new\":2},"
             "\"mismatches\":3,\"checks\":4,\"oldReads\":%d,"
             "\"latencyUs\":{\"old\":{\"buckets\":%s},\"new\":{\"buckets\":%s}}}]}",
             old_reads, key, stage, op, calls, calls, calls, old_reads, old_buckets, new_buckets);
    return buf;
}

static json_int_t
at(const json_t *root, const char *path)
{
    char copy[256];
    const json_t *v = root;

    snprintf(copy, sizeof(copy), "%s", path);
    for (char *save = NULL, *part = strtok_r(copy, ".", &save); part != NULL;
         part = strtok_r(NULL, ".", &save)) {
        v = json_object_get(v, part);
    }
    ck_assert_msg(json_is_integer(v), "%s is not an integer", path);
    return json_integer_value(v);
}

static bool
is_null(const json_t *root, const char *path)
{
    char copy[256];
    const json_t *v = root;

    snprintf(copy, sizeof(copy), "%s", path);
    for (char *save = NULL, *part = strtok_r(copy, ".", &save); part != NULL;
         part = strtok_r(NULL, ".", &save)) {
        v = json_object_get(v, part);
    }
    return json_is_null(v);
}

START_TEST(test_counters_and_percentiles)
{
    /* old: 50 samples < 8 µs (bucket 3), 49 < 1024 µs (bucket 10), 1 in bucket 20;
     * new: 100 samples in bucket 0 (< 1 µs) */
    const char *old_b = "[0,0,0,50,0,0,0,0,0,0,49,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0]";
    const char *new_b = "[100]";
    json_t *f;

    send_batch(batch("orders.migration", "shadow", "read", 100, 100, old_b, new_b));
    f = gkd_telemetry_flag(tel, "orders.migration");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(at(f, "stages.shadow.read.calls"), 100);
    ck_assert_int_eq(at(f, "stages.shadow.read.invoked.old"), 100);
    ck_assert_int_eq(at(f, "stages.shadow.read.errors.old"), 1);
    ck_assert_int_eq(at(f, "stages.shadow.read.errors.new"), 2);
    ck_assert_int_eq(at(f, "stages.shadow.read.mismatches"), 3);
    ck_assert_int_eq(at(f, "stages.shadow.read.checks"), 4);
    ck_assert_int_eq(at(f, "stages.shadow.read.oldReads"), 100);
    ck_assert_int_eq(at(f, "stages.shadow.read.latencyUs.old.p50"), 8);
    ck_assert_int_eq(at(f, "stages.shadow.read.latencyUs.old.p99"), 1024);
    ck_assert_int_eq(at(f, "stages.shadow.read.latencyUs.new.p50"), 1);
    ck_assert_int_eq(at(f, "stages.shadow.read.latencyUs.new.p99"), 1);
    ck_assert_ptr_null(json_object_get(json_object_get(f, "stages"), "live"));
    ck_assert_ptr_null(
        json_object_get(json_object_get(json_object_get(f, "stages"), "shadow"), "write"));
    json_decref(f);

    /* A second batch merges: counts add, histograms merge. Old is now 150 in bucket 3, 49 in
     * bucket 10, 1 in bucket 20 and 1 in the last, open bucket (a 30-bucket array folds its
     * tail into it): of 201 samples the 101st is in bucket 3, the 199th in bucket 10. */
    send_batch(batch("orders.migration", "shadow", "read", 100, 0,
                     "[0,0,0,100,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,0]", "[]"));
    f = gkd_telemetry_flag(tel, "orders.migration");
    ck_assert_int_eq(at(f, "stages.shadow.read.calls"), 200);
    ck_assert_int_eq(at(f, "stages.shadow.read.mismatches"), 6);
    ck_assert_int_eq(at(f, "stages.shadow.read.latencyUs.old.p50"), 8);
    ck_assert_int_eq(at(f, "stages.shadow.read.latencyUs.old.p99"), 1024);
    json_decref(f);

    /* Another stage and operation, no latency: percentiles null. */
    send_batch("{\"v\":1,\"service\":\"s\",\"flags\":[{\"key\":\"orders.migration\","
               "\"stage\":\"live\",\"op\":\"write\",\"calls\":5}],\"extra\":true}");
    f = gkd_telemetry_flag(tel, "orders.migration");
    ck_assert_int_eq(at(f, "stages.live.write.calls"), 5);
    ck_assert(is_null(f, "stages.live.write.latencyUs.old.p50"));
    ck_assert(is_null(f, "stages.live.write.latencyUs.new.p99"));
    ck_assert_int_eq(at(f, "stages.shadow.read.calls"), 200);
    json_decref(f);
}
END_TEST

START_TEST(test_last_old_read_at)
{
    time_t before = time(NULL);
    json_t *state;
    json_t *f;

    send_batch(batch("orders.a", "shadow", "read", 3, 3, "[3]", "[3]"));
    send_batch(batch("orders.b", "complete", "read", 3, 0, "[]", "[3]"));
    f = gkd_telemetry_flag(tel, "orders.a");
    ck_assert_int_ge(at(f, "lastOldReadAt"), (json_int_t) before);
    ck_assert_int_le(at(f, "lastOldReadAt"), (json_int_t) time(NULL));
    json_decref(f);
    f = gkd_telemetry_flag(tel, "orders.b");
    ck_assert(is_null(f, "lastOldReadAt"));
    json_decref(f);

    state = gkd_telemetry_state(tel);
    ck_assert_int_eq(json_object_size(state), 2);
    /* (flag keys hold dots: look them up directly) */
    ck_assert_int_ge(at(json_object_get(state, "orders.a"), "lastOldReadAt"), (json_int_t) before);
    ck_assert(is_null(json_object_get(state, "orders.b"), "lastOldReadAt"));
    json_decref(state);

    /* A flag nobody reported. */
    f = gkd_telemetry_flag(tel, "orders.none");
    ck_assert_int_eq(json_object_size(json_object_get(f, "stages")), 0);
    ck_assert(is_null(f, "lastOldReadAt"));
    json_decref(f);
}
END_TEST

START_TEST(test_malformed_ignored)
{
    static const char *const bad[] = {
        "not json",
        "[]",
        "{\"v\":2,\"service\":\"s\",\"flags\":[]}",
        "{\"v\":1,\"flags\":[]}",
        "{\"v\":1,\"service\":\"s\"}",
        "{\"v\":1,\"service\":\"s\",\"flags\":[{\"key\":\"k\",\"stage\":\"Live\",\"op\":\"read\","
        "\"calls\":1}]}",
        "{\"v\":1,\"service\":\"s\",\"flags\":[{\"key\":\"k\",\"stage\":\"live\",\"op\":\"scan\","
        "\"calls\":1}]}",
        "{\"v\":1,\"service\":\"s\",\"flags\":[{\"key\":\"\",\"stage\":\"live\",\"op\":\"read\","
        "\"calls\":1}]}",
        "{\"v\":1,\"service\":\"s\",\"flags\":[{\"key\":\"k\",\"stage\":\"live\",\"op\":\"read\"}]"
        "}",
        "{\"v\":1,\"service\":\"s\",\"flags\":[{\"key\":\"k\",\"stage\":\"live\",\"op\":\"read\","
        "\"calls\":-1}]}",
        "{\"v\":1,\"service\":\"s\",\"flags\":[{\"key\":\"k\",\"stage\":\"live\",\"op\":\"read\","
        "\"calls\":1,\"latencyUs\":{\"old\":{\"buckets\":[1,\"x\"]}}}]}",
        /* one good entry, one bad: nothing applied */
        "{\"v\":1,\"service\":\"s\",\"flags\":[{\"key\":\"k\",\"stage\":\"live\",\"op\":\"read\","
        "\"calls\":1,\"oldReads\":1},{\"key\":\"k\",\"stage\":\"live\",\"op\":\"read\","
        "\"calls\":1.5}]}",
    };
    gkd_telemetry_counts counts;
    json_t *state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        send_batch(bad[i]);
    }
    gkd_telemetry_get_counts(tel, &counts);
    ck_assert_uint_eq(counts.malformed, sizeof(bad) / sizeof(bad[0]));
    ck_assert_uint_eq(counts.batches, 0);
    state = gkd_telemetry_state(tel);
    ck_assert_int_eq(json_object_size(state), 0);
    json_decref(state);

    /* The collector still works. */
    send_batch(batch("k", "live", "read", 1, 1, "[1]", "[1]"));
    gkd_telemetry_get_counts(tel, &counts);
    ck_assert_uint_eq(counts.batches, 1);
}
END_TEST

/* The example in proto/examples (validated against the schema by build.proto_examples). */
START_TEST(test_proto_example_accepted)
{
    const char *src = getenv("GK_SOURCE_DIR");
    char path[4096];
    json_error_t jerr;
    json_t *doc;
    char *text;
    json_t *f;

    ck_assert_ptr_nonnull(src);
    snprintf(path, sizeof(path), "%s/proto/examples/telemetry-batch.json", src);
    doc = json_load_file(path, 0, &jerr);
    ck_assert_msg(doc != NULL, "%s: %s", path, jerr.text);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    send_batch(text);
    free(text);
    f = gkd_telemetry_flag(tel, "orders.migration");
    ck_assert_int_eq(at(f, "stages.shadow.read.calls"), 1200);
    ck_assert_int_eq(at(f, "stages.shadow.read.errors.new"), 3);
    ck_assert_int_eq(at(f, "stages.shadow.read.latencyUs.old.p50"), 256);
    ck_assert_int_eq(at(f, "stages.shadow.write.invoked.new"), 79);
    ck_assert_int_ge(at(f, "lastOldReadAt"), 1);
    json_decref(f);
}
END_TEST

START_TEST(test_address_in_use)
{
    const char *urls[] = {bound_url};
    gkd_telemetry *other = NULL;
    gk_diag diag = {0};

    ck_assert_int_eq(gkd_telemetry_open(&other, urls, 1, NULL, &diag), GK_EADDRINUSE);
    ck_assert_ptr_null(other);
    ck_assert_ptr_nonnull(strstr(diag.text, "telemetry"));
    gkd_telemetry_close(NULL);
}
END_TEST

static Suite *
telemetry_suite(void)
{
    Suite *s = suite_create("telemetry");
    TCase *tc = tcase_create("collector");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_counters_and_percentiles);
    tcase_add_test(tc, test_last_old_read_at);
    tcase_add_test(tc, test_malformed_ignored);
    tcase_add_test(tc, test_proto_example_accepted);
    tcase_add_test(tc, test_address_in_use);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(telemetry_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
