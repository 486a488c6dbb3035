/*
 * sdk_client_test.c - gk_client against an in-process fake gatekeeper (tests/support): fresh,
 * cached and stale answers, every way a token can be refused, error replies, timeouts, and
 * concurrent use.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <nng/nng.h>

#include "fake_gatekeeper.h"
#include "gatekeeper.h"
#include "gk_test.h"

static fake_gatekeeper *fg;

static void
setup(void)
{
    fg = fake_gatekeeper_start();
    ck_assert_ptr_nonnull(fg);
    fake_gatekeeper_set_flag(fg, "orders.read_v2", "true", "on", GK_REASON_SPLIT, NULL,
                             GK_ERROR_NONE);
    fake_gatekeeper_set_flag(fg, "orders.stage", "\"dualwrite\"", "dualwrite",
                             GK_REASON_TARGETING_MATCH, "eu", GK_ERROR_NONE);
    fake_gatekeeper_set_flag(fg, "orders.limit", "42", "high", GK_REASON_STATIC, NULL,
                             GK_ERROR_NONE);
    fake_gatekeeper_set_flag(fg, "orders.killed", NULL, NULL, GK_REASON_DISABLED, NULL,
                             GK_ERROR_NONE);
}

/*
 * nng 1.5.2 frees closed sockets, dialers and pipes on its reaper thread after nng_close()
 * returns, so a forked test could exit before the reaper has run, and nng's global state would
 * look leaked. nng_fini() drains the reaper and releases that state (nng.h provides it for memory
 * checkers); every client and the fake are closed by now and nothing else calls nng. It also
 * turns nng 1.5.2's leak of a dialer whose connection is still in its SP handshake when the
 * socket closes (a dialer and its pipe, 3328 bytes) from an occasional report into a certain one,
 * which is why every test makes at least one request before it closes its client.
 */
static void
teardown(void)
{
    fake_gatekeeper_free(fg);
    fg = NULL;
    nng_fini();
}

static gk_client *
open_client(uint32_t timeout_ms, bool cache_disabled)
{
    gk_options *opts = NULL;
    gk_client *client = NULL;
    gk_diag diag = {0};

    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    ck_assert_int_eq(gk_options_add_endpoint(opts, fake_gatekeeper_url(fg)), GK_OK);
    ck_assert_int_eq(gk_options_set_jwks_file(opts, fake_gatekeeper_jwks_path(fg)), GK_OK);
    ck_assert_int_eq(gk_options_set_timeout_ms(opts, timeout_ms), GK_OK);
    ck_assert_int_eq(gk_options_set_cache_disabled(opts, cache_disabled), GK_OK);
    /* No change events here (sdk_events_test has them): nothing dials the default port, where a
     * real publisher could be in its handshake when the client closes (see teardown). */
    ck_assert_int_eq(gk_options_set_events_endpoint(opts, NULL), GK_OK);
    ck_assert_msg(gk_client_open(&client, opts, &diag) == GK_OK, "open: %s", diag.text);
    gk_options_free(opts);
    return client;
}

static gk_context *
tenant(const char *key)
{
    gk_context *ctx = NULL;

    ck_assert_int_eq(gk_context_new(&ctx, key), GK_OK);
    ck_assert_int_eq(gk_context_set_string(ctx, "region", "eu"), GK_OK);
    return ctx;
}

/* Evaluate orders.read_v2 with fallback false and return the detail. */
static bool
eval_read_v2(gk_client *client, const gk_context *ctx, gk_detail *d)
{
    bool value = false;

    ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", ctx, false, &value, d), GK_OK);
    return value;
}

