-- Store one article revision and append its event in one atomic step.
-- KEYS: article hash, event stream, sweep zset, display-name hash, target set
-- ARGV: id, doc, digest, updated_ms, published_ms, publisher, target entries (JSON list, see
--       shared/kinds/entries.py), the site publisher ('' if none is set), then the five
--       names of a target's keys that targets.lua reads (prefixes of index, payloads, part
--       sizes, retractions; part separator)
-- (No MAXLEN: the dispatcher trims the stream, never past an entry a consumer group still
-- needs; see shared/state/stream_trim.py.)
--
-- Redis runs every script on its one thread, so what this one does per write bounds every
-- writer's throughput: work that cannot change anything is skipped. A target the article's
-- last revision already held was added to the target set then, and named then if it was
-- the site's (neither is ever taken back), and its retraction record was cleared then (retract.lua empties `targets`, so
-- after a takedown every target counts as new again); an article never stored before has no
-- retraction record and no pending release.
local akey, stream, sweep, names, all_targets = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, doc, digest = ARGV[1], ARGV[2], ARGV[3]
local updated, published = tonumber(ARGV[4]), tonumber(ARGV[5])
local publisher, site = ARGV[6], ARGV[8]

local cur = redis.call('HMGET', akey, 'publisher', 'hash', 'updated', 'rev', 'targets', 'retracted',
  'published')
local exists, retracted = cur[1] ~= false, cur[6] == '1'
local rev = tonumber(cur[4]) or 0
if exists then
  if cur[1] ~= publisher then return {'forbidden', rev, ''} end
  local stored = tonumber(cur[3])
  -- A takedown sticks: only a strictly newer revision brings the article back.
  if updated < stored or (retracted and updated == stored) then return {'stale', rev, ''} end
  if not retracted and cur[2] == digest then return {'unchanged', rev, ''} end
end

local entries = cjson.decode(ARGV[7])
local old = decode_targets(cur[5])
local held, touched = {}, {}
local fresh, labelled, labels = {}, {}, {}  -- targets new to the article; those with a label
for _, e in ipairs(entries) do
  local name, before = e.n, old[e.n]
  -- Not held by the last revision, or held in the list form written before fingerprints
  -- (whose writer may not have kept the sets this one keeps).
  local new = not before or before[1] == ''
  local part, bytes, moved = 0, 0, false
  if e.s then
    if e.c then
      bytes = e.p and #e.p or 0
      part, moved = choose_part(id, name, e.c, bytes, before)
      if before and (moved or tonumber(before[2]) ~= part) then unindex(id, name, before) end
      if not before or moved then
        redis.call('HINCRBY', SHARDS .. name, part, bytes)
      else
        redis.call('HINCRBY', SHARDS .. name, part, bytes - (tonumber(before[3]) or 0))
      end
    end
    redis.call('ZADD', index_key(name, part), e.s, id)
    if e.p then redis.call('HSET', payload_key(name, part), id, e.p) end
  end
  if new then
    if e.r and exists then redis.call('ZREM', GONE .. name, id) end
    fresh[#fresh + 1] = name
    if e.l then
      labelled[#labelled + 1] = name
      labels[#labels + 1] = e.l
    end
  end
  held[name] = {e.f, part, bytes, e.r and 1 or 0}
  if not before or before[1] ~= e.f then touched[#touched + 1] = name end
end
for name, before in pairs(old) do
  if not held[name] then
    unindex(id, name, before)
    touched[#touched + 1] = name
  end
end
if #fresh > 0 then redis.call('SADD', all_targets, unpack(fresh)) end
-- Names belong to the site: the site publisher's first article in a feed names it, and a
-- later one never renames it; another publisher's article names nothing, first or not.
-- Names an admin set or the settings give override this when read (article_reader.py).
if #labelled > 0 and site ~= '' and publisher == site then
  local named, unnamed = redis.call('HMGET', names, unpack(labelled)), {}
  for i = 1, #labelled do
    if not named[i] then
      unnamed[#unnamed + 1] = labelled[i]
      unnamed[#unnamed + 1] = labels[i]
    end
  end
  if #unnamed > 0 then redis.call('HSET', names, unpack(unnamed)) end
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if published > now then
  redis.call('ZADD', sweep, published, 'release:' .. id)
elseif exists then
  redis.call('ZREM', sweep, 'release:' .. id)
end

-- Outputs show an article from its publish time (Redis's clock) on. Hidden before and after
-- (an embargo, new or changed) changes no output: nothing may hint at it, and its release
-- names every target. Shown now and not before changes every target it is in, and shown
-- before and not now every target it was in, whether or not what each keeps of it changed:
-- no build has shown it yet, or every one has.
local shown_before = exists and not retracted and (tonumber(cur[7]) or now + 1) <= now
local shown_now = published <= now
if not shown_before and not shown_now then
  touched = {}
elseif shown_now and not shown_before then
  touched = {}
  for name in pairs(held) do touched[#touched + 1] = name end
elseif shown_before and not shown_now then
  touched = {}
  for name in pairs(held) do touched[#touched + 1] = name end
  for name in pairs(old) do
    if not held[name] then touched[#touched + 1] = name end
  end
end

rev = rev + 1
redis.call('HSET', akey, 'doc', doc, 'hash', digest, 'publisher', publisher, 'rev', rev,
  'updated', updated, 'published', published, 'targets', cjson.encode(held), 'retracted', '0')
local kind, status = 'article.published', 'created'
if exists and not retracted then kind, status = 'article.updated', 'updated' end
local eid = redis.call('XADD', stream, '*',
  'type', kind, 'id', id, 'rev', rev, 'targets', cjson.encode(touched))
return {status, rev, eid}
