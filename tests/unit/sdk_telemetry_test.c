/*
 * sdk_telemetry_test.c - the SDK's migration telemetry: a fake collector (an nng PULL socket)
 * receives batches whose counts, stages, operations and histograms match the calls made; batches
 * come from the timer and from gk_client_close; and a collector that is absent or never reads
 * never slows the caller down (batches are dropped and counted instead).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/supplemental/util/platform.h>

#include "client.h"
#include "fake_gatekeeper.h"
#include "gatekeeper.h"
#include "telemetry.h"

#define FLAG "orders.migration"

static fake_gatekeeper *fg;
static nng_socket pull;
static bool pull_open;
static atomic_int pull_pipes;
static char collector_url[256];

static void
on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void) p;
    (void) ev;
    (void) arg;
    atomic_fetch_add(&pull_pipes, 1);
}

static void
setup(void)
{
    fg = fake_gatekeeper_start();
    ck_assert_ptr_nonnull(fg);
    fake_gatekeeper_set_stage(fg, FLAG, "shadow");
    snprintf(collector_url, sizeof(collector_url), "ipc://%s/telemetry.sock",
             fake_gatekeeper_dir(fg));
    atomic_store(&pull_pipes, 0);
    pull_open = false;
}

static void
teardown(void)
{
    if (pull_open) {
        nng_close(pull);
    }
    fake_gatekeeper_free(fg);
    fg = NULL;
    nng_fini();
}

/* Start the fake collector on collector_url; recv_timeout_ms bounds each receive. */
static void
collector_start(int recv_timeout_ms)
{
    ck_assert_int_eq(nng_pull0_open(&pull), 0);
    pull_open = true;
    ck_assert_int_eq(nng_pipe_notify(pull, NNG_PIPE_EV_ADD_POST, on_pipe, NULL), 0);
    ck_assert_int_eq(nng_socket_set_ms(pull, NNG_OPT_RECVTIMEO, recv_timeout_ms), 0);
    ck_assert_int_eq(nng_listen(pull, collector_url, NULL, 0), 0);
}

/* Clients dial the collector on their first migration call: make one, wait for the
 * connection, and take the batch it made out of the way. */
static void wait_connected(void);
static void do_read(gk_client *c, const gk_context *ctx);

static void
connect_client(gk_client *c, const gk_context *ctx)
{
    do_read(c, ctx);
    wait_connected();
    ck_assert_int_eq(gks_telemetry_flush(gks_client_telemetry(c)), 0);
}

static void
wait_connected(void)
{
    for (int i = 0; i < 200 && atomic_load(&pull_pipes) == 0; i++) {
        nng_msleep(10);
    }
    ck_assert_int_gt(atomic_load(&pull_pipes), 0);
}

/* One batch from the collector, parsed; NULL on timeout. */
static json_t *
collector_recv(void)
{
    char *buf = NULL;
    size_t len = 0;
    json_t *doc;
    json_error_t jerr;

    if (nng_recv(pull, &buf, &len, NNG_FLAG_ALLOC) != 0) {
        return NULL;
    }
    doc = json_loadb(buf, len, 0, &jerr);
    nng_free(buf, len);
    ck_assert_msg(doc != NULL, "batch is not JSON: %s", jerr.text);
    return doc;
}

static gk_client *
open_client(const char *telemetry_url, bool cache_disabled)
{
    gk_options *opts = NULL;
    gk_client *client = NULL;
    gk_diag diag = {0};

    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    ck_assert_int_eq(gk_options_add_endpoint(opts, fake_gatekeeper_url(fg)), GK_OK);
    ck_assert_int_eq(gk_options_set_jwks_file(opts, fake_gatekeeper_jwks_path(fg)), GK_OK);
    ck_assert_int_eq(gk_options_set_timeout_ms(opts, 500), GK_OK);
    ck_assert_int_eq(gk_options_set_cache_disabled(opts, cache_disabled), GK_OK);
    ck_assert_int_eq(gk_options_set_events_endpoint(opts, NULL), GK_OK);
    ck_assert_int_eq(gk_options_set_telemetry_endpoint(opts, telemetry_url), GK_OK);
    ck_assert_int_eq(gk_options_set_service_name(opts, "orders-api"), GK_OK);
    ck_assert_msg(gk_client_open(&client, opts, &diag) == GK_OK, "open: %s", diag.text);
    gk_options_free(opts);
    return client;
}

static int fail_new;

