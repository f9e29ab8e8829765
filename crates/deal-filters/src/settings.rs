//! The seller's settings that the business calculations depend on, with the
//! documented defaults and validation that names the offending field. Parsing
//! them from flags or TOML is the binary's job; this module receives numbers.

use keepa_model::Cents;

/// The seller's cost assumptions. Every field has a default (see
/// [`Settings::default`]); deserialising fills missing fields from it.
///
/// ```
/// let settings = deal_filters::Settings::default();
/// assert_eq!(settings.prep_fee.0, 275);
/// assert!(settings.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Preparation cost per unit (labelling, bagging). Default $2.75.
    pub prep_fee: Cents,
    /// Cost of sending one unit into Amazon's warehouse, always part of the
    /// all-in cost. Default $3.99.
    pub inbound_shipping: Cents,
    /// Shipping assumed for a merchant-fulfilled offer whose shipping is
    /// unknown, or when no live offer matches the price. Default $3.99.
    pub default_merchant_shipping: Cents,
    /// Sales tax paid on the purchase, in percent of the item price. Default 5.
    pub tax_percent: f64,
    /// When true, no sales tax is paid. Default false.
    pub tax_exempt: bool,
    /// The minimum markup the seller wants, in percent of the listing price;
    /// used by the minimum listing price. Default 10.
    pub markup_percent: f64,
    /// FBA pick-and-pack fee used when Keepa has none (or a negative one). Default $5.50.
    pub default_fba_fee: Cents,
    /// Referral fee in percent used when Keepa has none. Default 15.
    pub default_referral_percent: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prep_fee: Cents(275),
            inbound_shipping: Cents(399),
            default_merchant_shipping: Cents(399),
            tax_percent: 5.0,
            tax_exempt: false,
            markup_percent: 10.0,
            default_fba_fee: Cents(550),
            default_referral_percent: 15.0,
        }
    }
}

/// Why a [`Settings`] value is invalid. Every variant names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A money setting is negative.
    #[error("setting `{field}` must not be negative, got {value}")]
    NegativeAmount {
        /// The field's name.
        field: &'static str,
        /// The rejected amount.
        value: Cents,
    },
    /// A money setting is above $1,000, which no per-unit cost plausibly is.
    #[error("setting `{field}` is implausibly large: {value} (at most $1,000.00)")]
    AmountTooLarge {
        /// The field's name.
        field: &'static str,
        /// The rejected amount.
        value: Cents,
    },
    /// A percentage is not a finite number in [0, 100).
    #[error("setting `{field}` must be a percentage from 0 to below 100, got {value}")]
    PercentOutOfRange {
        /// The field's name.
        field: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// Markup plus referral fee leave nothing of the listing price.
    #[error(
        "settings `markup_percent` ({markup_percent}) and `default_referral_percent` ({referral_percent}) add up to 100 or more"
    )]
    MarkupAndReferralTooHigh {
        /// The markup in percent.
        markup_percent: f64,
        /// The referral fee in percent.
        referral_percent: f64,
    },
}

/// The largest per-unit cost setting accepted: $1,000.
const MAX_AMOUNT: Cents = Cents(100_000);

impl Settings {
    /// Checks every field; the first invalid one is reported by name.
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (field, value) in [
            ("prep_fee", self.prep_fee),
            ("inbound_shipping", self.inbound_shipping),
            ("default_merchant_shipping", self.default_merchant_shipping),
            ("default_fba_fee", self.default_fba_fee),
        ] {
            if value.0 < 0 {
                return Err(SettingsError::NegativeAmount { field, value });
            }
            if value > MAX_AMOUNT {
                return Err(SettingsError::AmountTooLarge { field, value });
            }
        }
        for (field, value) in [
            ("tax_percent", self.tax_percent),
            ("markup_percent", self.markup_percent),
            ("default_referral_percent", self.default_referral_percent),
        ] {
            if !(value.is_finite() && (0.0..100.0).contains(&value)) {
                return Err(SettingsError::PercentOutOfRange { field, value });
            }
        }
        if self.markup_percent + self.default_referral_percent >= 100.0 {
            return Err(SettingsError::MarkupAndReferralTooHigh {
                markup_percent: self.markup_percent,
                referral_percent: self.default_referral_percent,
            });
        }
        Ok(())
    }

    /// The tax rate as a fraction (0 when exempt).
    pub(crate) fn tax_ratio(&self) -> f64 {
        if self.tax_exempt {
            0.0
        } else {
            self.tax_percent / 100.0
        }
    }
}
