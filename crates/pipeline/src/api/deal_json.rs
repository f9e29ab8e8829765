//! The JSON bodies of `/api/deals` and `/api/deal-count`.
//!
//! Conventions, for every deal field:
//!
//! - money is two fields: `<name>_cents`, an integer number of cents (the
//!   value to compute with), and `<name>_display`, the same amount formatted
//!   for people (`"$1,200.50"`, `"-$5.00"`); both `null` when unknown;
//! - percentages are numbers in percent (`23.5` = 23.5 %) in fields ending in
//!   `_percent` or named `percent_down`; `seller_quality` is a share, 0–1;
//! - times are integer Unix seconds (`*_at`);
//! - unknown is `null`, never `"-"` or `0`.

use deal_store::{StoredDeal, condition_code};
use keepa_model::Cents;
use serde::Serialize;

/// `GET /api/deals`' body.
#[derive(Debug, Clone, Serialize)]
pub struct DealsBody {
    /// Where this page lies in the result.
    pub pagination: Pagination,
    /// The page's deals, in the requested order.
    pub deals: Vec<DealJson>,
}

/// The pagination block of `/api/deals`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pagination {
    /// Valid deals matching the filters, over all pages.
    pub total: u64,
    /// This page's number, from 1.
    pub page: u32,
    /// Deals per page.
    pub limit: u32,
    /// Number of pages: `ceil(total / limit)`, 0 when nothing matches.
    pub pages: u64,
}

impl Pagination {
    /// The block for `total` matches seen `limit` per page, on page `page`.
    pub fn new(total: u64, page: u32, limit: u32) -> Pagination {
        Pagination {
            total,
            page,
            limit,
            pages: total.div_ceil(u64::from(limit.max(1))),
        }
    }
}

/// `GET /api/deal-count`'s body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CountBody {
    /// Valid deals matching the filters.
    pub count: u64,
}

/// One deal as the API shows it (see the module documentation for units).
#[derive(Debug, Clone, Serialize)]
pub struct DealJson {
    /// The ASIN.
    pub asin: String,
    /// The product title.
    pub title: String,
    /// The brand.
    pub brand: Option<String>,
    /// Keepa's root category id.
    pub root_category: Option<u64>,
    /// The buy price's Keepa price type: 2 (Used) or 1 (New).
    pub buy_price_type: u16,
    /// Price now, cents.
    pub price_now_cents: i64,
    /// Price now, formatted.
    pub price_now_display: String,
    /// Shipping paid to the seller, cents.
    pub buy_shipping_cents: i64,
    /// Shipping paid to the seller, formatted.
    pub buy_shipping_display: String,
    /// Tax on the price now, cents.
    pub tax_cents: i64,
    /// Prep fee, cents.
    pub prep_fee_cents: i64,
    /// Inbound shipping, cents.
    pub inbound_shipping_cents: i64,
    /// All-in cost, cents.
    pub all_in_cost_cents: i64,
    /// All-in cost, formatted.
    pub all_in_cost_display: String,
    /// FBA pick-and-pack fee, cents.
    pub fba_fee_cents: i64,
    /// Whether the FBA fee is the configured default.
    pub fba_fee_is_default: bool,
    /// Referral fee, percent.
    pub referral_fee_percent: f64,
    /// Whether the referral fee is the configured default.
    pub referral_fee_is_default: bool,
    /// List at, cents.
    pub list_at_cents: Option<i64>,
    /// List at, formatted.
    pub list_at_display: Option<String>,
    /// Total Amazon fees, cents.
    pub total_fees_cents: Option<i64>,
    /// Total Amazon fees, formatted.
    pub total_fees_display: Option<String>,
    /// Profit, cents.
    pub profit_cents: Option<i64>,
    /// Profit, formatted.
    pub profit_display: Option<String>,
    /// Margin, percent.
    pub margin_percent: Option<f64>,
    /// Return on investment, percent.
    pub roi_percent: Option<f64>,
    /// Minimum listing price, cents.
    pub min_listing_price_cents: Option<i64>,
    /// Minimum listing price, formatted.
    pub min_listing_price_display: Option<String>,
    /// One-year average sale price, cents.
    pub one_year_average_cents: Option<i64>,
    /// One-year average sale price, formatted.
    pub one_year_average_display: Option<String>,
    /// Whether the one-year average is the fallback estimate.
    pub one_year_average_is_estimate: bool,
    /// Percent below the one-year average.
    pub percent_down: Option<f64>,
    /// Inferred sales in three years.
    pub inferred_sales: u32,
    /// Inferred sales in the last 365 days.
    pub inferred_sales_last_year: u32,
    /// Offer-count drops in three years.
    pub offer_drops: u32,
    /// Deal trust, percent.
    pub deal_trust_percent: Option<f64>,
    /// Sales rank now.
    pub sales_rank: Option<i64>,
    /// Sales-rank drops in 30 days.
    pub drops_30: Option<i32>,
    /// Sales-rank drops in 90 days.
    pub drops_90: Option<i32>,
    /// Sales-rank drops in 365 days.
    pub drops_365: Option<i32>,
    /// Price trend: `"up"`, `"flat"` or `"down"`.
    pub price_trend: Option<&'static str>,
    /// New offer-count trend.
    pub new_offer_trend: Option<&'static str>,
    /// Used offer-count trend.
    pub used_offer_trend: Option<&'static str>,
    /// Whether Amazon sells the product.
    pub amazon_sells: bool,
    /// Seller of the matched offer.
    pub seller_id: Option<String>,
    /// Whether the matched offer is FBA.
    pub seller_is_fba: Option<bool>,
    /// Condition of the matched offer, by the names `exclude_conditions` accepts.
    pub condition: Option<&'static str>,
    /// Keepa's numeric code of that condition.
    pub condition_code: Option<i64>,
    /// Seller quality, 0–1.
    pub seller_quality: Option<f64>,
    /// Whether the computed List at was implausible (and so dropped).
    pub list_at_implausible: bool,
    /// When Keepa last updated the product, Unix seconds.
    pub keepa_last_update_at: Option<i64>,
    /// When the deal was analysed, Unix seconds.
    pub analysed_at: i64,
    /// When the money figures were last recomputed, Unix seconds.
    pub refreshed_at: i64,
    /// When the deal was first stored, Unix seconds.
    pub first_seen_at: i64,
    /// When the deal was last stored, Unix seconds.
    pub last_seen_at: i64,
}

