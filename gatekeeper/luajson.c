/*
 * luajson.c - JSON <-> Lua conversion (see luajson.h).
 *
 * Registry entries are keyed by the addresses of the static chars below (lua_rawgetp), so looking
 * them up never allocates. Marker fields inside metatables use light userdata keys for the same
 * reason and because a policy cannot spell them.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "luajson.h"

static const char NULL_KEY = 0;     /* registry: the gk.null userdata */
static const char ARRAY_MT_KEY = 0; /* registry: metatable of mutable arrays */
static const char OBJECT_MT_KEY = 0;
static const char KIND_KEY = 0;    /* metatable field: gkd_luajson_kind as an integer */
static const char BACKING_KEY = 0; /* metatable field of a proxy: its backing table */
static const char ANCHOR_MT_KEY = 0; /* registry: metatable of a shared view's anchor */
static const char JSON_KEY = 0;    /* loader metatable field: the node's json_t (light userdata) */
static const char ANCHOR_KEY = 0;  /* loader metatable field: the view's anchor userdata */

static int
null_tostring(lua_State *L)
{
    lua_pushliteral(L, "null");
    return 1;
}

static int
ro_newindex(lua_State *L)
{
    return luaL_error(L, "attempt to modify a read-only table (field '%s')",
                      lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

/*
 * Shared views (gkd_luajson_push_shared). Each container of the JSON that a policy reaches becomes
 * a "lazy node": a read-only proxy P exactly like a frozen one (an empty table whose metatable has
 * __index = the backing table C, the read-only __newindex, __len, __pairs, the kind), except that
 * C starts empty and has a metatable of its own, "Lm", holding the node's json_t (light userdata),
 * the view's anchor and __index = "lazy_load". A read that finds its key in C costs what a frozen
 * proxy costs (the VM follows P -> C, no C call); a miss runs "lazy_load", which converts that one
 * child (a container becomes another lazy node, with nothing converted yet) and stores it in C, so
 * the same value comes back on the next read. "lazy_fill" converts every child of a node (children
 * that are containers stay lazy) and removes Lm.__index: a complete node answers absent keys
 * without a C call. A node fills itself at its first read of an absent key when it has at most
 * FILL_MAX children (probing optional fields of a flag entry stays a plain table miss), and before
 * anything walks C (next, pairs, # via C, assert_eq...), so a walk never sees a partial table and
 * nothing is inserted into C while it is walked.
 *
 * The anchor is a full userdata that owns one reference on the root json_t, dropped by its __gc;
 * every Lm references it, so the JSON lives as long as any table of the view does (also one a
 * policy kept in an upvalue across state versions). Nodes point into the JSON with light
 * userdata, so the JSON must not change while a view of it exists. Policies reach none of this:
 * there is no getmetatable in the sandbox and the hidden fields have light userdata keys.
 */
#define FILL_MAX 32

/* The json_t of lazy node cache `c` (a backing table), or NULL when `c` is not one. */
static const json_t *
cache_json(lua_State *L, int c)
{
    const json_t *v = NULL;

    if (lua_getmetatable(L, c)) {
        if (lua_rawgetp(L, -1, &JSON_KEY) == LUA_TLIGHTUSERDATA) {
            v = lua_touserdata(L, -1);
        }
        lua_pop(L, 2);
    }
    return v;
}

/* Push the backing table of the proxy at idx as it is (a lazy one maybe partial); 0 if none. */
static int
proxy_cache(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) {
        return 0;
    }
    if (lua_rawgetp(L, -1, &BACKING_KEY) != LUA_TTABLE) {
        lua_pop(L, 2);
        return 0;
    }
    lua_remove(L, -2);
    return 1;
}

static int
ro_len(lua_State *L)
{
    lua_Integer n = 0;

    if (proxy_cache(L, 1)) {
        const json_t *v = cache_json(L, -1);
        if (v != NULL) {
            n = json_is_array(v) ? (lua_Integer) json_array_size(v) : 0;
        } else {
            n = (lua_Integer) lua_rawlen(L, -1);
        }
    }
    lua_pushinteger(L, n);
    return 1;
}

static int
anchor_gc(lua_State *L)
{
    json_t **root = lua_touserdata(L, 1);

    if (root != NULL && *root != NULL) {
        json_decref(*root);
        *root = NULL;
    }
    return 0;
}

static void push_value(lua_State *L, const json_t *v, int frozen, int depth);
static int lazy_load(lua_State *L);

/* Push a lazy node of container `v`; `anchor` is the stack index of the view's anchor. */
static void
push_node(lua_State *L, const json_t *v, int anchor)
{
    luaL_checkstack(L, 6, "JSON nested too deeply");
    lua_createtable(L, 0, 0); /* C */
    lua_createtable(L, 0, 3); /* Lm */
    lua_pushcfunction(L, lazy_load);
    lua_setfield(L, -2, "__index");
    lua_pushlightuserdata(L, (void *) (uintptr_t) v);
    lua_rawsetp(L, -2, &JSON_KEY);
    lua_pushvalue(L, anchor);
    lua_rawsetp(L, -2, &ANCHOR_KEY);
    lua_setmetatable(L, -2);
    gkd_luajson_readonly(L, json_is_array(v) ? GKD_LUAJSON_ARRAY : GKD_LUAJSON_OBJECT);
}

/* Push child `v` of the lazy node whose cache is at `c`: a scalar, or a new lazy node. */
static void
push_child(lua_State *L, int c, const json_t *v)
{
    if (!json_is_object(v) && !json_is_array(v)) {
        push_value(L, v, 1, 0);
        return;
    }
    lua_getmetatable(L, c);
    lua_rawgetp(L, -1, &ANCHOR_KEY);
    push_node(L, v, lua_gettop(L));
    lua_replace(L, -3);
    lua_pop(L, 1);
}

/* The child of `v` at Lua key `k`, or NULL (absent, or a key JSON cannot have there). */
static const json_t *
child_of(lua_State *L, const json_t *v, int k)
{
    if (json_is_object(v)) {
        size_t len;
        const char *s;
        if (lua_type(L, k) != LUA_TSTRING) {
            return NULL;
        }
        s = lua_tolstring(L, k, &len);
        return json_object_getn(v, s, len);
    }
    if (lua_type(L, k) == LUA_TNUMBER) {
        int isint;
        lua_Integer i = lua_tointegerx(L, k, &isint);
        if (isint && i >= 1 && (lua_Unsigned) i <= json_array_size(v)) {
            return json_array_get(v, (size_t) i - 1);
        }
    }
    return NULL;
}

/* Convert every child of the lazy node whose cache is at `c` not converted yet; mark it complete. */
static void
lazy_fill(lua_State *L, int c, const json_t *v)
{
    c = lua_absindex(L, c);
    luaL_checkstack(L, 4, "JSON nested too deeply");
    if (json_is_object(v)) {
        const char *key;
        json_t *item;
        json_object_foreach ((json_t *) (uintptr_t) v, key, item) {
            lua_pushstring(L, key);
            if (lua_rawget(L, c) == LUA_TNIL) {
                lua_pop(L, 1);
                lua_pushstring(L, key);
                push_child(L, c, item);
                lua_rawset(L, c);
            } else {
                lua_pop(L, 1);
            }
        }
    } else {
        size_t i;
        json_t *item;
        json_array_foreach (v, i, item) {
            if (lua_rawgeti(L, c, (lua_Integer) i + 1) == LUA_TNIL) {
                lua_pop(L, 1);
                push_child(L, c, item);
                lua_rawseti(L, c, (lua_Integer) i + 1);
            } else {
                lua_pop(L, 1);
            }
        }
    }
    lua_getmetatable(L, c);
    lua_pushliteral(L, "__index");
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* __index of a lazy node's cache (cache, key): convert and keep the one child asked for. */
static int
lazy_load(lua_State *L)
{
    const json_t *v = cache_json(L, 1), *child;

    if (v == NULL) {
        return 0;
    }
    child = child_of(L, v, 2);
    if (child == NULL) {
        if ((json_is_object(v) ? json_object_size(v) : json_array_size(v)) <= FILL_MAX) {
            lazy_fill(L, 1, v);
        }
        return 0;
    }
    lua_settop(L, 2);
    push_child(L, 1, child);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

static int
ro_pairs(lua_State *L)
{
    lua_pushcfunction(L, gkd_luajson_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static void
new_marker_mt(lua_State *L, const char *key, gkd_luajson_kind kind)
{
    lua_createtable(L, 0, 1);
    lua_pushinteger(L, kind);
    lua_rawsetp(L, -2, &KIND_KEY);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

void
gkd_luajson_init(lua_State *L)
{
    lua_newuserdatauv(L, 0, 0);
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "gk.null");
    lua_setfield(L, -2, "__name");
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
    new_marker_mt(L, &ARRAY_MT_KEY, GKD_LUAJSON_ARRAY);
    new_marker_mt(L, &OBJECT_MT_KEY, GKD_LUAJSON_OBJECT);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, anchor_gc);
    lua_setfield(L, -2, "__gc");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ANCHOR_MT_KEY);
}

void
gkd_luajson_push_null(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
}

int
gkd_luajson_is_null(lua_State *L, int idx)
{
    int r;

    if (lua_type(L, idx) != LUA_TUSERDATA) {
        return 0;
    }
    idx = lua_absindex(L, idx);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
    r = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    return r;
}

void
gkd_luajson_readonly(lua_State *L, gkd_luajson_kind kind)
{
    int backing = lua_absindex(L, -1);

    lua_createtable(L, 0, 0);     /* proxy */
    lua_createtable(L, 0, 6);     /* its metatable */
    lua_pushvalue(L, backing);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, ro_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, ro_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushvalue(L, backing);
    lua_rawsetp(L, -2, &BACKING_KEY);
    if (kind != GKD_LUAJSON_NONE) {
        lua_pushinteger(L, kind);
        lua_rawsetp(L, -2, &KIND_KEY);
    }
    lua_setmetatable(L, -2);
    lua_replace(L, backing);
}

int
gkd_luajson_backing(lua_State *L, int idx)
{
    const json_t *v;

    if (!proxy_cache(L, idx)) {
        return 0;
    }
    v = cache_json(L, -1);
    if (v != NULL) { /* a lazy node: complete it first, unless it is */
        int partial;
        lua_getmetatable(L, -1);
        lua_pushliteral(L, "__index");
        partial = lua_rawget(L, -2) != LUA_TNIL;
        lua_pop(L, 2);
        if (partial) {
            lazy_fill(L, -1, v);
        }
    }
    return 1;
}

gkd_luajson_kind
gkd_luajson_kind_of(lua_State *L, int idx)
{
    lua_Integer k = 0;

    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) {
        return GKD_LUAJSON_NONE;
    }
    if (lua_rawgetp(L, -1, &KIND_KEY) == LUA_TNUMBER) {
        k = lua_tointeger(L, -1);
    }
    lua_pop(L, 2);
    return k == GKD_LUAJSON_ARRAY || k == GKD_LUAJSON_OBJECT ? (gkd_luajson_kind) k
                                                             : GKD_LUAJSON_NONE;
}

/* A plain table is a sequence when its keys are exactly the integers 1..n. */
static int
is_sequence(lua_State *L, int idx)
{
    lua_Unsigned n = lua_rawlen(L, idx), count = 0;

    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return 0;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1 || (lua_Unsigned) k > n) {
            lua_pop(L, 1);
            return 0;
        }
        count++;
    }
    return count == n;
}

