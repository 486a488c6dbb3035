/*
 * policy_tests.h - the harness behind `gkctl policy test` and the reload gate: runs a policy set's
 * tests (policies/README.md, "Testing policies").
 *
 * Each tests_dir/ *_test.lua file (sorted by name) runs as chunk "@tests/<file>": its global
 * functions whose names start with "test_" run one by one, in the order they are defined, each in a
 * fresh gkd_policy_vm with the test file loaded again, under 100 times the set's instruction budget
 * and at least 10 s of wall-clock time. A test fails at its first failed assertion or error.
 *
 * THREAD SAFETY: reentrant (every test has its own vm); the set is only read.
 */
#ifndef GKD_POLICY_TESTS_H
#define GKD_POLICY_TESTS_H

#include <stddef.h>

#include "gatekeeper.h"
#include "policy.h"

/*
 * gkd_policy_test_report - called once per test, in order.
 * file     test file name ("ownership_test.lua").
 * test     the test function's name, or "(load)" when the file does not load.
 * ok       non-zero when the test passed.
 * where    "tests/ownership_test.lua:12": the test file's line of the failure ("" when passed).
 * message  what failed, e.g. "expected \"deny\", got \"allow\"" ("" when passed).
 * Strings are borrowed for the call.
 */
typedef void (*gkd_policy_test_report)(void *ud, const char *file, const char *test, int ok,
                                       const char *where, const char *message);

/*
 * gkd_policy_set_test_report - gkd_policy_set_test with a report per test (report may be NULL).
 * Returns and fills passed, failed and diag as gkd_policy_set_test (policy.h).
 */
gk_err gkd_policy_set_test_report(const gkd_policy_set *set, const char *tests_dir,
                                  gkd_policy_test_report report, void *ud, size_t *passed,
                                  size_t *failed, gk_diag *diag);

#endif
