//! One simulated hour with one worker per policy: the naive client is refused with 429s and ours
//! never is; utilization is the simulator's own charged tokens over what it refilled.

use economy_sim::ours::Backend;
use economy_sim::report::Report;
use economy_sim::scenario::{Scenario, ScenarioKind, ScenarioOptions};
use economy_sim::{Policy, harness, report};

fn short(kind: ScenarioKind) -> Scenario {
    Scenario::new(
        kind,
        ScenarioOptions {
            hours: Some(1.0),
            workers: Some(1),
            ..ScenarioOptions::default()
        },
    )
}

#[track_caller]
fn check_consistent(report: &Report) {
    // The figures are derived from the simulator's counters, not from the policy's own claims.
    assert!(report.useful_tokens > 0, "{report:?}");
    assert!(report.tokens_refilled > 0, "{report:?}");
    assert!(
        report.utilization > 0.0 && report.utilization <= 1.0 + f64::EPSILON,
        "{report:?}"
    );
    assert!(report.deals_stored > 0, "{report:?}");
    assert!(
        (report.tokens_per_deal - report.useful_tokens as f64 / report.deals_stored as f64).abs()
            < 1e-9
    );
    assert!(report.urgent_samples > 0, "{report:?}");
    assert!(report.urgent_wait_p50_ms <= report.urgent_wait_p99_ms);
    assert!(report.urgent_wait_p99_ms <= report.urgent_wait_max_ms);
}

#[test]
fn the_naive_client_is_refused_with_429s_and_ours_never_is() {
    let scenario = short(ScenarioKind::Steady5);
    let naive = economy_sim::run(&scenario, Policy::Naive, &Backend::Memory).unwrap();
    let ours = economy_sim::run(&scenario, Policy::Ours, &Backend::Memory).unwrap();
    check_consistent(&naive);
    check_consistent(&ours);
    assert!(naive.responses_429 > 0, "{naive:?}");
    assert_eq!(ours.responses_429, 0, "{ours:?}");
    assert!(
        ours.min_balance >= -180,
        "the deficit floor holds: {ours:?}"
    );
}

#[test]
fn the_legacy_manager_runs_and_is_measured_like_the_others() {
    let legacy = economy_sim::run(
        &short(ScenarioKind::Steady5),
        Policy::Legacy,
        &Backend::Memory,
    )
    .unwrap();
    check_consistent(&legacy);
    assert_eq!(legacy.policy, "legacy");
    assert!(legacy.min_balance >= -180 - 120, "{legacy:?}");
}

#[test]
fn utilization_is_the_simulators_charged_tokens_over_the_tokens_available() {
    let scenario = short(ScenarioKind::Steady25);
    let runtime = harness::paused_runtime();
    let (report, counters, start_balance, end_balance) = runtime.block_on(async {
        let sim = harness::build_sim(&scenario);
        let start_balance = sim.token_status().tokens_left;
        let workers = economy_sim::baseline::Baseline::new(
            &sim,
            scenario.workers,
            economy_sim::baseline::BaselinePolicy::Naive,
        )
        .unwrap();
        let report = harness::run(&scenario, &sim, workers).await;
        (
            report,
            sim.counters(),
            start_balance,
            sim.token_status().tokens_left,
        )
    });
    assert_eq!(report.useful_tokens, counters.tokens_charged);
    assert_eq!(report.tokens_refilled, counters.tokens_refilled);
    assert_eq!(report.tokens_wasted_at_cap, counters.tokens_wasted_at_cap);
    assert_eq!(report.responses_429, counters.requests_with_status(429));
    assert_eq!(report.min_balance, counters.min_balance);
    let expected = counters.tokens_charged as f64
        / (counters.tokens_refilled as i64 + start_balance - end_balance) as f64;
    assert!((report.utilization - expected).abs() < 1e-12, "{report:?}");
    // Every token that was available went somewhere: charged, expired at the cap, or left over.
    assert_eq!(
        start_balance + counters.tokens_refilled as i64,
        counters.tokens_charged as i64 + counters.tokens_wasted_at_cap as i64 + end_balance,
    );
    // An hour is 60 refill ticks (the first lands within the first minute).
    assert_eq!(counters.tokens_refilled, 60 * 25);
    let _ = report::json_line(&report);
}
