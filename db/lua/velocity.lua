-- Count one movement against a brand's velocity limits, all counters or none.
-- KEYS: one counter per limit (fixed windows: the key names its window), all of one brand
-- ARGV: per key, its limit, its window's ms to live, and 1 when past it refuses, 0 when it
--       only flags (3 values a key)
-- Returns {'OK', flagged key index...} (each counter taken), or {'REFUSED', key index, ms
-- until its window ends} (none taken).
local counts = {}
for i, key in ipairs(KEYS) do
  local limit, refuses = tonumber(ARGV[i * 3 - 2]), ARGV[i * 3] == '1'
  local count = tonumber(redis.call('GET', key) or '0') + 1
  if refuses and count > limit then
    local ttl = redis.call('PTTL', key)
    return {'REFUSED', i, ttl > 0 and ttl or tonumber(ARGV[i * 3 - 1])}
  end
  counts[i] = count
end
local result = {'OK'}
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[i * 3 - 1])
  end
  if counts[i] > tonumber(ARGV[i * 3 - 2]) then
    table.insert(result, i)
  end
end
return result
