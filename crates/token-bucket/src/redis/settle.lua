-- settle: mirrors `Core::settle`. Arguments: the reservation, the actual cost (milli-tokens).
-- Replies {now, 1, refund} settled, {now, 0} unknown.
local refund = settle_ticked(arguments[OP + 1], arguments[OP + 2])
save()
if refund == nil then
  return struct.pack('<i8i8', now, 0)
end
return struct.pack('<i8i8i8', now, 1, refund)
