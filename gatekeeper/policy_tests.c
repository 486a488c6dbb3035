/*
 * policy_tests.c - the policy test harness (see policy_tests.h and policies/README.md).
 *
 * A test file's _ENV is a plain table E whose metatable's __index is the test API table, whose
 * own __index is the sandbox's globals: test files see the sandbox plus policy(), run(), the
 * assertions and fixture(), and may define globals freely (they are not policies).
 *
 * Assertions raise their message without a position; the vm's message handler prefixes the
 * innermost Lua line and records the test file's line, which is what the report names.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "log.h"
#include "luajson.h"
#include "policy.h"
#include "policy_api.h"
#include "policy_tests.h"
#include "vocab.h"

static const char HARNESS_KEY = 0; /* registry: light userdata struct harness */
static const char TESTENV_KEY = 0; /* registry: the test file's _ENV */

struct harness {
    const gkd_policy_set *set;
    const char *tests_dir;
    const char *file;
    char chunk[128]; /* "@tests/x_test.lua" */
    char *src;
    size_t len;
};

/* ---- helpers ---- */

static struct harness *
harness_of(lua_State *L)
{
    struct harness *h;

    lua_rawgetp(L, LUA_REGISTRYINDEX, &HARNESS_KEY);
    h = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return h;
}

/* Raise `msg` (with an optional user message in front) without a position. */
static int
fail_msg(lua_State *L, int user_idx, const char *msg)
{
    if (lua_type(L, user_idx) == LUA_TSTRING) {
        lua_pushfstring(L, "%s: %s", lua_tostring(L, user_idx), msg);
    } else {
        lua_pushstring(L, msg);
    }
    return lua_error(L);
}

/* Push a short readable form of the value at idx: JSON when it converts, else tostring. */
static const char *
repr(lua_State *L, int idx)
{
    char err[80];
    json_t *v;
    char *s;

    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TNIL) {
        lua_pushliteral(L, "nil");
        return lua_tostring(L, -1);
    }
    v = gkd_luajson_to_json(L, idx, err, sizeof err);
    s = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    if (s == NULL) {
        luaL_tolstring(L, idx, NULL);
        return lua_tostring(L, -1);
    }
    if (strlen(s) > 200) {
        strcpy(s + 197, "...");
    }
    lua_pushstring(L, s); /* may raise on memory: a tiny leak in an already failing test */
    free(s);
    return lua_tostring(L, -1);
}

static int
deep_eq(lua_State *L, int a, int b, int depth)
{
    int ta, tb, eq = 1;
    lua_Unsigned na = 0, nb = 0;

    a = lua_absindex(L, a);
    b = lua_absindex(L, b);
    if (lua_type(L, a) != LUA_TTABLE || lua_type(L, b) != LUA_TTABLE) {
        return lua_rawequal(L, a, b);
    }
    if (lua_rawequal(L, a, b)) {
        return 1;
    }
    if (depth > GKD_LUAJSON_MAX_DEPTH) {
        return 0;
    }
    luaL_checkstack(L, 8, "assert_eq: nested too deeply");
    ta = gkd_luajson_backing(L, a) ? lua_gettop(L) : (lua_pushvalue(L, a), lua_gettop(L));
    tb = gkd_luajson_backing(L, b) ? lua_gettop(L) : (lua_pushvalue(L, b), lua_gettop(L));
    lua_pushnil(L);
    while (eq && lua_next(L, ta)) {
        na++;
        lua_pushvalue(L, -2);
        lua_rawget(L, tb);
        eq = !lua_isnil(L, -1) && deep_eq(L, -2, -1, depth + 1);
        lua_pop(L, 2);
    }
    if (!eq) {
        lua_pop(L, 1); /* the key left by the interrupted traversal */
    }
    if (eq) {
        lua_pushnil(L);
        while (lua_next(L, tb)) {
            nb++;
            lua_pop(L, 1);
        }
        eq = na == nb;
    }
    lua_settop(L, ta - 1);
    return eq;
}

/* ---- the test API ---- */

static int
t_assert_eq(lua_State *L)
{
    luaL_checkany(L, 2);
    lua_settop(L, 3);
    if (!deep_eq(L, 1, 2, 0)) {
        const char *want = repr(L, 2), *got = repr(L, 1);
        lua_pushfstring(L, "expected %s, got %s", want, got);
        return fail_msg(L, 3, lua_tostring(L, -1));
    }
    return 0;
}

