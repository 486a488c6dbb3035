/*
 * policy.c - the Lua policy sandbox: state, loading, budgets, hook calls, combination and the
 * explain trace (see policy.h and policies/README.md).
 *
 * Sandbox (after Redis's script_lua.c, adapted to Lua 5.4):
 * - "lua_newstate" with "cap_alloc": it counts `osize` only when `ptr` is not NULL (Lua passes a
 *   type tag there for new blocks) and refuses only growth past the cap, never a shrink (Lua
 *   assumes shrinking cannot fail).
 * - Libraries opened one by one as linit.c invites: base, table, string, math, utf8. Removed from
 *   base: load, loadfile, dofile, collectgarbage, raw*, get/setmetatable, warn, _G; string.dump,
 *   math.random, math.randomseed. `print` goes to the log; `next` sees through read-only proxies.
 * - Library tables (and gk) are read-only proxies; the string metatable's __index is the string
 *   proxy so that ("x"):rep(2) still works while string.rep cannot be replaced.
 * - The global table G is reachable only through each file's _ENV chain; its metatable makes reading
 *   an unknown name an error. A file's _ENV takes writes while its top level runs; then its globals
 *   move to a table FG and _ENV becomes an empty table with __index = FG and a __newindex that
 *   errors, so an existing global cannot be overwritten either.
 * - Chunks load with mode "t" (text only) and chunk name "@policies/<file>.lua".
 * - "count_hook" charges instructions in chunks of at most CHUNK and checks the monotonic clock
 *   each time. Once a budget trips it re-arms itself with LUA_MASKLINE|LUA_MASKCOUNT and count 1,
 *   so it raises again at once after any pcall inside the policy catches the first error.
 * - Every call goes through lua_pcall with "msgh", which records source:line of the innermost Lua
 *   frame. Memory errors do not run the handler (Lua 5.4 skips it), so they name the file only.
 *
 * A hook call runs inside one protected C function ("call_cfn"), so that a memory error in the glue
 * (building argument tables) fails the call closed instead of reaching the panic handler. Results
 * go straight into the caller's gkd_policy_result, so nothing leaks when Lua unwinds.
 */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "clock.h"
#include "log.h"
#include "luajson.h"
#include "policy.h"
#include "policy_api.h"
#include "verdict_cache.h"
#include "vocab.h"

/* Instructions charged per count-hook firing (also the granularity of the clock check). */
#define CHUNK 10000

/* Most context fields the policies of a set may declare in on_evaluate_reads (all files
 * together), and the longest field name (bytes). */
#define MAX_READS     16
#define READ_NAME_MAX 63

static const char *const hook_names[GKD_HOOK_COUNT] = {"authorize", "on_change", "on_evaluate",
                                                       "mask"};

static const char ENVS_KEY = 0;  /* registry: sequence of the files' locked _ENV tables */
static const char FGS_KEY = 0;   /* registry: sequence of the files' global tables */

/*
 * The values every hook call reaches live in registry slots with integer keys (luaL_ref, taken by
 * sandbox_init and kept in gkd_policy_vm.slot): an integer key is an array-part read, where a light
 * userdata key is a hash lookup in the registry's growing hash part.
 */
enum slot {
    SLOT_STATE,    /* the state's read-only view */
    SLOT_VIEWS,    /* flag key -> frozen flag view, for the state version */
    SLOT_CTX,      /* the table made from gkd_policy_vm.ctx */
    SLOT_HOOKS,    /* [hook id + 1] = sequence of hook functions */
    SLOT_MEMO,     /* chunk -> key -> gk.state_memo table, per version */
    SLOT_PROPOSAL, /* on_evaluate's proposal: a read-only proxy of SLOT_PROPOSAL_FIELDS */
    SLOT_PROPOSAL_FIELDS, /* the table behind it, refilled for every call (push_proposal) */
    SLOT_COUNT
};

static atomic_uint_fast64_t error_count;

/* Failure injection for the allocation-failure tests (policy.h). */
static long fail_alloc_at = -1;

static int
inject_failure(void)
{
    if (fail_alloc_at < 0) {
        return 0;
    }
    if (fail_alloc_at == 0) {
        fail_alloc_at = -1;
        return 1;
    }
    fail_alloc_at--;
    return 0;
}

void
gkd_policy_testing_fail_alloc(long n)
{
    fail_alloc_at = n;
}

static void *
xmalloc(size_t n)
{
    return inject_failure() ? NULL : malloc(n);
}

struct policy_file {
    char name[64];   /* "ownership.lua" */
    char chunk[80];  /* "@policies/ownership.lua" */
    char *src;
    size_t len;
};

struct gkd_policy_set {
    atomic_size_t refs;
    gkd_policy_limits limits;
    char *dir;
    size_t count;
    struct policy_file *files;
};

struct mem {
    size_t used;
    size_t cap;
};

struct budget {
    uint64_t limit;
    uint64_t used;
    int chunk;
    int tripped; /* 0, 1 instructions, 2 time */
    uint64_t deadline_ns;
};

struct gkd_policy_vm {
    lua_State *L;
    gkd_policy_set *set;
    struct mem mem;
    struct budget b;
    size_t nhook[GKD_HOOK_COUNT];
    uint8_t hook_file[GKD_HOOK_COUNT][GKD_POLICY_MAX_FILES];
    uint64_t state_version;
    int have_state;  /* a state was converted for state_version */
    int state_ok;    /* ... and it fitted the memory budget */
    json_t *state;   /* reference kept for building flag views lazily */
    json_t *mask_memo; /* the mask list last built from one verdict alone (see take_mask) */
    json_t *ctx;       /* the context last given to on_evaluate, referenced: its table is kept
                          (SLOT_CTX) for the other flags of the same request */
    /* What on_evaluate reads (declared_reads): the union of the files' on_evaluate_reads, the
     * files defining on_evaluate without declaring, and, when none is, the verdict cache and the
     * last caller's context with its view cut to the declared fields (declared_ctx). */
    size_t nreads;
    char reads[MAX_READS][READ_NAME_MAX + 1];
    size_t undeclared;
    gkd_verdict_cache *verdicts;
    json_t *ctx_src, *ctx_view;
    int slot[SLOT_COUNT]; /* registry keys of enum slot (0 until sandbox_init took them) */
    /* message handler output */
    char where[96];
    const char *test_source;
    int test_line;
};

/* Push the value of registry slot `s` of the vm of L. Never raises. */
static void
slot_push(lua_State *L, enum slot s)
{
    if (lua_rawgeti(L, LUA_REGISTRYINDEX, gkd_policy_vm_of(L)->slot[s]) == LUA_TBOOLEAN) {
        lua_pop(L, 1);
        lua_pushnil(L); /* an empty slot holds false (see slot_set) */
    }
}

/*
 * Pop the value at the top of the stack into registry slot `s` (taken already: never raises). nil
 * is kept as false: a nil would leave a hole in the registry's sequence, and luaL_ref, which takes
 * a new key from the sequence's length when its free list is empty, could then hand out a slot in
 * use.
 */
static void
slot_set(lua_State *L, enum slot s)
{
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 0);
    }
    lua_rawseti(L, LUA_REGISTRYINDEX, gkd_policy_vm_of(L)->slot[s]);
}

/* ---- allocator, budgets, message handler ---- */

static void *
cap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct mem *m = ud;
    size_t old = ptr != NULL ? osize : 0;
    void *p;

    if (nsize == 0) {
        free(ptr);
        m->used -= old;
        return NULL;
    }
    if (nsize <= old) {
        p = realloc(ptr, nsize);
        if (p == NULL) {
            return ptr; /* keep the larger block: shrinking must not fail */
        }
        m->used = m->used - old + nsize;
        return p;
    }
    if (m->used - old + nsize > m->cap || inject_failure()) {
        return NULL;
    }
    p = realloc(ptr, nsize);
    if (p == NULL) {
        return NULL;
    }
    m->used = m->used - old + nsize;
    return p;
}

static void count_hook(lua_State *L, lua_Debug *ar);

static void
budget_arm(gkd_policy_vm *vm, uint64_t instructions, uint32_t timeout_ms)
{
    vm->b.limit = instructions != 0 ? instructions : vm->set->limits.instructions;
    vm->b.used = 0;
    vm->b.tripped = 0;
    vm->b.chunk = vm->b.limit < CHUNK ? (int) vm->b.limit : CHUNK;
    vm->b.deadline_ns =
        gkd_clock_mono_ns() +
        (uint64_t) (timeout_ms != 0 ? timeout_ms : vm->set->limits.timeout_ms) * 1000000u;
    lua_sethook(vm->L, count_hook, LUA_MASKCOUNT, vm->b.chunk);
}

static void
budget_restore(gkd_policy_vm *vm, const struct budget *saved)
{
    vm->b = *saved;
    if (saved->limit != 0) {
        lua_sethook(vm->L, count_hook, LUA_MASKCOUNT, saved->chunk > 0 ? saved->chunk : 1);
    } else {
        lua_sethook(vm->L, NULL, 0, 0);
    }
}

