/*
 * policy_test.c - the Lua policy sandbox (gatekeeper/policy.c): one test per forbidden capability
 * (each asserting fail-closed for authorize and on_evaluate, then a normal call on the same vm, as
 * Redis's scripting.tcl does), load errors with file:line, combination, the explain trace, budgets,
 * state and arguments, the allocation-failure loop, and the cost of on_evaluate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>

#include "gk_test.h"
#include "policy.h"
#include "policy_tests.h"
#include "snapshot.h"

static char dir[256];

/* Write policy files into a fresh directory: pairs of name, source; NULL-terminated. */
static void
write_policies(const char *const *files)
{
    char path[512];

    gkt_tempdir(dir);
    for (size_t i = 0; files[i] != NULL; i += 2) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        ck_assert_int_eq(gkt_write_file(path, files[i + 1], 0644), 0);
    }
}

static gkd_policy_vm *
open_vm(const char *const *files, const gkd_policy_limits *limits)
{
    gkd_policy_set *set = NULL;
    gkd_policy_vm *vm = NULL;
    gk_diag d;

    memset(&d, 0, sizeof d);
    write_policies(files);
    ck_assert_msg(gkd_policy_set_load(&set, dir, limits, &d) == GK_OK, "load: %s:%d: %s",
                  d.source, d.line, d.text);
    ck_assert_int_eq(gkd_policy_vm_open(&vm, set, &d), GK_OK);
    gkd_policy_set_rele(set);
    return vm;
}

static void
close_vm(gkd_policy_vm *vm)
{
    gkd_policy_vm_close(vm);
    gkt_rmtree(dir);
}

static json_t *
J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    ck_assert_msg(v != NULL, "bad JSON in test: %s", e.text);
    return v;
}

static gkd_policy_outcome
authorize(gkd_policy_vm *vm, const char *req, gkd_policy_result *r)
{
    json_t *j = J(req);
    ck_assert_int_eq(gkd_policy_vm_authorize(vm, j, 1, r), GK_OK);
    json_decref(j);
    return r->outcome;
}

static gkd_policy_outcome
evaluate(gkd_policy_vm *vm, const char *ctx, gkd_policy_result *r, int trace)
{
    gkd_policy_proposal p = {"on", "SPLIT", NULL};
    json_t *j = J(ctx);
    ck_assert_int_eq(gkd_policy_vm_on_evaluate(vm, "orders.read_v2", j, &p, trace, r), GK_OK);
    json_decref(j);
    return r->outcome;
}

/* ---- forbidden capabilities: contained, fail closed, and the vm keeps serving ---- */

static const char evil_template[] =
    "local function evil()\n"           /* 1 */
    "  %s\n"                            /* 2 */
    "end\n"                             /* 3 */
    "function authorize(req)\n"         /* 4 */
    "  if req.evil then\n"              /* 5 */
    "    evil()\n"                      /* 6 */
    "    return gk.allow('escaped')\n"  /* 7 */
    "  end\n"
    "  return gk.allow(('o'):rep(2))\n" /* 9 */
    "end\n"
    "function on_evaluate(ctx, flag, proposal, state)\n"
    "  if ctx.evil then\n"
    "    evil()\n"
    "    return gk.allow('escaped')\n"
    "  end\n"
    "  return nil\n"
    "end\n";

static void
check_contained(const char *body, const char *expect_in_error, const gkd_policy_limits *limits)
{
    char src[2048];
    const char *files[] = {"x.lua", src, NULL};
    gkd_policy_result r;
    gkd_policy_vm *vm;
    uint64_t errors = gkd_policy_error_count();

    snprintf(src, sizeof src, evil_template, body);
    vm = open_vm(files, limits);
    ck_assert_int_eq(authorize(vm, "{\"evil\": true}", &r), GKD_POLICY_ERROR);
    ck_assert_str_eq(r.policy, "x.lua");
    ck_assert_msg(strstr(r.error, "policies/x.lua") != NULL, "error without file: %s", r.error);
    ck_assert_msg(strstr(r.error, expect_in_error) != NULL, "error \"%s\" lacks \"%s\"", r.error,
                  expect_in_error);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.trace, 0), "verdict")),
                     "error");
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(evaluate(vm, "{\"evil\": true}", &r, 0), GKD_POLICY_ERROR);
    ck_assert_str_eq(r.variant, "");
    gkd_policy_result_fini(&r);
    ck_assert_uint_ge(gkd_policy_error_count(), errors + 2);
    /* the same vm serves a normal call right after */
    ck_assert_int_eq(authorize(vm, "{\"evil\": false}", &r), GKD_POLICY_ALLOW);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")),
                     "oo");
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(evaluate(vm, "{}", &r, 0), GKD_POLICY_DEFAULT);
    gkd_policy_result_fini(&r);
    close_vm(vm);
}

START_TEST(test_os_execute)
{
    check_contained("os.execute('touch /tmp/gk-pwned')", "undefined global 'os'", NULL);
}
END_TEST

START_TEST(test_io_open)
{
    check_contained("io.open('/etc/passwd')", "undefined global 'io'", NULL);
}
END_TEST

START_TEST(test_require)
{
    check_contained("require('os')", "undefined global 'require'", NULL);
}
END_TEST

START_TEST(test_load_string)
{
    check_contained("load('return 1')()", "undefined global 'load'", NULL);
    check_contained("loadfile('/etc/passwd')", "undefined global 'loadfile'", NULL);
    check_contained("dofile('/etc/passwd')", "undefined global 'dofile'", NULL);
}
END_TEST

START_TEST(test_load_bytecode)
{
    /* string.dump is gone, and a bytecode chunk is refused as a policy file */
    check_contained("local s = string.dump(function() end)", "attempt to call a nil value", NULL);
    const char *files[] = {"x.lua", "\x1bLuaT\x00\x19\x93\r\n\x1a\n", NULL};
    gkd_policy_set *set = NULL;
    gk_diag d;
    memset(&d, 0, sizeof d);
    write_policies(files);
    ck_assert_int_eq(gkd_policy_set_load(&set, dir, NULL, &d), GK_EPROTO);
    ck_assert_str_eq(d.source, "policies/x.lua");
    ck_assert_msg(strstr(d.text, "binary") != NULL, "%s", d.text);
    gkt_rmtree(dir);
    /* gk.json_decode does not run code */
    check_contained("local v = gk.json_decode('\\27Lua')", "gk.json_decode", NULL);
}
END_TEST

START_TEST(test_global_write_after_load)
{
    check_contained("leaked = 1", "cannot set global 'leaked'", NULL);
    check_contained("authorize = nil", "cannot set global 'authorize'", NULL);
}
END_TEST

START_TEST(test_infinite_loop)
{
    check_contained("while true do end", "instruction budget exceeded", NULL);
}
END_TEST

START_TEST(test_infinite_loop_in_pcall)
{
    check_contained("for i = 1, 100 do pcall(function() while true do end end) end "
                    "while true do pcall(error, 'x') end",
                    "instruction budget exceeded", NULL);
    check_contained("local ok = xpcall(function() while true do end end, function(m) "
                    "while true do end end) while true do end",
                    "budget exceeded", NULL);
    check_contained("xpcall(function() error('e') end, function(m) while true do end end)",
                    "budget exceeded", NULL);
    check_contained("local ok, m = xpcall(function(a) error(a, 0) end, function(m) return 'h:' .. m "
                    "end, 'x') if not ok and m == 'h:x' then error('xpcall works') end",
                    "xpcall works", NULL);
}
END_TEST

START_TEST(test_string_rep_huge)
{
    check_contained("local s = string.rep('x', 1e9)", "not enough memory", NULL);
    check_contained("local s = ('x'):rep(1e9)", "not enough memory", NULL);
}
END_TEST

START_TEST(test_deep_recursion)
{
    gkd_policy_limits l = {100000000, 5000, 0};
    check_contained("local function f(n) return 1 + f(n + 1) end f(1)", "policies/x.lua", &l);
}
END_TEST

START_TEST(test_huge_table)
{
    gkd_policy_limits l = {0, 60000, 0}; /* sanitizer builds are slow: let memory trip first */
    check_contained("local t, s = {}, string.rep('y', 1000) for i = 1, 1e8 do t[i] = s .. i end",
                    "not enough memory", &l);
}
END_TEST

