-- Tests of security.lua: roles, protected environments, reasons, owners of rolled-out flags.

local WHY = "every change needs a reason: pass --why with at least 10 characters"

local function copy(v)
  if type(v) ~= "table" or v == gk.null then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return c
end

-- A request like fixture `base` with `fields` replaced (one level deep in actor/resource/args).
local function req_with(base, fields)
  local r = copy(fixture(base))
  for k, v in pairs(fields) do
    if type(v) == "table" and type(r[k]) == "table" and v ~= gk.null then
      for k2, v2 in pairs(v) do r[k][k2] = v2 end
    else
      r[k] = v
    end
  end
  return r
end

local function authorize(req) return policy("security").authorize(req) end
local function on_change(change, state) return policy("security").on_change(change, state) end

local VIEWER = { id = "vic", team = "team-orders", roles = { "viewer" } }
local ADMIN = { id = "root", team = "team-platform", roles = { "admin" } }
local AUTHOR = { id = "pat", team = "team-security", roles = { "policy-author" } }

-- The tables are the policy: pin the parts reviewers care most about.
function test_tables_as_shipped()
  local s = policy("security")
  assert_eq(s.PROTECTED_ENVIRONMENTS, { prod = { "release-manager", "admin" } })
  assert_eq(s.OP_ROLES["policy.reload"], { "policy-author" })
  assert_eq(s.OP_ROLES["rollout.set"], { "owner", "release-manager", "admin" })
  assert_eq(s.OP_ROLES["rollout.plan"], { "owner", "release-manager", "admin" })
  assert_eq(s.OP_ROLES["flag.update"], { "owner", "admin" })
  assert_eq(s.OP_ROLES["schema.register"], { "owner", "admin" })
  assert_eq(s.OP_ROLES["consumer.register"], { "owner", "admin" })
  assert_eq(s.OP_ROLES["backfill.done"], { "owner", "release-manager", "admin" })
  assert_true(s.READ_OPS["schema.read"])
  assert_eq(s.MIN_WHY_CHARS, 10)
end

-- reads ---------------------------------------------------------------------------------

function test_viewer_may_read()
  for _, op in ipairs({ "flag.get", "flag.list", "audit.read", "status", "schema.read" }) do
    local v = authorize(req_with("req_rollout_prod", { op = op, actor = VIEWER, why = gk.null }))
    assert_allow(v, op)
    assert_eq(v.reason, "viewer may " .. op)
  end
end

function test_actor_without_roles_may_not_read()
  local req = req_with("req_rollout_prod", { op = "flag.get", actor = { roles = {} } })
  assert_eq(authorize(req), nil, "security abstains")
  assert_deny(run("authorize", req), "and the authorize default denies")
end

-- roles for changes ------------------------------------------------------------------------

function test_viewer_may_not_change()
  local v = authorize(req_with("req_flag_update_staging", { actor = VIEWER }))
  assert_deny(v)
  assert_eq(v.reason, "flag.update needs the role owner or admin; vic holds viewer")
end

function test_actor_without_roles_may_not_change()
  local v = authorize(req_with("req_flag_update_staging", { actor = { roles = gk.null } }))
  assert_deny(v)
  assert_eq(v.reason, "flag.update needs the role owner or admin; olga holds none")
end

function test_owner_role_may_change_outside_prod()
  local v = authorize(fixture("req_flag_update_staging"))
  assert_allow(v)
  assert_eq(v.reason, "owner may flag.update in staging")
end

function test_release_manager_may_not_update_a_flag()
  local v = authorize(req_with("req_flag_update_staging", { actor = { roles = { "release-manager" } } }))
  assert_deny(v)
  assert_eq(v.reason, "flag.update needs the role owner or admin; olga holds release-manager")
end

function test_unknown_op_is_left_to_others()
  assert_eq(authorize(req_with("req_rollout_prod", { op = "flag.frobnicate" })), nil)
end

-- protected environments -------------------------------------------------------------------

function test_release_manager_may_change_prod()
  local v = authorize(fixture("req_rollout_prod"))
  assert_allow(v)
  assert_eq(v.reason, "release-manager may rollout.set in prod")
end

function test_admin_may_change_prod()
  local v = authorize(req_with("req_flag_update_staging", { actor = ADMIN, environment = "prod" }))
  assert_allow(v)
  assert_eq(v.reason, "admin may flag.update in prod")
end

function test_owner_may_not_change_prod()
  local v = authorize(req_with("req_flag_update_staging", { environment = "prod" }))
  assert_deny(v)
  assert_eq(v.reason, "only a release-manager or an admin may change anything in prod;"
    .. " olga may not flag.update there")
end

-- policy.reload -------------------------------------------------------------------------

local function reload(actor, env)
  return { actor = actor, op = "policy.reload", resource = { kind = "policy", key = "privacy.lua" },
    environment = env, why = "mask customer_first_name too", args = {} }
end

function test_policy_author_may_reload_policies()
  local v = authorize(reload(AUTHOR, "prod"))
  assert_allow(v)
  assert_eq(v.reason, "policy-author may policy.reload in prod")
end

function test_policy_reload_needs_policy_author_even_for_admin()
  local v = authorize(reload(ADMIN, "prod"))
  assert_deny(v)
  assert_eq(v.reason, "policy.reload needs the role policy-author; root holds admin")
  assert_deny(authorize(reload({ id = "rita", team = "team-platform", roles = { "release-manager" } }, "prod")))
end