static void
count_hook(lua_State *L, lua_Debug *ar)
{
    gkd_policy_vm *vm = gkd_policy_vm_of(L);

    if (!vm->b.tripped) {
        vm->b.used += (uint64_t) vm->b.chunk;
        if (vm->b.used >= vm->b.limit) {
            vm->b.tripped = 1;
        } else if (gkd_clock_mono_ns() >= vm->b.deadline_ns) {
            vm->b.tripped = 2;
        } else {
            uint64_t left = vm->b.limit - vm->b.used;
            vm->b.chunk = left < CHUNK ? (int) left : CHUNK;
            lua_sethook(L, count_hook, LUA_MASKCOUNT, vm->b.chunk);
            return;
        }
        /* Redis's trick: fire at every line and instruction until the call unwinds. */
        lua_sethook(L, count_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
    }
    /* lua_pushfstring + lua_error, not luaL_error: that would prefix the caller's position. */
    lua_getinfo(L, "Sl", ar);
    if (vm->b.tripped == 1) {
        lua_pushfstring(L, "%s:%d: instruction budget exceeded (%I instructions per hook call)",
                        ar->short_src, ar->currentline, (lua_Integer) vm->b.limit);
    } else {
        lua_pushfstring(L, "%s:%d: time budget exceeded (%I ms per hook call)", ar->short_src,
                        ar->currentline, (lua_Integer) vm->set->limits.timeout_ms);
    }
    lua_error(L);
}

/* Does `msg` start with "<something>:<digits>:"? Then it already names its source line. */
static int
has_location(const char *msg)
{
    const char *p = msg;

    while (*p != '\0' && *p != ':' && *p != ' ' && *p != '\n') {
        p++;
    }
    if (*p != ':' || p == msg) {
        return 0;
    }
    p++;
    if (*p < '0' || *p > '9') {
        return 0;
    }
    while (*p >= '0' && *p <= '9') {
        p++;
    }
    return *p == ':';
}

static int
msgh(lua_State *L)
{
    gkd_policy_vm *vm = gkd_policy_vm_of(L);
    lua_Debug ar;
    const char *msg;

    vm->where[0] = '\0';
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) {
            continue;
        }
        if (vm->where[0] == '\0') {
            snprintf(vm->where, sizeof vm->where, "%.80s:%d", ar.short_src, ar.currentline);
        }
        if (vm->test_source == NULL) {
            break;
        }
        if (strcmp(ar.source, vm->test_source) == 0) {
            vm->test_line = ar.currentline;
            break;
        }
    }
    msg = lua_tostring(L, 1);
    if (msg == NULL) {
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    if (vm->where[0] != '\0' && !has_location(msg)) {
        lua_pushfstring(L, "%s: %s", vm->where, msg);
    } else {
        lua_pushstring(L, msg);
    }
    return 1;
}

int
gkd_policy_vm_pcall(gkd_policy_vm *vm, int nargs, int nresults, uint64_t instructions,
                    uint32_t timeout_ms, const char *test_source, char *error, size_t errlen,
                    int *test_line)
{
    lua_State *L = vm->L;
    struct budget saved = vm->b;
    int base = lua_gettop(L) - nargs, status;

    lua_pushcfunction(L, msgh);
    lua_insert(L, base);
    vm->test_source = test_source;
    vm->test_line = 0;
    vm->where[0] = '\0';
    budget_arm(vm, instructions, timeout_ms);
    status = lua_pcall(L, nargs, nresults, base);
    budget_restore(vm, &saved);
    if (status != LUA_OK) {
        if (status == LUA_ERRMEM) {
            snprintf(error, errlen, "%s%snot enough memory (memory budget %zu bytes)", vm->where,
                     vm->where[0] ? ": " : "", vm->mem.cap);
        } else {
            const char *m = lua_tostring(L, -1);
            snprintf(error, errlen, "%s", m != NULL ? m : "error");
        }
        lua_pop(L, 1);
        if (test_line != NULL) {
            *test_line = vm->test_line;
        }
    }
    lua_remove(L, base);
    vm->test_source = NULL;
    return status;
}

/* ---- sandbox set-up ---- */

static int
undefined_global(lua_State *L)
{
    return luaL_error(L, "undefined global '%s'",
                      lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

static int
locked_global(lua_State *L)
{
    return luaL_error(L, "cannot set global '%s' after loading (use a local)",
                      lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

/*
 * "xpcall" that runs the handler after the error has unwound, as an ordinary call. Lua runs a
 * message handler inside the raising frame, and an error raised by the count hook is raised while
 * hooks are off (L->allowhook is 0 during a hook), so a handler like `function() while true do
 * end end` would run unmetered. Without the debug library a handler cannot inspect the stack, so
 * only that timing differs from the standard xpcall.
 */
static int
safe_xpcall(lua_State *L)
{
    int n = lua_gettop(L), st;

    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_insert(L, 1);
    lua_remove(L, 3); /* handler, f, args... */
    st = lua_pcall(L, n - 2, LUA_MULTRET, 0);
    if (st == LUA_OK) {
        lua_pushboolean(L, 1);
        lua_replace(L, 1);
        return lua_gettop(L);
    }
    if (st != LUA_ERRMEM) {
        lua_pushvalue(L, 1);
        lua_insert(L, -2);
        lua_call(L, 1, 1);
    }
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
}

static void
make_readonly_field(lua_State *L, int g, const char *name)
{
    lua_getfield(L, g, name);
    gkd_luajson_readonly(L, GKD_LUAJSON_NONE);
    lua_setfield(L, g, name);
}

/*
 * gk.state_memo(state, key): the table kept for `key` by the calling policy file while `state` is
 * the vm's current state, or nil when `state` is any other value (a test's own table, an old
 * version kept in a local). The tables live in the registry under SLOT_MEMO, one map per chunk
 * (so files cannot read each other's), and go with the state: state_cfn replaces SLOT_MEMO
 * whenever the vm gets a new version. Cost: two table lookups after the first call per key.
 * It is added to gk by sandbox_init, as it reads the state, which is this file's.
 */
static int
state_memo(lua_State *L)
{
    lua_Debug ar;

    luaL_checktype(L, 2, LUA_TSTRING);
    lua_settop(L, 2);
    slot_push(L, SLOT_STATE);
    if (lua_type(L, 3) != LUA_TTABLE || !lua_rawequal(L, 1, 3) || !lua_getstack(L, 1, &ar) || !lua_getinfo(L, "S", &ar) ||
        ar.source == NULL) {
        lua_pushnil(L);
        return 1;
    }
    /* Every function of a chunk shares its source string, which lives as long as the vm: its
     * address names the file without making a Lua string. */
    slot_push(L, SLOT_MEMO); /* 4 */
    if (lua_rawgetp(L, 4, ar.source) != LUA_TTABLE) { /* 5: this file's map */
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, 4, ar.source);
    }
    lua_pushvalue(L, 2);
    if (lua_rawget(L, 5) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, -2);
        lua_rawset(L, 5);
    }
    return 1;
}

static int
sandbox_init(lua_State *L)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},     {LUA_TABLIBNAME, luaopen_table},
                                    {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8}, {NULL, NULL}};
    static const char *const base_removed[] = {
        "load", "loadfile", "dofile", "collectgarbage", "rawget", "rawset", "rawequal",
        "rawlen", "getmetatable", "setmetatable", "warn", "_G", "require", NULL};
    gkd_policy_vm *vm = gkd_policy_vm_of(L);
    int g;

    for (int s = 0; s < SLOT_COUNT; s++) {
        lua_pushboolean(L, 0);
        vm->slot[s] = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    for (const luaL_Reg *lib = libs; lib->func != NULL; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    gkd_luajson_init(L);
    lua_pushglobaltable(L);
    g = lua_gettop(L);
    for (const char *const *n = base_removed; *n != NULL; n++) {
        lua_pushnil(L);
        lua_setfield(L, g, *n);
    }
    lua_pushcfunction(L, gkd_policy_api_print);
    lua_setfield(L, g, "print");
    lua_pushcfunction(L, gkd_luajson_next);
    lua_setfield(L, g, "next");
    lua_pushcfunction(L, safe_xpcall);
    lua_setfield(L, g, "xpcall");
    lua_getfield(L, g, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_getfield(L, g, "math");
    lua_pushnil(L);
    lua_setfield(L, -2, "random");
    lua_pushnil(L);
    lua_setfield(L, -2, "randomseed");
    lua_pop(L, 1);
    /* package.loaded (LUA_LOADED_TABLE) still holds the writable tables: drop it. */
    lua_pushnil(L);
    lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    gkd_policy_api_open(L);
    gkd_luajson_backing(L, -1); /* gk.state_memo reads the state, which is policy.c's */
    lua_pushcfunction(L, state_memo);
    lua_setfield(L, -2, "state_memo");
    lua_pop(L, 1);
    lua_setfield(L, g, "gk");
    make_readonly_field(L, g, "string");
    make_readonly_field(L, g, "table");
    make_readonly_field(L, g, "math");
    make_readonly_field(L, g, "utf8");
    /* ("x"):rep(3) goes through the string metatable: point it at the read-only proxy. */
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        lua_getfield(L, g, "string");
        lua_setfield(L, -2, "__index");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    /* G: unknown names are errors; nothing can write it (it is reachable only via __index). */
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, undefined_global);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, locked_global);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, g);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ENVS_KEY);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &FGS_KEY);
    lua_createtable(L, GKD_HOOK_COUNT, 0);
    for (int h = 0; h < GKD_HOOK_COUNT; h++) {
        lua_newtable(L);
        lua_rawseti(L, -2, h + 1);
    }
    slot_set(L, SLOT_HOOKS);
    lua_newtable(L);
    slot_set(L, SLOT_VIEWS);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, -1);
    slot_set(L, SLOT_PROPOSAL_FIELDS);
    gkd_luajson_readonly(L, GKD_LUAJSON_OBJECT);
    slot_set(L, SLOT_PROPOSAL);
    return 0;
}