START_TEST(test_string_metatable)
{
    check_contained("getmetatable('').__index = {}", "undefined global 'getmetatable'", NULL);
    check_contained("local s = ''; s.rep = nil", "attempt to index", NULL);
    check_contained("string.rep = function() return 'pwned' end", "read-only", NULL);
    check_contained("setmetatable({}, {})", "undefined global 'setmetatable'", NULL);
}
END_TEST

START_TEST(test_rawset_library)
{
    check_contained("rawset(string, 'rep', nil)", "undefined global 'rawset'", NULL);
    check_contained("table.insert = nil", "read-only", NULL);
    check_contained("gk.allow = gk.deny", "read-only", NULL);
    check_contained("math.pi = 3", "read-only", NULL);
}
END_TEST

START_TEST(test_undefined_global)
{
    check_contained("local y = undefined_thing", "undefined global 'undefined_thing'", NULL);
    check_contained("collectgarbage()", "undefined global 'collectgarbage'", NULL);
    check_contained("coroutine.create(print)", "undefined global 'coroutine'", NULL);
    check_contained("debug.sethook()", "undefined global 'debug'", NULL);
    check_contained("local g = _G.os", "undefined global '_G'", NULL);
    check_contained("math.random()", "attempt to call a nil value", NULL);
}
END_TEST

/* ---- load errors and shapes ---- */

static void
expect_load_error(const char *src, int line, const char *text)
{
    const char *files[] = {"a.lua", "function authorize(req) return nil end\n", "b.lua", src,
                           NULL};
    gkd_policy_set *set = NULL;
    gk_diag d;

    memset(&d, 0, sizeof d);
    write_policies(files);
    ck_assert_int_eq(gkd_policy_set_load(&set, dir, NULL, &d), GK_EPROTO);
    ck_assert_ptr_null(set);
    ck_assert_int_eq(d.code, GK_EPROTO);
    ck_assert_str_eq(d.source, "policies/b.lua");
    ck_assert_int_eq(d.line, line);
    ck_assert_msg(strstr(d.text, text) != NULL, "diag \"%s\" lacks \"%s\"", d.text, text);
    gkt_rmtree(dir);
}

START_TEST(test_syntax_error)
{
    expect_load_error("-- comment\nfunction authorize(req)\n  local x = = 1\nend\n", 3,
                      "unexpected symbol");
}
END_TEST

START_TEST(test_top_level_runtime_error)
{
    expect_load_error("local x = 1\n\nlocal y = nothing_here + 1\n", 3,
                      "undefined global 'nothing_here'");
    expect_load_error("authorize = 5\n", 0, "must be a function");
}
END_TEST

START_TEST(test_runtime_error_in_hook)
{
    const char *files[] = {"x.lua",
                           "function authorize(req)\n"
                           "  local t = nil\n"
                           "  return t.field\n"
                           "end\n",
                           NULL};
    gkd_policy_vm *vm = open_vm(files, NULL);
    gkd_policy_result r;

    ck_assert_int_eq(authorize(vm, "{}", &r), GKD_POLICY_ERROR);
    ck_assert_msg(strncmp(r.error, "policies/x.lua:3:", 17) == 0, "%s", r.error);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.trace, 0), "source")),
                     "policies/x.lua:3");
    gkd_policy_result_fini(&r);
    close_vm(vm);
}
END_TEST

START_TEST(test_wrong_return_shape)
{
    const char *files[] = {"x.lua",
                           "local n = 0\n"
                           "function authorize(req)\n"
                           "  if req.kind == 's' then return 'yes' end\n"
                           "  if req.kind == 't' then return { verdict = 'maybe' } end\n"
                           "  if req.kind == 'm' then return gk.allow('x', { mask = 5 }) end\n"
                           "  return { verdict = 'allow', reason = 'plain table' }\n"
                           "end\n",
                           NULL};
    gkd_policy_vm *vm = open_vm(files, NULL);
    gkd_policy_result r;

    ck_assert_int_eq(authorize(vm, "{\"kind\": \"s\"}", &r), GKD_POLICY_ERROR);
    ck_assert_msg(strstr(r.error, "policies/x.lua:2: authorize: wrong return shape") != NULL,
                  "%s", r.error);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(authorize(vm, "{\"kind\": \"t\"}", &r), GKD_POLICY_ERROR);
    ck_assert_msg(strstr(r.error, "wrong return shape") != NULL, "%s", r.error);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(authorize(vm, "{\"kind\": \"m\"}", &r), GKD_POLICY_ERROR);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(authorize(vm, "{}", &r), GKD_POLICY_ALLOW);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.trace, 0), "source")),
                     "policies/x.lua:2");
    gkd_policy_result_fini(&r);
    close_vm(vm);
}
END_TEST

START_TEST(test_top_level_globals_allowed)
{
    const char *files[] = {"x.lua",
                           "LIMIT = 3\n"
                           "function helper(n) return n < LIMIT end\n"
                           "function authorize(req)\n"
                           "  if helper(req.n) then return gk.allow('small') end\n"
                           "  return gk.deny('big')\n"
                           "end\n",
                           NULL};
    gkd_policy_vm *vm = open_vm(files, NULL);
    gkd_policy_result r;

    ck_assert_int_eq(authorize(vm, "{\"n\": 1}", &r), GKD_POLICY_ALLOW);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(authorize(vm, "{\"n\": 5}", &r), GKD_POLICY_DENY);
    gkd_policy_result_fini(&r);
    close_vm(vm);
}
END_TEST

/* ---- combination and trace ---- */

static const char *const combo_files[] = {
    "a.lua",
    "function authorize(req)\n"
    "  if req.a == 'allow' then return gk.allow('a allows') end\n"
    "  if req.a == 'deny' then return gk.deny('a denies') end\n"
    "end\n"
    "function on_change(change, state) return nil end\n"
    "function on_evaluate(ctx, flag, proposal, state)\n"
    "  if ctx.a then return gk.allow('a forces', { variant = ctx.a, mask = { 'email' } }) end\n"
    "end\n"
    "function mask(kind, record)\n"
    "  if record.fail then error('boom') end\n"
    "  return gk.allow(nil, { mask = { 'email', 'name' } })\n"
    "end\n",
    "b.lua",
    "function authorize(req)\n"
    "  if req.b == 'allow' then return gk.allow('b allows') end\n"
    "  if req.b == 'deny' then return gk.deny('b denies', { violations = {\n"
    "      { location = '/x', message = 'bad x' } } }) end\n"
    "end\n"
    "function on_evaluate(ctx, flag, proposal, state)\n"
    "  if ctx.b then return gk.allow('b forces', { variant = ctx.b, mask = { 'name', 'email' } }) end\n"
    "  if ctx.deny then return gk.deny('b denies') end\n"
    "end\n"
    "function mask(kind, record)\n"
    "  return gk.allow(nil, { mask = { 'address.street' } })\n"
    "end\n",
    NULL};

START_TEST(test_combination_authorize)
{
    gkd_policy_vm *vm = open_vm(combo_files, NULL);
    gkd_policy_result r;
    json_t *e;

    ck_assert_int_eq(authorize(vm, "{\"a\": \"allow\", \"b\": \"deny\"}", &r), GKD_POLICY_DENY);
    ck_assert_str_eq(r.policy, "b.lua");
    ck_assert_int_eq(json_array_size(r.trace), 2);
    e = json_array_get(r.trace, 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "policy")), "a.lua");
    ck_assert_str_eq(json_string_value(json_object_get(e, "hook")), "authorize");
    ck_assert_str_eq(json_string_value(json_object_get(e, "verdict")), "allow");
    ck_assert_str_eq(json_string_value(json_object_get(e, "reason")), "a allows");
    ck_assert_str_eq(json_string_value(json_object_get(e, "source")), "policies/a.lua:2");
    e = json_array_get(r.trace, 1);
    ck_assert_str_eq(json_string_value(json_object_get(e, "verdict")), "deny");
    ck_assert_str_eq(json_string_value(json_object_get(e, "source")), "policies/b.lua:3");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(e, "violations"), 0), "location")),
                     "/x");
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(authorize(vm, "{\"a\": \"allow\"}", &r), GKD_POLICY_ALLOW);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(authorize(vm, "{}", &r), GKD_POLICY_DEFAULT);
    ck_assert_int_eq(json_array_size(r.trace), 0);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(authorize(vm, "{\"a\": \"deny\", \"b\": \"deny\"}", &r), GKD_POLICY_DENY);
    ck_assert_str_eq(r.policy, "a.lua");
    gkd_policy_result_fini(&r);
    /* on_change: only a.lua defines it and abstains: the default (allow) applies */
    json_t *ch = J("{\"op\": \"flag.update\"}");
    ck_assert_int_eq(gkd_policy_vm_on_change(vm, ch, 0, &r), GK_OK);
    ck_assert_int_eq(r.outcome, GKD_POLICY_DEFAULT);
    ck_assert_ptr_null(r.trace);
    gkd_policy_result_fini(&r);
    json_decref(ch);
    close_vm(vm);
}
END_TEST

