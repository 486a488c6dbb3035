-- Tests of ownership.lua: who may change a flag, a schema or a consumer.

local function copy(v)
  if type(v) ~= "table" or v == gk.null then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return c
end

-- A request like `base` with `fields` replaced (shallow, at the top level and in actor/resource/args).
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

local function authorize(req) return policy("ownership").authorize(req) end
local function on_change(change, state) return policy("ownership").on_change(change, state) end

-- The role table is the policy: pin it so that a change to it shows in review.
function test_role_overrides_as_shipped()
  assert_eq(policy("ownership").ROLE_OVERRIDES, {
    ["*"] = { "admin" },
    ["rollout.set"] = { "release-manager" },
    ["rollout.advance"] = { "release-manager" },
    ["rollout.back"] = { "release-manager" },
    ["rollout.plan"] = { "release-manager" },
    ["rollout.pause"] = { "release-manager" },
    ["rollout.resume"] = { "release-manager" },
    ["optin.add"] = { "release-manager" },
    ["optin.remove"] = { "release-manager" },
    ["flag.kill"] = { "release-manager" },
    ["flag.unkill"] = { "release-manager" },
    ["backfill.done"] = { "release-manager" },
  })
end

-- authorize: members of the owner team --------------------------------------------------------

function test_owner_team_may_change_its_flag()
  local v = authorize(fixture("req_flag_update_staging"))
  assert_allow(v)
  assert_eq(v.reason, "owner team-orders may change its own flag orders.read_v2")
end

function test_other_team_may_not_change_a_flag()
  local v = authorize(req_with("req_flag_update_staging", { actor = { id = "bea", team = "team-billing" } }))
  assert_deny(v)
  assert_eq(v.reason, "only team-orders or an admin may flag.update flag orders.read_v2")
end

function test_actor_without_team_may_not_change_a_flag()
  local v = authorize(req_with("req_flag_update_staging", { actor = { team = gk.null } }))
  assert_deny(v)
end

function test_owner_team_may_register_its_schema()
  local v = authorize({ actor = { id = "olga", team = "team-orders", roles = { "owner" } },
    op = "schema.register", resource = { kind = "schema", key = "orders", owner = "team-orders" },
    environment = "staging", why = "add customer_first_name", args = {} })
  assert_allow(v)
  assert_eq(v.reason, "owner team-orders may change its own schema orders")
end

function test_other_team_may_not_register_a_schema_version()
  local v = authorize({ actor = { id = "bea", team = "team-billing", roles = { "owner" } },
    op = "schema.register", resource = { kind = "schema", key = "orders", owner = "team-orders" },
    environment = "staging", why = "add customer_first_name", args = {} })
  assert_deny(v)
  assert_eq(v.reason, "only team-orders or an admin may schema.register schema orders")
end

function test_consumer_belongs_to_its_team()
  local req = { actor = { id = "bea", team = "team-billing", roles = { "owner" } },
    op = "consumer.register", resource = { kind = "consumer", key = "billing", owner = "team-billing" },
    environment = "staging", why = "billing reads orders v2", args = {} }
  assert_allow(authorize(req))
  req.actor.team = "team-data"
  local v = authorize(req)
  assert_deny(v)
  assert_eq(v.reason, "only team-billing or an admin may consumer.register consumer billing")
end

-- authorize: roles that act across teams -----------------------------------------------------

function test_release_manager_may_set_a_rollout_of_any_team()
  local v = authorize(fixture("req_rollout_prod"))
  assert_allow(v)
  assert_eq(v.reason, "release-manager may rollout.set flag orders.read_v2 of team-orders")
end

function test_release_manager_ops()
  for _, op in ipairs({ "rollout.set", "rollout.advance", "rollout.back", "flag.kill", "flag.unkill" }) do
    assert_allow(authorize(req_with("req_rollout_prod", { op = op })), op)
  end
end

