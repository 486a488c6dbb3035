/*
 * sdk_migrate_test.c - migration helpers against the fake gatekeeper: the stage of a flag, each
 * stage's reads and writes run in the right order with counting fake origins, the write rule
 * (a failed authoritative write skips the other), comparisons only when both reads succeeded and
 * exactly 1 in check_ratio of them, the fallback stage when no decision can be had, and every
 * result object released exactly once.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <nng/nng.h>

#include "fake_gatekeeper.h"
#include "gatekeeper.h"

#define FLAG "orders.migration"

static fake_gatekeeper *fg;

/* Counting origins: each call appends 'o' or 'n' to `order` and makes a result object. */
typedef struct origins {
    char order[8];
    size_t norder;
    int fail_old;
    int fail_new;
    int compares;
    int compare_answer; /* what compare returns */
    int live;           /* result objects made and not yet released */
    int freed;          /* released through free_result */
} origins;

typedef struct result_obj {
    char side; /* 'o' or 'n' */
    int value;
} result_obj;

static int
run(origins *o, char side, void **resultp)
{
    result_obj *r = malloc(sizeof(*r));

    ck_assert_ptr_nonnull(r);
    r->side = side;
    r->value = 42;
    o->live++;
    if (o->norder + 1 < sizeof(o->order)) {
        o->order[o->norder++] = side;
        o->order[o->norder] = '\0';
    }
    *resultp = r;
    return side == 'o' ? o->fail_old : o->fail_new;
}

static int
origin_old(void *arg, void **resultp)
{
    return run(arg, 'o', resultp);
}

static int
origin_new(void *arg, void **resultp)
{
    return run(arg, 'n', resultp);
}

static int
compare(void *arg, const void *old_result, const void *new_result)
{
    origins *o = arg;
    const result_obj *a = old_result;
    const result_obj *b = new_result;

    ck_assert_int_eq(a->side, 'o');
    ck_assert_int_eq(b->side, 'n');
    o->compares++;
    return o->compare_answer;
}

static void
free_result(void *arg, void *result)
{
    origins *o = arg;

    ck_assert_ptr_nonnull(result);
    o->live--;
    o->freed++;
    free(result);
}

/* The caller's part: release the authoritative result it was handed. */
static void
release(origins *o, gk_migration_result *r)
{
    if (r->result != NULL) {
        o->live--;
        free(r->result);
        r->result = NULL;
    }
    ck_assert_int_eq(o->live, 0);
}

static gk_migration_read_ops
read_ops(origins *o)
{
    gk_migration_read_ops ops = {.size = sizeof(ops),
                                 .read_old = origin_old,
                                 .read_new = origin_new,
                                 .compare = compare,
                                 .free_result = free_result,
                                 .arg = o};
    return ops;
}

static gk_migration_write_ops
write_ops(origins *o)
{
    gk_migration_write_ops ops = {.size = sizeof(ops),
                                  .write_old = origin_old,
                                  .write_new = origin_new,
                                  .free_result = free_result,
                                  .arg = o};
    return ops;
}

static void
setup(void)
{
    fg = fake_gatekeeper_start();
    ck_assert_ptr_nonnull(fg);
}

/* See sdk_client_test.c: nng_fini drains nng's reaper before a forked test exits. */
static void
teardown(void)
{
    fake_gatekeeper_free(fg);
    fg = NULL;
    nng_fini();
}

static gk_client *
open_client(uint32_t check_ratio)
{
    gk_options *opts = NULL;
    gk_client *client = NULL;
    gk_diag diag = {0};

    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    ck_assert_int_eq(gk_options_add_endpoint(opts, fake_gatekeeper_url(fg)), GK_OK);
    ck_assert_int_eq(gk_options_set_jwks_file(opts, fake_gatekeeper_jwks_path(fg)), GK_OK);
    ck_assert_int_eq(gk_options_set_timeout_ms(opts, 200), GK_OK);
    /* Each check sets the stage it wants, so every call must ask the fake. */
    ck_assert_int_eq(gk_options_set_cache_disabled(opts, true), GK_OK);
    ck_assert_int_eq(gk_options_set_events_endpoint(opts, NULL), GK_OK);
    ck_assert_int_eq(gk_options_set_telemetry_endpoint(opts, NULL), GK_OK);
    ck_assert_int_eq(gk_options_set_check_ratio(opts, check_ratio), GK_OK);
    ck_assert_msg(gk_client_open(&client, opts, &diag) == GK_OK, "open: %s", diag.text);
    gk_options_free(opts);
    return client;
}

