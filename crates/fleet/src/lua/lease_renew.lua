-- Extends the lease by its ttl if the caller holds it and it has not expired.
-- KEYS[1] lease hash. ARGV[1] now ms or '', ARGV[2] ttl ms, ARGV[3] owner token,
-- ARGV[4] backstop ms.
-- Returns {1, expires_at_ms} when renewed, {0} when lost.
local current = redis.call('HMGET', KEYS[1], 'token', 'expires_at_ms')
if current[1] ~= ARGV[3] or not current[2] or tonumber(current[2]) <= now then
  return {0}
end
local expires_at = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'expires_at_ms', int(expires_at))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, expires_at}
