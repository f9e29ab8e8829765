//! Cost estimates learned from `tokensConsumed`, per request kind and per unit (page or ASIN).
//!
//! Keepa documents its costs, but real costs vary (offer pages found, ratings, the "386-token
//! surprise"). Each kind keeps an exponentially weighted average of the cost per unit seen on
//! successful answers, and the estimate is the larger of that average and the documented cost:
//! an estimate never goes below the documentation. Increases are learned faster than decreases,
//! because an underestimate digs a deficit while an overestimate only makes a request wait a
//! little longer for its reservation (the difference is refunded when it settles).
//!
//! Pure data and arithmetic: no clock, no IO.

use std::collections::HashMap;

use token_bucket::Tokens;

use crate::request::RequestKind;

/// How fast estimates follow observed costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearningRates {
    /// Weight of a new observation above the current estimate (default 0.5).
    pub up: f64,
    /// Weight of a new observation below the current estimate (default 0.2).
    pub down: f64,
}

impl Default for LearningRates {
    fn default() -> LearningRates {
        LearningRates { up: 0.5, down: 0.2 }
    }
}

/// Learned cost per unit for each request kind.
#[derive(Debug, Clone, Default)]
pub struct CostEstimator {
    rates: LearningRates,
    /// Milli-tokens per unit.
    learned: HashMap<RequestKind, f64>,
}

impl CostEstimator {
    /// An estimator that starts at the documented costs.
    pub fn new(rates: LearningRates) -> CostEstimator {
        CostEstimator {
            rates,
            learned: HashMap::new(),
        }
    }

    /// The estimated cost of one unit (page or ASIN) of `kind`.
    pub fn per_unit(&self, kind: RequestKind) -> Tokens {
        let documented = Tokens::from_whole(kind.documented_tokens_per_unit());
        let learned = self.learned.get(&kind).map_or(Tokens::ZERO, |&milli| {
            Tokens::from_milli(milli.ceil() as i64)
        });
        learned.max(documented)
    }

    /// The estimated cost of `units` units of `kind`.
    pub fn estimate(&self, kind: RequestKind, units: usize) -> Tokens {
        let units = i64::try_from(units).unwrap_or(i64::MAX);
        Tokens::from_milli(self.per_unit(kind).as_milli().saturating_mul(units))
    }

    /// How many units of `kind` fit in `budget` (0 when not even one does).
    pub fn units_within(&self, budget: Tokens, kind: RequestKind) -> usize {
        let per_unit = self.per_unit(kind).as_milli().max(1);
        usize::try_from(budget.as_milli().max(0) / per_unit).unwrap_or(usize::MAX)
    }

    /// Learns from a successful answer: `consumed` tokens for `units` units.
    pub fn observe(&mut self, kind: RequestKind, consumed: i64, units: usize) {
        if units == 0 || consumed < 0 {
            return;
        }
        let observed = consumed as f64 * 1000.0 / units as f64;
        let documented = (kind.documented_tokens_per_unit() * 1000) as f64;
        let current = self.learned.get(&kind).copied().unwrap_or(documented);
        let weight = if observed > current {
            self.rates.up
        } else {
            self.rates.down
        };
        self.learned
            .insert(kind, current + weight * (observed - current));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ProductShape;

    const PLAIN: RequestKind = RequestKind::Product(ProductShape {
        offers: None,
        buybox: false,
        rating: false,
        update_hours: None,
    });

    #[test]
    fn starts_at_the_documented_cost() {
        let estimator = CostEstimator::default();
        assert_eq!(
            estimator.estimate(RequestKind::Deal, 1),
            Tokens::from_whole(5)
        );
        assert_eq!(estimator.estimate(PLAIN, 100), Tokens::from_whole(100));
    }

    #[test]
    fn learns_upward_fast_and_never_goes_below_documentation() {
        let mut estimator = CostEstimator::new(LearningRates::default());
        estimator.observe(PLAIN, 100, 10);
        assert_eq!(estimator.per_unit(PLAIN), Tokens::from_milli(5_500));
        for _ in 0..20 {
            estimator.observe(PLAIN, 100, 10);
        }
        assert!(estimator.per_unit(PLAIN) >= Tokens::from_milli(9_990));
        for _ in 0..200 {
            estimator.observe(PLAIN, 0, 10);
        }
        assert_eq!(estimator.per_unit(PLAIN), Tokens::from_whole(1));
    }

    #[test]
    fn units_within_budget() {
        let mut estimator = CostEstimator::new(LearningRates { up: 1.0, down: 1.0 });
        estimator.observe(PLAIN, 30, 10);
        assert_eq!(estimator.units_within(Tokens::from_whole(10), PLAIN), 3);
        assert_eq!(estimator.units_within(Tokens::from_whole(-5), PLAIN), 0);
    }
}