START_TEST(test_combination_evaluate)
{
    gkd_policy_vm *vm = open_vm(combo_files, NULL);
    json_t *state = J("{\"flags\": {\"orders.read_v2\": {\"variants\": {\"off\": false, \"on\": "
                      "true, \"beta\": 2}, \"defaultVariant\": \"off\"}}}");
    gkd_policy_result r;

    ck_assert_int_eq(gkd_policy_vm_set_state(vm, state, 7), GK_OK);
    ck_assert_int_eq(evaluate(vm, "{\"a\": \"beta\"}", &r, 0), GKD_POLICY_ALLOW);
    ck_assert_str_eq(r.variant, "beta");
    ck_assert_str_eq(r.policy, "a.lua");
    ck_assert_ptr_null(r.trace);
    gkd_policy_result_fini(&r);
    /* same forced variant twice: fine; mask union in first-seen order */
    ck_assert_int_eq(evaluate(vm, "{\"a\": \"on\", \"b\": \"on\"}", &r, 1), GKD_POLICY_ALLOW);
    ck_assert_str_eq(r.variant, "on");
    ck_assert_int_eq(json_array_size(r.mask), 2);
    ck_assert_str_eq(json_string_value(json_array_get(r.mask, 0)), "email");
    ck_assert_str_eq(json_string_value(json_array_get(r.mask, 1)), "name");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.trace, 1), "variant")),
                     "on");
    gkd_policy_result_fini(&r);
    /* conflicting forced variants: the flag serves its default */
    ck_assert_int_eq(evaluate(vm, "{\"a\": \"on\", \"b\": \"beta\"}", &r, 0), GKD_POLICY_DENY);
    ck_assert_str_eq(r.variant, "");
    ck_assert_str_eq(r.policy, "b.lua");
    gkd_policy_result_fini(&r);
    /* deny wins over a forced variant */
    ck_assert_int_eq(evaluate(vm, "{\"a\": \"on\", \"deny\": true}", &r, 0), GKD_POLICY_DENY);
    ck_assert_str_eq(r.variant, "");
    ck_assert_str_eq(r.policy, "b.lua");
    gkd_policy_result_fini(&r);
    /* a variant the flag does not have is an error */
    ck_assert_int_eq(evaluate(vm, "{\"a\": \"purple\"}", &r, 0), GKD_POLICY_ERROR);
    ck_assert_msg(strstr(r.error, "not a variant") != NULL, "%s", r.error);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(evaluate(vm, "{}", &r, 0), GKD_POLICY_DEFAULT);
    gkd_policy_result_fini(&r);
    json_decref(state);
    close_vm(vm);
}
END_TEST

/* A decision's mask list may be the one the vm kept from the previous call: adding to it later
 * (another policy's mask) must not change a list already handed out. */
START_TEST(test_mask_list_kept_between_calls)
{
    gkd_policy_vm *vm = open_vm(combo_files, NULL);
    json_t *state = J("{\"flags\": {\"orders.read_v2\": {\"variants\": {\"off\": false, \"on\": "
                      "true}, \"defaultVariant\": \"off\"}}}");
    gkd_policy_result r1, r2, r3, r4;

    ck_assert_int_eq(gkd_policy_vm_set_state(vm, state, 1), GK_OK);
    ck_assert_int_eq(evaluate(vm, "{\"a\": \"on\"}", &r1, 0), GKD_POLICY_ALLOW);
    ck_assert_int_eq(evaluate(vm, "{\"a\": \"on\"}", &r2, 0), GKD_POLICY_ALLOW);
    ck_assert_int_eq(evaluate(vm, "{\"a\": \"on\", \"b\": \"on\"}", &r3, 1), GKD_POLICY_ALLOW);
    ck_assert_int_eq(evaluate(vm, "{\"a\": \"on\"}", &r4, 0), GKD_POLICY_ALLOW);
    for (int i = 0; i < 3; i++) {
        const json_t *m = i == 0 ? r1.mask : i == 1 ? r2.mask : r4.mask;
        ck_assert_int_eq(json_array_size(m), 1);
        ck_assert_str_eq(json_string_value(json_array_get(m, 0)), "email");
    }
    ck_assert_int_eq(json_array_size(r3.mask), 2);
    ck_assert_str_eq(json_string_value(json_array_get(r3.mask, 1)), "name");
    ck_assert_int_eq(json_array_size(json_object_get(json_array_get(r3.trace, 0), "mask")), 1);
    gkd_policy_result_fini(&r1);
    gkd_policy_result_fini(&r2);
    gkd_policy_result_fini(&r3);
    gkd_policy_result_fini(&r4);
    json_decref(state);
    close_vm(vm);
}
END_TEST

START_TEST(test_combination_mask)
{
    gkd_policy_vm *vm = open_vm(combo_files, NULL);
    json_t *rec = J("{\"email\": \"a@b\", \"name\": \"A\", \"plan\": \"gold\"}");
    json_t *bad = J("{\"fail\": true, \"email\": \"a@b\"}");
    gkd_policy_result r;

    ck_assert_int_eq(gkd_policy_vm_mask(vm, "context", rec, 0, &r), GK_OK);
    ck_assert_int_eq(r.outcome, GKD_POLICY_ALLOW);
    ck_assert_int_eq(json_array_size(r.mask), 3);
    ck_assert_str_eq(json_string_value(json_array_get(r.mask, 2)), "address.street");
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(gkd_policy_vm_mask(vm, "orders", bad, 1, &r), GK_OK);
    ck_assert_int_eq(r.outcome, GKD_POLICY_ERROR);
    ck_assert_int_eq(json_array_size(r.mask), 2); /* every field: fail closed */
    ck_assert_msg(strncmp(r.error, "policies/a.lua:10:", 18) == 0, "%s", r.error);
    gkd_policy_result_fini(&r);
    json_decref(rec);
    json_decref(bad);
    close_vm(vm);
}
END_TEST

START_TEST(test_has_hook)
{
    gkd_policy_vm *vm = open_vm(combo_files, NULL);

    ck_assert(gkd_policy_vm_has_hook(vm, "authorize"));
    ck_assert(gkd_policy_vm_has_hook(vm, "on_evaluate"));
    ck_assert(gkd_policy_vm_has_hook(vm, "on_change"));
    ck_assert(!gkd_policy_vm_has_hook(vm, "nothing"));
    ck_assert_int_eq(gkd_policy_set_count(gkd_policy_vm_set(vm)), 2);
    ck_assert_str_eq(gkd_policy_set_name(gkd_policy_vm_set(vm), 1), "b.lua");
    close_vm(vm);
}
END_TEST

/* ---- state and arguments ---- */