static gk_context *
tenant(void)
{
    gk_context *ctx = NULL;

    ck_assert_int_eq(gk_context_new(&ctx, "t-42"), GK_OK);
    return ctx;
}

START_TEST(test_stage_names)
{
    static const char *const names[] = {"off",  "dualwrite", "shadow",
                                        "live", "rampdown",  "complete"};
    gk_stage st;

    for (int i = 0; i < 6; i++) {
        ck_assert_str_eq(gk_stage_str((gk_stage) i), names[i]);
        ck_assert_int_eq(gk_stage_parse(names[i], &st), GK_OK);
        ck_assert_int_eq(st, i);
    }
    ck_assert_str_eq(gk_stage_str((gk_stage) 6), "unknown");
    ck_assert_int_eq(gk_stage_parse("Live", &st), GK_EINVAL);
    ck_assert_int_eq(gk_stage_parse("", &st), GK_EINVAL);
    ck_assert_int_eq(gk_stage_parse(NULL, &st), GK_EINVAL);
}
END_TEST

START_TEST(test_eval_stage)
{
    gk_client *c = open_client(1);
    gk_context *ctx = tenant();
    gk_detail d;
    gk_stage st;

    fake_gatekeeper_set_stage(fg, FLAG, "shadow");
    ck_assert_int_eq(gk_client_eval_stage(c, FLAG, ctx, GK_STAGE_OFF, &st, &d), GK_OK);
    ck_assert_int_eq(st, GK_STAGE_SHADOW);
    ck_assert_int_eq(d.reason, GK_REASON_TARGETING_MATCH);
    ck_assert_str_eq(d.variant, "shadow");

    /* Not a stage name, a longer string, a non-string: fallback, TYPE_MISMATCH. */
    fake_gatekeeper_set_stage(fg, FLAG, "completed");
    ck_assert_int_eq(gk_client_eval_stage(c, FLAG, ctx, GK_STAGE_DUALWRITE, &st, &d), GK_OK);
    ck_assert_int_eq(st, GK_STAGE_DUALWRITE);
    ck_assert_int_eq(d.reason, GK_REASON_ERROR);
    ck_assert_int_eq(d.error_code, GK_ERROR_TYPE_MISMATCH);
    fake_gatekeeper_set_stage(fg, FLAG, "a-variant-name-much-longer-than-any-stage");
    ck_assert_int_eq(gk_client_eval_stage(c, FLAG, ctx, GK_STAGE_OFF, &st, &d), GK_OK);
    ck_assert_int_eq(st, GK_STAGE_OFF);
    ck_assert_int_eq(d.error_code, GK_ERROR_TYPE_MISMATCH);
    fake_gatekeeper_set_flag(fg, FLAG, "true", "on", GK_REASON_STATIC, NULL, GK_ERROR_NONE);
    ck_assert_int_eq(gk_client_eval_stage(c, FLAG, ctx, GK_STAGE_OFF, &st, &d), GK_OK);
    ck_assert_int_eq(st, GK_STAGE_OFF);
    ck_assert_int_eq(d.error_code, GK_ERROR_TYPE_MISMATCH);

    /* No such flag: the fallback, FLAG_NOT_FOUND. */
    ck_assert_int_eq(gk_client_eval_stage(c, "orders.nothing", ctx, GK_STAGE_LIVE, &st, &d), GK_OK);
    ck_assert_int_eq(st, GK_STAGE_LIVE);
    ck_assert_int_eq(d.error_code, GK_ERROR_FLAG_NOT_FOUND);

    ck_assert_int_eq(gk_client_eval_stage(c, FLAG, ctx, (gk_stage) 9, &st, &d), GK_EINVAL);
    ck_assert_int_eq(gk_client_eval_stage(c, FLAG, ctx, GK_STAGE_OFF, NULL, &d), GK_EINVAL);
    ck_assert_int_eq(gk_client_eval_stage(NULL, FLAG, ctx, GK_STAGE_SHADOW, &st, NULL), GK_EINVAL);
    ck_assert_int_eq(st, GK_STAGE_SHADOW);
    gk_context_free(ctx);
    gk_client_close(c);
}
END_TEST

