-- Shared by publish_artifacts.lua and delete_artifacts.lua (concatenated in front of them):
-- a target's writes go through only if their watermark is not older than the stored one.
-- KEYS[1] is the watermark hash; ARGV[1..3] are the target and the watermark's ms and seq.

-- Stores the watermark and returns true, or returns false when a newer one is stored.
local function claim_watermark()
  local marks, target = KEYS[1], ARGV[1]
  local ms, seq = tonumber(ARGV[2]), tonumber(ARGV[3])
  local stored = redis.call('HGET', marks, target)
  if stored then
    local sms, sseq = string.match(stored, '^(%d+)-(%d+)$')
    sms, sseq = tonumber(sms), tonumber(sseq)
    if ms < sms or (ms == sms and seq < sseq) then return false end
  end
  redis.call('HSET', marks, target, ARGV[2] .. '-' .. ARGV[3])  -- as given: no float formatting
  return true
end
