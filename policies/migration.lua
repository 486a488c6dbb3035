-- migration.lua: the gates on a migration flag's stages (docs/flags.md "Migration flags").
--
--   on_change  for a change to a migration flag (kind = "migration") that moves it further than
--              it was (the furthest stage a key can be given: a stage with rollout weight > 0 at
--              flag level or in a rule, a rule's or a target's stage, the default stage), every
--              gate up to the new furthest stage must hold:
--                * leaving "off" (dualwrite or later): the schema holds version `to`
--                  (state.schemas[schema].versions; registering it ran the compatibility check);
--                * leaving "dualwrite" (shadow or later): the backfill is complete
--                  (flag.backfill.complete, set by `gkctl backfill done`);
--                * "live" or later: every registered consumer of the schema (a consumer whose
--                  schemas name it) supports version `to` and is in the flag's optIns;
--                * "complete": no old-path read for migration.completeAfterSeconds (default
--                  COMPLETE_AFTER_SECONDS): state.telemetry[flag].lastOldReadAt is null (none
--                  seen) or older than that; a flag without telemetry counts as read just now
--                  (fail closed).
--              A change that does not move the flag forward is not gated (rolling back always
--              works). Every refusal names the gate and what to do.
--
-- The decision-time side (a consumer that cannot read `to` stays "off"; one that has not opted
-- in gets at most "shadow") is compatibility.lua's on_evaluate.
--
-- Reviewers: the tables below are the policy; tests/migration_test.lua pins them.

STAGES = { "off", "dualwrite", "shadow", "live", "rampdown", "complete" }

-- The gate checked when a flag reaches a stage (index into STAGES) for the first time.
GATES = {
  [2] = "schema",    -- leaving off
  [3] = "backfill",  -- leaving dualwrite
  [4] = "consumers", -- live
  [5] = "consumers", -- rampdown
  [6] = "telemetry", -- complete
}

COMPLETE_AFTER_SECONDS = 300

local STAGE_INDEX = {}
for i, name in ipairs(STAGES) do STAGE_INDEX[name] = i end

local function present(v)
  return v ~= nil and v ~= gk.null
end

local function object(v)
  if type(v) == "table" and v ~= gk.null then return v end
  return {}
end

local function contains(list, x)
  for _, v in ipairs(object(list)) do
    if v == x then return true end
  end
  return false
end

local function is_migration(def)
  return type(def) == "table" and def ~= gk.null and def.kind == "migration"
end

-- The furthest stage (index) of a weights object with a weight above 0, or 0.
local function furthest_weighted(weights)
  local f = 0
  for name, w in pairs(object(weights)) do
    local i = STAGE_INDEX[name]
    if i and type(w) == "number" and w > 0 and i > f then f = i end
  end
  return f
end

-- The furthest stage (index) a key can be given by the definition `def`.
function furthest(def)
  if not is_migration(def) then return 0 end
  local f = STAGE_INDEX[def.defaultVariant] or 1
  local r = furthest_weighted(def.rollout)
  if r > f then f = r end
  for _, rule in ipairs(object(def.rules)) do
    local i = STAGE_INDEX[rule.variant] or furthest_weighted(rule.rollout)
    if i > f then f = i end
  end
  for name, keys in pairs(object(def.targets)) do
    local i = STAGE_INDEX[name]
    if i and #object(keys) > 0 and i > f then f = i end
  end
  return f
end

local function fmt_version(v)
  return tostring(math.tointeger(v) or v)
end

local checks = {}

function checks.schema(key, def, mig, state)
  local entry = object(object(state.schemas)[mig.schema])
  local versions = object(entry.versions)
  if #versions >= mig.to then return nil end
  return string.format("gate 'leave off' for %s: schema %s has no version %s registered (it has %d);"
    .. " register it first: gkctl schema register %s FILE.avsc --why ...",
    key, tostring(mig.schema), fmt_version(mig.to), #versions, tostring(mig.schema))
end

function checks.backfill(key, def)
  if object(def.backfill).complete == true then return nil end
  return string.format("gate 'leave dualwrite' for %s: the backfill is not complete; finish it"
    .. " while in dualwrite, then: gkctl backfill done %s --why ...", key, key)
end

function checks.consumers(key, def, mig, state)
  local problems = {}
  local names = {}
  for name in pairs(object(state.consumers)) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local supports = object(object(state.consumers)[name].schemas)[mig.schema]
    if present(supports) then
      if not contains(supports, mig.to) then
        problems[#problems + 1] = name .. " does not support v" .. fmt_version(mig.to)
          .. " (gkctl consumer register " .. name .. " --schema " .. tostring(mig.schema)
          .. " --supports ...," .. fmt_version(mig.to) .. ")"
      elseif not contains(def.optIns, name) then
        problems[#problems + 1] = name .. " has not opted in (gkctl optin add " .. key .. " "
          .. name .. ")"
      end
    end
  end
  if #problems == 0 then return nil end
  return string.format("gate 'live' for %s: every consumer of %s must support v%s and opt in: %s",
    key, tostring(mig.schema), fmt_version(mig.to), table.concat(problems, "; "))
end

function checks.telemetry(key, def, mig, state)
  local window = math.tointeger(mig.completeAfterSeconds) or COMPLETE_AFTER_SECONDS
  local entry = object(state.telemetry)[key]
  local now = gk.now_ms() // 1000
  local last
  if type(entry) ~= "table" or entry == gk.null then
    last = now -- no telemetry for the flag: assume an old-path read just now (fail closed)
  elseif entry.lastOldReadAt == gk.null or entry.lastOldReadAt == nil then
    return nil
  else
    last = entry.lastOldReadAt
  end
  if type(last) ~= "number" then last = now end
  if now - last >= window then return nil end
  return string.format("gate 'complete' for %s: an old-path read was seen %ds ago%s; complete"
    .. " needs none for %ds: move the remaining readers to the new path and retry later", key,
    math.tointeger(now - last) or 0, entry == nil and " (no telemetry for this flag yet)" or "",
    window)
end

function on_change(change, state)
  if change.kind ~= "flag" or not is_migration(change.after) then return nil end
  local key = tostring(change.key)
  local def = change.after
  local mig = object(def.migration)
  local before = is_migration(change.before) and furthest(change.before) or 1
  local after = furthest(def)
  if after <= before then return nil end
  if type(mig.to) ~= "number" then
    return gk.deny("migration flag " .. key .. " has no \"migration\".\"to\" version")
  end
  state = object(state)
  for stage = 2, after do
    local gate = GATES[stage]
    local problem = gate and checks[gate](key, def, mig, state)
    if problem then return gk.deny(problem) end
  end
  return gk.allow(string.format("migration gates hold for %s up to %s", key, STAGES[after]))
end
