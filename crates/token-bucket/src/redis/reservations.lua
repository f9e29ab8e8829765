-- Helpers for the operations that finish or count reservations (settle, release, reconcile,
-- snapshot).

function core.in_flight(state)
  local sum = 0
  for _, r in ipairs(state.reservations) do
    sum = sum + r.cost
  end
  return sum
end

function core.find_reservation(state, id)
  for i, r in ipairs(state.reservations) do
    if r.id == id then
      return i
    end
  end
  return nil
end

-- Mirrors `Core::settle_ticked`. Returns the refund, or nil when the reservation is unknown.
function core.settle_ticked(state, id, actual)
  local index = core.find_reservation(state, id)
  if index == nil then
    return nil
  end
  local r = table.remove(state.reservations, index)
  local refund = r.cost - actual
  -- A refund never lifts the balance above the cap (unless it already was above it).
  local ceiling = math.max(core.cap(state), state.balance)
  state.balance = math.min(state.balance + refund, ceiling)
  return refund
end
