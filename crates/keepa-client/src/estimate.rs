//! Cost estimates learned from `tokensConsumed`, per request kind and per unit (page or ASIN).
//!
//! Keepa documents its costs, but real costs vary (offer pages found, ratings, the "386-token
//! surprise"). Each kind keeps an exponentially weighted average of the cost per unit seen on
//! successful answers and of its deviation, and the estimate is that average plus twice the
//! deviation, never below the documented cost. An underestimate digs a deficit and lets a
//! request sent alongside meet a 429, while an overestimate only holds a little more of the
//! balance until the request settles (the difference is refunded), so estimates lean high:
//! increases are learned faster than decreases, and a kind whose cost varies (products with
//! one or several pages of offers) is estimated near the top of its range: never below the
//! highest cost per unit seen lately (a peak that fades by [`LearningRates::peak_decay`] with
//! each observation), because an average and its deviation follow a kind that costs either
//! 60 or 120 tokens to somewhere in between, and every answer at 120 then digs a deficit.
//!
//! The learned figures can be exported and restored ([`CostEstimator::learned`],
//! [`CostEstimator::restore`]) so that a restarted process does not start again from the
//! documentation, which underestimates every varying kind.
//!
//! Pure data and arithmetic: no clock, no IO.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use token_bucket::Tokens;

use crate::request::RequestKind;

/// How fast estimates follow observed costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearningRates {
    /// Weight of a new observation above the current average (default 0.5).
    pub up: f64,
    /// Weight of a new observation below the current average (default 0.2).
    pub down: f64,
    /// Weight of a new observation's distance from the average in the deviation (default 0.25).
    pub deviation: f64,
    /// How many deviations above the average an estimate is (default 2).
    pub deviations_in_estimate: f64,
    /// What is left of the highest cost seen after each later observation (default 0.9: a
    /// peak seen once weighs half after about seven observations at a lower cost, and stops
    /// mattering once the average and its deviation cover it).
    pub peak_decay: f64,
}

impl Default for LearningRates {
    fn default() -> LearningRates {
        LearningRates {
            up: 0.5,
            down: 0.2,
            deviation: 0.25,
            deviations_in_estimate: 2.0,
            peak_decay: 0.9,
        }
    }
}

/// What has been learned about one request kind, in milli-tokens per unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LearnedCost {
    /// The request kind.
    pub kind: RequestKind,
    /// The weighted average cost per unit.
    pub mean_milli: f64,
    /// The weighted average distance of observations from the average.
    pub deviation_milli: f64,
    /// The highest cost per unit seen lately, faded by later observations (0 in figures saved
    /// before it existed).
    #[serde(default)]
    pub peak_milli: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Learned {
    mean: f64,
    deviation: f64,
    peak: f64,
}

/// A request that cost at least this many times its estimate is a surprise: costs may have
/// changed for every kind (Keepa's own "386-token surprise", a changed tariff), not only its own.
pub const SURPRISE_RATIO: f64 = 2.0;

/// The most a surprise multiplies the estimates of the kinds not observed since.
pub const MAX_SURPRISE_PADDING: f64 = 10.0;

/// Learned cost per unit for each request kind.
#[derive(Debug, Clone, Default)]
pub struct CostEstimator {
    rates: LearningRates,
    /// Milli-tokens per unit.
    learned: HashMap<RequestKind, Learned>,
    /// How many surprises there have been.
    surprises: u64,
    /// The surprises that still decide a padding: `(number, ratio of actual to estimate)`,
    /// each larger than every later one. A kind last observed before surprise `n` is padded by
    /// the largest ratio from `n` on, which is the first entry numbered `n` or later.
    surprise_ratios: Vec<(u64, f64)>,
    /// Per kind, the number of surprises when it was last observed.
    observed_after: HashMap<RequestKind, u64>,
}

impl CostEstimator {
    /// An estimator that starts at the documented costs.
    pub fn new(rates: LearningRates) -> CostEstimator {
        CostEstimator {
            rates,
            ..CostEstimator::default()
        }
    }

