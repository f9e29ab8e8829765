-- cancel: mirrors `Core::cancel`. Arguments: the waiter. Replies {now}.
local waiter = core.argument(1)
local state = core.load_state()
core.tick(state)
core.remove_waiter(state, waiter)
core.save_state(state)
return core.reply(now)
