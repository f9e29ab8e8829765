//! A product as the `/product` endpoint describes it, after conversion from
//! Keepa's wire JSON: history series, statistics, fees, live offers, sellers.
//! Only what the deal rules and the store need is modelled; the converter in
//! `keepa-client` drops the rest.

use crate::{Asin, Cents, KeepaMinute, PriceType};

/// One point of a history series.
///
/// `value` is the price in cents (or the count or rank, for non-money types),
/// `None` where Keepa wrote −1 (no offer) or −2 (no data). For series whose
/// type [has shipping](PriceType::has_shipping), `shipping` is the shipping
/// cost in cents (`None` when unknown); for all others it is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryPoint {
    /// When the value started to hold.
    pub at: KeepaMinute,
    /// The value from `at` on; `None` when there was no offer or no data.
    pub value: Option<i64>,
    /// Shipping cost for shipping series, else `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<i64>,
}

impl HistoryPoint {
    /// Price plus shipping (shipping counted as 0 when unknown), `None` when
    /// there is no price.
    pub fn landed(&self) -> Option<i64> {
        self.value
            .map(|value| value.saturating_add(self.shipping.unwrap_or(0)))
    }
}

/// A history series of one price type, ordered by time as Keepa sends it
/// (oldest first). A step function: each point's value holds until the next.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Series(pub Vec<HistoryPoint>);

impl Series {
    /// Builds a series from Keepa's flat layout: `[t, v, t, v, …]`, or
    /// `[t, price, shipping, …]` when `price_type` has shipping. Negative
    /// values become `None`; an incomplete trailing group is ignored.
    pub fn from_keepa_flat(raw: &[i64], price_type: PriceType) -> Series {
        let group = if price_type.has_shipping() { 3 } else { 2 };
        let points = raw
            .chunks_exact(group)
            .map(|chunk| HistoryPoint {
                at: KeepaMinute(chunk[0].clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32),
                value: crate::keepa_value(chunk[1]),
                shipping: chunk.get(2).copied().and_then(crate::keepa_value),
            })
            .collect();
        Series(points)
    }

    /// The points, oldest first.
    pub fn points(&self) -> &[HistoryPoint] {
        &self.0
    }

    /// The value in force at `instant` (the last point at or before it).
    pub fn value_at(&self, instant: KeepaMinute) -> Option<i64> {
        let after = self.0.partition_point(|point| point.at <= instant);
        after.checked_sub(1).and_then(|last| self.0[last].value)
    }
}

/// History series indexed by price type. A type Keepa did not send (or a
/// type beyond the array Keepa sent) has no series.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Histories(pub Vec<Option<Series>>);

impl Histories {
    /// The series of one price type, if Keepa sent it.
    pub fn get(&self, price_type: PriceType) -> Option<&Series> {
        self.0.get(price_type.index()).and_then(Option::as_ref)
    }

    /// Stores the series of one price type, growing the array as needed.
    pub fn insert(&mut self, price_type: PriceType, series: Series) {
        if self.0.len() <= price_type.index() {
            self.0.resize(price_type.index() + 1, None);
        }
        self.0[price_type.index()] = Some(series);
    }
}

/// Keepa's statistics for one price type. `None` means unknown (Keepa's −1
/// or −2, or the type was not in the arrays). For shipping types Keepa's
/// statistics are landed prices (price + shipping).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PriceTypeStats {
    /// The current value.
    pub current: Option<i64>,
    /// Average over the last 30 days.
    pub avg30: Option<i64>,
    /// Average over the last 90 days.
    pub avg90: Option<i64>,
    /// Average over the last 180 days.
    pub avg180: Option<i64>,
    /// Average over the last 365 days.
    pub avg365: Option<i64>,
}

/// Keepa's statistics block of a product. Empty (the default) when the
/// product was fetched without statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    /// Per price type, indexed by [`PriceType::index`]; may be of any length.
    pub per_type: Vec<PriceTypeStats>,
    /// Sales-rank drops in the last 30 days (each drop ≈ a sale), if known.
    pub sales_rank_drops30: Option<i32>,
    /// Sales-rank drops in the last 90 days, if known.
    pub sales_rank_drops90: Option<i32>,
    /// Sales-rank drops in the last 180 days, if known.
    pub sales_rank_drops180: Option<i32>,
    /// Sales-rank drops in the last 365 days, if known.
    pub sales_rank_drops365: Option<i32>,
}