/*
 * Record what the on_evaluate of a file reads (its global on_evaluate_reads, at index fg's
 * table): a sequence of 1 to MAX_READS context field names, each 1 to READ_NAME_MAX bytes with no
 * NUL, added to the vm's union when the file defines on_evaluate (`evaluates`; otherwise the list
 * is only checked). A file defining on_evaluate without one is counted as undeclared. Raises on
 * anything else, naming the file (`name`: "policies/x.lua").
 */
static void
declared_reads(lua_State *L, gkd_policy_vm *vm, int fg, const char *name, int evaluates)
{
    lua_Unsigned n;
    int t, count = 0;

    lua_pushliteral(L, "on_evaluate_reads");
    t = lua_rawget(L, fg);
    if (t == LUA_TNIL) {
        vm->undeclared += evaluates != 0;
        lua_pop(L, 1);
        return;
    }
    n = t == LUA_TTABLE ? lua_rawlen(L, -1) : 0;
    if (t == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            count++;
            lua_pop(L, 1);
        }
    }
    if (t != LUA_TTABLE || n == 0 || (lua_Unsigned) count != n) {
        luaL_error(L,
                   "%s: global 'on_evaluate_reads' must be a list of the context field names "
                   "on_evaluate reads, e.g. { \"service\" }",
                   name);
    }
    for (lua_Unsigned k = 1; k <= n; k++) {
        size_t len = 0, j;
        const char *field = lua_rawgeti(L, -1, (lua_Integer) k) == LUA_TSTRING
                                ? lua_tolstring(L, -1, &len)
                                : NULL;

        if (field == NULL || len == 0 || len > READ_NAME_MAX || strlen(field) != len) {
            luaL_error(L,
                       "%s: on_evaluate_reads[%d] must be a context field name (a string of 1 "
                       "to %d bytes)",
                       name, (int) k, READ_NAME_MAX);
        }
        for (j = 0; j < vm->nreads && strcmp(vm->reads[j], field) != 0; j++) {
        }
        if (evaluates && j == vm->nreads) {
            if (vm->nreads == MAX_READS) {
                luaL_error(L, "%s: the policies declare more than %d context fields in "
                              "on_evaluate_reads", name, MAX_READS);
            }
            memcpy(vm->reads[vm->nreads++], field, len + 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Load and run policy file `i` (light userdata arg: the vm), then lock its environment. */
static int
load_file_cfn(lua_State *L)
{
    gkd_policy_vm *vm = gkd_policy_vm_of(L);
    size_t i = (size_t) lua_tointeger(L, 1);
    const struct policy_file *f = &vm->set->files[i];
    size_t evaluates;
    int env, fg;

    lua_newtable(L);
    env = lua_gettop(L);
    lua_createtable(L, 0, 1);
    lua_pushglobaltable(L);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, env);
    if (luaL_loadbufferx(L, f->src, f->len, f->chunk, "t") != LUA_OK) {
        return lua_error(L);
    }
    lua_pushvalue(L, env);
    lua_setupvalue(L, -2, 1);
    lua_call(L, 0, 0);
    /* Lock: move the globals to FG, leave _ENV empty with a refusing __newindex. */
    lua_newtable(L);
    fg = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, env)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, fg);
    }
    lua_pushnil(L);
    while (lua_next(L, fg)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, env);
    }
    lua_createtable(L, 0, 1);
    lua_pushglobaltable(L);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, fg);
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, fg);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, locked_global);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, env);
    /* Hooks, in file order. */
    evaluates = vm->nhook[GKD_HOOK_ON_EVALUATE];
    slot_push(L, SLOT_HOOKS);
    for (int h = 0; h < GKD_HOOK_COUNT; h++) {
        int t;
        lua_pushstring(L, hook_names[h]);
        t = lua_rawget(L, fg);
        if (t == LUA_TFUNCTION) {
            lua_rawgeti(L, -2, h + 1);
            lua_pushvalue(L, -2);
            lua_rawseti(L, -2, (lua_Integer) vm->nhook[h] + 1);
            lua_pop(L, 1);
            vm->hook_file[h][vm->nhook[h]++] = (uint8_t) i;
        } else if (t != LUA_TNIL) {
            return luaL_error(L, "%s: global '%s' must be a function (it is a %s)", f->chunk + 1,
                              hook_names[h], lua_typename(L, t));
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    declared_reads(L, vm, fg, f->chunk + 1, vm->nhook[GKD_HOOK_ON_EVALUATE] > evaluates);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ENVS_KEY);
    lua_pushvalue(L, env);
    lua_rawseti(L, -2, (lua_Integer) i + 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &FGS_KEY);
    lua_pushvalue(L, fg);
    lua_rawseti(L, -2, (lua_Integer) i + 1);
    return 0;
}

static int
panic(lua_State *L)
{
    const char *m = lua_tostring(L, -1);
    gkd_log(GKD_LOG_ERROR, "policy runtime: unprotected Lua error: %s", m != NULL ? m : "?");
    abort();
}

/* Split "policies/x.lua:12: message" into diag source, line and text. */
static void
diag_from_error(gk_diag *diag, gk_err code, const char *fallback_source, const char *err)
{
    char source[64];
    const char *p = err, *colon;
    int line = 0;

    snprintf(source, sizeof source, "%.63s", fallback_source);
    if (has_location(err)) {
        colon = strchr(p, ':');
        snprintf(source, sizeof source, "%.*s", (int) (colon - p < 63 ? colon - p : 63), p);
        line = atoi(colon + 1);
        p = strchr(colon + 1, ':') + 1;
        while (*p == ' ') {
            p++;
        }
    }
    gkp_diag_set(diag, code, source, line, "%s", p);
}

static int convert_state(gkd_policy_vm *vm, const json_t *state);

static gk_err
vm_create(gkd_policy_vm **vmp, gkd_policy_set *set, gk_diag *diag)
{
    gkd_policy_vm *vm;
    char err[256];

    *vmp = NULL;
    vm = xmalloc(sizeof *vm);
    if (vm == NULL) {
        return gkp_diag_set(diag, GK_ENOMEM, "policies", 0, "out of memory");
    }
    memset(vm, 0, sizeof *vm);
    vm->set = gkd_policy_set_hold(set);
    vm->mem.cap = set->limits.memory_bytes;
    vm->L = lua_newstate(cap_alloc, &vm->mem);
    if (vm->L == NULL) {
        gkd_policy_vm_close(vm);
        return gkp_diag_set(diag, GK_ENOMEM, "policies", 0, "out of memory (Lua state)");
    }
    *(gkd_policy_vm **) lua_getextraspace(vm->L) = vm;
    lua_atpanic(vm->L, panic);
    lua_pushcfunction(vm->L, sandbox_init);
    if (gkd_policy_vm_pcall(vm, 0, 0, 0, 0, NULL, err, sizeof err, NULL) != LUA_OK) {
        gkd_policy_vm_close(vm);
        return gkp_diag_set(diag, GK_ENOMEM, "policies", 0, "sandbox: %s", err);
    }
    for (size_t i = 0; i < set->count; i++) {
        int st;
        lua_pushcfunction(vm->L, load_file_cfn);
        lua_pushinteger(vm->L, (lua_Integer) i);
        st = gkd_policy_vm_pcall(vm, 1, 0, 0, 0, NULL, err, sizeof err, NULL);
        if (st != LUA_OK) {
            char src[80];
            snprintf(src, sizeof src, "%s", set->files[i].chunk + 1);
            gkd_log(GKD_LOG_WARN, "policy load failed: %s", err);
            atomic_fetch_add(&error_count, 1);
            diag_from_error(diag, st == LUA_ERRMEM ? GK_ENOMEM : GK_EPROTO, src, err);
            gkd_policy_vm_close(vm);
            return st == LUA_ERRMEM ? GK_ENOMEM : GK_EPROTO;
        }
    }
    if (vm->nhook[GKD_HOOK_ON_EVALUATE] > 0 && vm->undeclared == 0 &&
        gkd_verdict_cache_new(&vm->verdicts) != GK_OK) {
        gkd_policy_vm_close(vm);
        return gkp_diag_set(diag, GK_ENOMEM, "policies", 0, "out of memory (verdict cache)");
    }
    /* The empty state {flags = {}, schemas = {}, consumers = {}} until the first set_state. */
    if (convert_state(vm, NULL) != LUA_OK) {
        gkd_policy_vm_close(vm);
        return gkp_diag_set(diag, GK_ENOMEM, "policies", 0, "out of memory (empty state)");
    }
    lua_settop(vm->L, 0);
    *vmp = vm;
    return GK_OK;
}

