-- Delete artifacts of a target unless a newer watermark is stored; announce each change.
-- KEYS: watermark hash, artifact path set, gone path set
-- ARGV: target, watermark ms, watermark seq, prefix of artifact hashes (followed by a path),
--       channel, gone (0/1), then paths
local paths, gone = KEYS[2], KEYS[3]
local prefix, channel, mark_gone = ARGV[4], ARGV[5], ARGV[6] == '1'

if not claim_watermark() then return 0 end
for i = 7, #ARGV do
  redis.call('DEL', prefix .. ARGV[i])
  redis.call('SREM', paths, ARGV[i])
  if mark_gone then redis.call('SADD', gone, ARGV[i]) end
  redis.call('PUBLISH', channel, ARGV[i])
end
return 1
