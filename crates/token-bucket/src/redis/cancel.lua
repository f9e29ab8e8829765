-- cancel: mirrors `Core::cancel`. Arguments: the waiter. Replies {now}.
remove_waiter(arguments[OP + 1])
save()
return struct.pack('<i8', now)
