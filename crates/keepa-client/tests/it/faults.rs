//! The simulator's fault knobs against the client, under tokio's paused clock: 500s, timeouts,
//! truncated and non-JSON bodies are retried a bounded number of times with backoff, end in a
//! typed error that names the request, and leave the bucket consistent.

use std::time::Duration;

use keepa_client::{DealQuery, Error};
use keepa_model::PriceType;
use token_bucket::{Lane, Tokens};

use crate::support::{client, config, sim_builder, stats_query};

const ATTEMPTS: u32 = 3;

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_then_typed_and_cost_nothing() {
    let sim = sim_builder().build();
    let client = client(&sim);
    client.token_status().await.unwrap();
    sim.update_knobs(|knobs| knobs.server_error_rate = 1.0);
    let error = client
        .products(&stats_query(&sim, 0, 4), Lane::Bulk)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::ServerError {
                status: 500,
                attempts: ATTEMPTS,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.is_transient());
    assert!(
        error.to_string().contains("GET /product (4 asins)"),
        "{error}"
    );
    assert_eq!(
        sim.counters().requests_with("/product", 500),
        u64::from(ATTEMPTS)
    );
    // Each 500 carried an envelope with tokensConsumed 0: the estimates were refunded.
    let snapshot = client.bucket().snapshot().await.unwrap();
    assert_eq!(snapshot.n_in_flight, 0);
    assert_eq!(
        snapshot.balance,
        Tokens::from_whole(sim.token_status().tokens_left)
    );

    sim.update_knobs(|knobs| knobs.server_error_rate = 0.0);
    client
        .products(&stats_query(&sim, 0, 4), Lane::Bulk)
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn some_server_errors_are_absorbed_by_retries() {
    let sim = sim_builder().build();
    sim.update_knobs(|knobs| knobs.server_error_rate = 0.3);
    let client = client(&sim);
    let mut retried = 0;
    for round in 0..10 {
        match client
            .products(&stats_query(&sim, round, 1), Lane::Bulk)
            .await
        {
            Ok(batch) => retried += batch.info.attempts - 1,
            Err(error) => assert!(matches!(error, Error::ServerError { .. }), "{error}"),
        }
    }
    assert!(
        retried > 0,
        "with a 30 % rate of 500s some call must have been retried"
    );
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_retried_then_typed_and_settled_at_the_estimate() {
    let sim = sim_builder().build();
    let client = client(&sim);
    client.token_status().await.unwrap();
    let before = client.bucket().snapshot().await.unwrap().balance;
    sim.update_knobs(|knobs| {
        knobs.timeout_rate = 1.0;
        knobs.timeout_duration = Duration::from_secs(120);
    });
    let error = client
        .deals(&DealQuery::new(PriceType::USED), Lane::Urgent)
        .await
        .unwrap_err();
    match &error {
        Error::Timeout {
            attempts, timeout, ..
        } => {
            assert_eq!((*attempts, *timeout), (ATTEMPTS, config().timeouts.request));
        }
        other => panic!("expected a timeout, got {other}"),
    }
    // The outcome of each attempt is unknown: each was counted at its estimate (5), and the
    // projection only moved by that and by refills.
    let snapshot = client.bucket().snapshot().await.unwrap();
    assert_eq!(snapshot.n_in_flight, 0);
    assert!(snapshot.balance <= before - Tokens::from_whole(15) + Tokens::from_whole(20 * 3));

    sim.update_knobs(|knobs| knobs.timeout_rate = 0.0);
    let page = client
        .deals(&DealQuery::new(PriceType::USED), Lane::Urgent)
        .await
        .unwrap();
    // The next envelope put the projection back in step with Keepa.
    assert_eq!(
        client.bucket().snapshot().await.unwrap().balance,
        Tokens::from_whole(page.info.tokens_left)
    );
}

#[tokio::test(start_paused = true)]
async fn truncated_bodies_are_retried_then_typed_with_the_byte_count() {
    let sim = sim_builder().build();
    let client = client(&sim);
    client.token_status().await.unwrap();
    sim.update_knobs(|knobs| knobs.truncated_body_rate = 1.0);
    let error = client
        .products(&stats_query(&sim, 0, 2), Lane::Bulk)
        .await
        .unwrap_err();
    match &error {
        Error::MalformedBody {
            status,
            bytes,
            attempts,
            ..
        } => {
            assert_eq!((*status, *attempts), (200, ATTEMPTS));
            assert!(*bytes > 100);
        }
        other => panic!("expected a malformed body, got {other}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("GET /product (2 asins)") && message.contains("bytes"),
        "{message}"
    );
    assert_eq!(client.bucket().snapshot().await.unwrap().n_in_flight, 0);

    sim.update_knobs(|knobs| knobs.truncated_body_rate = 0.0);
    client
        .products(&stats_query(&sim, 0, 2), Lane::Bulk)
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn non_json_bodies_are_retried_then_typed() {
    let sim = sim_builder().build();
    let client = client(&sim);
    sim.update_knobs(|knobs| knobs.non_json_body_rate = 1.0);
    // The /token call of the unsynced bucket is answered with HTML too.
    let error = client
        .deals(&DealQuery::new(PriceType::USED), Lane::Urgent)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::MalformedBody { status: 200, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("GET /token"), "{error}");

    sim.update_knobs(|knobs| knobs.non_json_body_rate = 0.5);
    let mut succeeded = 0;
    for _ in 0..6 {
        match client
            .deals(&DealQuery::new(PriceType::USED), Lane::Urgent)
            .await
        {
            Ok(_) => succeeded += 1,
            Err(error) => assert!(matches!(error, Error::MalformedBody { .. }), "{error}"),
        }
    }
    assert!(succeeded > 0);
}

#[tokio::test(start_paused = true)]
async fn a_foreign_consumer_is_absorbed() {
    let sim = sim_builder().refill_rate(5).tokens(12).build();
    sim.update_knobs(|knobs| knobs.foreign_tokens_per_minute = 3);
    let client = client(&sim);
    for round in 0..20 {
        client
            .products(&stats_query(&sim, round, 2), Lane::Bulk)
            .await
            .unwrap();
    }
    let counters = sim.counters();
    assert!(counters.foreign_tokens_spent > 0);
    assert!(
        counters.requests_with("/product", 429) <= 2,
        "{:?}",
        counters.requests
    );
    assert!(
        client
            .bucket()
            .snapshot()
            .await
            .unwrap()
            .counters
            .foreign_consumption()
            > Tokens::ZERO
    );
}
