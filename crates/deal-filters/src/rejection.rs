//! Why a deal was rejected: one enum for the screening rule, the analysis and
//! the validity gate, with a stable code for storage and metrics, so
//! diagnostics can count rejections by reason.

use std::fmt;

/// Why a product is not (or not yet) a deal worth showing.
///
/// [`RejectionReason::as_str`] is a stable snake_case code that deal-store
/// persists and metrics label by; never change an existing code.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectionReason {
    /// Screening/analysis: neither a current Used nor a current New price.
    NoBuyPrice,
    /// Screening: no 90- or 365-day average among the Used conditions.
    NoSellEstimate,
    /// Screening: the sell estimate is below $12.
    SellEstimateTooLow,
    /// Screening: the buy price is above 1.1 × the sell estimate.
    BuyAboveSellEstimate,
    /// Screening: expected gain (sell − buy) / buy below 20 %.
    GainTooSmall,
    /// Screening: 365-day sales-rank drops known and below 1 (nothing sells).
    NoRankDrops,
    /// Validity gate: profit unknown, zero or negative.
    NotProfitable,
    /// Validity gate: List at unknown (no sales, over $1,500 or implausible) or zero.
    NoListAt,
    /// Validity gate: one-year average unknown or zero.
    NoOneYearAverage,
    /// Analysis: a money figure would not fit in 64 bits (corrupt input).
    ArithmeticOverflow,
}

impl RejectionReason {
    /// Every reason, for metrics that must report zero counts too.
    pub const ALL: [RejectionReason; 10] = [
        RejectionReason::NoBuyPrice,
        RejectionReason::NoSellEstimate,
        RejectionReason::SellEstimateTooLow,
        RejectionReason::BuyAboveSellEstimate,
        RejectionReason::GainTooSmall,
        RejectionReason::NoRankDrops,
        RejectionReason::NotProfitable,
        RejectionReason::NoListAt,
        RejectionReason::NoOneYearAverage,
        RejectionReason::ArithmeticOverflow,
    ];

    /// The stable code stored in the database and used as a metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionReason::NoBuyPrice => "no_buy_price",
            RejectionReason::NoSellEstimate => "no_sell_estimate",
            RejectionReason::SellEstimateTooLow => "sell_estimate_too_low",
            RejectionReason::BuyAboveSellEstimate => "buy_above_sell_estimate",
            RejectionReason::GainTooSmall => "gain_too_small",
            RejectionReason::NoRankDrops => "no_rank_drops",
            RejectionReason::NotProfitable => "not_profitable",
            RejectionReason::NoListAt => "no_list_at",
            RejectionReason::NoOneYearAverage => "no_one_year_average",
            RejectionReason::ArithmeticOverflow => "arithmetic_overflow",
        }
    }

    /// The reason for a stored code, `None` for an unknown code.
    pub fn from_code(code: &str) -> Option<RejectionReason> {
        RejectionReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == code)
    }
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            RejectionReason::NoBuyPrice => "no current used or new price",
            RejectionReason::NoSellEstimate => "no 90- or 365-day used average",
            RejectionReason::SellEstimateTooLow => "sell estimate below $12",
            RejectionReason::BuyAboveSellEstimate => "buy price above 1.1 x sell estimate",
            RejectionReason::GainTooSmall => "expected gain below 20%",
            RejectionReason::NoRankDrops => "no sales-rank drops in 365 days",
            RejectionReason::NotProfitable => "profit unknown or not above zero",
            RejectionReason::NoListAt => "list at unknown or zero",
            RejectionReason::NoOneYearAverage => "one-year average unknown or zero",
            RejectionReason::ArithmeticOverflow => "a money figure overflowed",
        };
        formatter.write_str(text)
    }
}

impl std::error::Error for RejectionReason {}
