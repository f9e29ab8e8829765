-- The prelude of every bucket script: the arguments, the clock, the policy, the state and
-- `tick`. It mirrors `core.rs`; each operation's script is this prelude, the helpers the
-- operation needs (`margins.lua`, `reservations.lua`, `queues.lua`) and the operation's body.
-- Amounts are integer milli-tokens, times integer milliseconds; Lua numbers are doubles, exact
-- for integers below 2^53, which every amount and identifier stays under, and every division
-- is a floor division.
--
-- KEYS[1]  the state key ({prefix}bucket:state)
-- ARGV[1]  the arguments, little-endian 64-bit signed integers:
--          1 to use the Redis server's TIME, or 0 to use the next integer
--          now in ms (ignored with the server's TIME)
--          policy.deficit_floor (milli-tokens), policy.urgent_reserve (milli-tokens),
--          policy.reservation_ttl_ms, policy.max_wait_slice_ms, policy.waiter_grace_ms,
--          policy.surprise_factor
--          then the operation's arguments.
-- Replies are integers packed the same way, `now` first.
--
-- Why it reads as it does: on the machines we measured, a call's time went almost entirely to
-- the Lua work around the bucket's rules (decoding JSON and decimal numbers, building tables,
-- creating closures: the prelude runs whole on every call). So integers travel and are stored
-- packed (`struct` packs and unpacks them in C), the state is worked on as the flat array of
-- its stored integers, named by the index constants below, and the prelude runs as straight
-- code with as few functions as possible.

-- Redis before 5 replicates scripts verbatim unless asked; TIME needs effects replication.
if redis.replicate_commands then redis.replicate_commands() end

local REFILL_PERIOD_MS = 60000
local MILLI = 1000
-- The cap is 60 minutes of refill, in milli-tokens per token of refill rate.
local CAP_PER_RATE = 60 * MILLI
local URGENT, BULK = 1, 2
-- `struct` takes and returns its values as arguments, and Lua limits how many one call may
-- have: a long state is packed and unpacked a slice at a time.
local SLICE = 200

-- The state is one string: the tag `TBv3` followed by little-endian 64-bit signed integers.
-- `s` holds those integers, 1-based: a header of N_HEADER, then per reservation
-- RESERVATION_FIELDS (id, lane, cost, expires_ms, subtracted 0/1, subtracted_at_ms), then the
-- urgent lane's waiters and the bulk lane's (WAITER_FIELDS each: id, expires_ms, cost), each
-- queue in order. Version 2 (`TBv2`) had no waiter cost; it is read with a cost of 0.
local TAG, TAG_V2 = 'TBv3', 'TBv2'
local SYNCED, BALANCE, RATE, NEXT_REFILL, LAST_TIMESTAMP, NEXT_ID = 1, 2, 3, 4, 5, 6
-- `Counters`, in the order of its fields (admitted split into urgent, bulk).
local GRANTED, REFILLED, WASTED, DRIFT = 7, 8, 9, 10
local EXPIRED_RESERVATIONS, EXPIRED_WAITERS, ADMITTED = 11, 12, 13
-- drift_window and urgent_window: the previous refill period's, then the current one's.
local DRIFT_PREVIOUS, DRIFT_CURRENT, URGENT_PREVIOUS, URGENT_CURRENT = 15, 16, 17, 18
local N_RESERVATIONS, N_URGENT, N_BULK = 19, 20, 21
local N_HEADER = 21
local RESERVATION_FIELDS = 6
local WAITER_FIELDS = 3

local function integers(n)
  return '<' .. string.rep('i8', n)
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

local arguments
do
  local n = #ARGV[1] / 8
  if n < 8 or n ~= math.floor(n) then
    error('keepa-deals token bucket: the arguments are not packed integers')
  end
  arguments = { struct.unpack(integers(n), ARGV[1]) }
end
-- The operation's i-th argument is arguments[OP + i].
local OP = 8

local now = arguments[2]
if arguments[1] == 1 then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
local deficit_floor, policy_urgent_reserve = arguments[3], arguments[4]
local reservation_ttl_ms, max_wait_slice_ms, waiter_grace_ms = arguments[5], arguments[6], arguments[7]
local surprise_factor = arguments[8]