/* ---- sets ---- */

void
gkd_policy_limits_default(gkd_policy_limits *l)
{
    l->instructions = GKD_POLICY_INSTRUCTIONS_DEFAULT;
    l->timeout_ms = GKD_POLICY_TIMEOUT_MS_DEFAULT;
    l->memory_bytes = GKD_POLICY_MEMORY_BYTES_DEFAULT;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void
set_free(gkd_policy_set *set)
{
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < set->count; i++) {
        free(set->files[i].src);
    }
    free(set->files);
    free(set->dir);
    free(set);
}

static gk_err
read_file(const char *path, const char *source, char **srcp, size_t *lenp, gk_diag *diag)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (f == NULL) {
        return gkp_diag_set(diag, errno == ENOENT ? GK_ENOENT : GK_EIO, source, 0, "%s",
                            strerror(errno));
    }
    buf = xmalloc(GKD_POLICY_MAX_FILE_BYTES + 1);
    if (buf == NULL) {
        fclose(f);
        return gkp_diag_set(diag, GK_ENOMEM, source, 0, "out of memory");
    }
    n = fread(buf, 1, GKD_POLICY_MAX_FILE_BYTES + 1, f);
    if (ferror(f)) {
        fclose(f);
        free(buf);
        return gkp_diag_set(diag, GK_EIO, source, 0, "read error");
    }
    fclose(f);
    if (n > GKD_POLICY_MAX_FILE_BYTES) {
        free(buf);
        return gkp_diag_set(diag, GK_EINVAL, source, 0, "larger than %zu bytes",
                            GKD_POLICY_MAX_FILE_BYTES);
    }
    buf[n] = '\0';
    *srcp = buf;
    *lenp = n;
    return GK_OK;
}

/* List DIR/ *<suffix> regular files, sorted; names are malloc'd. */
static gk_err
list_dir(const char *dir, const char *suffix, size_t max, char ***namesp, size_t *countp,
         gk_diag *diag)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL, path[4096];
    size_t n = 0, slen = strlen(suffix);
    gk_err rv = GK_OK;

    *namesp = NULL;
    *countp = 0;
    if (d == NULL) {
        return gkp_diag_set(diag, errno == ENOENT || errno == ENOTDIR ? GK_ENOENT : GK_EIO, dir,
                            0, "cannot open directory: %s", strerror(errno));
    }
    names = xmalloc(sizeof *names * (max + 1));
    if (names == NULL) {
        closedir(d);
        return gkp_diag_set(diag, GK_ENOMEM, dir, 0, "out of memory");
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || len <= slen || strcmp(e->d_name + len - slen, suffix) != 0) {
            continue;
        }
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int) sizeof path ||
            stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (n == max) {
            rv = gkp_diag_set(diag, GK_EINVAL, dir, 0, "more than %zu %s files", max, suffix);
            break;
        }
        names[n] = xmalloc(len + 1);
        if (names[n] == NULL) {
            rv = gkp_diag_set(diag, GK_ENOMEM, dir, 0, "out of memory");
            break;
        }
        memcpy(names[n++], e->d_name, len + 1);
    }
    closedir(d);
    if (rv != GK_OK) {
        for (size_t i = 0; i < n; i++) {
            free(names[i]);
        }
        free(names);
        return rv;
    }
    qsort(names, n, sizeof *names, cmp_names);
    *namesp = names;
    *countp = n;
    return GK_OK;
}

gk_err
gkd_policy_set_load(gkd_policy_set **setp, const char *dir, const gkd_policy_limits *limits,
                    gk_diag *diag)
{
    gkd_policy_set *set;
    gkd_policy_vm *vm;
    char **names = NULL, path[4096];
    size_t n = 0;
    gk_err rv;

    if (setp == NULL || dir == NULL) {
        return gkp_diag_set(diag, GK_EINVAL, "policies", 0, "NULL argument");
    }
    *setp = NULL;
    rv = list_dir(dir, ".lua", GKD_POLICY_MAX_FILES, &names, &n, diag);
    if (rv != GK_OK) {
        return rv;
    }
    set = xmalloc(sizeof *set);
    if (set == NULL) {
        rv = gkp_diag_set(diag, GK_ENOMEM, dir, 0, "out of memory");
        goto fail;
    }
    memset(set, 0, sizeof *set);
    atomic_init(&set->refs, 1);
    gkd_policy_limits_default(&set->limits);
    if (limits != NULL) {
        if (limits->instructions != 0) {
            set->limits.instructions = limits->instructions;
        }
        if (limits->timeout_ms != 0) {
            set->limits.timeout_ms = limits->timeout_ms;
        }
        if (limits->memory_bytes != 0) {
            set->limits.memory_bytes = limits->memory_bytes;
        }
    }
    set->dir = xmalloc(strlen(dir) + 1);
    set->files = xmalloc(sizeof *set->files * (n + 1));
    if (set->dir == NULL || set->files == NULL) {
        rv = gkp_diag_set(diag, GK_ENOMEM, dir, 0, "out of memory");
        goto fail;
    }
    memcpy(set->dir, dir, strlen(dir) + 1);
    for (size_t i = 0; i < n; i++) {
        struct policy_file *f = &set->files[i];
        memset(f, 0, sizeof *f);
        if (strlen(names[i]) >= sizeof f->name) {
            rv = gkp_diag_set(diag, GK_EINVAL, names[i], 0, "policy file name longer than %zu",
                              sizeof f->name - 1);
            goto fail;
        }
        snprintf(f->name, sizeof f->name, "%s", names[i]);
        snprintf(f->chunk, sizeof f->chunk, "@policies/%s", names[i]);
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int) sizeof path) {
            rv = gkp_diag_set(diag, GK_EINVAL, dir, 0, "path too long");
            goto fail;
        }
        rv = read_file(path, f->chunk + 1, &f->src, &f->len, diag);
        if (rv != GK_OK) {
            goto fail;
        }
        set->count++;
    }
    /* Compile and run every top level once in a scratch sandbox. */
    rv = vm_create(&vm, set, diag);
    if (rv != GK_OK) {
        goto fail;
    }
    gkd_policy_vm_close(vm);
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    *setp = set;
    return GK_OK;
fail:
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    set_free(set);
    return rv;
}

gkd_policy_set *
gkd_policy_set_hold(gkd_policy_set *set)
{
    atomic_fetch_add(&set->refs, 1);
    return set;
}

void
gkd_policy_set_rele(gkd_policy_set *set)
{
    if (set != NULL && atomic_fetch_sub(&set->refs, 1) == 1) {
        set_free(set);
    }
}

/* gkd_policy_set_hold and gkd_policy_set_rele with the signatures a gkd_slot takes. */
static void *
set_slot_hold(void *set)
{
    return set != NULL ? gkd_policy_set_hold(set) : NULL;
}

static void
set_slot_rele(void *set)
{
    gkd_policy_set_rele(set);
}

gk_err
gkd_policy_set_slot_init(gkd_slot *slot)
{
    return gkd_slot_init(slot, set_slot_hold, set_slot_rele);
}

size_t
gkd_policy_set_count(const gkd_policy_set *set)
{
    return set->count;
}

const char *
gkd_policy_set_name(const gkd_policy_set *set, size_t i)
{
    return i < set->count ? set->files[i].name : NULL;
}

const gkd_policy_limits *
gkd_policy_set_limits(const gkd_policy_set *set)
{
    return &set->limits;
}

const char *
gkd_policy_set_dir(const gkd_policy_set *set)
{
    return set->dir;
}

/* ---- vms ---- */

gk_err
gkd_policy_vm_open(gkd_policy_vm **vmp, gkd_policy_set *set, gk_diag *diag)
{
    if (vmp == NULL || set == NULL) {
        return gkp_diag_set(diag, GK_EINVAL, "policies", 0, "NULL argument");
    }
    return vm_create(vmp, set, diag);
}

void
gkd_policy_vm_close(gkd_policy_vm *vm)
{
    if (vm == NULL) {
        return;
    }
    if (vm->L != NULL) {
        lua_close(vm->L);
    }
    json_decref(vm->state);
    json_decref(vm->mask_memo);
    json_decref(vm->ctx);
    json_decref(vm->ctx_src);
    json_decref(vm->ctx_view);
    gkd_verdict_cache_free(vm->verdicts);
    gkd_policy_set_rele(vm->set);
    free(vm);
}

const gkd_policy_set *
gkd_policy_vm_set(const gkd_policy_vm *vm)
{
    return vm->set;
}

gkd_policy_vm *
gkd_policy_vm_of(lua_State *L)
{
    return *(gkd_policy_vm **) lua_getextraspace(L);
}

lua_State *
gkd_policy_vm_lua(gkd_policy_vm *vm)
{
    return vm->L;
}

int
gkd_policy_hook_id(const char *name)
{
    for (int h = 0; h < GKD_HOOK_COUNT; h++) {
        if (strcmp(name, hook_names[h]) == 0) {
            return h;
        }
    }
    return -1;
}

const char *
gkd_policy_hook_name(int hook)
{
    return hook >= 0 && hook < GKD_HOOK_COUNT ? hook_names[hook] : NULL;
}

