-- settle: mirrors `Core::settle`. ARGV[7] reservation id, ARGV[8] actual cost (milli-tokens).
-- Returns {now, 1, refund} settled, {now, 0} unknown.
local reservation = integer(ARGV[7], 'reservation')
local actual = integer(ARGV[8], 'actual')
local state = load_state()
tick(state)
local refund = settle_ticked(state, reservation, actual)
save_state(state)
if refund == nil then
  return { now, 0 }
end
return { now, 1, refund }
