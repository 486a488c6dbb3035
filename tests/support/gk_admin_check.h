/*
 * gk_admin_check.h - Check assertions on admin replies for the integration tests: send a signed
 * request and parse the reply, assert an ok reply, a named refusal with a clear message, and a
 * denial whose verdict names the policy, its reason and a source line that really is a gk.deny.
 *
 * THREAD SAFETY: for the test's main thread (Check assertions abort the test).
 */
#ifndef GK_ADMIN_CHECK_H
#define GK_ADMIN_CHECK_H

#include <jansson.h>

#include "gk_test.h"

/* gkt_admin_json - gkt_admin by test actor `actor`, the reply parsed (caller decrefs). */
json_t *gkt_admin_json(const gkt_daemon *d, int actor, const char *op, const char *args,
                       const char *why, unsigned long long base);

/* gkt_expect_ok - asserts an ok reply and returns its version. */
unsigned long long gkt_expect_ok(const json_t *reply);

/* gkt_expect_error - asserts a refusal named `error` whose message contains `needle` (NULL: any
 * clear message). */
void gkt_expect_error(const json_t *reply, const char *error, const char *needle);

/*
 * gkt_expect_denied_by - asserts DENIED with a verdict of `policy` (e.g. "security.lua") whose
 * reason contains `reason` and whose source "policies/<policy>:<line>" points at a gk.deny line
 * of the shipped file ($GK_SOURCE_DIR/policies).
 */
void gkt_expect_denied_by(const json_t *reply, const char *policy, const char *reason);

#endif