local function not_a_state()
  error('keepa-deals token bucket: the state under ' .. KEYS[1] .. ' is not a bucket state')
end

-- Load the state.
local s
-- Whether the state was stored: a state that was absent and is still unsynced equals a fresh
-- one, so it is not written, and operations on a wiped bucket leave it wiped.
local stored = true
local raw = redis.call('GET', KEYS[1])
if not raw then
  -- A state that has never been synced, as `Core::new` makes it. Identifiers start from the
  -- clock so that a permit issued before a wipe cannot settle a reservation made after it.
  stored = false
  local first_id = 1
  if now > 0 and now < 9e12 then
    first_id = now * 1000 + 1
  end
  s = { 0, 0, 0, 0, 0, first_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
elseif string.sub(raw, 1, #TAG) == TAG or string.sub(raw, 1, #TAG_V2) == TAG_V2 then
  local n = (#raw - #TAG) / 8
  if n < N_HEADER or n ~= math.floor(n) then
    not_a_state()
  end
  if n <= SLICE then
    s = { struct.unpack(integers(n), raw, #TAG + 1) }
    -- The last value is the position after the integers.
    s[n + 1] = nil
  else
    s = {}
    local position = #TAG + 1
    while #s < n do
      local slice = { struct.unpack(integers(math.min(n - #s, SLICE)), raw, position) }
      position = table.remove(slice)
      for _, value in ipairs(slice) do
        s[#s + 1] = value
      end
    end
  end
  local n_waiters = s[N_URGENT] + s[N_BULK]
  local waiters_start = N_HEADER + RESERVATION_FIELDS * s[N_RESERVATIONS]
  if string.sub(raw, 1, #TAG) == TAG then
    if waiters_start + WAITER_FIELDS * n_waiters ~= n then
      not_a_state()
    end
  else
    -- Version 2: each waiter gains a cost of 0 (it holds back the urgent requests behind it,
    -- as every waiter did then) until it asks again.
    if waiters_start + 2 * n_waiters ~= n then
      not_a_state()
    end
    for j = n_waiters, 1, -1 do
      table.insert(s, waiters_start + 2 * j + 1, 0)
    end
  end
elseif string.sub(raw, 1, 1) == '{' then
  -- Version 1, written before version 2 existed: a JSON object whose numbers are decimal
  -- strings. Still read, so that a bucket survives an upgrade in the middle of a run; the
  -- next write replaces it with version 2.
  local function integer(text, what)
    local n = tonumber(text)
    if n == nil or n ~= math.floor(n) then
      error('keepa-deals token bucket: ' .. what .. ' is not an integer: ' .. tostring(text))
    end
    return n
  end
  local ok, stored_state = pcall(cjson.decode, raw)
  if not ok or type(stored_state) ~= 'table' or stored_state.v ~= 1 then
    not_a_state()
  end
  local synced = 0
  if stored_state.synced == true then
    synced = 1
  end
  s = {
    synced,
    integer(stored_state.balance, 'balance'),
    integer(stored_state.refill_rate, 'refill_rate'),
    integer(stored_state.next_refill_ms, 'next_refill_ms'),
    integer(stored_state.last_server_timestamp_ms, 'last_server_timestamp_ms'),
    integer(stored_state.next_id, 'next_id'),
  }
  for i = 1, 8 do
    s[#s + 1] = integer(stored_state.counters[i], 'counter')
  end
  -- The windows are absent in states written before the drift margin existed.
  local drift_window = stored_state.drift_window or { 0, 0 }
  local urgent_window = stored_state.urgent_window or { 0, 0 }
  s[#s + 1] = integer(drift_window[1], 'drift')
  s[#s + 1] = integer(drift_window[2], 'drift')
  s[#s + 1] = integer(urgent_window[1], 'urgent demand')
  s[#s + 1] = integer(urgent_window[2], 'urgent demand')
  local waiters = stored_state.waiters
  s[#s + 1] = #stored_state.reservations
  s[#s + 1] = #waiters[URGENT]
  s[#s + 1] = #waiters[BULK]
  for _, r in ipairs(stored_state.reservations) do
    s[#s + 1] = integer(r[1], 'reservation id')
    s[#s + 1] = integer(r[2], 'lane')
    s[#s + 1] = integer(r[3], 'cost')
    s[#s + 1] = integer(r[4], 'expiry')
    -- Absent in states written before this field existed; "" when never subtracted.
    if r[5] ~= nil and r[5] ~= '' then
      s[#s + 1] = 1
      s[#s + 1] = integer(r[5], 'subtracted at')
    else
      s[#s + 1] = 0
      s[#s + 1] = 0
    end
  end
  for lane = URGENT, BULK do
    for _, w in ipairs(waiters[lane]) do
      s[#s + 1] = integer(w[1], 'waiter id')
      s[#s + 1] = integer(w[2], 'expiry')
      s[#s + 1] = 0
    end
  end
else
  not_a_state()
end

local function save()
  if not stored and s[SYNCED] == 0 then
    return
  end
  local n = #s
  if n <= SLICE then
    redis.call('SET', KEYS[1], struct.pack('<c4' .. string.rep('i8', n), TAG, unpack(s)))
    return
  end
  local parts = { TAG }
  for first = 1, n, SLICE do
    local last = math.min(first + SLICE - 1, n)
    parts[#parts + 1] = struct.pack(integers(last - first + 1), unpack(s, first, last))
  end
  redis.call('SET', KEYS[1], table.concat(parts))
end

-- tick: mirrors `Core::tick`.
if s[SYNCED] == 1 and s[RATE] > 0 and now >= s[NEXT_REFILL] then
  local ticks = floor_div(now - s[NEXT_REFILL], REFILL_PERIOD_MS) + 1
  local added = s[RATE] * ticks * MILLI
  local balance = s[BALANCE]
  local refilled = math.max(math.min(balance + added, s[RATE] * CAP_PER_RATE), balance)
  s[REFILLED] = s[REFILLED] + added
  s[WASTED] = s[WASTED] + (balance + added - refilled)
  s[BALANCE] = refilled
  s[NEXT_REFILL] = s[NEXT_REFILL] + ticks * REFILL_PERIOD_MS
  -- The current period's windows become the previous period's; after more than one tick,
  -- the period just ended saw nothing.
  if ticks == 1 then
    s[DRIFT_PREVIOUS], s[DRIFT_CURRENT] = s[DRIFT_CURRENT], 0
    s[URGENT_PREVIOUS], s[URGENT_CURRENT] = s[URGENT_CURRENT], 0
  else
    s[DRIFT_PREVIOUS], s[DRIFT_CURRENT], s[URGENT_PREVIOUS], s[URGENT_CURRENT] = 0, 0, 0, 0
  end
end
do
  -- Reservations and waiters whose time ran out leave; the array is rebuilt only then.
  local waiters_start = N_HEADER + RESERVATION_FIELDS * s[N_RESERVATIONS]
  local expired = false
  for at = N_HEADER + 4, waiters_start, RESERVATION_FIELDS do
    if s[at] <= now then
      expired = true
      break
    end
  end
  if not expired then
    for at = waiters_start + 2, #s, WAITER_FIELDS do
      if s[at] <= now then
        expired = true
        break
      end
    end
  end
  if expired then
    local kept = {}
    for i = 1, N_HEADER do
      kept[i] = s[i]
    end
    local n_reservations = 0
    for at = N_HEADER, waiters_start - 1, RESERVATION_FIELDS do
      if s[at + 4] > now then
        for k = 1, RESERVATION_FIELDS do
          kept[#kept + 1] = s[at + k]
        end
        n_reservations = n_reservations + 1
      end
    end
    kept[EXPIRED_RESERVATIONS] = kept[EXPIRED_RESERVATIONS] + (s[N_RESERVATIONS] - n_reservations)
    kept[N_RESERVATIONS] = n_reservations
    local at = waiters_start
    for _, count in ipairs({ N_URGENT, N_BULK }) do
      local n_kept = 0
      for _ = 1, s[count] do
        if s[at + 2] > now then
          for k = 1, WAITER_FIELDS do
            kept[#kept + 1] = s[at + k]
          end
          n_kept = n_kept + 1
        end
        at = at + WAITER_FIELDS
      end
      kept[EXPIRED_WAITERS] = kept[EXPIRED_WAITERS] + (s[count] - n_kept)
      kept[count] = n_kept
    end
    s = kept
  end
end
