-- security.lua: which actors may read or change what, where, and with what reason.
--
--   authorize  * a read op (READ_OPS) is allowed to an actor holding any role of KNOWN_ROLES;
--              * a change op needs one of the roles OP_ROLES lists for it (policy.reload needs
--                policy-author, whatever else the actor holds);
--              * a change in a protected environment (PROTECTED_ENVIRONMENTS, e.g. "prod") needs
--                one of that environment's roles;
--              * every change needs a reason: req.why of at least MIN_WHY_CHARS characters after
--                trimming;
--              * rollout.set and rollout.advance of a flag without an owner are refused;
--              * a change that passes all of these is allowed (security's part: ownership.lua
--                decides which team's resources the actor may touch);
--              * an op this file does not know is left to the other policies (abstain); the
--                authorize default, when every policy abstains, is deny.
--   on_change  * the same reason rule, and the same owner rule for rollouts, on the change itself.
--
-- Reviewers: the tables below are the policy; tests/security_test.lua pins them.

-- Ops that only read. Any actor holding one of KNOWN_ROLES may do them, in any environment.
READ_OPS = { ["flag.get"] = true, ["flag.list"] = true, ["audit.read"] = true, ["status"] = true,
  ["schema.read"] = true }

KNOWN_ROLES = { "admin", "release-manager", "policy-author", "owner", "viewer" }

-- Change ops and the roles that may do them. "owner" is the role of a team member who changes
-- their team's resources (ownership.lua checks the team). An op missing here is not decided by
-- this policy.
OP_ROLES = {
  ["flag.create"] = { "owner", "admin" },
  ["flag.update"] = { "owner", "admin" },
  ["flag.delete"] = { "owner", "admin" },
  ["rollout.set"] = { "owner", "release-manager", "admin" },
  ["rollout.advance"] = { "owner", "release-manager", "admin" },
  ["rollout.back"] = { "owner", "release-manager", "admin" },
  ["rollout.plan"] = { "owner", "release-manager", "admin" },
  ["rollout.pause"] = { "owner", "release-manager", "admin" },
  ["rollout.resume"] = { "owner", "release-manager", "admin" },
  ["flag.kill"] = { "owner", "release-manager", "admin" },
  ["flag.unkill"] = { "owner", "release-manager", "admin" },
  ["optin.add"] = { "owner", "release-manager", "admin" },
  ["optin.remove"] = { "owner", "release-manager", "admin" },
  ["schema.register"] = { "owner", "admin" },
  ["consumer.register"] = { "owner", "admin" },
  ["backfill.done"] = { "owner", "release-manager", "admin" },
  ["ownership.transfer"] = { "owner", "admin" },
  ["policy.reload"] = { "policy-author" },
}

-- Environments where only these roles may change anything.
PROTECTED_ENVIRONMENTS = {
  prod = { "release-manager", "admin" },
}

-- Ops that PROTECTED_ENVIRONMENTS does not restrict: they have their own rule in OP_ROLES and
-- are not changes to one environment's flags.
ENVIRONMENT_EXEMPT_OPS = { ["policy.reload"] = true }

-- Ops refused on a flag that has no owner.
NEEDS_OWNER_OPS = { ["rollout.set"] = true, ["rollout.advance"] = true }

MIN_WHY_CHARS = 10
WHY_REASON = "every change needs a reason: pass --why with at least 10 characters"

local function str(v)
  if type(v) == "string" and v ~= "" then return v end
  return nil
end

-- `v` when it is a JSON object or array, else an empty table.
local function object(v)
  if type(v) == "table" and v ~= gk.null then return v end
  return {}
end

local list = object

local function contains(t, x)
  for _, v in ipairs(list(t)) do
    if v == x then return true end
  end
  return false
end

-- The first of `roles` the actor holds, or nil.
local function held(actor, roles)
  for _, r in ipairs(roles) do
    if contains(actor.roles, r) then return r end
  end
  return nil
end

local function article(word)
  if word:match("^[aeiouAEIOU]") then return "an " .. word end
  return "a " .. word
end

-- "x", "x or y", "x, y or z"
local function or_list(words)
  if #words == 1 then return words[1] end
  return table.concat(words, ", ", 1, #words - 1) .. " or " .. words[#words]
end

-- "a release-manager or an admin"
local function one_of(roles)
  local parts = {}
  for i, r in ipairs(roles) do parts[i] = article(r) end
  return or_list(parts)
end

local function actor_name(actor)
  return tostring(str(actor.id) or "the actor")
end

-- Whether `why` is a reason: a string of at least MIN_WHY_CHARS characters once trimmed.
function has_reason(why)
  if type(why) ~= "string" then return false end
  local trimmed = why:match("^%s*(.-)%s*$")
  local n = utf8.len(trimmed) or #trimmed
  return n >= MIN_WHY_CHARS
end

local function owner_missing(flag)
  return type(flag) ~= "table" or flag == gk.null or str(flag.owner) == nil
end

function authorize(req)
  local op = str(req.op)
  if not op then return nil end
  local actor = object(req.actor)

  if READ_OPS[op] then
    local role = held(actor, KNOWN_ROLES)
    if role then return gk.allow(role .. " may " .. op) end
    return nil
  end

  local roles = OP_ROLES[op]
  if not roles then return nil end
  local role = held(actor, roles)
  if not role then
    local have = #list(actor.roles) > 0 and table.concat(list(actor.roles), ", ") or "none"
    return gk.deny(op .. " needs the role " .. or_list(roles) .. "; " .. actor_name(actor)
      .. " holds " .. have)
  end

  local env = str(req.environment)
  local env_roles = env and PROTECTED_ENVIRONMENTS[env]
  local env_role = nil
  if env_roles and not ENVIRONMENT_EXEMPT_OPS[op] then
    env_role = held(actor, env_roles)
    if not env_role then
      return gk.deny("only " .. one_of(env_roles) .. " may change anything in " .. env
        .. "; " .. actor_name(actor) .. " may not " .. op .. " there")
    end
  end

  if not has_reason(req.why) then
    return gk.deny(WHY_REASON)
  end

  local res = object(req.resource)
  if NEEDS_OWNER_OPS[op] and res.kind == "flag" and owner_missing(res) then
    return gk.deny("flag " .. tostring(str(res.key) or "?") .. " has no owner: give it an owner"
      .. " (flag.update) before " .. op)
  end

  local where = env and (" in " .. env) or ""
  return gk.allow((env_role or role) .. " may " .. op .. where)
end

function on_change(change, state)
  if not has_reason(change.why) then
    return gk.deny(WHY_REASON)
  end
  if NEEDS_OWNER_OPS[change.op] and change.kind == "flag" then
    local flag = change.after
    if type(flag) ~= "table" or flag == gk.null then flag = change.before end
    if owner_missing(flag) then
      return gk.deny("flag " .. tostring(change.key) .. " has no owner: give it an owner"
        .. " (flag.update) before " .. change.op)
    end
  end
  return nil
end
