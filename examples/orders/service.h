/*
 * service.h - the orders service's traffic: reads and writes per tenant through the migration
 * helpers of libgatekeeper, with per-second counters.
 *
 * Every access goes through gk_migration_read()/gk_migration_write() with the context
 * {targetingKey: tenant, tenantId: tenant, service: NAME}, so the migration flag's stage for that
 * tenant decides which table is read, which are written and which answer counts. Writes insert
 * new orders (content from orders_gen_row) with ids from one writer thread; an acknowledged write
 * (the authoritative side succeeded) goes into the write ledger the verifier checks. Reads pick
 * the first order of the tenant from a random id on, bounded by the highest id whose write has
 * finished, so a shadow read never races the two halves of one dual write.
 *
 * A read-only consumer (`readonly`, the "reporting" service) runs reader threads only. Which side
 * it reads is the gatekeeper's call: while it is registered as a consumer that supports v1 only,
 * the compatibility policy gives it "off" whatever the rollout says, so it keeps reading v1.
 */
#ifndef ORDERS_SERVICE_H
#define ORDERS_SERVICE_H

typedef struct orders_service_opts {
    const char *db_path;
    const char *jwks;
    const char *endpoint;   /* decisions; NULL: the SDK's default */
    const char *events;     /* change events; NULL: the SDK's default */
    const char *telemetry;  /* telemetry; NULL: the SDK's default */
    const char *flag;       /* the migration flag, e.g. "orders.v2_migration" */
    const char *service;    /* "orders-api", "reporting" */
    const char *fallback;   /* stage when no decision can be had ("dualwrite") */
    const char *stats_file; /* key=value counters rewritten every second; NULL: none */
    double rate;            /* operations per second, all threads together */
    double write_pct;       /* share of writes, 0..100 */
    double duration_s;      /* 0: until SIGINT/SIGTERM */
    int readers;            /* reader threads */
    int readonly;           /* reads only */
    int quiet;              /* no per-second lines */
    unsigned check_ratio;   /* compare 1 in N shadow/live reads */
    unsigned timeout_ms;    /* longest wait for one decision (the SDK's timeout_ms) */
} orders_service_opts;

/* orders_service_run - run until the duration is over or a signal; 0, or 1 on a set-up error. */
int orders_service_run(const orders_service_opts *opts);

/* orders_service_stages - evaluate the flag's stage for every tenant (fresh decisions, no cache)
 * as `service` and print the split, e.g. "off 225, dualwrite 75 (300 tenants ...)". 0 or 1. */
int orders_service_stages(const orders_service_opts *opts);

#endif
