local function req(op, team, roles)
  return { actor = { id = "bob", team = team, roles = roles or {} }, op = op,
           resource = { kind = "flag", key = "orders.read_v2", owner = "team-orders" } }
end

function test_owner_may_change()
  local r = run("authorize", fixture("req_owner"))
  assert_allow(r)
  assert_eq(r.trace[1].policy, "a_owner.lua")
  assert_eq(r.trace[1].source, "policies/a_owner.lua:16")
end

function test_stranger_gets_default_deny()
  local r = run("authorize", req("rollout.set", "team-x"))
  assert_deny(r)
  assert_eq(r.outcome, "default")
  assert_eq(#r.trace, 0)
end

function test_delete_needs_release_manager()
  assert_deny(run("authorize", req("flag.delete", "team-orders")))
  assert_allow(run("authorize", req("flag.delete", "team-orders", { "release-manager" })))
end

function test_hook_called_directly()
  local p = policy("a_owner")
  assert_deny(p.authorize(req("flag.delete", "team-orders")))
  assert_eq(p.authorize(req("rollout.set", "team-x")), nil)
end

function test_mask_union_and_forced_variant()
  local flag = { key = "f", variants = { "off", "on" }, defaultVariant = "off" }
  local r = run("on_evaluate", { service = "orders", force = "on" }, flag, { variant = "off" }, {})
  assert_allow(r)
  assert_eq(r.variant, "on")
  assert_eq(r.mask, { "email" })
end

function test_unknown_variant_fails_closed()
  local flag = { key = "f", variants = { "off", "on" } }
  local r = run("on_evaluate", { force = "purple" }, flag, {}, {})
  assert_eq(r.outcome, "error")
  assert_true(r.error:find("not a variant", 1, true))
end

function test_mask_hook()
  local r = run("mask", "context", { email = "a@b", plan = "gold" })
  assert_eq(r.mask, { "email", "address.street" })
end

function test_assert_error_and_json()
  assert_error(function() gk.semver_compare("1.0", "1.0.0") end, "invalid version")
  assert_eq(gk.semver_compare("1.0.0-rc.1", "1.0.0"), -1)
  assert_eq(gk.json_decode('{"a":[1,2,null]}'), { a = { 1, 2, gk.null } })
  assert_eq(gk.json_encode(gk.json_decode('{"a":[],"b":{}}')), '{"a":[],"b":{}}')
  assert_true(gk.is_array(gk.json_decode("[]")))
  assert_false(gk.is_array(gk.json_decode("{}")))
  assert_error(function() string.rep = nil end, "read%-only")
end

function test_on_change_violations()
  local r = run("on_change", { kind = "flag", op = "flag.update", key = "nope", after = {} },
                { flags = {} })
  assert_deny(r)
  assert_eq(r.trace[1].violations, { { location = "/key", message = "no such flag" } })
end
