-- reconcile: mirrors `Core::reconcile`. Arguments: tokensLeft, refillIn (ms), refillRate,
-- tokensConsumed (whole tokens), the envelope's server timestamp (ms), whether a reservation to
-- settle follows (0/1), the reservation.
-- Replies {now, 0, drift} applied, {now, 1} stale, {now, 2} no token information.
local tokens_left, refill_in_ms, refill_rate = arguments[OP + 1], arguments[OP + 2], arguments[OP + 3]
local tokens_consumed, server_timestamp_ms = arguments[OP + 4], arguments[OP + 5]
local settle = nil
if arguments[OP + 6] == 1 then
  settle = arguments[OP + 7]
end

local stale = s[SYNCED] == 1 and server_timestamp_ms < s[LAST_TIMESTAMP]
if settle ~= nil then
  -- A stale envelope's request was already charged in the newer tokensLeft that had its
  -- estimate subtracted: give the charge back once (see `Core::reconcile`).
  local double_counted = false
  local at = find_reservation(settle)
  if refill_rate > 0 and stale and at ~= nil then
    double_counted = s[at + 5] == 1 and s[at + 6] > server_timestamp_ms
  end
  local actual = tokens_consumed * MILLI
  settle_ticked(settle, actual)
  if double_counted then
    s[BALANCE] = math.min(s[BALANCE] + actual, math.max(s[RATE] * CAP_PER_RATE, s[BALANCE]))
    s[DRIFT] = s[DRIFT] - actual
    s[DRIFT_CURRENT] = s[DRIFT_CURRENT] - actual
  end
end
if refill_rate <= 0 then
  save()
  return struct.pack('<i8i8', now, 2)
end
if stale then
  save()
  return struct.pack('<i8i8', now, 1)
end
local authoritative = tokens_left * MILLI - in_flight()
-- Envelopes stamped in the same millisecond cannot be ordered: keep the lower balance.
local corrected = authoritative
if s[SYNCED] == 1 and server_timestamp_ms == s[LAST_TIMESTAMP] then
  corrected = math.min(authoritative, s[BALANCE])
end
local drift = 0
if s[SYNCED] == 1 then
  drift = s[BALANCE] - corrected
end
s[DRIFT] = s[DRIFT] + drift
s[DRIFT_CURRENT] = s[DRIFT_CURRENT] + drift
s[BALANCE] = corrected
for at = N_HEADER, N_HEADER + RESERVATION_FIELDS * (s[N_RESERVATIONS] - 1), RESERVATION_FIELDS do
  s[at + 5], s[at + 6] = 1, server_timestamp_ms
end
s[RATE] = refill_rate
if refill_in_ms > 0 then
  s[NEXT_REFILL] = now + refill_in_ms
else
  -- A refill due "now" is already in tokensLeft; the next one is a period away.
  s[NEXT_REFILL] = now + REFILL_PERIOD_MS
end
s[LAST_TIMESTAMP] = server_timestamp_ms
s[SYNCED] = 1
save()
return struct.pack('<i8i8i8', now, 0, drift)
