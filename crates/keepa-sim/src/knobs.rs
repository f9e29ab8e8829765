//! The simulator's run-time knobs and the counters tests read back.
//!
//! [`Knobs`] are plain data: set them when building the simulator, change them while it runs
//! with `Sim::set_knobs`/`Sim::update_knobs`, or over HTTP with `POST /_sim/knobs` (a partial
//! JSON object in camelCase; durations in milliseconds). [`Counters`] only ever grow, except the
//! balance extremes, which record the lowest and highest balance seen.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Behaviour that tests and demos change while the simulator runs.
///
/// Every rate is a probability per request in `[0, 1]`; faults draw from a seeded generator, so a
/// scripted scenario is reproducible.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Knobs {
    /// Tokens added per refill tick (the plan). A change keeps the balance and moves the cap to
    /// 60 × the new rate.
    pub refill_rate: u32,
    /// Added before every API response (not the `/_sim/` admin routes).
    #[serde(with = "duration_ms", rename = "latencyMs")]
    pub latency: Duration,
    /// Share of admitted requests answered with HTTP 500 (not charged).
    pub server_error_rate: f64,
    /// Share of requests that hang for [`Knobs::timeout_duration`] before being answered
    /// normally (and charged): a client with a shorter timeout sees a timeout.
    pub timeout_rate: f64,
    /// How long a timed-out request hangs.
    #[serde(with = "duration_ms", rename = "timeoutMs")]
    pub timeout_duration: Duration,
    /// Share of admitted requests whose JSON body is cut in half (charged: Keepa did the work).
    pub truncated_body_rate: f64,
    /// Share of admitted requests answered 200 with an HTML page instead of JSON (not charged,
    /// as when a proxy answers).
    pub non_json_body_rate: f64,
    /// Multiplies every documented cost (rounded up): 10.0 models the "386-token surprise".
    pub cost_multiplier: f64,
    /// Another program on the same key spends this many tokens once a minute, half a minute
    /// after each refill tick, while the balance is > 0.
    pub foreign_tokens_per_minute: u32,
    /// The unverified Keepa lockout (off by default): when a charge takes the balance to
    /// [`Knobs::lockout_threshold`] or below, every request is refused with 429 for
    /// [`Knobs::lockout_duration`], whatever the balance.
    pub lockout_enabled: bool,
    /// The balance at or below which the lockout starts (default −200).
    pub lockout_threshold: i64,
    /// How long the lockout lasts.
    #[serde(with = "duration_ms", rename = "lockoutMs")]
    pub lockout_duration: Duration,
    /// Every API request hangs until freeze is turned off again (stall tests).
    pub freeze: bool,
    /// Products updated per simulated minute; each update surfaces the product at the top of
    /// `/deal` (its `lastUpdate` becomes the update time).
    pub deal_updates_per_minute: u32,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            refill_rate: 20,
            latency: Duration::ZERO,
            server_error_rate: 0.0,
            timeout_rate: 0.0,
            timeout_duration: Duration::from_secs(120),
            truncated_body_rate: 0.0,
            non_json_body_rate: 0.0,
            cost_multiplier: 1.0,
            foreign_tokens_per_minute: 0,
            lockout_enabled: false,
            lockout_threshold: -200,
            lockout_duration: Duration::from_secs(3600),
            freeze: false,
            deal_updates_per_minute: 10,
        }
    }
}

/// What the simulator has seen and done, for assertions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Counters {
    /// Requests by endpoint path (`/deal`, `/product`, `/token`, or `other`) and HTTP status.
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Tokens charged to API requests (after the cost multiplier).
    pub tokens_charged: u64,
    /// Tokens added by refill ticks, including those that expired at the cap.
    pub tokens_refilled: u64,
    /// Refilled tokens that expired because the balance was at its cap.
    pub tokens_wasted_at_cap: u64,
    /// Tokens the foreign consumer spent.
    pub foreign_tokens_spent: u64,
    /// The lowest balance seen.
    pub min_balance: i64,
    /// The highest balance seen.
    pub max_balance: i64,
    /// Product updates that have surfaced on `/deal` since the start.
    pub deal_updates: u64,
}

impl Counters {
    /// Requests to `endpoint` (for example `"/deal"`) answered with `status`.
    pub fn requests_with(&self, endpoint: &str, status: u16) -> u64 {
        self.requests
            .get(endpoint)
            .and_then(|by_status| by_status.get(&status))
            .copied()
            .unwrap_or(0)
    }

    /// Requests answered with `status`, all endpoints together.
    pub fn requests_with_status(&self, status: u16) -> u64 {
        self.requests
            .values()
            .filter_map(|by_status| by_status.get(&status))
            .sum()
    }

    pub(crate) fn record(&mut self, endpoint: &str, status: u16) {
        *self
            .requests
            .entry(endpoint.to_owned())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(deserializer)?))
    }
}
