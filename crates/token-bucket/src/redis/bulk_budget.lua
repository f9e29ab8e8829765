-- bulk_budget: mirrors `Core::bulk_budget`. No arguments. Replies {now, budget (milli-tokens)}.
save()
if s[SYNCED] ~= 1 or s[N_URGENT] > 0 or s[N_BULK] > 0 then
  return struct.pack('<i8i8', now, 0)
end
return struct.pack('<i8i8', now, math.max(s[BALANCE] - urgent_reserve - drift_margin, 0))
