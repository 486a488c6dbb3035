-- A test that fails on line 4, so this set is refused at start and on reload.

function test_blocked_service_is_allowed()
  assert_allow(policy("gate").on_evaluate({ service = "blocked" }, { key = "x" }, { variant = "on" }, {}))
end
