-- Set (or, with an empty name, unset) a display name an admin gives a feed, and append the
-- event that rebuilds what shows it, in one atomic step; a change that changes nothing
-- appends no event.
-- KEYS: admin display-name hash, event stream
-- ARGV: target, name ('' to unset), the targets to rebuild (JSON list)
local names, stream = KEYS[1], KEYS[2]
local target, name, rebuild = ARGV[1], ARGV[2], ARGV[3]

local current = redis.call('HGET', names, target)
local status = 'set'
if name == '' then
  if not current then return {'unchanged', ''} end
  redis.call('HDEL', names, target)
  status = 'unset'
else
  if current == name then return {'unchanged', ''} end
  redis.call('HSET', names, target, name)
end
local eid = redis.call('XADD', stream, '*',
  'type', 'names.changed', 'id', '', 'rev', 0, 'targets', rebuild)
return {status, eid}
