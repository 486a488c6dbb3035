-- gate.lua: a decision-time policy for the integration tests. Each `service` in the context
-- exercises one outcome of on_evaluate: a forced variant, a deny, an error, a budget breach and a
-- mask list. mask() names the one personal attribute of the test contexts.

local function old_variant(flag)
  return flag.metadata and flag.metadata.oldVariant
end

function on_evaluate(ctx, flag, proposal, state)
  local service = ctx.service
  if service == "legacy-batch" then
    local old = old_variant(flag)
    if old and proposal.variant ~= old then
      return gk.allow("legacy-batch reads the old shape only", { variant = old })
    end
    return nil
  elseif service == "blocked" then
    return gk.deny("service blocked by the integration policy")
  elseif service == "broken" then
    error("a policy bug, on purpose")
  elseif service == "spin" then
    while true do end
  end
  local pii = flag.metadata and flag.metadata.pii
  if pii and service ~= "support" then
    return gk.allow("not cleared for personal data", { mask = pii })
  end
  return nil
end

function mask(kind, record)
  if kind == "context" and record.email ~= nil then
    return gk.allow("e-mail addresses are personal data", { mask = { "email" } })
  end
  return nil
end
