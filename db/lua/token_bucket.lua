-- Take `cost` tokens (one per operation) from a bucket refilled continuously, all or none;
-- Redis TIME is the clock.
-- KEYS: the bucket (a hash: tokens, at)
-- ARGV: capacity, tokens per second, cost
-- Returns {1, 0} when allowed, {0, ms until enough tokens are back} when not. A cost above the
-- capacity costs the capacity.
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost = math.min(tonumber(ARGV[3]), capacity)
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or capacity, tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - at) * rate / 1000)
local allowed, wait = 0, 0
if tokens >= cost then
  tokens, allowed = tokens - cost, 1
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
return {allowed, wait}
