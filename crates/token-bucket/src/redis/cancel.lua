-- cancel: mirrors `Core::cancel`. ARGV[7] waiter id. Returns {now}.
local waiter = integer(ARGV[7], 'waiter')
local state = load_state()
tick(state)
remove_waiter(state, waiter)
save_state(state)
return { now }
