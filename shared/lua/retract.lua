-- Retract (take down) one article and append its event in one atomic step.
-- KEYS: article hash, event stream, embargo zset
-- ARGV: id, publisher, stream maxlen, index key prefix
local akey, stream, embargo = KEYS[1], KEYS[2], KEYS[3]
local id, publisher, maxlen, idx = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local cur = redis.call('HMGET', akey, 'publisher', 'rev', 'targets', 'retracted')
if not cur[1] then return {'not_found', 0, ''} end
local rev = tonumber(cur[2]) or 0
if cur[1] ~= publisher then return {'forbidden', rev, ''} end
if cur[4] == '1' then return {'unchanged', rev, ''} end

local targets = cjson.decode(cur[3])
for _, t in ipairs(targets) do redis.call('ZREM', idx .. t, id) end
redis.call('ZREM', embargo, id)
rev = rev + 1
-- Keep a tombstone (owner, revision, time) so a replayed old PUT cannot resurrect it.
redis.call('HDEL', akey, 'doc', 'hash')
redis.call('HSET', akey, 'rev', rev, 'retracted', '1', 'targets', '[]')
local eid = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*',
  'type', 'article.retracted', 'id', id, 'rev', rev, 'targets', cur[3])
return {'retracted', rev, eid}
