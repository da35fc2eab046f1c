-- One API key's rate limit, GCRA (a token bucket kept as one number): the "theoretical
-- arrival time" (TAT, µs) moves `interval` ahead per request and may run at most
-- `burst` intervals ahead of now. Redis's own clock keeps every ingest process in step.
--
-- KEYS[1]  the key's state (a string)
-- ARGV[1]  interval between requests at the steady rate, µs
-- ARGV[2]  burst: requests allowed at once from a rested state
-- ARGV[3]  cost of this request
-- Returns  0 when allowed, else the µs to wait before this request would be allowed.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])

local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local new_tat = tat + interval * cost
local ahead = new_tat - now - interval * burst
if ahead > 0 then
  return math.ceil(ahead)
end
-- The state means nothing once the bucket is full again, so it expires then.
redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
           'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
