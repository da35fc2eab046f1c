-- Rebuild coordination for targets; see services/render/pipeline/coordinator.py for the states.
-- KEYS: due zset, build counter, build dead letters hash
-- ARGV: op, prefix of target hashes (followed by a target's name), lease ms, first window
--       ms, longest window ms, promote after ms, deadline ms, least windows by kind
--       ("kind=ms,…", the kind being what a target's name starts with before its ':'), then
--       per op:
--   mark:    (target, event id) pairs    -> targets to enqueue now
--   begin:   target, holder              -> {watermark to build for, ms it was queued (-1: not
--                                           known)}, or false to skip
--   renew:   target                      -> 1 if its build lease was extended, else 0
--   finish:  target, watermark           -> ms from owed to built (-1: not known)
--   fail:    target, transient (0|1), retry delays (ms)...
--                                        -> {attempts so far, ms until the retry (-1: parked)}
--   release: targets                     -> how many queued targets went back to idle
--   reset:   targets                     -> how many; their runs of failures start over
--   resend:  targets                     -> those still queued, queued afresh (to send again)
--   promoted: stage (1|2), targets       -> how many; not asked about that stage again
--   due:     limit
--            -> ms until the next due (-1: none), how many targets follow to enqueue now,
--               how many to send again at the promoted priority (queued, not started within
--               the promotion delay: stage 1), how many to send again urgently (past the
--               deadline: stage 2), those three lists, then queued targets whose task has
--               not started within a lease
local due, builds, dead = KEYS[1], KEYS[2], KEYS[3]
local op, prefix = ARGV[1], ARGV[2]
local lease, first_window, last_window = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local promote_after, deadline = tonumber(ARGV[6]), tonumber(ARGV[7])
local least = {}
for kind, ms in string.gmatch(ARGV[8], '([^=,]+)=(%d+)') do least[kind] = tonumber(ms) end
local ARG0 = 9  -- the first of an op's own arguments
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

-- A build that covers this many events or more shows them coming faster than builds: a
-- burst. Fewer, and events come about as fast as the target builds, which it may keep doing.
local BURST_EVENTS = 4

-- A hot target waits at least this many times its last build's time, so that no one target
-- keeps more than a tenth of a worker busy: under load, builds take longer and every hot
-- target's window grows with them.
local DUTY = 9

-- The window a hot target cools for: the first one, doubled for every build in a row that
-- covered a burst (`streak`), and at least DUTY times its last build's time; never past the
-- longest. So a burst costs a few builds and then one per longest window, while a steady
-- stream a target keeps up with waits a short window at most, however hot. A kind whose
-- readers need it no fresher (sitemaps) waits at least its own least window.
local function window(streak, took, target)
  local grown = first_window * 2 ^ (tonumber(streak) or 0)
  local ms = math.min(last_window, math.max(grown, DUTY * (tonumber(took) or 0)))
  return math.max(ms, least[string.match(target, '^[^:]*')] or 0)
end

local function cool(key, target, till)
  redis.call('HSET', key, 'state', 'cooling')
  redis.call('ZADD', due, till, target)
end

-- Queued: due again at the promotion delay (then sent again, promoted, if still waiting),
-- and then at the lease (its task may be lost).
local function enqueue(key, target)
  redis.call('HSET', key, 'state', 'queued', 'queued_at', now, 'promoted', '0')
  redis.call('ZADD', due, now + math.min(promote_after, lease), target)
end

-- When the oldest event no build has covered yet arrived (kept from the first such event
-- until a build starts, which takes it along to report at its finish), and how many.
local function owe(key)
  redis.call('HSETNX', key, 'owed_at', now)
  redis.call('HINCRBY', key, 'owed_events', 1)
end

if op == 'mark' then
  local out = {}
  for i = ARG0, #ARGV, 2 do
    local target, eid = ARGV[i], ARGV[i + 1]
    local key = prefix .. target
    local cur = redis.call('HMGET', key, 'want', 'done', 'state', 'built_at', 'streak', 'took')
    if newer(eid, cur[1] or nil) then
      -- Beyond what is wanted already: a new obligation (an older event is covered by a
      -- build already owed, or by the one in progress).
      redis.call('HSET', key, 'want', eid)
      owe(key)
    end
    local state = cur[3] or 'idle'
    if state == 'idle' and newer(eid, cur[2] or nil) then
      local cools_until = tonumber(cur[4] or 0) + window(cur[5], cur[6], target)
      if now < cools_until then
        -- Built within the window: the target is hot, so this event waits for the window's
        -- end and coalesces with whatever else comes meanwhile.
        cool(key, target, cools_until)
      else
        enqueue(key, target)
        out[#out + 1] = target
      end
    end
  end
  return out
elseif op == 'begin' then
  local target = ARGV[ARG0]
  local key = prefix .. target
  local cur = redis.call('HMGET', key, 'want', 'done', 'state', 'owed_at', 'owed_events',
    'streak', 'queued_at')
  if not newer(cur[1] or nil, cur[2] or nil) then
    redis.call('HDEL', key, 'owed_at', 'owed_events')
    if cur[3] == 'queued' then
      redis.call('HSET', key, 'state', 'idle')
      redis.call('ZREM', due, target)
    end
    return false
  end
  if cur[3] == 'building' then
    -- Another worker holds a live lease (this is a second copy of the task): it builds, and
    -- events it misses make its finish queue one more build.
    local ends = tonumber(redis.call('ZSCORE', due, target) or 0)
    if ends > now then return false end
  end
  -- The holder (host:pid) is for operators: who is building, or was when it was lost.
  redis.call('HSET', key, 'state', 'building', 'holder', ARGV[ARG0 + 1] or '', 'began_at', now)
  -- Events from now on are owed by the next build; this one reports since when it was owed.
  if cur[4] then
    redis.call('HSET', key, 'building_owed_at', cur[4])
    redis.call('HDEL', key, 'owed_at')
  end
  local burst = (tonumber(cur[5]) or 0) >= BURST_EVENTS
  redis.call('HSET', key, 'streak', burst and (tonumber(cur[6]) or 0) + 1 or 0)
  redis.call('HDEL', key, 'owed_events')
  redis.call('ZADD', due, now + lease, target)
  -- How long its task waited in the broker (or held by the dispatcher), for the build's log.
  local queued = cur[3] == 'queued' and tonumber(cur[7]) and now - tonumber(cur[7]) or -1
  return {cur[1], queued}
elseif op == 'renew' then
  local target = ARGV[ARG0]
  if redis.call('HGET', prefix .. target, 'state') ~= 'building' then return 0 end
  redis.call('ZADD', due, now + lease, target)
  return 1
elseif op == 'finish' then
  local target, watermark = ARGV[ARG0], ARGV[ARG0 + 1]
  local key = prefix .. target
  if newer(watermark, redis.call('HGET', key, 'done') or nil) then
    redis.call('HSET', key, 'done', watermark)
  end
  local cur = redis.call('HMGET', key, 'want', 'done', 'streak', 'building_owed_at', 'began_at')
  local owed_ms = cur[4] and now - tonumber(cur[4]) or -1
  local took = cur[5] and now - tonumber(cur[5]) or 0
  redis.call('HSET', key, 'took', took)
  redis.call('HDEL', key, 'building_owed_at')
  if newer(cur[1] or nil, cur[2] or nil) then
    -- Events arrived while it built: the target is hot. Cool down for a window, so they
    -- and any that follow coalesce into a single next build.
    cool(key, target, now + window(cur[3], took, target))
  else
    -- Quiet: idle at once, so the next event is built at once unless it comes within the
    -- window (see mark). Most targets are quiet, and skip the window's wait.
    redis.call('HSET', key, 'state', 'idle', 'built_at', now)
    redis.call('HDEL', key, 'owed_at', 'owed_events')  -- nothing is owed
    redis.call('ZREM', due, target)
  end
  redis.call('HINCRBY', key, 'builds', 1)
  redis.call('INCR', builds)
  -- A build that succeeds ends any run of failures, and its dead letter.
  redis.call('HDEL', key, 'attempts')
  redis.call('HDEL', dead, target)
  return owed_ms
elseif op == 'fail' then
  local target, transient = ARGV[ARG0], ARGV[ARG0 + 1] == '1'
  local key = prefix .. target
  if redis.call('HGET', key, 'state') ~= 'building' then
    -- A build whose lease ran out failed late; the target is someone else's now.
    return {tonumber(redis.call('HGET', key, 'attempts') or 0), -2}
  end
  -- Still owed since then: the time its retry reports runs from the first event.
  local owed = redis.call('HGET', key, 'building_owed_at')
  if owed then
    redis.call('HSET', key, 'owed_at', owed)
    redis.call('HDEL', key, 'building_owed_at')
  end
  local attempts = redis.call('HINCRBY', key, 'attempts', 1)
  local delay = ARGV[ARG0 + 1 + attempts]
  if transient and delay then
    redis.call('HSET', key, 'state', 'retrying')
    redis.call('ZADD', due, now + tonumber(delay), target)
    return {attempts, tonumber(delay)}
  end
  -- Parked: idle, so only a new event (once) or `newswire dead-letters retry` builds it again.
  redis.call('HSET', key, 'state', 'idle')
  redis.call('ZREM', due, target)
  return {attempts, -1}
elseif op == 'release' then
  local n = 0
  for i = ARG0, #ARGV do
    local key = prefix .. ARGV[i]
    if redis.call('HGET', key, 'state') == 'queued' then
      redis.call('HSET', key, 'state', 'idle')
      redis.call('ZREM', due, ARGV[i])
      n = n + 1
    end
  end
  return n
elseif op == 'reset' then
  for i = ARG0, #ARGV do redis.call('HDEL', prefix .. ARGV[i], 'attempts') end
  return #ARGV - ARG0 + 1
elseif op == 'resend' then
  local out = {}
  for i = ARG0, #ARGV do
    local key = prefix .. ARGV[i]
    if redis.call('HGET', key, 'state') == 'queued' then
      enqueue(key, ARGV[i])
      out[#out + 1] = ARGV[i]
    end
  end
  return out
elseif op == 'promoted' then
  -- Sent again (promoted at stage 1, urgently at stage 2), or never worth it: not asked
  -- about that stage again; due at the deadline (after stage 1), then at the lease, as any
  -- queued target. Only a queueing `due` could have offered (one at least that stage's delay
  -- old, at the stage before): the target may have been built and queued anew since, and
  -- that queueing still needs its own promotion.
  local stage = ARGV[ARG0]
  local after = stage == '1' and promote_after or deadline
  for i = ARG0 + 1, #ARGV do
    local key = prefix .. ARGV[i]
    local cur = redis.call('HMGET', key, 'state', 'queued_at', 'promoted')
    local queued_at = tonumber(cur[2]) or now
    if cur[1] == 'queued' and cur[3] == tostring(tonumber(stage) - 1)
        and now - queued_at >= math.min(after, lease) then
      redis.call('HSET', key, 'promoted', stage)
      local next_due = queued_at + lease
      if stage == '1' then next_due = math.min(queued_at + deadline, next_due) end
      redis.call('ZADD', due, next_due, ARGV[i])
    end
  end
  return #ARGV - ARG0
elseif op == 'due' then
  local out, promoted, overdue, stalled = {}, {}, {}, {}
  local found = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, ARGV[ARG0])
  for _, target in ipairs(found) do
    redis.call('ZREM', due, target)
    local key = prefix .. target
    local cur = redis.call('HMGET', key, 'want', 'done', 'state', 'promoted', 'queued_at')
    if cur[3] == 'cooling' then
      if newer(cur[1] or nil, cur[2] or nil) then
        enqueue(key, target)
        out[#out + 1] = target
      else
        redis.call('HSET', key, 'state', 'idle')
      end
    elseif cur[3] == 'retrying' then
      enqueue(key, target)
      out[#out + 1] = target
    elseif cur[3] == 'building' then
      -- The lease ran out: the worker holding it was lost. Queue it again.
      enqueue(key, target)
      out[#out + 1] = target
    elseif cur[3] == 'queued' and cur[4] == '0' and now < (tonumber(cur[5]) or 0) + lease then
      -- Waiting past the promotion delay: the caller sends it again at the promoted priority
      -- if builds ahead of routine ones hold it back, and says so (`promoted`), so no target
      -- starves; whichever copy starts first builds. Until then it is asked about again.
      redis.call('ZADD', due, math.min(now + promote_after, tonumber(cur[5]) + lease), target)
      promoted[#promoted + 1] = target
    elseif cur[3] == 'queued' and cur[4] == '1' and now < (tonumber(cur[5]) or 0) + lease then
      -- Promoted, and still waiting past the deadline (behind urgent builds): the caller
      -- sends it again urgently if builds wait ahead of it, and says so, so none starves.
      redis.call('ZADD', due, math.min(now + promote_after, tonumber(cur[5]) + lease), target)
      overdue[#overdue + 1] = target
    elseif cur[3] == 'queued' then
      -- Not started within a lease: its task was lost, or waits behind others. The caller
      -- sends it again only if nothing waits ahead of it (see Coordinator.due); meanwhile it
      -- waits one more lease.
      redis.call('ZADD', due, now + lease, target)
      stalled[#stalled + 1] = target
    end
  end
  local nxt = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
  local reply = {nxt[2] and math.max(0, tonumber(nxt[2]) - now) or -1, #out, #promoted,
    #overdue}
  for _, list in ipairs({out, promoted, overdue, stalled}) do
    for _, target in ipairs(list) do reply[#reply + 1] = target end
  end
  return reply
end
return redis.error_reply('unknown op ' .. tostring(op))
