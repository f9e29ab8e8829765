-- Deletes the lease only if the caller's token is the holder's (compare-and-delete).
-- KEYS[1] lease hash. ARGV[1] unused (the shared preamble's now), ARGV[2] owner token.
-- Returns 1 when released, 0 when the caller did not hold it.
if redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
