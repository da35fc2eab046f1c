-- Delete artifacts of a target unless a newer watermark is stored; announce each change.
-- KEYS: watermark hash, artifact path set, gone path set
-- ARGV: target, watermark ms, watermark seq, key prefix, channel, gone (0/1), then paths
local marks, paths, gone = KEYS[1], KEYS[2], KEYS[3]
local target, ms, seq = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local prefix, channel, mark_gone = ARGV[4], ARGV[5], ARGV[6] == '1'

local stored = redis.call('HGET', marks, target)
if stored then
  local sms, sseq = string.match(stored, '^(%d+)-(%d+)$')
  sms, sseq = tonumber(sms), tonumber(sseq)
  if ms < sms or (ms == sms and seq < sseq) then return 0 end
end
redis.call('HSET', marks, target, ARGV[2] .. '-' .. ARGV[3])
for i = 7, #ARGV do
  redis.call('DEL', prefix .. ARGV[i])
  redis.call('SREM', paths, ARGV[i])
  if mark_gone then redis.call('SADD', gone, ARGV[i]) end
  redis.call('PUBLISH', channel, ARGV[i])
end
return 1
