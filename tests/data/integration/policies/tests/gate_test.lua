-- Tests of gate.lua, run before the daemon uses it (at start and on every reload).

local flag = { key = "orders.read_v2", defaultVariant = "off", variants = { "off", "on" },
               metadata = { oldVariant = "off", pii = { "customer_email" } } }

function test_legacy_batch_is_forced_to_the_old_variant()
  local v = policy("gate").on_evaluate({ service = "legacy-batch" }, flag,
                                       { variant = "on", reason = "SPLIT" }, {})
  assert_allow(v)
  assert_eq(v.variant, "off")
end

function test_blocked_service_is_denied()
  assert_deny(policy("gate").on_evaluate({ service = "blocked" }, flag, { variant = "on" }, {}))
end

function test_mask_for_services_not_cleared()
  local v = policy("gate").on_evaluate({ service = "billing" }, flag, { variant = "on" }, {})
  assert_eq(v.mask, { "customer_email" })
  assert_eq(policy("gate").on_evaluate({ service = "support" }, flag, { variant = "on" }, {}), nil)
end
