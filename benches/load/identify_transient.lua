-- POST /api/v1/identities/ with ten traits, transient: evaluation only, nothing stored.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Environment-Key"] = os.getenv("BURGEE_CLIENT_KEY")
local counter = 0
-- BURGEE_LOAD_USERS=N: the same N users again and again (what SDKs of a live app do); unset:
-- a new identifier on nearly every request.
local users = tonumber(os.getenv("BURGEE_LOAD_USERS") or "0")
request = function()
  counter = counter + 1
  local user = users > 0 and counter % users or counter
  local body = string.format([[{"identifier":"user-%d","transient":true,"traits":[
    {"trait_key":"plan","trait_value":"pro"},{"trait_key":"age","trait_value":%d},
    {"trait_key":"email","trait_value":"someone@example.com"},{"trait_key":"app_version","trait_value":"2.4.1"},
    {"trait_key":"country","trait_value":"de"},{"trait_key":"company_id","trait_value":"9876"},
    {"trait_key":"beta","trait_value":true},{"trait_key":"score","trait_value":72.5},
    {"trait_key":"device","trait_value":"ios"},{"trait_key":"locale","trait_value":"de-DE"}]}]], user, 18 + counter % 50)
  return wrk.format(nil, nil, nil, body)
end
