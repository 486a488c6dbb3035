-- Tests of privacy.lua: personal data is masked for consumers not cleared for it.

local PII = { "customer_email", "customer_name", "customer_first_name" }

local function copy(v)
  if type(v) ~= "table" or v == gk.null then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return c
end

-- The orders flag as on_evaluate sees it.
local function orders_flag()
  return { key = "orders.read_v2", owner = "team-orders", defaultVariant = "off",
    variants = { "off", "on" }, metadata = { schema = "orders", targetVersion = 2, oldVariant = "off" } }
end

local PROPOSAL = { variant = "on", reason = "SPLIT" }

local function ctx(service)
  return { targetingKey = "tenant-42", service = service, plan = "gold" }
end

local function on_evaluate(c, flag, state)
  return policy("privacy").on_evaluate(c, flag, PROPOSAL, state or fixture("state_orders"))
end

local function mask(kind, record, state)
  return policy("privacy").mask(kind, record, state)
end

-- on_evaluate ----------------------------------------------------------------------------

function test_uncleared_consumer_gets_the_pii_masked()
  local v = on_evaluate(ctx("analytics"), orders_flag())
  assert_allow(v)
  assert_eq(v.mask, PII)
  assert_eq(v.variant, nil, "the variant is left alone")
  assert_eq(v.reason, "service analytics is not cleared for pii: masking the personal data of schema"
    .. " orders (customer_email, customer_name, customer_first_name)")
  assert_true(v.source:match("^policies/privacy%.lua:%d+$") ~= nil, v.source)
end

function test_cleared_consumer_sees_everything()
  assert_eq(on_evaluate(ctx("billing"), orders_flag()), nil)
end

function test_consumer_with_null_clearances_is_not_cleared()
  local v = on_evaluate(ctx("support"), orders_flag())
  assert_allow(v)
  assert_eq(v.mask, PII)
end

function test_unknown_consumer_gets_the_pii_masked()
  local v = on_evaluate(ctx("mystery"), orders_flag())
  assert_allow(v)
  assert_eq(v.mask, PII)
  assert_eq(v.reason, "service mystery is not a registered consumer: masking the personal data of"
    .. " schema orders (customer_email, customer_name, customer_first_name)")
end

function test_request_without_service_gets_the_pii_masked()
  local c = ctx(nil)
  local v = on_evaluate(c, orders_flag())
  assert_allow(v)
  assert_eq(v.mask, PII)
  assert_true(v.reason:find("^the request names no service") ~= nil, v.reason)
  c.service = gk.null
  assert_eq(on_evaluate(c, orders_flag()).mask, PII)
end

function test_clearance_other_than_pii_does_not_count()
  local state = fixture("state_orders")
  state.consumers.analytics.clearances = { "financial" }
  assert_eq(on_evaluate(ctx("analytics"), orders_flag(), state).mask, PII)
end

function test_flag_without_schema_abstains()
  local flag = orders_flag()
  flag.metadata = { targetVersion = 2 }
  assert_eq(on_evaluate(ctx("analytics"), flag), nil)
  flag.metadata = gk.null
  assert_eq(on_evaluate(ctx("analytics"), flag), nil)
  flag.metadata = nil
  assert_eq(on_evaluate(ctx("analytics"), flag), nil)
end

function test_schema_without_pii_abstains()
  local flag = orders_flag()
  flag.metadata.schema = "inventory"
  assert_eq(on_evaluate(ctx("analytics"), flag), nil, "empty pii list")
  flag.metadata.schema = "unknown"
  assert_eq(on_evaluate(ctx("analytics"), flag), nil, "unknown schema")
  local state = fixture("state_orders")
  state.schemas.orders.pii = nil
  assert_eq(on_evaluate(ctx("analytics"), orders_flag(), state), nil, "no pii member")
end

function test_run_on_evaluate_merges_the_mask_and_keeps_the_proposal()
  -- support reads orders v1 and v2 (so compatibility.lua lets it take v2) but is not cleared
  local r = run("on_evaluate", ctx("support"), orders_flag(), PROPOSAL, fixture("state_orders"))
  assert_allow(r)
  assert_eq(r.mask, PII)
  assert_eq(r.variant, nil)
  r = run("on_evaluate", ctx("billing"), orders_flag(), PROPOSAL, fixture("state_orders"))
  assert_allow(r)
  assert_eq(r.mask, {})
end

