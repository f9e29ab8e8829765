//! DESIGN.md §2, row by row: Keepa's token accounting as the simulator applies it.

use std::time::Duration;

use keepa_sim::Knobs;

use crate::support::{get, products, sim, tokens_consumed, tokens_left};

#[tokio::test(start_paused = true)]
async fn a_zero_balance_is_refused_with_429_and_costs_nothing() {
    let sim = sim(5, 0);
    let asin = sim.asins()[0].clone();
    let (status, body) = products(&sim, &[("asin", &asin)]).await;
    assert_eq!(status, 429);
    assert_eq!(tokens_consumed(&body), 0);
    assert_eq!(tokens_left(&body), 0);
    assert_eq!(body["refillRate"], 5);
    assert!(body["refillIn"].as_u64().unwrap() <= 60_000);
    assert_eq!(sim.counters().requests_with("/product", 429), 1);
}

#[tokio::test(start_paused = true)]
async fn a_ten_token_call_at_three_tokens_is_admitted_and_leaves_minus_seven() {
    let sim = sim(5, 3);
    let ten_asins = sim.asins()[..10].join(",");
    let (status, body) = products(&sim, &[("asin", &ten_asins)]).await;
    assert_eq!(status, 200);
    assert_eq!(tokens_consumed(&body), 10);
    assert_eq!(tokens_left(&body), -7);
    // And while the balance is negative the next request is refused.
    let (status, body) = products(&sim, &[("asin", &ten_asins)]).await;
    assert_eq!(
        (status, tokens_consumed(&body), tokens_left(&body)),
        (429, 0, -7)
    );
}

#[tokio::test(start_paused = true)]
async fn twenty_tokens_admit_a_ten_token_call() {
    let sim = sim(5, 20);
    let ten_asins = sim.asins()[..10].join(",");
    let (status, body) = products(&sim, &[("asin", &ten_asins)]).await;
    assert_eq!((status, tokens_left(&body)), (200, 10));
}

