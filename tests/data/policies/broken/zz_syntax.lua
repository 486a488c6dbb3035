function authorize(req)
  local x = = 1
  return nil
end
