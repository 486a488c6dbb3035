-- Test policy: a context may ask for a forced variant (tests only).
function on_evaluate(ctx, flag, proposal, state)
  if ctx.force ~= nil then
    return gk.allow("forced by context", { variant = ctx.force })
  end
  return nil
end

function on_change(change, state)
  if change.kind == "flag" and change.after ~= nil and state.flags[change.key] == nil
     and change.op ~= "flag.create" then
    return gk.deny("unknown flag " .. change.key, { violations = { { location = "/key", message = "no such flag" } } })
  end
  return nil
end
