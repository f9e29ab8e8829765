-- release: mirrors `Core::release`. Arguments: the reservation.
-- Replies {now, 1, refund} (the whole estimate) released, {now, 0} unknown.
local refund = settle_ticked(arguments[OP + 1], 0)
save()
if refund == nil then
  return struct.pack('<i8i8', now, 0)
end
return struct.pack('<i8i8i8', now, 1, refund)
