-- wrk script: every request saves a new appointment (a confirmation by email, a reminder
-- planned) on the dev server. Used by scripts/bench.sh dev.
local threads = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

function init(args)
  counter = 0
  prefix = "load-" .. thread_id .. "-" .. os.time() .. "-"
  local start = os.date("!%Y-%m-%dT15:00:00Z", os.time() + 5 * 86400)
  body = '{"revision":1,"start":"' .. start .. '","duration_minutes":30,"type_code":"BENCH",' ..
    '"modality":"in_person","status":"booked","professional":{"display_name":"Dre Marie Tremblay"},' ..
    '"location":{"name":"Clinique Centre","address":"123 rue Principale, Montréal"},' ..
    '"patient":{"first_name":"Julie","last_name":"Roy","email":"julie.roy@example.ca","language":"fr"}}'
  headers = {}
  headers["Authorization"] = "Bearer " .. (os.getenv("RAPPEL_DEV_API_KEY") or "dev-key")
  headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  return wrk.format("PUT", "/v1/appointments/" .. prefix .. counter, headers, body)
end
