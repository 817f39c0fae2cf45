-- Load (or rebuild) a sale's state from PostgreSQL's record: stock, buyers, the outcomes of
-- the redemptions made (so their keys replay them), and meta last, since entries treat a sale
-- without meta as not ready. Holds start empty. Every key expires a day after the sale ends.
-- KEYS: meta, stock, buyers, holds, holddata, outcomes
-- ARGV: stock, expire at (unix ms), brand, starts ms, ends ms, limit, cancelled ('0'|'1'),
--       number of buyers n, then n (member id, units) pairs, then (reservation, outcome) pairs
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('SET', KEYS[2], ARGV[1])
local buyers_end = 8 + 2 * tonumber(ARGV[8])
for i = 9, buyers_end, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
for i = buyers_end + 1, #ARGV, 2 do
  redis.call('HSET', KEYS[6], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'brand', ARGV[3], 'starts', ARGV[4], 'ends', ARGV[5],
           'limit', ARGV[6], 'cancelled', ARGV[7], 'expire', ARGV[2])
for i = 1, 6 do
  redis.call('PEXPIREAT', KEYS[i], ARGV[2])
end
return 1
