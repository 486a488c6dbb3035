/*
 * sdk_daemon_test.c - libgatekeeper against the real daemon: verified decisions of every reason,
 * the cache, a kill switch delivered by a change event (and the caller's change handler), STALE
 * then ERROR when the daemon is gone, the example program gk-evaluate, and decision sessions
 * (tokens accepted on the session MAC, and a session re-opened after a restart).
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "client.h"
#include "gatekeeper.h"
#include "gk_test.h"

static const char *
data_path(const char *name)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/integration/%s", gkt_env("GK_TEST_DATA"), name);
    return path;
}

/* A client of daemon d with a 200 ms timeout, the given cache settings and no event subscription. */
static gk_client *
open_client(const gkt_daemon *d, uint32_t ttl_ms, bool cache_disabled)
{
    gk_options *opts = NULL;
    gk_client *client = NULL;
    gk_diag diag = {0};

    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    ck_assert_int_eq(gk_options_add_endpoint(opts, d->tcp_url), GK_OK);
    ck_assert_int_eq(gk_options_set_jwks_file(opts, d->jwks_path), GK_OK);
    ck_assert_int_eq(gk_options_set_timeout_ms(opts, 200), GK_OK);
    ck_assert_int_eq(gk_options_set_cache_ttl_ms(opts, ttl_ms), GK_OK);
    ck_assert_int_eq(gk_options_set_cache_disabled(opts, cache_disabled), GK_OK);
    /* This daemon's events are on a port of its own; these tests do not need them. */
    ck_assert_int_eq(gk_options_set_events_endpoint(opts, NULL), GK_OK);
    ck_assert_msg(gk_client_open(&client, opts, &diag) == GK_OK, "%s", diag.text);
    gk_options_free(opts);
    return client;
}

START_TEST(test_every_reason_through_the_sdk)
{
    gkt_daemon d;
    gk_client *client;
    gk_context *ctx = NULL;
    gk_detail detail;
    char theme[32];
    bool on = false;

    ck_assert_int_eq(gkt_daemon_start(&d, data_path("flags.json"), NULL), 0);
    client = open_client(&d, 60000, false);
    ck_assert_int_eq(gk_context_new(&ctx, "tenant-1"), GK_OK);

    ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", ctx, false, &on, &detail), GK_OK);
    ck_assert(on);
    ck_assert_int_eq(detail.reason, GK_REASON_TARGETING_MATCH);
    ck_assert_str_eq(detail.rule_id, "targets");
    ck_assert_str_eq(detail.variant, "on");
    ck_assert_uint_eq(detail.snapshot_version, 1);

    ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", ctx, false, &on, &detail), GK_OK);
    ck_assert(on);
    ck_assert_int_eq(detail.reason, GK_REASON_CACHED);

    ck_assert_int_eq(gk_client_eval_string(client, "checkout.theme", ctx, "none", theme,
                                           sizeof(theme), &detail),
                     GK_OK);
    ck_assert_str_eq(theme, "classic");
    ck_assert_int_eq(detail.reason, GK_REASON_STATIC);

    on = false;
    ck_assert_int_eq(
        gk_client_eval_bool(client, "orders.legacy_export", ctx, false, &on, &detail), GK_OK);
    ck_assert(!on);
    ck_assert_int_eq(detail.reason, GK_REASON_DISABLED);
    ck_assert_str_eq(detail.variant, "");

    ck_assert_int_eq(gk_client_eval_bool(client, "no.such_flag", ctx, true, &on, &detail), GK_OK);
    ck_assert(on);
    ck_assert_int_eq(detail.reason, GK_REASON_ERROR);
    ck_assert_int_eq(detail.error_code, GK_ERROR_FLAG_NOT_FOUND);

    ck_assert_int_eq(gk_client_eval_bool(client, "checkout.theme", ctx, true, &on, &detail), GK_OK);
    ck_assert_int_eq(detail.error_code, GK_ERROR_TYPE_MISMATCH);

    gk_context_free(ctx);
    gk_client_close(client);
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
}
END_TEST

