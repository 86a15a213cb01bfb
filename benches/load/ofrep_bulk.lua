-- OFREP bulk evaluation (POST /ofrep/v1/evaluate/flags) with a context of ten attributes, a
-- new user on nearly every request: nothing is stored.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Environment-Key"] = os.getenv("BURGEE_CLIENT_KEY")
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format([[{"context":{"targetingKey":"user-%d","plan":"pro","age":%d,
    "email":"someone@example.com","app_version":"2.4.1","country":"de","company_id":"9876",
    "beta":true,"score":72.5,"device":"ios","locale":"de-DE"}}]], counter, 18 + counter % 50)
  return wrk.format(nil, nil, nil, body)
end
