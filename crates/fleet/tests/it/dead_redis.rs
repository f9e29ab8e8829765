//! A Redis that is not there: every operation returns a typed error naming the endpoint (never
//! the password) and saying what to do; nothing panics, nothing falls back to memory.

use std::time::Duration;

use fleet::{Error, Fleet, FleetConfig};

fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[track_caller]
fn check_unavailable(error: &Error, endpoint: &str) {
    let message = error.to_string();
    assert!(
        matches!(error, Error::RedisUnavailable { endpoint: named, .. } if named == endpoint),
        "{error:?}"
    );
    assert!(message.contains(endpoint), "{message}");
    assert!(
        message.contains("start redis or fix the redis url"),
        "{message}"
    );
    assert!(
        !message.contains("hunter2") && !format!("{error:?}").contains("hunter2"),
        "{message}"
    );
}

#[tokio::test]
async fn every_operation_on_a_dead_redis_is_a_typed_error_naming_the_endpoint() {
    let port = dead_port();
    let fleet = Fleet::connect(
        &format!("redis://:hunter2@127.0.0.1:{port}/3"),
        FleetConfig::default(),
    )
    .unwrap();
    let endpoint = format!("127.0.0.1:{port}/3");
    check_unavailable(
        &fleet
            .acquire_lease("discovery", Duration::from_secs(30))
            .await
            .unwrap_err(),
        &endpoint,
    );
    check_unavailable(&fleet.inspect("discovery").await.unwrap_err(), &endpoint);
    check_unavailable(&fleet.now_ms().await.unwrap_err(), &endpoint);
    check_unavailable(&fleet.heartbeats().await.unwrap_err(), &endpoint);
    check_unavailable(&fleet.pause().await.unwrap_err(), &endpoint);
    check_unavailable(&fleet.record_call("worker").await.unwrap_err(), &endpoint);
    check_unavailable(&fleet.incidents(10).await.unwrap_err(), &endpoint);
    check_unavailable(&fleet.list_keys().await.unwrap_err(), &endpoint);
}

#[test]
fn a_malformed_redis_url_is_refused_without_repeating_it() {
    let error =
        Fleet::connect("http://:hunter2@127.0.0.1:6379", FleetConfig::default()).unwrap_err();
    assert!(matches!(error, Error::InvalidRedisUrl { .. }), "{error:?}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
    let empty = Fleet::connect(&testkit::redis_url(), FleetConfig::with_prefix("")).unwrap_err();
    assert!(matches!(empty, Error::EmptyKeyPrefix), "{empty:?}");
}
