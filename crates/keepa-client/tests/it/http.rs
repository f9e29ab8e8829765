//! One round over real HTTP: `ReqwestTransport` against `keepa_sim::serve` on a loopback port,
//! on real time. No sleeps, no duration assertions.

use std::num::NonZeroU32;

use keepa_client::{
    ApiKey, ClientConfig, DealQuery, Error, KeepaClient, OfferCount, ProductQuery,
    ReqwestTransport, RetryPolicy, Timeouts, TransportErrorKind,
};
use keepa_model::PriceType;
use token_bucket::{Bucket, Lane, Policy};

use crate::secrets::{Captured, all_forms};
use crate::support::{KEY, batch, sim_builder};

fn http_client(base_url: &str, key: &str) -> KeepaClient<ReqwestTransport> {
    let config = ClientConfig {
        retry: RetryPolicy {
            max_attempts: NonZeroU32::MIN,
            ..RetryPolicy::default()
        },
        ..ClientConfig::default()
    };
    KeepaClient::new(
        ReqwestTransport::new(base_url, Timeouts::default()).unwrap(),
        Bucket::in_memory(Policy::default()),
        ApiKey::new(key).unwrap(),
        config,
    )
}

#[tokio::test]
async fn the_client_speaks_http_to_the_simulator() {
    let captured = Captured::default();
    let _guard = captured.install();
    let sim = sim_builder().build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(keepa_sim::serve(listener, sim.clone(), async move {
        stopped.await.ok();
    }));

    let client = http_client(&base_url, KEY);
    let status = client.token_status().await.unwrap();
    assert_eq!(status.info.refill_rate, 20);
    let page = client
        .deals(&DealQuery::new(PriceType::USED), Lane::Urgent)
        .await
        .unwrap();
    assert!(!page.deals.is_empty());
    let query = ProductQuery {
        stats_days: NonZeroU32::new(180),
        offers: OfferCount::new(20),
        ..ProductQuery::new(batch(&sim, 0, 3))
    };
    let products = client.products(&query, Lane::Bulk).await.unwrap();
    assert_eq!(products.products.len(), 3);
    assert_eq!(sim.counters().requests_with("/product", 200), 1);

    let mut printed = String::new();
    let wrong_key = "WrongHttpKeyA1B2C3";
    let error = http_client(&base_url, wrong_key)
        .token_status()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidKey { .. }), "{error}");
    printed.push_str(&all_forms(&error));

    sim.update_knobs(|knobs| knobs.server_error_rate = 1.0);
    let error = client
        .deals(&DealQuery::new(PriceType::USED), Lane::Urgent)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::ServerError {
                status: 500,
                attempts: 1,
                ..
            }
        ),
        "{error}"
    );
    printed.push_str(&all_forms(&error));

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();

    // Nothing listens any more: a connection error, typed, and without the URL or the key.
    let error = client.token_status().await.unwrap_err();
    match &error {
        Error::Transport { source, .. } => assert_eq!(source.kind, TransportErrorKind::Connect),
        other => panic!("expected a transport error, got {other}"),
    }
    printed.push_str(&all_forms(&error));

    let logs = captured.text();
    for secret in [KEY, wrong_key] {
        assert!(
            !printed.contains(secret),
            "the key leaked into an error:\n{printed}"
        );
        assert!(
            !logs.contains(secret),
            "the key leaked into the logs:\n{logs}"
        );
    }
}
