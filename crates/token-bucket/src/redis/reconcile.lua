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
local stale = state.synced and server_timestamp_ms < state.last_server_timestamp_ms
if settle ~= nil then
  -- A stale envelope's request was already charged in the newer tokensLeft that had its
  -- estimate subtracted: give the charge back once (see `Core::reconcile`).
  local double_counted = false
  local index = find_reservation(state, settle)
  if refill_rate > 0 and stale and index ~= nil then
    local at = state.reservations[index].subtracted_at_ms
    double_counted = at ~= nil and at > server_timestamp_ms
  end
  local actual = tokens_consumed * MILLI
  settle_ticked(state, settle, actual)
  if double_counted then
    state.balance = math.min(state.balance + actual, math.max(cap(state), state.balance))
    state.counters[DRIFT] = state.counters[DRIFT] - actual
    state.drift_window[2] = state.drift_window[2] - actual
  end
end
if refill_rate <= 0 then
  save_state(state)
  return { now, 2 }
end
if stale then
  save_state(state)
  return { now, 1 }
end
local authoritative = tokens_left * MILLI - in_flight(state)
-- Envelopes stamped in the same millisecond cannot be ordered: keep the lower balance.
local corrected = authoritative
if state.synced and server_timestamp_ms == state.last_server_timestamp_ms then
  corrected = math.min(authoritative, state.balance)
end
local drift = 0
if state.synced then
  drift = state.balance - corrected
end
state.counters[DRIFT] = state.counters[DRIFT] + drift
state.drift_window[2] = state.drift_window[2] + drift
state.balance = corrected
for _, r in ipairs(state.reservations) do
  r.subtracted_at_ms = server_timestamp_ms
end
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
