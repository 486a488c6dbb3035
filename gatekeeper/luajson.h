/*
 * luajson.h - JSON (jansson json_t) <-> Lua value conversion for the policy sandbox.
 *
 * JSON objects become tables, arrays become sequences (1-based), null becomes the `gk.null`
 * sentinel (a full userdata, one per lua_State). Every table made from JSON remembers whether it was
 * an object or an array (a marker in its metatable, which policies cannot reach: getmetatable is not
 * in the sandbox), so an empty object and an empty array convert back to what they were.
 *
 * Three shapes: mutable (plain tables with a shared marker metatable: arguments that are fresh per
 * call), frozen (read-only proxies: an empty table whose metatable has __index = the backing
 * table, __newindex raising an error, __len and __pairs forwarding; for values shared between
 * calls) and shared views (read-only proxies like frozen ones whose backing tables fill on demand
 * from a json_t the view keeps a reference on: each container is converted, one level at a time,
 * when a policy first reaches it; for the state, whose size is paid once by the snapshot's JSON
 * and not again in every lua_State). The sandbox's `next` is replaced by gkd_luajson_next, which
 * sees through proxies.
 *
 * Lua -> JSON: nil and gk.null give null; booleans, integers, floats (finite), UTF-8 strings;
 * tables marked array/object convert as marked; other tables are arrays when they are a sequence
 * 1..n (the empty table included) and objects when every key is a string. Functions, other userdata,
 * mixed keys, non-finite numbers, invalid UTF-8 and nesting deeper than GKD_LUAJSON_MAX_DEPTH are
 * errors.
 *
 * Errors: the push functions may raise Lua errors (memory); call them in protected mode. So may
 * every read of a shared view that converts (a policy's index, `next`, gkd_luajson_backing).
 * gkd_luajson_to_json never raises.
 *
 * THREAD SAFETY: as the lua_State: one thread at a time.
 */
#ifndef GKD_LUAJSON_H
#define GKD_LUAJSON_H

#include <stddef.h>

#include <jansson.h>
#include <lua.h>

/* Deepest nesting converted in either direction. */
#define GKD_LUAJSON_MAX_DEPTH 64

typedef enum gkd_luajson_kind {
    GKD_LUAJSON_NONE = 0, /* not a table made from JSON (or not a table) */
    GKD_LUAJSON_ARRAY,
    GKD_LUAJSON_OBJECT,
} gkd_luajson_kind;

/*
 * gkd_luajson_init - create the per-state registry entries (the null sentinel, the marker
 * metatables and the read-only proxy metamethods). Call once per lua_State, in protected mode.
 */
void gkd_luajson_init(lua_State *L);

/*
 * gkd_luajson_push - push `v` as a Lua value: mutable tables when frozen is 0, read-only proxies
 * otherwise. NULL pushes gk.null. Raises on memory errors and on nesting deeper than
 * GKD_LUAJSON_MAX_DEPTH.
 */
void gkd_luajson_push(lua_State *L, const json_t *v, int frozen);

/*
 * gkd_luajson_push_shared - push a read-only view of `v` (an object or array; other values are
 * pushed as gkd_luajson_push does with frozen 1). Nothing below the top level is converted yet:
 * a container is converted when first read (its scalars, and a lazy view of each of its
 * containers), then kept, so a read returns the same table each time; iterating a container (or
 * gkd_luajson_backing on it) converts all of its children at once. Reads and iteration behave as
 * for a frozen proxy (unknown keys give nil, `#` and ipairs follow the JSON array), except that
 * nesting is not limited to GKD_LUAJSON_MAX_DEPTH and gkd_luajson_to_json copies the JSON.
 * v  takes a reference of its own, dropped when the last table of the view is collected; `v` must
 *    not change while the view exists (it may be shared by several lua_States: jansson's
 *    reference count is atomic). Raises on memory errors.
 * Cost: four small tables per container reached (about 0.5 KiB), nothing for the rest.
 */
void gkd_luajson_push_shared(lua_State *L, const json_t *v);

/* gkd_luajson_push_null - push the gk.null sentinel. */
void gkd_luajson_push_null(lua_State *L);

/* gkd_luajson_is_null - non-zero when the value at idx is gk.null. Never raises. */
int gkd_luajson_is_null(lua_State *L, int idx);

/*
 * gkd_luajson_readonly - replace the table at the top of the stack by a read-only proxy of it
 * (kind recorded as given). Raises on memory errors.
 */
void gkd_luajson_readonly(lua_State *L, gkd_luajson_kind kind);

/*
 * gkd_luajson_backing - if the value at idx is a read-only proxy, push its backing table and
 * return 1; else push nothing and return 0. The backing table of a shared view is completed first
 * (every child converted), which may raise a memory error; otherwise never raises (needs one free
 * stack slot).
 */
int gkd_luajson_backing(lua_State *L, int idx);

/* gkd_luajson_kind_of - the JSON kind recorded for the table at idx (proxies included). */
gkd_luajson_kind gkd_luajson_kind_of(lua_State *L, int idx);

/*
 * gkd_luajson_is_array - the sandbox's `gk.is_array` rule: a table marked array, or an unmarked
 * table that is a sequence 1..n with no other keys (the empty table included).
 */
int gkd_luajson_is_array(lua_State *L, int idx);

/*
 * gkd_luajson_to_json - convert the value at idx to a new json_t (caller owns it).
 * err  on failure: what and where, e.g. "violations[2].message: a function cannot be JSON".
 * Returns the value, or NULL on error (err filled). Never raises.
 */
json_t *gkd_luajson_to_json(lua_State *L, int idx, char *err, size_t errlen);

/* gkd_luajson_next - lua_CFunction: `next` that iterates a proxy's backing table. */
int gkd_luajson_next(lua_State *L);

#endif
