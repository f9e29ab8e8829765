//! What both backends share: retention constants and the raw lease record.
//!
//! The constants are the documented key lifetimes of the crate docs' key layout.

/// How many minutes of per-client call counts are kept (Redis: a PEXPIRE of this many minutes).
pub(crate) const CALL_COUNTS_KEEP_MINUTES: i64 = 120;
/// How many incidents the capped list keeps.
pub(crate) const INCIDENTS_KEPT: usize = 100;
/// Heartbeats and incidents of a fleet that stopped reporting disappear after this long.
pub(crate) const IDLE_STATE_BACKSTOP_MS: i64 = 30 * 24 * 60 * 60 * 1_000;

/// A lease's Redis backstop: long after its clock expiry, so only a fleet that is gone relies on
/// it. Ten TTLs plus a minute.
pub(crate) fn lease_backstop_ms(ttl_ms: i64) -> i64 {
    ttl_ms.saturating_mul(10).saturating_add(60_000)
}

/// A lease as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawLease {
    pub(crate) token: String,
    pub(crate) instance: String,
    pub(crate) fencing: u64,
    pub(crate) expires_at_ms: i64,
}
