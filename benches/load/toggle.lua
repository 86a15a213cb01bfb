-- PATCH a feature state through the admin API: every call flips the flag (one command, one
-- audit entry, one snapshot rebuild of the reference environment).
wrk.method = "PATCH"
wrk.path = "/admin/v1/environments/1/features/1/state"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BURGEE_TOKEN")
local counter = 0
request = function()
  counter = counter + 1
  local body = counter % 2 == 0 and '{"enabled": true}' or '{"enabled": false}'
  return wrk.format(nil, nil, nil, body)
end
