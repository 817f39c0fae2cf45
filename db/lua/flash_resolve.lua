-- Resolve a hold exactly once: confirmed (a redemption was committed) or released.
-- KEYS: stock, buyers, holds, holddata, outcomes
-- ARGV: reservation, outcome to record ('' forgets it), 'confirm' | 'release' |
--       'release-keep-stock'
-- A release gives the units back to the stock (unless PostgreSQL said they are gone) and to
-- the member's allowance. Returns 1 when this call resolved the hold, 0 when it was resolved.
local reservation, how = ARGV[1], ARGV[3]
if redis.call('ZREM', KEYS[3], reservation) == 0 then
  return 0
end
local held = redis.call('HGET', KEYS[4], reservation)
redis.call('HDEL', KEYS[4], reservation)
if held and how ~= 'confirm' then
  local member, quantity = string.match(held, '^(%d+):(%d+)$')
  if how == 'release' then
    redis.call('INCRBY', KEYS[1], quantity)
  end
  redis.call('HINCRBY', KEYS[2], member, -tonumber(quantity))
end
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[5], reservation)
else
  redis.call('HSET', KEYS[5], reservation, ARGV[2])
end
return 1