START_TEST(test_state_and_arguments)
{
    const char *files[] = {
        "x.lua",
        "function on_evaluate(ctx, flag, proposal, state)\n"
        "  if ctx.seen then return gk.deny('ctx leaked between calls') end\n"
        "  ctx.seen = true\n"
        "  if ctx.write_state then state.flags.x = 1 end\n"
        "  if ctx.write_flag then flag.owner = 'me' end\n"
        "  local names = table.concat(flag.variants, ',')\n"
        "  local n = 0\n"
        "  for k, v in pairs(state.flags) do n = n + 1 end\n"
        "  for k, v in next, state.flags do n = n + 1 end\n"
        "  return gk.allow(flag.key .. '|' .. flag.owner .. '|' .. names .. '|' ..\n"
        "    flag.metadata.schema .. '|' .. n .. '|' .. #flag.variants .. '|' .. \n"
        "    tostring(gk.is_array(flag.variants)) .. '|' .. tostring(ctx.nothing == gk.null))\n"
        "end\n",
        NULL};
    gkd_policy_vm *vm = open_vm(files, NULL);
    json_t *state = J("{\"flags\": {\"orders.read_v2\": {\"owner\": \"team-orders\", \"variants\": "
                      "{\"off\": false, \"on\": true}, \"defaultVariant\": \"off\", \"metadata\": "
                      "{\"schema\": \"orders\"}}}, \"schemas\": {}, \"consumers\": {}}");
    gkd_policy_result r;

    ck_assert_int_eq(gkd_policy_vm_set_state(vm, state, 1), GK_OK);
    ck_assert_int_eq(gkd_policy_vm_set_state(vm, state, 1), GK_OK); /* same version: free */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(evaluate(vm, "{\"nothing\": null}", &r, 1), GKD_POLICY_ALLOW);
        ck_assert_str_eq(
            json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")),
            "orders.read_v2|team-orders|off,on|orders|2|2|true|true");
        gkd_policy_result_fini(&r);
    }
    ck_assert_int_eq(evaluate(vm, "{\"write_state\": true}", &r, 0), GKD_POLICY_ERROR);
    ck_assert_msg(strstr(r.error, "read-only") != NULL, "%s", r.error);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(evaluate(vm, "{\"write_flag\": true}", &r, 0), GKD_POLICY_ERROR);
    gkd_policy_result_fini(&r);
    /* a new version replaces the state */
    json_object_set_new(json_object_get(json_object_get(state, "flags"), "orders.read_v2"),
                        "owner", json_string("team-b"));
    ck_assert_int_eq(gkd_policy_vm_set_state(vm, state, 2), GK_OK);
    ck_assert_int_eq(evaluate(vm, "{}", &r, 1), GKD_POLICY_ALLOW);
    ck_assert_msg(strstr(json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")),
                         "|team-b|") != NULL,
                  "view not rebuilt for the new version");
    gkd_policy_result_fini(&r);
    json_decref(state);
    close_vm(vm);
}
END_TEST

/* A state of n generated flags shaped like a daemon's (tests/bench/flagsgen.c), plus the one
 * test_state_and_arguments reads. */
static json_t *
big_state(size_t n, const char *owner)
{
    json_t *flags = json_object(), *state;

    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "bench.flag_%05zu", i);
        json_object_set_new(
            flags, key,
            json_pack("{s:s, s:s, s:{s:b, s:b}, s:s, s:[{s:s, s:[{s:s, s:s, s:s}], s:s}],"
                      " s:{s:i, s:i}}",
                      "description", "generated", "owner", owner, "variants", "off", 0, "on", 1,
                      "defaultVariant", "off", "rules", "id", "gold", "clauses", "attribute",
                      "plan", "op", "equals", "value", "gold", "variant", "on", "rollout", "off",
                      75000, "on", 25000));
    }
    json_object_set_new(flags, "orders.read_v2",
                        json_pack("{s:s, s:{s:b, s:b}, s:s}", "owner", "team-orders", "variants",
                                  "off", 0, "on", 1, "defaultVariant", "off"));
    state = json_pack("{s:o, s:{}, s:{}}", "flags", flags, "schemas", "consumers");
    ck_assert_ptr_nonnull(state);
    return state;
}

/*
 * A state far larger than the vm's memory budget would allow as Lua tables (10,000 flags under
 * 8 MiB; converted whole, they need more than the 32 MiB default): the vm converts only what the
 * policy reads, so one flag's entry, iteration over state.flags and a reference kept across
 * versions all work, and reads and writes behave as on plain read-only tables.
 */
START_TEST(test_state_large)
{
    const char *files[] = {
        "x.lua",
        "local kept = {}\n"
        "function on_evaluate(ctx, flag, proposal, state)\n"
        "  local flags = state.flags\n"
        "  if ctx.old then return gk.allow(kept.e.owner .. '|' .. kept.e.rules[1].id) end\n"
        "  kept.e = flags['bench.flag_00042']\n"
        "  local e = flags['bench.flag_04242']\n"
        "  assert(e == flags['bench.flag_04242'], 'the same table on every read')\n"
        "  assert(flags.nothing == nil and e.nothing == nil and e.rules[2] == nil)\n"
        "  assert(#e.rules == 1 and e.rules[1].clauses[1].value == 'gold' and #flags == 0)\n"
        "  assert(e.variants.off == false and e.rollout.on == 25000)\n"
        "  assert(gk.is_array(e.rules) and not gk.is_array(e.rollout))\n"
        "  assert(gk.json_encode(e.rollout) == '{\"off\":75000,\"on\":25000}')\n"
        "  assert(not pcall(function() flags.x = 1 end), 'read-only')\n"
        "  assert(not pcall(function() e.owner = 1 end), 'read-only entry')\n"
        "  local n, owners = 0, 0\n"
        "  for k, v in pairs(flags) do\n"
        "    n = n + 1\n"
        "    if type(v) == 'table' and v.owner == ctx.owner then owners = owners + 1 end\n"
        "  end\n"
        "  local m = 0\n"
        "  for k in next, e do m = m + 1 end\n"
        "  local rules = 0\n"
        "  for i, r in ipairs(e.rules) do rules = rules + i end\n"
        "  return gk.allow(e.owner .. '|' .. n .. '|' .. owners .. '|' .. m .. '|' .. rules)\n"
        "end\n",
        NULL};
    /* The first walk over 10,000 flags converts one small table per entry: about 50 ms, more than
     * the default time budget, and far more in sanitizer builds. */
    gkd_policy_limits l = {0, 10000, 8 * 1024 * 1024};
    gkd_policy_vm *vm = open_vm(files, &l);
    json_t *state = big_state(10000, "team-platform");
    gkd_policy_result r;

    ck_assert_int_eq(gkd_policy_vm_set_state(vm, state, 1), GK_OK);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(evaluate(vm, "{\"owner\": \"team-platform\"}", &r, 1) == GKD_POLICY_ALLOW,
                      "%s", r.error);
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")),
                         "team-platform|10001|10000|6|1");
        gkd_policy_result_fini(&r);
    }
    /* A new version: the policy still reads the old one through the table it kept, after the
     * caller and the vm have let go of the old JSON. */
    json_decref(state);
    state = big_state(10000, "team-b");
    ck_assert_int_eq(gkd_policy_vm_set_state(vm, state, 2), GK_OK);
    json_decref(state);
    ck_assert_msg(evaluate(vm, "{\"old\": true}", &r, 1) == GKD_POLICY_ALLOW, "%s", r.error);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")),
                     "team-platform|gold");
    gkd_policy_result_fini(&r);
    ck_assert_msg(evaluate(vm, "{\"owner\": \"team-b\"}", &r, 1) == GKD_POLICY_ALLOW, "%s",
                  r.error);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")),
                     "team-b|10001|10000|6|1");
    gkd_policy_result_fini(&r);
    close_vm(vm);
}
END_TEST

