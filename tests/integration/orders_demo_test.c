/*
 * orders_demo_test.c - `make demo`, shortened: scripts/demo.sh with a smaller orders database
 * (20,000 orders of 50 tenants), one-second steps and a faster backfill, on free loopback ports
 * and a temporary directory. The demo must exit 0 (its verification found nothing lost or
 * changed), its verification must show zero lost and zero altered orders with the expected count
 * and checksum, and its running account must show the refused steps, the rollback, the kill
 * switch and every stage up to complete (up to rampdown, with complete refused and both sides
 * verified, while no migration telemetry reaches the gate's policy).
 *
 * The programs come from the build directory of the daemon under test (GK_DAEMON's parent's
 * parent): gatekeeper, gkctl and examples/orders/gk-orders. The demo takes about 25 s (30 s under
 * ASan); the test waits at most 170 s, within CTest's TIMEOUT of 180 s, and then ends what the
 * demo started.
 */
#include <arpa/inet.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>

#include "gk_test.h"

#define DEMO_WAIT_MS (170 * 1000)

static char out[1 << 20];

/* 1 when 127.0.0.1:port can be bound right now. */
static int
port_free(int port)
{
    struct sockaddr_in sa = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    if (fd < 0) {
        return 0;
    }
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* A base port with the three above it free too (decisions, admin, events, telemetry). */
static int
free_port_base(void)
{
    for (int i = 0; i < 200; i++) {
        int base = 20000 + (int) ((getpid() * 7 + i * 131) % 10000) * 4;
        if (port_free(base) && port_free(base + 1) && port_free(base + 2) &&
            port_free(base + 3)) {
            return base;
        }
    }
    return -1;
}

/* The demo's output goes to stderr once when something is wrong (Check's messages are short). */
static int shown;

static void
show_output(void)
{
    if (!shown) {
        fprintf(stderr, "---- the demo's output ----\n%s\n---- end ----\n", out);
        shown = 1;
    }
}

static void
expect_output(const char *needle)
{
    if (strstr(out, needle) == NULL) {
        show_output();
    }
    ck_assert_msg(strstr(out, needle) != NULL, "the demo's output lacks \"%s\" (above)", needle);
}

/* After a demo killed by the timeout: end what it started (it lists the pids in DIR/pids). */
static void
kill_leftovers(const char *demo_dir)
{
    char path[400];
    FILE *f;
    long pid;

    snprintf(path, sizeof(path), "%s/pids", demo_dir);
    f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    while (fscanf(f, "%ld", &pid) == 1) {
        if (pid > 1) {
            kill((pid_t) pid, SIGKILL);
        }
    }
    fclose(f);
}

static int
count_of(const char *needle)
{
    int n = 0;

    for (const char *p = strstr(out, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

START_TEST(test_demo_walks_the_migration_and_loses_nothing)
{
    char dir[256], demo_dir[300], build[PATH_MAX], script[PATH_MAX], port[16];
    char daemon[PATH_MAX];
    int base, rc;

    gkt_tempdir(dir);
    snprintf(demo_dir, sizeof(demo_dir), "%s/demo", dir);
    snprintf(daemon, sizeof(daemon), "%s", gkt_env("GK_DAEMON"));
    snprintf(build, sizeof(build), "%s", dirname(dirname(daemon))); /* BUILD/gatekeeper/gatekeeper */
    snprintf(script, sizeof(script), "%s/scripts/demo.sh", gkt_env("GK_SOURCE_DIR"));
    base = free_port_base();
    ck_assert_int_gt(base, 0);
    snprintf(port, sizeof(port), "%d", base);

    setenv("GK_DEMO_DIR", demo_dir, 1);
    setenv("GK_DEMO_PORT", port, 1);
    setenv("DEMO_ORDERS", "20000", 1);
    setenv("DEMO_TENANTS", "50", 1);
    setenv("DEMO_STEP_S", "1", 1);
    setenv("DEMO_RATE", "150", 1);
    setenv("DEMO_REPORTING_RATE", "20", 1);
    setenv("DEMO_BACKFILL_RATE", "40000", 1);
    setenv("DEMO_CHUNK", "2000", 1);
    setenv("DEMO_COMPLETE_WINDOW_S", "2", 1);
    setenv("NO_COLOR", "1", 1);

    const char *argv[] = {"/bin/sh", script, build, NULL};
    rc = gkt_run(argv, NULL, out, sizeof(out), DEMO_WAIT_MS);
    if (rc != 0) {
        kill_leftovers(demo_dir);
        show_output();
    }
    ck_assert_msg(rc == 0, "demo.sh exited %d (-1: still running after %d s); output above", rc,
                  DEMO_WAIT_MS / 1000);

    /* the walk */
    expect_output("dualwrite 50");  /* a split during the dualwrite steps */
    expect_output("backfill: stopped after");
    expect_output("backfill: resuming from the checkpoint");
    expect_output("backfill: complete:");
    if (count_of("REFUSED (exit 3)") < 3) {
        show_output();
    }
    ck_assert_msg(count_of("REFUSED (exit 3)") >= 3, "fewer than three refused steps (above)");
    expect_output("gate 'leave off'");
    expect_output("gate 'leave dualwrite'");
    expect_output("gate 'live'");
    expect_output("a rollback");
    expect_output("roll back: investigate");
    expect_output("$ gkctl kill orders.v2_migration");
    expect_output("operations ran the fallback stage (kill switch: DISABLED)");
    expect_output("$ gkctl unkill orders.v2_migration");
    if (strstr(out, "the migration stops at rampdown") != NULL) {
        /* no telemetry reaches the gate: complete stays refused, the walk ends at rampdown */
        expect_output("gate 'complete'");
        expect_output("rampdown 50 (50 tenants as orders-api sees them)");
        expect_output("verify: both sides");
    } else {
        expect_output("complete 50 (50 tenants as orders-api sees them)");
        expect_output("verify: the new side");
    }
    expect_output("flag.kill");        /* the audit log */
    expect_output("ok: ");             /* audit verify */

    /* the verification */
    expect_output("lost 0, altered 0, unacknowledged 0");
    expect_output("verify: OK: nothing lost or changed");
    if (strstr(out, "count or checksum differs") != NULL) {
        show_output();
    }
    ck_assert_msg(strstr(out, "count or checksum differs") == NULL, "checksum differs (above)");
    expect_output("demo: OK");
    gkt_rmtree(dir);
}
END_TEST

static Suite *
orders_demo_suite(void)
{
    Suite *s = suite_create("orders_demo");
    TCase *tc = tcase_create("demo");

    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_demo_walks_the_migration_and_loses_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(orders_demo_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
