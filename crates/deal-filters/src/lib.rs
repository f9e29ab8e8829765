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
mod costs;
mod parse;
mod price_now;
mod rejection;
mod settings;
mod signals;

pub use analysed::{AnalysedDeal, Trend, validity_gate};
pub use costs::{
    AllInCost, Fees, all_in_cost, fees, margin_percent, min_listing_price, profit, roi_percent,
    total_fees,
};
pub use parse::{format_percent, parse_cents, parse_percent};
pub use price_now::{BuyPrice, buy_price_from_stats, price_now};
pub use rejection::RejectionReason;
pub use settings::{Settings, SettingsError};
pub use signals::{
    amazon_sells, deal_trust_percent, percent_down, seller_quality, trend, wilson_lower_bound,
};