    /// The estimated cost of one unit (page or ASIN) of `kind`.
    ///
    /// After a surprise (a request of any kind costing [`SURPRISE_RATIO`] times its estimate or
    /// more), a kind not observed since is estimated at its own estimate times the largest
    /// ratio of the surprises since (at most [`MAX_SURPRISE_PADDING`]) until it is observed. The
    /// largest, not the latest: a later, smaller surprise (a kind whose estimate had already
    /// risen halfway) must not undo the padding of the first. When costs jump, they
    /// tend to jump for every kind, and a request sent at its old estimate beside others could
    /// find the balance gone and meet a 429. The padding is refunded when the request settles.
    pub fn per_unit(&self, kind: RequestKind) -> Tokens {
        let documented = (kind.documented_tokens_per_unit() * 1000) as f64;
        let learned = self.learned.get(&kind).map_or(0.0, |learned| {
            (learned.mean + self.rates.deviations_in_estimate * learned.deviation).max(learned.peak)
        });
        let observed_after = self.observed_after.get(&kind).copied().unwrap_or(0);
        let padding = self
            .surprise_ratios
            .iter()
            .find(|(number, _)| *number > observed_after)
            .map_or(1.0, |(_, ratio)| ratio.clamp(1.0, MAX_SURPRISE_PADDING));
        Tokens::from_milli((learned.max(documented) * padding).ceil() as i64)
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
        let estimated = self.per_unit(kind).as_milli() as f64;
        if estimated > 0.0 && observed >= SURPRISE_RATIO * estimated {
            self.surprises += 1;
            let ratio = observed / estimated;
            // An earlier surprise no larger than this one no longer decides any padding.
            while self
                .surprise_ratios
                .last()
                .is_some_and(|(_, earlier)| *earlier <= ratio)
            {
                self.surprise_ratios.pop();
            }
            self.surprise_ratios.push((self.surprises, ratio));
        }
        self.observed_after.insert(kind, self.surprises);
        let documented = (kind.documented_tokens_per_unit() * 1000) as f64;
        let current = self.learned.get(&kind).copied().unwrap_or(Learned {
            mean: documented,
            deviation: 0.0,
            peak: 0.0,
        });
        let weight = if observed > current.mean {
            self.rates.up
        } else {
            self.rates.down
        };
        let distance = (observed - current.mean).abs();
        self.learned.insert(
            kind,
            Learned {
                mean: current.mean + weight * (observed - current.mean),
                deviation: current.deviation
                    + self.rates.deviation * (distance - current.deviation),
                peak: observed.max(current.peak * self.rates.peak_decay),
            },
        );
    }

    /// Whether anything is known of `kind` beyond Keepa's documentation: an observation, or
    /// a figure restored from an earlier run.
    pub fn has_learned(&self, kind: RequestKind) -> bool {
        self.learned.contains_key(&kind)
    }

    /// Everything learned so far, to be kept across restarts with [`CostEstimator::restore`].
    pub fn learned(&self) -> Vec<LearnedCost> {
        let mut learned: Vec<LearnedCost> = self
            .learned
            .iter()
            .map(|(&kind, learned)| LearnedCost {
                kind,
                mean_milli: learned.mean,
                deviation_milli: learned.deviation,
                peak_milli: learned.peak,
            })
            .collect();
        // A stable order, so that equal knowledge serialises to equal text.
        learned.sort_by_key(|cost| format!("{:?}", cost.kind));
        learned
    }

