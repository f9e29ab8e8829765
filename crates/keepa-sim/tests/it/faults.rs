//! Fault knobs: 500s, truncated and non-JSON bodies, latency, timeouts and freeze.

use std::time::Duration;

use keepa_sim::SimRequest;

use crate::support::{KEY, get, sim, tokens_consumed};

fn token_request() -> SimRequest {
    SimRequest::get("/token", &[("key", KEY)])
}

#[tokio::test(start_paused = true)]
async fn server_errors_carry_the_envelope_and_cost_nothing() {
    let sim = sim(5, 100);
    sim.update_knobs(|knobs| knobs.server_error_rate = 1.0);
    let asin = sim.asins()[0].clone();
    let (status, body) = get(&sim, "/product", &[("domain", "1"), ("asin", &asin)]).await;
    assert_eq!((status, tokens_consumed(&body)), (500, 0));
    assert_eq!(body["error"]["type"], "serverError");
    assert_eq!(sim.token_status().tokens_left, 100);
    assert_eq!(sim.counters().requests_with("/product", 500), 1);
}

#[tokio::test(start_paused = true)]
async fn truncated_bodies_are_not_json_and_are_charged() {
    let sim = sim(5, 100);
    sim.update_knobs(|knobs| knobs.truncated_body_rate = 1.0);
    let asin = sim.asins()[0].clone();
    let response = sim
        .handle(
            SimRequest::get(
                "/product",
                &[("key", KEY), ("domain", "1"), ("asin", &asin)],
            )
            .with_gzip(),
        )
        .await;
    assert_eq!(response.status, 200);
    assert!(response.json().is_err());
    assert_eq!(sim.token_status().tokens_left, 99);
}

#[tokio::test(start_paused = true)]
async fn non_json_bodies_are_html_and_cost_nothing() {
    let sim = sim(5, 100);
    sim.update_knobs(|knobs| knobs.non_json_body_rate = 1.0);
    let response = sim
        .handle(SimRequest::get(
            "/product",
            &[("key", KEY), ("domain", "1"), ("asin", "B000000000")],
        ))
        .await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.json().is_err());
    assert_eq!(sim.token_status().tokens_left, 100);
}

#[tokio::test(start_paused = true)]
async fn latency_delays_the_answer_in_simulated_time() {
    let sim = sim(5, 100);
    sim.update_knobs(|knobs| knobs.latency = Duration::from_millis(250));
    let started = tokio::time::Instant::now();
    let (_, body) = get(&sim, "/token", &[]).await;
    assert_eq!(started.elapsed(), Duration::from_millis(250));
    assert_eq!(body["processingTimeInMs"], 250);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_hangs_longer_than_a_client_waits() {
    let sim = sim(5, 100);
    sim.update_knobs(|knobs| {
        knobs.timeout_rate = 1.0;
        knobs.timeout_duration = Duration::from_secs(120);
    });
    let waited = tokio::time::timeout(Duration::from_secs(30), sim.handle(token_request())).await;
    assert!(waited.is_err(), "the client's 30 s timeout fires first");
    let answered =
        tokio::time::timeout(Duration::from_secs(121), sim.handle(token_request())).await;
    assert_eq!(answered.expect("answered after the hang").status, 200);
}

#[tokio::test(start_paused = true)]
async fn freeze_hangs_every_request_until_it_is_lifted() {
    let sim = sim(5, 100);
    sim.update_knobs(|knobs| knobs.freeze = true);
    let pending = tokio::spawn({
        let sim = sim.clone();
        async move { sim.handle(token_request()).await }
    });
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!pending.is_finished(), "frozen for an hour");
    sim.update_knobs(|knobs| knobs.freeze = false);
    assert_eq!(pending.await.unwrap().status, 200);
}
