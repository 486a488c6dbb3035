/*
 * policy_api.h - internal: the `gk` table exposed to policies (policy_api.c) and the vm internals
 * shared by policy.c, policy_api.c and policy_tests.c. Not for the rest of the daemon: use
 * policy.h.
 *
 * THREAD SAFETY: as a gkd_policy_vm: one thread at a time.
 */
#ifndef GKD_POLICY_API_H
#define GKD_POLICY_API_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "policy.h"

/* Hook ids, in the order of policies/README.md's table. */
enum {
    GKD_HOOK_AUTHORIZE = 0,
    GKD_HOOK_ON_CHANGE,
    GKD_HOOK_ON_EVALUATE,
    GKD_HOOK_MASK,
    GKD_HOOK_COUNT,
};

/* gkd_policy_hook_id - the id of hook `name`, or -1. */
int gkd_policy_hook_id(const char *name);

/* gkd_policy_hook_name - "authorize", ...; NULL outside the enum. */
const char *gkd_policy_hook_name(int hook);

/* gkd_policy_vm_of - the vm owning L (stored in L's extra space). */
gkd_policy_vm *gkd_policy_vm_of(lua_State *L);

/* gkd_policy_vm_lua - the vm's lua_State; borrowed. */
lua_State *gkd_policy_vm_lua(gkd_policy_vm *vm);

/*
 * gkd_policy_api_open - push the read-only `gk` table (gk.allow, gk.deny, gk.null, gk.now_ms,
 * gk.semver_compare, gk.log, gk.json_decode, gk.json_encode, gk.is_array). Raises on memory errors.
 */
void gkd_policy_api_open(lua_State *L);

/* gkd_policy_api_print - lua_CFunction replacing `print`: one gkd_log INFO line with file:line. */
int gkd_policy_api_print(lua_State *L);

/*
 * gkd_policy_vm_run_lua - run `hook` across the policies with the nargs Lua values at stack indexes
 * first .. first+nargs-1 as arguments (the test harness's run()). Same combination and budgets as
 * the C entry points, with tracing on; saves and restores an enclosing budget. Never raises.
 */
void gkd_policy_vm_run_lua(gkd_policy_vm *vm, int hook, int first, int nargs,
                           gkd_policy_result *out);

/*
 * gkd_policy_vm_push_env - push the (read-only) environment of policy file `name` ("ownership" or
 * "ownership.lua"); returns 0 and pushes nothing when there is no such file.
 */
int gkd_policy_vm_push_env(gkd_policy_vm *vm, const char *name);

/* gkd_policy_vm_push_globals - push the sandbox's global table (read-only base, libraries, gk). */
void gkd_policy_vm_push_globals(gkd_policy_vm *vm);

/*
 * gkd_policy_vm_pcall - call the function below its nargs arguments on the stack under a budget
 * (instructions, timeout_ms; 0 means the set's) with the vm's message handler, leaving nresults.
 * On error the stack is left without the function and its arguments, `error` holds
 * "file:line: message", and *test_line (when not NULL) the line of the innermost frame whose
 * chunk name is test_source (e.g. "@tests/x_test.lua"; NULL: none), 0 when there is none.
 * Returns the lua_pcall status.
 */
int gkd_policy_vm_pcall(gkd_policy_vm *vm, int nargs, int nresults, uint64_t instructions,
                        uint32_t timeout_ms, const char *test_source, char *error, size_t errlen,
                        int *test_line);

/*
 * gkd_policy_set_dir - the directory the set was read from; borrowed from the set.
 */
const char *gkd_policy_set_dir(const gkd_policy_set *set);

#endif
