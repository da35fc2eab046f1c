-- Removes gone dispatchers from the consumer group: those that hold no pending entry and
-- have not tried to read for `idle` ms (a live one tries every poll). In one step, so one
-- that reads between the look and the removal cannot lose what it read.
-- KEYS: the event stream
-- ARGV: group, idle ms, the caller's own consumer name (never removed)
-- -> the names removed
local stream = KEYS[1]
local group, idle, own = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local removed = {}
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', stream, group)) do
  local fields = {}
  for i = 1, #consumer, 2 do
    fields[consumer[i]] = consumer[i + 1]
  end
  if fields['name'] ~= own and fields['pending'] == 0 and fields['idle'] >= idle then
    redis.call('XGROUP', 'DELCONSUMER', stream, group, fields['name'])
    removed[#removed + 1] = fields['name']
  end
end
return removed
