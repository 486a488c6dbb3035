/*
 * luajson_test.c - JSON <-> Lua conversion (gatekeeper/luajson.c): round trips that keep the
 * object/array distinction and null, read-only proxies, gk.is_array rules and refusals.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "luajson.h"

static lua_State *L;

static int
init_cfn(lua_State *l)
{
    gkd_luajson_init(l);
    return 0;
}

static void
setup(void)
{
    L = luaL_newstate();
    ck_assert_ptr_nonnull(L);
    luaL_openlibs(L);
    lua_pushcfunction(L, init_cfn);
    ck_assert_int_eq(lua_pcall(L, 0, 0, 0), LUA_OK);
}

static void
teardown(void)
{
    lua_close(L);
}

struct push_arg {
    json_t *v;
    int frozen;
};

static int
push_cfn(lua_State *l)
{
    struct push_arg *a = lua_touserdata(l, 1);
    gkd_luajson_push(l, a->v, a->frozen);
    return 1;
}

/* Push the JSON text as Lua (protected). */
static void
push(const char *text, int frozen)
{
    json_error_t e;
    struct push_arg a = {json_loads(text, JSON_DECODE_ANY, &e), frozen};

    ck_assert_msg(a.v != NULL, "%s", e.text);
    lua_pushcfunction(L, push_cfn);
    lua_pushlightuserdata(L, &a);
    ck_assert_int_eq(lua_pcall(L, 1, 1, 0), LUA_OK);
    json_decref(a.v);
}

static void
round_trip(const char *text, int frozen)
{
    char err[160];
    json_t *back;
    char *s;

    push(text, frozen);
    back = gkd_luajson_to_json(L, -1, err, sizeof err);
    ck_assert_msg(back != NULL, "%s: %s", text, err);
    json_t *orig = json_loads(text, JSON_DECODE_ANY, NULL);
    s = json_dumps(back, JSON_COMPACT | JSON_ENCODE_ANY);
    ck_assert_msg(json_equal(back, orig), "%s became %s", text, s);
    ck_assert_int_eq(json_typeof(back), json_typeof(orig)); /* [] stays [], {} stays {} */
    free(s);
    json_decref(orig);
    json_decref(back);
    lua_pop(L, 1);
}

START_TEST(test_round_trip)
{
    static const char *const cases[] = {
        "{}", "[]", "null", "true", "false", "42", "-7", "1.5", "\"h\xc3\xa9\"",
        "{\"a\":[1,2,{\"b\":null}],\"c\":{}}", "[[],{},[null,null]]", "{\"x\":[]}",
        "9007199254740993"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        round_trip(cases[i], 0);
        round_trip(cases[i], 1);
    }
}
END_TEST

START_TEST(test_null_sentinel)
{
    push("[null]", 0);
    lua_rawgeti(L, -1, 1);
    ck_assert(gkd_luajson_is_null(L, -1));
    ck_assert(!gkd_luajson_is_null(L, -2));
    lua_pop(L, 2);
}
END_TEST

START_TEST(test_is_array)
{
    push("[]", 0);
    ck_assert(gkd_luajson_is_array(L, -1));
    push("{}", 0);
    ck_assert(!gkd_luajson_is_array(L, -1));
    push("{}", 1);
    ck_assert(!gkd_luajson_is_array(L, -1));
    push("[1]", 1);
    ck_assert(gkd_luajson_is_array(L, -1));
    ck_assert_int_eq(gkd_luajson_kind_of(L, -1), GKD_LUAJSON_ARRAY);
    lua_newtable(L);
    ck_assert(gkd_luajson_is_array(L, -1)); /* an empty Lua table */
    ck_assert_int_eq(luaL_dostring(L, "return {1, 2, 3}"), LUA_OK);
    ck_assert(gkd_luajson_is_array(L, -1));
    ck_assert_int_eq(luaL_dostring(L, "return {1, 2, x = 3}"), LUA_OK);
    ck_assert(!gkd_luajson_is_array(L, -1));
    lua_pushinteger(L, 1);
    ck_assert(!gkd_luajson_is_array(L, -1));
    lua_settop(L, 0);
}
END_TEST

