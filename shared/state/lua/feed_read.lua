-- What a feed build reads, in one round trip, by Redis's clock: the ids and digests of the
-- newest `limit` entries of the feed's index published by now; with `extras`, also the
-- retractions since `window_ms` ago (older ones are dropped, their tombstones having expired)
-- and the feed's admin-given and site-given display names.
-- KEYS: index, digest hash, retraction index, admin name hash, site name hash
-- ARGV: limit, extras ('1' or '0'), window_ms, target
-- Returns: {now_ms, ids, digests, retractions (id, ms, ...), admin name, site name}
local index, digests, retracted, admin_names, site_names = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local limit, extras, window_ms, target = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3]), ARGV[4]

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ids = redis.call('ZREVRANGEBYSCORE', index, now, '-inf', 'LIMIT', 0, limit)
local found = {}
if #ids > 0 then
  found = redis.call('HMGET', digests, unpack(ids))
end
if not extras then
  return {now, ids, found, {}, false, false}
end
local since = now - window_ms
redis.call('ZREMRANGEBYSCORE', retracted, '-inf', '(' .. since)
local gone = redis.call('ZREVRANGEBYSCORE', retracted, '+inf', since, 'WITHSCORES')
return {
  now, ids, found, gone,
  redis.call('HGET', admin_names, target), redis.call('HGET', site_names, target),
}