int
gkd_policy_vm_has_hook(const gkd_policy_vm *vm, const char *hook)
{
    int h = hook != NULL ? gkd_policy_hook_id(hook) : -1;
    return h >= 0 && vm->nhook[h] > 0;
}

static int
find_file(const gkd_policy_set *set, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < set->count; i++) {
        const char *fn = set->files[i].name;
        if (strcmp(fn, name) == 0 ||
            (strncmp(fn, name, len) == 0 && strcmp(fn + len, ".lua") == 0)) {
            return (int) i;
        }
    }
    return -1;
}

int
gkd_policy_vm_push_env(gkd_policy_vm *vm, const char *name)
{
    int i = find_file(vm->set, name);

    if (i < 0) {
        return 0;
    }
    lua_rawgetp(vm->L, LUA_REGISTRYINDEX, &ENVS_KEY);
    lua_rawgeti(vm->L, -1, i + 1);
    lua_remove(vm->L, -2);
    return 1;
}

void
gkd_policy_vm_push_globals(gkd_policy_vm *vm)
{
    lua_pushglobaltable(vm->L);
}

/* ---- state ---- */

struct state_arg {
    gkd_policy_vm *vm;
    const json_t *state;
};

static int
state_cfn(lua_State *L)
{
    const struct state_arg *a = lua_touserdata(L, 1);

    lua_pushnil(L);
    slot_set(L, SLOT_STATE);
    lua_newtable(L);
    slot_set(L, SLOT_VIEWS);
    lua_newtable(L);
    slot_set(L, SLOT_MEMO);
    if (a->state != NULL) {
        gkd_luajson_push_shared(L, a->state); /* converted as policies reach it */
    } else {
        lua_createtable(L, 0, 3);
        for (int k = 0; k < 3; k++) {
            lua_newtable(L);
            gkd_luajson_readonly(L, GKD_LUAJSON_OBJECT);
            lua_setfield(L, -2, k == 0 ? "flags" : k == 1 ? "schemas" : "consumers");
        }
        gkd_luajson_readonly(L, GKD_LUAJSON_OBJECT);
    }
    slot_set(L, SLOT_STATE);
    return 0;
}

static int
convert_state(gkd_policy_vm *vm, const json_t *state)
{
    struct state_arg a = {vm, state};
    char err[160];
    int st;

    lua_pushcfunction(vm->L, state_cfn);
    lua_pushlightuserdata(vm->L, &a);
    st = gkd_policy_vm_pcall(vm, 1, 0, UINT64_MAX / 2, 60000, NULL, err, sizeof err, NULL);
    if (st != LUA_OK) {
        lua_gc(vm->L, LUA_GCCOLLECT);
        gkd_log(GKD_LOG_ERROR, "policy state: %s", err);
    }
    return st;
}

gk_err
gkd_policy_vm_set_state(gkd_policy_vm *vm, const json_t *state, uint64_t version)
{
    if (vm == NULL || (state != NULL && !json_is_object(state))) {
        return GK_EINVAL;
    }
    if (vm->have_state && vm->state_version == version) {
        return vm->state_ok ? GK_OK : GK_ENOMEM;
    }
    if (vm->verdicts != NULL) {
        gkd_verdict_cache_clear(vm->verdicts);
    }
    json_decref(vm->state);
    vm->state = NULL;
    vm->have_state = 1;
    vm->state_version = version;
    vm->state_ok = 0;
    lua_pushnil(vm->L); /* drop the old view (and, once collected, its reference on the JSON) */
    slot_set(vm->L, SLOT_STATE);
    lua_gc(vm->L, LUA_GCCOLLECT);
    if (convert_state(vm, state) != LUA_OK) {
        convert_state(vm, NULL);
        return GK_ENOMEM;
    }
    /* Kept for building flag views; the caller's state is immutable (a snapshot). */
    vm->state = state != NULL ? json_incref((json_t *) (uintptr_t) state) : NULL;
    vm->state_ok = 1;
    return GK_OK;
}

/* ---- hook calls ---- */

struct call {
    gkd_policy_vm *vm;
    int hook;
    int trace;
    gkd_policy_result *out;
    /* argument sources: JSON (C entry points) or Lua stack slots (run()) */
    const json_t *json_arg;
    const char *flag_key;
    const char *kind;
    const gkd_policy_proposal *proposal;
    int lua_first, lua_nargs;
    json_t *tmp; /* released after the call (see push_flag_view) */
    /* combination */
    int any_allow, any_deny, any_error, conflict;
    int mask_shared; /* out->mask is vm->mask_memo: copy it before adding to it */
    char deny_file[64];
    char error_file[64];
};

static void
set_error(struct call *c, const char *file, const char *msg)
{
    if (!c->any_error) {
        c->any_error = 1;
        snprintf(c->error_file, sizeof c->error_file, "%s", file);
        snprintf(c->out->error, sizeof c->out->error, "%s", msg);
    }
    atomic_fetch_add(&error_count, 1);
    gkd_log(GKD_LOG_WARN, "policy %s: %s", hook_names[c->hook], msg);
}

static void
trace_add(struct call *c, json_t *entry)
{
    if (entry == NULL) {
        return;
    }
    if (c->out->trace == NULL) {
        c->out->trace = json_array();
    }
    if (c->out->trace == NULL || json_array_append_new(c->out->trace, entry) != 0) {
        json_decref(entry);
    }
}

static void
mask_add(struct call *c, const char *path)
{
    gkd_policy_result *out = c->out;
    size_t i;
    json_t *v;

    if (out->mask == NULL) {
        out->mask = json_array();
        if (out->mask == NULL) {
            return;
        }
    }
    json_array_foreach (out->mask, i, v) {
        if (strcmp(json_string_value(v), path) == 0) {
            return;
        }
    }
    if (c->mask_shared) {
        json_t *own = json_copy(out->mask); /* shallow: the strings are never changed */
        if (own == NULL) {
            return;
        }
        json_decref(out->mask);
        out->mask = own;
        c->mask_shared = 0;
    }
    json_array_append_new(out->mask, json_string(path));
}

/* Would jansson take these bytes as a string (valid UTF-8)? ASCII is checked here, the rest by
 * jansson itself. */
static int
json_string_ok(const char *s, size_t len)
{
    json_t *probe;

    for (size_t i = 0; i < len; i++) {
        if ((unsigned char) s[i] >= 0x80) {
            probe = json_stringn(s, len);
            json_decref(probe);
            return probe != NULL;
        }
    }
    return 1;
}

/*
 * Check a verdict's `mask` (at index m) and merge it into c->out->mask. It must be what
 * gkd_luajson_to_json turns into an array of strings: a table that is (or was made from) a JSON
 * array, or a plain sequence, of valid UTF-8 strings; otherwise nothing is merged and 0 returned.
 * Decisions mostly carry the same list again and again (a schema's pii fields), so the list built
 * from a verdict that was the call's first mask is kept in vm->mask_memo and handed out (shared,
 * copied before anything is added to it) when the next call's first mask holds the same strings.
 */
static int
take_mask(struct call *c, lua_State *L, int m)
{
    gkd_policy_vm *vm = c->vm;
    lua_Unsigned n;
    json_t *memo = vm->mask_memo;
    int t = m, first, distinct = 1, same;

    if (!gkd_luajson_is_array(L, m)) { /* the rule gkd_luajson_to_json converts by */
        return 0;
    }
    if (gkd_luajson_backing(L, m)) {
        t = lua_gettop(L);
    }
    n = lua_rawlen(L, t);
    same = memo != NULL && c->out->mask == NULL && json_array_size(memo) == n;
    for (lua_Unsigned i = 1; i <= n; i++) {
        size_t len;
        const char *p;
        if (lua_rawgeti(L, t, (lua_Integer) i) != LUA_TSTRING) {
            lua_settop(L, m);
            return 0;
        }
        p = lua_tolstring(L, -1, &len);
        if (same) {
            const json_t *e = json_array_get(memo, i - 1);
            same = json_string_length(e) == len && memcmp(json_string_value(e), p, len) == 0;
        }
        lua_pop(L, 1);
        if (!same && !json_string_ok(p, len)) {
            lua_settop(L, m);
            return 0;
        }
    }
    if (same) {
        c->out->mask = json_incref(memo);
        c->mask_shared = 1;
        lua_settop(L, m);
        return 1;
    }
    first = c->out->mask == NULL;
    for (lua_Unsigned i = 1; i <= n; i++) {
        size_t before = json_array_size(c->out->mask);
        lua_rawgeti(L, t, (lua_Integer) i);
        mask_add(c, lua_tostring(L, -1));
        lua_pop(L, 1);
        distinct = distinct && json_array_size(c->out->mask) == before + 1;
    }
    lua_settop(L, m);
    if (first && distinct && c->out->mask != NULL && json_array_size(c->out->mask) == n) {
        json_decref(vm->mask_memo);
        vm->mask_memo = json_incref(c->out->mask);
        c->mask_shared = 1;
    }
    return 1;
}

