-- The prelude of every bucket script: the state's encoding, the clock, the policy, and `tick`.
-- It mirrors `core.rs` line by line; each operation's script is this prelude followed by the
-- operation's body. Amounts are integer milli-tokens, times integer milliseconds; Lua numbers
-- are doubles, exact for integers below 2^53, so every number is stored as a decimal string
-- (cjson would write large ones in scientific notation) and every division is a floor division.
--
-- KEYS[1]  the state key ({prefix}bucket:state)
-- ARGV[1]  now in ms, or "server" for the Redis server's TIME
-- ARGV[2]  policy.deficit_floor (milli-tokens)
-- ARGV[3]  policy.urgent_reserve (milli-tokens)
-- ARGV[4]  policy.reservation_ttl_ms
-- ARGV[5]  policy.max_wait_slice_ms
-- ARGV[6]  policy.waiter_grace_ms
-- ARGV[7…] the operation's arguments

-- Redis before 5 replicates scripts verbatim unless asked; TIME needs effects replication.
if redis.replicate_commands then redis.replicate_commands() end

local REFILL_PERIOD_MS = 60000
local CAP_MINUTES = 60
local MILLI = 1000
local URGENT, BULK = 1, 2
local STATE_KEY = KEYS[1]

local function integer(text, what)
  local n = tonumber(text)
  if n == nil or n ~= math.floor(n) then
    error('keepa-deals token bucket: ' .. what .. ' is not an integer: ' .. tostring(text))
  end
  return n
end

local function text(n)
  return string.format('%.0f', n)
end

-- Rust's div_euclid for b > 0, exact even where a / b rounds to an integer.
local function floor_div(a, b)
  local q = math.floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

local now
if ARGV[1] == 'server' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
else
  now = integer(ARGV[1], 'now')
end

local policy = {
  deficit_floor = integer(ARGV[2], 'deficit_floor'),
  urgent_reserve = integer(ARGV[3], 'urgent_reserve'),
  reservation_ttl_ms = integer(ARGV[4], 'reservation_ttl_ms'),
  max_wait_slice_ms = integer(ARGV[5], 'max_wait_slice_ms'),
  waiter_grace_ms = integer(ARGV[6], 'waiter_grace_ms'),
}

-- Counters, in the order of `Counters`' fields (admitted split into urgent, bulk).
local GRANTED, REFILLED, WASTED, DRIFT, EXPIRED_RESERVATIONS, EXPIRED_WAITERS, ADMITTED = 1, 2, 3, 4, 5, 6, 7

-- A state that has never been synced, as `Core::new` makes it. Identifiers start from the clock
-- so that a permit issued before a wipe cannot settle a reservation made after it.
local function fresh_state()
  local first_id = 1
  if now > 0 and now < 9e12 then
    first_id = now * 1000 + 1
  end
  return {
    synced = false,
    balance = 0,
    refill_rate = 0,
    next_refill_ms = 0,
    last_server_timestamp_ms = 0,
    next_id = first_id,
    counters = { 0, 0, 0, 0, 0, 0, 0, 0 },
    reservations = {},
    waiters = { {}, {} },
    drift_window = { 0, 0 },
    urgent_window = { 0, 0 },
    stored = false,
  }
end

