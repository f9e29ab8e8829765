//! Property tests of the rules: parsing, money, the gate, List at, and
//! inferred sales against an obviously-correct reference implementation.

use deal_filters::{
    AnalysedDeal, Settings, analyse, format_percent, infer_sales, list_at, parse_cents,
    parse_percent, percent_down,
};
use keepa_model::{
    Cents, Histories, HistoryPoint, KeepaMinute, PriceType, PriceTypeStats, Series, Stats,
};
use proptest::prelude::*;

use crate::support::{NOW_MINUTE, generated_product, now_seconds, stats_with};

/// Keepa's prices fit in 31 bits; ranges used for money properties.
const KEEPA_PRICE: std::ops::RangeInclusive<i64> = 0..=i32::MAX as i64;

proptest! {
    #[test]
    fn parsing_never_panics(text in ".*") {
        let _ = parse_cents(&text);
        let _ = parse_percent(&text);
    }

    #[test]
    fn parsing_money_like_strings_never_panics(text in "[-+$0-9,. ]{0,30}") {
        let _ = parse_cents(&text);
    }

    #[test]
    fn formatted_money_round_trips(cents in any::<i64>()) {
        prop_assert_eq!(parse_cents(&Cents(cents).to_string()), Some(Cents(cents)));
    }

    #[test]
    fn formatted_percent_round_trips(value in -1.0e6f64..1.0e6) {
        prop_assert_eq!(parse_percent(&format_percent(value)), Some(value));
    }

    #[test]
    fn analysis_never_overflows_in_keepa_ranges(
        used in KEEPA_PRICE, amazon in KEEPA_PRICE, fee in KEEPA_PRICE, referral in 0.0f64..99.0, seed in 0u64..50,
    ) {
        let mut product = generated_product(seed);
        let mut stats = product.stats.clone();
        stats.per_type[PriceType::USED.index()].current = Some(used);
        if stats.per_type.is_empty() { stats = Stats::default(); }
        stats = merge(stats, PriceType::AMAZON, PriceTypeStats { current: Some(amazon), ..PriceTypeStats::default() });
        product.stats = stats;
        product.fba_pick_and_pack_fee = Some(Cents(fee));
        product.referral_fee_percent = Some(referral);
        let deal = analyse(&product, None, &Settings::default(), now_seconds());
        prop_assert!(deal.is_ok(), "{deal:?}");
    }

    #[test]
    fn profit_margin_and_roi_agree(seed in 0u64..200) {
        let deal = analyse(&generated_product(seed), None, &Settings::default(), now_seconds()).unwrap();
        if let (Some(profit), Some(list_at), Some(fees)) = (deal.profit, deal.list_at, deal.total_fees) {
            prop_assert_eq!(profit.0, list_at.0 - deal.all_in_cost.0 - fees.0);
            if let Some(margin) = deal.margin_percent {
                prop_assert!((margin / 100.0 * list_at.0 as f64 - profit.0 as f64).abs() < 1e-6);
            }
            let roi = deal.roi_percent.unwrap();
            prop_assert!((roi / 100.0 * deal.all_in_cost.0 as f64 - profit.0 as f64).abs() < 1e-6);
            prop_assert_eq!(profit.0 > 0, roi > 0.0);
        } else {
            prop_assert!(deal.profit.is_none() && deal.margin_percent.is_none() && deal.roi_percent.is_none());
        }
    }

    #[test]
    fn percent_down_is_between_0_and_100(average in any::<i64>(), price in any::<i64>()) {
        if let Some(percent) = percent_down(Cents(average), Cents(price)) {
            prop_assert!((0.0..=100.0).contains(&percent));
        }
    }

    #[test]
    fn list_at_never_exceeds_the_amazon_cap_or_1500_dollars(
        prices in proptest::collection::vec(1i64..400_000, 0..12),
        amazon in proptest::option::of(1i64..400_000),
        used_now in proptest::option::of(1i64..400_000),
    ) {
        let sales: Vec<deal_filters::InferredSale> = prices.iter().enumerate().map(|(day, &price)| deal_filters::InferredSale {
            at: KeepaMinute(NOW_MINUTE.0 - day as i32 * 1440 * 20),
            price: Cents(price),
            condition: deal_filters::SaleCondition::Used,
        }).collect();
        let mut entries = vec![];
        if let Some(amazon) = amazon {
            entries.push((PriceType::AMAZON, PriceTypeStats { avg365: Some(amazon), ..PriceTypeStats::default() }));
        }
        if let Some(used) = used_now {
            entries.push((PriceType::USED, PriceTypeStats { current: Some(used), ..PriceTypeStats::default() }));
        }
        let result = list_at(&sales, &stats_with(&entries));
        if let Some(price) = result.list_at {
            prop_assert!(price <= Cents(150_000));
            if let Some(amazon) = amazon {
                prop_assert!(price.0 <= (amazon as f64 * 0.9).round() as i64);
            }
            if let Some(used) = used_now {
                prop_assert!(price.0 <= 3 * used);
            }
        }
    }

    #[test]
    fn validity_gate_is_exactly_profit_list_at_and_average_positive(
        profit in proptest::option::of(-1_000i64..1_000),
        list_at in proptest::option::of(-10i64..1_000),
        average in proptest::option::of(-10i64..1_000),
        seed in 0u64..20,
    ) {
        let base = analyse(&generated_product(seed), None, &Settings::default(), now_seconds()).unwrap();
        let deal = AnalysedDeal {
            profit: profit.map(Cents),
            list_at: list_at.map(Cents),
            one_year_average: average.map(Cents),
            ..base
        };
        let expected = profit.is_some_and(|value| value > 0)
            && list_at.is_some_and(|value| value > 0)
            && average.is_some_and(|value| value > 0);
        prop_assert_eq!(deal.is_valid(), expected);
    }

    #[test]
    fn inferred_sales_match_the_reference(
        used_counts in small_series(), new_counts in small_series(), ranks in small_series(),
        used_prices in small_series(), new_prices in small_series(),
    ) {
        let mut histories = Histories::default();
        histories.insert(PriceType::COUNT_USED, used_counts);
        histories.insert(PriceType::COUNT_NEW, new_counts);
        histories.insert(PriceType::SALES, ranks);
        histories.insert(PriceType::USED, used_prices);
        histories.insert(PriceType::NEW, new_prices);
        let now = KeepaMinute(3 * 365 * 1440 + 30_000);
        let actual = infer_sales(&histories, now);
        let (expected_sales, expected_drops) = reference::infer(&histories, now);
        prop_assert_eq!(actual.offer_drops as usize, expected_drops);
        let actual: Vec<(i32, i64, bool)> = actual.sales.iter()
            .map(|sale| (sale.at.0, sale.price.0, sale.condition == deal_filters::SaleCondition::New)).collect();
        prop_assert_eq!(actual, expected_sales);
    }
}

