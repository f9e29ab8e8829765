-- settle: mirrors `Core::settle`. Arguments: the reservation, the actual cost (milli-tokens).
-- Replies {now, 1, refund} settled, {now, 0} unknown.
local reservation = core.argument(1)
local actual = core.argument(2)
local state = core.load_state()
core.tick(state)
local refund = core.settle_ticked(state, reservation, actual)
core.save_state(state)
if refund == nil then
  return core.reply(now, 0)
end
return core.reply(now, 1, refund)
