-- compatibility.lua - schema compatibility gate and consumer-version gate.
--
-- A schema is Avro schema JSON, already decoded (objects are tables, arrays sequences, null is
-- gk.null, a bare type name such as "int" stays a string). Whether data written with one schema
-- (the writer) can be read with another (the reader) follows the Avro specification, section
-- "Schema Resolution" (https://avro.apache.org/docs/current/specification/#schema-resolution):
--
--   * primitives match themselves; the only promotions are int to long, float or double; long to
--     float or double; float to double; string to bytes and bytes to string;
--   * records, enums and fixed types match when their unqualified names are equal, or the writer's
--     name is one of the reader's aliases;
--   * record fields match by name, or by one of the reader field's aliases; a field only the writer
--     has is skipped; a field only the reader has needs a default;
--   * an enum reader needs every writer symbol, unless the reader enum has a default symbol;
--   * fixed types also need the same size; arrays compare items, maps compare values;
--   * a writer union needs every branch readable by the reader; a reader union (with a writer that
--     is not a union) needs one branch that reads the writer;
--   * logical types follow their underlying type; a pair of records that is already being compared
--     (a recursive schema) is assumed compatible, so recursion terminates.
--
-- Compatibility modes (as in schema registries): BACKWARD means the new schema reads data written
-- with the latest previous version; FORWARD means the latest previous version reads data written
-- with the new schema; FULL means both; the _TRANSITIVE forms check every previous version instead
-- of the latest only; NONE accepts everything.
--
-- A violation's location is a JSON-pointer-like path into the new schema (0-based indices): for
-- BACKWARD the new schema is the reader, for FORWARD the writer. As Avro's reference
-- implementation reports them, an unreadable writer union branch is located by that branch's index
-- and a reader field the writer lacks by the reader's field (in the writer: its "/fields").
--
-- Hooks: on_change denies a schema registration that is invalid or incompatible under its mode
-- (the change's mode, else the registered one, else BACKWARD); on_evaluate keeps a consumer that
-- does not support a flag's target schema version on the old path.

-- on_evaluate reads only ctx.service (besides the flag, the proposal and the state), so the
-- gatekeeper may keep its verdicts (policies/README.md, "Declaring what on_evaluate reads").
on_evaluate_reads = { "service" }

local PRIMITIVES = {
  null = true, boolean = true, int = true, long = true,
  float = true, double = true, bytes = true, string = true,
}

-- PROMOTIONS[writer][reader]: the writer's values can be read as the reader's type.
local PROMOTIONS = {
  int = { long = true, float = true, double = true },
  long = { float = true, double = true },
  float = { double = true },
  string = { bytes = true },
  bytes = { string = true },
}

local NO_PROMOTIONS = {}

local MODES = {
  NONE = { backward = false, forward = false, transitive = false },
  BACKWARD = { backward = true, forward = false, transitive = false },
  BACKWARD_TRANSITIVE = { backward = true, forward = false, transitive = true },
  FORWARD = { backward = false, forward = true, transitive = false },
  FORWARD_TRANSITIVE = { backward = false, forward = true, transitive = true },
  FULL = { backward = true, forward = true, transitive = false },
  FULL_TRANSITIVE = { backward = true, forward = true, transitive = true },
}

local DEFAULT_MODE = "BACKWARD"

---------------------------------------------------------------------------------------------------
-- Small helpers
local type, NULL = type, gk.null -- read-only library values, as locals: looked up once
local function present(value)
  return value ~= nil and value ~= NULL
end

local function is_object(value)
  return type(value) == "table" and value ~= NULL
end

-- A JSON array, or a sequence written directly in Lua (tests build schemas both ways).
local function is_list(value)
  return is_object(value) and (gk.is_array(value) or value[1] ~= nil)
end

-- Counts by indexing rather than with `#`, which a read-only proxy of the state may not support.
local function length(list)
  local n = 0
  while list[n + 1] ~= nil do
    n = n + 1
  end
  return n
end

-- Quiet checks carry no paths (nil), which saves building strings nobody reads.
local function child(path, segment)
  if path == nil then
    return nil
  elseif path == "/" then
    return "/" .. segment
  end
  return path .. "/" .. segment
end

local function is_valid_name(name)
  return type(name) == "string" and name:match("^[A-Za-z_][A-Za-z0-9_]*$") ~= nil
end

local function is_valid_fullname(name)
  if type(name) ~= "string" or name == "" then
    return false
  end
  for part in (name .. "."):gmatch("([^.]*)%.") do
    if not is_valid_name(part) then
      return false
    end
  end
  return true
end

local function unqualified(name)
  return name:match("([^.]*)$")
end

local function qualify(name, namespace)
  if name:find(".", 1, true) or namespace == "" then
    return name
  end
  return namespace .. "." .. name
end

---------------------------------------------------------------------------------------------------
-- Parsing: Avro schema JSON to a graph of nodes. Named types are shared nodes, so a recursive
-- schema becomes a cycle. Nodes: {type = "int"}; {type = "record", name, fullname, aliases,
-- fields = {{name, aliases (list), type, has_default, index}}, field_by_name}; {type = "enum",
-- name, fullname, aliases, symbols, symbol_set, default}; {type = "fixed", name, fullname, aliases,
-- size}; {type = "array", items}; {type = "map", values}; {type = "union", branches}.

local parse_schema -- forward declaration

-- Raised by a parse without paths: parse again with paths to locate the problem.
local NEEDS_LOCATION = {}

local function invalid(parser, path, fmt, ...)
  if path == nil then
    error(NEEDS_LOCATION, 0)
  end
  error(string.format("invalid schema at %s%s: " .. fmt, path, parser.label, ...), 0)
end

-- Returns the aliases' unqualified names as a set and as a list (in their order).
local function parse_aliases(parser, json, path)
  local aliases, names = {}, {}
  local list = json.aliases
  if not present(list) then
    return aliases, names
  end
  if not is_list(list) then
    invalid(parser, child(path, "aliases"), "aliases must be an array of names")
  end
  for i, alias in ipairs(list) do
    if not is_valid_fullname(alias) then
      invalid(parser, child(child(path, "aliases"), i - 1), "invalid alias %s", tostring(alias))
    end
    aliases[unqualified(alias)] = true
    names[i] = unqualified(alias)
  end
  return aliases, names
end

-- Creates and registers a named node (before its body is parsed, so the body may refer to it).
local function define_named(parser, json, path, namespace, kind)
  local name = json.name
  if not is_valid_fullname(name) then
    invalid(parser, child(path, "name"), "a %s needs a valid name", kind)
  end
  local own_namespace = namespace
  if present(json.namespace) then
    local namespace_ok = type(json.namespace) == "string"
      and (json.namespace == "" or is_valid_fullname(json.namespace))
    if not namespace_ok then
      invalid(parser, child(path, "namespace"), "invalid namespace")
    end
    own_namespace = json.namespace
  end
  local fullname = qualify(name, own_namespace)
  local short = unqualified(fullname)
  if PRIMITIVES[short] then
    invalid(parser, child(path, "name"), "'%s' is a primitive type name", short)
  end
  if parser.names[fullname] then
    invalid(parser, child(path, "name"), "type '%s' is defined twice", fullname)
  end
  local node = {
    type = kind,
    name = short,
    fullname = fullname,
    namespace = fullname:match("^(.*)%.[^.]*$") or "",
    aliases = parse_aliases(parser, json, path),
  }
  parser.names[fullname] = node
  return node
end

local function parse_record(parser, json, path, namespace)
  local node = define_named(parser, json, path, namespace, "record")
  local fields = json.fields
  if not is_list(fields) then
    invalid(parser, path, "record '%s' needs a fields array", node.fullname)
  end
  node.fields, node.field_by_name = {}, {}
  local seen = node.field_by_name
  for i, field in ipairs(fields) do
    local field_path = child(child(path, "fields"), i - 1)
    if not is_object(field) or is_list(field) then
      invalid(parser, field_path, "a field must be an object")
    end
    if not is_valid_name(field.name) then
      invalid(parser, child(field_path, "name"), "a field needs a valid name")
    end
    if seen[field.name] then
      invalid(parser, child(field_path, "name"), "field '%s' is defined twice", field.name)
    end
    if not present(field.type) then
      invalid(parser, field_path, "field '%s' needs a type", field.name)
    end
    local _, aliases = parse_aliases(parser, field, field_path)
    local parsed = {
      name = field.name,
      aliases = aliases,
      type = parse_schema(parser, field.type, child(field_path, "type"), node.namespace),
      has_default = field.default ~= nil,
      index = i,
    }
    node.fields[i] = parsed
    seen[field.name] = parsed
  end
  return node
end

local function parse_enum(parser, json, path, namespace)
  local node = define_named(parser, json, path, namespace, "enum")
  local symbols = json.symbols
  if not is_list(symbols) then
    invalid(parser, path, "enum '%s' needs a symbols array", node.fullname)
  end
  node.symbols, node.symbol_set = {}, {}
  for i, symbol in ipairs(symbols) do
    local symbol_path = child(child(path, "symbols"), i - 1)
    if not is_valid_name(symbol) then
      invalid(parser, symbol_path, "invalid enum symbol %s", tostring(symbol))
    end
    if node.symbol_set[symbol] then
      invalid(parser, symbol_path, "enum symbol '%s' is duplicated", symbol)
    end
    node.symbols[i] = symbol
    node.symbol_set[symbol] = true
  end
  if present(json.default) then
    if not node.symbol_set[json.default] then
      invalid(parser, child(path, "default"), "enum default %s is not a symbol",
        tostring(json.default))
    end
    node.default = json.default
  end
  return node
end

local function parse_fixed(parser, json, path, namespace)
  local node = define_named(parser, json, path, namespace, "fixed")
  local size = json.size
  if math.type(size) == "float" and size == math.floor(size) then
    size = math.tointeger(size)
  end
  if math.type(size) ~= "integer" or size < 0 then
    invalid(parser, child(path, "size"), "fixed '%s' needs a size that is a non-negative integer",
      node.fullname)
  end
  node.size = size
  return node
end

local function parse_union(parser, json, path, namespace)
  local node = { type = "union", branches = {} }
  local seen = {}
  for i, branch_json in ipairs(json) do
    local branch_path = child(path, i - 1)
    local branch = parse_schema(parser, branch_json, branch_path, namespace)
    if branch.type == "union" then
      invalid(parser, branch_path, "a union may not contain a union")
    end
    local key = branch.fullname or branch.type
    if seen[key] then
      invalid(parser, branch_path, "the union holds %s twice", key)
    end
    seen[key] = true
    node.branches[i] = branch
  end
  return node
end

-- A type name used as a reference: a primitive, or a named type defined earlier.
local function resolve_name(parser, name, path, namespace)
  if PRIMITIVES[name] then
    return { type = name }
  end
  local node = parser.names[qualify(name, namespace)] or parser.names[name]
  if not node then
    invalid(parser, path, "unknown type name '%s'", name)
  end
  return node
end

local function parse_object(parser, json, path, namespace)
  local kind = json.type
  if type(kind) ~= "string" then
    invalid(parser, path, "'type' must be a type name")
  end
  if kind == "record" or kind == "error" then
    return parse_record(parser, json, path, namespace)
  elseif kind == "enum" then
    return parse_enum(parser, json, path, namespace)
  elseif kind == "fixed" then
    return parse_fixed(parser, json, path, namespace)
  elseif kind == "array" then
    if not present(json.items) then
      invalid(parser, path, "an array needs items")
    end
    local items = parse_schema(parser, json.items, child(path, "items"), namespace)
    return { type = "array", items = items }
  elseif kind == "map" then
    if not present(json.values) then
      invalid(parser, path, "a map needs values")
    end
    local values = parse_schema(parser, json.values, child(path, "values"), namespace)
    return { type = "map", values = values }
  end
  -- a primitive, possibly with a logicalType (which follows its underlying type), or a reference
  return resolve_name(parser, kind, child(path, "type"), namespace)
end

function parse_schema(parser, json, path, namespace)
  if type(json) == "string" then
    return resolve_name(parser, json, path, namespace)
  elseif is_object(json) and json.type ~= nil then
    return parse_object(parser, json, path, namespace)
  elseif is_list(json) then
    return parse_union(parser, json, path, namespace)
  elseif is_object(json) then
    return parse_object(parser, json, path, namespace)
  end
  invalid(parser, path, "a schema must be a type name, an object or an array (union), not %s",
    json == gk.null and "null" or type(json))
end

-- Parses a whole schema; `version` (nil for the new schema) labels error messages.
-- The common, valid case is parsed without building paths; an invalid schema is parsed again with
-- them, which raises the error with its location.
local function parse(json, version)
  local label = version and (" of previous version " .. version) or ""
  local ok, node = pcall(parse_schema, { names = {}, label = label }, json, nil, "")
  if ok then
    return node
  elseif node ~= NEEDS_LOCATION then
    error(node, 0)
  end
  return parse_schema({ names = {}, label = label }, json, "/", "")
end

---------------------------------------------------------------------------------------------------
-- Resolution: compare(checker, reader, writer, reader_path, writer_path) records every reason the
-- reader cannot read the writer. A quiet checker only notes that something failed (used to try
-- the branches of a reader union).

local compare -- forward declaration

local function describe(node)
  if node.fullname then
    return string.format("%s '%s'", node.type, node.fullname)
  end
  return node.type
end

-- Records a violation; node arguments are described only when the message is kept.
local function report(checker, reader_path, writer_path, fmt, ...)
  checker.failed = true
  if checker.quiet then
    return
  end
  local args = { ... }
  for i = 1, select("#", ...) do
    if type(args[i]) == "table" then
      args[i] = describe(args[i])
    end
  end
  local list = checker.violations
  list[#list + 1] = {
    reader_path = reader_path,
    writer_path = writer_path,
    message = string.format(fmt, table.unpack(args, 1, select("#", ...))),
  }
end

-- A quiet check stops at its first failure.
local function done(checker)
  return checker.quiet and checker.failed
end

local function reads(checker, reader, writer)
  local quiet = { quiet = true, failed = false, in_progress = checker.in_progress }
  compare(quiet, reader, writer, nil, nil)
  return not quiet.failed
end

-- Whether some branch of `reader_union` reads `writer` (not a union). Only branches of the same
-- kind as the writer (or a kind it promotes to) are candidates; for a primitive writer the kind
-- decides, other candidates are compared in full.
local function union_reads(checker, reader_union, writer)
  local kind = writer.type
  local promotes = PROMOTIONS[kind] or NO_PROMOTIONS
  local primitive = PRIMITIVES[kind]
  for _, branch in ipairs(reader_union.branches) do
    if branch.type == kind or promotes[branch.type] then
      if primitive or reads(checker, branch, writer) then
        return true
      end
    end
  end
  return false
end

local function compare_names(checker, reader, writer, rpath, wpath)
  if reader.name ~= writer.name and not reader.aliases[writer.name] then
    report(checker, child(rpath, "name"), child(wpath, "name"),
      "reader %s does not match writer name '%s' (nor any reader alias)",
      reader, writer.fullname)
  end
end

-- The writer field a reader field reads: same name, else the first of its aliases the writer has.
local function find_writer_field(writer, reader_field)
  local by_name = writer.field_by_name
  local field = by_name[reader_field.name]
  if field then
    return field
  end
  for _, alias in ipairs(reader_field.aliases) do
    if by_name[alias] then
      return by_name[alias]
    end
  end
  return nil
end

local function compare_records(checker, reader, writer, rpath, wpath)
  compare_names(checker, reader, writer, rpath, wpath)
  local rfields, wfields = child(rpath, "fields"), child(wpath, "fields")
  for i, field in ipairs(reader.fields) do
    if done(checker) then
      return
    end
    local writer_field = find_writer_field(writer, field)
    if writer_field then
      compare(checker, field.type, writer_field.type,
        child(child(rfields, i - 1), "type"), child(child(wfields, writer_field.index - 1), "type"))
    elseif not field.has_default then
      report(checker, child(rfields, i - 1), wfields,
        "reader field '%s' has no default and the writer lacks it", field.name)
    end
  end
end

local function compare_enums(checker, reader, writer, rpath, wpath)
  compare_names(checker, reader, writer, rpath, wpath)
  if reader.default then
    return
  end
  for _, symbol in ipairs(writer.symbols) do
    if not reader.symbol_set[symbol] then
      report(checker, child(rpath, "symbols"), child(wpath, "symbols"),
        "writer symbol '%s' is missing from reader %s, which has no default",
        symbol, reader)
    end
  end
end

local function compare_fixed(checker, reader, writer, rpath, wpath)
  compare_names(checker, reader, writer, rpath, wpath)
  if reader.size ~= writer.size then
    report(checker, child(rpath, "size"), child(wpath, "size"),
      "reader %s has size %d, the writer's has size %d", reader, reader.size, writer.size)
  end
end

-- Both sides are not unions.
local function compare_plain(checker, reader, writer, rpath, wpath)
  local kind = reader.type
  if kind ~= writer.type then
    local promotes = PROMOTIONS[writer.type]
    if not (promotes and promotes[kind]) then
      report(checker, rpath, wpath, "reader type %s cannot read writer type %s", reader, writer)
    end
  elseif kind == "record" then
    compare_records(checker, reader, writer, rpath, wpath)
  elseif kind == "enum" then
    compare_enums(checker, reader, writer, rpath, wpath)
  elseif kind == "fixed" then
    compare_fixed(checker, reader, writer, rpath, wpath)
  elseif kind == "array" then
    compare(checker, reader.items, writer.items, child(rpath, "items"), child(wpath, "items"))
  elseif kind == "map" then
    compare(checker, reader.values, writer.values, child(rpath, "values"), child(wpath, "values"))
  end
end

function compare(checker, reader, writer, rpath, wpath)
  if writer.type == "union" then
    for i, branch in ipairs(writer.branches) do
      if done(checker) then
        return
      elseif reader.type ~= "union" then
        compare(checker, reader, branch, rpath, child(wpath, i - 1))
      elseif not union_reads(checker, reader, branch) then
        report(checker, child(rpath, i - 1), child(wpath, i - 1),
          "the reader union has no branch that reads writer union branch %d (%s)", i - 1, branch)
      end
    end
  elseif reader.type == "union" then
    if not union_reads(checker, reader, writer) then
      report(checker, rpath, wpath, "the reader union has no branch that reads writer type %s",
        writer)
    end
  elseif reader.type ~= "record" or writer.type ~= "record" then
    compare_plain(checker, reader, writer, rpath, wpath)
  else
    -- only records can recur: a pair already being compared is assumed compatible
    local in_progress = checker.in_progress
    local readers = in_progress[writer]
    if readers and readers[reader] then
      return
    end
    if not readers then
      readers = {}
      in_progress[writer] = readers
    end
    readers[reader] = true
    compare_plain(checker, reader, writer, rpath, wpath)
    readers[reader] = nil
  end
end

-- Appends to `violations` every reason `reader` cannot read `writer`, located in the new schema.
-- Only the new schema's side builds paths (the other side's path stays nil).
local function collect(violations, reader, writer, new_is_reader, prefix)
  local checker = { quiet = false, failed = false, violations = {}, in_progress = {} }
  if new_is_reader then
    compare(checker, reader, writer, "/", nil)
  else
    compare(checker, reader, writer, nil, "/")
  end
  for _, v in ipairs(checker.violations) do
    violations[#violations + 1] = {
      location = v.reader_path or v.writer_path,
      message = prefix .. v.message,
    }
  end
end

---------------------------------------------------------------------------------------------------
-- check(mode, new_schema, previous_schemas) - the compatibility violations of a new schema version.
--
-- mode              "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
--                   "FULL_TRANSITIVE" or "NONE".
-- new_schema        the Avro schema being registered (decoded JSON).
-- previous_schemas  the registered versions, oldest first (the last is the latest); may be empty.
--
-- Returns a sequence of {location = "/fields/1/type", message = "..."}, one per incompatibility
-- (locations are JSON-pointer-like paths into the new schema, 0-based); empty when compatible.
-- Messages name a previous schema as vN, N being its position in previous_schemas (its version
-- number when the list holds every registered version).
-- Raises "invalid schema at <location>: ..." when a schema is not valid Avro (the new one is always
-- validated, even under NONE) and "unknown compatibility mode ..." for a bad mode.
function check(mode, new_schema, previous_schemas)
  local rules = MODES[mode]
  if not rules then
    error(string.format("unknown compatibility mode '%s'", tostring(mode)), 0)
  end
  local new = parse(new_schema, nil)
  local violations = {}
  if not is_list(previous_schemas) then
    return violations
  end
  local count = length(previous_schemas)
  if count == 0 or not (rules.backward or rules.forward) then
    return violations
  end
  local first = rules.transitive and 1 or count
  for version = first, count do
    local old = parse(previous_schemas[version], version)
    if rules.backward then
      local prefix = string.format("the new schema cannot read v%d: ", version)
      collect(violations, new, old, true, prefix)
    end
    if rules.forward then
      local prefix = string.format("v%d cannot read the new schema: ", version)
      collect(violations, old, new, false, prefix)
    end
  end
  return violations
end

---------------------------------------------------------------------------------------------------
-- Hooks

local function starts_with(text, prefix)
  return text:sub(1, #prefix) == prefix
end

function on_change(change, state)
  if change.kind ~= "schema" or not is_object(change.after) then
    return nil
  end
  local after = change.after
  local entry = is_object(state) and is_object(state.schemas) and state.schemas[change.key] or nil
  if not is_object(entry) then
    entry = nil
  end
  local mode = present(after.mode) and after.mode
    or (entry and present(entry.mode) and entry.mode)
    or DEFAULT_MODE
  local previous = entry and entry.versions or {}
  local name = tostring(change.key)

  local ok, result = pcall(check, mode, after.schema, previous)
  if not ok then
    local message = tostring(result)
    if starts_with(message, "invalid schema")
      or starts_with(message, "unknown compatibility mode") then
      return gk.deny(string.format("schema '%s' rejected: %s", name, message))
    end
    error(result, 0)
  end
  if #result > 0 then
    return gk.deny(string.format("schema '%s' is not %s compatible: %d violation%s", name, mode,
      #result, #result == 1 and "" or "s"), { violations = result })
  end
  return nil
end

-- The stages a consumer that has not opted in to a migration flag may not be given, and the stage
-- it gets instead: the last one that reads from the old side (docs/flags.md "Migration flags").
NOT_OPTED_IN_STAGES = { live = true, rampdown = true, complete = true }
NOT_OPTED_IN_STAGE = "shadow"

local function supports_version(supported, target)
  if not is_object(supported) then
    return false
  end
  local i = 1
  while supported[i] ~= nil do
    if supported[i] == target then
      return true
    end
    i = i + 1
  end
  return false
end

-- A migration flag (kind "migration"): a registered consumer of its schema that cannot read
-- version `to` gets "off" (the old path); a consumer that has not opted in gets at most "shadow".
-- A context without a service is not a consumer's: abstain.
local function evaluate_migration(ctx, def, proposal, state, key)
  local service = ctx.service
  local stage = proposal.variant
  if not present(service) or stage == "off" then
    return nil
  end
  local migration = def.migration
  local schema = is_object(migration) and migration.schema or nil
  local target = is_object(migration) and migration.to or nil
  local consumers = state.consumers
  local consumer = is_object(consumers) and consumers[service] or nil
  if is_object(consumer) and present(schema) and present(target) then
    local supported = is_object(consumer.schemas) and consumer.schemas[schema] or nil
    if not supports_version(supported, target) then
      return gk.allow(string.format("consumer %s does not support %s v%s; it stays on the old "
        .. "path (stage off instead of %s)", tostring(service), tostring(schema),
        tostring(math.tointeger(target) or target), tostring(stage)), { variant = "off" })
    end
  end
  if NOT_OPTED_IN_STAGES[stage] then
    local opt_ins = def.optIns
    local i = 1
    while is_object(opt_ins) and opt_ins[i] ~= nil do
      if opt_ins[i] == service then
        return nil
      end
      i = i + 1
    end
    return gk.allow(string.format("consumer %s has not opted in to %s; it gets %s instead of %s "
      .. "(gkctl optin add %s %s)", tostring(service), tostring(key),
      NOT_OPTED_IN_STAGE, tostring(stage), tostring(key),
      tostring(service)), { variant = NOT_OPTED_IN_STAGE })
  end
  return nil
end
local evaluate -- on_evaluate's verdict; on_evaluate (at the end of the file) answers from a memo
-- evaluate runs when the memo has no answer yet: its checks are written out (no helper calls) and
-- an abstention only looks fields up.
function evaluate(ctx, flag, proposal, state)
  local flags = state.flags
  local def = type(flags) == "table" and flags ~= NULL and flags[flag.key] or nil
  if type(def) == "table" and def ~= NULL and def.kind == "migration" then
    return evaluate_migration(ctx, def, proposal, state, flag.key)
  end
  local metadata = flag.metadata
  if type(metadata) ~= "table" or metadata == NULL then
    return nil
  end
  local schema, target = metadata.schema, metadata.targetVersion
  if schema == nil or schema == NULL or target == nil or target == NULL then
    return nil
  end
  local service = ctx.service
  local consumers = state.consumers
  if service == nil or service == NULL or type(consumers) ~= "table" or consumers == NULL then
    return nil
  end
  local consumer = consumers[service]
  if type(consumer) ~= "table" or consumer == NULL then
    return nil
  end
  local schemas = consumer.schemas
  local supported = type(schemas) == "table" and schemas ~= NULL and schemas[schema] or nil
  if type(supported) == "table" and supported ~= NULL then
    local i = 1
    while supported[i] ~= nil do
      if supported[i] == target then
        return nil
      end
      i = i + 1
    end
  end
  local old = metadata.oldVariant -- as `present(x) and x or default`: false counts as absent
  if not old or old == NULL then old = flag.defaultVariant end
  if old == nil or old == NULL or proposal.variant == old then return nil end
  return gk.allow(string.format("consumer %s does not support %s v%s; it stays on the old path",
    tostring(service), tostring(schema), tostring(math.tointeger(target) or target)),
    { variant = old })
end

---------------------------------------------------------------------------------------------------
-- on_evaluate, which answers from a memo. For a flag that is not a migration flag the verdict
-- depends on the flag, the service and the state, and on the proposal only through "the proposed
-- variant is already the old one", so while `state` is the gatekeeper's current snapshot it is
-- worked out once per flag and service (with a proposal whose variant matches nothing) and kept in
-- gk.state_memo, which goes with the snapshot: false (abstain), or the verdict gk.allow built in
-- `evaluate`, whose source line, and so the explain trace, are those of a fresh one. A flag without
-- metadata (most flags) abstains whatever the service, so it is kept once, under ANY_SERVICE.
-- Migration flags depend on the proposed stage and are judged every time, as is any other `state`
-- (a test's own table) and a service that is not a registered consumer: its name is the caller's
-- to choose, so keeping a verdict per name would let callers grow the memo until the memory
-- budget trips. `evaluate` keeps its lines: they are the verdicts' source lines.
local PROBE = { variant = {} }
local MIGRATION = {}
local ANY_SERVICE = {}
local state_memo = gk.state_memo
local function registered(state, service) -- whether state.consumers names `service`
  local consumers = state.consumers
  return is_object(consumers) and consumers[service] ~= nil
end
function on_evaluate(ctx, flag, proposal, state)
  local key = type(flag) == "table" and flag.key
  local service = ANY_SERVICE
  if key and flag.metadata ~= nil then
    service = type(ctx) == "table" and ctx.service
    if type(service) ~= "string" then service = nil end
  end
  local memo = service and type(key) == "string" and state_memo(state, key)
  if not memo then return evaluate(ctx, flag, proposal, state) end
  local kept = memo[service]
  if kept == nil then
    if service ~= ANY_SERVICE and not registered(state, service) then
      return evaluate(ctx, flag, proposal, state)
    end
    local flags = state.flags
    local def = type(flags) == "table" and flags ~= NULL and flags[key] or nil
    if type(def) == "table" and def ~= NULL and def.kind == "migration" then
      kept = MIGRATION
    else
      kept = evaluate(ctx, flag, PROBE, state) or false
    end
    memo[service] = kept
  end
  if kept == MIGRATION then return evaluate(ctx, flag, proposal, state) end
  if not kept or proposal.variant == kept.variant then return nil end
  return kept
end
