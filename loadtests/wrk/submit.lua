-- Submissions as a travel unit's system sends them, for wrk (loadtests/run.sh with
-- GENERATOR=wrk): each request a traveller of its own, a Low-risk trip to Geneva. TOKEN is a
-- UNICEF travel unit's bearer token; ARRIVAL, DEPARTURE and VALID_UNTIL are dates.
local token = os.getenv("TOKEN")
local arrival, departure = os.getenv("ARRIVAL"), os.getenv("DEPARTURE")
local valid = os.getenv("VALID_UNTIL")
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local sent = 0

function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"traveller":{"id":"wrk-%d-%d","name":"Load Traveller","org":"UNICEF",' ..
    '"bsafe_valid_until":"%s","ssafe_valid_until":"%s"},"purpose":"Load test",' ..
    '"programme_criticality":"PC3","mission_sra_reference":null,' ..
    '"legs":[{"area":"CHE-GVA","arrival":"%s","departure":"%s"}]}',
    thread_id, sent, valid, valid, arrival, departure)
  return wrk.format(nil, nil, nil, body)
end
