-- Store one article revision and append its event in one atomic step, as planned by
-- shared/state/upsert_plan.py against the revision the writer read.
-- KEYS: article hash, event stream, sweep zset, display-name hash, target set, digest hash
-- ARGV: id, planned revision (0: none stored), doc, digest, updated_ms, published_ms,
--       publisher, stored published_ms ('' unless a revision is shown or embargoed now),
--       '1' if any revision was ever stored, event type, status, the members of the
--       `targets` map as JSON (no braces) less its sharded entries, then the event's targets
--       (JSON lists) when the article is shown before and now, now only, before only; then
--       counted groups (a count, then its items): index entries (key, score), payloads
--       (key, payload), sharded entries (name, max items, max bytes, bytes, score, payload,
--       has payload, held part, held bytes, held before, JSON of its map entry up to the
--       part, its keep-retractions flag), targets left (name, part, bytes), retraction
--       records to clear (key), targets new to the article and not in the target set when
--       the writer read it (name), names to give (target, name); last the five names of a
--       target's keys that targets.lua reads.
-- (No MAXLEN: the dispatcher trims the stream, never past an entry a consumer group still
-- needs; see shared/state/stream_trim.py.)
--
-- Redis runs every script on its one thread, so what this one does per write bounds every
-- writer's throughput: the writer decides in Python what it can (stale, unchanged,
-- forbidden, which targets are new, changed or left, the wire forms) from the bookkeeping it
-- read, and this script only checks that the revision is still the one planned against
-- (every write bumps it; otherwise the writer reads and plans again), then writes. Only
-- what depends on state beyond the article stays here: parts of sharded targets, names not
-- yet given, and Redis's clock.
local akey, stream, sweep, names, all_targets, digests =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, planned, doc, digest = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local updated, published, publisher = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local stored_published, exists, kind, status = ARGV[8], ARGV[9] == '1', ARGV[10], ARGV[11]
local held_json, touched_both, touched_now, touched_before = ARGV[12], ARGV[13], ARGV[14], ARGV[15]

local rev = tonumber(redis.call('HGET', akey, 'rev')) or 0
if rev ~= planned then return {'moved', rev, ''} end

local at = 16
local function count()
  local n = tonumber(ARGV[at])
  at = at + 1
  return n
end

for _ = 1, count() do
  redis.call('ZADD', ARGV[at], ARGV[at + 1], id)
  at = at + 2
end
for _ = 1, count() do
  redis.call('HSET', ARGV[at], id, ARGV[at + 1])
  at = at + 2
end
-- A sharded entry keeps its part while it fits there (choose_part, targets.lua).
local pieces = {}
if held_json ~= '' then pieces[1] = held_json end
for _ = 1, count() do
  local name, bytes, score = ARGV[at], tonumber(ARGV[at + 3]), ARGV[at + 4]
  local payload, has_payload = ARGV[at + 5], ARGV[at + 6] == '1'
  local before = nil
  if ARGV[at + 9] == '1' then before = {'', ARGV[at + 7], ARGV[at + 8]} end
  local part, moved = choose_part(id, name, {ARGV[at + 1], ARGV[at + 2]}, bytes, before)
  if before and (moved or tonumber(before[2]) ~= part) then unindex(id, name, before) end
  if not before or moved then
    redis.call('HINCRBY', SHARDS .. name, part, bytes)
  else
    redis.call('HINCRBY', SHARDS .. name, part, bytes - (tonumber(before[3]) or 0))
  end
  redis.call('ZADD', index_key(name, part), score, id)
  if has_payload then redis.call('HSET', payload_key(name, part), id, payload) end
  pieces[#pieces + 1] = ARGV[at + 10] .. part .. ',' .. bytes .. ',' .. ARGV[at + 11] .. ']'
  at = at + 12
end
for _ = 1, count() do
  unindex(id, ARGV[at], {'', ARGV[at + 1], ARGV[at + 2]})
  at = at + 3
end
for _ = 1, count() do
  redis.call('ZREM', ARGV[at], id)
  at = at + 1
end
local fresh = count()
if fresh > 0 then redis.call('SADD', all_targets, unpack(ARGV, at, at + fresh - 1)) end
at = at + fresh
-- Names belong to the site: the site publisher's first article in a feed names it, and a
-- later one never renames it (the writer sends names only for the site publisher's
-- articles, and only of targets it did not find named). Names an admin set or the settings
-- give override this when read.
local labelled = count()
if labelled > 0 then
  local targets = {}
  for i = 1, labelled do targets[i] = ARGV[at + 2 * (i - 1)] end
  local named, unnamed = redis.call('HMGET', names, unpack(targets)), {}
  for i = 1, labelled do
    if not named[i] then
      unnamed[#unnamed + 1] = targets[i]
      unnamed[#unnamed + 1] = ARGV[at + 2 * i - 1]
    end
  end
  if #unnamed > 0 then redis.call('HSET', names, unpack(unnamed)) end
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if published > now then
  redis.call('ZADD', sweep, ARGV[6], 'release:' .. id)
elseif exists then
  redis.call('ZREM', sweep, 'release:' .. id)
end

-- Outputs show an article from its publish time (Redis's clock) on. Hidden before and after
-- (an embargo, new or changed) changes no output: nothing may hint at it, and its release
-- names every target. Shown now and not before changes every target it is in, and shown
-- before and not now every target it was in, whether or not what each keeps of it changed:
-- no build has shown it yet, or every one has.
local shown_before = stored_published ~= '' and tonumber(stored_published) <= now
local touched = '[]'
if shown_before and published <= now then
  touched = touched_both
elseif published <= now then
  touched = touched_now
elseif shown_before then
  touched = touched_before
end

rev = rev + 1
redis.call('HSET', akey, 'doc', doc, 'hash', digest, 'publisher', publisher, 'rev', rev,
  'updated', updated, 'published', ARGV[6], 'targets', '{' .. table.concat(pieces, ',') .. '}',
  'retracted', '0')
redis.call('HSET', digests, id, digest)
local eid = redis.call('XADD', stream, '*',
  'type', kind, 'id', id, 'rev', rev, 'targets', touched)
return {status, rev, eid}