static int
t_assert_true(lua_State *L)
{
    lua_settop(L, 2);
    if (!lua_toboolean(L, 1)) {
        lua_pushfstring(L, "expected a true value, got %s", repr(L, 1));
        return fail_msg(L, 2, lua_tostring(L, -1));
    }
    return 0;
}

static int
t_assert_false(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_toboolean(L, 1)) {
        lua_pushfstring(L, "expected false or nil, got %s", repr(L, 1));
        return fail_msg(L, 2, lua_tostring(L, -1));
    }
    return 0;
}

static int
assert_verdict(lua_State *L, const char *want)
{
    const char *got = "nil (abstain)", *reason = NULL, *err = NULL;

    lua_settop(L, 2);

    if (lua_type(L, 1) == LUA_TTABLE) {
        lua_getfield(L, 1, "verdict");
        got = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "a table without verdict";
        lua_getfield(L, 1, "reason");
        reason = lua_tostring(L, -1);
        lua_getfield(L, 1, "error");
        err = lua_tostring(L, -1);
    } else if (!lua_isnil(L, 1)) {
        got = luaL_typename(L, 1);
    }
    if (strcmp(got, want) != 0) {
        lua_pushfstring(L, "expected %s, got %s%s%s%s%s", want, got, reason ? " (" : "",
                        reason ? reason : "", reason ? ")" : "", err ? lua_pushfstring(L, ": %s", err) : "");
        return fail_msg(L, 2, lua_tostring(L, -1));
    }
    return 0;
}

static int
t_assert_allow(lua_State *L)
{
    return assert_verdict(L, "allow");
}

static int
t_assert_deny(lua_State *L)
{
    return assert_verdict(L, "deny");
}

static int
t_assert_error(lua_State *L)
{
    const char *pattern = luaL_checkstring(L, 2);
    int st;

    lua_settop(L, 3);
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_pushvalue(L, 1);
    st = lua_pcall(L, 0, 0, 0);
    if (st == LUA_OK) {
        lua_pushfstring(L, "expected an error matching \"%s\", got none", pattern);
        return fail_msg(L, 3, lua_tostring(L, -1));
    }
    if (st == LUA_ERRMEM) {
        return lua_error(L);
    }
    if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pushfstring(L, "expected an error matching \"%s\", got a %s error value", pattern,
                        luaL_typename(L, -1));
        return fail_msg(L, 3, lua_tostring(L, -1));
    }
    gkd_policy_vm_push_globals(gkd_policy_vm_of(L));
    lua_getfield(L, -1, "string");
    lua_getfield(L, -1, "find");
    lua_pushvalue(L, -4); /* the message */
    lua_pushvalue(L, 2);
    lua_call(L, 2, 1);
    if (lua_isnil(L, -1)) {
        lua_pushfstring(L, "expected an error matching \"%s\", got \"%s\"", pattern,
                        lua_tostring(L, -5));
        return fail_msg(L, 3, lua_tostring(L, -1));
    }
    return 0;
}

static int
t_policy(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);

    if (!gkd_policy_vm_push_env(gkd_policy_vm_of(L), name)) {
        return luaL_error(L, "policy: no policy file \"%s\"", name);
    }
    return 1;
}

static int
push_json_cfn(lua_State *L)
{
    gkd_luajson_push(L, lua_touserdata(L, 1), 0);
    return 1;
}

static int
t_fixture(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    struct harness *h = harness_of(L);
    char path[4096];
    json_error_t jerr;
    json_t *v;
    int st;

    if (name[0] == '\0' || strstr(name, "..") != NULL || strchr(name, '/') != NULL) {
        return luaL_error(L, "fixture: invalid name \"%s\"", name);
    }
    if (snprintf(path, sizeof path, "%s/fixtures/%s.json", h->tests_dir, name) >=
        (int) sizeof path) {
        return luaL_error(L, "fixture: path too long");
    }
    v = json_load_file(path, JSON_DECODE_ANY, &jerr);
    if (v == NULL) {
        return luaL_error(L, "fixture \"%s\": %s:%d: %s", name, path, jerr.line, jerr.text);
    }
    lua_pushcfunction(L, push_json_cfn);
    lua_pushlightuserdata(L, v);
    st = lua_pcall(L, 1, 1, 0);
    json_decref(v);
    if (st != LUA_OK) {
        return lua_error(L);
    }
    return 1;
}

