//! Inferred sales: Keepa does not report sales, but a seller's offer that
//! disappears followed shortly by a sales-rank improvement is one. This
//! module finds those pairs in the history series and drops price outliers.

use keepa_model::{Cents, Histories, KeepaMinute, PriceType, Series};

/// How far back sales are inferred: 3 years of 365 days, in minutes.
pub const SALES_WINDOW_MINUTES: i64 = 3 * 365 * 24 * 60;
/// How long after an offer-count drop a sales-rank drop still confirms a sale:
/// 240 hours, inclusive, in minutes.
pub const RANK_DROP_WINDOW_MINUTES: i64 = 240 * 60;

/// Which offer count dropped, and so which price a sale is valued at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SaleCondition {
    /// A New offer sold (New offer count, New price).
    New,
    /// A Used offer sold (Used offer count, Used price).
    Used,
}

/// One inferred sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InferredSale {
    /// When the offer count dropped.
    pub at: KeepaMinute,
    /// The New or Used price nearest in time to the drop.
    pub price: Cents,
    /// Which offer count dropped.
    pub condition: SaleCondition,
}

/// The result of sales inference over a product's histories.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SalesInference {
    /// Sales after dropping price outliers, ordered by time.
    pub sales: Vec<InferredSale>,
    /// Offer-count drops (New and Used) in the window, confirmed or not.
    pub offer_drops: u32,
}

/// The instants at which a series' value decreased against the previous known
/// value (points without a value are skipped, not treated as zero).
pub fn drops(series: &Series) -> Vec<KeepaMinute> {
    let mut previous: Option<i64> = None;
    let mut instants = Vec::new();
    for point in series.points() {
        let Some(value) = point.value else { continue };
        if previous.is_some_and(|previous| value < previous) {
            instants.push(point.at);
        }
        previous = Some(value);
    }
    instants
}

/// The known value of `series` nearest in time to `instant` (ties go to the
/// earlier point), as money.
pub fn nearest_price(series: &Series, instant: KeepaMinute) -> Option<Cents> {
    let points = series.points();
    let split = points.partition_point(|point| point.at <= instant);
    let before = points[..split]
        .iter()
        .rev()
        .find(|point| point.value.is_some());
    let after = points[split..].iter().find(|point| point.value.is_some());
    let nearest = match (before, after) {
        (Some(before), Some(after)) => {
            if after.at.minutes_since(instant) < instant.minutes_since(before.at) {
                after
            } else {
                before
            }
        }
        (Some(point), None) | (None, Some(point)) => point,
        (None, None) => return None,
    };
    nearest.value.and_then(Cents::from_keepa)
}

/// Infers sales: within the 3 years before `now`, each drop of the New or Used
/// offer count (types 11, 12), taken in time order (New before Used at the
/// same minute), is matched with the earliest sales-rank drop (type 3) not yet
/// matched that lies 0 to 240 hours (inclusive) after it. A match is a sale at
/// the New or Used price (types 1, 2) nearest in time to the offer drop; a
/// match without any known price is not counted. Finally, sales whose price
/// lies outside [Q1 − 1.5·IQR, Q3 + 1.5·IQR] are dropped.
pub fn infer_sales(histories: &Histories, now: KeepaMinute) -> SalesInference {
    let window_start = now.plus_minutes(-SALES_WINDOW_MINUTES);
    let in_window = |instant: &KeepaMinute| *instant >= window_start && *instant <= now;
    let mut offer_drops: Vec<(KeepaMinute, SaleCondition)> = Vec::new();
    for (count_type, condition) in [
        (PriceType::COUNT_NEW, SaleCondition::New),
        (PriceType::COUNT_USED, SaleCondition::Used),
    ] {
        if let Some(series) = histories.get(count_type) {
            offer_drops.extend(
                drops(series)
                    .into_iter()
                    .filter(in_window)
                    .map(|at| (at, condition)),
            );
        }
    }
    // Stable sort: at the same minute New (pushed first) stays before Used.
    offer_drops.sort_by_key(|(at, _)| *at);
    let rank_drops = histories
        .get(PriceType::SALES)
        .map(drops)
        .unwrap_or_default();

    // Rank drops before the pointer are either matched or earlier than every
    // remaining offer drop, so one forward pass matches greedily.
    let mut next_rank_drop = 0;
    let mut sales = Vec::new();
    for &(at, condition) in &offer_drops {
        while next_rank_drop < rank_drops.len() && rank_drops[next_rank_drop] < at {
            next_rank_drop += 1;
        }
        let Some(&rank_drop) = rank_drops.get(next_rank_drop) else {
            continue;
        };
        if rank_drop.minutes_since(at) > RANK_DROP_WINDOW_MINUTES {
            continue;
        }
        next_rank_drop += 1;
        let price_type = match condition {
            SaleCondition::New => PriceType::NEW,
            SaleCondition::Used => PriceType::USED,
        };
        if let Some(price) = histories
            .get(price_type)
            .and_then(|series| nearest_price(series, at))
        {
            sales.push(InferredSale {
                at,
                price,
                condition,
            });
        }
    }
    SalesInference {
        sales: drop_price_outliers(sales),
        offer_drops: u32::try_from(offer_drops.len()).unwrap_or(u32::MAX),
    }
}