/* gk.state_memo: one table per file and key, only for the vm's current state, dropped with it. */
START_TEST(test_state_memo)
{
    static const char body[] =
        "function on_evaluate(ctx, flag, proposal, state)\n"
        "  local m = gk.state_memo(state, flag.key)\n"
        "  assert(m and m == gk.state_memo(state, flag.key), 'one table per key')\n"
        "  assert(gk.state_memo(state, 'other') ~= m, 'another key, another table')\n"
        "  assert(gk.state_memo({}, flag.key) == nil and gk.state_memo(state.flags, 'x') == nil)\n"
        "  assert(not pcall(gk.state_memo, state, 1), 'the key is a string')\n"
        "  m.n = (m.n or 0) + 1\n"
        "  return gk.allow(FILE .. m.n)\n"
        "end\n";
    char a[sizeof body + 32], b[sizeof body + 32];
    const char *files[] = {"a.lua", a, "b.lua", b, NULL};
    gkd_policy_vm *vm;
    json_t *state = J("{\"flags\": {}}");
    gkd_policy_result r;

    snprintf(a, sizeof a, "FILE = 'a'\n%s", body);
    snprintf(b, sizeof b, "FILE = 'b'\n%s", body);
    vm = open_vm(files, NULL);
    for (int version = 1; version <= 2; version++) {
        ck_assert_int_eq(gkd_policy_vm_set_state(vm, state, (uint64_t) version), GK_OK);
        for (int i = 1; i <= 2; i++) {
            char want[8];
            ck_assert_msg(evaluate(vm, "{}", &r, 1) == GKD_POLICY_ALLOW, "%s", r.error);
            snprintf(want, sizeof want, "a%d", i);
            ck_assert_str_eq(
                json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")), want);
            snprintf(want, sizeof want, "b%d", i);
            ck_assert_str_eq(
                json_string_value(json_object_get(json_array_get(r.trace, 1), "reason")), want);
            gkd_policy_result_fini(&r);
        }
    }
    json_decref(state);
    close_vm(vm);
}
END_TEST

/* One on_evaluate call's outcome, variant, policy, mask and trace as one JSON text. */
static char *
evaluate_text(gkd_policy_vm *vm, const char *flag, const char *service, const char *variant)
{
    gkd_policy_proposal p = {variant, "SPLIT", NULL};
    json_t *ctx = json_pack("{s:s, s:s}", "targetingKey", "tenant-42", "plan", "gold"), *all;
    gkd_policy_result r;
    char *text;

    if (service != NULL) {
        json_object_set_new(ctx, "service", json_string(service));
    }
    ck_assert_int_eq(gkd_policy_vm_on_evaluate(vm, flag, ctx, &p, 1, &r), GK_OK);
    all = json_pack("{s:s, s:s, s:s, s:O*, s:O*, s:s}", "outcome",
                    gkd_policy_outcome_name(r.outcome), "variant", r.variant, "policy", r.policy,
                    "mask", r.mask, "trace", r.trace, "error", r.error);
    text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(all);
    json_decref(ctx);
    gkd_policy_result_fini(&r);
    return text;
}

/*
 * The shipped policies keep per-(flag, service) answers in gk.state_memo: a vm answering every
 * (flag, service, proposal) of the shipped flags from its memo gives the same outcome, mask and
 * trace, byte for byte, as a vm that gets a new state version (an empty memo) before each call.
 * (That a first answer is the one the policies gave before they kept any is checked by comparing
 * `gkctl --json policy eval` outputs, each from a fresh vm.)
 */
START_TEST(test_state_memo_shipped_policies)
{
    static const char *const services[] = {"billing", "orders-api", "reporting", "nobody", "",
                                           NULL};
    char pdir[512], flags[512];
    gkd_policy_set *set = NULL;
    gkd_policy_vm *warm = NULL, *cold = NULL;
    gkd_snapshot *snap = NULL;
    gk_diag d = {0};
    const char *key;
    json_t *def;
    uint64_t version = 1;
    size_t n = 0;

    snprintf(pdir, sizeof pdir, "%s/policies", gkt_env("GK_SOURCE_DIR"));
    snprintf(flags, sizeof flags, "%s/config/flags.json", gkt_env("GK_SOURCE_DIR"));
    ck_assert_msg(gkd_snapshot_load_file(&snap, flags, 1, &d) == GK_OK, "%s", d.text);
    ck_assert_msg(gkd_policy_set_load(&set, pdir, NULL, &d) == GK_OK, "%s", d.text);
    ck_assert_int_eq(gkd_policy_vm_open(&warm, set, &d), GK_OK);
    ck_assert_int_eq(gkd_policy_vm_open(&cold, set, &d), GK_OK);
    gkd_policy_set_rele(set);
    ck_assert_int_eq(gkd_policy_vm_set_state(warm, gkd_snapshot_state(snap), 1), GK_OK);
    for (int round = 0; round < 2; round++) {
        json_object_foreach (json_object_get(gkd_snapshot_state(snap), "flags"), key, def) {
            const char *vname;
            json_t *vval;
            for (const char *const *s = services; s == services || s[-1] != NULL; s++) {
                const char *variants[8];
                size_t nv = 0;
                json_object_foreach (json_object_get(def, "variants"), vname, vval) {
                    if (nv < 7) {
                        variants[nv++] = vname;
                    }
                }
                variants[nv++] = NULL;
                for (size_t v = 0; v < nv; v++) {
                    char *a, *b;
                    ck_assert_int_eq(
                        gkd_policy_vm_set_state(cold, gkd_snapshot_state(snap), ++version), GK_OK);
                    a = evaluate_text(warm, key, *s, variants[v]);
                    b = evaluate_text(cold, key, *s, variants[v]);
                    ck_assert_msg(strcmp(a, b) == 0, "%s / %s / %s:\n%s\n%s", key,
                                  *s ? *s : "(none)", variants[v] ? variants[v] : "(none)", a, b);
                    n += strstr(a, "\"source\"") != NULL;
                    free(a);
                    free(b);
                }
            }
        }
    }
    ck_assert_msg(n > 0, "no verdict at all: the comparison proves nothing");
    gkd_policy_vm_close(warm);
    gkd_policy_vm_close(cold);
    gkd_snapshot_rele(snap);
}
END_TEST

/*
 * The shipped policies keep per-service verdicts only for registered consumers: a caller naming a
 * new service on every request must not grow the memo until the vm's memory budget trips (every
 * gated decision would then fail until the next state version). 20,000 names would take several
 * MiB kept; under a 4 MiB budget every call still succeeds, and the last one's verdict is the one
 * a fresh vm gives.
 */
START_TEST(test_state_memo_bounded)
{
    gkd_policy_limits l = {0, 60000, 4u << 20}; /* sanitizer builds are slow: a long timeout */
    char pdir[512], flags[512], service[32];
    gkd_policy_set *set = NULL;
    gkd_policy_vm *vm = NULL, *fresh = NULL;
    gkd_snapshot *snap = NULL;
    gk_diag d = {0};
    char *a, *b;

    snprintf(pdir, sizeof pdir, "%s/policies", gkt_env("GK_SOURCE_DIR"));
    snprintf(flags, sizeof flags, "%s/config/flags.json", gkt_env("GK_SOURCE_DIR"));
    ck_assert_msg(gkd_snapshot_load_file(&snap, flags, 1, &d) == GK_OK, "%s", d.text);
    ck_assert_msg(gkd_policy_set_load(&set, pdir, &l, &d) == GK_OK, "%s", d.text);
    ck_assert_int_eq(gkd_policy_vm_open(&vm, set, &d), GK_OK);
    ck_assert_int_eq(gkd_policy_vm_open(&fresh, set, &d), GK_OK);
    gkd_policy_set_rele(set);
    ck_assert_int_eq(gkd_policy_vm_set_state(vm, gkd_snapshot_state(snap), 1), GK_OK);
    ck_assert_int_eq(gkd_policy_vm_set_state(fresh, gkd_snapshot_state(snap), 1), GK_OK);
    for (int i = 0; i < 20000; i++) {
        gkd_policy_proposal p = {"on", "SPLIT", NULL};
        json_t *ctx;
        gkd_policy_result r;

        snprintf(service, sizeof service, "caller-%d", i);
        ctx = json_pack("{s:s, s:s}", "targetingKey", "tenant-42", "service", service);
        ck_assert_int_eq(gkd_policy_vm_on_evaluate(vm, "orders.read_v2", ctx, &p, 0, &r), GK_OK);
        ck_assert_msg(r.outcome != GKD_POLICY_ERROR, "call %d (%s): %s", i, service, r.error);
        gkd_policy_result_fini(&r);
        json_decref(ctx);
    }
    a = evaluate_text(vm, "orders.read_v2", service, "on");
    b = evaluate_text(fresh, "orders.read_v2", service, "on");
    ck_assert_str_eq(a, b);
    ck_assert_msg(strstr(a, "\"source\"") != NULL, "no verdict: the comparison proves nothing: %s", a);
    free(a);
    free(b);
    gkd_policy_vm_close(vm);
    gkd_policy_vm_close(fresh);
    gkd_snapshot_rele(snap);
}
END_TEST

START_TEST(test_gk_table)
{
    const char *files[] = {
        "x.lua",
        "function authorize(req)\n"
        "  assert(math.type(gk.now_ms()) == 'integer' and gk.now_ms() > 1600000000000)\n"
        "  assert(gk.semver_compare('1.2.3', '1.10.0') == -1)\n"
        "  assert(gk.semver_compare('2.0.0+b', '2.0.0') == 0)\n"
        "  assert(not pcall(gk.semver_compare, 'v1', '1.0.0'))\n"
        "  local v = gk.json_decode('{\"a\":[1,null,{}],\"b\":{}}')\n"
        "  assert(v.a[2] == gk.null and gk.is_array(v.a) and not gk.is_array(v.b))\n"
        "  assert(gk.json_encode(v) == '{\"a\":[1,null,{}],\"b\":{}}', gk.json_encode(v))\n"
        "  assert(gk.json_encode({}) == '[]' and gk.json_encode({x = 1}) == '{\"x\":1}')\n"
        "  assert(not pcall(gk.json_encode, { f = print }))\n"
        "  assert(not pcall(gk.json_decode, '{'))\n"
        "  assert(tostring(gk.null) == 'null')\n"
        "  gk.log('info', 'hello from a policy')\n"
        "  print('printed', 1, true)\n"
        "  assert(('abc'):upper() == 'ABC' and utf8.len('é') == 1)\n"
        "  return gk.allow('ok')\n"
        "end\n",
        NULL};
    gkd_policy_vm *vm = open_vm(files, NULL);
    gkd_policy_result r;

    ck_assert_msg(authorize(vm, "{}", &r) == GKD_POLICY_ALLOW, "%s", r.error);
    gkd_policy_result_fini(&r);
    close_vm(vm);
}
END_TEST

/* ---- budgets ---- */

static const char *const loop_files[] = {"x.lua",
                                         "function authorize(req)\n"
                                         "  local n = 0\n"
                                         "  for i = 1, req.n do n = n + i end\n"
                                         "  return gk.allow('done')\n"
                                         "end\n",
                                         NULL};

START_TEST(test_budget_instructions_configurable)
{
    gkd_policy_limits l = {5000, 0, 0};
    gkd_policy_vm *vm = open_vm(loop_files, &l);
    gkd_policy_result r;

    ck_assert_uint_eq(gkd_policy_set_limits(gkd_policy_vm_set(vm))->instructions, 5000);
    ck_assert_uint_eq(gkd_policy_set_limits(gkd_policy_vm_set(vm))->timeout_ms,
                      GKD_POLICY_TIMEOUT_MS_DEFAULT);
    ck_assert_int_eq(authorize(vm, "{\"n\": 100}", &r), GKD_POLICY_ALLOW);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(authorize(vm, "{\"n\": 100000}", &r), GKD_POLICY_ERROR);
    ck_assert_msg(strncmp(r.error, "policies/x.lua:3: instruction budget exceeded (5000", 50) == 0,
                  "%s", r.error);
    gkd_policy_result_fini(&r);
    close_vm(vm);
    /* the default budget allows the larger loop */
    vm = open_vm(loop_files, NULL);
    ck_assert_int_eq(authorize(vm, "{\"n\": 100000}", &r), GKD_POLICY_ALLOW);
    gkd_policy_result_fini(&r);
    close_vm(vm);
}
END_TEST

START_TEST(test_budget_timeout)
{
    gkd_policy_limits l = {UINT64_C(1) << 50, 20, 0};
    gkd_policy_vm *vm = open_vm(loop_files, &l);
    gkd_policy_result r;
    struct timespec a, b;

    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(authorize(vm, "{\"n\": 1000000000000}", &r), GKD_POLICY_ERROR);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ck_assert_msg(strncmp(r.error, "policies/x.lua:3: time budget exceeded (20 ms", 45) == 0,
                  "%s", r.error);
    ck_assert_int_lt((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000, 2000);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(authorize(vm, "{\"n\": 10}", &r), GKD_POLICY_ALLOW);
    gkd_policy_result_fini(&r);
    close_vm(vm);
}
END_TEST

START_TEST(test_budget_memory)
{
    gkd_policy_limits l = {0, 0, 2 * 1024 * 1024};
    check_contained("local s = string.rep('x', 4 * 1024 * 1024)", "not enough memory", &l);
}
END_TEST

START_TEST(test_budget_spans_policies)
{
    /* instructions are per hook call, all policies together */
    const char *files[] = {"a.lua",
                           "function authorize(req) local n = 0 for i = 1, 3000 do n = n + i end end\n",
                           "b.lua",
                           "function authorize(req) local n = 0 for i = 1, 3000 do n = n + i end\n"
                           "  return gk.allow('b') end\n",
                           NULL};
    gkd_policy_limits l = {10000, 0, 0};
    gkd_policy_vm *vm = open_vm(files, &l);
    gkd_policy_result r;

    ck_assert_int_eq(authorize(vm, "{}", &r), GKD_POLICY_ERROR);
    ck_assert_str_eq(r.policy, "b.lua");
    gkd_policy_result_fini(&r);
    close_vm(vm);
    l.instructions = 100000;
    vm = open_vm(files, &l);
    ck_assert_int_eq(authorize(vm, "{}", &r), GKD_POLICY_ALLOW);
    gkd_policy_result_fini(&r);
    close_vm(vm);
}
END_TEST

/* ---- allocation failures ---- */

START_TEST(test_alloc_failure_loop)
{
    write_policies(combo_files);
    int done = 0;
    for (long n = 0; n < 100000 && !done; n++) {
        gkd_policy_set *set = NULL;
        gkd_policy_vm *vm = NULL;
        gkd_policy_result r;
        gk_diag d;
        gk_err rv;
        memset(&d, 0, sizeof d);
        gkd_policy_testing_fail_alloc(n);
        rv = gkd_policy_set_load(&set, dir, NULL, &d);
        if (rv == GK_OK) {
            rv = gkd_policy_vm_open(&vm, set, &d);
        }
        if (rv == GK_OK) {
            json_t *req = json_pack("{s:s}", "a", "allow");
            gkd_policy_vm_authorize(vm, req, 1, &r);
            gkd_policy_result_fini(&r);
            json_decref(req);
        }
        gkd_policy_testing_fail_alloc(-1);
        if (rv != GK_OK) {
            ck_assert_msg(rv == GK_ENOMEM, "n=%ld: %d %s", n, rv, d.text);
        } else {
            done = 1;
            /* with allocation working again, the vm serves */
            json_t *req = json_pack("{s:s}", "a", "allow");
            ck_assert_int_eq(gkd_policy_vm_authorize(vm, req, 0, &r), GK_OK);
            ck_assert_int_eq(r.outcome, GKD_POLICY_ALLOW);
            gkd_policy_result_fini(&r);
            json_decref(req);
        }
        gkd_policy_vm_close(vm);
        gkd_policy_set_rele(set);
    }
    ck_assert(done);
    gkt_rmtree(dir);
}
END_TEST

/* ---- call_global, set_test ---- */

START_TEST(test_call_global)
{
    const char *files[] = {"compatibility.lua",
                           "function check(mode, new, prev)\n"
                           "  if new == 'bad' then error('invalid schema: bad', 0) end\n"
                           "  return { { location = '/' .. mode, message = #prev .. '' } }\n"
                           "end\n",
                           NULL};
    gkd_policy_vm *vm = open_vm(files, NULL);
    json_t *args = J("[\"FULL\", {}, [{}, {}]]"), *res = NULL;
    char err[200];

    ck_assert_int_eq(gkd_policy_vm_call_global(vm, "compatibility", "check", args, &res, err,
                                               sizeof err),
                     GK_OK);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 0), "location")),
                     "/FULL");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 0), "message")), "2");
    json_decref(res);
    json_decref(args);
    args = J("[\"FULL\", \"bad\", []]");
    ck_assert_int_eq(gkd_policy_vm_call_global(vm, "compatibility.lua", "check", args, &res, err,
                                               sizeof err),
                     GK_EPROTO);
    ck_assert_msg(strstr(err, "invalid schema: bad") != NULL, "%s", err);
    ck_assert_int_eq(gkd_policy_vm_call_global(vm, "compatibility.lua", "nope", args, &res, err,
                                               sizeof err),
                     GK_ENOENT);
    json_decref(args);
    close_vm(vm);
}
END_TEST