static int
origin_old(void *arg, void **resultp)
{
    (void) arg;
    *resultp = NULL;
    return 0;
}

static int
origin_new(void *arg, void **resultp)
{
    (void) arg;
    *resultp = NULL;
    return fail_new;
}

static int mismatch_every; /* compare answers 0 on every n-th call (0: never) */
static int compare_calls;

static int
compare(void *arg, const void *a, const void *b)
{
    (void) arg;
    (void) a;
    (void) b;
    compare_calls++;
    return mismatch_every > 0 && compare_calls % mismatch_every == 0 ? 0 : 1;
}

static void
do_read(gk_client *c, const gk_context *ctx)
{
    gk_migration_read_ops ops = {
        .size = sizeof(ops), .read_old = origin_old, .read_new = origin_new, .compare = compare};
    gk_migration_result r = {.size = sizeof(r)};

    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
}

static void
do_write(gk_client *c, const gk_context *ctx)
{
    gk_migration_write_ops ops = {
        .size = sizeof(ops), .write_old = origin_old, .write_new = origin_new};
    gk_migration_result r = {.size = sizeof(r)};

    ck_assert_int_eq(gk_migration_write(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
}

static json_int_t
get_int(const json_t *obj, const char *path1, const char *path2)
{
    const json_t *v = json_object_get(obj, path1);

    if (path2 != NULL) {
        v = json_object_get(v, path2);
    }
    ck_assert_msg(json_is_integer(v), "%s.%s is not an integer", path1, path2 ? path2 : "");
    return json_integer_value(v);
}

static const json_t *
find_entry(const json_t *batch, const char *stage, const char *op)
{
    const json_t *flags = json_object_get(batch, "flags");
    size_t i;
    const json_t *e;

    json_array_foreach (flags, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "key")), FLAG) == 0 &&
            strcmp(json_string_value(json_object_get(e, "stage")), stage) == 0 &&
            strcmp(json_string_value(json_object_get(e, "op")), op) == 0) {
            return e;
        }
    }
    return NULL;
}

static json_int_t
bucket_sum(const json_t *entry, const char *side)
{
    const json_t *buckets =
        json_object_get(json_object_get(json_object_get(entry, "latencyUs"), side), "buckets");
    json_int_t sum = 0;
    size_t i;
    const json_t *v;

    ck_assert_int_eq(json_array_size(buckets), GKS_TELEMETRY_BUCKETS);
    json_array_foreach (buckets, i, v) {
        sum += json_integer_value(v);
    }
    return sum;
}

START_TEST(test_bucket_bounds)
{
    ck_assert_uint_eq(gks_telemetry_bucket(0), 0);
    ck_assert_uint_eq(gks_telemetry_bucket(1), 1);
    ck_assert_uint_eq(gks_telemetry_bucket(2), 2);
    ck_assert_uint_eq(gks_telemetry_bucket(3), 2);
    ck_assert_uint_eq(gks_telemetry_bucket(1000), 10);
    ck_assert_uint_eq(gks_telemetry_bucket(1024), 11);
    ck_assert_uint_eq(gks_telemetry_bucket(UINT32_MAX), GKS_TELEMETRY_BUCKETS - 1);
}
END_TEST

