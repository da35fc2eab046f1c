-- The sweeper: everything time-driven, from one sorted set read with Redis's clock.
-- Members are "release:<article id>" (an embargo ends) and "target:<name>" (a target's
-- content changes with time, e.g. the news sitemap's 48-hour window). Each due member is
-- removed as it is handled, in this one atomic step, so a wakeup happens once and never early.
-- KEYS: sweep zset, event stream
-- ARGV: prefix of article hashes (followed by an article id), batch limit
-- (No MAXLEN: the dispatcher trims the stream; see shared/state/stream_trim.py.)
local sweep, stream = KEYS[1], KEYS[2]
local prefix, limit = ARGV[1], ARGV[2]

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local released, due = 0, {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', sweep, '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', sweep, member)
  local what, name = string.match(member, '^(%a+):(.*)$')
  if what == 'release' then
    -- Authoritative state decides: a retracted or re-dated article is not released.
    local cur = redis.call('HMGET', prefix .. name, 'rev', 'targets', 'retracted', 'published')
    if cur[1] and cur[3] ~= '1' and tonumber(cur[4]) <= now then
      local stored, targets = cjson.decode(cur[2]), {}
      if stored[1] ~= nil then
        targets = stored  -- written before targets had fingerprints: a list of names
      else
        for target in pairs(stored) do targets[#targets + 1] = target end
      end
      redis.call('XADD', stream, '*',
        'type', 'article.published', 'id', name, 'rev', cur[1], 'targets', cjson.encode(targets))
      released = released + 1
    end
  elseif what == 'target' then
    due[#due + 1] = name
  end
end
if #due > 0 then
  redis.call('XADD', stream, '*',
    'type', 'targets.due', 'id', '', 'rev', 0, 'targets', cjson.encode(due))
end
local nxt = redis.call('ZRANGE', sweep, 0, 0, 'WITHSCORES')
return {released, #due, nxt[2] and math.max(0, tonumber(nxt[2]) - now) or -1}