struct seen {
    int n;
    char last[256];
};

static void
report(void *ud, const char *file, const char *test, int ok, const char *where, const char *msg)
{
    struct seen *s = ud;
    s->n++;
    if (!ok) {
        snprintf(s->last, sizeof s->last, "%s %s %s: %s", file, where, test, msg);
    }
}

START_TEST(test_set_test_harness)
{
    char pdir[512], tdir[600];
    gkd_policy_set *set = NULL;
    size_t passed, failed;
    struct seen s = {0, ""};
    gk_diag d;

    memset(&d, 0, sizeof d);
    snprintf(pdir, sizeof pdir, "%s/policies/good", gkt_env("GK_TEST_DATA"));
    snprintf(tdir, sizeof tdir, "%s/tests", pdir);
    ck_assert_int_eq(gkd_policy_set_load(&set, pdir, NULL, &d), GK_OK);
    ck_assert_int_eq(gkd_policy_set_test(set, tdir, &passed, &failed, &d), GK_OK);
    ck_assert_uint_eq(failed, 0);
    ck_assert_uint_gt(passed, 5);
    gkd_policy_set_rele(set);

    snprintf(pdir, sizeof pdir, "%s/policies/failing", gkt_env("GK_TEST_DATA"));
    snprintf(tdir, sizeof tdir, "%s/tests", pdir);
    ck_assert_int_eq(gkd_policy_set_load(&set, pdir, NULL, &d), GK_OK);
    ck_assert_int_eq(gkd_policy_set_test(set, tdir, &passed, &failed, &d), GK_EPROTO);
    ck_assert_uint_eq(passed, 1);
    ck_assert_uint_eq(failed, 2);
    ck_assert_str_eq(d.source, "tests/failing_test.lua");
    ck_assert_int_eq(d.line, 7);
    ck_assert_msg(strncmp(d.text, "test_fails_on_line_7: ", 22) == 0, "%s", d.text);
    ck_assert_int_eq(gkd_policy_set_test_report(set, tdir, report, &s, &passed, &failed, NULL),
                     GK_EPROTO);
    ck_assert_int_eq(s.n, 3);
    ck_assert_msg(strstr(s.last, "tests/failing_test.lua:11 test_error_in_policy: "
                                 "policies/a_owner.lua:15:") != NULL,
                  "%s", s.last);
    gkd_policy_set_rele(set);
}
END_TEST

