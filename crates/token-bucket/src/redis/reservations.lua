-- Finishing and counting reservations (settle, release, reconcile, snapshot).

-- Where the reservation `id` starts in `s` (its fields follow), or nil when it is unknown.
local function find_reservation(id)
  for at = N_HEADER, N_HEADER + RESERVATION_FIELDS * (s[N_RESERVATIONS] - 1), RESERVATION_FIELDS do
    if s[at + 1] == id then
      return at
    end
  end
  return nil
end

-- Mirrors `Core::settle_ticked`. Returns the refund, or nil when the reservation is unknown.
local function settle_ticked(id, actual)
  local at = find_reservation(id)
  if at == nil then
    return nil
  end
  local refund = s[at + 3] - actual
  for _ = 1, RESERVATION_FIELDS do
    table.remove(s, at + 1)
  end
  s[N_RESERVATIONS] = s[N_RESERVATIONS] - 1
  -- A refund never lifts the balance above the cap (unless it already was above it).
  local ceiling = math.max(s[RATE] * CAP_PER_RATE, s[BALANCE])
  s[BALANCE] = math.min(s[BALANCE] + refund, ceiling)
  return refund
end

-- The sum of the estimates in flight.
local function in_flight()
  local sum = 0
  for at = N_HEADER + 3, N_HEADER + RESERVATION_FIELDS * s[N_RESERVATIONS], RESERVATION_FIELDS do
    sum = sum + s[at]
  end
  return sum
end
