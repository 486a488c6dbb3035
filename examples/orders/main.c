/*
 * gk-orders - an orders service on SQLite that migrates its schema from v1 (customer_name) to v2
 * (first_name, last_name) under a Gatekeeper migration flag.
 *
 *   gk-orders init     --db FILE [--orders N] [--tenants T] [--seed S]   generate the v1 data
 *   gk-orders expand   --db FILE                  the expand step: create orders_v2
 *   gk-orders baseline --db FILE                  row count and checksum before the migration
 *   gk-orders serve    --db FILE --jwks FILE [--rate N] [--duration S] ...   the service
 *   gk-orders reporting --db FILE --jwks FILE ...  the v1-only read consumer "reporting"
 *   gk-orders backfill --db FILE [--chunk N] [--rate ROWS_PER_S] [--stop-after N]
 *   gk-orders verify   --db FILE [--side old|new|both|auto]   0 when nothing was lost or changed
 *   gk-orders stages   --db FILE --jwks FILE ...  the flag's stage split over the tenants
 *
 * Exit status: 0 ok; 1 failure (verify: orders lost or changed); 2 usage; 3 backfill stopped by
 * --stop-after (resumable).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "orders_db.h"
#include "service.h"
#include "verify.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: gk-orders COMMAND --db FILE [options]\n"
            "commands:\n"
            "  init       generate the v1 orders (--orders N, default 100000; --tenants T, default\n"
            "             300; --seed S, default 42); refuses an existing database\n"
            "  expand     the expand step: create the v2 table orders_v2 (idempotent)\n"
            "  baseline   record the row count and checksum of the v1 data\n"
            "  serve      run the orders-api traffic through the migration flag\n"
            "  reporting  run the v1-only read consumer \"reporting\"\n"
            "  backfill   copy v1 rows into orders_v2 (--chunk N, default 2000; --rate ROWS/S,\n"
            "             default 0 = unthrottled; --stop-after N rows, then exit 3; resumable)\n"
            "  verify     check nothing was lost or changed (--side old|new|both|auto)\n"
            "  stages     print the flag's stage split over the tenants (fresh decisions)\n"
            "serve / reporting options:\n"
            "  --jwks FILE             the gatekeeper's JWKS (required)\n"
            "  --endpoint URL          decisions (default tcp://127.0.0.1:7400)\n"
            "  --events URL            change events (default tcp://127.0.0.1:7402)\n"
            "  --telemetry URL         migration telemetry (default tcp://127.0.0.1:7403)\n"
            "  --flag KEY              the migration flag (default orders.v2_migration)\n"
            "  --service NAME          the consumer name in the context (default orders-api,\n"
            "                          reporting for the reporting command)\n"
            "  --rate N                operations per second, all threads (default 200)\n"
            "  --write-pct P           share of writes in %% (default 30)\n"
            "  --readers N             reader threads (default 2)\n"
            "  --duration S            seconds to run (default 0: until Ctrl-C or SIGTERM)\n"
            "  --fallback-stage STAGE  stage when no decision can be had (default dualwrite)\n"
            "  --check-ratio N         compare 1 in N shadow/live reads (default 1)\n"
            "  --timeout-ms N          longest wait for one decision (default 250, stages 1000;\n"
            "                          the SDK's 50 is missed now and then on a loaded machine)\n"
            "  --stats-file FILE       rewrite cumulative counters there every second\n"
            "  --quiet                 no per-second lines\n");
}

int
main(int argc, char **argv)
{
    enum { O_DB = 1, O_ORDERS, O_TENANTS, O_SEED, O_JWKS, O_ENDPOINT, O_EVENTS, O_TELEMETRY,
           O_FLAG, O_SERVICE, O_RATE, O_WRITE_PCT, O_READERS, O_DURATION, O_FALLBACK, O_CHECK,
           O_STATS, O_QUIET, O_CHUNK, O_STOP, O_SIDE, O_TIMEOUT, O_HELP };
    static const struct option longopts[] = {
        {"db", required_argument, NULL, O_DB},
        {"orders", required_argument, NULL, O_ORDERS},
        {"tenants", required_argument, NULL, O_TENANTS},
        {"seed", required_argument, NULL, O_SEED},
        {"jwks", required_argument, NULL, O_JWKS},
        {"endpoint", required_argument, NULL, O_ENDPOINT},
        {"events", required_argument, NULL, O_EVENTS},
        {"telemetry", required_argument, NULL, O_TELEMETRY},
        {"flag", required_argument, NULL, O_FLAG},
        {"service", required_argument, NULL, O_SERVICE},
        {"rate", required_argument, NULL, O_RATE},
        {"write-pct", required_argument, NULL, O_WRITE_PCT},
        {"readers", required_argument, NULL, O_READERS},
        {"duration", required_argument, NULL, O_DURATION},
        {"fallback-stage", required_argument, NULL, O_FALLBACK},
        {"check-ratio", required_argument, NULL, O_CHECK},
        {"stats-file", required_argument, NULL, O_STATS},
        {"quiet", no_argument, NULL, O_QUIET},
        {"chunk", required_argument, NULL, O_CHUNK},
        {"stop-after", required_argument, NULL, O_STOP},
        {"side", required_argument, NULL, O_SIDE},
        {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    orders_service_opts so = {
        .flag = "orders.v2_migration",
        .fallback = "dualwrite",
        .rate = 200,
        .write_pct = 30,
        .readers = 2,
        .check_ratio = 1,
    };
    orders_backfill_opts bo = {.chunk = 2000};
    const char *cmd, *db = NULL, *side = "auto";
    long long orders = 100000, tenants = 300, seed = 42;
    double backfill_rate = 0;
    int c;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cmd = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_DB: db = optarg; break;
        case O_ORDERS: orders = atoll(optarg); break;
        case O_TENANTS: tenants = atoll(optarg); break;
        case O_SEED: seed = atoll(optarg); break;
        case O_JWKS: so.jwks = optarg; break;
        case O_ENDPOINT: so.endpoint = optarg; break;
        case O_EVENTS: so.events = optarg; break;
        case O_TELEMETRY: so.telemetry = optarg; break;
        case O_FLAG: so.flag = optarg; break;
        case O_SERVICE: so.service = optarg; break;
        case O_RATE: so.rate = atof(optarg); backfill_rate = so.rate; break;
        case O_WRITE_PCT: so.write_pct = atof(optarg); break;
        case O_READERS: so.readers = atoi(optarg); break;
        case O_DURATION: so.duration_s = atof(optarg); break;
        case O_FALLBACK: so.fallback = optarg; break;
        case O_CHECK: so.check_ratio = (unsigned) atoi(optarg); break;
        case O_STATS: so.stats_file = optarg; break;
        case O_QUIET: so.quiet = 1; break;
        case O_CHUNK: bo.chunk = atoll(optarg); break;
        case O_STOP: bo.stop_after = atoll(optarg); break;
        case O_SIDE: side = optarg; break;
        case O_TIMEOUT: so.timeout_ms = (unsigned) atoi(optarg); break;
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || db == NULL) {
        fprintf(stderr, "gk-orders %s: %s\n", cmd,
                db == NULL ? "--db FILE is required" : "unexpected argument");
        return 2;
    }

    if (strcmp(cmd, "init") == 0) {
        orders_db *h;
        FILE *f = fopen(db, "r");
        if (f != NULL) {
            fclose(f);
            fprintf(stderr, "gk-orders init: %s exists; remove it to start again\n", db);
            return 1;
        }
        if (orders < 1 || tenants < 1 || tenants > 9999) {
            fprintf(stderr, "gk-orders init: --orders >= 1 and 1 <= --tenants <= 9999\n");
            return 2;
        }
        h = orders_db_open(db, 1);
        if (h == NULL || orders_db_generate(h, (uint64_t) seed, orders, (int) tenants) != 0) {
            orders_db_close(h);
            return 1;
        }
        orders_db_close(h);
        printf("init: %s: %lld orders for %lld tenants (seed %lld), schema v1 (orders)\n", db,
               orders, tenants, seed);
        return 0;
    }
    if (strcmp(cmd, "expand") == 0) {
        orders_db *h = orders_db_open(db, 0);
        int rv = h == NULL || orders_db_expand(h) != 0;
        orders_db_close(h);
        if (rv == 0) {
            printf("expand: %s: orders_v2 (first_name, last_name) created next to orders\n", db);
        }
        return rv;
    }
    if (strcmp(cmd, "baseline") == 0) {
        return orders_baseline_take(db);
    }
    if (strcmp(cmd, "backfill") == 0) {
        bo.rate = (int64_t) backfill_rate;
        return orders_backfill_run(db, &bo);
    }
    if (strcmp(cmd, "verify") == 0) {
        return orders_verify_run(db, side);
    }
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "reporting") == 0 ||
        strcmp(cmd, "stages") == 0) {
        if (so.timeout_ms == 0) {
            so.timeout_ms = strcmp(cmd, "stages") == 0 ? 1000 : 250;
        }
        so.db_path = db;
        so.readonly = strcmp(cmd, "reporting") == 0;
        if (so.service == NULL) {
            so.service = so.readonly ? "reporting" : "orders-api";
        }
        if (so.jwks == NULL) {
            fprintf(stderr, "gk-orders %s: --jwks FILE is required\n", cmd);
            return 2;
        }
        if (so.rate <= 0 || so.write_pct < 0 || so.write_pct > 100) {
            fprintf(stderr, "gk-orders %s: --rate > 0 and 0 <= --write-pct <= 100\n", cmd);
            return 2;
        }
        return strcmp(cmd, "stages") == 0 ? orders_service_stages(&so) : orders_service_run(&so);
    }
    fprintf(stderr, "gk-orders: unknown command %s\n", cmd);
    usage(stderr);
    return 2;
}
