//! The `/product` answer: `products[]` with `csv` history, `stats`, fees and live offers.

use serde::Deserialize;

use super::deal::{null_as_unknown, unknown};
use super::{WireError, null_as_default};

/// A whole `/product` answer: the envelope fields and the products, decoded in one pass.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductResponse {
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
    /// The products, in the order asked; absent on errors.
    #[serde(default, deserialize_with = "null_as_default")]
    pub products: Vec<WireProduct>,
}

/// One product (`products[i]`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireProduct {
    /// The ASIN.
    pub asin: String,
    /// 4 when Keepa does not know the ASIN (then most fields are `null`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub product_type: i64,
    /// The title; may be `null`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub title: String,
    /// The brand; may be `null`.
    #[serde(default)]
    pub brand: Option<String>,
    /// Root category id; 0 when unknown.
    #[serde(default, deserialize_with = "null_as_default")]
    pub root_category: i64,
    /// Category node ids the product is listed in.
    #[serde(default, deserialize_with = "null_as_default")]
    pub categories: Vec<i64>,
    /// Keepa minute of the last update.
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_update: i64,
    /// History per price type: flat `[t, v, …]` (or `[t, price, shipping, …]`), `null` where
    /// Keepa has none. `null` as a whole when fetched without history.
    #[serde(default, deserialize_with = "null_as_default")]
    pub csv: Vec<Option<Vec<i64>>>,
    /// Statistics, when asked with `stats`.
    #[serde(default)]
    pub stats: Option<WireStats>,
    /// FBA fees; `null` when unknown.
    #[serde(default)]
    pub fba_fees: Option<WireFbaFees>,
    /// Referral fee in percent (15.01); `null` when unknown.
    #[serde(default)]
    pub referral_fee_percentage: Option<f64>,
    /// Live offers, when asked with `offers`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub offers: Vec<WireOffer>,
    /// Indices into `offers` of the live offers, cheapest first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub live_offers_order: Vec<usize>,
}

/// `stats`: per-price-type arrays and sales-rank drops.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireStats {
    /// Current values per price type.
    #[serde(default, deserialize_with = "null_as_default")]
    pub current: Vec<i64>,
    /// Averages over the `stats` interval.
    #[serde(default, deserialize_with = "null_as_default")]
    pub avg: Vec<i64>,
    /// 30-day averages.
    #[serde(default, deserialize_with = "null_as_default")]
    pub avg30: Vec<i64>,
    /// 90-day averages.
    #[serde(default, deserialize_with = "null_as_default")]
    pub avg90: Vec<i64>,
    /// 180-day averages.
    #[serde(default, deserialize_with = "null_as_default")]
    pub avg180: Vec<i64>,
    /// 365-day averages.
    #[serde(default, deserialize_with = "null_as_default")]
    pub avg365: Vec<i64>,
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
    /// New and used offers counted by Keepa (−1/−2 unknown).
    #[serde(default = "unknown", deserialize_with = "null_as_unknown")]
    pub total_offer_count: i64,
}

/// `fbaFees`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireFbaFees {
    /// The FBA pick-and-pack fee in cents (−1 or missing when unknown).
    #[serde(default = "unknown", deserialize_with = "null_as_unknown")]
    pub pick_and_pack_fee: i64,
}

/// One live offer (`offers[i]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireOffer {
    /// The seller's Amazon id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub seller_id: String,
    /// Keepa's condition code (1 new, 2–5 used grades, …).
    #[serde(default, deserialize_with = "null_as_default")]
    pub condition: i64,
    /// Price history of the offer: `[t, price, shipping, …]`, latest last.
    #[serde(rename = "offerCSV", default, deserialize_with = "null_as_default")]
    pub offer_csv: Vec<i64>,
    /// Keepa minute the offer was last seen.
    #[serde(default = "unknown", deserialize_with = "null_as_unknown")]
    pub last_seen: i64,
    /// Fulfilled by Amazon.
    #[serde(rename = "isFBA", default, deserialize_with = "null_as_default")]
    pub is_fba: bool,
    /// Prime eligible.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_prime: bool,
    /// Sold by Amazon.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_amazon: bool,
    /// Ships to the marketplace's country.
    #[serde(default = "yes", deserialize_with = "null_as_default")]
    pub is_shippable: bool,
}

fn yes() -> bool {
    true
}

impl ProductResponse {
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