/* Per stage: reads run (in order), which result is returned. */
static const struct {
    const char *stage;
    const char *reads;
    char returned;
    const char *writes;
} table[] = {
    {"off", "o", 'o', "o"},    {"dualwrite", "o", 'o', "on"}, {"shadow", "on", 'o', "on"},
    {"live", "no", 'n', "no"}, {"rampdown", "n", 'n', "no"},  {"complete", "n", 'n', "n"},
};

START_TEST(test_read_each_stage)
{
    gk_client *c = open_client(1);
    gk_context *ctx = tenant();
    origins o = {.compare_answer = 1};
    gk_migration_read_ops ops = read_ops(&o);
    gk_migration_result r = {.size = sizeof(r)};
    bool both = strlen(table[_i].reads) == 2;

    fake_gatekeeper_set_stage(fg, FLAG, table[_i].stage);
    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
    ck_assert_str_eq(gk_stage_str(r.stage), table[_i].stage);
    ck_assert_str_eq(o.order, table[_i].reads);
    ck_assert_int_eq(r.ok, 1);
    ck_assert_ptr_nonnull(r.result);
    ck_assert_int_eq(((result_obj *) r.result)->side, table[_i].returned);
    ck_assert_int_eq(r.old_invoked, strchr(table[_i].reads, 'o') != NULL);
    ck_assert_int_eq(r.new_invoked, strchr(table[_i].reads, 'n') != NULL);
    ck_assert_int_eq(r.old_error, 0);
    ck_assert_int_eq(r.new_error, 0);
    ck_assert_int_eq(o.compares, both ? 1 : 0);
    ck_assert_int_eq(r.consistency, both ? 1 : -1);
    ck_assert_int_eq(o.freed, both ? 1 : 0);
    ck_assert_int_eq(r.detail.reason, GK_REASON_TARGETING_MATCH);
    release(&o, &r);

    /* A mismatch is reported as 0. */
    if (both) {
        o = (origins){.compare_answer = 0};
        ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
        ck_assert_int_eq(r.consistency, 0);
        release(&o, &r);
    }
    gk_context_free(ctx);
    gk_client_close(c);
}
END_TEST

START_TEST(test_read_failures)
{
    gk_client *c = open_client(1);
    gk_context *ctx = tenant();
    origins o = {.compare_answer = 1, .fail_new = 1};
    gk_migration_read_ops ops = read_ops(&o);
    gk_migration_result r = {.size = sizeof(r)};

    /* shadow, new fails: old still returned, no comparison, the failed result freed. */
    fake_gatekeeper_set_stage(fg, FLAG, "shadow");
    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
    ck_assert_str_eq(o.order, "on");
    ck_assert_int_eq(r.ok, 1);
    ck_assert_int_eq(r.new_error, 1);
    ck_assert_int_eq(r.old_error, 0);
    ck_assert_int_eq(o.compares, 0);
    ck_assert_int_eq(r.consistency, -1);
    ck_assert_int_eq(o.freed, 1);
    release(&o, &r);

    /* live, new (authoritative) fails: old is still read (measured), ok 0, the caller gets
     * the failed read's result object; no comparison. */
    o = (origins){.compare_answer = 1, .fail_new = 1};
    fake_gatekeeper_set_stage(fg, FLAG, "live");
    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
    ck_assert_str_eq(o.order, "no");
    ck_assert_int_eq(r.ok, 0);
    ck_assert_int_eq(r.new_error, 1);
    ck_assert_int_eq(((result_obj *) r.result)->side, 'n');
    ck_assert_int_eq(o.compares, 0);
    release(&o, &r);

    /* No comparator: never compared. */
    o = (origins){0};
    ops.compare = NULL;
    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
    ck_assert_int_eq(r.consistency, -1);
    ck_assert_int_eq(r.ok, 1);
    release(&o, &r);

    /* complete, new fails: ok 0, nothing else invoked. */
    o = (origins){.fail_new = 1};
    fake_gatekeeper_set_stage(fg, FLAG, "complete");
    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
    ck_assert_str_eq(o.order, "n");
    ck_assert_int_eq(r.ok, 0);
    ck_assert_int_eq(r.old_invoked, 0);
    release(&o, &r);
    gk_context_free(ctx);
    gk_client_close(c);
}
END_TEST

