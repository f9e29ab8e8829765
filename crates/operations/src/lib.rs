//! operations: the logic behind the operators' tools, `watchdog` and `flush` (DESIGN.md §9);
//! the binaries only parse flags and map outcomes to exit codes.
//!
//! - [`stall`]: the stall rule as a pure function over heartbeats, the quota, the last restart
//!   and `now` — "no progress for 15 min while it has work and the quota is not the reason",
//!   at most one restart per 30 min.
//! - [`watchdog`]: one watchdog run — read, decide, restart (a command through `sh -c`, or
//!   SIGTERM then SIGKILL to the instance lock's holder), record the incident diag shows.
//! - [`flush`]: a plan of exactly what would be changed (key or path, holder, live or dead),
//!   executed only on request, refusing what a live process holds; keys outside the prefix are
//!   never read or deleted, and there is no `FLUSHALL`/`FLUSHDB` anywhere.
//! - [`target`]: the deployment in either tier (embedded: the database and its lock file; fleet:
//!   Redis under a key prefix) and the state both tools read.
//! - [`process`]: the one module that runs commands and signals processes.
//!
//! What it does not do: diagnose (the `diagnostics` crate does; both share its state keys and
//! its 15-minute bound), or run anything on a schedule (cron runs the watchdog).

mod error;
pub mod flush;
pub mod process;
pub mod stall;
pub mod target;
pub mod watchdog;

pub use crate::error::{Error, Result};
pub use crate::target::{RedisTarget, Target};
