-- release: mirrors `Core::release`. Arguments: the reservation.
-- Replies {now, 1, refund} (the whole estimate) released, {now, 0} unknown.
local reservation = core.argument(1)
local state = core.load_state()
core.tick(state)
local refund = core.settle_ticked(state, reservation, 0)
core.save_state(state)
if refund == nil then
  return core.reply(now, 0)
end
return core.reply(now, 1, refund)
