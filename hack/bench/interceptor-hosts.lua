-- wrk script for the interceptor benchmark: each request names one of HOSTS route hosts
-- ("h0.bench" .. "h<HOSTS-1>.bench"), picked at random, so a 5,000-route table is really exercised.
-- The requests are built once, before the run: per request the client only picks one, the same
-- work for 1 host as for 5,000 (wrk shares its core with the backend, so client work would show
-- up in the proxy's throughput).
local n = tonumber(os.getenv("HOSTS") or "1")
local requests = {}
for i = 1, n do
  requests[i] = wrk.format("GET", "/", { Host = "h" .. (i - 1) .. ".bench" })
end
math.randomseed(os.time())
request = function()
  return requests[math.random(n)]
end
