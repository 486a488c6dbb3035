-- ownership.lua: who may change a flag, a schema or a consumer.
--
-- Every flag, schema and consumer belongs to an owner team (flag.owner, consumer.owner, the owner
-- of a schema in state.schemas[name].owner; in `authorize` the gatekeeper passes the current owner
-- as req.resource.owner). This policy decides:
--
--   authorize  * a member of the owner team may change the resource;
--              * so may an actor holding one of the roles ROLE_OVERRIDES names for the op;
--              * a resource with no owner yet (a new one) may be created by any team, as its own:
--                when the request names an owner (req.args.owner) it must be the actor's team;
--              * ownership.transfer needs the approval of both teams (req.args.approvals lists
--                req.args.from and req.args.to), from must be the current owner, and the actor
--                must belong to one of the two teams or hold an override role;
--              * read ops and resources of other kinds are not its business (abstain).
--   on_change  * an update may not change the owner field: only ownership.transfer moves ownership
--                (and its approvals are checked again here);
--              * a new flag or consumer must name the actor's team as its owner.
--
-- Reviewers: ROLE_OVERRIDES is the one table to adjust. tests/ownership_test.lua pins it.

-- Roles that may act on a resource whatever its owner team, by op. "*" applies to every op.
-- ownership.transfer still needs both teams' approvals, whatever the actor's roles.
ROLE_OVERRIDES = {
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
}

-- Ops that only read: ownership has no opinion on them.
READ_OPS = { ["flag.get"] = true, ["flag.list"] = true, ["audit.read"] = true, ["status"] = true,
  ["schema.read"] = true }

-- Resource kinds that have an owner team.
OWNED_KINDS = { flag = true, schema = true, consumer = true }

-- Kinds whose stored object carries its owner in an `owner` field (a schema's owner is kept
-- beside its versions, in state.schemas[name].owner).
OWNER_IN_OBJECT = { flag = true, consumer = true }

local function present(v)
  return v ~= nil and v ~= gk.null and v ~= ""
end

local function str(v)
  if type(v) == "string" and v ~= "" then return v end
  return nil
end

-- `v` when it is a JSON object or array, else an empty table.
local function object(v)
  if type(v) == "table" and v ~= gk.null then return v end
  return {}
end

local function list(v)
  if type(v) == "table" and v ~= gk.null then return v end
  return {}
end

local function contains(t, x)
  for _, v in ipairs(list(t)) do
    if v == x then return true end
  end
  return false
end