/* One ctx table per request: the flags of a request share it, another request gets its own. */
START_TEST(test_ctx_shared_by_one_request)
{
    static const char *const files[] = {
        "count.lua",
        "function on_evaluate(ctx, flag, proposal, state)\n"
        "  ctx.calls = (ctx.calls or 0) + 1\n"
        "  if ctx.calls > 1 then return gk.deny('call ' .. ctx.calls .. ' for ' .. flag.key) end\n"
        "  return nil\n"
        "end\n",
        NULL};
    gkd_policy_vm *vm = open_vm(files, NULL);
    gkd_policy_proposal p = {"on", "SPLIT", NULL};
    gkd_policy_result r;
    json_t *one = J("{\"targetingKey\":\"t-1\"}");
    json_t *two = J("{\"targetingKey\":\"t-2\"}");

    ck_assert_int_eq(gkd_policy_vm_on_evaluate(vm, "a", one, &p, 0, &r), GK_OK);
    ck_assert_int_eq(r.outcome, GKD_POLICY_DEFAULT);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(gkd_policy_vm_on_evaluate(vm, "b", one, &p, 0, &r), GK_OK);
    ck_assert_int_eq(r.outcome, GKD_POLICY_DENY);
    gkd_policy_result_fini(&r);
    /* The request's JSON itself is not written to. */
    ck_assert_ptr_null(json_object_get(one, "calls"));
    json_decref(one);
    ck_assert_int_eq(gkd_policy_vm_on_evaluate(vm, "a", two, &p, 0, &r), GK_OK);
    ck_assert_int_eq(r.outcome, GKD_POLICY_DEFAULT);
    gkd_policy_result_fini(&r);
    json_decref(two);
    close_vm(vm);
}
END_TEST

/* One proposal table per vm: each call sets variant, reason and ruleId afresh (nil when absent). */
START_TEST(test_proposal_refilled_per_call)
{
    static const char *const files[] = {
        "p.lua",
        "function on_evaluate(ctx, flag, proposal, state)\n"
        "  local seen = tostring(proposal.variant) .. '|' .. tostring(proposal.reason) .. '|' ..\n"
        "    tostring(proposal.ruleId)\n"
        "  if flag.key == 'w' then proposal.note = ctx.user end -- read-only: an error\n"
        "  return gk.deny(seen)\n"
        "end\n",
        NULL};
    gkd_policy_vm *vm = open_vm(files, NULL);
    gkd_policy_proposal with_rule = {"on", "TARGETING_MATCH", "gold"};
    gkd_policy_proposal bare = {"off", NULL, NULL};
    gkd_policy_result r;
    json_t *ctx = J("{}");

    ck_assert_int_eq(gkd_policy_vm_on_evaluate(vm, "a", ctx, &with_rule, 1, &r), GK_OK);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")),
                     "on|TARGETING_MATCH|gold");
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(gkd_policy_vm_on_evaluate(vm, "b", ctx, &bare, 1, &r), GK_OK);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")),
                     "off|nil|nil");
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(gkd_policy_vm_on_evaluate(vm, "c", ctx, NULL, 1, &r), GK_OK);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")),
                     "nil|nil|nil");
    gkd_policy_result_fini(&r);
    /* Writing into the proposal fails the policy (closed), and nothing is left for the next call. */
    ck_assert_int_eq(gkd_policy_vm_on_evaluate(vm, "w", ctx, &bare, 1, &r), GK_OK);
    ck_assert_int_eq(r.outcome, GKD_POLICY_ERROR);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(gkd_policy_vm_on_evaluate(vm, "b", ctx, &with_rule, 1, &r), GK_OK);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")),
                     "on|TARGETING_MATCH|gold");
    gkd_policy_result_fini(&r);
    json_decref(ctx);
    close_vm(vm);
}
END_TEST

/* One on_evaluate call with this flag, service, tier (JSON text or NULL) and proposed variant. */
static gkd_policy_outcome
evaluate_with(gkd_policy_vm *vm, const char *flag, const char *service, const char *tier,
              const char *variant, int trace, gkd_policy_result *r)
{
    gkd_policy_proposal p = {variant, "SPLIT", NULL};
    json_t *ctx = json_pack("{s:s, s:s, s:s}", "targetingKey", flag, "service", service, "plan",
                            "gold");

    if (tier != NULL) {
        json_object_set_new(ctx, "tier", J(tier));
    }
    ck_assert_int_eq(gkd_policy_vm_on_evaluate(vm, flag, ctx, &p, trace, r), GK_OK);
    json_decref(ctx);
    return r->outcome;
}