function test_policy_reload_needs_a_reason()
  local req = reload(AUTHOR, "prod")
  req.why = "fix"
  local v = authorize(req)
  assert_deny(v)
  assert_eq(v.reason, WHY)
end

-- reasons --------------------------------------------------------------------------------

function test_change_without_why_is_denied()
  for _, why in ipairs({ gk.null, "", "         ", "too short", "  \t short \n   ", 42 }) do
    local v = authorize(req_with("req_rollout_prod", { why = why }))
    assert_deny(v, tostring(why))
    assert_eq(v.reason, WHY)
  end
  local req = copy(fixture("req_rollout_prod"))
  req.why = nil
  assert_eq(authorize(req).reason, WHY)
end

function test_why_of_ten_characters_after_trimming_is_enough()
  assert_allow(authorize(req_with("req_rollout_prod", { why = "   canary 10%   " })))
  assert_true(policy("security").has_reason("0123456789"))
  assert_false(policy("security").has_reason(" 012345678 "))
end

function test_why_counts_characters_not_bytes()
  assert_false(policy("security").has_reason("éééééé"), "6 characters in 12 bytes")
  assert_true(policy("security").has_reason("réglage fin"), "11 characters")
end

function test_reads_need_no_why()
  assert_allow(authorize(req_with("req_rollout_prod", { op = "audit.read", why = gk.null })))
end

function test_on_change_needs_a_why()
  local change = fixture("change_flag_update")
  assert_eq(on_change(change, fixture("state_orders")), nil)
  change.why = "  tweak  "
  local v = on_change(change, fixture("state_orders"))
  assert_deny(v)
  assert_eq(v.reason, WHY)
  change.why = nil
  assert_deny(on_change(change, fixture("state_orders")))
end

-- flags without an owner --------------------------------------------------------------------

function test_rollout_of_a_flag_without_owner_is_denied()
  for _, op in ipairs({ "rollout.set", "rollout.advance" }) do
    local v = authorize(req_with("req_rollout_prod", { op = op,
      resource = { key = "orders.legacy_export", owner = gk.null } }))
    assert_deny(v, op)
    assert_eq(v.reason, "flag orders.legacy_export has no owner: give it an owner (flag.update) before " .. op)
  end
end

function test_rollback_of_a_flag_without_owner_is_allowed()
  assert_allow(authorize(req_with("req_rollout_prod", { op = "rollout.back",
    resource = { key = "orders.legacy_export", owner = gk.null } })))
  assert_allow(authorize(req_with("req_rollout_prod", { op = "flag.kill",
    resource = { key = "orders.legacy_export", owner = gk.null } })))
end

function test_on_change_rollout_of_a_flag_without_owner_is_denied()
  local state = fixture("state_orders")
  local change = { actor = fixture("req_rollout_prod").actor, op = "rollout.set", kind = "flag",
    key = "orders.legacy_export", before = copy(state.flags["orders.legacy_export"]),
    after = copy(state.flags["orders.legacy_export"]), why = "export for tenant slice 1",
    environment = "prod" }
  change.after.rollout = { off = 95000, on = 5000 }
  local v = on_change(change, state)
  assert_deny(v)
  assert_eq(v.reason, "flag orders.legacy_export has no owner: give it an owner (flag.update) before rollout.set")
  change.key, change.before, change.after = "orders.read_v2", copy(state.flags["orders.read_v2"]),
    copy(state.flags["orders.read_v2"])
  assert_eq(on_change(change, state), nil)
end

-- combined with the other policies ----------------------------------------------------------

local function by_policy(r)
  local t = {}
  for _, e in ipairs(r.trace) do t[e.policy] = e end
  return t
end

function test_run_release_manager_of_another_team_may_set_a_prod_rollout()
  local r = run("authorize", fixture("req_rollout_prod"))
  assert_allow(r)
  local t = by_policy(r)
  assert_eq(t["security.lua"].reason, "release-manager may rollout.set in prod")
  assert_eq(t["ownership.lua"].reason, "release-manager may rollout.set flag orders.read_v2 of team-orders")
end

function test_run_viewer_may_not_set_a_prod_rollout()
  local r = run("authorize", req_with("req_rollout_prod", { actor = VIEWER }))
  assert_deny(r)
  assert_eq(by_policy(r)["security.lua"].reason,
    "rollout.set needs the role owner, release-manager or admin; vic holds viewer")
end

function test_run_owner_team_may_not_set_a_prod_rollout_alone()
  local r = run("authorize", req_with("req_rollout_prod", { actor = { id = "olga", team = "team-orders",
    roles = { "owner" } } }))
  assert_deny(r)
  local t = by_policy(r)
  assert_eq(t["ownership.lua"].verdict, "allow")
  assert_eq(t["security.lua"].verdict, "deny")
end

function test_run_release_manager_without_why_is_denied()
  local r = run("authorize", req_with("req_rollout_prod", { why = "canary" }))
  assert_deny(r)
  assert_eq(by_policy(r)["security.lua"].reason, WHY)
end

function test_run_viewer_may_read_prod()
  local r = run("authorize", req_with("req_rollout_prod", { op = "flag.get", actor = VIEWER, why = gk.null }))
  assert_allow(r)
end

function test_run_on_change_without_why_is_denied()
  local change = fixture("change_flag_update")
  change.why = "x"
  local r = run("on_change", change, fixture("state_orders"))
  assert_deny(r)
  assert_eq(by_policy(r)["security.lua"].reason, WHY)
end
