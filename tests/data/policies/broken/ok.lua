function authorize(req)
  return nil
end
