-- Leaving a lane's queue (acquire, cancel).

-- Mirrors `Core::remove_waiter`: the waiter leaves whichever queue holds it.
local function remove_waiter(id)
  local start = N_HEADER + RESERVATION_FIELDS * s[N_RESERVATIONS]
  local n_urgent = s[N_URGENT]
  for j = 1, n_urgent + s[N_BULK] do
    local at = start + WAITER_FIELDS * (j - 1) + 1
    if s[at] == id then
      for _ = 1, WAITER_FIELDS do
        table.remove(s, at)
      end
      if j <= n_urgent then
        s[N_URGENT] = n_urgent - 1
      else
        s[N_BULK] = s[N_BULK] - 1
      end
      return
    end
  end
end
