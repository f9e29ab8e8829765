-- release: mirrors `Core::release`. ARGV[7] reservation id.
-- Returns {now, 1, refund} (the whole estimate) released, {now, 0} unknown.
local reservation = integer(ARGV[7], 'reservation')
local state = load_state()
tick(state)
local refund = settle_ticked(state, reservation, 0)
save_state(state)
if refund == nil then
  return { now, 0 }
end
return { now, 1, refund }
