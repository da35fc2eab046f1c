-- Retract (take down) one article and append its event in one atomic step.
-- KEYS: article hash, event stream, sweep zset
-- ARGV: id, publisher, stream maxlen, key prefix
local akey, stream, sweep = KEYS[1], KEYS[2], KEYS[3]
local id, publisher, maxlen = ARGV[1], ARGV[2], ARGV[3]

local cur = redis.call('HMGET', akey, 'publisher', 'rev', 'targets', 'retracted')
if not cur[1] then return {'not_found', 0, ''} end
local rev = tonumber(cur[2]) or 0
if cur[1] ~= publisher then return {'forbidden', rev, ''} end
if cur[4] == '1' then return {'unchanged', rev, ''} end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local touched = {}
for name, held in pairs(decode_targets(cur[3])) do
  unindex(id, name, held)
  if tonumber(held[4]) == 1 then redis.call('ZADD', P .. 'gone:' .. name, now, id) end
  touched[#touched + 1] = name
end
redis.call('ZREM', sweep, 'release:' .. id)
rev = rev + 1
-- Keep a tombstone (owner, revision, time) so a replayed old PUT cannot resurrect it.
redis.call('HDEL', akey, 'doc', 'hash')
redis.call('HSET', akey, 'rev', rev, 'retracted', '1', 'targets', '{}', 'retracted_at', now)
local eid = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*',
  'type', 'article.retracted', 'id', id, 'rev', rev, 'targets', cjson.encode(touched))
return {'retracted', rev, eid}
