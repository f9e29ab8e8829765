//! Fleet state for keepa-deals, in both scale tiers: leases with fencing numbers for fleet-wide
//! singletons, progress heartbeats, the operator's pause flag, per-client call rates, and the
//! watchdog's incidents.
//!
//! A [`Fleet`] handle (cheap to clone) has one of two backends, chosen at construction:
//! [`Fleet::in_memory`] for the embedded tier (one process; time from the given clock) and
//! [`Fleet::redis`] / [`Fleet::connect`] for the fleet tier (many processes; time from the Redis
//! server's `TIME` unless a clock is injected with [`FleetClock::Injected`]). Both give the same
//! answers to the same calls; the integration tests run one set of test bodies over both.
//!
//! This crate decides nothing on its own: it never sets the pause flag, never judges a heartbeat
//! stale, never restarts anything. The worker writes, diagnostics and the watchdog read, flush
//! deletes. It does not fall back from Redis to memory: a dead Redis is
//! [`Error::RedisUnavailable`], naming the endpoint without its password.
//!
//! # Key layout
//!
//! Every key is `<prefix>fleet:<rest>` (prefix default `keepa-deals:`, shared with the token
//! bucket, whose keys are outside `fleet:`). The in-memory backend names its entries the same
//! way, so [`Fleet::list_keys`] reads alike in both tiers.
//!
//! | key (after `<prefix>fleet:`) | type | holds | lifetime |
//! |---|---|---|---|
//! | `lease:<name>` | hash | `token`, `instance`, `fencing`, `expires_at_ms` | expiry checked against the fleet clock in Lua; `PEXPIRE` backstop of 10 × TTL + 60 s |
//! | `fencing:<name>` | integer | the last fencing number handed out for `<name>` | never expires (deleting it restarts fencing at 1) |
//! | `heartbeats` | hash | task name → JSON [`Heartbeat`] | `PEXPIRE` 30 days, refreshed by every report |
//! | `pause` | string | JSON [`PauseFlag`] | until cleared |
//! | `calls:<minute>` | hash | client → calls in that minute (`minute` = Unix ms / 60 000) | `PEXPIRE` 2 h |
//! | `incidents` | list | JSON [`Incident`], newest first, capped at 100 (`LPUSH` + `LTRIM`) | `PEXPIRE` 30 days, refreshed by every push |
//!
//! [`Fleet::list_keys`] enumerates them with `SCAN MATCH <prefix>fleet:*` (never `KEYS`) into
//! typed [`KeyDescription`]s; [`Fleet::delete`] deletes only such descriptions. Keys outside the
//! namespace are never read or deleted.
//!
//! # Leases
//!
//! [`Fleet::acquire_lease`] draws a 128-bit owner token from the operating system and, in one
//! Lua script, takes the lease when it is absent or its expiry has passed on the fleet clock,
//! incrementing the name's fencing counter. [`Fleet::renew`] extends it only for the owner and
//! only before expiry; [`Fleet::release`] deletes it only for the owner (compare-and-delete). A
//! killed holder's lease is free once its TTL has passed on the fleet clock.

mod backend;
mod error;
mod fleet;
mod instance;
mod keys;
mod memory;
mod random;
mod redis_backend;
mod state;

pub use crate::error::{Error, Result};
pub use crate::fleet::{DEFAULT_KEY_PREFIX, Fleet, FleetClock, FleetConfig, RedisEndpoint};
pub use crate::instance::{InstanceId, ParseInstanceIdError};
pub use crate::keys::{KeyDescription, KeyKind};
pub use crate::state::{
    CallRate, CallRateAlert, Heartbeat, Incident, Lease, LeaseInfo, PauseFlag, Progress, TaskState,
    UtcTimeOfDay, WaitReason,
};
