//! The analysed deal: the record deal-store persists and the HTTP API shows,
//! and the validity gate that decides whether the API shows it. Plain data;
//! the computations live in the other modules.

use keepa_model::{Asin, Cents, KeepaMinute, OfferCondition, PriceType, UnixSeconds};

use crate::RejectionReason;

/// Direction of a value against its 90-day average (±5 % counts as flat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// More than 5 % above the 90-day average.
    Up,
    /// Within 5 % of the 90-day average.
    Flat,
    /// More than 5 % below the 90-day average.
    Down,
}

impl Trend {
    /// A stable code for storage (`"up"`, `"flat"`, `"down"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Trend::Up => "up",
            Trend::Flat => "flat",
            Trend::Down => "down",
        }
    }
}

/// Everything the product decides about one deal. Money in integer cents,
/// percentages as `f64` in percent (23.5 = 23.5 %), `None` for unknown.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnalysedDeal {
    /// The product's ASIN.
    pub asin: Asin,
    /// The product's title.
    pub title: String,
    /// The brand, if known.
    pub brand: Option<String>,
    /// The root category id, if known.
    pub root_category: Option<u64>,
    /// When Keepa last updated the product or deal, if known.
    pub keepa_last_update: Option<KeepaMinute>,
    /// When the deal was first analysed in depth.
    pub analysed_at: UnixSeconds,
    /// When the money figures were last recomputed (analysis or refresh).
    pub refreshed_at: UnixSeconds,

    /// Which statistic the buy price comes from: [`PriceType::USED`] or [`PriceType::NEW`].
    pub buy_price_type: PriceType,
    /// The current buy price (item only, without shipping).
    pub price_now: Cents,
    /// Shipping paid to the seller: 0 for FBA, the offer's shipping, or the default.
    pub buy_shipping: Cents,
    /// The seller of the live offer matching the price, if one matched.
    pub seller_id: Option<String>,
    /// Whether the matched offer is fulfilled by Amazon; `None` when no offer matched.
    pub seller_is_fba: Option<bool>,
    /// Condition of the matched offer, if one matched.
    pub condition: Option<OfferCondition>,
    /// Wilson lower bound (z = 1.96) of the seller's positive-rating share, 0–1; `None` when unknown.
    pub seller_quality: Option<f64>,

    /// FBA pick-and-pack fee (Keepa's, or the default).
    pub fba_fee: Cents,
    /// True when `fba_fee` is the configured default.
    pub fba_fee_is_default: bool,
    /// Referral fee in percent (Keepa's, or the default).
    pub referral_fee_percent: f64,
    /// True when `referral_fee_percent` is the configured default.
    pub referral_fee_is_default: bool,
    /// Sales tax on the price now (0 when exempt).
    pub tax: Cents,
    /// Prep fee from the settings.
    pub prep_fee: Cents,
    /// Inbound shipping from the settings.
    pub inbound_shipping: Cents,
    /// Price now + buy shipping + tax + prep fee + inbound shipping.
    pub all_in_cost: Cents,

    /// The price to list at; `None` when unknown (no sales, above $1,500, implausible).
    pub list_at: Option<Cents>,
    /// True when a List at was computed but exceeded 3 × the current Used price.
    pub list_at_implausible: bool,
    /// List at × referral % + FBA fee; `None` without a List at.
    pub total_fees: Option<Cents>,
    /// List at − all-in cost − total fees; `None` without a List at.
    pub profit: Option<Cents>,
    /// Profit / List at, in percent.
    pub margin_percent: Option<f64>,
    /// Profit / all-in cost, in percent.
    pub roi_percent: Option<f64>,
    /// (All-in cost + FBA fee) / (1 − markup − referral %); `None` when the denominator is not positive.
    pub min_listing_price: Option<Cents>,

    /// Mean of the inferred sales of the last 365 days, or the fallback.
    pub one_year_average: Option<Cents>,
    /// True when `one_year_average` is the fallback (highest Used 365-day average).
    pub one_year_average_is_estimate: bool,
    /// (One-year average − price now) / one-year average in percent, in [0, 100].
    pub percent_down: Option<f64>,

    /// Inferred sales in the last 3 years (after dropping outliers).
    pub inferred_sales: u32,
    /// Inferred sales in the last 365 days.
    pub inferred_sales_last_year: u32,
    /// Offer-count drops (New and Used) in the last 3 years.
    pub offer_drops: u32,
    /// Inferred sales / offer drops, in percent; `None` without offer drops.
    pub deal_trust_percent: Option<f64>,

    /// The buy price type's current value against its 90-day average.
    pub price_trend: Option<Trend>,
    /// New offer count against its 90-day average.
    pub new_offer_trend: Option<Trend>,
    /// Used offer count against its 90-day average.
    pub used_offer_trend: Option<Trend>,
    /// Current sales rank (lower sells more).
    pub sales_rank: Option<i64>,
    /// Sales-rank drops in the last 30 days.
    pub drops_30: Option<i32>,
    /// Sales-rank drops in the last 90 days.
    pub drops_90: Option<i32>,
    /// Sales-rank drops in the last 365 days.
    pub drops_365: Option<i32>,
    /// Whether Amazon itself currently sells the product.
    pub amazon_sells: bool,
}

impl AnalysedDeal {
    /// The validity gate: profit > 0, List at known and > 0, one-year average
    /// known and > 0. deal-store's SQL filter must select exactly these deals.
    pub fn is_valid(&self) -> bool {
        self.validity().is_ok()
    }

    /// The validity gate with the reason of the first failing condition.
    pub fn validity(&self) -> Result<(), RejectionReason> {
        validity_gate(self.profit, self.list_at, self.one_year_average)
    }
}

/// The validity gate on its three inputs (see [`AnalysedDeal::is_valid`]).
pub fn validity_gate(
    profit: Option<Cents>,
    list_at: Option<Cents>,
    one_year_average: Option<Cents>,
) -> Result<(), RejectionReason> {
    if !list_at.is_some_and(Cents::is_positive) {
        return Err(RejectionReason::NoListAt);
    }
    if !one_year_average.is_some_and(Cents::is_positive) {
        return Err(RejectionReason::NoOneYearAverage);
    }
    if !profit.is_some_and(Cents::is_positive) {
        return Err(RejectionReason::NotProfitable);
    }
    Ok(())
}
