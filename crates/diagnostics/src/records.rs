//! What the worker and the watchdog leave in the store's key/value state for diagnostics to
//! read in the embedded tier (no Redis): the last quota envelope, task heartbeats, the pause
//! flag and incidents. The keys and the JSON shapes are defined here, once, so that writers and
//! this crate cannot drift apart.
//!
//! This module only names keys and (de)serialises values; it opens nothing.

use serde::{Deserialize, Serialize};

/// State key of the last quota observation, JSON [`QuotaRecord`].
pub const QUOTA_STATE_KEY: &str = "quota";

/// Prefix of the state keys of task heartbeats: `heartbeat:<task>` holds a JSON
/// [`fleet::Heartbeat`] (the same shape as in Redis).
pub const HEARTBEAT_STATE_PREFIX: &str = "heartbeat:";

/// State key of the operator's pause flag in the embedded tier, JSON [`fleet::PauseFlag`];
/// absent when not paused.
pub const PAUSE_STATE_KEY: &str = "pause";

/// State key of the watchdog's incidents in the embedded tier: a JSON array of
/// [`fleet::Incident`], newest first.
pub const INCIDENTS_STATE_KEY: &str = "incidents";

/// An observation of the Keepa quota: what the last envelope (or the bucket's projection) said.
///
/// The worker writes it under [`QUOTA_STATE_KEY`] after reconciling an envelope; diagnostics
/// also builds one from the Redis bucket's snapshot or from a `/token` probe.
///
/// ```
/// let record = diagnostics::QuotaRecord {
///     tokens_left: 120, refill_rate: 5, refill_in_ms: 30_000,
///     observed_at_ms: 1_700_000_000_000, foreign_consumption: 0,
/// };
/// let json = serde_json::to_string(&record).unwrap();
/// assert_eq!(serde_json::from_str::<diagnostics::QuotaRecord>(&json).unwrap(), record);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaRecord {
    /// `tokensLeft` (or the projected balance): whole tokens, negative in deficit.
    pub tokens_left: i64,
    /// `refillRate`: tokens per minute; 0 means the envelope carried no token information.
    pub refill_rate: i64,
    /// `refillIn`: milliseconds to the next refill, as of `observed_at_ms`.
    pub refill_in_ms: i64,
    /// When the observation was made, Unix milliseconds.
    pub observed_at_ms: i64,
    /// Whole tokens spent by other programs on the same key, as far as the bucket could tell.
    pub foreign_consumption: i64,
}

impl QuotaRecord {
    /// The bucket's capacity: 60 minutes of refill.
    pub fn cap(&self) -> i64 {
        self.refill_rate.saturating_mul(60)
    }

    /// Whether the observation is recent enough at `now_ms` to stand in for a `/token` call
    /// ([`RECENT_QUOTA_MS`]). An observation from the future (clock skew) counts as recent.
    pub fn is_recent_at(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.observed_at_ms) <= RECENT_QUOTA_MS
    }
}

/// An observation of the quota younger than this (10 minutes) is used as is; an older one, or
/// none, lets diagnostics make its one `/token` call.
pub const RECENT_QUOTA_MS: i64 = 10 * 60 * 1000;
