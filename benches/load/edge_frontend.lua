-- Unleash Edge's evaluation endpoint (POST /api/frontend) with a context of ten properties,
-- a new user on nearly every request: the counterpart of identify_transient.lua.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("EDGE_FRONTEND_TOKEN")
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format([[{"userId":"user-%d","properties":{"plan":"pro","age":"%d",
    "email":"someone@example.com","app_version":"2.4.1","country":"de","company_id":"9876",
    "beta":"true","score":"72.5","device":"ios","locale":"de-DE"}}]], counter, 18 + counter % 50)
  return wrk.format(nil, nil, nil, body)
end