impl Stats {
    /// The statistics of one price type (all `None` when not held).
    pub fn get(&self, price_type: PriceType) -> PriceTypeStats {
        self.per_type
            .get(price_type.index())
            .copied()
            .unwrap_or_default()
    }

    /// Builds the per-type statistics from Keepa's five parallel arrays
    /// (current, 30-, 90-, 180-, 365-day averages), which may differ in length;
    /// negative values become `None`.
    pub fn per_type_from_keepa(
        current: &[i64],
        avg30: &[i64],
        avg90: &[i64],
        avg180: &[i64],
        avg365: &[i64],
    ) -> Vec<PriceTypeStats> {
        let length = [current, avg30, avg90, avg180, avg365]
            .iter()
            .map(|array| array.len())
            .max();
        let pick =
            |array: &[i64], index: usize| array.get(index).copied().and_then(crate::keepa_value);
        (0..length.unwrap_or(0))
            .map(|index| PriceTypeStats {
                current: pick(current, index),
                avg30: pick(avg30, index),
                avg90: pick(avg90, index),
                avg180: pick(avg180, index),
                avg365: pick(avg365, index),
            })
            .collect()
    }
}

/// The condition of a live offer (Keepa's condition codes 1–11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum OfferCondition {
    /// New.
    New,
    /// Used, like new.
    UsedLikeNew,
    /// Used, very good.
    UsedVeryGood,
    /// Used, good.
    UsedGood,
    /// Used, acceptable.
    UsedAcceptable,
    /// Refurbished.
    Refurbished,
    /// Collectible, any grade.
    Collectible,
    /// Rental.
    Rental,
    /// A code this crate does not know (0 = unknown in Keepa's numbering).
    Other(u8),
}

impl OfferCondition {
    /// Maps Keepa's numeric condition code.
    pub fn from_keepa_code(code: i64) -> OfferCondition {
        match code {
            1 => OfferCondition::New,
            2 => OfferCondition::UsedLikeNew,
            3 => OfferCondition::UsedVeryGood,
            4 => OfferCondition::UsedGood,
            5 => OfferCondition::UsedAcceptable,
            6 => OfferCondition::Refurbished,
            7..=10 => OfferCondition::Collectible,
            11 => OfferCondition::Rental,
            other => OfferCondition::Other(u8::try_from(other).unwrap_or(0)),
        }
    }

    /// Whether this is one of the four Used grades.
    pub fn is_used(self) -> bool {
        matches!(
            self,
            OfferCondition::UsedLikeNew
                | OfferCondition::UsedVeryGood
                | OfferCondition::UsedGood
                | OfferCondition::UsedAcceptable
        )
    }

    /// A short stable label (`"new"`, `"used_good"`, …) for storage and display.
    pub fn as_str(self) -> &'static str {
        match self {
            OfferCondition::New => "new",
            OfferCondition::UsedLikeNew => "used_like_new",
            OfferCondition::UsedVeryGood => "used_very_good",
            OfferCondition::UsedGood => "used_good",
            OfferCondition::UsedAcceptable => "used_acceptable",
            OfferCondition::Refurbished => "refurbished",
            OfferCondition::Collectible => "collectible",
            OfferCondition::Rental => "rental",
            OfferCondition::Other(_) => "other",
        }
    }
}

/// One live marketplace offer (from `/product` with `offers=N`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Offer {
    /// The seller's Amazon id.
    pub seller_id: String,
    /// The item's condition.
    pub condition: OfferCondition,
    /// The item price (without shipping).
    pub price: Cents,
    /// Shipping cost; `None` when unknown. FBA offers ship free (`Some(0)`).
    pub shipping: Option<Cents>,
    /// Fulfilled by Amazon.
    pub is_fba: bool,
    /// Prime eligible.
    pub is_prime: bool,
    /// Sold by Amazon itself.
    pub is_amazon: bool,
    /// Can ship to the marketplace's country.
    pub is_shippable: bool,
    /// When Keepa last saw the offer, if known.
    pub last_seen: Option<KeepaMinute>,
}

/// A seller's feedback, used for the seller-quality score.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SellerRating {
    /// The seller's Amazon id.
    pub seller_id: String,
    /// Share of positive ratings, 0–100, if known.
    pub positive_percent: Option<f64>,
    /// Number of ratings the percentage is based on, if known.
    pub rating_count: Option<u32>,
}

