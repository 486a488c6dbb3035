-- migration_test.lua - tests of policies/migration.lua (the stage gates on admin changes) and of
-- compatibility.lua's decision-time gating of migration flags.

local V1 = { type = "record", name = "orders", fields = { { name = "id", type = "long" } } }
local V2 = { type = "record", name = "orders", fields = { { name = "id", type = "long" },
  { name = "first_name", type = { "null", "string" }, default = gk.null } } }

local ACTOR = { id = "rita", team = "team-platform", roles = { "release-manager", "owner" } }

-- A migration flag with the given flag-level rollout and extra members.
local function flag(rollout, extra)
  local def = {
    owner = "team-platform", kind = "migration",
    migration = { schema = "orders", from = 1, to = 2 },
    bucketBy = "tenantId", defaultVariant = "off",
    variants = { off = "off", dualwrite = "dualwrite", shadow = "shadow", live = "live",
                 rampdown = "rampdown", complete = "complete" },
    rollout = rollout,
  }
  for k, v in pairs(extra or {}) do def[k] = v end
  return def
end

local function state(extra)
  local s = {
    flags = {},
    schemas = { orders = { mode = "BACKWARD", owner = "team-platform", versions = { V1, V2 } } },
    consumers = {
      billing = { owner = "team-billing", schemas = { orders = { 1, 2 } } },
      support = { owner = "team-support", schemas = { orders = { 1, 2 } } },
      stock = { owner = "team-stock", schemas = { inventory = { 1 } } },
    },
    telemetry = { ["orders.v2"] = { lastOldReadAt = gk.null } },
  }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

local function change(before, after)
  return { actor = ACTOR, op = "rollout.set", kind = "flag", key = "orders.v2",
           before = before, after = after, why = "next migration stage" }
end

local function gate(before, after, st)
  return policy("migration").on_change(change(before, after), st or state())
end

local OPTED = { optIns = { "billing", "support" }, backfill = { complete = true } }

-- The tables are the policy: pin them.
function test_tables_as_shipped()
  local m = policy("migration")
  assert_eq(m.STAGES, { "off", "dualwrite", "shadow", "live", "rampdown", "complete" })
  assert_eq(m.GATES, { [2] = "schema", [3] = "backfill", [4] = "consumers", [5] = "consumers",
                       [6] = "telemetry" })
  assert_eq(m.COMPLETE_AFTER_SECONDS, 300)
  local c = policy("compatibility")
  assert_eq(c.NOT_OPTED_IN_STAGES, { live = true, rampdown = true, complete = true })
  assert_eq(c.NOT_OPTED_IN_STAGE, "shadow")
end

function test_furthest_stage_counts_rules_targets_and_the_default()
  local m = policy("migration")
  assert_eq(m.furthest(flag({ off = 90000, shadow = 10000 })), 3)
  assert_eq(m.furthest(flag(nil)), 1)
  assert_eq(m.furthest(flag(nil, { targets = { live = { "tenant-1" } } })), 4)
  assert_eq(m.furthest(flag(nil, { rules = { { id = "r", clauses = {}, variant = "rampdown" } } })), 5)
  assert_eq(m.furthest(flag(nil, { rules = { { id = "r", clauses = {},
    rollout = { off = 50000, dualwrite = 50000 } } } })), 2)
end

-- leaving off ---------------------------------------------------------------------------------

function test_leaving_off_needs_the_target_version()
  local st = state()
  st.schemas.orders.versions = { V1 }
  local v = gate(flag({ off = 100000 }), flag({ off = 90000, dualwrite = 10000 }), st)
  assert_deny(v)
  assert_true(v.reason:find("gate 'leave off'", 1, true), v.reason)
  assert_true(v.reason:find("gkctl schema register orders", 1, true), v.reason)
end

function test_leaving_off_with_the_target_version_is_allowed()
  local v = gate(flag({ off = 100000 }), flag({ off = 90000, dualwrite = 10000 }))
  assert_allow(v)
  assert_eq(v.reason, "migration gates hold for orders.v2 up to dualwrite")
end

function test_a_new_flag_already_past_off_is_gated()
  local st = state({ schemas = {} })
  assert_deny(gate(gk.null, flag({ dualwrite = 100000 }), st))
  assert_eq(gate(gk.null, flag({ off = 100000 }), st), nil)
