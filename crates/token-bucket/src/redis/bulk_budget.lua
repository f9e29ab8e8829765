-- bulk_budget: mirrors `Core::bulk_budget`. No arguments. Replies {now, budget (milli-tokens)}.
local state = core.load_state()
core.tick(state)
core.save_state(state)
if not state.synced or #state.waiters[core.URGENT] > 0 or #state.waiters[core.BULK] > 0 then
  return core.reply(now, 0)
end
return core.reply(now, math.max(state.balance - core.urgent_reserve(state) - core.drift_margin(state), 0))
