//! Contract tests, client ↔ simulator in-process under tokio's paused clock: every endpoint,
//! every status, the bucket kept in step with Keepa's balance.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;

use keepa_client::{
    ApiKey, ClientConfig, DateRange, DealQuery, Error, HttpRequest, HttpResponse, KeepaClient,
    OfferCount, ProductQuery, ProductShape, RequestKind, Transport, TransportError,
};
use keepa_model::PriceType;
use token_bucket::{Bucket, Lane, Policy, Tokens};

use crate::support::{KEY, batch, client, client_with_key, sim_builder, stats_query};

/// The bucket's projection equals Keepa's balance when nothing is in flight.
#[track_caller]
fn assert_in_step(balance: Tokens, sim: &keepa_sim::Sim) {
    assert_eq!(balance, Tokens::from_whole(sim.token_status().tokens_left));
}

#[tokio::test(start_paused = true)]
async fn deal_page_costs_five_and_comes_newest_first() {
    let sim = sim_builder().build();
    let client = client(&sim);
    let page = client
        .deals(&DealQuery::new(PriceType::USED), Lane::Urgent)
        .await
        .unwrap();
    assert_eq!(page.info.tokens_consumed, 5);
    assert_eq!(page.info.attempts, 1);
    assert!(!page.deals.is_empty() && page.rejected.is_empty());
    assert!(
        page.deals
            .windows(2)
            .all(|pair| pair[0].last_update >= pair[1].last_update)
    );
    assert!(
        page.deals
            .iter()
            .all(|deal| deal.current.get(PriceType::USED).is_some())
    );
    assert_in_step(client.bucket().snapshot().await.unwrap().balance, &sim);

    let quarter = DealQuery {
        date_range: DateRange::Quarter,
        page: 1,
        ..DealQuery::new(PriceType::NEW)
    };
    let page = client.deals(&quarter, Lane::Urgent).await.unwrap();
    assert_eq!(page.info.tokens_consumed, 5);
    assert_eq!(sim.counters().requests_with("/deal", 200), 2);
}

#[tokio::test(start_paused = true)]
async fn an_unsynced_bucket_costs_one_token_call() {
    let sim = sim_builder().build();
    let client = client(&sim);
    client
        .products(&stats_query(&sim, 0, 3), Lane::Bulk)
        .await
        .unwrap();
    client
        .products(&stats_query(&sim, 3, 3), Lane::Bulk)
        .await
        .unwrap();
    assert_eq!(sim.counters().requests_with("/token", 200), 1);
    assert_eq!(sim.counters().requests_with("/product", 200), 2);
}

#[tokio::test(start_paused = true)]
async fn products_with_stats_offers_and_buybox_decode_and_cost_what_keepa_charges() {
    let sim = sim_builder().build();
    let client = client(&sim);
    let query = ProductQuery {
        offers: OfferCount::new(20),
        buybox: true,
        stats_days: NonZeroU32::new(365),
        ..ProductQuery::new(batch(&sim, 0, 5))
    };
    let documented = client.estimate(&query);
    assert_eq!(documented, Tokens::from_whole(5 * 8));
    let batch = client.products(&query, Lane::Bulk).await.unwrap();
    assert_eq!(batch.products.len(), 5);
    assert!(batch.unknown.is_empty() && batch.rejected.is_empty());
    assert!(
        batch
            .products
            .iter()
            .any(|product| !product.offers.is_empty())
    );
    assert!(
        batch
            .products
            .iter()
            .all(|product| !product.stats.per_type.is_empty())
    );
    assert!(
        batch
            .products
            .iter()
            .all(|product| product.histories.get(PriceType::SALES).is_some()
                || product.histories.get(PriceType::NEW).is_some())
    );
    assert!(batch.info.tokens_consumed >= 40);
    // Learned from tokensConsumed, never below the documented cost.
    assert!(client.estimate(&query) >= documented);
    assert_in_step(client.bucket().snapshot().await.unwrap().balance, &sim);
}

#[tokio::test(start_paused = true)]
async fn unknown_asins_are_reported_apart_and_cost_nothing() {
    let sim = sim_builder().build();
    let client = client(&sim);
    let mut asins = batch(&sim, 0, 1).asins().to_vec();
    asins.push("B000000000".parse().unwrap());
    let query = ProductQuery::new(keepa_client::AsinBatch::new(asins).unwrap());
    let batch = client.products(&query, Lane::Urgent).await.unwrap();
    assert_eq!(batch.products.len(), 1);
    assert_eq!(batch.unknown.len(), 1);
    assert_eq!(batch.unknown[0].as_str(), "B000000000");
    assert_eq!(batch.info.tokens_consumed, 1);
}