int
gkd_luajson_is_array(lua_State *L, int idx)
{
    gkd_luajson_kind kind = gkd_luajson_kind_of(L, idx);
    int r;

    if (kind != GKD_LUAJSON_NONE) {
        return kind == GKD_LUAJSON_ARRAY;
    }
    if (lua_type(L, idx) != LUA_TTABLE) {
        return 0;
    }
    idx = lua_absindex(L, idx);
    if (gkd_luajson_backing(L, idx)) {
        r = is_sequence(L, -1);
        lua_pop(L, 1);
        return r;
    }
    return is_sequence(L, idx);
}

int
gkd_luajson_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    if (gkd_luajson_backing(L, 1)) {
        lua_replace(L, 1);
    }
    if (lua_next(L, 1)) {
        return 2;
    }
    lua_pushnil(L);
    return 1;
}

static void
push_value(lua_State *L, const json_t *v, int frozen, int depth)
{
    const char *key;
    json_t *item;
    size_t i;

    if (depth > GKD_LUAJSON_MAX_DEPTH) {
        luaL_error(L, "JSON nested deeper than %d levels", GKD_LUAJSON_MAX_DEPTH);
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        luaL_checkstack(L, 4, "JSON nested too deeply");
        lua_createtable(L, 0, (int) json_object_size(v));
        json_object_foreach ((json_t *) (uintptr_t) v, key, item) {
            push_value(L, item, frozen, depth + 1);
            lua_setfield(L, -2, key);
        }
        if (frozen) {
            gkd_luajson_readonly(L, GKD_LUAJSON_OBJECT);
        } else {
            lua_rawgetp(L, LUA_REGISTRYINDEX, &OBJECT_MT_KEY);
            lua_setmetatable(L, -2);
        }
        break;
    case JSON_ARRAY:
        luaL_checkstack(L, 4, "JSON nested too deeply");
        lua_createtable(L, (int) json_array_size(v), 0);
        json_array_foreach (v, i, item) {
            push_value(L, item, frozen, depth + 1);
            lua_rawseti(L, -2, (lua_Integer) i + 1);
        }
        if (frozen) {
            gkd_luajson_readonly(L, GKD_LUAJSON_ARRAY);
        } else {
            lua_rawgetp(L, LUA_REGISTRYINDEX, &ARRAY_MT_KEY);
            lua_setmetatable(L, -2);
        }
        break;
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer) json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(v));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_NULL:
    default:
        gkd_luajson_push_null(L);
        break;
    }
}

