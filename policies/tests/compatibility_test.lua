-- compatibility_test.lua - tests of policies/compatibility.lua: Avro schema resolution under every
-- compatibility mode, invalid schemas, the on_change gate, the on_evaluate consumer gate, and the
-- Apache Avro conformance cases (fixtures/avro_compat.json, a copy of tests/data/avro/avro-compat.json).

---------------------------------------------------------------------------------------------------
-- Helpers

local function check(mode, new_schema, previous_schemas)
  return policy("compatibility").check(mode, new_schema, previous_schemas)
end

-- Violations when `reader` reads data written with `writer`.
local function resolve(reader, writer)
  return check("BACKWARD", reader, { writer })
end

local function locations(violations)
  local list = {}
  for i, v in ipairs(violations) do
    list[i] = v.location
  end
  return list
end

local function assert_reads(reader, writer, message)
  local violations = resolve(reader, writer)
  assert_eq(#violations, 0, (message or "compatible") .. ": " ..
    (violations[1] and violations[1].message or ""))
end

local function assert_cannot_read(reader, writer, expected_locations, message)
  assert_eq(locations(resolve(reader, writer)), expected_locations, message)
end

local function record(name, fields, extra)
  local schema = { type = "record", name = name, fields = fields }
  for k, v in pairs(extra or {}) do
    schema[k] = v
  end
  return schema
end

local function field(name, type_, default)
  return { name = name, type = type_, default = default }
end

local function enum(name, symbols, default)
  return { type = "enum", name = name, symbols = symbols, default = default }
end

local function fixed(name, size)
  return { type = "fixed", name = name, size = size }
end

---------------------------------------------------------------------------------------------------
-- Primitives and promotions

function test_primitives_read_themselves()
  for _, t in ipairs({ "null", "boolean", "int", "long", "float", "double", "bytes", "string" }) do
    assert_reads(t, t, t)
    assert_reads({ type = t }, t, t .. " as an object")
  end
end

function test_every_promotion_is_allowed()
  local promotions = {
    { "int", "long" }, { "int", "float" }, { "int", "double" },
    { "long", "float" }, { "long", "double" }, { "float", "double" },
    { "string", "bytes" }, { "bytes", "string" },
  }
  for _, p in ipairs(promotions) do
    local writer, reader = p[1], p[2]
    assert_reads(reader, writer, writer .. " -> " .. reader)
  end
end

function test_no_other_promotion()
  local refused = {
    { "long", "int" }, { "float", "int" }, { "double", "int" }, { "float", "long" },
    { "double", "long" }, { "double", "float" }, { "int", "string" }, { "string", "int" },
    { "int", "bytes" }, { "boolean", "int" }, { "int", "boolean" }, { "null", "int" },
    { "int", "null" }, { "string", "boolean" }, { "long", "string" },
  }
  for _, p in ipairs(refused) do
    local writer, reader = p[1], p[2]
    local violations = resolve(reader, writer)
    assert_eq(locations(violations), { "/" }, writer .. " -> " .. reader)
    assert_true(violations[1].message:find("reader type " .. reader .. " cannot read writer type "
      .. writer, 1, true), violations[1].message)
  end
  assert_cannot_read(fixed("F", 4), "bytes", { "/" }, "bytes -> fixed")
  assert_cannot_read("bytes", fixed("F", 4), { "/" }, "fixed -> bytes")
  assert_cannot_read({ type = "map", values = "int" }, { type = "array", items = "int" }, { "/" })
end

function test_logical_types_follow_their_underlying_type()
  local date = { type = "int", logicalType = "date" }
  local millis = { type = "long", logicalType = "timestamp-millis" }
  assert_reads(millis, date, "int -> long under logical types")
  assert_reads("int", date)
  assert_cannot_read(date, millis, { "/" }, "long -> int under logical types")
  local decimal = { type = "bytes", logicalType = "decimal", precision = 9, scale = 2 }
  assert_reads("string", decimal)
end

---------------------------------------------------------------------------------------------------
-- Records

