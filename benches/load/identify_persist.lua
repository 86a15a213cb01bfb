-- POST /api/v1/identities/ storing traits: a new identity and a changed trait every call.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Environment-Key"] = os.getenv("BURGEE_CLIENT_KEY")
local counter = 0
local thread_id = 0
setup = function(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end
request = function()
  counter = counter + 1
  local body = string.format([[{"identifier":"persist-%d-%d","traits":[
    {"trait_key":"plan","trait_value":"pro"},{"trait_key":"age","trait_value":%d},
    {"trait_key":"country","trait_value":"de"},{"trait_key":"visits","trait_value":%d}]}]],
    thread_id or 0, counter % 5000, 18 + counter % 50, counter)
  return wrk.format(nil, nil, nil, body)
end
