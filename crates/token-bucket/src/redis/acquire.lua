-- acquire: mirrors `Core::acquire`. ARGV[7] cost (milli-tokens), ARGV[8] lane (1 urgent, 2 bulk),
-- ARGV[9] the waiter id from an earlier Wait, or "" for none.
-- Returns {now, 0} unsynced, {now, 1, reservation} admit, {now, 2, waiter, until_ms} wait,
-- {now, 3, cost, maximum} refuse.
local cost = integer(ARGV[7], 'cost')
local lane = integer(ARGV[8], 'lane')
local waiter = nil
if ARGV[9] ~= '' then
  waiter = integer(ARGV[9], 'waiter')
end

local state = load_state()
tick(state)
if not state.synced then
  save_state(state)
  return { now, 0 }
end

local maximum = maximum_cost(state, lane)
if cost > maximum then
  if waiter ~= nil then
    remove_waiter(state, waiter)
  end
  save_state(state)
  return { now, 3, cost, maximum }
end

local queue = state.waiters[lane]
local position = nil
if waiter ~= nil then
  for i, w in ipairs(queue) do
    if w.id == waiter then
      position = i
      break
    end
  end
end
local is_head
if position ~= nil then
  is_head = position == 1
else
  is_head = #queue == 0
end
local blocked_by_urgent = lane == BULK and #state.waiters[URGENT] > 0

-- Keepa's rule (balance > 0, above the drift margin) and the deficit floor for urgent work; the
-- urgent reserve above the margin for bulk.
-- Requests in flight may arrive in any order: the cheapest one in flight, this one included,
-- must still find a positive balance arriving last (see `Core::balance_needed`).
local cheapest = cost
for _, r in ipairs(state.reservations) do
  cheapest = math.min(cheapest, r.cost)
end
local reordering = cost - cheapest
local function needed_with(margin, reserve)
  if lane == URGENT then
    return math.max(margin + 1 + reordering, policy.deficit_floor + cost)
  end
  return math.max(margin + 1, reserve + margin + cost)
end
-- The learned parts (margin, urgent demand) never make a request wait at the cap.
local fixed = needed_with(0, policy.urgent_reserve)
local learned = needed_with(drift_margin(state), urgent_reserve(state))
local needed = math.max(fixed, math.min(learned, cap(state)))

if is_head and not blocked_by_urgent and state.balance >= needed then
  if position ~= nil then
    table.remove(queue, position)
  end
  local reservation = take_id(state)
  state.reservations[#state.reservations + 1] = {
    id = reservation,
    lane = lane,
    cost = cost,
    expires_ms = now + policy.reservation_ttl_ms,
  }
  state.balance = state.balance - cost
  if lane == URGENT then
    state.urgent_window[2] = state.urgent_window[2] + cost
  end
  state.counters[GRANTED] = state.counters[GRANTED] + cost
  state.counters[ADMITTED + lane - 1] = state.counters[ADMITTED + lane - 1] + 1
  save_state(state)
  return { now, 1, reservation }
end

local latest = now + policy.max_wait_slice_ms
local until_ms = latest
if is_head and not blocked_by_urgent then
  -- The first refill instant at which the balance reaches `needed`, refills alone assumed.
  local missing = needed - state.balance
  local per_tick = math.max(state.refill_rate * MILLI, 1)
  local ticks = math.max(floor_div(missing + per_tick - 1, per_tick), 1)
  until_ms = math.min(state.next_refill_ms + (ticks - 1) * REFILL_PERIOD_MS, latest)
end
local expires_ms = until_ms + policy.waiter_grace_ms
local id
if position ~= nil then
  queue[position].expires_ms = expires_ms
  id = queue[position].id
else
  id = take_id(state)
  queue[#queue + 1] = { id = id, expires_ms = expires_ms }
end
save_state(state)
return { now, 2, id, until_ms }