-- The roles that let `op` be done on a resource of any team, "*" first.
local function override_roles(op)
  local roles = {}
  for _, key in ipairs({ op, "*" }) do
    for _, r in ipairs(ROLE_OVERRIDES[key] or {}) do
      if not contains(roles, r) then roles[#roles + 1] = r end
    end
  end
  return roles
end

-- The first role of the actor that overrides ownership for `op`, or nil.
local function override_role(actor, op)
  for _, r in ipairs(override_roles(op)) do
    if contains(actor.roles, r) then return r end
  end
  return nil
end

local function article(word)
  if word:match("^[aeiouAEIOU]") then return "an " .. word end
  return "a " .. word
end

-- "team-orders, a release-manager or an admin"
local function who_may(owner, op)
  local parts = { owner }
  for _, r in ipairs(override_roles(op)) do parts[#parts + 1] = article(r) end
  if #parts == 1 then return parts[1] end
  return table.concat(parts, ", ", 1, #parts - 1) .. " or " .. parts[#parts]
end

-- The teams of a transfer that have not approved it, in the order from, to.
local function missing_approvals(t)
  local missing = {}
  for _, team in ipairs({ t.from, t.to }) do
    if not contains(t.approvals, team) and not contains(missing, team) then
      missing[#missing + 1] = team
    end
  end
  return missing
end

-- Checks a transfer record { from, to, approvals }; returns a deny reason or nil.
local function transfer_problem(what, owner, t)
  local from, to = str(t.from), str(t.to)
  if not from or not to then
    return "ownership.transfer of " .. what .. " needs both from and to teams"
  end
  if from == to then
    return "ownership.transfer of " .. what .. ": from and to are the same team " .. from
  end
  if owner and owner ~= from then
    return "ownership.transfer of " .. what .. " from " .. from .. ", but its owner is " .. owner
  end
  local missing = missing_approvals({ from = from, to = to, approvals = t.approvals })
  if #missing > 0 then
    return "ownership.transfer of " .. what .. " from " .. from .. " to " .. to
      .. " needs the approval of " .. table.concat(missing, " and ")
  end
  return nil
end

local function authorize_transfer(req, actor, what, owner)
  local args = object(req.args)
  if not owner then
    return gk.deny(what .. " has no owner to transfer from")
  end
  local problem = transfer_problem(what, owner, args)
  if problem then return gk.deny(problem) end
  local role = override_role(actor, req.op)
  if actor.team ~= args.from and actor.team ~= args.to and not role then
    return gk.deny("only " .. who_may(args.from .. " or " .. args.to, req.op)
      .. " may request the transfer of " .. what)
  end
  return gk.allow("ownership of " .. what .. " moves from " .. args.from .. " to " .. args.to
    .. " with both teams' approval")
end

function authorize(req)
  local op = str(req.op)
  local res = object(req.resource)
  if not op or READ_OPS[op] or not OWNED_KINDS[res.kind] then
    return nil
  end
  local actor = object(req.actor)
  local team = str(actor.team)
  local what = res.kind .. " " .. tostring(str(res.key) or "?")
  local owner = str(res.owner)

  if op == "ownership.transfer" then
    return authorize_transfer(req, actor, what, owner)
  end

  if not owner then
    -- A new resource (or one that never had an owner): the actor's team becomes its owner.
    local role = override_role(actor, op)
    local proposed = str(object(req.args).owner)
    if not team and not role then
      return gk.deny(what .. " has no owner yet, and the actor " .. tostring(str(actor.id) or "?")
        .. " has no team to own it")
    end
    if proposed and proposed ~= team and not role then
      return gk.deny(what .. " has no owner yet: " .. team .. " may take it only as its own,"
        .. " not for " .. proposed)
    end
    return gk.allow(what .. " has no owner yet: " .. (proposed or team) .. " may take it as owner")
  end

  if team == owner then
    return gk.allow("owner " .. owner .. " may change its own " .. what)
  end
  local role = override_role(actor, op)
  if role then
    return gk.allow(role .. " may " .. op .. " " .. what .. " of " .. owner)
  end
  return gk.deny("only " .. who_may(owner, op) .. " may " .. op .. " " .. what)
end

-- The owner recorded for the object before the change.
local function owner_before(change, state)
  local owner = str(object(change.before).owner)
  if owner then return owner end
  if change.kind == "schema" then
    return str(object(object(object(state).schemas)[change.key]).owner)
  end
  return nil
end

function on_change(change, state)
  local actor = object(change.actor)
  local what = tostring(change.kind) .. " " .. tostring(change.key)

  if change.op == "ownership.transfer" then
    local t = object(change.after)
    if t.from == nil then t = object(change.args) end
    local problem = transfer_problem(what, nil, t)
    if problem then return gk.deny(problem) end
    return gk.allow("ownership of " .. what .. " moves from " .. t.from .. " to " .. t.to
      .. " with both teams' approval")
  end

  if not OWNED_KINDS[change.kind] then return nil end
  local before, after = change.before, change.after
  if not present(after) or type(after) ~= "table" then return nil end -- a delete: nothing to own

  local old = owner_before(change, state)
  local new = str(after.owner)
  local team = str(actor.team)
  if not old then
    -- Created, or an owner given to a resource that had none: it must be the actor's team.
    if new == nil then
      if OWNER_IN_OBJECT[change.kind] and not present(before) then
        return gk.deny("new " .. what .. " needs an owner: set owner to "
          .. tostring(team or "your team"))
      end
      return nil
    end
    if new ~= team and not override_role(actor, change.op) then
      return gk.deny(what .. " may be owned only by the team of the actor who creates it ("
        .. tostring(team or "none") .. "), not " .. new)
    end
    return nil
  end
  if new == nil and not OWNER_IN_OBJECT[change.kind] then
    return nil -- a schema version carries no owner: the schema's owner is unchanged
  end
  if new ~= old then
    return gk.deny(change.op .. " may not change the owner of " .. what .. " from " .. old .. " to "
      .. tostring(new or "none") .. ": use ownership.transfer with both teams' approval")
  end
  return nil
end