START_TEST(test_eval_all_in_one_token)
{
    gkt_daemon d;
    gk_client *client;
    gk_context *ctx = NULL;
    gk_decision_set *set = NULL;
    gk_detail detail;
    const char *key, *value;
    int seen = 0;

    ck_assert_int_eq(gkt_daemon_start(&d, data_path("flags.json"), NULL), 0);
    client = open_client(&d, 1000, false);
    ck_assert_int_eq(gk_context_new(&ctx, "tenant-9"), GK_OK);
    ck_assert_int_eq(gk_context_set_string(ctx, "plan", "gold"), GK_OK);
    ck_assert_int_eq(gk_client_eval_all(client, ctx, &set, &detail), GK_OK);
    ck_assert_uint_eq(gk_decision_set_count(set), 3);
    for (size_t i = 0; i < gk_decision_set_count(set); i++) {
        ck_assert_int_eq(gk_decision_set_get(set, i, &key, &value, &detail), GK_OK);
        if (strcmp(key, "orders.read_v2") == 0) {
            ck_assert_str_eq(value, "true");
            ck_assert_str_eq(detail.rule_id, "gold");
            seen++;
        }
    }
    ck_assert_int_eq(seen, 1);
    gk_decision_set_free(set);
    gk_context_free(ctx);
    gk_client_close(client);
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
}
END_TEST

static long long
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* What the change handler saw: it evaluates the flag itself, so it proves the cache was dropped
 * before it ran. */
typedef struct seen_change {
    gk_client *client;
    gk_context *ctx;
    _Atomic int calls;
    _Atomic uint64_t version;
    _Atomic int64_t committed_at_us;
    _Atomic int64_t handled_at_us; /* CLOCK_REALTIME when the handler ran */
    _Atomic int only_read_v2;      /* the event named exactly orders.read_v2 */
    _Atomic int reason;            /* of the handler's own evaluation */
} seen_change;