end

function test_a_missing_schema_blocks_leaving_off()
  local v = gate(flag({ off = 100000 }), flag({ dualwrite = 100000 }), state({ schemas = {} }))
  assert_deny(v)
  assert_true(v.reason:find("has no version 2 registered (it has 0)", 1, true), v.reason)
end

-- leaving dualwrite ------------------------------------------------------------------------------

function test_leaving_dualwrite_needs_the_backfill()
  local v = gate(flag({ dualwrite = 100000 }), flag({ dualwrite = 90000, shadow = 10000 }))
  assert_deny(v)
  assert_true(v.reason:find("gate 'leave dualwrite'", 1, true), v.reason)
  assert_true(v.reason:find("gkctl backfill done orders.v2", 1, true), v.reason)
  v = gate(flag({ dualwrite = 100000 }), flag({ dualwrite = 90000, shadow = 10000 },
    { backfill = { complete = false } }))
  assert_deny(v)
end

function test_leaving_dualwrite_after_the_backfill_is_allowed()
  local v = gate(flag({ dualwrite = 100000 }),
    flag({ dualwrite = 90000, shadow = 10000 }, { backfill = { complete = true, at = 1, by = "rita" } }))
  assert_allow(v)
end

function test_a_target_in_shadow_is_gated_too()
  assert_deny(gate(flag({ dualwrite = 100000 }),
    flag({ dualwrite = 100000 }, { targets = { shadow = { "tenant-1" } } })))
end

-- live -----------------------------------------------------------------------------------------

function test_live_needs_every_consumer_supporting_and_opted_in()
  local before = flag({ shadow = 100000 }, OPTED)
  local st = state()
  st.consumers.support.schemas.orders = { 1 }
  local v = gate(before, flag({ shadow = 90000, live = 10000 }, OPTED), st)
  assert_deny(v)
  assert_true(v.reason:find("gate 'live'", 1, true), v.reason)
  assert_true(v.reason:find("support does not support v2", 1, true), v.reason)

  v = gate(before, flag({ shadow = 90000, live = 10000 },
    { optIns = { "billing" }, backfill = { complete = true } }))
  assert_deny(v)
  assert_true(v.reason:find("support has not opted in (gkctl optin add orders.v2 support)", 1, true),
    v.reason)
end

function test_live_with_every_consumer_ready_is_allowed()
  local v = gate(flag({ shadow = 100000 }, OPTED), flag({ shadow = 90000, live = 10000 }, OPTED))
  assert_allow(v)
  assert_eq(v.reason, "migration gates hold for orders.v2 up to live")
end

function test_consumers_of_other_schemas_do_not_block()
  -- stock reads only inventory: it neither supports orders v2 nor opted in, and does not matter
  assert_allow(gate(flag({ shadow = 100000 }, OPTED), flag({ live = 100000 }, OPTED)))
end

function test_rampdown_is_gated_like_live()
  local st = state()
  st.consumers.billing.schemas.orders = { 1 }
  assert_deny(gate(flag({ shadow = 100000 }, OPTED), flag({ rampdown = 100000 }, OPTED), st))
end

-- complete -------------------------------------------------------------------------------------

function test_complete_needs_no_recent_old_reads()
  local before = flag({ rampdown = 100000 }, OPTED)
  local after = flag({ complete = 100000 }, OPTED)
  local now = gk.now_ms() // 1000
  local v = gate(before, after, state({ telemetry = { ["orders.v2"] = { lastOldReadAt = now - 10 } } }))
  assert_deny(v)
  assert_true(v.reason:find("gate 'complete'", 1, true), v.reason)
  assert_allow(gate(before, after, state({ telemetry = { ["orders.v2"] = { lastOldReadAt = now - 301 } } })))
  assert_allow(gate(before, after, state()), "no old read ever seen (null)")
end

function test_complete_without_telemetry_fails_closed()
  local v = gate(flag({ rampdown = 100000 }, OPTED), flag({ complete = 100000 }, OPTED),
    state({ telemetry = gk.null }))
  assert_deny(v)
  assert_true(v.reason:find("no telemetry for this flag yet", 1, true), v.reason)
end

