//! The smaller signals shown beside the money: percent down, trends, deal
//! trust, seller quality and whether Amazon sells the product.

use keepa_model::{Cents, PriceType, PriceTypeStats, Product};

use crate::Trend;

/// (1-year average − price now) / 1-year average, in percent, in [0, 100];
/// 0 when the price is at or above the average, `None` without a positive average.
pub fn percent_down(one_year_average: Cents, price_now: Cents) -> Option<f64> {
    if !one_year_average.is_positive() {
        return None;
    }
    let fraction = (one_year_average.0 as f64 - price_now.0 as f64) / one_year_average.0 as f64;
    Some((fraction * 100.0).clamp(0.0, 100.0))
}

/// The current value against its 90-day average: more than 5 % above is
/// [`Trend::Up`], more than 5 % below [`Trend::Down`], otherwise flat.
pub fn trend(stats: PriceTypeStats) -> Option<Trend> {
    let current = stats.current? as f64;
    let average = stats.avg90? as f64;
    if average <= 0.0 {
        return None;
    }
    Some(if current > average * 1.05 {
        Trend::Up
    } else if current < average * 0.95 {
        Trend::Down
    } else {
        Trend::Flat
    })
}

/// Inferred sales / offer drops, in percent (how many offer disappearances
/// were confirmed by a sales-rank drop); `None` without offer drops.
pub fn deal_trust_percent(inferred_sales: u32, offer_drops: u32) -> Option<f64> {
    (offer_drops > 0)
        .then(|| (f64::from(inferred_sales) / f64::from(offer_drops) * 100.0).min(100.0))
}

/// The Wilson score lower bound (z = 1.96, 95 %) of the positive share of
/// `rating_count` ratings, in [0, 1]; `None` without ratings.
///
/// ```
/// let few = deal_filters::wilson_lower_bound(100.0, 3).unwrap();
/// let many = deal_filters::wilson_lower_bound(98.0, 5_000).unwrap();
/// assert!(few < many);
/// ```
pub fn wilson_lower_bound(positive_percent: f64, rating_count: u32) -> Option<f64> {
    if rating_count == 0 || !positive_percent.is_finite() {
        return None;
    }
    const Z: f64 = 1.96;
    let n = f64::from(rating_count);
    let p = (positive_percent / 100.0).clamp(0.0, 1.0);
    let z2 = Z * Z;
    let centre = p + z2 / (2.0 * n);
    let spread = Z * ((p * (1.0 - p) + z2 / (4.0 * n)) / n).sqrt();
    Some(((centre - spread) / (1.0 + z2 / n)).clamp(0.0, 1.0))
}

/// Seller quality of one seller of the product, from its ratings, if known.
pub fn seller_quality(product: &Product, seller_id: &str) -> Option<f64> {
    let seller = product.seller(seller_id)?;
    wilson_lower_bound(seller.positive_percent?, seller.rating_count?)
}

/// Whether Amazon itself sells the product now: a current Amazon price, or a
/// live offer from Amazon.
pub fn amazon_sells(product: &Product) -> bool {
    product.stats.get(PriceType::AMAZON).current.is_some()
        || product.offers.iter().any(|offer| offer.is_amazon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        // 90 positive of 100: the textbook lower bound is 0.8256.
        assert!((wilson_lower_bound(90.0, 100).unwrap() - 0.825_63).abs() < 1e-4);
        assert_eq!(wilson_lower_bound(90.0, 0), None);
        assert_eq!(wilson_lower_bound(0.0, 10), Some(0.0));
    }

    #[test]
    fn percent_down_is_zero_when_price_is_higher() {
        assert_eq!(percent_down(Cents(2000), Cents(1500)), Some(25.0));
        assert_eq!(percent_down(Cents(2000), Cents(2500)), Some(0.0));
        assert_eq!(percent_down(Cents(0), Cents(2500)), None);
    }

    #[test]
    fn trend_thresholds() {
        let stats = |current, avg90| PriceTypeStats {
            current: Some(current),
            avg90: Some(avg90),
            ..PriceTypeStats::default()
        };
        assert_eq!(trend(stats(106, 100)), Some(Trend::Up));
        assert_eq!(trend(stats(94, 100)), Some(Trend::Down));
        assert_eq!(trend(stats(105, 100)), Some(Trend::Flat));
        assert_eq!(trend(PriceTypeStats::default()), None);
    }
}
