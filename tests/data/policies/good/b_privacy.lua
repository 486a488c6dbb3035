-- Test policy: mask e-mail addresses for everyone but billing.
function on_evaluate(ctx, flag, proposal, state)
  if ctx.service ~= "billing" and ctx.service ~= nil then
    return gk.allow(nil, { mask = { "email" } })
  end
  return nil
end

function mask(kind, record)
  if kind == "context" then
    return gk.allow("contexts hide e-mail", { mask = { "email", "address.street" } })
  end
  return nil
end