struct run_out {
    int hook;
    gkd_policy_result res;
};

static int
push_run_result(lua_State *L)
{
    struct run_out *r = lua_touserdata(L, 1);
    const char *verdict;

    switch (r->res.outcome) {
    case GKD_POLICY_ALLOW:
        verdict = "allow";
        break;
    case GKD_POLICY_DEFAULT:
        verdict = r->hook == GKD_HOOK_AUTHORIZE ? "deny" : "allow";
        break;
    case GKD_POLICY_DENY:
    case GKD_POLICY_ERROR:
    default:
        verdict = "deny";
        break;
    }
    lua_createtable(L, 0, 7);
    lua_pushstring(L, verdict);
    lua_setfield(L, -2, "verdict");
    lua_pushstring(L, gkd_policy_outcome_name(r->res.outcome));
    lua_setfield(L, -2, "outcome");
    if (r->res.trace != NULL) {
        gkd_luajson_push(L, r->res.trace, 0);
    } else {
        lua_newtable(L);
    }
    lua_setfield(L, -2, "trace");
    if (r->res.variant[0] != '\0') {
        lua_pushstring(L, r->res.variant);
        lua_setfield(L, -2, "variant");
    }
    if (r->res.mask != NULL) {
        gkd_luajson_push(L, r->res.mask, 0);
    } else {
        lua_newtable(L);
    }
    lua_setfield(L, -2, "mask");
    if (r->res.policy[0] != '\0') {
        lua_pushstring(L, r->res.policy);
        lua_setfield(L, -2, "policy");
    }
    if (r->res.error[0] != '\0') {
        lua_pushstring(L, r->res.error);
        lua_setfield(L, -2, "error");
    }
    return 1;
}

static int
t_run(lua_State *L)
{
    const char *hook = luaL_checkstring(L, 1);
    struct run_out r;
    int h = gkd_policy_hook_id(hook), st;

    if (h < 0) {
        return luaL_error(L, "run: unknown hook \"%s\" (authorize, on_change, on_evaluate, mask)",
                          hook);
    }
    r.hook = h;
    gkd_policy_vm_run_lua(gkd_policy_vm_of(L), h, 2, lua_gettop(L) - 1, &r.res);
    lua_pushcfunction(L, push_run_result);
    lua_pushlightuserdata(L, &r);
    st = lua_pcall(L, 1, 1, 0);
    gkd_policy_result_fini(&r.res);
    if (st != LUA_OK) {
        return lua_error(L);
    }
    return 1;
}

/* Build the test environment and run the test file's top level. */
static int
setup_cfn(lua_State *L)
{
    static const luaL_Reg api[] = {{"policy", t_policy},
                                   {"run", t_run},
                                   {"assert_eq", t_assert_eq},
                                   {"assert_true", t_assert_true},
                                   {"assert_false", t_assert_false},
                                   {"assert_allow", t_assert_allow},
                                   {"assert_deny", t_assert_deny},
                                   {"assert_error", t_assert_error},
                                   {"fixture", t_fixture},
                                   {NULL, NULL}};
    struct harness *h = lua_touserdata(L, 1);

    lua_pushlightuserdata(L, h);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &HARNESS_KEY);
    luaL_newlib(L, api);
    lua_createtable(L, 0, 1);
    lua_pushglobaltable(L);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_newtable(L); /* E */
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &TESTENV_KEY);
    if (luaL_loadbufferx(L, h->src, h->len, h->chunk, "t") != LUA_OK) {
        return lua_error(L);
    }
    lua_pushvalue(L, -2);
    lua_setupvalue(L, -2, 1);
    lua_call(L, 0, 0);
    return 0;
}

static uint64_t
test_instructions(const gkd_policy_set *set)
{
    return gkd_policy_set_limits(set)->instructions * 100;
}

static uint32_t
test_timeout_ms(const gkd_policy_set *set)
{
    uint32_t t = gkd_policy_set_limits(set)->timeout_ms;
    return t < 100 ? 10000 : t * 100;
}

