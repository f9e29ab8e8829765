//! Keepa's wire JSON, as serde types: the envelope, `/deal` and `/product` responses.
//!
//! These types mirror Keepa's field names and sentinels (−1 no offer, −2 no data) and nothing
//! else: they ignore every field they do not name (Keepa adds fields every few months), accept
//! `null` wherever Keepa has been seen to send it, and hold price-type arrays as plain `Vec`s of
//! whatever length arrived (34 entries in 2025 captures, 36 in 2026 ones). Meaning is given by
//! [`crate::convert`], which turns them into `keepa-model` domain types; nothing outside this
//! crate should need them, except benchmarks and tests of the decoder.

mod deal;
mod envelope;
mod product;

pub use deal::{DealResponse, WireDeal, WireDeals};
pub use envelope::{WireEnvelope, WireError};
pub use product::{ProductResponse, WireFbaFees, WireOffer, WireProduct, WireStats};

use serde::{Deserialize, Deserializer};

/// Decodes `null` as the type's default (an empty `Vec`, `0`, …).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
