-- reconcile: mirrors `Core::reconcile`. Arguments: tokensLeft, refillIn (ms), refillRate,
-- tokensConsumed (whole tokens), the envelope's server timestamp (ms), whether a reservation to
-- settle follows (0/1), the reservation.
-- Replies {now, 0, drift} applied, {now, 1} stale, {now, 2} no token information.
local tokens_left = core.argument(1)
local refill_in_ms = core.argument(2)
local refill_rate = core.argument(3)
local tokens_consumed = core.argument(4)
local server_timestamp_ms = core.argument(5)
local settle = nil
if core.argument(6) == 1 then
  settle = core.argument(7)
end

local state = core.load_state()
core.tick(state)
local stale = state.synced and server_timestamp_ms < state.last_server_timestamp_ms
if settle ~= nil then
  -- A stale envelope's request was already charged in the newer tokensLeft that had its
  -- estimate subtracted: give the charge back once (see `Core::reconcile`).
  local double_counted = false
  local index = core.find_reservation(state, settle)
  if refill_rate > 0 and stale and index ~= nil then
    local at = state.reservations[index].subtracted_at_ms
    double_counted = at ~= nil and at > server_timestamp_ms
  end
  local actual = tokens_consumed * core.MILLI
  core.settle_ticked(state, settle, actual)
  if double_counted then
    state.balance = math.min(state.balance + actual, math.max(core.cap(state), state.balance))
    state.counters[core.DRIFT] = state.counters[core.DRIFT] - actual
    state.drift_window[2] = state.drift_window[2] - actual
  end
end
if refill_rate <= 0 then
  core.save_state(state)
  return core.reply(now, 2)
end
if stale then
  core.save_state(state)
  return core.reply(now, 1)
end
local authoritative = tokens_left * core.MILLI - core.in_flight(state)
-- Envelopes stamped in the same millisecond cannot be ordered: keep the lower balance.
local corrected = authoritative
if state.synced and server_timestamp_ms == state.last_server_timestamp_ms then
  corrected = math.min(authoritative, state.balance)
end
local drift = 0
if state.synced then
  drift = state.balance - corrected
end
state.counters[core.DRIFT] = state.counters[core.DRIFT] + drift
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
  state.next_refill_ms = now + core.REFILL_PERIOD_MS
end
state.last_server_timestamp_ms = server_timestamp_ms
state.synced = true
core.save_state(state)
return core.reply(now, 0, drift)
