-- Load (or rebuild) a sale's state from PostgreSQL's record: stock, buyers, meta last, since
-- entries treat a sale without meta as not ready. Holds and outcomes start empty.
-- KEYS: meta, stock, buyers, holds, holddata
-- ARGV: stock, expire at (unix ms), brand, starts ms, ends ms, limit, cancelled ('0'|'1'),
--       then member id, units pairs
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('SET', KEYS[2], ARGV[1])
for i = 8, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'brand', ARGV[3], 'starts', ARGV[4], 'ends', ARGV[5],
           'limit', ARGV[6], 'cancelled', ARGV[7])
for i = 1, 3 do
  redis.call('PEXPIREAT', KEYS[i], ARGV[2])
end
return 1