START_TEST(test_batch_counts)
{
    gk_context *ctx = NULL;
    gk_client *c;
    json_t *batch;
    const json_t *e;

    collector_start(3000);
    c = open_client(collector_url, true);
    ck_assert_int_eq(gk_context_new(&ctx, "t-1"), GK_OK);
    fail_new = 0;
    connect_client(c, ctx);
    json_decref(collector_recv());
    compare_calls = 0;
    mismatch_every = 2;
    /* shadow: 4 reads (2 mismatches), then 2 with new failing (no check) and 3 writes */
    for (int i = 0; i < 4; i++) {
        do_read(c, ctx);
    }
    fail_new = 1;
    do_read(c, ctx);
    do_read(c, ctx);
    do_write(c, ctx);
    fail_new = 0;
    do_write(c, ctx);
    do_write(c, ctx);
    /* live: 1 read */
    fake_gatekeeper_set_stage(fg, FLAG, "live");
    do_read(c, ctx);
    /* complete: 1 read, which does not read old */
    fake_gatekeeper_set_stage(fg, FLAG, "complete");
    do_read(c, ctx);

    ck_assert_int_eq(gks_telemetry_flush(gks_client_telemetry(c)), 0);
    batch = collector_recv();
    ck_assert_ptr_nonnull(batch);
    ck_assert_int_eq(get_int(batch, "v", NULL), 1);
    ck_assert_str_eq(json_string_value(json_object_get(batch, "service")), "orders-api");
    ck_assert_int_eq(get_int(batch, "oldReads", NULL), 7);
    ck_assert_int_ge(get_int(batch, "sentAt", NULL), (json_int_t) time(NULL) - 5);
    ck_assert_int_eq(json_array_size(json_object_get(batch, "flags")), 4);

    e = find_entry(batch, "shadow", "read");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(get_int(e, "calls", NULL), 6);
    ck_assert_int_eq(get_int(e, "invoked", "old"), 6);
    ck_assert_int_eq(get_int(e, "invoked", "new"), 6);
    ck_assert_int_eq(get_int(e, "errors", "old"), 0);
    ck_assert_int_eq(get_int(e, "errors", "new"), 2);
    ck_assert_int_eq(get_int(e, "checks", NULL), 4);
    ck_assert_int_eq(get_int(e, "mismatches", NULL), 2);
    ck_assert_int_eq(get_int(e, "oldReads", NULL), 6);
    ck_assert_int_eq(bucket_sum(e, "old"), 6);
    ck_assert_int_eq(bucket_sum(e, "new"), 6);

    e = find_entry(batch, "shadow", "write");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(get_int(e, "calls", NULL), 3);
    ck_assert_int_eq(get_int(e, "invoked", "old"), 3);
    ck_assert_int_eq(get_int(e, "invoked", "new"), 3);
    ck_assert_int_eq(get_int(e, "errors", "new"), 1);
    ck_assert_int_eq(get_int(e, "checks", NULL), 0);
    ck_assert_int_eq(get_int(e, "oldReads", NULL), 0);

    e = find_entry(batch, "live", "read");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(get_int(e, "calls", NULL), 1);
    ck_assert_int_eq(get_int(e, "checks", NULL), 1);
    ck_assert_int_eq(get_int(e, "oldReads", NULL), 1);

    e = find_entry(batch, "complete", "read");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(get_int(e, "invoked", "old"), 0);
    ck_assert_int_eq(get_int(e, "oldReads", NULL), 0);
    ck_assert_int_eq(bucket_sum(e, "old"), 0);
    ck_assert_int_eq(bucket_sum(e, "new"), 1);
    json_decref(batch);

    /* Aggregates start afresh: nothing more to send. */
    ck_assert_int_eq(gks_telemetry_flush(gks_client_telemetry(c)), 1);
    gk_context_free(ctx);
    gk_client_close(c);
}
END_TEST

START_TEST(test_timer_and_close_flush)
{
    gk_context *ctx = NULL;
    gk_client *c;
    json_t *batch;
    struct timespec t0, t1;

    collector_start(3000);
    c = open_client(collector_url, false);
    ck_assert_int_eq(gk_context_new(&ctx, "t-1"), GK_OK);
    fail_new = 0;
    do_read(c, ctx);
    wait_connected();
    /* The 1 s timer sends it without being asked. */
    batch = collector_recv();
    ck_assert_ptr_nonnull(batch);
    ck_assert_int_eq(get_int(batch, "oldReads", NULL), 1);
    json_decref(batch);

    /* What is left at close goes out in one last batch, within the bound. */
    do_write(c, ctx);
    do_write(c, ctx);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gk_client_close(c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 500);
    batch = collector_recv();
    ck_assert_ptr_nonnull(batch);
    ck_assert_int_eq(get_int(find_entry(batch, "shadow", "write"), "calls", NULL), 2);
    json_decref(batch);
    gk_context_free(ctx);
}
END_TEST

