-- Check a one-time code, single-use: a right one is consumed; a wrong one counts an attempt,
-- and past the attempts allowed the code is gone.
-- KEYS: the code's hash (a hash: digest, attempts)
-- ARGV: the digest of the code given, attempts allowed
-- Returns 'OK', 'WRONG', 'SPENT' (too many attempts) or 'NONE' (no code, or expired)
local digest = redis.call('HGET', KEYS[1], 'digest')
if not digest then
  return 'NONE'
end
if digest == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 'OK'
end
if redis.call('HINCRBY', KEYS[1], 'attempts', 1) >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return 'SPENT'
end
return 'WRONG'
