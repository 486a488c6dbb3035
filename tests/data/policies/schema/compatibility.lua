-- Stub of compatibility.lua for gkctl tests: a schema is valid when it is a record with fields;
-- a field of the latest previous version that is missing from the new one is a violation
-- (unless mode is NONE).
local function validate(s, what)
  if type(s) ~= "table" or s.type ~= "record" or type(s.fields) ~= "table" then
    error("invalid schema: " .. what .. " is not an Avro record", 0)
  end
end

function check(mode, new_schema, previous_schemas)
  validate(new_schema, "the new schema")
  local out = {}
  if mode == "NONE" then
    return out
  end
  local prev = previous_schemas[#previous_schemas]
  validate(prev, "a previous schema")
  local have = {}
  for _, f in ipairs(new_schema.fields) do
    have[f.name] = true
  end
  for i, f in ipairs(prev.fields) do
    if not have[f.name] then
      out[#out + 1] = { location = "/fields/" .. (i - 1), message = "field " .. f.name .. " was removed" }
    end
  end
  return out
end
