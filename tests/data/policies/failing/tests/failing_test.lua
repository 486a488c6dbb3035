function test_passes()
  assert_true(true)
end

function test_fails_on_line_7()
  local r = run("authorize", { actor = { team = "x" }, op = "rollout.set", resource = { owner = "y" } })
  assert_allow(r, "strangers should be allowed")
end

function test_error_in_policy()
  policy("a_owner").authorize({ op = "rollout.set" })
end
