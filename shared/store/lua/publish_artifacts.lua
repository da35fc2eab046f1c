-- Publish a target's artifacts unless a newer watermark is stored; announce each change.
-- KEYS: watermark hash, artifact path set, gone path set
-- ARGV: target, watermark ms, watermark seq, prefix of artifact hashes (followed by a path),
--       channel, now (s),
--       then per artifact: path, body, gzip, br
local paths, gone = KEYS[2], KEYS[3]
local prefix, channel = ARGV[4], ARGV[5]
-- Dated by Redis's clock, not the caller's (ARGV[6]): a worker whose clock is off must not
-- date what it publishes (Last-Modified, the sitemap index's lastmod) wrongly.
local time = redis.call('TIME')
local now = time[1] .. '.' .. string.format('%06d', tonumber(time[2]))

if not claim_watermark() then return 0 end
for i = 7, #ARGV, 4 do
  local key = prefix .. ARGV[i]
  redis.call('SREM', gone, ARGV[i])
  if redis.call('HGET', key, 'body') ~= ARGV[i + 1] then
    redis.call('HSET', key, 'body', ARGV[i + 1], 'gzip', ARGV[i + 2], 'br', ARGV[i + 3],
      'modified', now)
    redis.call('SADD', paths, ARGV[i])
    redis.call('PUBLISH', channel, ARGV[i])
  end
end
return 1
