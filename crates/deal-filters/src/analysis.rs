//! The two entry points the pipeline calls: full analysis of a product, and
//! the light refresh of a stored deal from fresh statistics.

use keepa_model::{Cents, DealRecord, KeepaMinute, PriceType, Product, UnixSeconds};

use crate::costs::{self, Fees};
use crate::list_at::ONE_YEAR_MINUTES;
use crate::list_at::{list_at, one_year_average};
use crate::price_now::{BuyPrice, price_now};
use crate::sales::infer_sales;
use crate::signals;
use crate::{AnalysedDeal, RejectionReason, Settings};

/// The Keepa minute of `now`, saturating for instants Keepa minutes cannot hold.
fn keepa_now(now: UnixSeconds) -> KeepaMinute {
    KeepaMinute::from_unix_seconds(now).unwrap_or(if now.0 < 0 {
        KeepaMinute(i32::MIN)
    } else {
        KeepaMinute(i32::MAX)
    })
}

/// The money figures that depend on the buy price, fees and List at.
struct Money {
    tax: Cents,
    all_in_cost: Cents,
    total_fees: Option<Cents>,
    profit: Option<Cents>,
    margin_percent: Option<f64>,
    roi_percent: Option<f64>,
    min_listing_price: Option<Cents>,
    percent_down: Option<f64>,
}

fn money(
    buy: &BuyPrice,
    fees: &Fees,
    list_at: Option<Cents>,
    one_year_average: Option<Cents>,
    settings: &Settings,
) -> Result<Money, RejectionReason> {
    let overflow = RejectionReason::ArithmeticOverflow;
    let all_in = costs::all_in_cost(buy.price, buy.shipping, settings).ok_or(overflow)?;
    let (total_fees, profit) = match list_at {
        Some(list_at) => {
            let total_fees = costs::total_fees(list_at, fees).ok_or(overflow)?;
            let profit = costs::profit(list_at, all_in.total, total_fees).ok_or(overflow)?;
            (Some(total_fees), Some(profit))
        }
        None => (None, None),
    };
    Ok(Money {
        tax: all_in.tax,
        all_in_cost: all_in.total,
        total_fees,
        profit,
        margin_percent: profit
            .zip(list_at)
            .and_then(|(profit, list_at)| costs::margin_percent(profit, list_at)),
        roi_percent: profit.and_then(|profit| costs::roi_percent(profit, all_in.total)),
        min_listing_price: costs::min_listing_price(all_in.total, fees, settings),
        percent_down: one_year_average
            .and_then(|average| signals::percent_down(average, buy.price)),
    })
}

/// Full analysis of a product fetched with history, statistics and offers.
///
/// `deal` (the `/deal` record that surfaced the product, when there is one)
/// supplies the title, last update and sales rank where the product lacks
/// them. Rejects only when there is no buy price ([`RejectionReason::NoBuyPrice`])
/// or a money figure overflows; a deal that fails the validity gate is still
/// returned (deal-store keeps it, the API hides it): check
/// [`AnalysedDeal::is_valid`]. Screening is separate ([`crate::screen_stats`]).
pub fn analyse(
    product: &Product,
    deal: Option<&DealRecord>,
    settings: &Settings,
    now: UnixSeconds,
) -> Result<AnalysedDeal, RejectionReason> {
    let now_minute = keepa_now(now);
    let buy = price_now(product, settings).ok_or(RejectionReason::NoBuyPrice)?;
    let fees = costs::fees(product, settings);
    let inference = infer_sales(&product.histories, now_minute);
    let list = list_at(&inference.sales, &product.stats);
    let average = one_year_average(&inference.sales, &product.stats, now_minute);
    let money = money(&buy, &fees, list.list_at, average.average, settings)?;
    let stats = &product.stats;
    let year_start = now_minute.plus_minutes(-ONE_YEAR_MINUTES);
    let sales_last_year = inference
        .sales
        .iter()
        .filter(|sale| sale.at >= year_start)
        .count();
    let inferred_sales = u32::try_from(inference.sales.len()).unwrap_or(u32::MAX);
    let title = match (product.title.is_empty(), deal) {
        (true, Some(deal)) => deal.title.clone(),
        _ => product.title.clone(),
    };
    Ok(AnalysedDeal {
        asin: product.asin,
        title,
        brand: product.brand.clone(),
        root_category: product
            .root_category
            .or(deal.and_then(|deal| deal.root_category)),
        keepa_last_update: product.last_update.or(deal.map(|deal| deal.last_update)),
        analysed_at: now,
        refreshed_at: now,
        seller_quality: buy
            .seller_id
            .as_deref()
            .and_then(|seller| signals::seller_quality(product, seller)),
        buy_price_type: buy.price_type,
        price_now: buy.price,
        buy_shipping: buy.shipping,
        seller_id: buy.seller_id,
        seller_is_fba: buy.is_fba,
        condition: buy.condition,
        fba_fee: fees.fba_fee,
        fba_fee_is_default: fees.fba_fee_is_default,
        referral_fee_percent: fees.referral_percent,
        referral_fee_is_default: fees.referral_is_default,
        tax: money.tax,
        prep_fee: settings.prep_fee,
        inbound_shipping: settings.inbound_shipping,
        all_in_cost: money.all_in_cost,
        list_at: list.list_at,
        list_at_implausible: list.implausible,
        total_fees: money.total_fees,
        profit: money.profit,
        margin_percent: money.margin_percent,
        roi_percent: money.roi_percent,
        min_listing_price: money.min_listing_price,
        one_year_average: average.average,
        one_year_average_is_estimate: average.is_estimate,
        percent_down: money.percent_down,
        inferred_sales,
        inferred_sales_last_year: u32::try_from(sales_last_year).unwrap_or(u32::MAX),
        offer_drops: inference.offer_drops,
        deal_trust_percent: signals::deal_trust_percent(inferred_sales, inference.offer_drops),
        price_trend: signals::trend(stats.get(buy.price_type)),
        new_offer_trend: signals::trend(stats.get(PriceType::COUNT_NEW)),
        used_offer_trend: signals::trend(stats.get(PriceType::COUNT_USED)),
        sales_rank: stats
            .get(PriceType::SALES)
            .current
            .or(deal.and_then(|deal| deal.sales_rank)),
        drops_30: stats
            .sales_rank_drops30
            .or(deal.and_then(|deal| deal.sales_rank_drops30)),
        drops_90: stats
            .sales_rank_drops90
            .or(deal.and_then(|deal| deal.sales_rank_drops90)),
        drops_365: stats
            .sales_rank_drops365
            .or(deal.and_then(|deal| deal.sales_rank_drops365)),
        amazon_sells: signals::amazon_sells(product),
    })
}