fn display(cents: Option<Cents>) -> Option<String> {
    cents.map(|cents| cents.to_string())
}

impl From<&StoredDeal> for DealJson {
    fn from(stored: &StoredDeal) -> DealJson {
        let deal = &stored.deal;
        DealJson {
            asin: deal.asin.as_str().to_owned(),
            title: deal.title.clone(),
            brand: deal.brand.clone(),
            root_category: deal.root_category,
            buy_price_type: deal.buy_price_type.0,
            price_now_cents: deal.price_now.0,
            price_now_display: deal.price_now.to_string(),
            buy_shipping_cents: deal.buy_shipping.0,
            buy_shipping_display: deal.buy_shipping.to_string(),
            tax_cents: deal.tax.0,
            prep_fee_cents: deal.prep_fee.0,
            inbound_shipping_cents: deal.inbound_shipping.0,
            all_in_cost_cents: deal.all_in_cost.0,
            all_in_cost_display: deal.all_in_cost.to_string(),
            fba_fee_cents: deal.fba_fee.0,
            fba_fee_is_default: deal.fba_fee_is_default,
            referral_fee_percent: deal.referral_fee_percent,
            referral_fee_is_default: deal.referral_fee_is_default,
            list_at_cents: deal.list_at.map(|cents| cents.0),
            list_at_display: display(deal.list_at),
            total_fees_cents: deal.total_fees.map(|cents| cents.0),
            total_fees_display: display(deal.total_fees),
            profit_cents: deal.profit.map(|cents| cents.0),
            profit_display: display(deal.profit),
            margin_percent: deal.margin_percent,
            roi_percent: deal.roi_percent,
            min_listing_price_cents: deal.min_listing_price.map(|cents| cents.0),
            min_listing_price_display: display(deal.min_listing_price),
            one_year_average_cents: deal.one_year_average.map(|cents| cents.0),
            one_year_average_display: display(deal.one_year_average),
            one_year_average_is_estimate: deal.one_year_average_is_estimate,
            percent_down: deal.percent_down,
            inferred_sales: deal.inferred_sales,
            inferred_sales_last_year: deal.inferred_sales_last_year,
            offer_drops: deal.offer_drops,
            deal_trust_percent: deal.deal_trust_percent,
            sales_rank: deal.sales_rank,
            drops_30: deal.drops_30,
            drops_90: deal.drops_90,
            drops_365: deal.drops_365,
            price_trend: deal.price_trend.map(|trend| trend.as_str()),
            new_offer_trend: deal.new_offer_trend.map(|trend| trend.as_str()),
            used_offer_trend: deal.used_offer_trend.map(|trend| trend.as_str()),
            amazon_sells: deal.amazon_sells,
            seller_id: deal.seller_id.clone(),
            seller_is_fba: deal.seller_is_fba,
            condition: deal.condition.map(|condition| condition.as_str()),
            condition_code: deal.condition.map(condition_code),
            seller_quality: deal.seller_quality,
            list_at_implausible: deal.list_at_implausible,
            keepa_last_update_at: deal
                .keepa_last_update
                .map(|minute| minute.to_unix_seconds().0),
            analysed_at: deal.analysed_at.0,
            refreshed_at: deal.refreshed_at.0,
            first_seen_at: stored.first_seen_at.0,
            last_seen_at: stored.last_seen_at.0,
        }
    }
}
