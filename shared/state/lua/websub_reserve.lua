-- A slot for one verification of intent, within the callback host's cap and the deployment's.
-- A slot is freed when its verification ends (the worker removes it) or, if that never
-- happens (the worker died), when it expires. Redis's clock keeps every process in step.
--
-- KEYS[1]  the deployment's slots   (sorted set: intent id → slot expiry, ms)
-- KEYS[2]  the callback host's slots (likewise)
-- ARGV[1]  the intent id
-- ARGV[2]  a slot's lifetime, ms
-- ARGV[3]  the host's cap
-- ARGV[4]  the deployment's cap
-- Returns  {0, 0} when reserved; else {1, ms} (the host is full) or {2, ms} (the deployment
--          is), with the ms until a slot there expires at the latest.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local lifetime = tonumber(ARGV[2])

-- The ms until one of `key`'s slots is free for sure (0: one is free now).
local function wait(key, cap)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local held = redis.call('ZCARD', key)
  if held < cap then
    return 0
  end
  local slot = redis.call('ZRANGE', key, held - cap, held - cap, 'WITHSCORES')
  return math.max(1, tonumber(slot[2]) - now)
end

local host_wait = wait(KEYS[2], tonumber(ARGV[3]))
if host_wait > 0 then
  return {1, host_wait}
end
local all_wait = wait(KEYS[1], tonumber(ARGV[4]))
if all_wait > 0 then
  return {2, all_wait}
end
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now + lifetime, ARGV[1])
  -- A set lives as long as its newest slot.
  redis.call('PEXPIRE', KEYS[i], lifetime)
end
return {0, 0}