/* A fresh vm with the test file loaded; on failure *err holds the message. */
static gk_err
open_test_vm(struct harness *h, gkd_policy_vm **vmp, char *err, size_t errlen, int *line)
{
    gkd_policy_vm *vm;
    gk_diag d;
    gk_err rv;

    memset(&d, 0, sizeof d);
    *line = 0;
    rv = gkd_policy_vm_open(&vm, (gkd_policy_set *) (uintptr_t) h->set, &d);
    if (rv != GK_OK) {
        snprintf(err, errlen, "%s:%d: %s", d.source, d.line, d.text);
        return rv;
    }
    lua_pushcfunction(gkd_policy_vm_lua(vm), setup_cfn);
    lua_pushlightuserdata(gkd_policy_vm_lua(vm), h);
    if (gkd_policy_vm_pcall(vm, 1, 0, test_instructions(h->set), test_timeout_ms(h->set),
                            h->chunk, err, errlen, line) != LUA_OK) {
        gkd_policy_vm_close(vm);
        return GK_EPROTO;
    }
    *vmp = vm;
    return GK_OK;
}

struct test_fn {
    char name[96];
    int line;
};

static int
cmp_tests(const void *a, const void *b)
{
    const struct test_fn *x = a, *y = b;
    return x->line != y->line ? (x->line < y->line ? -1 : 1) : strcmp(x->name, y->name);
}

/* List the test_ functions of the loaded test file, in definition order. */
static size_t
list_tests(gkd_policy_vm *vm, struct test_fn **testsp)
{
    lua_State *L = gkd_policy_vm_lua(vm);
    struct test_fn *tests = NULL, *grown;
    size_t n = 0, cap = 0;

    lua_rawgetp(L, LUA_REGISTRYINDEX, &TESTENV_KEY);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TFUNCTION &&
            strncmp(lua_tostring(L, -2), "test_", 5) == 0 &&
            strlen(lua_tostring(L, -2)) < sizeof tests->name) {
            lua_Debug ar;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                grown = realloc(tests, cap * sizeof *tests);
                if (grown == NULL) {
                    lua_pop(L, 3);
                    free(tests);
                    *testsp = NULL;
                    return (size_t) -1;
                }
                tests = grown;
            }
            snprintf(tests[n].name, sizeof tests[n].name, "%s", lua_tostring(L, -2));
            lua_pushvalue(L, -1);
            lua_getinfo(L, ">S", &ar);
            tests[n++].line = ar.linedefined;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (n > 0) {
        qsort(tests, n, sizeof *tests, cmp_tests);
    }
    *testsp = tests;
    return n;
}

/* Strip "<chunk>:<line>: " from the front of msg when it names the test file's own line. */
static const char *
strip_where(const char *msg, const char *chunk)
{
    size_t len = strlen(chunk + 1);
    const char *p;

    if (strncmp(msg, chunk + 1, len) != 0 || msg[len] != ':') {
        return msg;
    }
    p = msg + len + 1;
    while (*p >= '0' && *p <= '9') {
        p++;
    }
    if (p[0] == ':' && p[1] == ' ') {
        return p + 2;
    }
    return msg;
}

struct counts {
    gkd_policy_test_report report;
    void *ud;
    size_t passed, failed;
    gk_diag *diag;
};

static void
record(struct counts *c, struct harness *h, const char *test, int ok, int line, const char *msg)
{
    char where[160];

    if (ok) {
        c->passed++;
        if (c->report != NULL) {
            c->report(c->ud, h->file, test, 1, "", "");
        }
        return;
    }
    c->failed++;
    if (line > 0) {
        snprintf(where, sizeof where, "%s:%d", h->chunk + 1, line);
    } else {
        snprintf(where, sizeof where, "%s", h->chunk + 1);
    }
    gkd_log(GKD_LOG_WARN, "policy test failed: %s: %s: %s", where, test, msg);
    gkp_diag_set(c->diag, GK_EPROTO, h->chunk + 1, line, "%s: %s", test, msg);
    if (c->report != NULL) {
        c->report(c->ud, h->file, test, 0, where, msg);
    }
}