/// The `fraction` quantile of sorted values, interpolating linearly between
/// the closest ranks (the common "type 7" definition).
pub(crate) fn quantile(sorted: &[i64], fraction: f64) -> f64 {
    let position = fraction * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let weight = position - lower as f64;
    sorted[lower] as f64 + (sorted[upper] as f64 - sorted[lower] as f64) * weight
}

/// Drops sales whose price lies outside [Q1 − 1.5·IQR, Q3 + 1.5·IQR].
pub fn drop_price_outliers(sales: Vec<InferredSale>) -> Vec<InferredSale> {
    if sales.is_empty() {
        return sales;
    }
    let mut prices: Vec<i64> = sales.iter().map(|sale| sale.price.0).collect();
    prices.sort_unstable();
    let first_quartile = quantile(&prices, 0.25);
    let third_quartile = quantile(&prices, 0.75);
    let spread = 1.5 * (third_quartile - first_quartile);
    let (low, high) = (first_quartile - spread, third_quartile + spread);
    sales
        .into_iter()
        .filter(|sale| (low..=high).contains(&(sale.price.0 as f64)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepa_model::HistoryPoint;

    fn series(points: &[(i32, i64)]) -> Series {
        Series(
            points
                .iter()
                .map(|&(at, value)| HistoryPoint {
                    at: KeepaMinute(at),
                    value: Some(value),
                    shipping: None,
                })
                .collect(),
        )
    }

    #[test]
    fn drops_skip_unknown_points() {
        let mut with_gap = series(&[(1, 5), (2, 4), (4, 4), (5, 3)]);
        with_gap.0.insert(
            2,
            HistoryPoint {
                at: KeepaMinute(3),
                value: None,
                shipping: None,
            },
        );
        assert_eq!(drops(&with_gap), vec![KeepaMinute(2), KeepaMinute(5)]);
    }

    #[test]
    fn nearest_price_prefers_the_closer_point_and_the_earlier_on_ties() {
        let prices = series(&[(10, 100), (20, 200)]);
        assert_eq!(nearest_price(&prices, KeepaMinute(14)), Some(Cents(100)));
        assert_eq!(nearest_price(&prices, KeepaMinute(15)), Some(Cents(100)));
        assert_eq!(nearest_price(&prices, KeepaMinute(16)), Some(Cents(200)));
        assert_eq!(nearest_price(&prices, KeepaMinute(5)), Some(Cents(100)));
    }

    #[test]
    fn outliers_are_dropped() {
        let sale = |price| InferredSale {
            at: KeepaMinute(0),
            price: Cents(price),
            condition: SaleCondition::Used,
        };
        let kept = drop_price_outliers(vec![
            sale(1000),
            sale(1100),
            sale(1050),
            sale(990),
            sale(9000),
        ]);
        assert_eq!(kept.len(), 4);
        assert!(kept.iter().all(|sale| sale.price.0 < 2000));
    }
}