void
gkd_luajson_push_shared(lua_State *L, const json_t *v)
{
    json_t **root;

    if (!json_is_object(v) && !json_is_array(v)) {
        gkd_luajson_push(L, v, 1);
        return;
    }
    root = lua_newuserdatauv(L, sizeof *root, 0);
    *root = NULL;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ANCHOR_MT_KEY);
    lua_setmetatable(L, -2);
    *root = json_incref((json_t *) (uintptr_t) v); /* nothing can fail from here on */
    push_node(L, v, lua_gettop(L));
    lua_remove(L, -2);
}

void
gkd_luajson_push(lua_State *L, const json_t *v, int frozen)
{
    if (v == NULL) {
        gkd_luajson_push_null(L);
        return;
    }
    push_value(L, v, frozen, 0);
}

/* Lua -> JSON. `path` names the value being converted, for error messages. */
struct tojson {
    char *err;
    size_t errlen;
};

static json_t *to_json(lua_State *L, int idx, struct tojson *tj, const char *path, int depth);

static json_t *
fail(struct tojson *tj, const char *path, const char *what)
{
    if (tj->err[0] == '\0') {
        snprintf(tj->err, tj->errlen, "%s: %s", path[0] ? path : "value", what);
    }
    return NULL;
}

static json_t *
table_to_json(lua_State *L, int idx, struct tojson *tj, const char *path, int depth)
{
    gkd_luajson_kind kind = gkd_luajson_kind_of(L, idx);
    int pushed = 0, t = idx;
    char sub[128];
    json_t *out = NULL, *item;

    if (depth >= GKD_LUAJSON_MAX_DEPTH) {
        return fail(tj, path, "nested too deeply (or a cycle)");
    }
    if (!lua_checkstack(L, 6)) {
        return fail(tj, path, "nested too deeply");
    }
    if (proxy_cache(L, idx)) {
        const json_t *v = cache_json(L, -1);
        if (v != NULL) { /* a shared view: its JSON as it is, whatever was converted */
            lua_pop(L, 1);
            out = json_deep_copy(v);
            return out != NULL ? out : fail(tj, path, "out of memory");
        }
        t = lua_gettop(L);
        pushed = 1;
    }
    if (kind == GKD_LUAJSON_NONE) {
        kind = is_sequence(L, t) ? GKD_LUAJSON_ARRAY : GKD_LUAJSON_OBJECT;
    }
    if (kind == GKD_LUAJSON_ARRAY) {
        lua_Unsigned n = lua_rawlen(L, t);
        out = json_array();
        for (lua_Unsigned i = 1; out != NULL && i <= n; i++) {
            snprintf(sub, sizeof sub, "%s[%llu]", path, (unsigned long long) i);
            lua_rawgeti(L, t, (lua_Integer) i);
            item = to_json(L, lua_gettop(L), tj, sub, depth + 1);
            lua_pop(L, 1);
            if (item == NULL || json_array_append_new(out, item) != 0) {
                json_decref(out);
                out = NULL;
            }
        }
    } else {
        out = json_object();
        lua_pushnil(L);
        while (out != NULL && lua_next(L, t)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                lua_pop(L, 2);
                json_decref(out);
                out = fail(tj, path, "a table with non-string keys that is not a sequence");
                break;
            }
            size_t klen;
            const char *k = lua_tolstring(L, -2, &klen);
            snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", k);
            item = to_json(L, lua_gettop(L), tj, sub, depth + 1);
            lua_pop(L, 1);
            if (item == NULL || json_object_setn_new(out, k, klen, item) != 0) {
                if (item != NULL && tj->err[0] == '\0') {
                    fail(tj, sub, "key is not valid UTF-8");
                }
                lua_pop(L, 1);
                json_decref(out);
                out = NULL;
            }
        }
    }
    if (pushed) {
        lua_pop(L, 1);
    }
    if (out == NULL) {
        return fail(tj, path, "out of memory");
    }
    return out;
}