START_TEST(test_lua_tables_to_json)
{
    char err[160];
    json_t *v;
    char *s;

    ck_assert_int_eq(luaL_dostring(L, "return {a = {1, 2}, b = {}, c = 'x', d = 2.5}"), LUA_OK);
    v = gkd_luajson_to_json(L, -1, err, sizeof err);
    ck_assert_ptr_nonnull(v);
    s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(s, "{\"a\":[1,2],\"b\":[],\"c\":\"x\",\"d\":2.5}");
    free(s);
    json_decref(v);
    lua_settop(L, 0);
}
END_TEST

static void
refuse(const char *lua, const char *want)
{
    char err[160];

    ck_assert_int_eq(luaL_dostring(L, lua), LUA_OK);
    ck_assert_ptr_null(gkd_luajson_to_json(L, -1, err, sizeof err));
    ck_assert_msg(strstr(err, want) != NULL, "%s: \"%s\" lacks \"%s\"", lua, err, want);
    lua_settop(L, 0);
}

START_TEST(test_refusals)
{
    refuse("return {f = print}", "f: a function cannot be JSON");
    refuse("return {1, 2, x = 3}", "non-string keys");
    refuse("return {a = {b = {0/0}}}", "a.b[1]: a non-finite number");
    refuse("return '\\xff'", "not valid UTF-8");
    refuse("local t = {} t.t = t return t", "nested too deeply");
    refuse("return io.stdout", "userdata");
}
END_TEST

START_TEST(test_depth_limit)
{
    char text[2 * GKD_LUAJSON_MAX_DEPTH + 10];
    struct push_arg a;
    json_error_t e;
    size_t n = GKD_LUAJSON_MAX_DEPTH + 2;

    for (size_t i = 0; i < n; i++) {
        text[i] = '[';
        text[2 * n - 1 - i] = ']';
    }
    text[2 * n] = '\0';
    a.v = json_loads(text, 0, &e);
    a.frozen = 0;
    ck_assert_ptr_nonnull(a.v);
    lua_pushcfunction(L, push_cfn);
    lua_pushlightuserdata(L, &a);
    ck_assert_int_eq(lua_pcall(L, 1, 1, 0), LUA_ERRRUN);
    ck_assert_ptr_nonnull(strstr(lua_tostring(L, -1), "deeper"));
    json_decref(a.v);
    lua_settop(L, 0);
}
END_TEST

START_TEST(test_frozen_proxy)
{
    push("{\"a\":[1,2,3],\"b\":{\"c\":\"d\"}}", 1);
    lua_setglobal(L, "s");
    lua_pushcfunction(L, gkd_luajson_next);
    lua_setglobal(L, "gnext");
    ck_assert_int_eq(luaL_dostring(L, "return #s.a, s.b.c, s.a[3]"), LUA_OK);
    ck_assert_int_eq(lua_tointeger(L, -3), 3);
    ck_assert_str_eq(lua_tostring(L, -2), "d");
    ck_assert_int_eq(lua_tointeger(L, -1), 3);
    lua_settop(L, 0);
    ck_assert_int_eq(luaL_dostring(L, "local n = 0 for k, v in pairs(s) do n = n + 1 end "
                                      "for i, v in ipairs(s.a) do n = n + v end "
                                      "for k, v in gnext, s do n = n + 100 end return n"),
                     LUA_OK);
    ck_assert_int_eq(lua_tointeger(L, -1), 208);
    lua_settop(L, 0);
    ck_assert_int_ne(luaL_dostring(L, "s.x = 1"), LUA_OK);
    ck_assert_ptr_nonnull(strstr(lua_tostring(L, -1), "read-only"));
    ck_assert_int_ne(luaL_dostring(L, "s.a[1] = 5"), LUA_OK);
    ck_assert_int_ne(luaL_dostring(L, "table.insert(s.a, 4)"), LUA_OK);
    lua_settop(L, 0);
    ck_assert_int_eq(luaL_dostring(L, "return s.a[1]"), LUA_OK);
    ck_assert_int_eq(lua_tointeger(L, -1), 1);
    lua_settop(L, 0);
}
END_TEST

static Suite *
luajson_suite(void)
{
    Suite *s = suite_create("luajson");
    TCase *tc = tcase_create("convert");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_null_sentinel);
    tcase_add_test(tc, test_is_array);
    tcase_add_test(tc, test_lua_tables_to_json);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_frozen_proxy);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(luajson_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
