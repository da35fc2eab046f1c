-- Shared by upsert.lua and retract.lua (concatenated in front of them): an article's entries
-- in its targets' indexes. Both scripts take the names of a target's keys as their last five
-- arguments (shared/state/redis_keys.py, target_families): the prefixes of its index,
-- payloads, part sizes and retractions, each followed by the target's name, then the
-- separator between a name and a part number.
local INDEX, PAYLOADS, SHARDS, GONE, PART = unpack(ARGV, #ARGV - 4)

-- The stored map: target name -> {fingerprint, part, bytes, keep retractions} (the writer
-- reads it in Python too: shared/state/upsert_plan.py, `_held`).
local function decode_targets(raw)
  if not raw then return {} end
  local decoded = cjson.decode(raw)
  if decoded[1] ~= nil then
    -- Written before targets had fingerprints: a plain list of names, all of them owed.
    local old = {}
    for _, name in ipairs(decoded) do old[name] = {'', 0, 0, 0} end
    return old
  end
  return decoded
end

local function index_key(name, part)
  if part and part > 0 then return INDEX .. name .. PART .. part end
  return INDEX .. name
end

local function payload_key(name, part)
  if part and part > 0 then return PAYLOADS .. name .. PART .. part end
  return PAYLOADS .. name
end

-- Remove the article from one target's index; `held` is its stored {fp, part, bytes, r}.
local function unindex(id, name, held)
  local part = tonumber(held[2]) or 0
  redis.call('ZREM', index_key(name, part), id)
  redis.call('HDEL', payload_key(name, part), id)
  if part > 0 then
    redis.call('HINCRBY', SHARDS .. name, part, -(tonumber(held[3]) or 0))
  end
end

-- The first part of a sharded target with room for `bytes` more, keeping `held`'s part when
-- the entry still fits there: an entry never moves because others arrive.
local function choose_part(id, name, cap, bytes, held)
  local shards = SHARDS .. name
  local items, max_bytes = tonumber(cap[1]), tonumber(cap[2])
  if held and tonumber(held[2]) and tonumber(held[2]) > 0 then
    local part = tonumber(held[2])
    local used = tonumber(redis.call('HGET', shards, part) or '0') - (tonumber(held[3]) or 0)
    if used + bytes <= max_bytes then return part, false end
  end
  local part = 1
  while true do
    local count = redis.call('ZCARD', index_key(name, part))
    local used = tonumber(redis.call('HGET', shards, part) or '0')
    if count < items and used + bytes <= max_bytes then return part, true end
    part = part + 1
  end
end
