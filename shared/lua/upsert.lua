-- Store one article revision and append its event in one atomic step.
-- KEYS: article hash, event stream, embargo zset, display-name hash
-- ARGV: id, doc, digest, updated_ms, published_ms, publisher, targets (JSON list),
--       display names (JSON object), stream maxlen, index key prefix
local akey, stream, embargo, names = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, doc, digest = ARGV[1], ARGV[2], ARGV[3]
local updated, published = tonumber(ARGV[4]), tonumber(ARGV[5])
local publisher, targets_json = ARGV[6], ARGV[7]
local display, maxlen, idx = cjson.decode(ARGV[8]), ARGV[9], ARGV[10]

local cur = redis.call('HMGET', akey, 'publisher', 'hash', 'updated', 'rev', 'targets', 'retracted')
local exists, retracted = cur[1] ~= false, cur[6] == '1'
local rev = tonumber(cur[4]) or 0
if exists then
  if cur[1] ~= publisher then return {'forbidden', rev, ''} end
  local stored = tonumber(cur[3])
  -- A takedown sticks: only a strictly newer revision brings the article back.
  if updated < stored or (retracted and updated == stored) then return {'stale', rev, ''} end
  if not retracted and cur[2] == digest then return {'unchanged', rev, ''} end
end

local touched, wanted = {}, {}
for _, t in ipairs(cjson.decode(targets_json)) do
  wanted[t] = true
  touched[#touched + 1] = t
  redis.call('ZADD', idx .. t, published, id)
end
if exists and cur[5] then
  for _, t in ipairs(cjson.decode(cur[5])) do
    if not wanted[t] then
      redis.call('ZREM', idx .. t, id)
      touched[#touched + 1] = t
    end
  end
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if published > now then
  redis.call('ZADD', embargo, published, id)
else
  redis.call('ZREM', embargo, id)
end
for name, label in pairs(display) do redis.call('HSET', names, name, label) end

rev = rev + 1
redis.call('HSET', akey, 'doc', doc, 'hash', digest, 'publisher', publisher, 'rev', rev,
  'updated', updated, 'published', published, 'targets', targets_json, 'retracted', '0')
local kind, status = 'article.published', 'created'
if exists and not retracted then kind, status = 'article.updated', 'updated' end
local eid = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*',
  'type', kind, 'id', id, 'rev', rev, 'targets', cjson.encode(touched))
return {status, rev, eid}
