-- The prelude of every bucket script: the arguments, the clock, the policy, the state's encoding
-- and `tick`. It mirrors `core.rs`; each operation's script is this prelude, the helpers the
-- operation needs (`reservations.lua`, `margins.lua`, `queues.lua`) and the operation's body.
-- Amounts are integer milli-tokens, times integer milliseconds; Lua numbers are doubles, exact
-- for integers below 2^53, which every amount and identifier stays under, and every division
-- is a floor division.
--
-- KEYS[1]  the state key ({prefix}bucket:state)
-- ARGV[1]  the arguments, little-endian 64-bit signed integers:
--          1 to use the Redis server's TIME, or 0 to use the next integer
--          now in ms (ignored with the server's TIME)
--          policy.deficit_floor (milli-tokens), policy.urgent_reserve (milli-tokens),
--          policy.reservation_ttl_ms, policy.max_wait_slice_ms, policy.waiter_grace_ms
--          then the operation's arguments.
-- Replies are integers packed the same way.
--
-- Integers travel packed, and the state is stored packed, because this is where a script's time
-- went: parsing and formatting decimal numbers and decoding JSON cost several times the bucket's
-- rules. `struct` (part of Redis's Lua) packs and unpacks in C.

-- Redis before 5 replicates scripts verbatim unless asked; TIME needs effects replication.
if redis.replicate_commands then redis.replicate_commands() end

-- Every helper is a field of the table `core` rather than a local of its own. A script's body
-- runs whole on every call, so each helper is created anew each time, and creating a Lua closure
-- searches the enclosing function's open locals once for every outer local it uses: with forty
-- locals in scope, creating the helpers took longer than the bucket's rules. Through one table a
-- helper uses at most `core`, `now` and `policy`.
local core = {
  REFILL_PERIOD_MS = 60000,
  CAP_MINUTES = 60,
  MILLI = 1000,
  URGENT = 1,
  BULK = 2,
  -- Counters, in the order of `Counters`' fields (admitted split into urgent, bulk).
  GRANTED = 1,
  REFILLED = 2,
  WASTED = 3,
  DRIFT = 4,
  EXPIRED_RESERVATIONS = 5,
  EXPIRED_WAITERS = 6,
  ADMITTED = 7,
  N_COMMON_ARGUMENTS = 7,
}

-- '<i8i8…' for `n` integers.
function core.integers(n)
  return '<' .. string.rep('i8', n)
end

-- Packs the reply. Every operation answers `now` first.
function core.reply(...)
  return struct.pack(core.integers(select('#', ...)), ...)
end

local arguments
do
  local n = #ARGV[1] / 8
  if n < core.N_COMMON_ARGUMENTS or n ~= math.floor(n) then
    error('keepa-deals token bucket: the arguments are not packed integers')
  end
  arguments = { struct.unpack(core.integers(n), ARGV[1]) }
  -- The last value is the position after the integers.
  arguments[n + 1] = nil
end

local now = arguments[2]
if arguments[1] == 1 then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

local policy = {
  deficit_floor = arguments[3],
  urgent_reserve = arguments[4],
  reservation_ttl_ms = arguments[5],
  max_wait_slice_ms = arguments[6],
  waiter_grace_ms = arguments[7],
}

-- The operation's `i`-th argument.
function core.argument(i)
  return arguments[core.N_COMMON_ARGUMENTS + i]
end

-- Rust's div_euclid for b > 0, exact even where a / b rounds to an integer.
function core.floor_div(a, b)
  local q = math.floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

function core.cap(state)
  return state.refill_rate * core.CAP_MINUTES * core.MILLI
end

-- A state that has never been synced, as `Core::new` makes it. Identifiers start from the clock
-- so that a permit issued before a wipe cannot settle a reservation made after it.
function core.fresh_state()
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

-- The state is one string: the tag `TBv2` followed by little-endian 64-bit signed integers:
--   synced (0/1), balance, refill_rate, next_refill_ms, last_server_timestamp_ms, next_id,
--   the 8 counters, drift_window[1..2], urgent_window[1..2],
--   the number of reservations, of urgent waiters, of bulk waiters;
--   then per reservation: id, lane, cost, expires_ms, subtracted (0/1), subtracted_at_ms;
--   then per waiter, urgent lane first: id, expires_ms.
core.TAG = 'TBv2'
core.N_HEADER = 21
core.RESERVATION_FIELDS = 6
-- `struct` takes its values as arguments, and Lua limits how many one call may take: a long
-- queue is packed and unpacked a slice at a time.
core.SLICE = 200

function core.not_a_state()
  error('keepa-deals token bucket: the state under ' .. KEYS[1] .. ' is not a bucket state')
end

-- `n` integers from `raw` starting at byte `position`, as an array.
function core.unpack_integers(raw, position, n)
  if n <= core.SLICE then
    local values = { struct.unpack(core.integers(n), raw, position) }
    values[n + 1] = nil
    return values
  end
  local values = {}
  while n > 0 do
    local count = math.min(n, core.SLICE)
    local slice = { struct.unpack(core.integers(count), raw, position) }
    for i = 1, count do
      values[#values + 1] = slice[i]
    end
    position = slice[count + 1]
    n = n - count
  end
  return values
end

function core.pack_integers(values)
  local n = #values
  if n <= core.SLICE then
    return struct.pack(core.integers(n), unpack(values))
  end
  local parts = {}
  for first = 1, n, core.SLICE do
    local last = math.min(first + core.SLICE - 1, n)
    parts[#parts + 1] = struct.pack(core.integers(last - first + 1), unpack(values, first, last))
  end
  return table.concat(parts)
end

function core.decode_state(raw)
  local n = (#raw - #core.TAG) / 8
  if n < core.N_HEADER or n ~= math.floor(n) then
    core.not_a_state()
  end
  local v = core.unpack_integers(raw, #core.TAG + 1, n)
  local n_reservations, n_urgent, n_bulk = v[19], v[20], v[21]
  if core.N_HEADER + core.RESERVATION_FIELDS * n_reservations + 2 * (n_urgent + n_bulk) ~= n then
    core.not_a_state()
  end
  local state = {
    synced = v[1] == 1,
    balance = v[2],
    refill_rate = v[3],
    next_refill_ms = v[4],
    last_server_timestamp_ms = v[5],
    next_id = v[6],
    counters = { v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14] },
    reservations = {},
    waiters = { {}, {} },
    drift_window = { v[15], v[16] },
    urgent_window = { v[17], v[18] },
    stored = true,
  }
  local at = core.N_HEADER
  for i = 1, n_reservations do
    local subtracted_at_ms = nil
    if v[at + 5] == 1 then
      subtracted_at_ms = v[at + 6]
    end
    state.reservations[i] = {
      id = v[at + 1],
      lane = v[at + 2],
      cost = v[at + 3],
      expires_ms = v[at + 4],
      subtracted_at_ms = subtracted_at_ms,
    }
    at = at + core.RESERVATION_FIELDS
  end
  for i = 1, n_urgent + n_bulk do
    local queue = state.waiters[core.URGENT]
    if i > n_urgent then
      queue = state.waiters[core.BULK]
    end
    queue[#queue + 1] = { id = v[at + 1], expires_ms = v[at + 2] }
    at = at + 2
  end
  return state
end

-- Version 1, written before version 2 existed: a JSON object whose numbers are decimal strings.
-- Still read, so that a bucket survives an upgrade in the middle of a run; the next write
-- replaces it with version 2.
function core.decode_json_state(raw)
  local function integer(text, what)
    local n = tonumber(text)
    if n == nil or n ~= math.floor(n) then
      error('keepa-deals token bucket: ' .. what .. ' is not an integer: ' .. tostring(text))
    end
    return n
  end
  local ok, stored = pcall(cjson.decode, raw)
  if not ok or type(stored) ~= 'table' or stored.v ~= 1 then
    core.not_a_state()
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
  for lane = core.URGENT, core.BULK do
    for _, w in ipairs(stored.waiters[lane]) do
      local queue = state.waiters[lane]
      queue[#queue + 1] = { id = integer(w[1], 'waiter id'), expires_ms = integer(w[2], 'expiry') }
    end
  end
  return state
end

function core.load_state()
  local raw = redis.call('GET', KEYS[1])
  if not raw then
    return core.fresh_state()
  end
  if string.sub(raw, 1, #core.TAG) == core.TAG then
    return core.decode_state(raw)
  end
  if string.sub(raw, 1, 1) == '{' then
    return core.decode_json_state(raw)
  end
  core.not_a_state()
end

-- Writes the state back. A state that was absent and is still unsynced equals a fresh one, so
-- it is not written: operations on a wiped bucket leave it wiped.
function core.save_state(state)
  if not state.stored and not state.synced then
    return
  end
  local synced = 0
  if state.synced then
    synced = 1
  end
  local c = state.counters
  local urgent, bulk = state.waiters[core.URGENT], state.waiters[core.BULK]
  local v = {
    synced, state.balance, state.refill_rate, state.next_refill_ms,
    state.last_server_timestamp_ms, state.next_id,
    c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8],
    state.drift_window[1], state.drift_window[2], state.urgent_window[1], state.urgent_window[2],
    #state.reservations, #urgent, #bulk,
  }
  local at = core.N_HEADER
  for _, r in ipairs(state.reservations) do
    local subtracted, subtracted_at_ms = 0, 0
    if r.subtracted_at_ms ~= nil then
      subtracted, subtracted_at_ms = 1, r.subtracted_at_ms
    end
    v[at + 1], v[at + 2], v[at + 3] = r.id, r.lane, r.cost
    v[at + 4], v[at + 5], v[at + 6] = r.expires_ms, subtracted, subtracted_at_ms
    at = at + core.RESERVATION_FIELDS
  end
  for lane = core.URGENT, core.BULK do
    for _, w in ipairs(state.waiters[lane]) do
      v[at + 1], v[at + 2] = w.id, w.expires_ms
      at = at + 2
    end
  end
  redis.call('SET', KEYS[1], core.TAG .. core.pack_integers(v))
end

function core.any_expired(entries)
  for _, entry in ipairs(entries) do
    if entry.expires_ms <= now then
      return true
    end
  end
  return false
end

-- Mirrors `Core::tick`.
function core.tick(state)
  local counters = state.counters
  if state.synced and state.refill_rate > 0 and now >= state.next_refill_ms then
    local ticks = core.floor_div(now - state.next_refill_ms, core.REFILL_PERIOD_MS) + 1
    local added = state.refill_rate * ticks * core.MILLI
    local refilled = math.max(math.min(state.balance + added, core.cap(state)), state.balance)
    counters[core.REFILLED] = counters[core.REFILLED] + added
    counters[core.WASTED] = counters[core.WASTED] + (state.balance + added - refilled)
    state.balance = refilled
    state.next_refill_ms = state.next_refill_ms + ticks * core.REFILL_PERIOD_MS
    if ticks == 1 then
      state.drift_window = { state.drift_window[2], 0 }
      state.urgent_window = { state.urgent_window[2], 0 }
    else
      state.drift_window = { 0, 0 }
      state.urgent_window = { 0, 0 }
    end
  end
  -- Tables are rebuilt only when something expired: allocation is much of a script's cost.
  if core.any_expired(state.reservations) then
    local kept = {}
    for _, r in ipairs(state.reservations) do
      if r.expires_ms > now then
        kept[#kept + 1] = r
      end
    end
    counters[core.EXPIRED_RESERVATIONS] = counters[core.EXPIRED_RESERVATIONS] + (#state.reservations - #kept)
    state.reservations = kept
  end
  for lane = core.URGENT, core.BULK do
    local queue = state.waiters[lane]
    if core.any_expired(queue) then
      local kept_waiters = {}
      for _, w in ipairs(queue) do
        if w.expires_ms > now then
          kept_waiters[#kept_waiters + 1] = w
        end
      end
      counters[core.EXPIRED_WAITERS] = counters[core.EXPIRED_WAITERS] + (#queue - #kept_waiters)
      state.waiters[lane] = kept_waiters
    end
  end
end
