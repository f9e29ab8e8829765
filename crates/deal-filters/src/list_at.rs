//! List at (the price to sell at) and the one-year average sale price, both
//! from inferred sales, with the caps and fallbacks of DESIGN.md §7.

use std::collections::BTreeMap;

use keepa_model::{Cents, KeepaMinute, PriceType, Stats};

use crate::sales::InferredSale;

/// List at above this is treated as unknown: $1,500.
pub const LIST_AT_CEILING: Cents = Cents(150_000);
/// List at is capped at this share of Amazon's lowest current/180/365-day price.
pub const AMAZON_CAP_RATIO: f64 = 0.9;
/// List at above this multiple of the current Used price is implausible.
pub const IMPLAUSIBLE_MULTIPLE_OF_USED: i64 = 3;
/// The one-year window, in minutes.
pub const ONE_YEAR_MINUTES: i64 = 365 * 24 * 60;

/// The result of the List at rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListAt {
    /// The price to list at; `None` when unknown.
    pub list_at: Option<Cents>,
    /// True when the computed price exceeded 3 × the current Used price (and so was discarded).
    pub implausible: bool,
}

/// The median of prices (the mean of the two middle ones, rounded half up, for an even count).
pub fn median(prices: &[Cents]) -> Option<Cents> {
    let mut sorted: Vec<i64> = prices.iter().map(|price| price.0).collect();
    sorted.sort_unstable();
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        length if length % 2 == 1 => Some(Cents(sorted[middle])),
        _ => Some(Cents(
            (sorted[middle - 1] + sorted[middle] + 1).div_euclid(2),
        )),
    }
}

/// The calendar month (UTC) of a Keepa minute, as `year × 12 + month − 1`.
pub fn calendar_month(instant: KeepaMinute) -> i64 {
    let days = instant.to_unix_seconds().0.div_euclid(86_400);
    // Howard Hinnant's civil-from-days algorithm.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    year * 12 + month - 1
}

/// The List at price before caps, from the sales: with ≥ 3 sales, the best
/// month by median price (the later month on ties), then that month's most
/// common price when one price occurs at least twice and more often than any
/// other, else that month's median; with 1–2 sales their median; none → `None`.
pub fn list_at_from_sales(sales: &[InferredSale]) -> Option<Cents> {
    if sales.len() < 3 {
        return median(&sales.iter().map(|sale| sale.price).collect::<Vec<_>>());
    }
    let mut by_month: BTreeMap<i64, Vec<Cents>> = BTreeMap::new();
    for sale in sales {
        by_month
            .entry(calendar_month(sale.at))
            .or_default()
            .push(sale.price);
    }
    let mut best: Option<(Cents, &Vec<Cents>)> = None;
    for prices in by_month.values() {
        let month_median = median(prices)?;
        if best.is_none_or(|(best_median, _)| month_median >= best_median) {
            best = Some((month_median, prices));
        }
    }
    let (month_median, prices) = best?;
    let mut counts: BTreeMap<Cents, usize> = BTreeMap::new();
    for price in prices {
        *counts.entry(*price).or_default() += 1;
    }
    let highest_count = counts.values().copied().max().unwrap_or(0);
    let mut most_common = counts.iter().filter(|(_, count)| **count == highest_count);
    match (most_common.next(), most_common.next()) {
        (Some((price, _)), None) if highest_count >= 2 => Some(*price),
        _ => Some(month_median),
    }
}

