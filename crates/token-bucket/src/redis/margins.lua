-- The learned margins (acquire, bulk_budget, snapshot).

-- Mirrors `Core::drift_margin`: at most one refill's worth.
function core.drift_margin(state)
  local widest = math.max(state.drift_window[1], state.drift_window[2])
  return math.max(math.min(widest, math.max(state.refill_rate, 0) * core.MILLI), 0)
end

-- Mirrors `Core::urgent_reserve`: the policy's, or the recent urgent demand up to one refill.
function core.urgent_reserve(state)
  local demand = math.max(state.urgent_window[1], state.urgent_window[2])
  return math.max(policy.urgent_reserve, math.min(demand, math.max(state.refill_rate, 0) * core.MILLI))
end
