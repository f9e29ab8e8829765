-- Shared preamble: `now` in milliseconds from ARGV[1], or from the server's TIME when ARGV[1] is
-- empty (every process of a fleet then agrees on one clock).
local now
if ARGV[1] == '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local function int(value)
  return string.format('%.0f', value)
end
