//! The deal rules of keepa-deals, pure: no IO, no async runtime, no SQLite,
//! no HTTP. Everything the product decides about a deal lives here, in one
//! place a reader can follow: parsing the numbers users and legacy exports
//! write, the business calculations of DESIGN.md §7, the screening rule, the
//! validity gate and the typed rejection reasons.
//!
//! Inputs are the domain types of `keepa-model` ([`keepa_model::Product`],
//! [`keepa_model::DealRecord`]); outputs are [`AnalysedDeal`] (what deal-store
//! persists and the API shows) or a [`RejectionReason`]. Time enters only as a
//! `now` argument.
//!
//! Money is [`keepa_model::Cents`] (integer cents, checked arithmetic);
//! percentages are `f64` in percent; unknown is `None`, never `0` or `"-"`.

mod analysed;
mod analysis;
mod costs;
mod list_at;
mod parse;
mod price_now;
mod rejection;
mod sales;
mod screening;
mod settings;
mod signals;

pub use analysed::{AnalysedDeal, Trend, validity_gate};
pub use analysis::{analyse, refresh};
pub use costs::{
    AllInCost, Fees, all_in_cost, fees, margin_percent, min_listing_price, profit, roi_percent,
    total_fees,
};
pub use list_at::{
    AMAZON_CAP_RATIO, IMPLAUSIBLE_MULTIPLE_OF_USED, LIST_AT_CEILING, ListAt, ONE_YEAR_MINUTES,
    OneYearAverage, calendar_month, list_at, list_at_from_sales, median, one_year_average,
};
pub use parse::{format_percent, parse_cents, parse_percent};
pub use price_now::{BuyPrice, buy_price_from_stats, price_now};
pub use rejection::RejectionReason;
pub use sales::{
    InferredSale, RANK_DROP_WINDOW_MINUTES, SALES_WINDOW_MINUTES, SaleCondition, SalesInference,
    drop_price_outliers, drops, infer_sales, nearest_price,
};
pub use screening::{
    MAX_BUY_TO_SELL_RATIO, MIN_EXPECTED_GAIN_PERCENT, MIN_SELL_ESTIMATE, screen, screen_deal,
    screen_stats, sell_estimate_from_stats, sell_estimate_lower_bound_from_deal,
};
pub use settings::{Settings, SettingsError};
pub use signals::{
    amazon_sells, deal_trust_percent, percent_down, seller_quality, trend, wilson_lower_bound,
};
