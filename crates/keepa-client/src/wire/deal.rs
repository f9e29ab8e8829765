//! The `/deal` answer: `deals.dr[]`, each with `[interval][price type]` arrays.

use serde::Deserialize;

use super::{WireError, null_as_default};

/// A whole `/deal` answer: the envelope fields and the page, decoded in one pass.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DealResponse {
    /// See [`super::WireEnvelope::timestamp`].
    pub timestamp: i64,
    /// See [`super::WireEnvelope::tokens_left`].
    pub tokens_left: i64,
    /// See [`super::WireEnvelope::refill_in`].
    pub refill_in: i64,
    /// See [`super::WireEnvelope::refill_rate`].
    pub refill_rate: i64,
    /// See [`super::WireEnvelope::token_flow_reduction`].
    #[serde(default, deserialize_with = "null_as_default")]
    pub token_flow_reduction: f64,
    /// See [`super::WireEnvelope::tokens_consumed`].
    pub tokens_consumed: i64,
    /// See [`super::WireEnvelope::processing_time_in_ms`].
    #[serde(default, deserialize_with = "null_as_default")]
    pub processing_time_in_ms: i64,
    /// See [`super::WireEnvelope::error`].
    #[serde(default)]
    pub error: Option<WireError>,
    /// The page; absent on errors.
    #[serde(default)]
    pub deals: Option<WireDeals>,
}

/// `deals`: the records of the page (`dr`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WireDeals {
    /// The deal records, loosely ordered by `lastUpdate`, newest first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub dr: Vec<WireDeal>,
}

/// One deal record (`deals.dr[i]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireDeal {
    /// The ASIN.
    pub asin: String,
    /// The title; may be `null`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub title: String,
    /// Keepa minute of the last update.
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_update: i64,
    /// Root category id; 0 when unknown.
    #[serde(default, deserialize_with = "null_as_default")]
    pub root_cat: i64,
    /// Current values per price type.
    #[serde(default, deserialize_with = "null_as_default")]
    pub current: Vec<i64>,
    /// Averages `[interval][price type]`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub avg: Vec<Vec<i64>>,
    /// `avg − current`, `[interval][price type]`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub delta: Vec<Vec<i64>>,
    /// The delta in percent of the average, `[interval][price type]`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub delta_percent: Vec<Vec<i64>>,
    /// Sales-rank drops in the last 30 days (−1 unknown).
    #[serde(default = "unknown", deserialize_with = "null_as_unknown")]
    pub sales_rank_drops30: i64,
    /// Sales-rank drops in the last 90 days (−1 unknown).
    #[serde(default = "unknown", deserialize_with = "null_as_unknown")]
    pub sales_rank_drops90: i64,
    /// Sales-rank drops in the last 180 days (−1 unknown).
    #[serde(default = "unknown", deserialize_with = "null_as_unknown")]
    pub sales_rank_drops180: i64,
    /// Sales-rank drops in the last 365 days (−1 unknown).
    #[serde(default = "unknown", deserialize_with = "null_as_unknown")]
    pub sales_rank_drops365: i64,
}

pub(crate) fn unknown() -> i64 {
    -1
}

pub(crate) fn null_as_unknown<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<i64, D::Error> {
    Ok(Option::<i64>::deserialize(deserializer)?.unwrap_or(-1))
}

impl DealResponse {
    /// The envelope part.
    pub fn envelope(&self) -> super::WireEnvelope {
        super::WireEnvelope {
            timestamp: self.timestamp,
            tokens_left: self.tokens_left,
            refill_in: self.refill_in,
            refill_rate: self.refill_rate,
            token_flow_reduction: self.token_flow_reduction,
            tokens_consumed: self.tokens_consumed,
            processing_time_in_ms: self.processing_time_in_ms,
            error: self.error.clone(),
        }
    }
}