function test_release_manager_may_not_update_another_teams_flag()
  local v = authorize(req_with("req_rollout_prod", { op = "flag.update" }))
  assert_deny(v)
  assert_eq(v.reason, "only team-orders or an admin may flag.update flag orders.read_v2")
end

function test_other_team_may_not_set_a_rollout()
  local v = authorize(req_with("req_rollout_prod", { actor = { id = "bea", team = "team-billing",
    roles = { "owner" } } }))
  assert_deny(v)
  assert_eq(v.reason, "only team-orders, a release-manager or an admin may rollout.set flag orders.read_v2")
end

function test_admin_may_change_anything()
  local v = authorize(req_with("req_flag_update_staging", { op = "flag.delete",
    actor = { id = "root", team = "team-platform", roles = { "admin" } } }))
  assert_allow(v)
  assert_eq(v.reason, "admin may flag.delete flag orders.read_v2 of team-orders")
end

-- authorize: resources without an owner ------------------------------------------------------

function test_new_flag_may_be_created_for_the_actors_team()
  local req = req_with("req_flag_update_staging", { op = "flag.create",
    resource = { key = "orders.write_v2", owner = gk.null } })
  local v = authorize(req)
  assert_allow(v)
  assert_eq(v.reason, "flag orders.write_v2 has no owner yet: team-orders may take it as owner")
  req.args = {}
  req.resource.owner = nil
  assert_allow(authorize(req), "no owner named: the actor's team")
end

function test_new_flag_may_not_be_created_for_another_team()
  local v = authorize(req_with("req_flag_update_staging", { op = "flag.create",
    resource = { key = "orders.write_v2", owner = gk.null }, args = { owner = "team-billing" } }))
  assert_deny(v)
  assert_eq(v.reason, "flag orders.write_v2 has no owner yet: team-orders may take it only as its"
    .. " own, not for team-billing")
end

function test_new_flag_needs_an_actor_with_a_team()
  local v = authorize(req_with("req_flag_update_staging", { op = "flag.create",
    actor = { id = "bot", team = gk.null, roles = { "owner" } },
    resource = { key = "orders.write_v2", owner = gk.null }, args = {} }))
  assert_deny(v)
  assert_eq(v.reason, "flag orders.write_v2 has no owner yet, and the actor bot has no team to own it")
end

-- authorize: not its business --------------------------------------------------------------

function test_read_ops_and_other_kinds_abstain()
  for _, op in ipairs({ "flag.get", "flag.list", "audit.read", "status" }) do
    assert_eq(authorize(req_with("req_flag_update_staging", { op = op,
      actor = { team = "team-billing", roles = { "viewer" } } })), nil, op)
  end
  assert_eq(authorize({ actor = { id = "pat", team = "team-security", roles = { "policy-author" } },
    op = "policy.reload", resource = { kind = "policy", key = "privacy.lua" }, why = "tighten masks" }),
    nil)
end

-- authorize: ownership.transfer ------------------------------------------------------------

function test_transfer_with_both_approvals()
  local v = authorize(fixture("req_ownership_transfer"))
  assert_allow(v)
  assert_eq(v.reason, "ownership of flag orders.read_v2 moves from team-orders to team-billing"
    .. " with both teams' approval")
  -- the receiving team may ask too
  assert_allow(authorize(req_with("req_ownership_transfer", { actor = { team = "team-billing" } })))
end

function test_transfer_names_the_missing_team()
  local v = authorize(req_with("req_ownership_transfer", { args = { approvals = { "team-orders" } } }))
  assert_deny(v)
  assert_eq(v.reason, "ownership.transfer of flag orders.read_v2 from team-orders to team-billing"
    .. " needs the approval of team-billing")
  v = authorize(req_with("req_ownership_transfer", { args = { approvals = { "team-billing" } } }))
  assert_eq(v.reason, "ownership.transfer of flag orders.read_v2 from team-orders to team-billing"
    .. " needs the approval of team-orders")
  v = authorize(req_with("req_ownership_transfer", { args = { approvals = gk.null } }))
  assert_eq(v.reason, "ownership.transfer of flag orders.read_v2 from team-orders to team-billing"
    .. " needs the approval of team-orders and team-billing")
