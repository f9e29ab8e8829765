//! Domain types shared by every crate of keepa-deals: what a product and a deal
//! record *mean*, independent of how Keepa spells them on the wire.
//!
//! `keepa-client` converts Keepa's wire JSON into these types, `deal-filters`
//! computes on them, `deal-store` persists what `deal-filters` derives from
//! them. This crate does no IO and knows no JSON field names of Keepa's API;
//! serde derives exist so other crates can store and snapshot the types.
//!
//! # Sentinels: −1 and −2
//!
//! Keepa writes −1 for "no offer" and −2 for "no data" wherever a price,
//! count or rank would be. The domain has no sentinels: every such value is an
//! `Option`, and both −1 and −2 become `None` (no rule of the product
//! distinguishes "nobody sells it" from "Keepa does not know"). Converters
//! should use [`keepa_value`], which maps any negative raw value to `None`.
//! The one exception is a deal record's `delta` arrays, where negative numbers
//! are real differences; see [`DealRecord::delta`].
//!
//! # Price-type arrays of any length
//!
//! Keepa indexes its per-type arrays (history `csv`, statistics, deal arrays)
//! by a price-type number ([`PriceType`]). The arrays held 34 entries in 2025
//! captures and 36 in 2026 ones, and will grow again. Nothing here assumes a
//! length: [`PriceType`] is an index newtype rather than a closed enum, and
//! every per-type container ([`Histories`], [`Stats`], [`PriceTypeValues`])
//! answers "unknown" for an index beyond what it holds.
//!
//! # Shipping series
//!
//! Some history series (the `*_SHIPPING` types, see [`PriceType::has_shipping`])
//! carry `[time, price, shipping]` triples instead of `[time, value]` pairs.
//! The domain keeps both numbers: [`HistoryPoint::value`] is the item price
//! and [`HistoryPoint::shipping`] the shipping cost (`None` for series without
//! shipping); [`HistoryPoint::landed`] adds them.

mod asin;
mod deal;
mod money;
mod price_type;
mod product;
mod time;

pub use asin::{Asin, AsinError};
pub use deal::{DealInterval, DealRecord};
pub use money::Cents;
pub use price_type::{PriceType, PriceTypeValues};
pub use product::{
    Histories, HistoryPoint, Offer, OfferCondition, PriceTypeStats, Product, SellerRating, Series,
    Stats,
};
pub use time::{KeepaMinute, UnixMillis, UnixSeconds};

/// Converts one raw Keepa number (price, count or rank) into the domain's
/// `Option`: −1 ("no offer"), −2 ("no data") and any other negative value
/// become `None`, everything else is kept.
///
/// ```
/// assert_eq!(keepa_model::keepa_value(1999), Some(1999));
/// assert_eq!(keepa_model::keepa_value(-1), None);
/// assert_eq!(keepa_model::keepa_value(-2), None);
/// ```
pub fn keepa_value(raw: i64) -> Option<i64> {
    (raw >= 0).then_some(raw)
}
