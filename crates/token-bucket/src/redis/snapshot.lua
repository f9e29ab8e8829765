-- snapshot: mirrors `Core::snapshot`. Returns {now, synced (0/1), balance, refill_rate, cap,
-- next_refill_ms, in_flight, n_in_flight, waiting urgent, waiting bulk, granted, refilled,
-- wasted_at_cap, drift, expired_reservations, expired_waiters, admitted urgent, admitted bulk,
-- drift margin, urgent reserve}.
local state = load_state()
tick(state)
save_state(state)
local synced = 0
if state.synced then
  synced = 1
end
local reply = {
  now, synced, state.balance, state.refill_rate, cap(state), state.next_refill_ms,
  in_flight(state), #state.reservations, #state.waiters[URGENT], #state.waiters[BULK],
}
for i = 1, 8 do
  reply[#reply + 1] = state.counters[i]
end
reply[#reply + 1] = drift_margin(state)
reply[#reply + 1] = urgent_reserve(state)
return reply
