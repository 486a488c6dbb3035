-- privacy.lua: personal data is masked for whoever is not cleared to see it.
--
--   on_evaluate  when the flag's metadata.schema names a schema with personal-data fields
--                (state.schemas[name].pii) and the requesting service is not a consumer cleared
--                for "pii" (state.consumers[ctx.service].clearances), the decision is allowed with
--                those fields as its mask list; the variant is left alone. Otherwise: abstain.
--                Runs for every decision, so it does a few table look-ups and nothing more.
--   mask         kind "context": the attributes that look personal (PERSONAL_WORDS in the name, or
--                listed in PERSONAL_ATTRIBUTES), nested objects included ("user.email");
--                kind = a schema name: that schema's pii fields present in the record. The pii
--                list is read from `state` when the gatekeeper passes it as a third argument, else
--                from SCHEMA_PII; for a schema known to neither, the attributes that look personal.
--
-- The runtime fails closed: an error in this file masks every field of the record, and gives the
-- decision its default variant with reason ERROR.

-- The clearance a consumer needs to receive personal data unmasked.
CLEARANCE = "pii"

-- on_evaluate reads only ctx.service (besides the flag, the proposal and the state), so the
-- gatekeeper may keep its verdicts (policies/README.md, "Declaring what on_evaluate reads").
on_evaluate_reads = { "service" }

-- A context attribute looks personal when one of the words of its name (split at "_", "-", ".",
-- and lower-to-upper case changes; compared in lower case) is one of these.
PERSONAL_WORDS = {
  email = true, mail = true,
  name = true, firstname = true, lastname = true, fullname = true, surname = true, username = true,
  phone = true, mobile = true, telephone = true, msisdn = true,
  address = true, addr = true, street = true, postcode = true, zip = true,
  ip = true, ipv4 = true, ipv6 = true, ipaddress = true,
}

-- Context attributes that are personal whatever their name says (compared in lower case).
PERSONAL_ATTRIBUTES = { "dob", "birthDate", "dateOfBirth", "ssn", "nationalId", "taxId", "iban" }

-- The pii fields of schemas, for `mask` when the gatekeeper does not pass `state`:
-- schema name -> list of field paths. state.schemas[name].pii wins when it is available.
SCHEMA_PII = {}

-- Nested objects deeper than this are masked whole rather than searched.
MAX_DEPTH = 8
local type, NULL = type, gk.null -- read-only library values, as locals: looked up once
local function str(v)
  if type(v) == "string" and v ~= "" then return v end
  return nil
end

local function is_object(v)
  return type(v) == "table" and v ~= NULL
end

local function contains(t, x)
  if not is_object(t) then return false end
  for _, v in ipairs(t) do
    if v == x then return true end
  end
  return false
end

