-- Takes the lease if nobody holds it or its holder's expiry has passed.
-- KEYS[1] lease hash, KEYS[2] fencing counter (never expires).
-- ARGV[1] now ms or '' (server TIME), ARGV[2] ttl ms, ARGV[3] owner token, ARGV[4] instance,
-- ARGV[5] backstop ms.
-- Returns {1, fencing, expires_at_ms} when taken, {0} when held by someone else.
local expires = redis.call('HGET', KEYS[1], 'expires_at_ms')
if expires and tonumber(expires) > now then
  return {0}
end
local fencing = redis.call('INCR', KEYS[2])
local expires_at = now + tonumber(ARGV[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[3], 'instance', ARGV[4], 'fencing', fencing,
  'expires_at_ms', int(expires_at))
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, fencing, expires_at}
