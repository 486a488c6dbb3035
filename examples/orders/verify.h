/*
 * verify.h - did the migration lose or change any order?
 *
 * Every order's content is known: the generated ones are a pure function of (seed, id, tenant)
 * and every write the service acknowledged is in the write ledger with the hash of its content.
 * The verifier walks one side in id order against that expectation and counts rows lost (expected,
 * missing), altered (present, other content) and unacknowledged (present, never acknowledged).
 * The checksum is the sum (mod 2^64) of the rows' BLAKE2b-64 hashes over their logical v1 content
 * (customer_name = first_name + " " + last_name on the v2 side), so it is independent of the side
 * and of row order: before = the baseline taken on the v1 table before the migration; expected =
 * before + the ledger's writes; after = the side's rows.
 */
#ifndef ORDERS_VERIFY_H
#define ORDERS_VERIFY_H

/* orders_baseline_take - record the v1 table's row count and checksum; 0 or 1. */
int orders_baseline_take(const char *path);

/* orders_verify_run - verify `side` ("old", "new", "both" or "auto": new once the backfill is
 * done, else old). Returns 0 when nothing was lost or changed, 1 otherwise. */
int orders_verify_run(const char *path, const char *side);

#endif