#[tokio::test(start_paused = true)]
async fn token_status_reconciles_the_bucket_for_free() {
    let sim = sim_builder().refill_rate(5).tokens(42).build();
    let client = client(&sim);
    let status = client.token_status().await.unwrap();
    assert_eq!(
        (
            status.info.tokens_left,
            status.info.refill_rate,
            status.info.tokens_consumed
        ),
        (42, 5, 0)
    );
    let snapshot = client.bucket().snapshot().await.unwrap();
    assert!(snapshot.synced);
    assert_eq!(snapshot.balance, Tokens::from_whole(42));
    assert_eq!(snapshot.cap, Tokens::from_whole(300));
}

#[tokio::test(start_paused = true)]
async fn a_wrong_key_is_a_typed_error_and_is_not_retried() {
    let sim = sim_builder().build();
    let client = client_with_key(&sim, "WrongKey123");
    // Unsynced bucket: the /token call answers 400 with the all-zero envelope.
    let error = client
        .products(&stats_query(&sim, 0, 1), Lane::Urgent)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidKey { .. }), "{error}");
    assert!(!error.is_transient());
    assert_eq!(sim.counters().requests_with("/token", 400), 1);

    // Synced from elsewhere: the paid call itself answers 400 and the permit is settled at 0.
    let status = crate::support::client(&sim).token_status().await.unwrap();
    client
        .bucket()
        .reconcile(&token_bucket::Envelope {
            tokens_left: status.info.tokens_left,
            refill_in_ms: status.info.refill_in_ms,
            refill_rate: status.info.refill_rate,
            tokens_consumed: 0,
            server_timestamp_ms: status.info.timestamp_ms,
        })
        .await
        .unwrap();
    let error = client
        .deals(&DealQuery::new(PriceType::USED), Lane::Urgent)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidKey { .. }), "{error}");
    assert_eq!(sim.counters().requests_with("/deal", 400), 1);
    let snapshot = client.bucket().snapshot().await.unwrap();
    assert_eq!(
        (snapshot.n_in_flight, snapshot.balance),
        (0, Tokens::from_whole(status.info.tokens_left))
    );
}

#[tokio::test(start_paused = true)]
async fn an_invalid_parameter_names_the_field() {
    let sim = sim_builder().build();
    let client = client(&sim);
    let error = client
        .deals(&DealQuery::new(PriceType(99)), Lane::Urgent)
        .await
        .unwrap_err();
    match &error {
        Error::InvalidParameter { details, .. } => assert_eq!(details, "priceTypes"),
        other => panic!("expected invalidParameter, got {other}"),
    }
    assert!(error.to_string().contains("`priceTypes`"), "{error}");
    assert_eq!(sim.counters().requests_with("/deal", 400), 1);
    // A 400 is charged nothing: the bucket agrees with Keepa.
    assert_in_step(client.bucket().snapshot().await.unwrap().balance, &sim);
}

#[tokio::test(start_paused = true)]
async fn a_429_waits_for_the_projection_then_succeeds() {
    let sim = sim_builder().refill_rate(5).tokens(100).build();
    let client = client(&sim);
    client
        .products(&stats_query(&sim, 0, 2), Lane::Urgent)
        .await
        .unwrap();
    // Another program drains the key: the bucket still projects ~98 tokens.
    sim.set_tokens_left(0);
    let before = tokio::time::Instant::now();
    let batch = client
        .products(&stats_query(&sim, 2, 2), Lane::Urgent)
        .await
        .unwrap();
    assert_eq!(batch.info.attempts, 2);
    assert_eq!(sim.counters().requests_with("/product", 429), 1);
    assert_eq!(sim.counters().requests_with("/product", 200), 2);
    // It went again only once Keepa had refilled past what the other program may spend
    // again (the bucket's drift margin: at most one refill), so two refills (paused clock:
    // simulated time, not wall time).
    assert_eq!(batch.info.tokens_left, 10 - 2);
    assert!(tokio::time::Instant::now() > before);
    assert_in_step(client.bucket().snapshot().await.unwrap().balance, &sim);
}

#[tokio::test(start_paused = true)]
async fn a_plan_change_is_learned_from_the_next_envelope() {
    let sim = sim_builder().refill_rate(5).build();
    let client = client(&sim);
    client
        .products(&stats_query(&sim, 0, 1), Lane::Urgent)
        .await
        .unwrap();
    assert_eq!(client.bucket().snapshot().await.unwrap().refill_rate, 5);
    sim.update_knobs(|knobs| knobs.refill_rate = 25);
    client
        .products(&stats_query(&sim, 1, 1), Lane::Urgent)
        .await
        .unwrap();
    let snapshot = client.bucket().snapshot().await.unwrap();
    assert_eq!(
        (snapshot.refill_rate, snapshot.cap),
        (25, Tokens::from_whole(1500))
    );
}