#[tokio::test(start_paused = true)]
async fn the_balance_reaches_the_cap_after_a_long_idle_and_the_rest_expires() {
    let sim = sim(5, 0);
    tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
    let (status, body) = get(&sim, "/token", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(tokens_left(&body), 300, "cap is 60 × 5");
    let counters = sim.counters();
    assert_eq!(counters.tokens_refilled, 180 * 5);
    assert_eq!(counters.tokens_wasted_at_cap, 180 * 5 - 300);
    assert_eq!(counters.max_balance, 300);
}

#[tokio::test(start_paused = true)]
async fn a_refill_lands_exactly_when_refill_in_said() {
    let sim = sim(5, 1);
    let (_, body) = get(&sim, "/token", &[]).await;
    let refill_in = body["refillIn"].as_u64().unwrap();
    assert!((1..=60_000).contains(&refill_in));
    tokio::time::sleep(Duration::from_millis(refill_in - 1)).await;
    assert_eq!(
        tokens_left(&get(&sim, "/token", &[]).await.1),
        1,
        "one millisecond early: no refill yet"
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
    let (_, body) = get(&sim, "/token", &[]).await;
    assert_eq!(tokens_left(&body), 6);
    assert_eq!(
        body["refillIn"], 60_000,
        "the next tick is a full minute away"
    );
}

#[tokio::test(start_paused = true)]
async fn the_phase_differs_between_seeds_and_is_stable_for_one() {
    let refill_in = |seed| {
        keepa_sim::Sim::builder()
            .seed(seed)
            .catalogue_size(1)
            .build()
            .token_status()
            .refill_in
    };
    assert_eq!(refill_in(1), refill_in(1));
    assert!(
        (1..10)
            .map(refill_in)
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 1
    );
}

#[tokio::test(start_paused = true)]
async fn a_plan_change_keeps_the_balance_and_moves_the_rate_and_the_cap() {
    let sim = sim(5, 250);
    let before = sim.token_status();
    sim.update_knobs(|knobs| knobs.refill_rate = 25);
    let after = sim.token_status();
    assert_eq!(after.tokens_left, before.tokens_left);
    assert_eq!((after.refill_rate, after.cap), (25, 1500));
    tokio::time::sleep(after.refill_in).await;
    assert_eq!(sim.token_status().tokens_left, 275);
    let (_, body) = get(&sim, "/token", &[]).await;
    assert_eq!(body["refillRate"], 25);
}

#[tokio::test(start_paused = true)]
async fn refills_after_a_deficit_bring_the_key_back() {
    let sim = sim(5, 1);
    let asins = sim.asins()[..20].join(",");
    let (status, body) = products(&sim, &[("asin", &asins)]).await;
    assert_eq!((status, tokens_left(&body)), (200, -19));
    // Four ticks: −19 + 20 = 1 > 0 admits again.
    tokio::time::sleep(sim.token_status().refill_in + Duration::from_secs(3 * 60)).await;
    assert_eq!(sim.token_status().tokens_left, 1);
    let (status, _) = products(&sim, &[("asin", &sim.asins()[0])]).await;
    assert_eq!(status, 200);
}

#[tokio::test(start_paused = true)]
async fn a_foreign_consumer_spends_from_the_same_key() {
    let sim = sim(20, 300);
    sim.update_knobs(|knobs| knobs.foreign_tokens_per_minute = 10);
    tokio::time::sleep(Duration::from_secs(10 * 60)).await;
    // Ten refill ticks in ten minutes; nine or ten foreign spends, depending on the phase.
    let spent = sim.counters().foreign_tokens_spent as i64;
    assert!(spent == 90 || spent == 100, "spent {spent}");
    assert_eq!(sim.token_status().tokens_left, 300 + 200 - spent);
}

#[tokio::test(start_paused = true)]
async fn the_cost_multiplier_models_the_386_token_surprise() {
    let sim = sim(20, 100);
    sim.update_knobs(|knobs| knobs.cost_multiplier = 38.6);
    let ten_asins = sim.asins()[..10].join(",");
    let (status, body) = products(&sim, &[("asin", &ten_asins)]).await;
    assert_eq!(
        (status, tokens_consumed(&body), tokens_left(&body)),
        (200, 386, -286)
    );
    assert_eq!(sim.counters().min_balance, -286);
}

#[tokio::test(start_paused = true)]
async fn the_lockout_is_off_by_default_and_refuses_everything_when_on() {
    let sim = sim(100, 1);
    let asin = sim.asins()[0].clone();
    sim.update_knobs(|knobs| knobs.cost_multiplier = 201.0);
    let (status, body) = products(&sim, &[("asin", &asin)]).await;
    assert_eq!((status, tokens_left(&body)), (200, -200));
    sim.set_tokens_left(500);
    assert_eq!(
        products(&sim, &[("asin", &asin)]).await.0,
        200,
        "no lockout by default"
    );

    sim.set_knobs(Knobs {
        lockout_enabled: true,
        refill_rate: 100,
        cost_multiplier: 201.0,
        ..Knobs::default()
    });
    sim.set_tokens_left(1);
    let (status, body) = products(&sim, &[("asin", &asin)]).await;
    assert_eq!((status, tokens_left(&body)), (200, -200));
    sim.set_tokens_left(500);
    let (status, body) = products(&sim, &[("asin", &asin)]).await;
    assert_eq!(
        (status, tokens_consumed(&body)),
        (429, 0),
        "locked out even with a positive balance"
    );
    tokio::time::sleep(Duration::from_secs(3600)).await;
    sim.set_tokens_left(500);
    assert_eq!(
        products(&sim, &[("asin", &asin)]).await.0,
        200,
        "the lockout ends after its duration"
    );
}

#[tokio::test(start_paused = true)]
async fn the_token_endpoint_costs_nothing_and_answers_at_any_balance() {
    let sim = sim(5, -40);
    let (status, body) = get(&sim, "/token", &[]).await;
    assert_eq!(
        (status, tokens_consumed(&body), tokens_left(&body)),
        (200, 0, -40)
    );
    for field in [
        "timestamp",
        "tokensLeft",
        "refillIn",
        "refillRate",
        "tokenFlowReduction",
        "tokensConsumed",
        "processingTimeInMs",
    ] {
        assert!(body.get(field).is_some(), "envelope field {field} missing");
    }
}