/// A product after conversion from `/product`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Product {
    /// The product's ASIN.
    pub asin: Asin,
    /// The title (empty when Keepa has none).
    pub title: String,
    /// The brand, if known.
    pub brand: Option<String>,
    /// The most specific category id, if known.
    pub category: Option<u64>,
    /// The root category id, if known.
    pub root_category: Option<u64>,
    /// When Keepa last updated the product, if known.
    pub last_update: Option<KeepaMinute>,
    /// History series per price type (empty when fetched without history).
    pub histories: Histories,
    /// Statistics (empty when fetched without statistics).
    pub stats: Stats,
    /// FBA pick-and-pack fee; `None` when missing or negative.
    pub fba_pick_and_pack_fee: Option<Cents>,
    /// Referral fee as a percentage (15.01 = 15.01 %), if known.
    pub referral_fee_percent: Option<f64>,
    /// Live offers (empty when fetched without offers).
    pub offers: Vec<Offer>,
    /// Ratings of the sellers of the live offers, when fetched.
    pub sellers: Vec<SellerRating>,
}

impl Product {
    /// A product with the given ASIN and nothing else known; fill the public
    /// fields from there.
    pub fn new(asin: Asin) -> Product {
        Product {
            asin,
            title: String::new(),
            brand: None,
            category: None,
            root_category: None,
            last_update: None,
            histories: Histories::default(),
            stats: Stats::default(),
            fba_pick_and_pack_fee: None,
            referral_fee_percent: None,
            offers: Vec::new(),
            sellers: Vec::new(),
        }
    }

    /// The rating of one seller, if known.
    pub fn seller(&self, seller_id: &str) -> Option<&SellerRating> {
        self.sellers
            .iter()
            .find(|seller| seller.seller_id == seller_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_series_without_shipping() {
        let series = Series::from_keepa_flat(&[10, 2499, 20, -1, 30, -2, 40], PriceType::NEW);
        assert_eq!(
            series.points(),
            &[
                HistoryPoint {
                    at: KeepaMinute(10),
                    value: Some(2499),
                    shipping: None
                },
                HistoryPoint {
                    at: KeepaMinute(20),
                    value: None,
                    shipping: None
                },
                HistoryPoint {
                    at: KeepaMinute(30),
                    value: None,
                    shipping: None
                },
            ]
        );
        assert_eq!(series.value_at(KeepaMinute(9)), None);
        assert_eq!(series.value_at(KeepaMinute(15)), Some(2499));
        assert_eq!(series.value_at(KeepaMinute(20)), None);
    }

    #[test]
    fn flat_series_with_shipping() {
        let series = Series::from_keepa_flat(
            &[10, 1999, 399, 20, 1899, -1],
            PriceType::USED_GOOD_SHIPPING,
        );
        assert_eq!(series.points()[0].landed(), Some(2398));
        assert_eq!(series.points()[1].shipping, None);
        assert_eq!(series.points()[1].landed(), Some(1899));
    }

    #[test]
    fn stats_arrays_of_different_lengths() {
        let per_type = Stats::per_type_from_keepa(&[-1, 1499, 2024], &[1], &[], &[], &[5, 6, 7, 8]);
        assert_eq!(per_type.len(), 4);
        let stats = Stats {
            per_type,
            ..Stats::default()
        };
        assert_eq!(stats.get(PriceType::USED).current, Some(2024));
        assert_eq!(stats.get(PriceType::SALES).avg365, Some(8));
        assert_eq!(stats.get(PriceType(35)), PriceTypeStats::default());
    }

    #[test]
    fn histories_grow_on_insert() {
        let mut histories = Histories::default();
        histories.insert(PriceType::COUNT_USED, Series::default());
        assert!(histories.get(PriceType::COUNT_USED).is_some());
        assert!(histories.get(PriceType::USED).is_none());
        assert!(histories.get(PriceType(40)).is_none());
    }

    #[test]
    fn product_round_trips_through_json() {
        let mut product = Product::new("B0D8W1YVBX".parse().unwrap());
        product.offers.push(Offer {
            seller_id: "A1".into(),
            condition: OfferCondition::from_keepa_code(4),
            price: Cents(1000),
            shipping: None,
            is_fba: false,
            is_prime: false,
            is_amazon: false,
            is_shippable: true,
            last_seen: Some(KeepaMinute(5)),
        });
        let json = serde_json::to_string(&product).unwrap();
        assert_eq!(serde_json::from_str::<Product>(&json).unwrap(), product);
    }
}
