-- One article as a build reads it, with Redis's clock, in one call: a build sends it with its
-- begin, in the same round trip.
-- KEYS: the article's hash
-- Returns: {digest, doc, published (ms), retracted ('1' or nil), retracted at (ms), clock
--          seconds, clock microseconds}
local found = redis.call('HMGET', KEYS[1], 'hash', 'doc', 'published', 'retracted',
  'retracted_at')
local clock = redis.call('TIME')
found[6], found[7] = clock[1], clock[2]
return found