/* Is `variant` one of the names in flag.variants (flag at index fidx)? */
static int
variant_known(lua_State *L, int fidx, const char *variant)
{
    int found = 0;

    if (lua_type(L, fidx) != LUA_TTABLE) {
        return 1; /* no flag view to check against */
    }
    if (lua_getfield(L, fidx, "variants") != LUA_TTABLE) {
        lua_pop(L, 1);
        return 1;
    }
    for (lua_Integer k = 1; !found; k++) {
        int t = lua_geti(L, -1, k);
        if (t == LUA_TNIL) {
            lua_pop(L, 1);
            break;
        }
        found = t == LUA_TSTRING && strcmp(lua_tostring(L, -1), variant) == 0;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return found;
}

static void
shape_error(struct call *c, int fn, const char *file, const char *what)
{
    lua_State *L = c->vm->L;
    lua_Debug ar;
    char msg[200];

    lua_pushvalue(L, fn);
    lua_getinfo(L, ">S", &ar);
    snprintf(msg, sizeof msg, "%.70s:%d: %s: wrong return shape (%s)", ar.short_src,
             ar.linedefined, hook_names[c->hook], what);
    set_error(c, file, msg);
    if (c->trace) {
        char src[96];
        snprintf(src, sizeof src, "%.70s:%d", ar.short_src, ar.linedefined);
        trace_add(c, json_pack("{s:s,s:s,s:s,s:s,s:s}", "policy", file, "hook",
                               hook_names[c->hook], "verdict", "error", "reason", msg, "source",
                               src));
    }
}

/*
 * Combine the verdict at the top of the stack (not nil: an abstention is not combined) returned by
 * policy `file`'s hook function at `fn`. args: index of the first hook argument (for on_evaluate's
 * flag).
 */
static void
take_verdict(struct call *c, int fn, const char *file, int args)
{
    lua_State *L = c->vm->L;
    int v = lua_gettop(L), deny;
    const char *verdict, *reason, *variant = NULL;
    json_t *maskv = NULL;

    if (lua_type(L, v) != LUA_TTABLE) {
        char what[80];
        snprintf(what, sizeof what, "a %s; expected gk.allow(...), gk.deny(...) or nil",
                 luaL_typename(L, v));
        shape_error(c, fn, file, what);
        return;
    }
    lua_getfield(L, v, "verdict");
    verdict = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    if (strcmp(verdict, "allow") != 0 && strcmp(verdict, "deny") != 0) {
        shape_error(c, fn, file, "a table without verdict = \"allow\" or \"deny\"");
        return;
    }
    deny = verdict[0] == 'd';
    lua_getfield(L, v, "reason");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING) {
        shape_error(c, fn, file, "reason is not a string");
        return;
    }
    reason = lua_tostring(L, -1);
    if (lua_getfield(L, v, "variant") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING || c->hook != GKD_HOOK_ON_EVALUATE) {
            shape_error(c, fn, file,
                        c->hook != GKD_HOOK_ON_EVALUATE ? "variant is only for on_evaluate"
                                                        : "variant is not a string");
            return;
        }
        variant = lua_tostring(L, -1);
        if (!deny && !variant_known(L, args + 1, variant)) {
            char what[120];
            snprintf(what, sizeof what, "variant \"%.60s\" is not a variant of the flag", variant);
            shape_error(c, fn, file, what);
            return;
        }
    }
    if (lua_getfield(L, v, "mask") != LUA_TNIL) {
        if (!take_mask(c, L, lua_gettop(L))) {
            shape_error(c, fn, file, "mask is not a list of strings");
            return;
        }
        if (c->trace) {
            maskv = gkd_luajson_to_json(L, -1, NULL, 0);
        }
    }
    if (deny) {
        if (!c->any_deny) {
            snprintf(c->deny_file, sizeof c->deny_file, "%s", file);
        }
        c->any_deny = 1;
    } else {
        c->any_allow = 1;
        if (variant != NULL) {
            if (c->out->variant[0] == '\0' && !c->conflict) {
                snprintf(c->out->variant, sizeof c->out->variant, "%s", variant);
                snprintf(c->out->policy, sizeof c->out->policy, "%s", file);
            } else if (strcmp(c->out->variant, variant) != 0) {
                c->conflict = 1;
                snprintf(c->out->policy, sizeof c->out->policy, "%s", file);
            }
        }
    }
    if (c->trace) {
        json_t *e = json_pack("{s:s,s:s,s:s}", "policy", file, "hook", hook_names[c->hook],
                              "verdict", verdict);
        if (e != NULL) {
            char err[120], src[96];
            json_object_set_new(e, "reason", reason != NULL ? json_string(reason) : json_null());
            if (lua_getfield(L, v, "source") == LUA_TSTRING) {
                json_object_set_new(e, "source", json_string(lua_tostring(L, -1)));
            } else {
                lua_Debug ar;
                lua_pushvalue(L, fn);
                lua_getinfo(L, ">S", &ar);
                snprintf(src, sizeof src, "%.70s:%d", ar.short_src, ar.linedefined);
                json_object_set_new(e, "source", json_string(src));
            }
            if (variant != NULL) {
                json_object_set_new(e, "variant", json_string(variant));
            }
            if (maskv != NULL) {
                json_object_set(e, "mask", maskv);
            }
            if (lua_getfield(L, v, "violations") != LUA_TNIL) {
                json_t *vio = gkd_luajson_to_json(L, -1, err, sizeof err);
                json_object_set_new(e, "violations", vio != NULL ? vio : json_string(err));
            }
        }
        trace_add(c, e);
    }
    json_decref(maskv);
}

/* Push the frozen flag view of c->flag_key (cached per state version). */
static void
push_flag_view(lua_State *L, struct call *c)
{
    gkd_policy_vm *vm = c->vm;
    json_t *view, *def, *variants, *names, *val;
    const char *name;

    slot_push(L, SLOT_VIEWS);
    if (lua_getfield(L, -1, c->flag_key) == LUA_TTABLE) {
        lua_remove(L, -2);
        return;
    }
    lua_pop(L, 1);
    def = json_object_get(json_object_get(vm->state, "flags"), c->flag_key);
    view = json_object();
    names = json_array();
    if (view == NULL || names == NULL) {
        json_decref(view);
        json_decref(names);
        luaL_error(L, "out of memory");
    }
    json_object_set_new(view, "key", json_string(c->flag_key));
    json_object_set_new(view, "variants", names);
    if (json_is_string(json_object_get(def, "owner"))) {
        json_object_set(view, "owner", json_object_get(def, "owner"));
    }
    if (json_is_string(json_object_get(def, "defaultVariant"))) {
        json_object_set(view, "defaultVariant", json_object_get(def, "defaultVariant"));
    }
    variants = json_object_get(def, "variants");
    json_object_foreach (variants, name, val) {
        json_array_append_new(names, json_string(name));
    }
    if (json_object_get(def, "metadata") != NULL) {
        json_object_set(view, "metadata", json_object_get(def, "metadata"));
    }
    /* Owned by the call until converted, so an unwinding memory error cannot leak it. */
    c->tmp = view;
    gkd_luajson_push(L, view, 1);
    c->tmp = NULL;
    json_decref(view);
    if (def != NULL) { /* keys absent from the state are not cached: they could be unbounded */
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, c->flag_key);
    }
    lua_remove(L, -2);
}

/*
 * Push on_evaluate's ctx, converted once per request: the gatekeeper asks about every flag of a
 * request with the same json_t, and the policies of one flag already share one ctx table, so the
 * flags of one request share it too (policies/README.md). Holding a reference on the json_t keeps
 * its address from being reused by a later request's context while its table is kept.
 */
static void
push_ctx_view(lua_State *L, struct call *c)
{
    gkd_policy_vm *vm = c->vm;

    if (c->json_arg == vm->ctx) {
        slot_push(L, SLOT_CTX);
        return;
    }
    /* A memory error raised here leaves vm->ctx as it was, still matching SLOT_CTX. */
    gkd_luajson_push(L, c->json_arg, 0);
    lua_pushvalue(L, -1);
    slot_set(L, SLOT_CTX);
    json_decref(vm->ctx);
    vm->ctx = json_incref((json_t *) (uintptr_t) c->json_arg);
}

/* lua_pushstring, or nil for NULL. */
static void
push_string_or_nil(lua_State *L, const char *s)
{
    if (s != NULL) {
        lua_pushstring(L, s);
    } else {
        lua_pushnil(L);
    }
}

/*
 * Push on_evaluate's proposal: the vm's one proposal, a read-only proxy (SLOT_PROPOSAL) of a table
 * whose variant, reason and ruleId are set from `p` for every call (absent: nil). Reusing it spares
 * every call a table and the collector the garbage; being read-only, nothing a policy could write
 * into it reaches another call, flag or request (a write is an error: the policy fails closed).
 * Raises only on memory errors (a new string).
 */
static void
push_proposal(lua_State *L, const gkd_policy_proposal *p)
{
    slot_push(L, SLOT_PROPOSAL_FIELDS);
    push_string_or_nil(L, p != NULL ? p->variant : NULL);
    lua_setfield(L, -2, "variant");
    push_string_or_nil(L, p != NULL ? p->reason : NULL);
    lua_setfield(L, -2, "reason");
    push_string_or_nil(L, p != NULL ? p->rule_id : NULL);
    lua_setfield(L, -2, "ruleId");
    lua_pop(L, 1);
    slot_push(L, SLOT_PROPOSAL);
}

