-- snapshot: mirrors `Core::snapshot`. No arguments. Replies {now, synced (0/1), balance,
-- refill_rate, cap, next_refill_ms, in_flight, n_in_flight, waiting urgent, waiting bulk,
-- granted, refilled, wasted_at_cap, drift, expired_reservations, expired_waiters, admitted
-- urgent, admitted bulk, drift margin, urgent reserve}.
save()
return struct.pack(integers(20),
  now, s[SYNCED], s[BALANCE], s[RATE], s[RATE] * CAP_PER_RATE, s[NEXT_REFILL],
  in_flight(), s[N_RESERVATIONS], s[N_URGENT], s[N_BULK],
  s[GRANTED], s[REFILLED], s[WASTED], s[DRIFT],
  s[EXPIRED_RESERVATIONS], s[EXPIRED_WAITERS], s[ADMITTED], s[ADMITTED + 1],
  drift_margin, urgent_reserve)