local function strings(t)
  local out = {}
  if not is_object(t) then return out end
  for _, v in ipairs(t) do
    if type(v) == "string" and v ~= "" then out[#out + 1] = v end
  end
  return out
end

local extra_personal = {}
for _, a in ipairs(PERSONAL_ATTRIBUTES) do extra_personal[a:lower()] = true end

-- Whether an attribute name looks like personal data.
function looks_personal(key)
  if type(key) ~= "string" then return false end
  local lower = key:lower()
  if extra_personal[lower] or PERSONAL_WORDS[lower] then return true end
  local spaced = key:gsub("(%l)(%u)", "%1 %2"):gsub("(%d)(%a)", "%1 %2"):lower()
  for word in spaced:gmatch("[%w]+") do
    if PERSONAL_WORDS[word] then return true end
  end
  return false
end

-- The pii list of schema `name`, or nil when the schema is unknown.
local function schema_pii(name, state, known)
  if is_object(state) and is_object(state.schemas) then
    local s = state.schemas[name]
    if is_object(s) then return strings(s.pii) end
  end
  if is_object(known[name]) then return strings(known[name]) end
  return nil
end
local pii_fields, copy_list, cleared, evaluate -- decision-time helpers, defined below
function evaluate(ctx, flag, proposal, state) -- on_evaluate's verdict; its memo is on_evaluate
  local meta = type(flag) == "table" and flag ~= NULL and flag.metadata or nil
  local schema = type(meta) == "table" and meta ~= NULL and meta.schema or nil
  if type(schema) ~= "string" or schema == "" or type(state) ~= "table" or state == NULL then
    return nil
  end
  local s = state.schemas
  s = type(s) == "table" and s ~= NULL and s[schema] or nil
  local pii = type(s) == "table" and s ~= NULL and s.pii or nil
  if type(pii) ~= "table" or pii == NULL or #pii == 0 then return nil end
  local service = type(ctx) == "table" and ctx ~= NULL and ctx.service or nil
  if type(service) ~= "string" or service == "" then service = nil end
  local consumers = service and state.consumers
  local consumer = type(consumers) == "table" and consumers ~= NULL and consumers[service] or nil
  local registered = type(consumer) == "table" and consumer ~= NULL
  if registered and cleared(consumer.clearances) then return nil end
  local fields, joined = pii_fields(schema, pii)
  local who = not service and "the request names no service"
    or "service " .. service .. (registered and " is not cleared for " .. CLEARANCE
    or " is not a registered consumer")
  return gk.allow(who .. ": masking the personal data of schema " .. schema .. " ("
    .. joined .. ")", { mask = copy_list(fields) })
end

-- Appends to `out` the paths of personal attributes in `record`, searching nested objects.
local function personal_paths(record, prefix, depth, out)
  for k, v in pairs(record) do
    if type(k) == "string" then
      local path = prefix .. k
      if looks_personal(k) then
        out[#out + 1] = path
      elseif is_object(v) and not gk.is_array(v) then
        if depth >= MAX_DEPTH then
          out[#out + 1] = path
        else
          personal_paths(v, path .. ".", depth + 1, out)
        end
      end
    end
  end
  return out
end

-- The value at a dotted path ("address.street"), or nil.
local function at_path(record, path)
  local v = record
  for part in path:gmatch("[^.]+") do
    if not is_object(v) then return nil end
    v = v[part]
  end
  return v
end

-- The paths to mask in `record` of `kind`; `known` is the schema name -> pii list table to use when
-- `state` is absent (SCHEMA_PII when nil). A helper of `mask`, global so that tests can call it.
function mask_fields(kind, record, state, known)
  local pii = nil
  if kind ~= "context" then
    pii = schema_pii(kind, state, known or SCHEMA_PII)
  end
  local fields
  if pii then
    fields = {}
    for _, f in ipairs(pii) do
      if at_path(record, f) ~= nil then fields[#fields + 1] = f end
    end
  else
    fields = personal_paths(record, "", 1, {})
    table.sort(fields)
  end
  return fields
end

function mask(kind, record, state)
  if not is_object(record) then return nil end
  local fields = mask_fields(kind, record, state)
  if #fields == 0 then return nil end
  local what = kind == "context" and "context" or ("a record of schema " .. tostring(kind))
  return gk.allow("personal data in " .. what, { mask = fields })
end

---------------------------------------------------------------------------------------------------
-- Decision-time helpers of on_evaluate (declared above it, defined here so that the verdicts keep
-- their lines).

-- Whether a consumer's clearances list (read as ipairs would) holds CLEARANCE.
function cleared(clearances)
  if type(clearances) ~= "table" or clearances == NULL then return false end
  local i = 1
  while clearances[i] ~= nil do
    if clearances[i] == CLEARANCE then return true end
    i = i + 1
  end
  return false
end

-- A fresh copy of a list of strings (the verdict's own, so the cached list never leaves the file).
local unpack = table.unpack
function copy_list(list)
  local n = #list
  if n <= 64 then return { unpack(list, 1, n) } end
  local out = {}
  for i = 1, n do out[i] = list[i] end
  return out
end

-- The fields of a schema's pii list (as strings() makes them) and their ", "-joined text, kept per
-- schema name between decisions. A kept entry is used only while the list holds the same strings
-- in the same order, so a new state (or a test's changed table) is never served stale fields.
-- Lists holding anything but strings are not kept; past PII_CACHE_MAX schemas the cache restarts.
local PII_CACHE_MAX = 64
local pii_cache, pii_cached = {}, 0
local concat = table.concat
function pii_fields(schema, pii)
  local entry = pii_cache[schema]
  if entry then
    local raw, n, i = entry.raw, entry.n, 1
    while i <= n and pii[i] == raw[i] do i = i + 1 end
    if i > n and pii[i] == nil then return entry.fields, entry.joined end
  end
  local fields, raw, n, only_strings = {}, {}, 0, true
  for _, v in ipairs(pii) do
    n = n + 1
    raw[n] = v
    if type(v) ~= "string" then
      only_strings = false
    elseif v ~= "" then
      fields[#fields + 1] = v
    end
  end
  local joined = concat(fields, ", ")
  if only_strings then
    if not entry then
      if pii_cached >= PII_CACHE_MAX then pii_cache, pii_cached = {}, 0 end
      pii_cached = pii_cached + 1
    end
    pii_cache[schema] = { raw = raw, n = n, fields = fields, joined = joined }
  end
  return fields, joined
end

---------------------------------------------------------------------------------------------------
-- on_evaluate, which answers from a memo. Its verdict depends only on the flag, the service and the
-- state, so while `state` is the gatekeeper's current snapshot it is worked out once per flag and
-- service and kept in gk.state_memo (which goes with the snapshot). The kept verdict is the table
-- gk.allow built in `evaluate`, so its source line, and the explain trace, are those of a fresh one.
-- Any other `state` (a test's own table) is judged afresh every time, and so is a service that is
-- not a registered consumer: its name is the caller's to choose, so keeping a verdict per name
-- would let callers grow the memo until the memory budget trips. A flag without metadata (nil or
-- false) abstains at once, as `evaluate` would: most flags are such, so that path is a type check
-- and one field read.
local state_memo = gk.state_memo
local function registered(state, service) -- whether state.consumers names `service`
  local consumers = state.consumers
  return is_object(consumers) and consumers[service] ~= nil
end
function on_evaluate(ctx, flag, proposal, state)
  if type(flag) ~= "table" or not flag.metadata then return nil end
  local key = flag.key
  local memo = type(key) == "string" and state_memo(state, key)
  if not memo then return evaluate(ctx, flag, proposal, state) end
  local service = type(ctx) == "table" and ctx.service
  if type(service) ~= "string" then service = "" end -- "" or not a string: no service
  local verdict = memo[service]
  if verdict == nil then
    verdict = evaluate(ctx, flag, proposal, state) or false
    if service == "" or registered(state, service) then memo[service] = verdict end
  end
  return verdict or nil
end
