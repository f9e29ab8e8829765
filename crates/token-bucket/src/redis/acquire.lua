-- acquire: mirrors `Core::acquire`. Arguments: cost (milli-tokens), lane (1 urgent, 2 bulk),
-- whether a waiter follows (0/1), the waiter from an earlier Wait.
-- Replies {now, 0} unsynced, {now, 1, reservation} admit, {now, 2, waiter, until_ms} wait,
-- {now, 3, cost, maximum} refuse.
local cost, lane = arguments[OP + 1], arguments[OP + 2]
local waiter = nil
if arguments[OP + 3] == 1 then
  waiter = arguments[OP + 4]
end

if s[SYNCED] ~= 1 then
  save()
  return struct.pack('<i8i8', now, 0)
end

local cap = s[RATE] * CAP_PER_RATE
local maximum = cap - policy_urgent_reserve
if lane == URGENT then
  maximum = cap - deficit_floor
end
if cost > maximum then
  if waiter ~= nil then
    remove_waiter(waiter)
  end
  save()
  return struct.pack('<i8i8i8i8', now, 3, cost, maximum)
end

local n_reservations, n_urgent, n_bulk = s[N_RESERVATIONS], s[N_URGENT], s[N_BULK]
-- The lane's queue: its j-th waiter's id is at queue_start + WAITER_FIELDS (j - 1) + 1, its
-- expiry and its cost after it.
local queue_start = N_HEADER + RESERVATION_FIELDS * n_reservations
local queue_length = n_urgent
if lane == BULK then
  queue_start = queue_start + WAITER_FIELDS * n_urgent
  queue_length = n_bulk
end
local position = nil
if waiter ~= nil then
  for j = 1, queue_length do
    if s[queue_start + WAITER_FIELDS * (j - 1) + 1] == waiter then
      position = j
      break
    end
  end
end
local ahead = queue_length
if position ~= nil then
  ahead = position - 1
end
-- Bulk waits for everyone ahead; an urgent request only for the urgent waiters ahead of it
-- that are no larger than one refill (see `Core::one_refill_for_us`).
local is_head = ahead == 0
if lane == URGENT then
  is_head = true
  for j = 1, ahead do
    if s[queue_start + WAITER_FIELDS * (j - 1) + 3] <= one_refill_for_us then
      is_head = false
      break
    end
  end
end
local blocked_by_urgent = lane == BULK and n_urgent > 0

-- Keepa's rule (balance > 0, above the drift margin) and the deficit floor for urgent work; the
-- urgent reserve above the margin for bulk. Requests in flight may arrive in any order: the
-- cheapest one in flight, this one included, must still find a positive balance arriving last
-- (see `Core::balance_needed`). The learned parts (margin, urgent demand, one refill,
-- surprises) never make a request wait at the cap.
local cheapest, others = cost, 0
for at = N_HEADER + 3, N_HEADER + RESERVATION_FIELDS * n_reservations, RESERVATION_FIELDS do
  cheapest = math.min(cheapest, s[at])
  others = others + s[at]
end
local reordering = cost - cheapest
local fixed, learned
if lane == URGENT then
  fixed = math.max(1 + reordering, deficit_floor + cost)
  learned = math.max(drift_margin + 1 + reordering, deficit_floor + cost)
  -- One refill must bring the balance back above the margin.
  learned = math.max(learned, cost - one_refill_for_us + 1)
else
  fixed = math.max(1, policy_urgent_reserve + cost)
  learned = math.max(drift_margin + 1, urgent_reserve + drift_margin + cost)
end
-- Requests in flight may cost `surprise_factor` times their estimates: the cheapest, arriving
-- last, must still find the balance above the margin.
if others > 0 and surprise_factor > 1 then
  learned = math.max(learned, (others + cost - cheapest) * surprise_factor - others + drift_margin + 1)
end
local needed = math.max(fixed, math.min(learned, cap))

if is_head and not blocked_by_urgent and s[BALANCE] >= needed then
  if position ~= nil then
    local at = queue_start + WAITER_FIELDS * (position - 1) + 1
    for _ = 1, WAITER_FIELDS do
      table.remove(s, at)
    end
    if lane == URGENT then
      s[N_URGENT] = n_urgent - 1
    else
      s[N_BULK] = n_bulk - 1
    end
  end
  local reservation = s[NEXT_ID]
  s[NEXT_ID] = reservation + 1
  -- The new reservation goes after the others, before the queues (moved up to make room).
  local at = N_HEADER + RESERVATION_FIELDS * n_reservations
  for k = #s, at + 1, -1 do
    s[k + RESERVATION_FIELDS] = s[k]
  end
  s[at + 1], s[at + 2], s[at + 3] = reservation, lane, cost
  s[at + 4], s[at + 5], s[at + 6] = now + reservation_ttl_ms, 0, 0
  s[N_RESERVATIONS] = n_reservations + 1
  s[BALANCE] = s[BALANCE] - cost
  if lane == URGENT then
    s[URGENT_CURRENT] = s[URGENT_CURRENT] + cost
  end
  s[GRANTED] = s[GRANTED] + cost
  s[ADMITTED + lane - 1] = s[ADMITTED + lane - 1] + 1
  save()
  return struct.pack('<i8i8i8', now, 1, reservation)
end

local latest = now + max_wait_slice_ms
local until_ms = latest
if is_head and not blocked_by_urgent then
  -- The first refill instant at which the balance reaches `needed`, refills alone assumed.
  local missing = needed - s[BALANCE]
  local per_tick = math.max(s[RATE] * MILLI, 1)
  local ticks = math.max(floor_div(missing + per_tick - 1, per_tick), 1)
  until_ms = math.min(s[NEXT_REFILL] + (ticks - 1) * REFILL_PERIOD_MS, latest)
end
local expires_ms = until_ms + waiter_grace_ms
local id
if position ~= nil then
  local at = queue_start + WAITER_FIELDS * (position - 1)
  id = s[at + 1]
  s[at + 2], s[at + 3] = expires_ms, cost
else
  id = s[NEXT_ID]
  s[NEXT_ID] = id + 1
  -- At the end of the lane's queue; the bulk queue moves up when an urgent waiter joins.
  local at = queue_start + WAITER_FIELDS * queue_length
  for k = #s, at + 1, -1 do
    s[k + WAITER_FIELDS] = s[k]
  end
  s[at + 1], s[at + 2], s[at + 3] = id, expires_ms, cost
  if lane == URGENT then
    s[N_URGENT] = n_urgent + 1
  else
    s[N_BULK] = n_bulk + 1
  end
end
save()
return struct.pack('<i8i8i8i8', now, 2, id, until_ms)