#[tokio::test(start_paused = true)]
async fn a_386_token_surprise_is_absorbed_without_a_429_storm() {
    let sim = sim_builder().refill_rate(5).tokens(300).build();
    sim.update_knobs(|knobs| knobs.cost_multiplier = 10.0);
    let client = client(&sim);
    let shape = ProductShape::default();
    for round in 0..8 {
        let query = ProductQuery::new(batch(&sim, round * 10, 10));
        let batch = client.products(&query, Lane::Bulk).await.unwrap();
        assert_eq!(batch.info.tokens_consumed, 100);
    }
    let counters = sim.counters();
    assert_eq!(counters.requests_with("/product", 429), 0);
    assert!(
        counters.min_balance > Policy::default().deficit_floor.whole_floor(),
        "{}",
        counters.min_balance
    );
    // The estimate followed the surprise: 10 tokens per ASIN, not the documented 1.
    let per_asin = client.estimate_per_unit(RequestKind::Product(shape));
    assert!(per_asin >= Tokens::from_milli(9_900), "{per_asin}");
    // A batch sized to 100 tokens fits them at the surprise's real cost.
    let fitting = client.max_asins_for(Tokens::from_whole(100), shape);
    assert!((1..=10).contains(&fitting), "{fitting}");
}

#[tokio::test(start_paused = true)]
async fn a_batch_above_what_the_plan_admits_is_refused_with_advice() {
    let sim = sim_builder().refill_rate(5).build();
    let client = client(&sim);
    client.token_status().await.unwrap();
    let query = ProductQuery {
        offers: OfferCount::new(100),
        ..ProductQuery::new(batch(&sim, 0, 100))
    };
    let error = client.products(&query, Lane::Bulk).await.unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Bucket {
                source: token_bucket::Error::CostAboveMaximum { .. },
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("split it"), "{error}");
    let budget = client.bucket().bulk_budget().await.unwrap();
    let fits = client.max_asins_for(budget, query.shape());
    assert_eq!(fits, (budget.whole_floor() / 6) as usize);
    assert_eq!(sim.counters().requests_with("/product", 200), 0);
}

/// A transport that answers from a script, for statuses the simulator never sends.
struct Scripted(Mutex<VecDeque<HttpResponse>>);

impl Scripted {
    fn new(responses: impl IntoIterator<Item = (u16, &'static str)>) -> Scripted {
        let responses = responses
            .into_iter()
            .map(|(status, body)| HttpResponse {
                status,
                body: body.as_bytes().to_vec(),
            })
            .collect();
        Scripted(Mutex::new(responses))
    }
}

impl Transport for Scripted {
    async fn send(&self, _request: HttpRequest) -> Result<HttpResponse, TransportError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .pop_front()
            .expect("the script ran out"))
    }
}

const ENVELOPE: &str =
    r#""timestamp":1000,"tokensLeft":50,"refillIn":1000,"refillRate":5,"tokensConsumed":0"#;

async fn scripted_token_call(responses: Vec<(u16, &'static str)>) -> Result<(), Error> {
    let client = KeepaClient::new(
        Scripted::new(responses),
        Bucket::in_memory(Policy::default()),
        ApiKey::new(KEY).unwrap(),
        ClientConfig {
            retry: crate::support::config().retry,
            ..ClientConfig::default()
        },
    );
    client.token_status().await.map(drop)
}

#[tokio::test(start_paused = true)]
async fn statuses_the_simulator_never_sends_are_typed() {
    let no_access = format!(
        "{{{ENVELOPE},\"error\":{{\"type\":\"paymentRequired\",\"message\":\"no access\"}}}}"
    );
    let no_access: &'static str = Box::leak(no_access.into_boxed_str());
    let error = scripted_token_call(vec![(402, no_access)])
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoApiAccess { .. }), "{error}");

    let not_found: &'static str = Box::leak(format!("{{{ENVELOPE}}}").into_boxed_str());
    let error = scripted_token_call(vec![(404, not_found)])
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error}");

    let error = scripted_token_call(vec![(405, not_found)])
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::UnexpectedStatus { status: 405, .. }),
        "{error}"
    );

    // A proxy's HTML 502 page, three times: a server error, not a format change.
    let html = "<html>502 Bad Gateway</html>";
    let error = scripted_token_call(vec![(502, html), (502, html), (502, html)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::ServerError {
                status: 502,
                attempts: 3,
                ..
            }
        ),
        "{error}"
    );

    // ... and a retry that then succeeds.
    scripted_token_call(vec![(502, html), (200, not_found)])
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn calls_are_send_so_they_can_be_spawned() {
    let sim = sim_builder().build();
    let client = client(&sim);
    let query = stats_query(&sim, 0, 1);
    let products = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .products(&query, Lane::Bulk)
                .await
                .map(|batch| batch.products.len())
        }
    });
    let deals = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .deals(&DealQuery::new(PriceType::USED), Lane::Urgent)
                .await
                .map(|page| page.deals.len())
        }
    });
    assert_eq!(products.await.unwrap().unwrap(), 1);
    assert!(deals.await.unwrap().unwrap() > 0);
}