fn merge(mut stats: Stats, price_type: PriceType, entry: PriceTypeStats) -> Stats {
    if stats.per_type.len() <= price_type.index() {
        stats
            .per_type
            .resize(price_type.index() + 1, PriceTypeStats::default());
    }
    stats.per_type[price_type.index()] = entry;
    stats
}

/// A series with strictly increasing times over about 3 years and a bit,
/// values in a small range (so drops are frequent) and some unknown points.
fn small_series() -> impl Strategy<Value = Series> {
    proptest::collection::vec(
        (1i32..40_000, proptest::option::weighted(0.9, 0i64..8)),
        0..60,
    )
    .prop_map(|steps| {
        let mut at = 0;
        Series(
            steps
                .into_iter()
                .map(|(gap, value)| {
                    at += gap;
                    HistoryPoint {
                        at: KeepaMinute(at),
                        value: value.map(|value| value * 100),
                        shipping: None,
                    }
                })
                .collect(),
        )
    })
}

/// The rule written out as directly as possible, quadratic and all.
mod reference {
    use keepa_model::{Histories, KeepaMinute, PriceType, Series};

    fn decreases(series: Option<&Series>) -> Vec<i32> {
        let mut result = vec![];
        let known: Vec<_> = series
            .map(|series| {
                series
                    .points()
                    .iter()
                    .filter(|point| point.value.is_some())
                    .collect()
            })
            .unwrap_or_default();
        for pair in known.windows(2) {
            if pair[1].value < pair[0].value {
                result.push(pair[1].at.0);
            }
        }
        result
    }

    fn nearest(series: Option<&Series>, at: i32) -> Option<i64> {
        let series = series?;
        series
            .points()
            .iter()
            .filter(|point| point.value.is_some())
            .min_by_key(|point| ((point.at.0 as i64 - at as i64).abs(), point.at.0))
            .and_then(|point| point.value)
    }

    fn quantile(sorted: &[i64], fraction: f64) -> f64 {
        let position = fraction * (sorted.len() - 1) as f64;
        let (low, high) = (position.floor() as usize, position.ceil() as usize);
        sorted[low] as f64 + (sorted[high] - sorted[low]) as f64 * (position - low as f64)
    }

    /// Returns sales as (minute, price, is_new) and the number of offer drops.
    pub(super) fn infer(histories: &Histories, now: KeepaMinute) -> (Vec<(i32, i64, bool)>, usize) {
        let start = now.0 - 3 * 365 * 1440;
        let mut offer_drops: Vec<(i32, bool)> = vec![];
        for at in decreases(histories.get(PriceType::COUNT_NEW)) {
            offer_drops.push((at, true));
        }
        for at in decreases(histories.get(PriceType::COUNT_USED)) {
            offer_drops.push((at, false));
        }
        offer_drops.retain(|(at, _)| *at >= start && *at <= now.0);
        // New before Used at the same minute.
        offer_drops.sort_by_key(|(at, is_new)| (*at, !*is_new));
        let rank_drops = decreases(histories.get(PriceType::SALES));
        let mut used = vec![false; rank_drops.len()];
        let mut sales = vec![];
        for &(at, is_new) in &offer_drops {
            let candidate = (0..rank_drops.len()).find(|&index| {
                !used[index] && rank_drops[index] >= at && rank_drops[index] - at <= 240 * 60
            });
            if let Some(index) = candidate {
                used[index] = true;
                let prices = histories.get(if is_new {
                    PriceType::NEW
                } else {
                    PriceType::USED
                });
                if let Some(price) = nearest(prices, at) {
                    sales.push((at, price, is_new));
                }
            }
        }
        if !sales.is_empty() {
            let mut prices: Vec<i64> = sales.iter().map(|sale| sale.1).collect();
            prices.sort_unstable();
            let (q1, q3) = (quantile(&prices, 0.25), quantile(&prices, 0.75));
            let iqr = q3 - q1;
            sales.retain(|sale| sale.1 as f64 >= q1 - 1.5 * iqr && sale.1 as f64 <= q3 + 1.5 * iqr);
        }
        (sales, offer_drops.len())
    }
}