START_TEST(test_fresh_then_cached)
{
    gk_client *client = open_client(1000, false);
    gk_context *ctx = tenant("t-42");
    gk_detail d;

    ck_assert(eval_read_v2(client, ctx, &d));
    ck_assert_int_eq(d.reason, GK_REASON_SPLIT);
    ck_assert_int_eq(d.error_code, GK_ERROR_NONE);
    ck_assert_str_eq(d.variant, "on");
    ck_assert_uint_eq(d.snapshot_version, fake_gatekeeper_snapshot_version());
    ck_assert_uint_eq(fake_gatekeeper_requests(fg), 1);

    ck_assert(eval_read_v2(client, ctx, &d));
    ck_assert_int_eq(d.reason, GK_REASON_CACHED);
    ck_assert_str_eq(d.variant, "on");
    ck_assert_uint_eq(d.snapshot_version, fake_gatekeeper_snapshot_version());
    ck_assert_uint_eq(fake_gatekeeper_requests(fg), 1);

    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

START_TEST(test_string_flag_and_rule_id)
{
    gk_client *client = open_client(1000, false);
    gk_context *ctx = tenant("t-42");
    gk_detail d;
    char buf[32];
    char tiny[4];

    ck_assert_int_eq(
        gk_client_eval_string(client, "orders.stage", ctx, "off", buf, sizeof(buf), &d), GK_OK);
    ck_assert_str_eq(buf, "dualwrite");
    ck_assert_int_eq(d.reason, GK_REASON_TARGETING_MATCH);
    ck_assert_str_eq(d.rule_id, "eu");
    ck_assert_int_eq(
        gk_client_eval_string(client, "orders.stage", ctx, "off", tiny, sizeof(tiny), &d),
        GK_ENOSPC);
    ck_assert_str_eq(tiny, "");
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

START_TEST(test_cache_disabled_asks_every_time)
{
    gk_client *client = open_client(1000, true);
    gk_context *ctx = tenant("t-42");
    gk_detail d;

    for (int i = 0; i < 3; i++) {
        ck_assert(eval_read_v2(client, ctx, &d));
        ck_assert_int_eq(d.reason, GK_REASON_SPLIT);
    }
    ck_assert_uint_eq(fake_gatekeeper_requests(fg), 3);
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

/* A refused token gives the fallback with `code` and is not cached (the next call asks again). */
static void
check_refused(fake_gatekeeper_mode mode, gk_error_code code)
{
    gk_client *client = open_client(1000, false);
    gk_context *ctx = tenant("t-42");
    gk_detail d;
    bool value = true;

    fake_gatekeeper_set_mode(fg, mode, GK_ERROR_NONE);
    ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", ctx, true, &value, &d), GK_OK);
    ck_assert(value); /* the fallback */
    ck_assert_int_eq(d.reason, GK_REASON_ERROR);
    ck_assert_msg(d.error_code == code, "error code %s, expected %s (%s)",
                  gk_error_code_str(d.error_code), gk_error_code_str(code), d.error_message);
    ck_assert_str_eq(d.variant, "");
    ck_assert_uint_eq(d.snapshot_version, 0);
    ck_assert(strlen(d.error_message) > 0);

    fake_gatekeeper_set_mode(fg, FAKE_GK_OK, GK_ERROR_NONE);
    ck_assert(eval_read_v2(client, ctx, &d));
    ck_assert_int_eq(d.reason, GK_REASON_SPLIT);
    ck_assert_uint_eq(fake_gatekeeper_requests(fg), 2);
    gk_context_free(ctx);
    gk_client_close(client);
}

START_TEST(test_forged_token_is_fatal)
{
    check_refused(FAKE_GK_FORGED, GK_ERROR_PROVIDER_FATAL);
}
END_TEST

START_TEST(test_tampered_payload_is_fatal)
{
    check_refused(FAKE_GK_TAMPERED, GK_ERROR_PROVIDER_FATAL);
}
END_TEST

START_TEST(test_unknown_kid_is_fatal)
{
    check_refused(FAKE_GK_UNKNOWN_KID, GK_ERROR_PROVIDER_FATAL);
}
END_TEST

/* A genuine token that does not echo the request's nonce answers another request: refused. */
START_TEST(test_wrong_nonce_is_fatal)
{
    check_refused(FAKE_GK_NONCE_WRONG, GK_ERROR_PROVIDER_FATAL);
}
END_TEST

START_TEST(test_missing_nonce_is_fatal)
{
    check_refused(FAKE_GK_NONCE_NONE, GK_ERROR_PROVIDER_FATAL);
}
END_TEST

/*
 * The replay a reviewer showed: someone on the path answers tenant t-2's request with the
 * genuine, unexpired token signed for tenant t-1. Refused, not cached, and says why.
 */
START_TEST(test_replayed_token_is_refused)
{
    gk_client *client = open_client(1000, false);
    gk_context *first = tenant("t-1");
    gk_context *second = tenant("t-2");
    gk_detail d;
    bool value = false;

    ck_assert(eval_read_v2(client, first, &d));
    ck_assert_int_eq(d.reason, GK_REASON_SPLIT);

    fake_gatekeeper_set_flag(fg, "orders.read_v2", "false", "off", GK_REASON_SPLIT, NULL,
                             GK_ERROR_NONE);
    fake_gatekeeper_set_mode(fg, FAKE_GK_REPLAY, GK_ERROR_NONE);
    ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", second, false, &value, &d),
                     GK_OK);
    ck_assert(!value); /* the fallback, not t-1's true */
    ck_assert_int_eq(d.reason, GK_REASON_ERROR);
    ck_assert_int_eq(d.error_code, GK_ERROR_PROVIDER_FATAL);
    ck_assert_ptr_nonnull(strstr(d.error_message, "nonce mismatch"));
    ck_assert_uint_eq(d.snapshot_version, 0);

    /* Nothing of it was cached: the next call asks again and gets t-2's own answer. */
    fake_gatekeeper_set_mode(fg, FAKE_GK_OK, GK_ERROR_NONE);
    ck_assert(!eval_read_v2(client, second, &d));
    ck_assert_int_eq(d.reason, GK_REASON_SPLIT);
    ck_assert_str_eq(d.variant, "off");
    ck_assert_uint_eq(fake_gatekeeper_requests(fg), 3);
    gk_context_free(first);
    gk_context_free(second);
    gk_client_close(client);
}
END_TEST

/* Every request carries its own random nonce: 16 bytes, 22 base64url characters. */
START_TEST(test_each_request_has_a_fresh_nonce)
{
    gk_client *client = open_client(1000, true);
    gk_context *ctx = tenant("t-42");
    gk_detail d;
    char seen[8][80];

    for (int i = 0; i < 8; i++) {
        ck_assert(eval_read_v2(client, ctx, &d));
        ck_assert_int_eq(d.reason, GK_REASON_SPLIT);
        fake_gatekeeper_last_nonce(fg, seen[i], sizeof(seen[i]));
        ck_assert_uint_eq(strlen(seen[i]), 22);
        ck_assert_uint_eq(strspn(seen[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789-_"),
                          22);
        for (int j = 0; j < i; j++) {
            ck_assert_str_ne(seen[i], seen[j]);
        }
    }
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

/*
 * PROVIDER_FATAL as gatekeeper.h documents it: the fallback (not the last known good decision),
 * nothing cached, no latch and no back-off: every call asks again, and a good answer is used.
 */
START_TEST(test_provider_fatal_asks_again)
{
    gk_client *client = open_client(1000, true);
    gk_context *ctx = tenant("t-42");
    gk_detail d;
    bool value = true;

    ck_assert(eval_read_v2(client, ctx, &d)); /* a last known good decision exists */
    fake_gatekeeper_set_mode(fg, FAKE_GK_FORGED, GK_ERROR_NONE);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", ctx, false, &value, &d),
                         GK_OK);
        ck_assert(!value);
        ck_assert_int_eq(d.reason, GK_REASON_ERROR);
        ck_assert_int_eq(d.error_code, GK_ERROR_PROVIDER_FATAL);
    }
    ck_assert_uint_eq(fake_gatekeeper_requests(fg), 4);
    fake_gatekeeper_set_mode(fg, FAKE_GK_OK, GK_ERROR_NONE);
    ck_assert(eval_read_v2(client, ctx, &d));
    ck_assert_int_eq(d.reason, GK_REASON_SPLIT);
    ck_assert_uint_eq(fake_gatekeeper_requests(fg), 5);
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

START_TEST(test_expired_token)
{
    check_refused(FAKE_GK_EXPIRED, GK_ERROR_GENERAL);
}
END_TEST

START_TEST(test_garbage_reply)
{
    check_refused(FAKE_GK_GARBAGE, GK_ERROR_PARSE_ERROR);
}
END_TEST

START_TEST(test_error_reply_maps_error_code)
{
    gk_client *client = open_client(1000, false);
    gk_context *ctx = tenant("t-42");
    gk_detail d;
    bool value = true;

    fake_gatekeeper_set_mode(fg, FAKE_GK_ERROR_REPLY, GK_ERROR_INVALID_CONTEXT);
    ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", ctx, true, &value, &d), GK_OK);
    ck_assert(value);
    ck_assert_int_eq(d.reason, GK_REASON_ERROR);
    ck_assert_int_eq(d.error_code, GK_ERROR_INVALID_CONTEXT);
    ck_assert_ptr_nonnull(strstr(d.error_message, "fake gatekeeper refuses"));
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

START_TEST(test_flag_not_found)
{
    gk_client *client = open_client(1000, false);
    gk_context *ctx = tenant("t-42");
    gk_detail d;
    bool value = true;

    ck_assert_int_eq(gk_client_eval_bool(client, "no.such.flag", ctx, true, &value, &d), GK_OK);
    ck_assert(value);
    ck_assert_int_eq(d.reason, GK_REASON_ERROR);
    ck_assert_int_eq(d.error_code, GK_ERROR_FLAG_NOT_FOUND);
    ck_assert_str_eq(d.variant, "");
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

START_TEST(test_type_mismatch)
{
    gk_client *client = open_client(1000, false);
    gk_context *ctx = tenant("t-42");
    gk_detail d;
    bool value = true;
    char buf[16];

    /* A string flag asked as a boolean, fresh and then from the cache. */
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(gk_client_eval_bool(client, "orders.stage", ctx, true, &value, &d), GK_OK);
        ck_assert(value);
        ck_assert_int_eq(d.reason, GK_REASON_ERROR);
        ck_assert_int_eq(d.error_code, GK_ERROR_TYPE_MISMATCH);
    }
    /* A boolean and a number asked as strings. */
    ck_assert_int_eq(
        gk_client_eval_string(client, "orders.read_v2", ctx, "fb", buf, sizeof(buf), &d), GK_OK);
    ck_assert_str_eq(buf, "fb");
    ck_assert_int_eq(d.error_code, GK_ERROR_TYPE_MISMATCH);
    ck_assert_int_eq(gk_client_eval_string(client, "orders.limit", ctx, "fb", buf, sizeof(buf), &d),
                     GK_OK);
    ck_assert_str_eq(buf, "fb");
    ck_assert_int_eq(d.error_code, GK_ERROR_TYPE_MISMATCH);
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

START_TEST(test_disabled_gives_fallback)
{
    gk_client *client = open_client(1000, false);
    gk_context *ctx = tenant("t-42");
    gk_detail d;
    bool value = true;

    for (int i = 0; i < 2; i++) { /* fresh, then from the cache: still DISABLED */
        ck_assert_int_eq(gk_client_eval_bool(client, "orders.killed", ctx, true, &value, &d),
                         GK_OK);
        ck_assert(value);
        ck_assert_int_eq(d.reason, GK_REASON_DISABLED);
        ck_assert_int_eq(d.error_code, GK_ERROR_NONE);
        ck_assert_str_eq(d.variant, "");
    }
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

START_TEST(test_stale_then_error)
{
    gk_client *client = open_client(100, true);
    gk_context *ctx = tenant("t-42");
    gk_detail d;
    time_t exp;

    fake_gatekeeper_set_lifetime_s(fg, 2);
    exp = time(NULL) + 2;
    ck_assert(eval_read_v2(client, ctx, &d));
    ck_assert_int_eq(d.reason, GK_REASON_SPLIT);

    fake_gatekeeper_stop(fg);
    ck_assert(eval_read_v2(client, ctx, &d));
    ck_assert_int_eq(d.reason, GK_REASON_STALE);
    ck_assert_str_eq(d.variant, "on");
    ck_assert_uint_eq(d.snapshot_version, fake_gatekeeper_snapshot_version());

    while (time(NULL) <= exp) {
        gkt_sleep_ms(100);
    }
    ck_assert(!eval_read_v2(client, ctx, &d));
    ck_assert_int_eq(d.reason, GK_REASON_ERROR);
    ck_assert_int_eq(d.error_code, GK_ERROR_GENERAL);
    ck_assert(strlen(d.error_message) > 0);
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

START_TEST(test_silent_gatekeeper_bounded_by_timeout)
{
    const uint32_t timeout_ms = 200;
    gk_client *client = open_client(timeout_ms, false);
    gk_context *ctx = tenant("t-42");
    gk_detail d;
    int64_t start;
    int64_t elapsed;

    fake_gatekeeper_set_mode(fg, FAKE_GK_SILENT, GK_ERROR_NONE);
    start = gkt_now_ms();
    ck_assert(!eval_read_v2(client, ctx, &d));
    elapsed = gkt_now_ms() - start;
    ck_assert_msg(elapsed < timeout_ms + 500, "took %lld ms", (long long) elapsed);
    ck_assert_int_eq(d.reason, GK_REASON_ERROR);
    ck_assert_int_eq(d.error_code, GK_ERROR_PROVIDER_NOT_READY);

    /* Within the back-off the next call does not wait at all. */
    start = gkt_now_ms();
    ck_assert(!eval_read_v2(client, ctx, &d));
    ck_assert_int_lt(gkt_now_ms() - start, timeout_ms);
    ck_assert_int_eq(d.error_code, GK_ERROR_PROVIDER_NOT_READY);
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

START_TEST(test_eval_all)
{
    gk_client *client = open_client(1000, false);
    gk_context *ctx = tenant("t-42");
    gk_decision_set *set = NULL;
    gk_detail d;
    bool seen_stage = false;

    ck_assert_int_eq(gk_client_eval_all(client, ctx, &set, &d), GK_OK);
    ck_assert_int_eq(d.error_code, GK_ERROR_NONE);
    ck_assert_uint_eq(d.snapshot_version, fake_gatekeeper_snapshot_version());
    ck_assert_uint_eq(gk_decision_set_count(set), 4);
    for (size_t i = 0; i < gk_decision_set_count(set); i++) {
        const char *key;
        const char *value_json;
        gk_detail fd;

        ck_assert_int_eq(gk_decision_set_get(set, i, &key, &value_json, &fd), GK_OK);
        if (strcmp(key, "orders.stage") == 0) {
            ck_assert_str_eq(value_json, "\"dualwrite\"");
            ck_assert_int_eq(fd.reason, GK_REASON_TARGETING_MATCH);
            seen_stage = true;
        } else if (strcmp(key, "orders.killed") == 0) {
            ck_assert_ptr_null(value_json);
            ck_assert_int_eq(fd.reason, GK_REASON_DISABLED);
        }
    }
    ck_assert(seen_stage);
    ck_assert_int_eq(gk_decision_set_get(set, 4, NULL, NULL, NULL), GK_EINVAL);
    gk_decision_set_free(set);

    /* The answer refreshed the cache of every flag in it. */
    ck_assert(eval_read_v2(client, ctx, &d));
    ck_assert_int_eq(d.reason, GK_REASON_CACHED);
    ck_assert_uint_eq(fake_gatekeeper_requests(fg), 1);

    /* Unreachable: an empty set and the reason. */
    fake_gatekeeper_stop(fg);
    gk_client_close(client);
    client = open_client(100, false);
    ck_assert_int_eq(gk_client_eval_all(client, ctx, &set, &d), GK_OK);
    ck_assert_uint_eq(gk_decision_set_count(set), 0);
    ck_assert_int_eq(d.reason, GK_REASON_ERROR);
    ck_assert_int_eq(d.error_code, GK_ERROR_PROVIDER_NOT_READY);
    gk_decision_set_free(set);
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

START_TEST(test_invalid_arguments)
{
    gk_client *client = open_client(1000, false);
    gk_context *ctx = tenant("t-42");
    gk_options *opts = NULL;
    gk_client *other = NULL;
    gk_diag diag = {0};
    bool value = false;
    char buf[8];
    char long_key[GK_FLAG_KEY_MAX + 1];

    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    ck_assert_int_eq(gk_client_eval_bool(NULL, "f", ctx, true, &value, NULL), GK_EINVAL);
    ck_assert(value);
    ck_assert_int_eq(gk_client_eval_bool(client, NULL, ctx, true, &value, NULL), GK_EINVAL);
    ck_assert_int_eq(gk_client_eval_bool(client, "", ctx, true, &value, NULL), GK_EINVAL);
    ck_assert_int_eq(gk_client_eval_bool(client, long_key, ctx, true, &value, NULL), GK_EINVAL);
    ck_assert_int_eq(gk_client_eval_bool(client, "f", NULL, true, &value, NULL), GK_EINVAL);
    ck_assert_int_eq(gk_client_eval_bool(client, "f", ctx, true, NULL, NULL), GK_EINVAL);
    ck_assert_int_eq(gk_client_eval_string(client, "f", ctx, "fb", buf, 0, NULL), GK_EINVAL);
    ck_assert_int_eq(gk_client_eval_string(client, "f", ctx, NULL, buf, sizeof(buf), NULL),
                     GK_EINVAL);
    ck_assert_int_eq(gk_client_eval_all(client, ctx, NULL, NULL), GK_EINVAL);
    ck_assert_uint_eq(fake_gatekeeper_requests(fg), 0);

    ck_assert_int_eq(gk_client_open(&other, NULL, &diag), GK_EINVAL);
    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    memset(&diag, 0, sizeof(diag));
    ck_assert_int_eq(gk_client_open(&other, opts, &diag), GK_EINVAL); /* no JWKS */
    ck_assert(strlen(diag.text) > 0);
    ck_assert_int_eq(gk_options_set_jwks_file(opts, "/nonexistent/jwks.json"), GK_OK);
    ck_assert_int_eq(gk_client_open(&other, opts, NULL), GK_ENOENT);
    ck_assert_int_eq(gk_options_set_jwks_file(opts, fake_gatekeeper_jwks_path(fg)), GK_OK);
    ck_assert_int_eq(gk_options_add_endpoint(opts, "nonsense://x"), GK_OK);
    ck_assert_int_eq(gk_client_open(&other, opts, NULL), GK_EINVAL);
    ck_assert_ptr_null(other);
    gk_options_free(opts);
    gk_client_close(NULL);

    /* One valid call, so the client's connection is set up before it closes (see teardown). */
    ck_assert(eval_read_v2(client, ctx, NULL));
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

/* The mask of orders.read_v2 for ctx must be exactly email, address.street. */
static void
check_read_v2_mask(gk_client *client, const gk_context *ctx)
{
    gk_mask *mask = NULL;

    ck_assert_int_eq(gk_client_eval_mask(client, "orders.read_v2", ctx, &mask), GK_OK);
    ck_assert(!gk_mask_masks_all(mask));
    ck_assert_uint_eq(gk_mask_count(mask), 2);
    ck_assert_str_eq(gk_mask_field(mask, 0), "email");
    ck_assert_str_eq(gk_mask_field(mask, 1), "address.street");
    gk_mask_free(mask);
}

static const char *const read_v2_mask[] = {"email", "address.street"};

/* The signed mask list comes with the decision: fresh, then CACHED. */
START_TEST(test_mask_fresh_and_cached)
{
    gk_client *client = open_client(1000, false);
    gk_context *ctx = tenant("t-42");
    gk_mask *mask = NULL;
    gk_detail d;

    fake_gatekeeper_set_mask(fg, "orders.read_v2", read_v2_mask, 2);
    check_read_v2_mask(client, ctx); /* fresh */
    ck_assert_uint_eq(fake_gatekeeper_requests(fg), 1);
    check_read_v2_mask(client, ctx); /* from the cache */
    ck_assert(eval_read_v2(client, ctx, &d));
    ck_assert_int_eq(d.reason, GK_REASON_CACHED);
    ck_assert_uint_eq(fake_gatekeeper_requests(fg), 1);

    /* A decision without a mask: an empty list, not masks-all; DISABLED keeps its (empty) list. */
    ck_assert_int_eq(gk_client_eval_mask(client, "orders.stage", ctx, &mask), GK_OK);
    ck_assert_uint_eq(gk_mask_count(mask), 0);
    ck_assert(!gk_mask_masks_all(mask));
    gk_mask_free(mask);
    ck_assert_int_eq(gk_client_eval_mask(client, "orders.killed", ctx, &mask), GK_OK);
    ck_assert(!gk_mask_masks_all(mask));
    gk_mask_free(mask);
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

/* The last known good decision keeps its mask; once nothing valid is left, everything is masked. */
START_TEST(test_mask_stale_then_masks_all)
{
    gk_client *client = open_client(100, true);
    gk_context *ctx = tenant("t-42");
    gk_mask *mask = NULL;
    gk_detail d;
    time_t exp;

    fake_gatekeeper_set_mask(fg, "orders.read_v2", read_v2_mask, 2);
    fake_gatekeeper_set_lifetime_s(fg, 2);
    exp = time(NULL) + 2;
    check_read_v2_mask(client, ctx);
    fake_gatekeeper_stop(fg);
    ck_assert(eval_read_v2(client, ctx, &d));
    ck_assert_int_eq(d.reason, GK_REASON_STALE);
    check_read_v2_mask(client, ctx); /* STALE */

    while (time(NULL) <= exp) {
        gkt_sleep_ms(100);
    }
    ck_assert_int_eq(gk_client_eval_mask(client, "orders.read_v2", ctx, &mask), GK_OK);
    ck_assert(gk_mask_masks_all(mask));
    ck_assert_uint_eq(gk_mask_count(mask), 0);
    gk_mask_free(mask);
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

/* No verified decision, whatever the reason: the mask masks every field (privacy fails closed). */
START_TEST(test_mask_fallback_masks_all)
{
    gk_client *client = open_client(200, false);
    gk_context *ctx = tenant("t-42");
    gk_context *other = tenant("t-43");
    gk_mask *mask = NULL;

    fake_gatekeeper_set_mask(fg, "orders.read_v2", read_v2_mask, 2);
    /* A flag the gatekeeper does not know (a signed ERROR entry). */
    ck_assert_int_eq(gk_client_eval_mask(client, "no.such.flag", ctx, &mask), GK_OK);
    ck_assert(gk_mask_masks_all(mask));
    gk_mask_free(mask);
    /* A refused token (another request's). */
    fake_gatekeeper_set_mode(fg, FAKE_GK_NONCE_WRONG, GK_ERROR_NONE);
    ck_assert_int_eq(gk_client_eval_mask(client, "orders.read_v2", ctx, &mask), GK_OK);
    ck_assert(gk_mask_masks_all(mask));
    gk_mask_free(mask);
    /* Unreachable, nothing cached for this context. */
    fake_gatekeeper_set_mode(fg, FAKE_GK_SILENT, GK_ERROR_NONE);
    ck_assert_int_eq(gk_client_eval_mask(client, "orders.read_v2", other, &mask), GK_OK);
    ck_assert(gk_mask_masks_all(mask));
    gk_mask_free(mask);
    /* A caller bug still gets a mask that masks everything. */
    mask = NULL;
    ck_assert_int_eq(gk_client_eval_mask(client, "", ctx, &mask), GK_EINVAL);
    ck_assert(gk_mask_masks_all(mask));
    gk_mask_free(mask);
    ck_assert_int_eq(gk_client_eval_mask(client, "orders.read_v2", NULL, &mask), GK_EINVAL);
    ck_assert(gk_mask_masks_all(mask));
    ck_assert_int_eq(gk_client_eval_mask(NULL, "orders.read_v2", ctx, &mask), GK_EINVAL);
    ck_assert(gk_mask_masks_all(mask));
    ck_assert_int_eq(gk_client_eval_mask(client, "orders.read_v2", ctx, NULL), GK_EINVAL);
    gk_context_free(ctx);
    gk_context_free(other);
    gk_client_close(client);
}
END_TEST

/* eval_all: each decision's mask, valid after the set is freed; masks apply to a record. */
START_TEST(test_mask_in_decision_set)
{
    gk_client *client = open_client(1000, false);
    gk_context *ctx = tenant("t-42");
    gk_decision_set *set = NULL;
    gk_mask *mask = NULL;
    gk_mask *kept = NULL;
    char *out = NULL;

    fake_gatekeeper_set_mask(fg, "orders.read_v2", read_v2_mask, 2);
    ck_assert_int_eq(gk_client_eval_all(client, ctx, &set, NULL), GK_OK);
    for (size_t i = 0; i < gk_decision_set_count(set); i++) {
        const char *key;

        ck_assert_int_eq(gk_decision_set_get(set, i, &key, NULL, NULL), GK_OK);
        ck_assert_int_eq(gk_decision_set_mask(set, i, &mask), GK_OK);
        ck_assert(!gk_mask_masks_all(mask));
        if (strcmp(key, "orders.read_v2") == 0) {
            ck_assert_uint_eq(gk_mask_count(mask), 2);
            kept = mask;
        } else {
            ck_assert_uint_eq(gk_mask_count(mask), 0);
            gk_mask_free(mask);
        }
    }
    ck_assert_int_eq(gk_decision_set_mask(set, gk_decision_set_count(set), &mask), GK_EINVAL);
    ck_assert(gk_mask_masks_all(mask));
    ck_assert_int_eq(gk_decision_set_mask(NULL, 0, &mask), GK_EINVAL);
    ck_assert_int_eq(gk_decision_set_mask(set, 0, NULL), GK_EINVAL);
    gk_decision_set_free(set);

    ck_assert_ptr_nonnull(kept);
    ck_assert_int_eq(gk_mask_apply(kept,
                                   "{\"id\":1,\"email\":\"ada@example.com\","
                                   "\"address\":{\"street\":\"Main 1\",\"city\":\"Lyon\"}}",
                                   GK_MASK_REMOVE, NULL, 0, &out),
                     GK_OK);
    ck_assert_str_eq(out, "{\"id\":1,\"address\":{\"city\":\"Lyon\"}}");
    gk_free(out);
    gk_mask_free(kept);
    /* The decisions of the set were cached with their masks. */
    check_read_v2_mask(client, ctx);
    ck_assert_uint_eq(fake_gatekeeper_requests(fg), 1);
    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

#define THREADS    4
#define ITERATIONS 2000

static void *
worker(void *arg)
{
    gk_client *client = arg;
    long failures = 0;

    for (int i = 0; i < ITERATIONS; i++) {
        char key[32];
        gk_context *ctx = NULL;
        gk_detail d;
        bool value = false;
        char buf[32];

        snprintf(key, sizeof(key), "t-%d", i % 50);
        if (gk_context_new(&ctx, key) != GK_OK) {
            failures++;
            continue;
        }
        if (gk_client_eval_bool(client, "orders.read_v2", ctx, false, &value, &d) != GK_OK ||
            !value || (d.reason != GK_REASON_SPLIT && d.reason != GK_REASON_CACHED)) {
            failures++;
        }
        if (gk_client_eval_string(client, "orders.stage", ctx, "off", buf, sizeof(buf), &d) !=
                GK_OK ||
            strcmp(buf, "dualwrite") != 0) {
            failures++;
        }
        gk_context_free(ctx);
    }
    return (void *) failures;
}

START_TEST(test_concurrent_threads)
{
    gk_client *client = open_client(2000, false);
    pthread_t threads[THREADS];

    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_create(&threads[i], NULL, worker, client), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        void *failures = NULL;

        ck_assert_int_eq(pthread_join(threads[i], &failures), 0);
        ck_assert_ptr_null(failures);
    }
    /* 50 contexts x 2 flags: the cache answers almost everything. */
    ck_assert_uint_le(fake_gatekeeper_requests(fg), (unsigned) (THREADS * 100));
    gk_client_close(client);
}
END_TEST

static Suite *
client_suite(void)
{
    Suite *s = suite_create("sdk_client");
    TCase *tc = tcase_create("client");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_fresh_then_cached);
    tcase_add_test(tc, test_string_flag_and_rule_id);
    tcase_add_test(tc, test_cache_disabled_asks_every_time);
    tcase_add_test(tc, test_forged_token_is_fatal);
    tcase_add_test(tc, test_tampered_payload_is_fatal);
    tcase_add_test(tc, test_unknown_kid_is_fatal);
    tcase_add_test(tc, test_wrong_nonce_is_fatal);
    tcase_add_test(tc, test_missing_nonce_is_fatal);
    tcase_add_test(tc, test_replayed_token_is_refused);
    tcase_add_test(tc, test_each_request_has_a_fresh_nonce);
    tcase_add_test(tc, test_provider_fatal_asks_again);
    tcase_add_test(tc, test_expired_token);
    tcase_add_test(tc, test_garbage_reply);
    tcase_add_test(tc, test_error_reply_maps_error_code);
    tcase_add_test(tc, test_flag_not_found);
    tcase_add_test(tc, test_type_mismatch);
    tcase_add_test(tc, test_disabled_gives_fallback);
    tcase_add_test(tc, test_stale_then_error);
    tcase_add_test(tc, test_silent_gatekeeper_bounded_by_timeout);
    tcase_add_test(tc, test_eval_all);
    tcase_add_test(tc, test_invalid_arguments);
    tcase_add_test(tc, test_mask_fresh_and_cached);
    tcase_add_test(tc, test_mask_stale_then_masks_all);
    tcase_add_test(tc, test_mask_fallback_masks_all);
    tcase_add_test(tc, test_mask_in_decision_set);
    tcase_add_test(tc, test_concurrent_threads);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(client_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
