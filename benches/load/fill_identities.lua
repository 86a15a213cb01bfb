-- POST /api/v1/identities/ creating a new identity with four traits on every call; the
-- identifiers carry BURGEE_FILL_RUN so that repeated runs keep adding new ones.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Environment-Key"] = os.getenv("BURGEE_CLIENT_KEY")
local run = os.getenv("BURGEE_FILL_RUN") or "0"
local thread_id = 0
setup = function(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end
local sent = 0
request = function()
  sent = sent + 1
  local body = string.format([[{"identifier":"fill-%s-%d-%d","traits":[
    {"trait_key":"plan","trait_value":"pro"},{"trait_key":"age","trait_value":%d},
    {"trait_key":"country","trait_value":"de"},{"trait_key":"visits","trait_value":%d}]}]],
    run, thread_id or 0, sent, 18 + sent % 50, sent)
  return wrk.format(nil, nil, nil, body)
end
