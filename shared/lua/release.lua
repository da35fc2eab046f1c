-- Release embargoed articles whose time has come: one `article.published` event each.
-- Reads authoritative state, so a release happens once and never early.
-- KEYS: embargo zset, event stream
-- ARGV: article key prefix, stream maxlen, batch limit
local embargo, stream = KEYS[1], KEYS[2]
local prefix, maxlen, limit = ARGV[1], ARGV[2], ARGV[3]

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', embargo, '-inf', now, 'LIMIT', 0, limit)
local released = 0
for _, id in ipairs(due) do
  redis.call('ZREM', embargo, id)
  local cur = redis.call('HMGET', prefix .. id, 'rev', 'targets', 'retracted', 'published')
  if cur[1] and cur[3] ~= '1' and tonumber(cur[4]) <= now then
    redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*',
      'type', 'article.published', 'id', id, 'rev', cur[1], 'targets', cur[2])
    released = released + 1
  end
end
return released