static json_t *
to_json(lua_State *L, int idx, struct tojson *tj, const char *path, int depth)
{
    json_t *v;

    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            v = json_integer((json_int_t) lua_tointeger(L, idx));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d)) {
                return fail(tj, path, "a non-finite number cannot be JSON");
            }
            v = json_real(d);
        }
        return v != NULL ? v : fail(tj, path, "out of memory");
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        v = json_stringn(s, len);
        return v != NULL ? v : fail(tj, path, "a string that is not valid UTF-8");
    }
    case LUA_TTABLE:
        return table_to_json(L, idx, tj, path, depth);
    case LUA_TUSERDATA:
        if (gkd_luajson_is_null(L, idx)) {
            return json_null();
        }
        return fail(tj, path, "a userdata cannot be JSON");
    default:
        return fail(tj, path, lua_type(L, idx) == LUA_TFUNCTION ? "a function cannot be JSON"
                                                                : "this value cannot be JSON");
    }
}

json_t *
gkd_luajson_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
    char dummy[1];
    struct tojson tj = {err != NULL && errlen > 0 ? err : dummy,
                        err != NULL && errlen > 0 ? errlen : sizeof dummy};
    json_t *v;

    tj.err[0] = '\0';
    v = to_json(L, lua_absindex(L, idx), &tj, "", 0);
    if (v == NULL && tj.err[0] == '\0') {
        snprintf(tj.err, tj.errlen, "out of memory");
    }
    return v;
}
