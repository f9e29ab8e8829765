//! One entry of a `/deal` page after conversion: enough to screen a deal
//! without spending tokens on `/product`.

use crate::{Asin, KeepaMinute, PriceType, PriceTypeValues};

/// The four averaging intervals of a deal record's `avg` and `delta` arrays
/// (the first index of Keepa's `[interval][price type]` arrays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DealInterval {
    /// Last 24 hours (index 0).
    Day,
    /// Last 7 days (index 1).
    Week,
    /// Last 31 days (index 2).
    Month,
    /// Last 90 days (index 3).
    Quarter,
}

impl DealInterval {
    /// All intervals, in array order.
    pub const ALL: [DealInterval; 4] = [
        DealInterval::Day,
        DealInterval::Week,
        DealInterval::Month,
        DealInterval::Quarter,
    ];

    /// The position in the `[interval][price type]` arrays.
    pub fn index(self) -> usize {
        match self {
            DealInterval::Day => 0,
            DealInterval::Week => 1,
            DealInterval::Month => 2,
            DealInterval::Quarter => 3,
        }
    }
}

/// One deal of a `/deal` page.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DealRecord {
    /// The product's ASIN.
    pub asin: Asin,
    /// The title (empty when Keepa has none).
    pub title: String,
    /// When Keepa last updated the deal; discovery orders and watermarks by it.
    pub last_update: KeepaMinute,
    /// The root category id, if known.
    pub root_category: Option<u64>,
    /// Current values per price type (−1/−2 → `None`).
    pub current: PriceTypeValues,
    /// Averages per interval ([`DealInterval::index`]) and price type (−1/−2 → `None`).
    pub avg: [PriceTypeValues; 4],
    /// Raw differences `avg − current` per interval and price type, as Keepa
    /// sends them. Negative numbers are real here, so no sentinel mapping is
    /// applied; Keepa writes 0 where it has no figure. Prefer [`DealRecord::delta`],
    /// which recomputes the difference from known values.
    pub delta: [Vec<i64>; 4],
    /// The current sales rank, if known.
    pub sales_rank: Option<i64>,
    /// Sales-rank drops in the last 30 days, if known.
    pub sales_rank_drops30: Option<i32>,
    /// Sales-rank drops in the last 90 days, if known.
    pub sales_rank_drops90: Option<i32>,
    /// Sales-rank drops in the last 180 days, if known.
    pub sales_rank_drops180: Option<i32>,
    /// Sales-rank drops in the last 365 days, if known.
    pub sales_rank_drops365: Option<i32>,
}

impl DealRecord {
    /// The average of one price type over one interval, if known.
    pub fn avg(&self, interval: DealInterval, price_type: PriceType) -> Option<i64> {
        self.avg[interval.index()].get(price_type)
    }

    /// `avg − current` for one interval and price type, when both are known.
    pub fn delta(&self, interval: DealInterval, price_type: PriceType) -> Option<i64> {
        Some(self.avg(interval, price_type)? - self.current.get(price_type)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_is_avg_minus_current_when_both_known() {
        let deal = DealRecord {
            asin: "B0916T3WFJ".parse().unwrap(),
            title: String::new(),
            last_update: KeepaMinute(7_535_870),
            root_category: Some(1_055_398),
            current: PriceTypeValues::from_keepa(&[-1, 2499, 2024, 3814]),
            avg: [
                PriceTypeValues::from_keepa(&[-2, 2499, 2422, 3491]),
                PriceTypeValues::default(),
                PriceTypeValues::default(),
                PriceTypeValues::default(),
            ],
            delta: [vec![0, 0, 398, -323], vec![], vec![], vec![]],
            sales_rank: Some(3814),
            sales_rank_drops30: Some(34),
            sales_rank_drops90: Some(97),
            sales_rank_drops180: Some(181),
            sales_rank_drops365: Some(581),
        };
        assert_eq!(deal.delta(DealInterval::Day, PriceType::USED), Some(398));
        assert_eq!(deal.delta(DealInterval::Day, PriceType::SALES), Some(-323));
        assert_eq!(deal.delta(DealInterval::Day, PriceType::AMAZON), None);
        assert_eq!(deal.delta(DealInterval::Week, PriceType::USED), None);
        let json = serde_json::to_string(&deal).unwrap();
        assert_eq!(serde_json::from_str::<DealRecord>(&json).unwrap(), deal);
    }
}