static void
push_args(lua_State *L, struct call *c)
{
    switch (c->hook) {
    case GKD_HOOK_AUTHORIZE:
        gkd_luajson_push(L, c->json_arg, 0);
        break;
    case GKD_HOOK_ON_CHANGE:
        gkd_luajson_push(L, c->json_arg, 0);
        slot_push(L, SLOT_STATE);
        break;
    case GKD_HOOK_ON_EVALUATE:
        push_ctx_view(L, c);
        push_flag_view(L, c);
        push_proposal(L, c->proposal);
        slot_push(L, SLOT_STATE);
        break;
    case GKD_HOOK_MASK:
    default:
        lua_pushstring(L, c->kind);
        gkd_luajson_push(L, c->json_arg, 0);
        break;
    }
}

static int
call_cfn(lua_State *L)
{
    struct call *c = lua_touserdata(L, 1);
    gkd_policy_vm *vm = c->vm;
    int args, nargs, fns, h;

    if (c->lua_nargs >= 0) {
        args = 2; /* run_call passed them after the light userdata */
        nargs = c->lua_nargs;
    } else {
        args = lua_gettop(L) + 1;
        push_args(L, c);
        nargs = lua_gettop(L) - args + 1;
    }
    slot_push(L, SLOT_HOOKS);
    lua_rawgeti(L, -1, c->hook + 1);
    lua_remove(L, -2);
    fns = lua_gettop(L);
    lua_pushcfunction(L, msgh); /* shared by the policies' calls: each call leaves it in place */
    h = fns + 1;
    /* the function and its arguments, then room for take_verdict's fields */
    luaL_checkstack(L, nargs + LUA_MINSTACK, "too many arguments");
    for (size_t j = 0; j < vm->nhook[c->hook] && !vm->b.tripped; j++) {
        const char *file = vm->set->files[vm->hook_file[c->hook][j]].name;
        int st;
        lua_settop(L, h);
        lua_rawgeti(L, fns, (lua_Integer) j + 1);
        for (int a = 0; a < nargs; a++) {
            lua_pushvalue(L, args + a);
        }
        vm->where[0] = '\0';
        st = lua_pcall(L, nargs, 1, h);
        if (st != LUA_OK) {
            char msg[160];
            if (st == LUA_ERRMEM) {
                snprintf(msg, sizeof msg, "policies/%s: not enough memory (memory budget %zu bytes)",
                         file, vm->mem.cap);
            } else {
                snprintf(msg, sizeof msg, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
            }
            set_error(c, file, msg);
            if (c->trace) {
                char src[100];
                snprintf(src, sizeof src, "%s", vm->where[0] ? vm->where : "");
                if (src[0] == '\0') {
                    snprintf(src, sizeof src, "policies/%.60s", file);
                }
                trace_add(c, json_pack("{s:s,s:s,s:s,s:s,s:s}", "policy", file, "hook",
                                       hook_names[c->hook], "verdict", "error", "reason", msg,
                                       "source", src));
            }
            continue;
        }
        if (lua_isnil(L, -1)) {
            continue; /* abstain */
        }
        lua_rawgeti(L, fns, (lua_Integer) j + 1);
        lua_insert(L, -2); /* fn below the verdict */
        take_verdict(c, lua_gettop(L) - 1, file, args);
    }
    return 0;
}

/* Mask every top-level field of `record` (mask's fail-closed answer). */
static void
mask_everything(gkd_policy_result *out, const json_t *record)
{
    const char *key;
    json_t *v;

    json_decref(out->mask);
    out->mask = json_array();
    json_object_foreach ((json_t *) (uintptr_t) record, key, v) {
        json_array_append_new(out->mask, json_string(key));
    }
}

static void
run_call(gkd_policy_vm *vm, struct call *c)
{
    lua_State *L = vm->L;
    gkd_policy_result *out = c->out;
    struct budget saved = vm->b;
    int top = lua_gettop(L), st;

    budget_arm(vm, 0, 0);
    lua_pushcfunction(L, call_cfn);
    lua_pushlightuserdata(L, c);
    if (c->lua_nargs > 0 && !lua_checkstack(L, c->lua_nargs + 2)) {
        c->lua_nargs = 0;
    }
    for (int a = 0; a < c->lua_nargs; a++) {
        lua_pushvalue(L, c->lua_first + a);
    }
    st = lua_pcall(L, 1 + (c->lua_nargs > 0 ? c->lua_nargs : 0), 0, 0);
    budget_restore(vm, &saved);
    json_decref(c->tmp);
    c->tmp = NULL;
    if (st != LUA_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, "policy runtime: %s",
                 st == LUA_ERRMEM ? "not enough memory"
                                  : (lua_tostring(L, -1) ? lua_tostring(L, -1) : "error"));
        set_error(c, "", msg);
    }
    lua_settop(L, top);
    if (c->any_error) {
        out->outcome = GKD_POLICY_ERROR;
        out->variant[0] = '\0';
        snprintf(out->policy, sizeof out->policy, "%s", c->error_file);
    } else if (c->any_deny) {
        out->outcome = GKD_POLICY_DENY;
        out->variant[0] = '\0';
        snprintf(out->policy, sizeof out->policy, "%s", c->deny_file);
    } else if (c->conflict) {
        out->outcome = GKD_POLICY_DENY;
        out->variant[0] = '\0';
    } else if (c->any_allow) {
        out->outcome = GKD_POLICY_ALLOW;
    } else {
        out->outcome = GKD_POLICY_DEFAULT;
        out->policy[0] = '\0';
    }
}

static gk_err
begin(gkd_policy_vm *vm, struct call *c, int hook, int trace, gkd_policy_result *out)
{
    memset(c, 0, sizeof *c);
    c->vm = vm;
    c->hook = hook;
    c->trace = trace;
    c->out = out;
    c->lua_nargs = -1;
    memset(out, 0, sizeof *out);
    out->outcome = GKD_POLICY_DEFAULT;
    if (trace) {
        out->trace = json_array();
    }
    return GK_OK;
}

static gk_err
finish_einval(gkd_policy_result *out, const char *what)
{
    out->outcome = GKD_POLICY_ERROR;
    snprintf(out->error, sizeof out->error, "%s", what);
    return GK_EINVAL;
}

static int
state_usable(gkd_policy_vm *vm, struct call *c)
{
    if (vm->have_state && !vm->state_ok) {
        set_error(c, "", "policy runtime: the state does not fit the policy memory budget");
        c->out->outcome = GKD_POLICY_ERROR;
        return 0;
    }
    return 1; /* never set: the empty state made at open */
}

/*
 * The shape shared by authorize and on_change: one JSON argument, and for on_change the state.
 * `what` names the argument in the NULL-argument error.
 */
static gk_err
call_json_hook(gkd_policy_vm *vm, int hook, const json_t *arg, const char *what, int trace,
               gkd_policy_result *out)
{
    struct call c;

    if (out == NULL) {
        return GK_EINVAL;
    }
    if (vm == NULL) {
        memset(out, 0, sizeof *out);
        return finish_einval(out, "NULL vm");
    }
    begin(vm, &c, hook, trace, out);
    if (arg == NULL) {
        return finish_einval(out, what);
    }
    c.json_arg = arg;
    if (vm->nhook[c.hook] > 0 && (hook != GKD_HOOK_ON_CHANGE || state_usable(vm, &c))) {
        run_call(vm, &c);
    }
    return GK_OK;
}

gk_err
gkd_policy_vm_authorize(gkd_policy_vm *vm, const json_t *req, int trace, gkd_policy_result *out)
{
    return call_json_hook(vm, GKD_HOOK_AUTHORIZE, req, "NULL req", trace, out);
}

gk_err
gkd_policy_vm_on_change(gkd_policy_vm *vm, const json_t *change, int trace, gkd_policy_result *out)
{
    return call_json_hook(vm, GKD_HOOK_ON_CHANGE, change, "NULL change", trace, out);
}

/* Append to key[0..*n) the part `tag`, len (at most 255), bytes p[0..len); 0 if it does not fit. */
static int
key_part(unsigned char *key, size_t *n, unsigned char tag, const void *p, size_t len)
{
    if (len > 255 || *n + 2 + len > GKD_VERDICT_CACHE_KEY_MAX) {
        return 0;
    }
    key[(*n)++] = tag;
    key[(*n)++] = (unsigned char) len;
    if (len > 0) {
        memcpy(key + *n, p, len);
    }
    *n += len;
    return 1;
}

/* key_part for a string that may be NULL (tagged apart from every string). */
static int
key_string(unsigned char *key, size_t *n, const char *s)
{
    return s != NULL ? key_part(key, n, 's', s, strlen(s)) : key_part(key, n, '-', NULL, 0);
}

/*
 * The verdict cache's key of an on_evaluate call (GKD_VERDICT_CACHE_KEY_MAX bytes at most): the
 * flag key, the proposal's variant, reason and ruleId, then the value of each declared context
 * field, each part tagged with its kind and prefixed with its length, so that different inputs
 * never give the same bytes. The state is not in it: the cache is cleared for each state version.
 * Returns the length, or 0 when a part cannot be keyed (a field holding an object, an array or a
 * real number, or parts longer than the key): such a call is computed and not kept.
 */