/* The mask a call got (each run of the counting policy masks "v<run>"). */
static void
expect_variant(gkd_policy_vm *vm, const char *flag, const char *service, const char *tier,
               const char *variant, int trace, const char *want)
{
    gkd_policy_result r;

    ck_assert_int_eq(evaluate_with(vm, flag, service, tier, variant, trace, &r), GKD_POLICY_ALLOW);
    ck_assert_msg(strcmp(json_string_value(json_array_get(r.mask, 0)), want) == 0,
                  "%s/%s/%s/%s: got %s, want %s", flag, service, tier != NULL ? tier : "-", variant,
                  json_string_value(json_array_get(r.mask, 0)), want);
    if (trace) {
        /* the policy saw the declared fields only: no plan */
        ck_assert_str_eq(
            json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")), "plan nil");
    }
    gkd_policy_result_fini(&r);
}

static const char counting_policy[] = "local runs = 0\n"
                                      "function on_evaluate(ctx, flag, proposal, state)\n"
                                      "  runs = runs + 1\n"
                                      "  return gk.allow('plan ' .. tostring(ctx.plan),\n"
                                      "    { mask = { 'v' .. runs } })\n"
                                      "end\n";

/* Every on_evaluate declares what it reads: verdicts are kept per state version, flag, proposal
 * and declared fields; the policies see only those fields; explain requests run the policies. */
START_TEST(test_verdicts_kept_for_declared_reads)
{
    char src[sizeof counting_policy + 64];
    const char *files[] = {"a.lua", src, "b.lua",
                           "on_evaluate_reads = { 'service' }\n"
                           "function on_evaluate(ctx) return nil end\n",
                           "c.lua", "on_evaluate_reads = { 'plan' } -- no on_evaluate: ignored\n",
                           NULL};
    json_t *state = J("{\"flags\": {}}");
    gkd_policy_vm *vm;

    snprintf(src, sizeof src, "on_evaluate_reads = { 'service', 'tier' }\n%s", counting_policy);
    vm = open_vm(files, NULL);
    ck_assert_int_eq(gkd_policy_vm_set_state(vm, state, 1), GK_OK);
    expect_variant(vm, "a", "orders", "1", "on", 0, "v1");
    expect_variant(vm, "a", "orders", "1", "on", 0, "v1"); /* kept */
    expect_variant(vm, "b", "orders", "1", "on", 0, "v2"); /* another flag */
    expect_variant(vm, "a", "billing", "1", "on", 0, "v3"); /* another service */
    expect_variant(vm, "a", "orders", "\"1\"", "on", 0, "v4"); /* the string "1", not 1 */
    expect_variant(vm, "a", "orders", NULL, "on", 0, "v5"); /* no tier */
    expect_variant(vm, "a", "orders", "null", "on", 0, "v6");
    expect_variant(vm, "a", "orders", "1", "off", 0, "v7"); /* another proposal */
    expect_variant(vm, "a", "orders", "1", "on", 0, "v1");
    expect_variant(vm, "a", "orders", "\"1\"", "on", 0, "v4");
    expect_variant(vm, "a", "orders", "1", "on", 1, "v8"); /* explain: run, and not kept */
    expect_variant(vm, "a", "orders", "1", "on", 0, "v1");
    expect_variant(vm, "a", "orders", "1.5", "on", 0, "v9"); /* a real: not keyed, run each time */
    expect_variant(vm, "a", "orders", "1.5", "on", 0, "v10");
    expect_variant(vm, "a", "orders", "[1]", "on", 0, "v11");
    ck_assert_int_eq(gkd_policy_vm_set_state(vm, state, 1), GK_OK); /* same version: kept */
    expect_variant(vm, "a", "orders", "1", "on", 0, "v1");
    ck_assert_int_eq(gkd_policy_vm_set_state(vm, state, 2), GK_OK); /* a new version: forgotten */
    expect_variant(vm, "a", "orders", "1", "on", 0, "v12");
    expect_variant(vm, "a", "orders", "1", "on", 0, "v12");
    json_decref(state);
    close_vm(vm);
}
END_TEST

/* One on_evaluate without a declaration: every call runs every policy, with the whole context. */
START_TEST(test_verdicts_not_kept_when_undeclared)
{
    const char *files[] = {"a.lua", counting_policy, "b.lua",
                           "on_evaluate_reads = { 'service' }\n"
                           "function on_evaluate(ctx) return nil end\n",
                           NULL};
    gkd_policy_vm *vm = open_vm(files, NULL);
    gkd_policy_result r;

    for (int i = 1; i <= 3; i++) {
        char want[8];
        snprintf(want, sizeof want, "v%d", i);
        ck_assert_int_eq(evaluate_with(vm, "a", "orders", NULL, "on", 1, &r), GKD_POLICY_ALLOW);
        ck_assert_str_eq(json_string_value(json_array_get(r.mask, 0)), want);
        ck_assert_str_eq(
            json_string_value(json_object_get(json_array_get(r.trace, 0), "reason")), "plan gold");
        gkd_policy_result_fini(&r);
    }
    close_vm(vm);
}
END_TEST

/* An error is never kept: the next call with the same inputs runs the policy again. */
START_TEST(test_verdict_errors_not_kept)
{
    const char *files[] = {"a.lua",
                           "on_evaluate_reads = { 'service' }\n"
                           "local runs = 0\n"
                           "function on_evaluate(ctx, flag, proposal, state)\n"
                           "  runs = runs + 1\n"
                           "  if runs == 1 then error('first call fails') end\n"
                           "  return gk.deny('run ' .. runs)\n"
                           "end\n",
                           NULL};
    gkd_policy_vm *vm = open_vm(files, NULL);
    gkd_policy_result r;

    ck_assert_int_eq(evaluate_with(vm, "a", "orders", NULL, "on", 0, &r), GKD_POLICY_ERROR);
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(evaluate_with(vm, "a", "orders", NULL, "on", 0, &r), GKD_POLICY_DENY);
    ck_assert_str_eq(r.policy, "a.lua");
    gkd_policy_result_fini(&r);
    ck_assert_int_eq(evaluate_with(vm, "a", "orders", NULL, "on", 0, &r), GKD_POLICY_DENY);
    gkd_policy_result_fini(&r);
    close_vm(vm);
}
END_TEST

START_TEST(test_on_evaluate_reads_load_errors)
{
    char many[600] = "on_evaluate_reads = {";

    expect_load_error("on_evaluate_reads = 'service'\n", 0, "must be a list of the context field");
    expect_load_error("on_evaluate_reads = {}\n", 0, "must be a list of the context field");
    expect_load_error("on_evaluate_reads = { service = true }\n", 0, "must be a list");
    expect_load_error("on_evaluate_reads = { 'service', [4] = 'x' }\n", 0, "must be a list");
    expect_load_error("on_evaluate_reads = { 'service', 5 }\n", 0,
                      "on_evaluate_reads[2] must be a context field name");
    expect_load_error("on_evaluate_reads = { '' }\n", 0, "on_evaluate_reads[1] must be");
    expect_load_error("on_evaluate_reads = { ('x'):rep(64) }\n", 0, "a string of 1 to 63 bytes");
    expect_load_error("on_evaluate_reads = { 'a\\0b' }\n", 0, "on_evaluate_reads[1] must be");
    for (int i = 0; i < 17; i++) {
        snprintf(many + strlen(many), sizeof many - strlen(many), " 'f%d',", i);
    }
    strcat(many, " }\nfunction on_evaluate() return nil end\n");
    expect_load_error(many, 0, "more than 16 context fields");
}
END_TEST

static Suite *
policy_suite(void)
{
    Suite *s = suite_create("policy");
    TCase *tc;

    tc = tcase_create("sandbox");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_os_execute);
    tcase_add_test(tc, test_io_open);
    tcase_add_test(tc, test_require);
    tcase_add_test(tc, test_load_string);
    tcase_add_test(tc, test_load_bytecode);
    tcase_add_test(tc, test_global_write_after_load);
    tcase_add_test(tc, test_infinite_loop);
    tcase_add_test(tc, test_infinite_loop_in_pcall);
    tcase_add_test(tc, test_string_rep_huge);
    tcase_add_test(tc, test_deep_recursion);
    tcase_add_test(tc, test_huge_table);
    tcase_add_test(tc, test_string_metatable);
    tcase_add_test(tc, test_rawset_library);
    tcase_add_test(tc, test_undefined_global);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_syntax_error);
    tcase_add_test(tc, test_top_level_runtime_error);
    tcase_add_test(tc, test_runtime_error_in_hook);
    tcase_add_test(tc, test_wrong_return_shape);
    tcase_add_test(tc, test_top_level_globals_allowed);
    suite_add_tcase(s, tc);

    tc = tcase_create("combination");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_combination_authorize);
    tcase_add_test(tc, test_combination_evaluate);
    tcase_add_test(tc, test_combination_mask);
    tcase_add_test(tc, test_mask_list_kept_between_calls);
    tcase_add_test(tc, test_has_hook);
    tcase_add_test(tc, test_state_and_arguments);
    tcase_add_test(tc, test_ctx_shared_by_one_request);
    tcase_add_test(tc, test_proposal_refilled_per_call);
    tcase_add_test(tc, test_verdicts_kept_for_declared_reads);
    tcase_add_test(tc, test_verdicts_not_kept_when_undeclared);
    tcase_add_test(tc, test_verdict_errors_not_kept);
    tcase_add_test(tc, test_on_evaluate_reads_load_errors);
    tcase_add_test(tc, test_state_large);
    tcase_add_test(tc, test_state_memo);
    tcase_add_test(tc, test_state_memo_shipped_policies);
    tcase_add_test(tc, test_state_memo_bounded);
    tcase_add_test(tc, test_gk_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("budgets");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_budget_instructions_configurable);
    tcase_add_test(tc, test_budget_timeout);
    tcase_add_test(tc, test_budget_memory);
    tcase_add_test(tc, test_budget_spans_policies);
    tcase_add_test(tc, test_alloc_failure_loop);
    suite_add_tcase(s, tc);

    tc = tcase_create("tools");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_call_global);
    tcase_add_test(tc, test_set_test_harness);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(policy_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