end

function test_transfer_needs_approvals_even_for_an_admin()
  local v = authorize(req_with("req_ownership_transfer", {
    actor = { id = "root", team = "team-platform", roles = { "admin" } },
    args = { approvals = { "team-orders" } } }))
  assert_deny(v)
  assert_true(v.reason:find("needs the approval of team-billing", 1, true) ~= nil)
  assert_allow(authorize(req_with("req_ownership_transfer", {
    actor = { id = "root", team = "team-platform", roles = { "admin" } } })), "admin with approvals")
end

function test_transfer_from_must_be_the_owner()
  local v = authorize(req_with("req_ownership_transfer", { args = { from = "team-data",
    approvals = { "team-data", "team-billing" } } }))
  assert_deny(v)
  assert_eq(v.reason, "ownership.transfer of flag orders.read_v2 from team-data, but its owner is team-orders")
end

function test_transfer_requested_by_a_third_team_is_denied()
  local v = authorize(req_with("req_ownership_transfer", { actor = { id = "dan", team = "team-data" } }))
  assert_deny(v)
  assert_eq(v.reason, "only team-orders or team-billing or an admin may request the transfer of flag"
    .. " orders.read_v2")
end

function test_transfer_of_an_ownerless_flag_is_denied()
  local v = authorize(req_with("req_ownership_transfer", { resource = { owner = gk.null } }))
  assert_deny(v)
  assert_eq(v.reason, "flag orders.read_v2 has no owner to transfer from")
end

-- on_change ------------------------------------------------------------------------------

function test_update_keeping_the_owner_passes()
  assert_eq(on_change(fixture("change_flag_update"), fixture("state_orders")), nil)
end

function test_update_may_not_change_the_owner()
  local change = fixture("change_flag_update")
  change.after.owner = "team-billing"
  local v = on_change(change, fixture("state_orders"))
  assert_deny(v)
  assert_eq(v.reason, "flag.update may not change the owner of flag orders.read_v2 from team-orders"
    .. " to team-billing: use ownership.transfer with both teams' approval")
end

function test_update_may_not_drop_the_owner()
  local change = fixture("change_flag_update")
  change.after.owner = nil
  local v = on_change(change, fixture("state_orders"))
  assert_deny(v)
  assert_eq(v.reason, "flag.update may not change the owner of flag orders.read_v2 from team-orders"
    .. " to none: use ownership.transfer with both teams' approval")
end

function test_admin_may_not_change_the_owner_by_update()
  local change = fixture("change_flag_update")
  change.actor = { id = "root", team = "team-platform", roles = { "admin" } }
  change.after.owner = "team-platform"
  assert_deny(on_change(change, fixture("state_orders")))
end

function test_transfer_change_is_allowed_with_both_approvals()
  local change = { actor = { id = "olga", team = "team-orders", roles = { "owner" } },
    op = "ownership.transfer", kind = "flag", key = "orders.read_v2",
    before = { owner = "team-orders" },
    after = { from = "team-orders", to = "team-billing", approvals = { "team-billing", "team-orders" } },
    why = "team-billing takes over the orders read path", environment = "staging" }
  local v = on_change(change, fixture("state_orders"))
  assert_allow(v)
  assert_eq(v.reason, "ownership of flag orders.read_v2 moves from team-orders to team-billing"
    .. " with both teams' approval")
  change.after.approvals = { "team-orders" }
  v = on_change(change, fixture("state_orders"))
  assert_deny(v)
  assert_eq(v.reason, "ownership.transfer of flag orders.read_v2 from team-orders to team-billing"
    .. " needs the approval of team-billing")
