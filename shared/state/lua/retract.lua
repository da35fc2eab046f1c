-- Retract (take down) one article and append its event in one atomic step.
-- KEYS: article hash, event stream, sweep zset, digest hash
-- ARGV: id, publisher, then the five names of a target's keys that targets.lua reads
--       (prefixes of index, payloads, part sizes, retractions; part separator)
-- (No MAXLEN: the dispatcher trims the stream, never past an entry a consumer group still
-- needs; see shared/state/stream_trim.py.)
local akey, stream, sweep, digests = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, publisher = ARGV[1], ARGV[2]

local cur = redis.call('HMGET', akey, 'publisher', 'rev', 'targets', 'retracted', 'published')
if not cur[1] then return {'not_found', 0, ''} end
local rev = tonumber(cur[2]) or 0
if cur[1] ~= publisher then return {'forbidden', rev, ''} end
if cur[4] == '1' then return {'unchanged', rev, ''} end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
-- An article still under embargo was never shown: taking it down changes no output, and
-- leaves no tombstone that would name it.
local shown = (tonumber(cur[5]) or now + 1) <= now
local touched = {}
for name, held in pairs(decode_targets(cur[3])) do
  unindex(id, name, held)
  if shown then
    if tonumber(held[4]) == 1 then redis.call('ZADD', GONE .. name, now, id) end
    touched[#touched + 1] = name
  end
end
redis.call('ZREM', sweep, 'release:' .. id)
rev = rev + 1
-- Keep a tombstone (owner, revision, time) so a replayed old PUT cannot resurrect it.
redis.call('HDEL', akey, 'doc', 'hash')
redis.call('HDEL', digests, id)
redis.call('HSET', akey, 'rev', rev, 'retracted', '1', 'targets', '{}', 'retracted_at', now)
local eid = redis.call('XADD', stream, '*',
  'type', 'article.retracted', 'id', id, 'rev', rev, 'targets', cjson.encode(touched))
return {'retracted', rev, eid}
