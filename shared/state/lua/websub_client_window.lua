-- One client's WebSub hub requests in a sliding window: at most `limit` within `window` ms.
-- A refused request is not logged, so a client retrying early is let in as soon as its
-- oldest request leaves the window. Redis's clock keeps every feeds process in step.
--
-- KEYS[1]  the client's log (sorted set: a member per request → its time, ms)
-- ARGV[1]  the window, ms
-- ARGV[2]  limit: requests allowed within the window
-- ARGV[3]  a member unique to this request
-- Returns  0 when the request is taken, else the ms until it would be.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local taken = redis.call('ZCARD', KEYS[1])
if taken >= limit then
  -- A request fits once all but limit - 1 of the logged ones have left the window.
  local oldest = redis.call('ZRANGE', KEYS[1], taken - limit, taken - limit, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
-- The log means nothing once its newest request has left the window.
redis.call('PEXPIRE', KEYS[1], window)
return 0
