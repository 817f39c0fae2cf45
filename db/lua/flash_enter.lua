-- Enter a flash sale: every check and the stock decrement in one atomic step.
-- KEYS: meta, stock, buyers, holds, holddata, outcomes, attempts (all under the sale's {fs:<id>})
-- ARGV: reservation, member id, quantity, early access ms, member status, hold ms,
--       attempts allowed, attempts window ms, request hash, brand id, clock offset ms
-- Returns {'REPLAY', outcome} | {'MISSING'} | {'FOREIGN'} | {'REFUSED', code}
--       | {'HOLD', deadline ms, stock left}
local reservation, member = ARGV[1], ARGV[2]
local existing = redis.call('HGET', KEYS[6], reservation)
if existing then
  return {'REPLAY', existing}
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'MISSING'}
end
local meta = redis.call('HMGET', KEYS[1], 'brand', 'starts', 'ends', 'limit', 'cancelled',
                       'expire')
if meta[1] ~= ARGV[10] then
  return {'FOREIGN'}
end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)  -- for the brand's report: attempts per unit
-- Every key of the sale expires with its meta, a day after the sale ends.
local function record(outcome)
  redis.call('HSET', KEYS[6], reservation, outcome)
  redis.call('PEXPIREAT', KEYS[6], meta[6])
end
local function refuse(code)
  record('E|' .. ARGV[9] .. '|' .. code)
  return {'REFUSED', code}
end
local attempts = redis.call('INCR', KEYS[7])
if attempts == 1 then
  redis.call('PEXPIRE', KEYS[7], ARGV[8])
end
if attempts > tonumber(ARGV[7]) then
  return refuse('RATE_LIMITED')
end
local quantity = tonumber(ARGV[3])
if quantity < 1 then
  return refuse('INVALID_INPUT')
end
if meta[5] == '1' then
  return refuse('ENDED')
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[11])
if now >= tonumber(meta[3]) then
  return refuse('ENDED')
end
if now < tonumber(meta[2]) - tonumber(ARGV[4]) then
  return refuse('NOT_STARTED')
end
if ARGV[5] ~= 'ACTIVE' then
  return refuse('MEMBER_FROZEN')
end
local bought = tonumber(redis.call('HGET', KEYS[3], member) or '0')
if bought + quantity > tonumber(meta[4]) then
  return refuse('LIMIT_REACHED')
end
local stock = tonumber(redis.call('GET', KEYS[2]) or '0')
if stock <= 0 then
  return refuse('SOLD_OUT')
end
if stock < quantity then
  return refuse('OUT_OF_STOCK')
end
redis.call('DECRBY', KEYS[2], quantity)
redis.call('HINCRBY', KEYS[3], member, quantity)
redis.call('PEXPIREAT', KEYS[3], meta[6])
local deadline = now + tonumber(ARGV[6])
redis.call('ZADD', KEYS[4], deadline, reservation)
redis.call('PEXPIREAT', KEYS[4], meta[6])
redis.call('HSET', KEYS[5], reservation, member .. ':' .. quantity)
redis.call('PEXPIREAT', KEYS[5], meta[6])
record('H|' .. ARGV[9] .. '|' .. deadline)
return {'HOLD', tostring(deadline), tostring(stock - quantity)}
