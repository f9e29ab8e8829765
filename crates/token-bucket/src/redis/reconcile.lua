-- reconcile: mirrors `Core::reconcile`. ARGV[7] tokensLeft, ARGV[8] refillIn (ms),
-- ARGV[9] refillRate, ARGV[10] tokensConsumed (whole tokens), ARGV[11] the envelope's server
-- timestamp (ms), ARGV[12] the reservation to settle, or "" for none.
-- Returns {now, 0, drift} applied, {now, 1} stale, {now, 2} no token information.
local tokens_left = integer(ARGV[7], 'tokens_left')
local refill_in_ms = integer(ARGV[8], 'refill_in_ms')
local refill_rate = integer(ARGV[9], 'refill_rate')
local tokens_consumed = integer(ARGV[10], 'tokens_consumed')
local server_timestamp_ms = integer(ARGV[11], 'server_timestamp_ms')
local settle = nil
if ARGV[12] ~= '' then
  settle = integer(ARGV[12], 'reservation')
end

local state = load_state()
tick(state)
if settle ~= nil then
  settle_ticked(state, settle, tokens_consumed * MILLI)
end
if refill_rate <= 0 then
  save_state(state)
  return { now, 2 }
end
if state.synced and server_timestamp_ms < state.last_server_timestamp_ms then
  save_state(state)
  return { now, 1 }
end
local authoritative = tokens_left * MILLI - in_flight(state)
local drift = 0
if state.synced then
  drift = state.balance - authoritative
end
state.counters[DRIFT] = state.counters[DRIFT] + drift
state.balance = authoritative
state.refill_rate = refill_rate
if refill_in_ms > 0 then
  state.next_refill_ms = now + refill_in_ms
else
  -- A refill due "now" is already in tokensLeft; the next one is a period away.
  state.next_refill_ms = now + REFILL_PERIOD_MS
end
state.last_server_timestamp_ms = server_timestamp_ms
state.synced = true
save_state(state)
return { now, 0, drift }