local function load_state()
  local raw = redis.call('GET', STATE_KEY)
  if not raw then
    return fresh_state()
  end
  local ok, stored = pcall(cjson.decode, raw)
  if not ok or type(stored) ~= 'table' or stored.v ~= 1 then
    error('keepa-deals token bucket: the state under ' .. STATE_KEY .. ' is not a bucket state')
  end
  local state = {
    synced = stored.synced == true,
    balance = integer(stored.balance, 'balance'),
    refill_rate = integer(stored.refill_rate, 'refill_rate'),
    next_refill_ms = integer(stored.next_refill_ms, 'next_refill_ms'),
    last_server_timestamp_ms = integer(stored.last_server_timestamp_ms, 'last_server_timestamp_ms'),
    next_id = integer(stored.next_id, 'next_id'),
    counters = {},
    reservations = {},
    waiters = { {}, {} },
    drift_window = { 0, 0 },
    urgent_window = { 0, 0 },
    stored = true,
  }
  -- Absent in states written before the drift margin existed.
  if stored.drift_window ~= nil then
    state.drift_window = { integer(stored.drift_window[1], 'drift'), integer(stored.drift_window[2], 'drift') }
  end
  if stored.urgent_window ~= nil then
    state.urgent_window = { integer(stored.urgent_window[1], 'urgent demand'), integer(stored.urgent_window[2], 'urgent demand') }
  end
  for i = 1, 8 do
    state.counters[i] = integer(stored.counters[i], 'counter')
  end
  for _, r in ipairs(stored.reservations) do
    state.reservations[#state.reservations + 1] = {
      id = integer(r[1], 'reservation id'),
      lane = integer(r[2], 'lane'),
      cost = integer(r[3], 'cost'),
      expires_ms = integer(r[4], 'expiry'),
      -- Absent in states written before this field existed; "" when never subtracted.
      subtracted_at_ms = (r[5] ~= nil and r[5] ~= '') and integer(r[5], 'subtracted at') or nil,
    }
  end
  for lane = URGENT, BULK do
    for _, w in ipairs(stored.waiters[lane]) do
      local queue = state.waiters[lane]
      queue[#queue + 1] = { id = integer(w[1], 'waiter id'), expires_ms = integer(w[2], 'expiry') }
    end
  end
  return state
end

-- Writes the state back. A state that was absent and is still unsynced equals a fresh one, so
-- it is not written: operations on a wiped bucket leave it wiped.
local function save_state(state)
  if not state.stored and not state.synced then
    return
  end
  local counters = {}
  for i = 1, 8 do
    counters[i] = text(state.counters[i])
  end
  local reservations = {}
  for i, r in ipairs(state.reservations) do
    local subtracted_at = ''
    if r.subtracted_at_ms ~= nil then
      subtracted_at = text(r.subtracted_at_ms)
    end
    reservations[i] = { text(r.id), text(r.lane), text(r.cost), text(r.expires_ms), subtracted_at }
  end
  local waiters = { {}, {} }
  for lane = URGENT, BULK do
    for i, w in ipairs(state.waiters[lane]) do
      waiters[lane][i] = { text(w.id), text(w.expires_ms) }
    end
  end
  redis.call('SET', STATE_KEY, cjson.encode({
    v = 1,
    synced = state.synced,
    balance = text(state.balance),
    refill_rate = text(state.refill_rate),
    next_refill_ms = text(state.next_refill_ms),
    last_server_timestamp_ms = text(state.last_server_timestamp_ms),
    next_id = text(state.next_id),
    counters = counters,
    reservations = reservations,
    waiters = waiters,
    drift_window = { text(state.drift_window[1]), text(state.drift_window[2]) },
    urgent_window = { text(state.urgent_window[1]), text(state.urgent_window[2]) },
  }))
end

local function cap(state)
  return state.refill_rate * CAP_MINUTES * MILLI
end

local function maximum_cost(state, lane)
  if lane == URGENT then
    return cap(state) - policy.deficit_floor
  end
  return cap(state) - policy.urgent_reserve
end

local function any_expired(entries)
  for _, entry in ipairs(entries) do
    if entry.expires_ms <= now then
      return true
    end
  end
  return false
end

local function tick(state)
  if state.synced and state.refill_rate > 0 and now >= state.next_refill_ms then
    local ticks = floor_div(now - state.next_refill_ms, REFILL_PERIOD_MS) + 1
    local added = state.refill_rate * ticks * MILLI
    local refilled = math.max(math.min(state.balance + added, cap(state)), state.balance)
    state.counters[REFILLED] = state.counters[REFILLED] + added
    state.counters[WASTED] = state.counters[WASTED] + (state.balance + added - refilled)
    state.balance = refilled
    state.next_refill_ms = state.next_refill_ms + ticks * REFILL_PERIOD_MS
    if ticks == 1 then
      state.drift_window = { state.drift_window[2], 0 }
      state.urgent_window = { state.urgent_window[2], 0 }
    else
      state.drift_window = { 0, 0 }
      state.urgent_window = { 0, 0 }
    end
  end
  -- Tables are rebuilt only when something expired: allocation is most of a script's cost.
  if any_expired(state.reservations) then
    local kept = {}
    for _, r in ipairs(state.reservations) do
      if r.expires_ms > now then
        kept[#kept + 1] = r
      end
    end
    state.counters[EXPIRED_RESERVATIONS] = state.counters[EXPIRED_RESERVATIONS] + (#state.reservations - #kept)
    state.reservations = kept
  end
  for lane = URGENT, BULK do
    local queue = state.waiters[lane]
    if any_expired(queue) then
      local kept_waiters = {}
      for _, w in ipairs(queue) do
        if w.expires_ms > now then
          kept_waiters[#kept_waiters + 1] = w
        end
      end
      state.counters[EXPIRED_WAITERS] = state.counters[EXPIRED_WAITERS] + (#queue - #kept_waiters)
      state.waiters[lane] = kept_waiters
    end
  end
end

-- Mirrors `Core::drift_margin`: at most one refill's worth.
local function drift_margin(state)
  local widest = math.max(state.drift_window[1], state.drift_window[2])
  return math.max(math.min(widest, math.max(state.refill_rate, 0) * MILLI), 0)
end

-- Mirrors `Core::urgent_reserve`: the policy's, or the recent urgent demand up to one refill.
local function urgent_reserve(state)
  local demand = math.max(state.urgent_window[1], state.urgent_window[2])
  return math.max(policy.urgent_reserve, math.min(demand, math.max(state.refill_rate, 0) * MILLI))
end

local function in_flight(state)
  local sum = 0
  for _, r in ipairs(state.reservations) do
    sum = sum + r.cost
  end
  return sum
end

local function find_reservation(state, id)
  for i, r in ipairs(state.reservations) do
    if r.id == id then
      return i
    end
  end
  return nil
end

-- Returns the refund, or nil when the reservation is unknown.
local function settle_ticked(state, id, actual)
  local index = find_reservation(state, id)
  if index == nil then
    return nil
  end
  local r = table.remove(state.reservations, index)
  local refund = r.cost - actual
  -- A refund never lifts the balance above the cap (unless it already was above it).
  local ceiling = math.max(cap(state), state.balance)
  state.balance = math.min(state.balance + refund, ceiling)
  return refund
end

local function remove_waiter(state, id)
  for lane = URGENT, BULK do
    local queue, kept = state.waiters[lane], {}
    for _, w in ipairs(queue) do
      if w.id ~= id then
        kept[#kept + 1] = w
      end
    end
    state.waiters[lane] = kept
  end
end

local function take_id(state)
  local id = state.next_id
  state.next_id = state.next_id + 1
  return id
end