    /// Takes over figures from [`CostEstimator::learned`] (of an earlier run) for the kinds
    /// this estimator has not observed itself. Figures that are not finite and non-negative
    /// are ignored.
    pub fn restore(&mut self, learned: &[LearnedCost]) {
        for cost in learned {
            let usable = |figure: f64| figure.is_finite() && figure >= 0.0;
            if usable(cost.mean_milli) && usable(cost.deviation_milli) {
                self.learned.entry(cost.kind).or_insert(Learned {
                    mean: cost.mean_milli,
                    deviation: cost.deviation_milli,
                    peak: if usable(cost.peak_milli) {
                        cost.peak_milli
                    } else {
                        0.0
                    },
                });
            }
        }
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

    /// Products with 20 offers: one or two pages, a cost that varies.
    fn with_offers() -> RequestKind {
        RequestKind::Product(ProductShape {
            offers: crate::request::OfferCount::new(20),
            ..ProductShape::default()
        })
    }

    #[test]
    fn starts_at_the_documented_cost() {
        let estimator = CostEstimator::default();
        assert_eq!(
            estimator.estimate(RequestKind::Deal, 1),
            Tokens::from_whole(5)
        );
        assert_eq!(estimator.estimate(PLAIN, 100), Tokens::from_whole(100));
        assert!(!estimator.has_learned(PLAIN));
        let mut estimator = estimator;
        estimator.observe(PLAIN, 1, 1);
        assert!(estimator.has_learned(PLAIN));
        let mut restarted = CostEstimator::default();
        restarted.restore(&estimator.learned());
        assert!(restarted.has_learned(PLAIN));
    }

    #[test]
    fn learns_upward_fast_and_never_goes_below_documentation() {
        let mut estimator = CostEstimator::new(LearningRates::default());
        estimator.observe(PLAIN, 100, 10);
        // Average 5.5, deviation 2.25: the estimate is 5.5 + 2 × 2.25.
        assert_eq!(estimator.per_unit(PLAIN), Tokens::from_whole(10));
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
    fn a_varying_cost_is_estimated_near_the_top_of_its_range() {
        // Products with one or two pages of offers: 6 or 12 tokens each.
        let mut estimator = CostEstimator::default();
        let offers = with_offers();
        for round in 0..50 {
            estimator.observe(offers, if round % 3 == 0 { 12 } else { 6 }, 1);
        }
        assert!(estimator.per_unit(offers) >= Tokens::from_whole(12));
        assert!(estimator.per_unit(offers) <= Tokens::from_whole(18));
    }

    #[test]
    fn a_surprise_pads_the_kinds_not_observed_since() {
        let mut estimator = CostEstimator::default();
        for _ in 0..5 {
            estimator.observe(RequestKind::Deal, 5, 1);
            estimator.observe(PLAIN, 10, 10);
        }
        assert_eq!(estimator.per_unit(RequestKind::Deal), Tokens::from_whole(5));
        // Every cost ×10: the first /product answer says so, and the /deal estimate, not yet
        // observed at the new cost, is padded by the same ratio until it is.
        estimator.observe(PLAIN, 100, 10);
        assert_eq!(
            estimator.per_unit(RequestKind::Deal),
            Tokens::from_whole(50)
        );
        estimator.observe(RequestKind::Deal, 50, 1);
        // Observed: its own learning takes over (average 27.5, deviation 11.25).
        assert_eq!(
            estimator.per_unit(RequestKind::Deal),
            Tokens::from_whole(50)
        );
        estimator.observe(RequestKind::Deal, 50, 1);
        let deal = estimator.per_unit(RequestKind::Deal);
        assert!(deal > Tokens::from_whole(50), "{deal}");
        // A cost near its estimate is no surprise and pads nothing.
        let mut estimator = CostEstimator::default();
        estimator.observe(PLAIN, 15, 10);
        assert_eq!(estimator.per_unit(RequestKind::Deal), Tokens::from_whole(5));
    }

    #[test]
    fn the_largest_surprise_since_a_kind_was_observed_decides_its_padding() {
        let offers = with_offers();
        let mut estimator = CostEstimator::default();
        for _ in 0..5 {
            estimator.observe(RequestKind::Deal, 5, 1);
            estimator.observe(PLAIN, 10, 10);
            estimator.observe(offers, 13, 1);
        }
        let offers_before = estimator.per_unit(offers).as_milli();
        // Every cost ×10: /product says so first (a ratio of 10) …
        estimator.observe(PLAIN, 100, 10);
        // … then /deal, already padded to 50, costs 120 (a ratio of 2.4, a second surprise).
        estimator.observe(RequestKind::Deal, 120, 1);
        // Offers, observed before both, stays padded by the larger ratio, not the latest.
        let padded = estimator.per_unit(offers).as_milli();
        assert!(
            (padded - offers_before * 10).abs() <= 10,
            "{padded}: padded by the first surprise's ratio, 10"
        );
        // A kind observed between two surprises is padded by the second only; one observed
        // before both, by the larger.
        let mut estimator = CostEstimator::default();
        for _ in 0..5 {
            estimator.observe(RequestKind::Deal, 5, 1);
            estimator.observe(PLAIN, 10, 10);
            estimator.observe(offers, 13, 1);
        }
        estimator.observe(PLAIN, 100, 10);
        // At its padded estimate: no surprise.
        let offers_padded = estimator.per_unit(offers);
        estimator.observe(offers, offers_padded.whole_floor(), 1);
        let offers_learned = estimator.per_unit(offers).as_milli();
        // Estimated at 10 a unit now, charged 30: a second surprise, of 3.
        estimator.observe(PLAIN, 300, 10);
        assert_eq!(
            estimator.per_unit(RequestKind::Deal),
            Tokens::from_whole(50)
        );
        let padded = estimator.per_unit(offers).as_milli();
        assert!(
            (padded - offers_learned * 3).abs() <= 3,
            "{padded}: padded by the second surprise's ratio, 3"
        );
    }

    #[test]
    fn a_cost_seen_lately_is_not_estimated_below() {
        // One or two pages of offers after costs went up tenfold: 60 or 120 tokens. The
        // average and its deviation settle between the two; the estimate stays at 120.
        let offers = with_offers();
        let mut estimator = CostEstimator::default();
        estimator.observe(offers, 120, 1);
        for _ in 0..3 {
            estimator.observe(offers, 60, 1);
        }
        assert!(
            estimator.per_unit(offers) >= Tokens::from_milli(87_480),
            "120 × 0.9³"
        );
        // Once 120 is no longer seen, the peak fades: 40 answers at 60 later it weighs nothing.
        for _ in 0..40 {
            estimator.observe(offers, 60, 1);
        }
        assert!(estimator.per_unit(offers) < Tokens::from_whole(70));
    }

    #[test]
    fn learned_costs_survive_a_restart_through_their_serialised_form() {
        let mut estimator = CostEstimator::default();
        estimator.observe(RequestKind::Deal, 50, 1);
        estimator.observe(PLAIN, 30, 10);
        let text = serde_json::to_string(&estimator.learned()).unwrap();
        let mut restarted = CostEstimator::default();
        restarted.restore(&serde_json::from_str::<Vec<LearnedCost>>(&text).unwrap());
        assert_eq!(restarted.learned(), estimator.learned());
        assert_eq!(
            restarted.per_unit(RequestKind::Deal),
            estimator.per_unit(RequestKind::Deal)
        );
        // Figures saved before the peak existed are still read.
        let old = r#"[{"kind":"deal","mean_milli":7000.0,"deviation_milli":500.0}]"#;
        let mut restarted_old = CostEstimator::default();
        restarted_old.restore(&serde_json::from_str::<Vec<LearnedCost>>(old).unwrap());
        assert_eq!(
            restarted_old.per_unit(RequestKind::Deal),
            Tokens::from_whole(8)
        );
        // What this process learned itself wins over what it restores.
        restarted.observe(PLAIN, 10, 10);
        let before = restarted.per_unit(PLAIN);
        restarted.restore(&estimator.learned());
        assert_eq!(restarted.per_unit(PLAIN), before);
    }

    #[test]
    fn units_within_budget() {
        let mut estimator = CostEstimator::new(LearningRates {
            up: 1.0,
            down: 1.0,
            deviation: 0.0,
            ..LearningRates::default()
        });
        estimator.observe(PLAIN, 30, 10);
        assert_eq!(estimator.units_within(Tokens::from_whole(10), PLAIN), 3);
        assert_eq!(estimator.units_within(Tokens::from_whole(-5), PLAIN), 0);
    }
}
