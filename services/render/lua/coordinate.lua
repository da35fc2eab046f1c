-- Rebuild coordination for targets; see services/render/coordinator.py for the states.
-- KEYS: due zset, build counter
-- ARGV: op, target key prefix, lease ms, window ms, then per op:
--   mark:   (target, event id) pairs     -> targets to enqueue now
--   begin:  target                       -> watermark to build for, or false to skip
--   finish: target, watermark            -> 1
--   due:    limit                        -> ms until the next due (-1: none), then targets
local due, builds = KEYS[1], KEYS[2]
local op, prefix = ARGV[1], ARGV[2]
local lease, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local function newer(a, b)
  if not a then return false end
  if not b then return true end
  local a1, a2 = string.match(a, '^(%d+)-(%d+)$')
  local b1, b2 = string.match(b, '^(%d+)-(%d+)$')
  a1, a2, b1, b2 = tonumber(a1), tonumber(a2), tonumber(b1), tonumber(b2)
  return a1 > b1 or (a1 == b1 and a2 > b2)
end

local function enqueue(key, target)
  redis.call('HSET', key, 'state', 'queued')
  redis.call('ZADD', due, now + lease, target)
end

if op == 'mark' then
  local out = {}
  for i = 5, #ARGV, 2 do
    local target, eid = ARGV[i], ARGV[i + 1]
    local key = prefix .. target
    local cur = redis.call('HMGET', key, 'want', 'done', 'state')
    if newer(eid, cur[1] or nil) then redis.call('HSET', key, 'want', eid) end
    local state = cur[3] or 'idle'
    if state == 'idle' and newer(eid, cur[2] or nil) then
      enqueue(key, target)
      out[#out + 1] = target
    end
  end
  return out
elseif op == 'begin' then
  local target = ARGV[5]
  local key = prefix .. target
  local cur = redis.call('HMGET', key, 'want', 'done', 'state')
  if not newer(cur[1] or nil, cur[2] or nil) then
    if cur[3] == 'queued' then
      redis.call('HSET', key, 'state', 'idle')
      redis.call('ZREM', due, target)
    end
    return false
  end
  redis.call('HSET', key, 'state', 'building')
  redis.call('ZADD', due, now + lease, target)
  return cur[1]
elseif op == 'finish' then
  local target, watermark = ARGV[5], ARGV[6]
  local key = prefix .. target
  if newer(watermark, redis.call('HGET', key, 'done') or nil) then
    redis.call('HSET', key, 'done', watermark)
  end
  -- Cool down for one window: events meanwhile coalesce into a single next build.
  redis.call('HSET', key, 'state', 'cooling')
  redis.call('ZADD', due, now + window, target)
  redis.call('HINCRBY', key, 'builds', 1)
  redis.call('INCR', builds)
  return 1
elseif op == 'due' then
  local out = {}
  for _, target in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, ARGV[5])) do
    redis.call('ZREM', due, target)
    local key = prefix .. target
    local cur = redis.call('HMGET', key, 'want', 'done', 'state')
    if cur[3] == 'cooling' then
      if newer(cur[1] or nil, cur[2] or nil) then
        enqueue(key, target)
        out[#out + 1] = target
      else
        redis.call('HSET', key, 'state', 'idle')
      end
    elseif cur[3] == 'queued' or cur[3] == 'building' then
      -- The lease ran out: the task or the worker holding it was lost. Queue it again.
      enqueue(key, target)
      out[#out + 1] = target
    end
  end
  -- First element: ms until the next target falls due (-1: none), so callers sleep just that.
  local nxt = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
  table.insert(out, 1, nxt[2] and math.max(0, tonumber(nxt[2]) - now) or -1)
  return out
end
return redis.error_reply('unknown op ' .. tostring(op))
