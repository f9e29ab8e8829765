//! The screening rule: a cheap yes/no before spending tokens on a full
//! `/product` fetch. It runs first on the `/deal` record (0 tokens), then on
//! the statistics of a `/product` fetch without offers (1 token).

use keepa_model::{Cents, DealInterval, DealRecord, PriceType, Stats};

use crate::RejectionReason;

/// A sell estimate below this rejects: $12.
pub const MIN_SELL_ESTIMATE: Cents = Cents(1_200);
/// The buy price may be at most this multiple of the sell estimate.
pub const MAX_BUY_TO_SELL_RATIO: f64 = 1.1;
/// The expected gain (sell − buy) / buy must be at least this, in percent.
pub const MIN_EXPECTED_GAIN_PERCENT: f64 = 20.0;

/// The screening rule on its inputs: reject when there is no buy price, no
/// sell estimate, a sell estimate below $12, a buy price above 1.1 × the sell
/// estimate, an expected gain (sell − buy) / buy below 20 %, or 365-day rank
/// drops that are known and below 1. The first failing condition is reported.
pub fn screen(
    buy_price: Option<Cents>,
    sell_estimate: Option<Cents>,
    rank_drops_365: Option<i32>,
) -> Result<(), RejectionReason> {
    let buy = buy_price
        .filter(|price| price.is_positive())
        .ok_or(RejectionReason::NoBuyPrice)?;
    let sell = sell_estimate
        .filter(|price| price.is_positive())
        .ok_or(RejectionReason::NoSellEstimate)?;
    if sell < MIN_SELL_ESTIMATE {
        return Err(RejectionReason::SellEstimateTooLow);
    }
    if buy.0 as f64 > MAX_BUY_TO_SELL_RATIO * sell.0 as f64 {
        return Err(RejectionReason::BuyAboveSellEstimate);
    }
    let gain_percent = (sell.0 - buy.0) as f64 / buy.0 as f64 * 100.0;
    if gain_percent < MIN_EXPECTED_GAIN_PERCENT {
        return Err(RejectionReason::GainTooSmall);
    }
    if rank_drops_365.is_some_and(|drops| drops < 1) {
        return Err(RejectionReason::NoRankDrops);
    }
    Ok(())
}

/// The sell estimate from statistics: the highest 90- or 365-day average over
/// the Used conditions (types 2, 19–22).
pub fn sell_estimate_from_stats(stats: &Stats) -> Option<Cents> {
    PriceType::USED_CONDITIONS
        .into_iter()
        .flat_map(|price_type| {
            let per_type = stats.get(price_type);
            [per_type.avg90, per_type.avg365]
        })
        .flatten()
        .filter(|average| *average > 0)
        .max()
        .map(Cents)
}

/// The screening rule on a product's statistics.
pub fn screen_stats(stats: &Stats) -> Result<(), RejectionReason> {
    let buy = crate::buy_price_from_stats(stats).map(|(_, price)| price);
    screen(
        buy,
        sell_estimate_from_stats(stats),
        stats.sales_rank_drops365,
    )
}

/// The part of the screening rule a `/deal` record decides conclusively.
///
/// A deal record has no 365-day averages, so its best sell figure (the
/// highest 90-day Used average) is only a lower bound of the real sell
/// estimate: a rejection for a low or missing sell estimate, a too-high buy
/// price or a small gain could be overturned by the statistics. This check
/// therefore rejects only for no buy price or known 365-day rank drops below 1,
/// and leaves the rest to [`screen_stats`].
pub fn screen_deal(deal: &DealRecord) -> Result<(), RejectionReason> {
    let buy = [PriceType::USED, PriceType::NEW]
        .into_iter()
        .find_map(|price_type| deal.current.get(price_type).and_then(Cents::from_keepa));
    if buy.is_none() {
        return Err(RejectionReason::NoBuyPrice);
    }
    if deal.sales_rank_drops365.is_some_and(|drops| drops < 1) {
        return Err(RejectionReason::NoRankDrops);
    }
    Ok(())
}

/// The highest 90-day Used average of a deal record (a lower bound of the
/// sell estimate; see [`screen_deal`]).
pub fn sell_estimate_lower_bound_from_deal(deal: &DealRecord) -> Option<Cents> {
    PriceType::USED_CONDITIONS
        .into_iter()
        .filter_map(|price_type| deal.avg(DealInterval::Quarter, price_type))
        .filter(|average| *average > 0)
        .max()
        .map(Cents)
}
