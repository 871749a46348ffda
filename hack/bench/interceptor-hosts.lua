-- wrk script for the interceptor benchmark: each request names one of HOSTS route hosts
-- ("h0.bench" .. "h<HOSTS-1>.bench"), picked at random, so a 5,000-route table is really exercised.
local n = tonumber(os.getenv("HOSTS") or "1")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/", { Host = "h" .. math.random(0, n - 1) .. ".bench" })
end
