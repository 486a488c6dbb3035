-- A policy with a syntax error on line 3, for the reload and start-up tests.
function on_evaluate(ctx, flag, proposal)
  return gk.allow("oops",
end
