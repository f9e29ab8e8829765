//! The envelope every Keepa JSON answer carries, errors and 429s included.
//!
//! The client decodes it before it looks at the HTTP status: a 400 or a 429 still says where
//! the quota stands and must reach the token bucket.

use serde::Deserialize;

/// The token fields of a Keepa answer, and the error it may carry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireEnvelope {
    /// Keepa's server time, Unix milliseconds.
    pub timestamp: i64,
    /// The balance after this request was charged (may be negative).
    pub tokens_left: i64,
    /// Milliseconds to the next refill.
    pub refill_in: i64,
    /// Tokens per minute; 0 when the envelope carries no token information (invalid key).
    pub refill_rate: i64,
    /// Keepa's throttling factor (0.0 in every capture seen).
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub token_flow_reduction: f64,
    /// What this request cost.
    pub tokens_consumed: i64,
    /// Keepa's processing time.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub processing_time_in_ms: i64,
    /// Present on failures.
    #[serde(default)]
    pub error: Option<WireError>,
}

/// `error {type, message, details}` of a failed request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireError {
    /// `invalidKey`, `invalidParameter`, `notEnoughToken`, …
    #[serde(rename = "type", default, deserialize_with = "super::null_as_default")]
    pub kind: String,
    /// A human-readable message.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub message: String,
    /// For `invalidParameter`: the parameter at fault.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub details: String,
}

impl WireEnvelope {
    /// The envelope as the token bucket needs it.
    pub fn to_bucket(&self) -> token_bucket::Envelope {
        token_bucket::Envelope {
            tokens_left: self.tokens_left,
            refill_in_ms: self.refill_in,
            refill_rate: self.refill_rate,
            tokens_consumed: self.tokens_consumed,
            server_timestamp_ms: self.timestamp,
        }
    }
}
