/*
 * policy_api.c - the `gk` table exposed to policies (policies/README.md, "The gk table").
 *
 * Functions that hold C memory while calling something that may raise (json_decode, json_encode)
 * do the raising part in a nested lua_pcall ("push_protected"), so a memory error cannot leak.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "clock.h"
#include "log.h"
#include "luajson.h"
#include "policy_api.h"
#include "semver.h"

/* Where the Lua caller of the running C function is: "policies/x.lua:12" (or "?"). */
static void
caller_where(lua_State *L, char *buf, size_t len)
{
    lua_Debug ar;

    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
        snprintf(buf, len, "%.80s:%d", ar.short_src, ar.currentline);
    } else {
        snprintf(buf, len, "?");
    }
}

static int
verdict(lua_State *L, const char *which)
{
    lua_Debug ar;

    if (!lua_isnoneornil(L, 1) && lua_type(L, 1) != LUA_TSTRING) {
        return luaL_argerror(L, 1, "reason must be a string or nil");
    }
    if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TTABLE) {
        return luaL_argerror(L, 2, "extra must be a table or nil");
    }
    lua_settop(L, 2);
    lua_createtable(L, 0, 4);
    if (lua_istable(L, 2)) {
        int t = 2, pushed = gkd_luajson_backing(L, 2);
        if (pushed) {
            t = lua_gettop(L);
            lua_insert(L, 3); /* table stays on top */
            t = 3;
        }
        lua_pushnil(L);
        while (lua_next(L, t)) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -4);
        }
    }
    lua_pushstring(L, which);
    lua_setfield(L, -2, "verdict");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "reason");
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
        lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
        lua_setfield(L, -2, "source");
    }
    return 1;
}

static int
api_allow(lua_State *L)
{
    return verdict(L, "allow");
}

static int
api_deny(lua_State *L)
{
    return verdict(L, "deny");
}

/* gk.now_ms() - the wall clock in milliseconds since the Unix epoch (a date, not a duration). */
static int
api_now_ms(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer) (gkd_clock_wall_us() / 1000));
    return 1;
}

static int
api_semver_compare(lua_State *L)
{
    size_t la, lb;
    const char *a = luaL_checklstring(L, 1, &la), *b = luaL_checklstring(L, 2, &lb);
    gkd_semver va, vb;
    int c;

    if (!gkd_semver_parse(&va, a, la)) {
        return luaL_error(L, "gk.semver_compare: invalid version \"%s\"", a);
    }
    if (!gkd_semver_parse(&vb, b, lb)) {
        return luaL_error(L, "gk.semver_compare: invalid version \"%s\"", b);
    }
    c = gkd_semver_cmp(&va, &vb);
    lua_pushinteger(L, c < 0 ? -1 : c > 0 ? 1 : 0);
    return 1;
}

static int
api_log(lua_State *L)
{
    const char *level = luaL_checkstring(L, 1);
    const char *msg = luaL_checkstring(L, 2);
    gkd_log_level lv;
    char where[96];

    if (gkd_log_parse_level(level, &lv) != 0) {
        return luaL_argerror(L, 1, "level must be \"debug\", \"info\", \"warn\" or \"error\"");
    }
    caller_where(L, where, sizeof where);
    gkd_log(lv, "%s: %s", where, msg);
    return 0;
}

int
gkd_policy_api_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    char where[96];

    caller_where(L, where, sizeof where);
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) {
            luaL_addchar(&b, '\t');
        }
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    gkd_log(GKD_LOG_INFO, "%s: print: %s", where, lua_tostring(L, -1));
    return 0;
}

static int
push_json_cfn(lua_State *L)
{
    gkd_luajson_push(L, lua_touserdata(L, 1), 0);
    return 1;
}

static int
push_string_cfn(lua_State *L)
{
    lua_pushstring(L, lua_touserdata(L, 1));
    return 1;
}

/* Call `fn` with the light userdata `p` protected; on error re-raise after the caller frees. */
static int
push_protected(lua_State *L, lua_CFunction fn, void *p)
{
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, p);
    return lua_pcall(L, 1, 1, 0);
}

static int
api_json_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    int st;

    if (v == NULL) {
        return luaL_error(L, "gk.json_decode: line %d column %d: %s", jerr.line, jerr.column,
                          jerr.text);
    }
    st = push_protected(L, push_json_cfn, v);
    json_decref(v);
    if (st != LUA_OK) {
        return lua_error(L);
    }
    return 1;
}

static int
api_json_encode(lua_State *L)
{
    char err[160];
    json_t *v;
    char *s;
    int st;

    luaL_checkany(L, 1);
    v = gkd_luajson_to_json(L, 1, err, sizeof err);
    if (v == NULL) {
        return luaL_error(L, "gk.json_encode: %s", err);
    }
    s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(v);
    if (s == NULL) {
        return luaL_error(L, "gk.json_encode: out of memory");
    }
    st = push_protected(L, push_string_cfn, s);
    free(s);
    if (st != LUA_OK) {
        return lua_error(L);
    }
    return 1;
}

static int
api_is_array(lua_State *L)
{
    lua_pushboolean(L, gkd_luajson_is_array(L, 1));
    return 1;
}

void
gkd_policy_api_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"allow", api_allow},
                                   {"deny", api_deny},
                                   {"now_ms", api_now_ms},
                                   {"semver_compare", api_semver_compare},
                                   {"log", api_log},
                                   {"json_decode", api_json_decode},
                                   {"json_encode", api_json_encode},
                                   {"is_array", api_is_array},
                                   {NULL, NULL}};

    luaL_newlib(L, fns);
    gkd_luajson_push_null(L);
    lua_setfield(L, -2, "null");
    gkd_luajson_readonly(L, GKD_LUAJSON_NONE);
}
