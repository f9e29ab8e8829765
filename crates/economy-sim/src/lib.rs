//! The token-economy simulation (`cargo xtask sim`, DESIGN.md §10): how well a quota policy
//! spends a shared Keepa key, measured against the in-process keepa-sim under tokio's paused
//! clock.
//!
//! For each [`scenario::Scenario`] (steady plans, a plan change, a cost surprise, a foreign
//! consumer, restarts) it runs "ours" — the real worker pipeline, several workers sharing one
//! token bucket ([`ours`]) — and, on the same scenario, models of the policies users run today
//! ([`baseline`]), and reports for each: useful-token utilization, tokens wasted at the cap,
//! urgent waits, 429s, the lowest balance, deals stored, tokens per deal and stalls
//! ([`report::Report`]).
//!
//! It does not judge the figures (people reading `docs/benchmarks.md` do), and it measures
//! simulated time only: nothing here reads the wall clock.

pub mod baseline;
pub mod harness;
pub mod ours;
pub mod report;
pub mod scenario;

use crate::baseline::{Baseline, BaselinePolicy};
use crate::ours::{Backend, Ours};
use crate::report::Report;
use crate::scenario::Scenario;

/// A quota policy the simulation compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// The real pipeline with the token bucket.
    Ours,
    /// The replaced system's threshold/recharge manager.
    Legacy,
    /// Sleep until `refillIn` on a 429.
    Naive,
}

impl Policy {
    /// Every policy, in the order the table lists them.
    pub const ALL: [Policy; 3] = [Policy::Ours, Policy::Legacy, Policy::Naive];

    /// The name on the command line and in the output.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Ours => "ours",
            Policy::Legacy => "legacy",
            Policy::Naive => "naive",
        }
    }
}

/// Runs `policy` through `scenario` on a fresh paused runtime, with a fresh simulator.
///
/// # Errors
///
/// When "ours" cannot set up its database or its Redis clients.
pub fn run(scenario: &Scenario, policy: Policy, backend: &Backend) -> anyhow::Result<Report> {
    let runtime = harness::paused_runtime();
    runtime.block_on(async {
        let sim = harness::build_sim(scenario);
        let report = match policy {
            Policy::Ours => {
                let workers = Ours::new(&sim, scenario.workers, backend.clone()).await?;
                harness::run(scenario, &sim, workers).await
            }
            Policy::Legacy => {
                let workers = Baseline::new(&sim, scenario.workers, BaselinePolicy::Legacy)?;
                harness::run(scenario, &sim, workers).await
            }
            Policy::Naive => {
                let workers = Baseline::new(&sim, scenario.workers, BaselinePolicy::Naive)?;
                harness::run(scenario, &sim, workers).await
            }
        };
        Ok(report)
    })
}
