-- acquire: mirrors `Core::acquire`. Arguments: cost (milli-tokens), lane (1 urgent, 2 bulk),
-- whether a waiter follows (0/1), the waiter from an earlier Wait.
-- Replies {now, 0} unsynced, {now, 1, reservation} admit, {now, 2, waiter, until_ms} wait,
-- {now, 3, cost, maximum} refuse.
local URGENT, BULK = core.URGENT, core.BULK
local cost = core.argument(1)
local lane = core.argument(2)
local waiter = nil
if core.argument(3) == 1 then
  waiter = core.argument(4)
end

local state = core.load_state()
core.tick(state)
if not state.synced then
  core.save_state(state)
  return core.reply(now, 0)
end

local maximum = core.cap(state) - policy.urgent_reserve
if lane == URGENT then
  maximum = core.cap(state) - policy.deficit_floor
end
if cost > maximum then
  if waiter ~= nil then
    core.remove_waiter(state, waiter)
  end
  core.save_state(state)
  return core.reply(now, 3, cost, maximum)
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
local learned = needed_with(core.drift_margin(state), core.urgent_reserve(state))
local needed = math.max(fixed, math.min(learned, core.cap(state)))

if is_head and not blocked_by_urgent and state.balance >= needed then
  if position ~= nil then
    table.remove(queue, position)
  end
  local reservation = state.next_id
  state.next_id = state.next_id + 1
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
  local counters = state.counters
  counters[core.GRANTED] = counters[core.GRANTED] + cost
  counters[core.ADMITTED + lane - 1] = counters[core.ADMITTED + lane - 1] + 1
  core.save_state(state)
  return core.reply(now, 1, reservation)
end

local latest = now + policy.max_wait_slice_ms
local until_ms = latest
if is_head and not blocked_by_urgent then
  -- The first refill instant at which the balance reaches `needed`, refills alone assumed.
  local missing = needed - state.balance
  local per_tick = math.max(state.refill_rate * core.MILLI, 1)
  local ticks = math.max(core.floor_div(missing + per_tick - 1, per_tick), 1)
  until_ms = math.min(state.next_refill_ms + (ticks - 1) * core.REFILL_PERIOD_MS, latest)
end
local expires_ms = until_ms + policy.waiter_grace_ms
local id
if position ~= nil then
  queue[position].expires_ms = expires_ms
  id = queue[position].id
else
  id = state.next_id
  state.next_id = state.next_id + 1
  queue[#queue + 1] = { id = id, expires_ms = expires_ms }
end
core.save_state(state)
return core.reply(now, 2, id, until_ms)