static void
on_change(const gk_change_event *event, void *user)
{
    seen_change *seen = user;
    struct timespec ts;
    gk_detail detail;
    bool on = true;

    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&seen->handled_at_us, (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    atomic_store(&seen->only_read_v2,
                 event->nflags == 1 && strcmp(event->flags[0], "orders.read_v2") == 0);
    atomic_store(&seen->committed_at_us, event->committed_at_us);
    atomic_store(&seen->version, event->version);
    if (gk_client_eval_bool(seen->client, "orders.read_v2", seen->ctx, true, &on, &detail) ==
        GK_OK) {
        atomic_store(&seen->reason, (int) detail.reason);
    }
    atomic_fetch_add(&seen->calls, 1);
}

/*
 * A kill switch committed through the admin socket reaches a client that holds the flag in its
 * cache (TTL one minute) through the change event: measured from the admin reply to the first
 * evaluation that answers DISABLED, bounded at 1 s. The caller's change handler runs once, after
 * the cache was dropped, with the version, the flag and the commit time of the change.
 */
START_TEST(test_kill_switch_reaches_the_cache)
{
    char policies[4096];
    const char *extra[] = {"--policies", policies, NULL};
    gkt_daemon d;
    gk_options *opts = NULL;
    gk_client *client = NULL;
    gk_context *ctx = NULL;
    gk_detail detail;
    gk_diag diag = {0};
    char *reply = NULL;
    long long t0, elapsed;
    bool on = false;
    static seen_change seen;
    struct timespec wall;

    snprintf(policies, sizeof(policies), "%s/policies", gkt_env("GK_SOURCE_DIR"));
    ck_assert_int_eq(gkt_daemon_start(&d, data_path("flags.json"), extra), 0);
    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    ck_assert_int_eq(gk_options_add_endpoint(opts, d.tcp_url), GK_OK);
    ck_assert_int_eq(gk_options_set_events_endpoint(opts, d.events_url), GK_OK);
    ck_assert_int_eq(gk_options_set_jwks_file(opts, d.jwks_path), GK_OK);
    ck_assert_int_eq(gk_options_set_cache_ttl_ms(opts, 60000), GK_OK);
    ck_assert_int_eq(gk_options_set_change_handler(opts, on_change, &seen), GK_OK);
    ck_assert_int_eq(gk_context_new(&ctx, "tenant-1"), GK_OK);
    seen.ctx = ctx;
    ck_assert_msg(gk_client_open(&seen.client, opts, &diag) == GK_OK, "%s", diag.text);
    client = seen.client;
    gk_options_free(opts);
    ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", ctx, false, &on, &detail), GK_OK);
    ck_assert(on);
    ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", ctx, false, &on, &detail), GK_OK);
    ck_assert_int_eq(detail.reason, GK_REASON_CACHED);
    /* The subscription dials in the background: give it time to connect (loopback: ms). */
    gkt_sleep_ms(300);

    ck_assert_int_eq(gkt_admin(&d, 0, "flag.kill", "{\"key\": \"orders.read_v2\"}",
                               "kill switch drill for the SDK freshness test", 0, &reply),
                     0);
    t0 = now_us();
    ck_assert_msg(strstr(reply, "\"ok\":true") != NULL, "%s", reply);
    do {
        ck_assert_int_eq(
            gk_client_eval_bool(client, "orders.read_v2", ctx, false, &on, &detail), GK_OK);
        elapsed = now_us() - t0;
    } while (detail.reason != GK_REASON_DISABLED && elapsed < 1000000);
    fprintf(stderr, "kill switch: committed -> SDK answers DISABLED in %lld us\n", elapsed);
    ck_assert_int_eq(detail.reason, GK_REASON_DISABLED);
    ck_assert(!on);
    ck_assert_int_lt(elapsed, 1000000);

    /* The handler: once, for this change, after the cache was dropped, with the commit time. */
    for (int i = 0; i < 100 && atomic_load(&seen.calls) == 0; i++) {
        gkt_sleep_ms(10);
    }
    ck_assert_int_eq(atomic_load(&seen.calls), 1);
    ck_assert(atomic_load(&seen.only_read_v2));
    ck_assert_int_eq(atomic_load(&seen.reason), GK_REASON_DISABLED);
    ck_assert_uint_eq(atomic_load(&seen.version), 2); /* the bootstrap is version 1 */
    clock_gettime(CLOCK_REALTIME, &wall);
    ck_assert_int_gt(atomic_load(&seen.committed_at_us),
                     (int64_t) wall.tv_sec * 1000000 - 60000000);
    ck_assert_int_le(atomic_load(&seen.committed_at_us), atomic_load(&seen.handled_at_us));
    fprintf(stderr, "kill switch: committed -> change handler in %lld us\n",
            (long long) (atomic_load(&seen.handled_at_us) - atomic_load(&seen.committed_at_us)));

    free(reply);
    gk_context_free(ctx);
    gk_client_close(client);
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
}
END_TEST

/* With the daemon gone: last known good (STALE) while its token lives, then the fallback. */
START_TEST(test_stale_then_error_when_daemon_is_gone)
{
    const char *extra[] = {"--token-ttl", "3", NULL};
    gkt_daemon d;
    gk_client *client;
    gk_context *ctx = NULL;
    gk_detail detail;
    bool on = false;

    ck_assert_int_eq(gkt_daemon_start(&d, data_path("flags.json"), extra), 0);
    client = open_client(&d, 1, false);
    ck_assert_int_eq(gk_context_new(&ctx, "tenant-1"), GK_OK);
    ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", ctx, false, &on, &detail), GK_OK);
    ck_assert_int_eq(detail.reason, GK_REASON_TARGETING_MATCH);

    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
    gkt_sleep_ms(5);
    on = false;
    ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", ctx, false, &on, &detail), GK_OK);
    ck_assert_msg(detail.reason == GK_REASON_STALE, "reason %s: %s", gk_reason_str(detail.reason),
                  detail.error_message);
    ck_assert(on);

    gkt_sleep_ms(3200);
    ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", ctx, false, &on, &detail), GK_OK);
    ck_assert_int_eq(detail.reason, GK_REASON_ERROR);
    ck_assert(!on);
    ck_assert_int_ne(detail.error_code, GK_ERROR_NONE);

    gk_context_free(ctx);
    gk_client_close(client);
}
END_TEST

START_TEST(test_example_program)
{
    gkt_daemon d, other;
    char out[16384];
    /* A generous timeout: the first request also dials, and sanitizers on a loaded machine are
     * slow; what is checked here is the answer, not its latency. */
    const char *argv[] = {gkt_env("GK_EXAMPLE_EVALUATE"), "--endpoint", d.tcp_url, "--jwks",
                          d.jwks_path, "--targeting-key", "tenant-1", "--json", "--timeout-ms",
                          "3000", NULL};
    const char *forged[] = {gkt_env("GK_EXAMPLE_EVALUATE"), "--endpoint", d.tcp_url, "--jwks",
                            other.jwks_path, "--flag", "orders.read_v2", "--targeting-key",
                            "tenant-1", "--timeout-ms", "3000", NULL};

    ck_assert_int_eq(gkt_daemon_start(&d, data_path("flags.json"), NULL), 0);
    ck_assert_int_eq(gkt_daemon_start(&other, data_path("flags.json"), NULL), 0);
    ck_assert_int_eq(gkt_run(argv, NULL, out, sizeof(out), 10000), 0);
    ck_assert_msg(strstr(out, "\"orders.read_v2\"") != NULL && strstr(out, "TARGETING_MATCH"),
                  "%s", out);
    ck_assert_msg(strstr(out, "DISABLED") != NULL, "%s", out);

    /* Trusting another gatekeeper's keys: the answer is refused, the fallback says why. */
    ck_assert_int_eq(gkt_run(forged, NULL, out, sizeof(out), 10000), 0);
    ck_assert_msg(strstr(out, "PROVIDER_FATAL") != NULL, "%s", out);
    ck_assert_int_eq(gkt_daemon_stop(&other), 0);
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
}
END_TEST

/* Evaluates orders.read_v2 for ctx (tenant-1: on, by its individual target) `n` times. */
static void
eval_targeted(gk_client *client, const gk_context *ctx, int n)
{
    gk_detail detail;

    for (int i = 0; i < n; i++) {
        bool on = false;

        ck_assert_int_eq(gk_client_eval_bool(client, "orders.read_v2", ctx, false, &on, &detail),
                         GK_OK);
        ck_assert_msg(detail.reason == GK_REASON_TARGETING_MATCH, "evaluation %d: %s (%s)", i,
                      gk_reason_str(detail.reason), detail.error_message);
        ck_assert_str_eq(detail.rule_id, "targets");
        ck_assert(on);
    }
}

/*
 * Decision sessions through the SDK: with the cache off every evaluation asks the daemon; one
 * session is opened by the first (its session JWS is the one Ed25519 verification, and that
 * first token is already accepted on its MAC), and every token is accepted on its MAC. A
 * restarted daemon has forgotten the session: the next answer is still right (its signature is
 * verified, the session dropped), the one after opens a new session, and MACs carry on. The
 * client dials the ipc socket, whose path the restart keeps (the tcp ports change).
 */
START_TEST(test_sessions_through_the_sdk)
{
    gkt_daemon d;
    gk_options *opts = NULL;
    gk_client *client = NULL;
    gk_context *ctx = NULL;
    gk_diag diag = {0};
    gks_session_counts counts;

    ck_assert_int_eq(gkt_daemon_start(&d, data_path("flags.json"), NULL), 0);
    ck_assert_int_eq(gk_options_new(&opts), GK_OK);
    ck_assert_int_eq(gk_options_add_endpoint(opts, d.ipc_url), GK_OK);
    ck_assert_int_eq(gk_options_set_jwks_file(opts, d.jwks_path), GK_OK);
    /* Generous: right after the restart the socket redials before the request goes out. */
    ck_assert_int_eq(gk_options_set_timeout_ms(opts, 5000), GK_OK);
    ck_assert_int_eq(gk_options_set_cache_disabled(opts, true), GK_OK);
    ck_assert_int_eq(gk_options_set_events_endpoint(opts, NULL), GK_OK);
    ck_assert_msg(gk_client_open(&client, opts, &diag) == GK_OK, "%s", diag.text);
    gk_options_free(opts);
    ck_assert_int_eq(gk_context_new(&ctx, "tenant-1"), GK_OK);

    gks_client_sessions(client, &counts);
    ck_assert_uint_eq(counts.opened, 0);
    ck_assert_uint_eq(counts.by_mac + counts.by_signature, 0);

    eval_targeted(client, ctx, 20);
    gks_client_sessions(client, &counts);
    ck_assert_uint_eq(counts.opened, 1);
    ck_assert_uint_eq(counts.by_signature, 0);
    ck_assert_uint_eq(counts.by_mac, 20);

    ck_assert_int_eq(gkt_daemon_restart(&d, 0), 0);
    eval_targeted(client, ctx, 1);
    gks_client_sessions(client, &counts);
    ck_assert_uint_eq(counts.opened, 1);
    ck_assert_uint_eq(counts.by_signature, 1);
    ck_assert_uint_eq(counts.by_mac, 20);

    eval_targeted(client, ctx, 5);
    gks_client_sessions(client, &counts);
    ck_assert_uint_eq(counts.opened, 2);
    ck_assert_uint_eq(counts.by_signature, 1);
    ck_assert_uint_eq(counts.by_mac, 25);

    gk_context_free(ctx);
    gk_client_close(client);
    ck_assert_int_eq(gkt_daemon_stop(&d), 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("sdk_daemon");
    TCase *tc = tcase_create("sdk_daemon");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_reason_through_the_sdk);
    tcase_add_test(tc, test_eval_all_in_one_token);
    tcase_add_test(tc, test_kill_switch_reaches_the_cache);
    tcase_add_test(tc, test_stale_then_error_when_daemon_is_gone);
    tcase_add_test(tc, test_example_program);
    tcase_add_test(tc, test_sessions_through_the_sdk);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