START_TEST(test_write_each_stage)
{
    gk_client *c = open_client(1);
    gk_context *ctx = tenant();
    origins o = {0};
    gk_migration_write_ops ops = write_ops(&o);
    gk_migration_result r = {.size = sizeof(r)};
    char auth = table[_i].returned;

    fake_gatekeeper_set_stage(fg, FLAG, table[_i].stage);
    ck_assert_int_eq(gk_migration_write(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
    ck_assert_str_eq(o.order, table[_i].writes);
    ck_assert_int_eq(r.ok, 1);
    ck_assert_int_eq(((result_obj *) r.result)->side, auth);
    ck_assert_int_eq(r.consistency, -1);
    ck_assert_int_eq(o.freed, strlen(table[_i].writes) == 2 ? 1 : 0);
    release(&o, &r);

    /* The authoritative write fails: the other is never attempted. */
    o = (origins){.fail_old = auth == 'o', .fail_new = auth == 'n'};
    ck_assert_int_eq(gk_migration_write(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
    ck_assert_int_eq((int) o.norder, 1);
    ck_assert_int_eq(o.order[0], auth);
    ck_assert_int_eq(r.ok, 0);
    ck_assert_int_eq(auth == 'o' ? r.old_error : r.new_error, 1);
    ck_assert_int_eq(auth == 'o' ? r.new_invoked : r.old_invoked, 0);
    ck_assert_int_eq(o.freed, 0);
    release(&o, &r);

    /* The non-authoritative write fails: reported, the authoritative result still returned. */
    o = (origins){.fail_old = auth == 'n', .fail_new = auth == 'o'};
    ck_assert_int_eq(gk_migration_write(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
    ck_assert_str_eq(o.order, table[_i].writes);
    ck_assert_int_eq(r.ok, 1);
    if (strlen(table[_i].writes) == 2) {
        ck_assert_int_eq(auth == 'o' ? r.new_error : r.old_error, 1);
        ck_assert_int_eq(o.freed, 1);
    }
    release(&o, &r);
    gk_context_free(ctx);
    gk_client_close(c);
}
END_TEST

START_TEST(test_check_ratio_exact)
{
    enum { N = 4, K = 5 };
    gk_client *c = open_client(N);
    gk_context *ctx = tenant();
    origins o = {.compare_answer = 1};
    gk_migration_read_ops ops = read_ops(&o);
    gk_migration_result r = {.size = sizeof(r)};
    int checked = 0;

    fake_gatekeeper_set_stage(fg, FLAG, "live");
    for (int i = 0; i < N * K; i++) {
        ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
        checked += r.consistency == 1;
        ck_assert_int_eq(r.consistency == -1 || r.consistency == 1, 1);
        release(&o, &r);
    }
    ck_assert_int_eq(o.compares, K);
    ck_assert_int_eq(checked, K);

    /* Reads where one side failed are not eligible: they do not move the sample. */
    o.fail_old = 1;
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
        release(&o, &r);
    }
    ck_assert_int_eq(o.compares, K);
    o.fail_old = 0;

    /* The per-call ratio overrides the client's. */
    o.compares = 0;
    ops.check_ratio = 3;
    for (int i = 0; i < 3 * K; i++) {
        ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &ops, &r), GK_OK);
        release(&o, &r);
    }
    ck_assert_int_eq(o.compares, K);
    gk_context_free(ctx);
    gk_client_close(c);
}
END_TEST

START_TEST(test_fallback_stage)
{
    gk_client *c = open_client(1);
    gk_context *ctx = tenant();
    origins o = {.compare_answer = 1};
    gk_migration_read_ops rops = read_ops(&o);
    gk_migration_write_ops wops = write_ops(&o);
    gk_migration_result r = {.size = sizeof(r)};

    /* No such flag: the fallback stage. */
    ck_assert_int_eq(gk_migration_read(c, "orders.nothing", ctx, GK_STAGE_OFF, &rops, &r), GK_OK);
    ck_assert_int_eq(r.stage, GK_STAGE_OFF);
    ck_assert_str_eq(o.order, "o");
    ck_assert_int_eq(r.detail.reason, GK_REASON_ERROR);
    ck_assert_int_eq(r.detail.error_code, GK_ERROR_FLAG_NOT_FOUND);
    release(&o, &r);

    /* A gatekeeper that does not answer: the fallback again (here shadow). */
    fake_gatekeeper_set_stage(fg, FLAG, "complete");
    fake_gatekeeper_set_mode(fg, FAKE_GK_SILENT, GK_ERROR_NONE);
    o = (origins){.compare_answer = 1};
    ck_assert_int_eq(gk_migration_write(c, FLAG, ctx, GK_STAGE_SHADOW, &wops, &r), GK_OK);
    ck_assert_int_eq(r.stage, GK_STAGE_SHADOW);
    ck_assert_str_eq(o.order, "on");
    ck_assert_int_eq(r.detail.reason, GK_REASON_ERROR);
    release(&o, &r);
    fake_gatekeeper_set_mode(fg, FAKE_GK_OK, GK_ERROR_NONE);
    gk_context_free(ctx);
    gk_client_close(c);
}
END_TEST

START_TEST(test_invalid_arguments)
{
    gk_client *c = open_client(1);
    gk_context *ctx = tenant();
    origins o = {0};
    gk_migration_read_ops rops = read_ops(&o);
    gk_migration_write_ops wops = write_ops(&o);
    gk_migration_result r = {.size = sizeof(r)};

    fake_gatekeeper_set_stage(fg, FLAG, "shadow");
    ck_assert_int_eq(gk_migration_read(NULL, FLAG, ctx, GK_STAGE_OFF, &rops, &r), GK_EINVAL);
    ck_assert_int_eq(r.detail.reason, GK_REASON_ERROR);
    ck_assert_ptr_null(r.result);
    ck_assert_int_eq(gk_migration_read(c, NULL, ctx, GK_STAGE_OFF, &rops, &r), GK_EINVAL);
    ck_assert_int_eq(gk_migration_read(c, "", ctx, GK_STAGE_OFF, &rops, &r), GK_EINVAL);
    ck_assert_int_eq(gk_migration_read(c, FLAG, NULL, GK_STAGE_OFF, &rops, &r), GK_EINVAL);
    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, (gk_stage) 7, &rops, &r), GK_EINVAL);
    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, NULL, &r), GK_EINVAL);
    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &rops, NULL), GK_EINVAL);
    rops.read_new = NULL;
    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &rops, &r), GK_EINVAL);
    rops = read_ops(&o);
    rops.size = 0;
    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &rops, &r), GK_EINVAL);
    r.size = 0;
    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &rops, &r), GK_EINVAL);
    r.size = sizeof(r);
    wops.write_old = NULL;
    ck_assert_int_eq(gk_migration_write(c, FLAG, ctx, GK_STAGE_OFF, &wops, &r), GK_EINVAL);
    ck_assert_int_eq(r.old_invoked + r.new_invoked, 0);
    /* Nothing was called. */
    ck_assert_int_eq((int) o.norder, 0);

    /* An older caller's shorter ops (without check_ratio) still works. */
    rops = read_ops(&o);
    rops.size = offsetof(gk_migration_read_ops, check_ratio);
    ck_assert_int_eq(gk_migration_read(c, FLAG, ctx, GK_STAGE_OFF, &rops, &r), GK_OK);
    ck_assert_str_eq(o.order, "on");
    release(&o, &r);
    gk_context_free(ctx);
    gk_client_close(c);
}
END_TEST

static Suite *
migrate_suite(void)
{
    Suite *s = suite_create("sdk_migrate");
    TCase *tc = tcase_create("migrate");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stage_names);
    tcase_add_test(tc, test_eval_stage);
    tcase_add_loop_test(tc, test_read_each_stage, 0, 6);
    tcase_add_test(tc, test_read_failures);
    tcase_add_loop_test(tc, test_write_each_stage, 0, 6);
    tcase_add_test(tc, test_check_ratio_exact);
    tcase_add_test(tc, test_fallback_stage);
    tcase_add_test(tc, test_invalid_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(migrate_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