static double
elapsed_s(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double) (t1.tv_sec - t0->tv_sec) + (double) (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* No collector at all: 10,000 operations complete quickly; batches are dropped and counted. */
START_TEST(test_absent_collector_never_blocks)
{
    gk_context *ctx = NULL;
    gk_client *c = open_client(collector_url, false);
    gks_telemetry_counts counts;
    struct timespec t0;

    ck_assert_int_eq(gk_context_new(&ctx, "t-1"), GK_OK);
    fail_new = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 10000; i++) {
        if (i % 2 == 0) {
            do_read(c, ctx);
        } else {
            do_write(c, ctx);
        }
        if (i % 1000 == 0) {
            (void) gks_telemetry_flush(gks_client_telemetry(c));
        }
    }
    /* A generous bound: these are cached evaluations and no-op origins (well under 0.1 s
     * unsanitized); blocking on a socket even once per flush would cost far more. */
    ck_assert_msg(elapsed_s(&t0) < 5.0, "10000 operations took %.2f s", elapsed_s(&t0));
    gks_telemetry_get_counts(gks_client_telemetry(c), &counts);
    ck_assert_uint_eq(counts.records, 10000);
    ck_assert_uint_ge(counts.batches_dropped, 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gk_client_close(c);
    ck_assert_msg(elapsed_s(&t0) < 0.5, "close took %.2f s", elapsed_s(&t0));
    gk_context_free(ctx);
}
END_TEST

/* A collector that never reads: flushes fill the queue, then are dropped, never blocking. */
START_TEST(test_full_collector_never_blocks)
{
    gk_context *ctx = NULL;
    gk_client *c;
    gks_telemetry_counts counts;
    struct timespec t0;

    collector_start(100);
    ck_assert_int_eq(nng_socket_set_int(pull, NNG_OPT_RECVBUF, 1), 0);
    c = open_client(collector_url, false);
    ck_assert_int_eq(gk_context_new(&ctx, "t-1"), GK_OK);
    fail_new = 0;
    connect_client(c, ctx);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 3000; i++) {
        do_read(c, ctx);
        (void) gks_telemetry_flush(gks_client_telemetry(c));
    }
    ck_assert_msg(elapsed_s(&t0) < 10.0, "3000 flushes took %.2f s", elapsed_s(&t0));
    gks_telemetry_get_counts(gks_client_telemetry(c), &counts);
    ck_assert_uint_eq(counts.batches_sent + counts.batches_dropped, 3001);
    ck_assert_uint_ge(counts.batches_dropped, 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gk_client_close(c);
    ck_assert_msg(elapsed_s(&t0) < 0.5, "close took %.2f s", elapsed_s(&t0));
    gk_context_free(ctx);
}
END_TEST

/* A client that never runs a migration helper never connects to the collector. */
START_TEST(test_no_connection_without_migrations)
{
    gk_context *ctx = NULL;
    gk_client *c;
    bool value;

    collector_start(100);
    c = open_client(collector_url, false);
    ck_assert_int_eq(gk_context_new(&ctx, "t-1"), GK_OK);
    ck_assert_int_eq(gk_client_eval_bool(c, FLAG, ctx, false, &value, NULL), GK_OK);
    nng_msleep(200);
    ck_assert_int_eq(atomic_load(&pull_pipes), 0);
    gk_client_close(c);
    gk_context_free(ctx);
}
END_TEST

/* Telemetry off: nothing is aggregated. */
START_TEST(test_telemetry_off)
{
    gk_context *ctx = NULL;
    gk_client *c = open_client(NULL, false);
    gk_options *opts = NULL;
    char long_name[65];

    ck_assert_ptr_null(gks_client_telemetry(c));
    ck_assert_int_eq(gk_context_new(&ctx, "t-1"), GK_OK);
    do_read(c, ctx);
    gk_context_free(ctx);
    gk_client_close(c);

    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    ck_assert_int_eq(gk_options_set_service_name(opts, ""), GK_EINVAL);
    ck_assert_int_eq(gk_options_set_service_name(opts, NULL), GK_EINVAL);
    ck_assert_int_eq(gk_options_set_service_name(opts, "\xff\xfe"), GK_EINVAL);
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    ck_assert_int_eq(gk_options_set_service_name(opts, long_name), GK_EINVAL);
    long_name[63] = '\0';
    ck_assert_int_eq(gk_options_set_service_name(opts, long_name), GK_OK);
    ck_assert_int_eq(gk_options_set_check_ratio(opts, 1000001), GK_EINVAL);
    ck_assert_int_eq(gk_options_set_check_ratio(opts, 0), GK_OK);
    gk_options_free(opts);
}
END_TEST

static Suite *
telemetry_suite(void)
{
    Suite *s = suite_create("sdk_telemetry");
    TCase *tc = tcase_create("telemetry");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bucket_bounds);
    tcase_add_test(tc, test_batch_counts);
    tcase_add_test(tc, test_timer_and_close_flush);
    tcase_add_test(tc, test_absent_collector_never_blocks);
    tcase_add_test(tc, test_full_collector_never_blocks);
    tcase_add_test(tc, test_no_connection_without_migrations);
    tcase_add_test(tc, test_telemetry_off);
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
