//! The `/_sim/` admin routes the standalone server exposes for scripted scenarios.

use keepa_sim::SimRequest;

use crate::support::{get, sim};

#[tokio::test(start_paused = true)]
async fn posting_knobs_merges_a_partial_object() {
    let sim = sim(5, 100);
    let response = sim
        .handle(SimRequest::post(
            "/_sim/knobs",
            &[],
            r#"{"refillRate":25,"costMultiplier":2.5,"latencyMs":40}"#,
        ))
        .await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let knobs = sim.knobs();
    assert_eq!(
        (
            knobs.refill_rate,
            knobs.cost_multiplier,
            knobs.latency.as_millis()
        ),
        (25, 2.5, 40)
    );
    assert_eq!(
        knobs.deal_updates_per_minute, 10,
        "untouched knobs keep their value"
    );
    assert_eq!(sim.token_status().cap, 1500);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_knob_is_refused() {
    let sim = sim(5, 100);
    let response = sim
        .handle(SimRequest::post("/_sim/knobs", &[], r#"{"refilRate":25}"#))
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(sim.knobs().refill_rate, 5);
}

#[tokio::test(start_paused = true)]
async fn counters_and_tokens_are_readable_and_the_balance_settable() {
    let sim = sim(5, 100);
    get(&sim, "/token", &[]).await;
    let counters = sim
        .handle(SimRequest::get("/_sim/counters", &[]))
        .await
        .json()
        .unwrap();
    assert_eq!(counters["requests"]["/token"]["200"], 1);
    let tokens = sim
        .handle(SimRequest::post(
            "/_sim/tokens",
            &[],
            r#"{"tokensLeft":-12}"#,
        ))
        .await
        .json()
        .unwrap();
    assert_eq!(tokens["tokensLeft"], -12);
    assert_eq!(sim.token_status().tokens_left, -12);
}