function test_reader_field_needs_a_default()
  local writer = record("Order", { field("id", "long") })
  local reader = record("Order", { field("id", "long"), field("note", "string") })
  local violations = resolve(reader, writer)
  assert_eq(locations(violations), { "/fields/1" })
  assert_true(violations[1].message:find("reader field 'note' has no default and the writer lacks it",
    1, true), violations[1].message)
  assert_reads(record("Order", { field("id", "long"), field("note", "string", "") }), writer)
  assert_reads(record("Order", { field("id", "long"), field("note", { "null", "string" }, gk.null) }),
    writer, "a null default is a default")
end

function test_writer_only_fields_are_ignored()
  local writer = record("Order", { field("id", "long"), field("legacy", "string"), field("n", "int") })
  assert_reads(record("Order", { field("n", "long"), field("id", "long") }), writer)
  assert_reads(record("Order", {}), writer, "an empty reader record")
end

function test_fields_match_by_reader_alias()
  local writer = record("Order", { field("customer", "string") })
  local reader = record("Order", { { name = "customer_name", type = "string", aliases = { "customer" } } })
  assert_reads(reader, writer)
  assert_cannot_read(record("Order", { field("customer_name", "string") }), writer, { "/fields/0" })
  -- a writer's field alias does not count: aliases belong to the reader
  local aliased_writer = record("Order", { { name = "customer", type = "string", aliases = { "customer_name" } } })
  assert_cannot_read(record("Order", { field("customer_name", "string") }), aliased_writer, { "/fields/0" })
end

function test_record_names_compare_unqualified_or_by_reader_alias()
  local fields = { field("id", "long") }
  assert_reads(record("Order", fields), record("com.example.Order", fields))
  assert_reads(record("Order", fields, { namespace = "a.b" }), record("Order", fields, { namespace = "c" }))
  assert_cannot_read(record("Purchase", fields), record("Order", fields), { "/name" })
  assert_reads(record("Purchase", fields, { aliases = { "Order" } }), record("Order", fields))
  assert_reads(record("Purchase", fields, { aliases = { "legacy.Order" } }), record("Order", fields))
  assert_cannot_read(record("Order", fields), record("Purchase", fields, { aliases = { "Order" } }),
    { "/name" }, "a writer alias does not count")
end

function test_nested_records_report_deep_locations()
  local function order(line_type, amount_type)
    return record("Order", {
      field("id", "long"),
      field("lines", { type = "array", items = record("Line", {
        field("sku", "string"),
        field("amount", amount_type),
      }) }),
      field("meta", { type = "map", values = line_type }),
    })
  end
  assert_reads(order("string", "double"), order("bytes", "float"))
  assert_cannot_read(order("int", "float"), order("long", "double"),
    { "/fields/1/type/items/fields/1/type", "/fields/2/type/values" })
end

function test_every_violation_is_reported()
  local writer = record("R", {
    field("a", "long"), field("b", enum("E", { "X", "Y", "Z" })), field("c", fixed("F", 8)),
  })
  local reader = record("R", {
    field("a", "int"), field("b", enum("E", { "X" })), field("c", fixed("G", 4)), field("d", "int"),
  })
  assert_eq(locations(resolve(reader, writer)), {
    "/fields/0/type", "/fields/1/type/symbols", "/fields/1/type/symbols",
    "/fields/2/type/name", "/fields/2/type/size", "/fields/3",
  })
end

---------------------------------------------------------------------------------------------------
-- Enums and fixed

function test_enum_reader_needs_every_writer_symbol()
  local writer = enum("Status", { "NEW", "PAID", "SHIPPED" })
  assert_reads(enum("Status", { "NEW", "PAID", "SHIPPED", "LOST" }), writer)
  assert_reads(enum("Status", { "SHIPPED", "NEW", "PAID" }), writer, "order does not matter")
  local violations = resolve(enum("Status", { "PAID" }), writer)
  assert_eq(locations(violations), { "/symbols", "/symbols" })
  assert_true(violations[1].message:find("'NEW'", 1, true), violations[1].message)
  assert_true(violations[2].message:find("'SHIPPED'", 1, true), violations[2].message)
end