end

function test_new_flag_owned_by_the_creating_team_passes()
  local change = fixture("change_flag_update")
  change.op, change.key, change.before = "flag.create", "orders.write_v2", nil
  assert_eq(on_change(change, fixture("state_orders")), nil)
end

function test_new_flag_owned_by_another_team_is_denied()
  local change = fixture("change_flag_update")
  change.op, change.key, change.before = "flag.create", "orders.write_v2", gk.null
  change.after.owner = "team-billing"
  local v = on_change(change, fixture("state_orders"))
  assert_deny(v)
  assert_eq(v.reason, "flag orders.write_v2 may be owned only by the team of the actor who creates it"
    .. " (team-orders), not team-billing")
end

function test_new_flag_without_owner_is_denied()
  local change = fixture("change_flag_update")
  change.op, change.key, change.before = "flag.create", "orders.write_v2", nil
  change.after.owner = nil
  local v = on_change(change, fixture("state_orders"))
  assert_deny(v)
  assert_eq(v.reason, "new flag orders.write_v2 needs an owner: set owner to team-orders")
end

function test_ownerless_flag_may_be_adopted_by_the_actors_team_only()
  local state = fixture("state_orders")
  local change = { actor = { id = "olga", team = "team-orders", roles = { "owner" } },
    op = "flag.update", kind = "flag", key = "orders.legacy_export",
    before = copy(state.flags["orders.legacy_export"]),
    after = copy(state.flags["orders.legacy_export"]),
    why = "team-orders takes the nightly export", environment = "staging" }
  change.after.owner = "team-orders"
  assert_eq(on_change(change, state), nil)
  change.after.owner = "team-billing"
  assert_deny(on_change(change, state))
end

function test_schema_version_without_owner_field_keeps_the_owner()
  local state = fixture("state_orders")
  local change = { actor = { id = "olga", team = "team-orders", roles = { "owner" } },
    op = "schema.register", kind = "schema", key = "orders",
    before = { name = "orders", mode = "BACKWARD", version = 2, schema = state.schemas.orders.versions[2] },
    after = { name = "orders", mode = "BACKWARD", version = 3, schema = state.schemas.orders.versions[2] },
    why = "re-register v2 as v3", environment = "staging" }
  assert_eq(on_change(change, state), nil)
  change.after.owner = "team-billing"
  local v = on_change(change, state)
  assert_deny(v)
  assert_eq(v.reason, "schema.register may not change the owner of schema orders from team-orders"
    .. " to team-billing: use ownership.transfer with both teams' approval")
end

function test_delete_is_not_an_owner_change()
  local change = fixture("change_flag_update")
  change.op, change.after = "flag.delete", nil
  assert_eq(on_change(change, fixture("state_orders")), nil)
end

-- combined with the other policies ----------------------------------------------------------

function test_run_transfer_allowed_with_security()
  local r = run("authorize", fixture("req_ownership_transfer"))
  assert_allow(r)
  local seen = {}
  for _, e in ipairs(r.trace) do seen[e.policy] = e.verdict end
  assert_eq(seen["ownership.lua"], "allow")
  assert_eq(seen["security.lua"], "allow")
end

function test_run_other_team_denied_although_security_allows()
  local r = run("authorize", req_with("req_flag_update_staging", { actor = { id = "bea", team = "team-billing" } }))
  assert_deny(r)
  local seen = {}
  for _, e in ipairs(r.trace) do seen[e.policy] = e end
  assert_eq(seen["ownership.lua"].verdict, "deny")
  assert_eq(seen["ownership.lua"].reason, "only team-orders or an admin may flag.update flag orders.read_v2")
  assert_eq(seen["security.lua"].verdict, "allow")
end

function test_run_on_change_owner_change_denied()
  local change = fixture("change_flag_update")
  change.after.owner = "team-billing"
  assert_deny(run("on_change", change, fixture("state_orders")))
end