static gk_err
run_file(struct harness *h, struct counts *c)
{
    gkd_policy_vm *vm = NULL;
    struct test_fn *tests = NULL;
    char err[512];
    int line;
    size_t n;
    gk_err rv;

    rv = open_test_vm(h, &vm, err, sizeof err, &line);
    if (rv == GK_ENOMEM) {
        return rv;
    }
    if (rv != GK_OK) {
        record(c, h, "(load)", 0, line, strip_where(err, h->chunk));
        return GK_OK;
    }
    n = list_tests(vm, &tests);
    gkd_policy_vm_close(vm);
    if (n == (size_t) -1) {
        return GK_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        lua_State *L;
        int st;
        rv = open_test_vm(h, &vm, err, sizeof err, &line);
        if (rv == GK_ENOMEM) {
            free(tests);
            return rv;
        }
        if (rv != GK_OK) {
            record(c, h, tests[i].name, 0, line, strip_where(err, h->chunk));
            continue;
        }
        L = gkd_policy_vm_lua(vm);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &TESTENV_KEY);
        lua_getfield(L, -1, tests[i].name);
        lua_remove(L, -2);
        st = gkd_policy_vm_pcall(vm, 0, 0, test_instructions(h->set), test_timeout_ms(h->set),
                                 h->chunk, err, sizeof err, &line);
        if (st == LUA_OK) {
            record(c, h, tests[i].name, 1, 0, "");
        } else {
            record(c, h, tests[i].name, 0, line > 0 ? line : tests[i].line,
                   strip_where(err, h->chunk));
        }
        gkd_policy_vm_close(vm);
    }
    free(tests);
    return GK_OK;
}

static int
is_test_file(const struct dirent *e)
{
    size_t len = strlen(e->d_name);
    return e->d_name[0] != '.' && len > 9 && strcmp(e->d_name + len - 9, "_test.lua") == 0;
}

static int
cmp_dirent(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

gk_err
gkd_policy_set_test_report(const gkd_policy_set *set, const char *tests_dir,
                           gkd_policy_test_report report, void *ud, size_t *passed,
                           size_t *failed, gk_diag *diag)
{
    struct dirent **ents = NULL;
    struct counts c = {report, ud, 0, 0, diag};
    struct harness h;
    char path[4096];
    gk_err rv = GK_OK;
    int n;

    if (passed != NULL) {
        *passed = 0;
    }
    if (failed != NULL) {
        *failed = 0;
    }
    if (set == NULL || tests_dir == NULL) {
        return gkp_diag_set(diag, GK_EINVAL, "tests", 0, "NULL argument");
    }
    n = scandir(tests_dir, &ents, is_test_file, cmp_dirent);
    if (n < 0) {
        return GK_OK; /* no tests directory: zero tests */
    }
    for (int i = 0; i < n && rv == GK_OK; i++) {
        FILE *f;
        memset(&h, 0, sizeof h);
        h.set = set;
        h.tests_dir = tests_dir;
        h.file = ents[i]->d_name;
        snprintf(h.chunk, sizeof h.chunk, "@tests/%.100s", ents[i]->d_name);
        if (snprintf(path, sizeof path, "%s/%s", tests_dir, ents[i]->d_name) >= (int) sizeof path) {
            rv = gkp_diag_set(diag, GK_EINVAL, tests_dir, 0, "path too long");
            break;
        }
        f = fopen(path, "rb");
        h.src = malloc(GKD_POLICY_MAX_FILE_BYTES + 1);
        if (f == NULL || h.src == NULL) {
            if (f != NULL) {
                fclose(f);
            }
            free(h.src);
            rv = gkp_diag_set(diag, h.src == NULL ? GK_ENOMEM : GK_EIO, h.chunk + 1, 0,
                              "cannot read");
            break;
        }
        h.len = fread(h.src, 1, GKD_POLICY_MAX_FILE_BYTES, f);
        fclose(f);
        rv = run_file(&h, &c);
        free(h.src);
    }
    for (int i = 0; i < n; i++) {
        free(ents[i]);
    }
    free(ents);
    if (passed != NULL) {
        *passed = c.passed;
    }
    if (failed != NULL) {
        *failed = c.failed;
    }
    if (rv != GK_OK) {
        return rv;
    }
    return c.failed > 0 ? GK_EPROTO : GK_OK;
}

gk_err
gkd_policy_set_test(const gkd_policy_set *set, const char *tests_dir, size_t *passed,
                    size_t *failed, gk_diag *diag)
{
    return gkd_policy_set_test_report(set, tests_dir, NULL, NULL, passed, failed, diag);
}
