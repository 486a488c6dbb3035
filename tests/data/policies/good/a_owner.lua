-- Test policy: owners may change their own flags; deletes need a release-manager.
local function has_role(actor, role)
  for _, r in ipairs(actor.roles or {}) do
    if r == role then
      return true
    end
  end
  return false
end

function authorize(req)
  if req.op == "flag.delete" and not has_role(req.actor, "release-manager") then
    return gk.deny("only a release-manager may delete a flag")
  end
  if req.resource.owner == req.actor.team then
    return gk.allow("owner " .. req.actor.team .. " may change its own flag")
  end
  return nil
end

function on_evaluate(ctx, flag, proposal, state)
  if ctx.service == "blocked" then
    return gk.deny("service blocked")
  end
  return nil
end
