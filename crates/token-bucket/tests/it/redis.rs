//! The Redis backend against real Redis servers: typed errors for a dead server, recovery
//! after a restart or a wipe, NOSCRIPT recovery, crashed holders (in this process and in a
//! separate one), key isolation under the prefix, and several concurrent clients spending one
//! Keepa-like ledger.
//!
//! Tests that share the suite's server (`testkit::redis_url`) use unique prefixes; tests that
//! kill, restart or flush a server start a private `redis-server` of their own.

use token_bucket::redis::RedisConfig;
use token_bucket::{Bucket, Envelope, Error, Lane, Tokens};

fn envelope(tokens_left: i64, refill_in_ms: i64, server_timestamp_ms: i64) -> Envelope {
    Envelope {
        tokens_left,
        refill_in_ms,
        refill_rate: 5,
        tokens_consumed: 0,
        server_timestamp_ms,
    }
}

fn shared_bucket(test_name: &str) -> Bucket {
    let config = RedisConfig {
        key_prefix: testkit::unique_prefix(test_name),
        ..RedisConfig::default()
    };
    Bucket::redis_from_url(&testkit::redis_url(), config).unwrap()
}

#[tokio::test]
async fn a_fresh_prefix_is_unsynced_until_an_envelope_then_admits() {
    let bucket = shared_bucket("fresh");
    let error = bucket
        .acquire(Tokens::from_whole(1), Lane::Urgent)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unsynced), "{error}");
    bucket.reconcile(&envelope(20, 30_000, 1)).await.unwrap();
    let permit = bucket
        .acquire(Tokens::from_whole(10), Lane::Urgent)
        .await
        .unwrap();
    permit.settle(Tokens::from_whole(8)).await.unwrap();
    assert_eq!(
        bucket.snapshot().await.unwrap().balance,
        Tokens::from_whole(12)
    );
}
