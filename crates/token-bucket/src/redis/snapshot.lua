-- snapshot: mirrors `Core::snapshot`. No arguments. Replies {now, synced (0/1), balance,
-- refill_rate, cap, next_refill_ms, in_flight, n_in_flight, waiting urgent, waiting bulk,
-- granted, refilled, wasted_at_cap, drift, expired_reservations, expired_waiters, admitted
-- urgent, admitted bulk, drift margin, urgent reserve}.
local state = core.load_state()
core.tick(state)
core.save_state(state)
local synced = 0
if state.synced then
  synced = 1
end
local c = state.counters
return core.reply(
  now, synced, state.balance, state.refill_rate, core.cap(state), state.next_refill_ms,
  core.in_flight(state), #state.reservations, #state.waiters[core.URGENT], #state.waiters[core.BULK],
  c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8],
  core.drift_margin(state), core.urgent_reserve(state)
)