function test_enum_reader_default_covers_missing_symbols()
  local writer = enum("Status", { "NEW", "PAID", "SHIPPED" })
  assert_reads(enum("Status", { "UNKNOWN", "NEW" }, "UNKNOWN"), writer)
  assert_cannot_read(enum("Status", { "NEW" }), enum("Status", { "NEW", "PAID" }, "NEW"),
    { "/symbols" }, "a writer default changes nothing")
  assert_cannot_read(enum("State", { "NEW", "PAID", "SHIPPED" }), writer, { "/name" })
end

function test_fixed_needs_same_name_and_size()
  assert_reads(fixed("Hash", 16), fixed("Hash", 16))
  assert_cannot_read(fixed("Hash", 16), fixed("Hash", 32), { "/size" })
  assert_cannot_read(fixed("Digest", 16), fixed("Hash", 16), { "/name" })
  assert_reads({ type = "fixed", name = "Digest", size = 16, aliases = { "Hash" } }, fixed("Hash", 16))
  assert_cannot_read(fixed("Hash", 16), enum("Hash", { "A" }), { "/" })
end

---------------------------------------------------------------------------------------------------
-- Arrays, maps, unions

function test_arrays_and_maps_compare_items_and_values()
  assert_reads({ type = "array", items = "long" }, { type = "array", items = "int" })
  assert_cannot_read({ type = "array", items = "int" }, { type = "array", items = "long" }, { "/items" })
  assert_reads({ type = "map", values = "double" }, { type = "map", values = "float" })
  assert_cannot_read({ type = "map", values = "float" }, { type = "map", values = "double" }, { "/values" })
end

function test_writer_union_needs_every_branch_readable()
  assert_reads("long", { "int", "long" })
  assert_reads({ "string", "int" }, { "int", "string" })
  assert_reads({ "null", "double" }, { "null", "int", "float" })
  -- reader union: the unreadable writer branch is named by its index
  assert_cannot_read({ "null", "int" }, { "null", "int", "string", "boolean" }, { "/2", "/3" })
  -- non-union reader: each writer branch is compared with it
  local violations = resolve("int", { "int", "float", "string" })
  assert_eq(locations(violations), { "/", "/" })
  assert_true(violations[1].message:find("writer type float", 1, true), violations[1].message)
  assert_true(violations[2].message:find("writer type string", 1, true), violations[2].message)
  assert_reads("int", {}, "an empty writer union writes nothing")
end

function test_reader_union_needs_one_branch_reading_the_writer()
  assert_reads({ "null", "string" }, "string")
  assert_reads({ "null", "long" }, "int", "through a promotion")
  assert_reads({ "null", record("R", { field("a", "int") }) }, record("R", { field("a", "int") }))
  assert_cannot_read({ "null", "string" }, "boolean", { "/" })
  assert_cannot_read({ "null", record("R", { field("a", "int") }) },
    record("R", { field("b", "int") }), { "/" }, "the record branch lacks a default")
  assert_reads({ "null", record("S", { field("b", "int") }), record("R", { field("a", "int", 0) }) },
    record("R", { field("b", "string") }), "the second record branch reads it")
end

---------------------------------------------------------------------------------------------------
-- Named references and recursion