static size_t
verdict_key(const gkd_policy_vm *vm, unsigned char *key, const char *flag_key, const json_t *ctx,
            const gkd_policy_proposal *p)
{
    size_t n = 0;

    if (!key_string(key, &n, flag_key) || !key_string(key, &n, p != NULL ? p->variant : NULL) ||
        !key_string(key, &n, p != NULL ? p->reason : NULL) ||
        !key_string(key, &n, p != NULL ? p->rule_id : NULL)) {
        return 0;
    }
    for (size_t i = 0; i < vm->nreads; i++) {
        const json_t *v = json_object_get(ctx, vm->reads[i]);
        json_int_t iv;
        int ok;

        if (v == NULL) {
            ok = key_part(key, &n, 'a', NULL, 0);
        } else if (json_is_string(v)) {
            ok = key_part(key, &n, 's', json_string_value(v), json_string_length(v));
        } else if (json_is_integer(v)) {
            iv = json_integer_value(v);
            ok = key_part(key, &n, 'i', &iv, sizeof iv);
        } else if (json_is_boolean(v) || json_is_null(v)) {
            ok = key_part(key, &n, json_is_true(v) ? 't' : json_is_false(v) ? 'f' : 'z', NULL, 0);
        } else {
            ok = 0;
        }
        if (!ok) {
            return 0;
        }
    }
    return n;
}

/*
 * The context on_evaluate gets when every policy declared what it reads: the declared fields of
 * `ctx` only, so that a policy cannot depend on what its cached verdicts are not keyed by. Made
 * once per caller's context (the flags of a request share it, and so its Lua table) and kept
 * with a reference on that context, so that a later one cannot reuse its address. NULL on
 * memory errors.
 */
static const json_t *
declared_ctx(gkd_policy_vm *vm, const json_t *ctx)
{
    json_t *view;

    if (ctx == vm->ctx_src) {
        return vm->ctx_view;
    }
    view = json_object();
    for (size_t i = 0; view != NULL && i < vm->nreads; i++) {
        json_t *v = json_object_get(ctx, vm->reads[i]);

        if (v != NULL && json_object_set(view, vm->reads[i], v) != 0) {
            json_decref(view);
            view = NULL;
        }
    }
    if (view == NULL) {
        return NULL;
    }
    json_decref(vm->ctx_src);
    json_decref(vm->ctx_view);
    vm->ctx_src = json_incref((json_t *) (uintptr_t) ctx);
    vm->ctx_view = view;
    return view;
}

gk_err
gkd_policy_vm_on_evaluate(gkd_policy_vm *vm, const char *flag_key, const json_t *ctx,
                          const gkd_policy_proposal *proposal, int trace, gkd_policy_result *out)
{
    struct call c;
    unsigned char key[GKD_VERDICT_CACHE_KEY_MAX];
    size_t klen = 0;

    if (out == NULL) {
        return GK_EINVAL;
    }
    if (vm == NULL) {
        memset(out, 0, sizeof *out);
        return finish_einval(out, "NULL vm");
    }
    begin(vm, &c, GKD_HOOK_ON_EVALUATE, trace, out);
    if (flag_key == NULL || ctx == NULL) {
        return finish_einval(out, "NULL flag_key or ctx");
    }
    if (vm->verdicts != NULL) {
        /* An explain request always runs the policies: its trace is their own. */
        klen = trace ? 0 : verdict_key(vm, key, flag_key, ctx, proposal);
        if (gkd_verdict_cache_get(vm->verdicts, key, klen, out)) {
            return GK_OK;
        }
        ctx = declared_ctx(vm, ctx);
        if (ctx == NULL) {
            set_error(&c, "", "policy runtime: not enough memory for the context");
            out->outcome = GKD_POLICY_ERROR;
            return GK_OK;
        }
    }
    c.json_arg = ctx;
    c.flag_key = flag_key;
    c.proposal = proposal;
    if (vm->nhook[c.hook] > 0 && state_usable(vm, &c)) {
        run_call(vm, &c);
        if (klen > 0) {
            gkd_verdict_cache_put(vm->verdicts, key, klen, out);
        }
    }
    return GK_OK;
}

gk_err
gkd_policy_vm_mask(gkd_policy_vm *vm, const char *kind, const json_t *record, int trace,
                   gkd_policy_result *out)
{
    struct call c;

    if (out == NULL) {
        return GK_EINVAL;
    }
    if (vm == NULL) {
        memset(out, 0, sizeof *out);
        return finish_einval(out, "NULL vm");
    }
    begin(vm, &c, GKD_HOOK_MASK, trace, out);
    if (kind == NULL || !json_is_object(record)) {
        finish_einval(out, "NULL kind or record not an object");
        if (json_is_object(record)) {
            mask_everything(out, record);
        }
        return GK_EINVAL;
    }
    c.json_arg = record;
    c.kind = kind;
    if (vm->nhook[c.hook] > 0) {
        run_call(vm, &c);
    }
    if (out->outcome == GKD_POLICY_ERROR || out->outcome == GKD_POLICY_DENY) {
        mask_everything(out, record);
    }
    return GK_OK;
}

void
gkd_policy_vm_run_lua(gkd_policy_vm *vm, int hook, int first, int nargs, gkd_policy_result *out)
{
    struct call c;

    begin(vm, &c, hook, 1, out);
    c.lua_first = lua_absindex(vm->L, first);
    c.lua_nargs = nargs;
    if (vm->nhook[hook] > 0) {
        run_call(vm, &c);
    }
}

void
gkd_policy_result_fini(gkd_policy_result *r)
{
    if (r == NULL) {
        return;
    }
    json_decref(r->mask);
    json_decref(r->trace);
    r->mask = NULL;
    r->trace = NULL;
}

uint64_t
gkd_policy_error_count(void)
{
    return atomic_load(&error_count);
}

const char *
gkd_policy_outcome_name(gkd_policy_outcome outcome)
{
    switch (outcome) {
    case GKD_POLICY_ALLOW:
        return "allow";
    case GKD_POLICY_DENY:
        return "deny";
    case GKD_POLICY_DEFAULT:
        return "default";
    case GKD_POLICY_ERROR:
        return "error";
    }
    return "error";
}

/* ---- calling a policy's own function (gkctl schema check) ---- */

struct gcall {
    const json_t *args;
    int fidx;
    const char *name;
    json_t *result;
    char err[160];
};

static int
global_cfn(lua_State *L)
{
    struct gcall *g = lua_touserdata(L, 1);
    size_t k;
    json_t *a;
    int base;

    lua_rawgetp(L, LUA_REGISTRYINDEX, &FGS_KEY);
    lua_rawgeti(L, -1, g->fidx + 1);
    lua_pushstring(L, g->name);
    lua_rawget(L, -2);
    base = lua_gettop(L);
    luaL_checkstack(L, (int) json_array_size(g->args) + 2, "too many arguments");
    json_array_foreach (g->args, k, a) {
        gkd_luajson_push(L, a, 0);
    }
    lua_call(L, lua_gettop(L) - base, 1);
    g->result = gkd_luajson_to_json(L, -1, g->err, sizeof g->err);
    return 0;
}

gk_err
gkd_policy_vm_call_global(gkd_policy_vm *vm, const char *policy, const char *name,
                          const json_t *args, json_t **resultp, char *error, size_t errlen)
{
    lua_State *L;
    struct gcall g;
    int top, t;

    if (vm == NULL || policy == NULL || name == NULL || resultp == NULL || error == NULL ||
        (args != NULL && !json_is_array(args))) {
        return GK_EINVAL;
    }
    *resultp = NULL;
    error[0] = '\0';
    L = vm->L;
    memset(&g, 0, sizeof g);
    g.args = args;
    g.name = name;
    g.fidx = find_file(vm->set, policy);
    if (g.fidx < 0) {
        snprintf(error, errlen, "no policy file %s", policy);
        return GK_ENOENT;
    }
    top = lua_gettop(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &FGS_KEY);
    lua_rawgeti(L, -1, g.fidx + 1);
    lua_pushstring(L, name);
    t = lua_rawget(L, -2);
    lua_settop(L, top);
    if (t != LUA_TFUNCTION) {
        snprintf(error, errlen, "policies/%s defines no function %s", vm->set->files[g.fidx].name,
                 name);
        return GK_ENOENT;
    }
    lua_pushcfunction(L, global_cfn);
    lua_pushlightuserdata(L, &g);
    if (gkd_policy_vm_pcall(vm, 1, 0, 0, 0, NULL, error, errlen, NULL) != LUA_OK) {
        json_decref(g.result);
        lua_settop(L, top);
        atomic_fetch_add(&error_count, 1);
        gkd_log(GKD_LOG_WARN, "policy %s: %s", name, error);
        return GK_EPROTO;
    }
    lua_settop(L, top);
    if (g.result == NULL) {
        snprintf(error, errlen, "policies/%s: %s returned %s", vm->set->files[g.fidx].name, name,
                 g.err);
        return GK_EPROTO;
    }
    *resultp = g.result;
    return GK_OK;
}