function test_complete_window_is_the_flags_own()
  local now = gk.now_ms() // 1000
  local extra = { optIns = OPTED.optIns, backfill = OPTED.backfill,
                  migration = { schema = "orders", from = 1, to = 2, completeAfterSeconds = 5 } }
  assert_allow(gate(flag({ rampdown = 100000 }, extra), flag({ complete = 100000 }, extra),
    state({ telemetry = { ["orders.v2"] = { lastOldReadAt = now - 10 } } })))
end

-- what is not gated ------------------------------------------------------------------------------

function test_moving_back_or_staying_is_not_gated()
  local st = state({ schemas = {} })
  assert_eq(gate(flag({ live = 100000 }), flag({ shadow = 100000 }), st), nil)
  assert_eq(gate(flag({ shadow = 50000, live = 50000 }), flag({ shadow = 10000, live = 90000 }), st), nil)
end

function test_other_changes_are_not_its_business()
  local m = policy("migration")
  assert_eq(m.on_change({ kind = "flag", key = "a", after = { variants = { off = false } } }, state()), nil)
  assert_eq(m.on_change({ kind = "schema", key = "orders", after = { name = "orders" } }, state()), nil)
  assert_eq(m.on_change({ kind = "flag", key = "a", after = gk.null }, state()), nil)
end

function test_the_whole_policy_set_refuses_through_run()
  local result = run("on_change", change(flag({ dualwrite = 100000 }), flag({ shadow = 100000 })), state())
  assert_eq(result.verdict, "deny")
  assert_eq(result.policy, "migration.lua")
end

-- decision time (compatibility.lua on_evaluate) --------------------------------------------------

local VIEW = { key = "orders.v2", owner = "team-platform", defaultVariant = "off",
  variants = { "off", "dualwrite", "shadow", "live", "rampdown", "complete" } }

local function decide(service, stage, st)
  st = st or state()
  st.flags["orders.v2"] = flag({ live = 100000 }, { optIns = { "billing" } })
  st.consumers.legacy = { owner = "team-legacy", schemas = { orders = { 1 } } }
  return policy("compatibility").on_evaluate({ tenantId = "t-1", service = service }, VIEW,
    { variant = stage, reason = "SPLIT" }, st)
end

function test_a_consumer_without_the_target_version_gets_off()
  for _, stage in ipairs({ "dualwrite", "shadow", "live", "complete" }) do
    local v = decide("legacy", stage)
    assert_allow(v, stage)
    assert_eq(v.variant, "off")
    assert_eq(v.reason, "consumer legacy does not support orders v2; it stays on the old path "
      .. "(stage off instead of " .. stage .. ")")
  end
  assert_eq(decide("legacy", "off"), nil)
end

function test_a_consumer_not_opted_in_gets_at_most_shadow()
  for _, stage in ipairs({ "live", "rampdown", "complete" }) do
    local v = decide("support", stage)
    assert_allow(v, stage)
    assert_eq(v.variant, "shadow")
    assert_eq(v.reason, "consumer support has not opted in to orders.v2; it gets shadow instead of "
      .. stage .. " (gkctl optin add orders.v2 support)")
  end
  assert_eq(decide("support", "shadow"), nil)
  assert_eq(decide("support", "dualwrite"), nil)
end

function test_an_opted_in_consumer_gets_its_stage()
  assert_eq(decide("billing", "live"), nil)
  assert_eq(decide("billing", "complete"), nil)
end

function test_an_unregistered_service_is_still_held_before_live()
  local v = decide("newcomer", "live")
  assert_eq(v.variant, "shadow")
  assert_eq(decide("newcomer", "shadow"), nil)
end

function test_no_service_no_gating()
  local st = state()
  st.flags["orders.v2"] = flag({ live = 100000 })
  assert_eq(policy("compatibility").on_evaluate({ tenantId = "t-1" }, VIEW,
    { variant = "live", reason = "SPLIT" }, st), nil)
end

function test_decision_gating_through_run()
  local st = state()
  st.flags["orders.v2"] = flag({ live = 100000 }, { optIns = { "billing" } })
  st.consumers.legacy = { owner = "team-legacy", schemas = { orders = { 1 } } }
  local result = run("on_evaluate", { tenantId = "t-1", service = "legacy" }, VIEW,
    { variant = "live", reason = "SPLIT" }, st)
  assert_eq(result.verdict, "allow")
  assert_eq(result.variant, "off")
  assert_eq(result.policy, "compatibility.lua")
end