/// Light refresh of a stored deal from a fresh statistics fetch (usually
/// without history or offers).
///
/// Kept from `previous`: List at (and its implausible flag), the one-year
/// average (and its estimate flag), the inferred-sales figures and deal trust,
/// `analysed_at`, and fees Keepa no longer reports. Recomputed: price now
/// (when the fresh statistics have one; the previous seller is kept when the
/// price is unchanged and no offers came with the fetch), the money figures,
/// percent down, trends, sales rank, drops and the Amazon flag.
/// `refreshed_at` becomes `now`.
///
/// When the fresh statistics have no buy price, or a figure would overflow,
/// the previous deal is returned with only `refreshed_at` and the
/// statistics-only signals updated; the janitor removes deals that stay gone.
pub fn refresh(
    previous: &AnalysedDeal,
    product: &Product,
    settings: &Settings,
    now: UnixSeconds,
) -> AnalysedDeal {
    let stats = &product.stats;
    let mut refreshed = previous.clone();
    refreshed.refreshed_at = now;
    if !stats.per_type.is_empty() {
        refreshed.new_offer_trend = signals::trend(stats.get(PriceType::COUNT_NEW));
        refreshed.used_offer_trend = signals::trend(stats.get(PriceType::COUNT_USED));
        refreshed.sales_rank = stats.get(PriceType::SALES).current.or(previous.sales_rank);
        refreshed.amazon_sells = signals::amazon_sells(product);
    }
    refreshed.drops_30 = stats.sales_rank_drops30.or(previous.drops_30);
    refreshed.drops_90 = stats.sales_rank_drops90.or(previous.drops_90);
    refreshed.drops_365 = stats.sales_rank_drops365.or(previous.drops_365);
    if product.last_update.is_some() {
        refreshed.keepa_last_update = product.last_update;
    }

    let Some(mut buy) = price_now(product, settings) else {
        return refreshed;
    };
    let unchanged_without_offers = product.offers.is_empty()
        && buy.price_type == previous.buy_price_type
        && buy.price == previous.price_now;
    if unchanged_without_offers {
        buy.shipping = previous.buy_shipping;
        buy.seller_id = previous.seller_id.clone();
        buy.is_fba = previous.seller_is_fba;
        buy.condition = previous.condition;
    }
    let fresh_fees = costs::fees(product, settings);
    let fees = Fees {
        fba_fee: if fresh_fees.fba_fee_is_default {
            previous.fba_fee
        } else {
            fresh_fees.fba_fee
        },
        fba_fee_is_default: fresh_fees.fba_fee_is_default && previous.fba_fee_is_default,
        referral_percent: if fresh_fees.referral_is_default {
            previous.referral_fee_percent
        } else {
            fresh_fees.referral_percent
        },
        referral_is_default: fresh_fees.referral_is_default && previous.referral_fee_is_default,
    };
    let Ok(money) = money(
        &buy,
        &fees,
        previous.list_at,
        previous.one_year_average,
        settings,
    ) else {
        return refreshed;
    };
    refreshed.price_trend = signals::trend(stats.get(buy.price_type));
    refreshed.seller_quality = match &buy.seller_id {
        Some(seller) if !product.sellers.is_empty() => signals::seller_quality(product, seller),
        Some(_) if unchanged_without_offers => previous.seller_quality,
        _ => None,
    };
    refreshed.buy_price_type = buy.price_type;
    refreshed.price_now = buy.price;
    refreshed.buy_shipping = buy.shipping;
    refreshed.seller_id = buy.seller_id;
    refreshed.seller_is_fba = buy.is_fba;
    refreshed.condition = buy.condition;
    refreshed.fba_fee = fees.fba_fee;
    refreshed.fba_fee_is_default = fees.fba_fee_is_default;
    refreshed.referral_fee_percent = fees.referral_percent;
    refreshed.referral_fee_is_default = fees.referral_is_default;
    refreshed.tax = money.tax;
    refreshed.prep_fee = settings.prep_fee;
    refreshed.inbound_shipping = settings.inbound_shipping;
    refreshed.all_in_cost = money.all_in_cost;
    refreshed.total_fees = money.total_fees;
    refreshed.profit = money.profit;
    refreshed.margin_percent = money.margin_percent;
    refreshed.roi_percent = money.roi_percent;
    refreshed.min_listing_price = money.min_listing_price;
    refreshed.percent_down = money.percent_down;
    refreshed
}