function test_run_on_evaluate_consumer_on_the_old_path_still_gets_the_mask()
  -- analytics reads only orders v1: compatibility.lua keeps it on the old variant, and privacy.lua
  -- masks the personal data all the same
  local r = run("on_evaluate", ctx("analytics"), orders_flag(), PROPOSAL, fixture("state_orders"))
  assert_allow(r)
  assert_eq(r.variant, "off")
  assert_eq(r.mask, PII)
  local privacy
  for _, e in ipairs(r.trace) do if e.policy == "privacy.lua" then privacy = e end end
  assert_eq(privacy.verdict, "allow")
end

-- mask: contexts ---------------------------------------------------------------------------

function test_context_attributes_that_look_personal_are_masked()
  local v = mask("context", fixture("record_context"))
  assert_allow(v)
  assert_eq(v.mask, { "IPAddress", "customerName", "dob", "email", "phone_number", "shipping.street" })
  assert_eq(v.reason, "personal data in context")
end

function test_context_without_personal_attributes_masks_nothing()
  assert_eq(mask("context", { targetingKey = "tenant-42", plan = "gold", region = "eu",
    appVersion = "2.1.0", service = "billing" }), nil)
  assert_eq(mask("context", {}), nil)
end

function test_looks_personal()
  local lp = policy("privacy").looks_personal
  for _, k in ipairs({ "email", "Email", "userEmail", "e_mail", "first_name", "lastName", "name",
    "phone", "mobileNumber", "address", "billing-address", "ip", "clientIp", "IP", "ip_v4", "ipv6",
    "IPAddress", "DOB", "ssn", "taxId" }) do
    assert_true(lp(k), k)
  end
  for _, k in ipairs({ "targetingKey", "plan", "region", "appVersion", "tenantId", "service",
    "zipper", "shipping", "tip", "hostname", "description" }) do
    assert_false(lp(k), k)
  end
end

function test_personal_attributes_constant_is_used()
  local p = policy("privacy")
  assert_true(p.looks_personal("dateOfBirth"))
  assert_eq(mask("context", { iban = "GB33BUKB20201555555555", plan = "gold" }).mask, { "iban" })
end

function test_nested_personal_attributes_are_masked_by_path()
  local v = mask("context", { user = { email = "ada@example.com", plan = "gold",
    home = { street = "12 St James's Square" } }, tags = { "a", "b" } })
  assert_eq(v.mask, { "user.email", "user.home.street" })
end

function test_context_attribute_that_is_an_object_is_masked_whole()
  assert_eq(mask("context", { address = { city = "London" } }).mask, { "address" })
end

-- mask: schema records ---------------------------------------------------------------------

function test_schema_record_masks_the_present_pii_fields()
  local v = mask("orders", fixture("record_orders"), fixture("state_orders"))
  assert_allow(v)
  assert_eq(v.mask, { "customer_email", "customer_name" }, "customer_first_name is absent")
  assert_eq(v.reason, "personal data in a record of schema orders")
end

function test_schema_record_without_pii_fields_masks_nothing()
  assert_eq(mask("orders", { id = 1001, total_cents = 4200 }, fixture("state_orders")), nil)
  assert_eq(mask("inventory", { sku = "A-1", count = 3, owner_email = "x@example.com" },
    fixture("state_orders")), nil, "the schema's pii list decides, not the names")
end

function test_schema_pii_paths_may_be_nested()
  local state = fixture("state_orders")
  state.schemas.orders.pii = { "customer_email", "shipping.street" }
  local v = mask("orders", { customer_email = "a@b.c", shipping = { street = "x", city = "y" } }, state)
  assert_eq(v.mask, { "customer_email", "shipping.street" })
end

function test_schema_record_without_state_uses_the_known_pii_lists()
  local p = policy("privacy")
  assert_eq(p.SCHEMA_PII, {}, "none shipped: the gatekeeper's state is the source")
  assert_eq(p.mask_fields("orders", fixture("record_orders"), nil, { orders = { "customer_email" } }),
    { "customer_email" })
  assert_eq(p.mask_fields("orders", fixture("record_orders"), fixture("state_orders"),
    { orders = { "customer_email" } }), { "customer_email", "customer_name" }, "state wins")
end

function test_unknown_schema_masks_what_looks_personal()
  local v = mask("payments", { id = 7, card_holder_name = "Ada", amount = 10 })
  assert_eq(v.mask, { "card_holder_name" })
  assert_eq(mask("orders", fixture("record_orders")).mask, { "customer_email", "customer_name" },
    "no state, no SCHEMA_PII entry")
end

function test_mask_of_a_non_table_masks_nothing()
  assert_eq(mask("context", gk.null), nil)
  assert_eq(mask("context", nil), nil)
end

function test_run_mask_context()
  local r = run("mask", "context", fixture("record_context"))
  assert_allow(r)
  assert_eq(r.mask, { "IPAddress", "customerName", "dob", "email", "phone_number", "shipping.street" })
end