local function linked_list(value_type, extra_field)
  local fields = {
    field("value", value_type),
    field("next", { "null", "Node" }, gk.null),
  }
  if extra_field then
    fields[#fields + 1] = extra_field
  end
  return record("Node", fields, { namespace = "com.example" })
end

function test_recursive_schemas_terminate()
  assert_reads(linked_list("long"), linked_list("int"))
  assert_reads(linked_list("int"), linked_list("int"))
  assert_cannot_read(linked_list("int"), linked_list("long"), { "/fields/0/type" })
  assert_cannot_read(linked_list("int", field("tag", "string")), linked_list("int"), { "/fields/2" })
  -- mutual recursion through a union and an array
  local function tree(leaf)
    return record("Tree", {
      field("label", leaf),
      field("children", { type = "array", items = "Tree" }),
      field("parent", { "null", "Tree" }, gk.null),
    })
  end
  assert_reads(tree("bytes"), tree("string"))
  assert_cannot_read(tree("int"), tree("string"), { "/fields/0/type" })
end

function test_named_types_are_referenced_by_name()
  local schema = record("Order", {
    field("status", enum("Status", { "NEW", "PAID" }, "NEW")),
    field("previous_status", { "null", "Status" }, gk.null),
    field("hash", { type = "fixed", name = "Hash", namespace = "com.example.crypto", size = 32 }),
    field("previous_hash", "com.example.crypto.Hash"),
  }, { namespace = "com.example" })
  assert_reads(schema, schema)
  assert_eq(check("NONE", schema, {}), {})
  -- a reference by unqualified name resolves in the enclosing namespace
  assert_reads(record("A", { field("x", record("B", { field("y", "int") })), field("z", "B") },
    { namespace = "n" }), record("A", { field("x", record("B", { field("y", "int") })), field("z", "B") }))
end

---------------------------------------------------------------------------------------------------
-- Modes

local V1 = record("Order", { field("id", "long"), field("name", "string") })
local V2_ADDS_NO_DEFAULT = record("Order", { field("id", "long"), field("name", "string"), field("note", "string") })
local V2_DROPS_NAME = record("Order", { field("id", "long") })

function test_backward_forward_full_and_none()
  -- adding a field without a default: old data lacks it
  assert_eq(locations(check("BACKWARD", V2_ADDS_NO_DEFAULT, { V1 })), { "/fields/2" })
  assert_eq(check("FORWARD", V2_ADDS_NO_DEFAULT, { V1 }), {})
  assert_eq(locations(check("FULL", V2_ADDS_NO_DEFAULT, { V1 })), { "/fields/2" })
  -- dropping a field without a default: old readers need it
  assert_eq(check("BACKWARD", V2_DROPS_NAME, { V1 }), {})
  local forward = check("FORWARD", V2_DROPS_NAME, { V1 })
  assert_eq(locations(forward), { "/fields" }, "located in the new schema's fields")
  assert_true(forward[1].message:find("v1 cannot read the new schema: reader field 'name'", 1, true),
    forward[1].message)
  assert_eq(#check("FULL", V2_DROPS_NAME, { V1 }), 1)
  assert_eq(check("NONE", "string", { V1 }), {})
  assert_eq(check("BACKWARD", V1, {}), {}, "the first version is always compatible")
end

function test_forward_locations_point_into_the_new_schema()
  local old = record("R", { field("a", "int"), field("b", "int") })
  local new = record("R", { field("x", "string", ""), field("b", "long"), field("a", "int") })
  assert_eq(locations(check("FORWARD", new, { old })), { "/fields/1/type" })
  assert_eq(locations(check("BACKWARD", new, { old })), {})
  assert_eq(locations(check("FULL", { type = "array", items = new }, { { type = "array", items = old } })),
    { "/items/fields/1/type" })
end

function test_transitive_modes_check_every_previous_version()
  local v1 = record("Order", { field("id", "long") })
  local v2 = record("Order", { field("id", "long"), field("note", "string", "") })
  local v3 = record("Order", { field("id", "long"), field("note", "string") })
  assert_eq(check("BACKWARD", v3, { v1, v2 }), {}, "v2 has note")
  local transitive = check("BACKWARD_TRANSITIVE", v3, { v1, v2 })
  assert_eq(locations(transitive), { "/fields/1" })
  assert_true(transitive[1].message:find("cannot read v1", 1, true), transitive[1].message)

  local w1 = record("Order", { field("id", "long"), field("name", "string") })
  local w2 = record("Order", { field("id", "long"), field("name", "string", "") })
  local w3 = record("Order", { field("id", "long") })
  assert_eq(check("FORWARD", w3, { w1, w2 }), {}, "v2 has a default for name")
  assert_eq(locations(check("FORWARD_TRANSITIVE", w3, { w1, w2 })), { "/fields" })
  assert_eq(check("FULL", w3, { w1, w2 }), {})
  assert_eq(#check("FULL_TRANSITIVE", w3, { w1, w2 }), 1)
  assert_eq(#check("FULL_TRANSITIVE", v3, { v1, v2 }), 1)
  -- new reads neither v1 nor w1 (long -> int), and w1 cannot read the new schema (name)
  assert_eq(#check("FULL_TRANSITIVE", record("Order", { field("id", "int") }), { v1, w1 }), 3,
    "both directions against both versions")
end

-- A long history under FULL_TRANSITIVE stays well inside the per-call instruction budget.
function test_full_transitive_over_a_long_history()
  local function version(n)
    local fields = {}
    for i = 1, n do
      fields[i] = field("f" .. i, { "null", "string", { type = "array", items = "long" } }, gk.null)
    end
    return record("Wide", fields, { namespace = "com.example" })
  end
  local previous = {}
  for v = 1, 10 do
    previous[v] = version(30 + v)
  end
  assert_eq(check("FULL_TRANSITIVE", version(41), previous), {})
end

function test_unknown_mode_is_an_error()
  assert_error(function() check("backward", "int", {}) end, "^unknown compatibility mode")
  assert_error(function() check("SIDEWAYS", "int", { "int" }) end, "^unknown compatibility mode 'SIDEWAYS'")
  assert_error(function() check(nil, "int", {}) end, "^unknown compatibility mode")
end

---------------------------------------------------------------------------------------------------
-- Invalid schemas

local function assert_invalid(schema, location, pattern)
  assert_error(function() check("BACKWARD", schema, {}) end,
    "^invalid schema at " .. location:gsub("%p", "%%%0") .. ": .*" .. pattern)
end

function test_invalid_schemas_are_errors_with_a_location()
  assert_invalid("integer", "/", "unknown type name 'integer'")
  assert_invalid(record("R", { field("a", "Missing") }), "/fields/0/type", "unknown type name 'Missing'")
  assert_invalid({ type = "record", name = "R" }, "/", "fields")
  assert_invalid(record("R", { { name = "a" } }), "/fields/0", "needs a type")
  assert_invalid(record("R", { field("a", "int"), field("a", "long") }), "/fields/1/name", "twice")
  assert_invalid(record("R", { field("1a", "int") }), "/fields/0/name", "valid name")
  assert_invalid({ type = "record", fields = {} }, "/name", "valid name")
  assert_invalid(enum("E", { "A", "B", "A" }), "/symbols/2", "duplicated")
  assert_invalid(enum("E", { "A", "not valid" }), "/symbols/1", "symbol")
  assert_invalid(enum("E", { "A" }, "Z"), "/default", "not a symbol")
  assert_invalid({ type = "enum", name = "E" }, "/", "symbols")
  assert_invalid(fixed("F", -1), "/size", "non%-negative integer")
  assert_invalid(fixed("F", 4.5), "/size", "non%-negative integer")
  assert_invalid(fixed("F", "4"), "/size", "non%-negative integer")
  assert_invalid({ type = "fixed", name = "F" }, "/size", "size")
  assert_invalid({ type = "array" }, "/", "items")
  assert_invalid({ type = "map", values = "nothing" }, "/values", "unknown type name 'nothing'")
  assert_invalid({ "int", { "null", "string" } }, "/1", "union")
  assert_invalid({ "int", "string", "int" }, "/2", "twice")
  assert_invalid({ fixed("F", 1), fixed("F", 1) }, "/1/name", "defined twice")
end

function test_invalid_schema_edge_cases()
  assert_invalid({ type = "Nope" }, "/type", "unknown type name 'Nope'")
  assert_invalid({ name = "R", fields = {} }, "/", "'type'")
  assert_invalid(record("int", {}), "/name", "primitive")
  assert_invalid(gk.null, "/", "null")
  assert_invalid(nil, "/", "nil")
  assert_invalid(42, "/", "number")
  -- a previous version is validated too, and named in the message
  assert_error(function() check("BACKWARD", "int", { "int", "bogus" }) end,
    "^invalid schema at / of previous version 2: unknown type name 'bogus'")
  -- the new schema is validated even under NONE
  assert_error(function() check("NONE", "bogus", {}) end, "^invalid schema")
end

---------------------------------------------------------------------------------------------------
-- on_change

local function schema_change(schema, mode)
  return {
    actor = { id = "alice", team = "team-orders", roles = {} },
    op = "schema.register", kind = "schema", key = "orders",
    after = { name = "orders", mode = mode, version = 3, schema = schema },
    why = "split customer_name", environment = "prod",
  }
end

function test_on_change_denies_an_incompatible_schema_with_violations()
  local data = fixture("compat_orders")
  local verdict = policy("compatibility").on_change(schema_change(data.v3_split_name, nil), data.state)
  assert_deny(verdict)
  assert_eq(verdict.reason, "schema 'orders' is not FULL_TRANSITIVE compatible: 8 violations")
  assert_eq(locations(verdict.violations), {
    "/fields/1", "/fields/2", "/fields", "/fields/4/type/symbols",
    "/fields/1", "/fields/2", "/fields", "/fields/4/type/symbols",
  })
  assert_true(verdict.violations[3].message:find("v1 cannot read the new schema: reader field 'customer_name'",
    1, true), verdict.violations[3].message)
  -- the change's own mode wins over the registered one
  local full = policy("compatibility").on_change(schema_change(data.v3_split_name, "FULL"), data.state)
  assert_eq(full.reason, "schema 'orders' is not FULL compatible: 4 violations")
  local backward = policy("compatibility").on_change(schema_change(data.v3_split_name, "BACKWARD"), data.state)
  assert_eq(backward.reason, "schema 'orders' is not BACKWARD compatible: 2 violations")
end

function test_on_change_through_run_keeps_violations_in_the_trace()
  local data = fixture("compat_orders")
  local result = run("on_change", schema_change(data.v3_split_name, "FORWARD"), data.state)
  assert_deny(result)
  local entry
  for _, t in ipairs(result.trace) do
    if t.policy == "compatibility.lua" then
      entry = t
    end
  end
  assert_true(entry ~= nil, "compatibility.lua is in the trace")
  assert_eq(entry.verdict, "deny")
  assert_eq(locations(entry.violations), { "/fields", "/fields/4/type/symbols" })
end

function test_on_change_abstains_on_a_compatible_schema()
  local data = fixture("compat_orders")
  local hooks = policy("compatibility")
  assert_eq(hooks.on_change(schema_change(data.v3_compatible, nil), data.state), nil)
  assert_eq(hooks.on_change(schema_change(data.v3_split_name, "NONE"), data.state), nil)
  -- the first version of a new schema name
  local change = schema_change(data.v3_split_name, nil)
  change.key = "invoices"
  assert_eq(hooks.on_change(change, data.state), nil)
  assert_eq(hooks.on_change(schema_change(data.v3_compatible, nil), { flags = {}, schemas = {}, consumers = {} }), nil)
  -- other kinds of change are not this policy's business
  assert_eq(hooks.on_change({ op = "flag.update", kind = "flag", key = "orders.read_v3",
    after = { key = "orders.read_v3" } }, data.state), nil)
  assert_eq(hooks.on_change({ op = "consumer.register", kind = "consumer", key = "billing",
    after = { name = "billing" } }, data.state), nil)
end

function test_on_change_denies_an_invalid_schema_or_mode()
  local data = fixture("compat_orders")
  local hooks = policy("compatibility")
  local verdict = hooks.on_change(schema_change(record("Order", { field("id", "uuid") }), nil), data.state)
  assert_deny(verdict)
  assert_true(verdict.reason:find("invalid schema at /fields/0/type: unknown type name 'uuid'", 1, true),
    verdict.reason)
  local missing = hooks.on_change(schema_change(nil, nil), data.state)
  assert_deny(missing)
  assert_true(missing.reason:find("invalid schema", 1, true), missing.reason)
  local mode = hooks.on_change(schema_change(data.v3_compatible, "LENIENT"), data.state)
  assert_deny(mode)
  assert_true(mode.reason:find("unknown compatibility mode 'LENIENT'", 1, true), mode.reason)
end

---------------------------------------------------------------------------------------------------
-- on_evaluate

local function evaluate(service, proposal_variant, data, flag)
  data = data or fixture("compat_orders")
  flag = flag or data.flag_view
  return policy("compatibility").on_evaluate({ targetingKey = "tenant-42", service = service },
    flag, { variant = proposal_variant, reason = "SPLIT" }, data.state)
end

function test_on_evaluate_keeps_an_unsupporting_consumer_on_the_old_path()
  local verdict = evaluate("billing", "live")
  assert_allow(verdict)
  assert_eq(verdict.variant, "dualwrite")
  assert_eq(verdict.reason, "consumer billing does not support orders v3; it stays on the old path")
  -- a consumer that lists no versions of the schema supports none
  assert_eq(evaluate("reports", "live").variant, "dualwrite")
end

function test_on_evaluate_falls_back_to_the_default_variant()
  local data = fixture("compat_orders")
  local flag = data.flag_view
  local plain = { key = flag.key, owner = flag.owner, defaultVariant = "off", variants = flag.variants,
    metadata = { schema = "orders", targetVersion = 3 } }
  local verdict = evaluate("billing", "live", data, plain)
  assert_eq(verdict.variant, "off")
  assert_eq(evaluate("billing", "off", data, plain), nil, "already on the default")
end

function test_on_evaluate_abstains_otherwise()
  local data = fixture("compat_orders")
  assert_eq(evaluate("shipping", "live", data), nil, "supports v3")
  assert_eq(evaluate("billing", "dualwrite", data), nil, "already on the old path")
  assert_eq(evaluate("unknown-service", "live", data), nil, "not a registered consumer")
  assert_eq(policy("compatibility").on_evaluate({ targetingKey = "t" },
    data.flag_view, { variant = "live" }, data.state), nil, "no service")
  local flag = data.flag_view
  local no_target = { key = flag.key, defaultVariant = "off", variants = flag.variants,
    metadata = { schema = "orders" } }
  assert_eq(evaluate("billing", "live", data, no_target), nil, "no target version")
  local no_metadata = { key = flag.key, defaultVariant = "off", variants = flag.variants }
  assert_eq(evaluate("billing", "live", data, no_metadata), nil, "no metadata")
  local null_metadata = { key = flag.key, defaultVariant = "off", variants = flag.variants, metadata = gk.null }
  assert_eq(evaluate("billing", "live", data, null_metadata), nil, "null metadata")
end

function test_on_evaluate_through_run_forces_the_variant()
  local data = fixture("compat_orders")
  local result = run("on_evaluate", { targetingKey = "tenant-42", service = "billing" },
    data.flag_view, { variant = "live", reason = "SPLIT" }, data.state)
  assert_allow(result)
  assert_eq(result.variant, "dualwrite")
end

---------------------------------------------------------------------------------------------------
-- Apache Avro conformance: every case of fixtures/avro_compat.json (a copy of
-- tests/data/avro/avro-compat.json). A case asks whether reader_schema reads writer_schema, that is
-- check("BACKWARD", reader, {writer}); expected_location, where given (a string or a list), must be
-- among the violations' locations.

local function has_location(violations, location)
  for _, v in ipairs(violations) do
    if v.location == location then
      return true
    end
  end
  return false
end

local function expected_locations_met(case, violations)
  local expected = case.expected_location
  if type(expected) == "string" then
    return has_location(violations, expected)
  end
  for _, location in ipairs(expected) do
    if not has_location(violations, location) then
      return false
    end
  end
  return true
end

local function run_conformance()
  local cases = fixture("avro_compat").cases
  local passed, with_location, matched = 0, 0, 0
  for i, case in ipairs(cases) do
    local violations = check("BACKWARD", case.reader_schema, { case.writer_schema })
    local compatible = #violations == 0
    assert_eq(compatible, case.expected == "compatible",
      string.format("case %d %s (%s)", i, case.name, violations[1] and violations[1].message or "no violation"))
    passed = passed + 1
    if case.expected_location ~= nil then
      with_location = with_location + 1
      assert_true(expected_locations_met(case, violations), string.format("case %d %s: location",
        i, case.name))
      matched = matched + 1
    end
  end
  return passed, with_location, matched
end

function test_avro_conformance_every_case()
  local data = fixture("avro_compat")
  assert_true(data.source:find("87212a6d47247a30dff247d16386d722c56d4390", 1, true), data.source)
  local passed, with_location, matched = run_conformance()
  assert_eq(passed, 137, "every case passes")
  assert_eq(with_location, 58, "cases with an expected location")
  assert_eq(matched, 58, "expected locations matched")
end
