-- bulk_budget: mirrors `Core::bulk_budget`. Returns {now, budget (milli-tokens)}.
local state = load_state()
tick(state)
save_state(state)
if not state.synced or #state.waiters[URGENT] > 0 or #state.waiters[BULK] > 0 then
  return { now, 0 }
end
return { now, math.max(state.balance - urgent_reserve(state) - drift_margin(state), 0) }