/// The List at rule: the price from [`list_at_from_sales`], capped at 90 % of
/// the lowest known of Amazon's current, 180-day and 365-day averages; above
/// $1,500 it is unknown; above 3 × the current Used price it is unknown and
/// flagged implausible.
pub fn list_at(sales: &[InferredSale], stats: &Stats) -> ListAt {
    let unknown = ListAt {
        list_at: None,
        implausible: false,
    };
    let Some(mut price) = list_at_from_sales(sales) else {
        return unknown;
    };
    let amazon = stats.get(PriceType::AMAZON);
    let lowest_amazon = [amazon.current, amazon.avg180, amazon.avg365]
        .into_iter()
        .flatten()
        .filter(|price| *price > 0)
        .min();
    if let Some(cap) =
        lowest_amazon.and_then(|lowest| Cents(lowest).checked_mul_ratio(AMAZON_CAP_RATIO))
    {
        price = price.min(cap);
    }
    if price > LIST_AT_CEILING {
        return unknown;
    }
    let used_now = stats
        .get(PriceType::USED)
        .current
        .filter(|price| *price > 0);
    if used_now.is_some_and(|used| price.0 > used.saturating_mul(IMPLAUSIBLE_MULTIPLE_OF_USED)) {
        return ListAt {
            list_at: None,
            implausible: true,
        };
    }
    ListAt {
        list_at: Some(price),
        implausible: false,
    }
}

/// The one-year average sale price and whether it is an estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneYearAverage {
    /// The average; `None` when neither sales nor statistics give one.
    pub average: Option<Cents>,
    /// True when it is the fallback from statistics rather than from sales.
    pub is_estimate: bool,
}

/// The mean of the inferred sales of the 365 days up to `now` (rounded to the
/// cent); without any, the highest 365-day average among the Used conditions
/// (types 2, 19–22), marked as an estimate.
pub fn one_year_average(sales: &[InferredSale], stats: &Stats, now: KeepaMinute) -> OneYearAverage {
    let year_start = now.plus_minutes(-ONE_YEAR_MINUTES);
    let last_year: Vec<i64> = sales
        .iter()
        .filter(|sale| sale.at >= year_start && sale.at <= now)
        .map(|sale| sale.price.0)
        .collect();
    if !last_year.is_empty() {
        let sum: i128 = last_year.iter().map(|&price| i128::from(price)).sum();
        let count = last_year.len() as i128;
        let mean = (2 * sum + count).div_euclid(2 * count);
        return OneYearAverage {
            average: i64::try_from(mean).ok().map(Cents),
            is_estimate: false,
        };
    }
    let fallback = PriceType::USED_CONDITIONS
        .into_iter()
        .filter_map(|price_type| stats.get(price_type).avg365)
        .filter(|average| *average > 0)
        .max();
    OneYearAverage {
        average: fallback.map(Cents),
        is_estimate: fallback.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sales::SaleCondition;

    #[test]
    fn calendar_month_of_known_dates() {
        // Keepa minute 0 is 2011-01-01; 8075762 is 2026-05-10.
        assert_eq!(calendar_month(KeepaMinute(0)), 2011 * 12);
        assert_eq!(calendar_month(KeepaMinute(8_075_762)), 2026 * 12 + 4);
        // 2012-02-29 23:59 (leap day) and 2012-03-01 00:00.
        let leap_day_end = KeepaMinute((365 + 31 + 29) * 1440 - 1);
        assert_eq!(calendar_month(leap_day_end), 2012 * 12 + 1);
        assert_eq!(calendar_month(leap_day_end.plus_minutes(1)), 2012 * 12 + 2);
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[Cents(3), Cents(1), Cents(2)]), Some(Cents(2)));
        assert_eq!(median(&[Cents(1), Cents(2)]), Some(Cents(2)));
        assert_eq!(median(&[Cents(10), Cents(20)]), Some(Cents(15)));
    }

    fn sale(day: i32, price: i64) -> InferredSale {
        InferredSale {
            at: KeepaMinute(day * 1440),
            price: Cents(price),
            condition: SaleCondition::Used,
        }
    }

    #[test]
    fn best_month_most_common_price() {
        // January: 1000, 1000, 1500 (median 1000); February: 1200, 1300 (median 1250).
        let sales = [
            sale(1, 1000),
            sale(2, 1000),
            sale(3, 1500),
            sale(40, 1200),
            sale(41, 1300),
        ];
        assert_eq!(list_at_from_sales(&sales), Some(Cents(1250)));
        // February gets a repeated price: 1200 twice.
        let sales = [
            sale(1, 1000),
            sale(2, 1000),
            sale(40, 1200),
            sale(41, 1300),
            sale(42, 1200),
        ];
        assert_eq!(list_at_from_sales(&sales), Some(Cents(1200)));
    }
}
