-- Leaving a lane's queue (acquire, cancel).

-- Mirrors `Core::remove_waiter`.
function core.remove_waiter(state, id)
  for lane = core.URGENT, core.BULK do
    local queue, kept = state.waiters[lane], {}
    for _, w in ipairs(queue) do
      if w.id ~= id then
        kept[#kept + 1] = w
      end
    end
    state.waiters[lane] = kept
  end
end
