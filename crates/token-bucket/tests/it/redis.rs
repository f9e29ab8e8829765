//! The Redis backend against real Redis servers: typed errors for a dead server, recovery
//! after a restart or a wipe, NOSCRIPT recovery, crashed holders (in this process and in a
//! separate one), key isolation under the prefix, and several concurrent clients spending one
//! Keepa-like ledger.
//!
//! Tests that share the suite's server (`testkit::redis_url`) use unique prefixes; tests that
//! kill, restart or flush a server start a `testkit::PrivateRedis` of their own. No test sleeps
//! to let time pass: time is Redis's own `TIME` or an injected [`ManualClock`].

use std::process::Command;
use std::sync::{Arc, Mutex};

use deadpool_redis::redis;
use testkit::PrivateRedis;
use token_bucket::clock::{Clock, ManualClock};
use token_bucket::core::{AcquireRequest, Decision, Policy, ReservationId, WaiterId};
use token_bucket::redis::{RedisClock, RedisConfig};
use token_bucket::{Bucket, Envelope, Error, Lane, Tokens};

const T0: i64 = 5_000_000;

fn envelope(tokens_left: i64, refill_in_ms: i64, server_timestamp_ms: i64) -> Envelope {
    Envelope {
        tokens_left,
        refill_in_ms,
        refill_rate: 5,
        tokens_consumed: 0,
        server_timestamp_ms,
    }
}

fn config(key_prefix: String, clock: RedisClock) -> RedisConfig {
    RedisConfig {
        key_prefix,
        clock,
        ..RedisConfig::default()
    }
}

/// A bucket on the suite's shared server under a fresh prefix, on the server's clock.
fn shared_bucket(test_name: &str) -> (Bucket, RedisConfig) {
    let config = config(testkit::unique_prefix(test_name), RedisClock::Server);
    let bucket = Bucket::redis_from_url(&testkit::redis_url(), config.clone()).unwrap();
    (bucket, config)
}

/// A bucket on the suite's shared server under `prefix`, on `clock`.
fn bucket_on_clock(prefix: &str, clock: &ManualClock) -> Bucket {
    let config = config(
        prefix.to_owned(),
        RedisClock::Injected(Arc::new(clock.clone())),
    );
    Bucket::redis_from_url(&testkit::redis_url(), config).unwrap()
}

async fn command<T: redis::FromRedisValue>(url: &str, command: &mut redis::Cmd) -> T {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    command.query_async(&mut connection).await.unwrap()
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[track_caller]
fn check_unavailable(result: Result<impl std::fmt::Debug, Error>, endpoint: &str) {
    match result {
        Err(Error::RedisUnavailable {
            endpoint: named, ..
        }) => assert_eq!(named, endpoint),
        other => panic!("expected RedisUnavailable at {endpoint}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_fresh_prefix_is_unsynced_until_an_envelope_then_admits() {
    let (bucket, _) = shared_bucket("fresh");
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

#[tokio::test]
async fn the_server_clock_is_the_default() {
    let (bucket, _) = shared_bucket("server-clock");
    let url = testkit::redis_url();
    let time_ms = |time: (i64, i64)| time.0 * 1000 + time.1 / 1000;
    let before = time_ms(command(&url, &mut redis::cmd("TIME")).await);
    bucket.reconcile(&envelope(20, 30_000, 1)).await.unwrap();
    let after = time_ms(command(&url, &mut redis::cmd("TIME")).await);
    let next_refill_ms = bucket.snapshot().await.unwrap().next_refill_ms;
    assert!(
        (before + 30_000..=after + 30_000).contains(&next_refill_ms),
        "next refill {next_refill_ms} is not 30 s after the server's time {before}..{after}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_typed_error_that_names_the_server_without_its_password() {
    let port = free_port();
    let url = format!("redis://:hunter2-secret@127.0.0.1:{port}/");
    let bucket =
        Bucket::redis_from_url(&url, config("unreachable:".to_owned(), RedisClock::Server))
            .unwrap();
    let endpoint = format!("127.0.0.1:{port}");
    let error = bucket
        .acquire(Tokens::from_whole(1), Lane::Urgent)
        .await
        .unwrap_err();
    for text in [
        error.to_string(),
        format!("{error:?}"),
        format!("{bucket:?}"),
    ] {
        assert!(!text.contains("hunter2"), "the password leaked: {text}");
    }
    assert!(error.to_string().contains(&endpoint), "{error}");
    check_unavailable(Err::<(), _>(error), &endpoint);
    check_unavailable(bucket.reconcile(&envelope(20, 30_000, 1)).await, &endpoint);
    check_unavailable(bucket.snapshot().await, &endpoint);
    check_unavailable(bucket.bulk_budget().await, &endpoint);
    check_unavailable(bucket.desync().await, &endpoint);
}

#[tokio::test]
async fn a_killed_redis_is_a_typed_error_and_a_restarted_one_recovers_after_one_reconcile() {
    let mut server = PrivateRedis::start();
    let endpoint = format!("127.0.0.1:{}", server.port());
    let bucket = Bucket::redis_from_url(&server.url(), RedisConfig::default()).unwrap();
    bucket.reconcile(&envelope(100, 30_000, 1)).await.unwrap();
    let permit = bucket
        .acquire(Tokens::from_whole(5), Lane::Urgent)
        .await
        .unwrap();

    server.kill();
    check_unavailable(
        bucket.acquire(Tokens::from_whole(5), Lane::Urgent).await,
        &endpoint,
    );
    check_unavailable(permit.settle(Tokens::from_whole(5)).await, &endpoint);
    check_unavailable(bucket.snapshot().await, &endpoint);

    server.restart();
    // The restarted server has no state: the bucket says so rather than guessing.
    let error = bucket
        .acquire(Tokens::from_whole(5), Lane::Urgent)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unsynced), "{error}");
    bucket.reconcile(&envelope(95, 20_000, 2)).await.unwrap();
    let permit = bucket
        .acquire(Tokens::from_whole(5), Lane::Urgent)
        .await
        .unwrap();
    permit.settle(Tokens::from_whole(5)).await.unwrap();
    assert_eq!(
        bucket.snapshot().await.unwrap().balance,
        Tokens::from_whole(90)
    );
}

#[tokio::test]
async fn a_script_flush_mid_run_is_recovered_by_loading_the_scripts_again() {
    let server = PrivateRedis::start();
    let bucket = Bucket::redis_from_url(&server.url(), RedisConfig::default()).unwrap();
    bucket.reconcile(&envelope(100, 30_000, 1)).await.unwrap();
    let permit = bucket
        .acquire(Tokens::from_whole(10), Lane::Urgent)
        .await
        .unwrap();

    let () = command(&server.url(), redis::cmd("SCRIPT").arg("FLUSH")).await;
    permit.settle(Tokens::from_whole(4)).await.unwrap();
    let () = command(&server.url(), redis::cmd("SCRIPT").arg("FLUSH")).await;
    let permit = bucket
        .acquire(Tokens::from_whole(10), Lane::Bulk)
        .await
        .unwrap();
    permit.settle(Tokens::from_whole(10)).await.unwrap();
    assert_eq!(
        bucket.snapshot().await.unwrap().balance,
        Tokens::from_whole(86)
    );
}

#[tokio::test]
async fn a_wiped_state_is_unsynced_until_the_next_envelope() {
    let (bucket, config) = shared_bucket("wiped");
    bucket.reconcile(&envelope(100, 30_000, 1)).await.unwrap();
    let _: i64 = command(
        &testkit::redis_url(),
        redis::cmd("DEL").arg(config.state_key()),
    )
    .await;
    let error = bucket
        .acquire(Tokens::from_whole(1), Lane::Urgent)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unsynced), "{error}");
    bucket.reconcile(&envelope(100, 30_000, 2)).await.unwrap();
    drop(
        bucket
            .acquire(Tokens::from_whole(1), Lane::Urgent)
            .await
            .unwrap(),
    );

    bucket.desync().await.unwrap();
    assert!(!bucket.snapshot().await.unwrap().synced);
    let error = bucket
        .acquire(Tokens::from_whole(1), Lane::Urgent)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unsynced), "{error}");
}

#[tokio::test]
async fn a_state_that_is_not_a_bucket_state_is_a_protocol_error() {
    let (bucket, config) = shared_bucket("corrupt");
    let () = command(
        &testkit::redis_url(),
        redis::cmd("SET").arg(config.state_key()).arg("not json"),
    )
    .await;
    let error = bucket
        .acquire(Tokens::from_whole(1), Lane::Urgent)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::RedisProtocol { .. }), "{error:?}");
}

/// A worker upgraded in the middle of a run finds the state an older version wrote (a JSON
/// object of decimal strings, as `cjson` encoded it): the bucket goes on from it, reservation
/// and queue place included, and the next write stores the current layout.
#[tokio::test]
async fn a_state_written_by_the_previous_layout_is_read_and_replaced() {
    let prefix = testkit::unique_prefix("old-layout");
    let clock = ManualClock::at(T0);
    let bucket = bucket_on_clock(&prefix, &clock);
    let state_key = format!("{prefix}bucket:state");
    let written_by_version_1 = r#"{"waiters":[{},[["5000000002","5015000"]]],"last_server_timestamp_ms":"7","urgent_window":["0","5000"],"v":1,"next_id":"5000000003","balance":"95000","refill_rate":"5","drift_window":["0","0"],"counters":["5000","0","0","0","0","0","1","0"],"synced":true,"reservations":[["5000000001","1","5000","5120000",""]],"next_refill_ms":"5030000"}"#;
    let () = command(
        &testkit::redis_url(),
        redis::cmd("SET").arg(&state_key).arg(written_by_version_1),
    )
    .await;

    let before = bucket.snapshot().await.unwrap();
    assert!(before.synced);
    assert_eq!(before.balance, Tokens::from_whole(95));
    assert_eq!(before.refill_rate, 5);
    assert_eq!(before.next_refill_ms, 5_030_000);
    assert_eq!(
        (before.in_flight, before.n_in_flight),
        (Tokens::from_whole(5), 1)
    );
    assert_eq!(before.waiting, [0, 1]);
    assert_eq!(before.counters.granted, Tokens::from_whole(5));
    assert_eq!(before.counters.admitted, [1, 0]);
    let stored: Vec<u8> = command(&testkit::redis_url(), redis::cmd("GET").arg(&state_key)).await;
    assert!(stored.starts_with(b"TBv3"), "{stored:?}");

    let outcome = bucket
        .settle_reservation(ReservationId(5_000_000_001), Tokens::from_whole(3))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        token_bucket::SettleOutcome::Settled {
            refund: Tokens::from_whole(2)
        }
    );
    // The bulk waiter kept its place at the head of its queue: asking again admits it.
    let request = AcquireRequest {
        cost: Tokens::from_whole(20),
        lane: Lane::Bulk,
        waiter: Some(WaiterId(5_000_000_002)),
    };
    let (decision, _) = bucket.decide(request).await.unwrap();
    assert_eq!(
        decision,
        Decision::Admit {
            reservation: ReservationId(5_000_000_003)
        }
    );
    let after = bucket.snapshot().await.unwrap();
    assert_eq!(after.balance, Tokens::from_whole(77));
    assert_eq!(after.waiting, [0, 0]);
}

/// A worker upgraded in the middle of a run finds a state in the previous packed layout
/// (`TBv2`, whose waiters had no cost): the bucket goes on from it, the waiter keeps its place
/// and holds back the urgent requests behind it as it did then, and the next write stores the
/// current layout.
#[tokio::test]
async fn a_state_in_the_previous_packed_layout_is_read_and_replaced() {
    let prefix = testkit::unique_prefix("packed-v2");
    let clock = ManualClock::at(T0);
    let bucket = bucket_on_clock(&prefix, &clock);
    let state_key = format!("{prefix}bucket:state");
    // Header (synced, balance, rate, next refill, last timestamp, next id, eight counters,
    // four windows, three counts), no reservation, one urgent waiter (id, expiry), one bulk.
    let header: [i64; 21] = [
        1,
        3_000,
        5,
        5_030_000,
        7,
        5_000_000_003,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        1,
    ];
    let waiters: [i64; 4] = [5_000_000_001, 5_020_000, 5_000_000_002, 5_020_000];
    let mut written_by_version_2 = b"TBv2".to_vec();
    for integer in header.iter().chain(&waiters) {
        written_by_version_2.extend_from_slice(&integer.to_le_bytes());
    }
    let () = command(
        &testkit::redis_url(),
        redis::cmd("SET").arg(&state_key).arg(written_by_version_2),
    )
    .await;

    let before = bucket.snapshot().await.unwrap();
    assert!(before.synced);
    assert_eq!(before.balance, Tokens::from_whole(3));
    assert_eq!(before.waiting, [1, 1]);
    // A newcomer of 1 token waits behind the urgent waiter, whose cost was not recorded.
    let newcomer = AcquireRequest {
        cost: Tokens::from_whole(1),
        lane: Lane::Urgent,
        waiter: None,
    };
    let (decision, _) = bucket.decide(newcomer).await.unwrap();
    assert!(matches!(decision, Decision::Wait { .. }), "{decision:?}");
    let stored: Vec<u8> = command(&testkit::redis_url(), redis::cmd("GET").arg(&state_key)).await;
    assert!(stored.starts_with(b"TBv3"), "{stored:?}");
    assert_eq!(stored.len(), 4 + 8 * (21 + 3 * 3));
    // The waiter asks again and is admitted at the head of its queue.
    let request = AcquireRequest {
        cost: Tokens::from_whole(2),
        lane: Lane::Urgent,
        waiter: Some(WaiterId(5_000_000_001)),
    };
    let (decision, _) = bucket.decide(request).await.unwrap();
    assert!(matches!(decision, Decision::Admit { .. }), "{decision:?}");
    assert_eq!(bucket.snapshot().await.unwrap().waiting, [1, 1]);
}

/// A state longer than `struct` packs or unpacks in one call (tens of reservations, a hundred
/// waiters) is stored and read a slice at a time; the Redis bucket then decides exactly as the
/// memory bucket does, through admission, queueing, settling and expiry.
#[tokio::test]
async fn a_long_state_round_trips_and_decides_as_the_memory_backend() {
    let clock = ManualClock::at(T0);
    let memory = Bucket::in_memory_with_clock(Policy::default(), Arc::new(clock.clone()));
    let redis = bucket_on_clock(&testkit::unique_prefix("long-state"), &clock);
    let both = [&memory, &redis];
    for bucket in both {
        bucket.reconcile(&envelope(100, 30_000, 1)).await.unwrap();
    }
    let mut reservations: [Vec<ReservationId>; 2] = [Vec::new(), Vec::new()];
    let mut waiters: [Vec<WaiterId>; 2] = [Vec::new(), Vec::new()];
    let check_same_snapshot = async |what: &str| {
        let expected = memory.snapshot().await.unwrap();
        assert_eq!(redis.snapshot().await.unwrap(), expected, "after {what}");
    };

    // 60 reservations in flight, then 100 bulk waiters behind them: 21 + 60 × 6 + 100 × 3
    // integers.
    for (cost, lane, n) in [(1, Lane::Urgent, 60), (50, Lane::Bulk, 100)] {
        for _ in 0..n {
            let request = AcquireRequest {
                cost: Tokens::from_whole(cost),
                lane,
                waiter: None,
            };
            let mut decisions = Vec::new();
            for (index, bucket) in both.into_iter().enumerate() {
                let (decision, _) = bucket.decide(request).await.unwrap();
                match decision {
                    Decision::Admit { reservation } => reservations[index].push(reservation),
                    Decision::Wait { waiter, .. } => waiters[index].push(waiter),
                    other => panic!("unexpected {other:?}"),
                }
                decisions.push(match decision {
                    Decision::Wait { until_ms, .. } => Some(until_ms),
                    _ => None,
                });
            }
            assert_eq!(decisions[0], decisions[1]);
        }
    }
    assert_eq!((reservations[1].len(), waiters[1].len()), (60, 100));
    check_same_snapshot("queueing").await;

    // Half the reservations settle, a waiter in the middle of the queue leaves.
    for (in_memory, in_redis) in reservations[0].iter().zip(&reservations[1]).take(30) {
        let outcomes = [
            memory
                .settle_reservation(*in_memory, Tokens::ZERO)
                .await
                .unwrap(),
            redis
                .settle_reservation(*in_redis, Tokens::ZERO)
                .await
                .unwrap(),
        ];
        assert_eq!(outcomes[0], outcomes[1]);
    }
    memory.cancel_waiter(waiters[0][50]).await.unwrap();
    redis.cancel_waiter(waiters[1][50]).await.unwrap();
    check_same_snapshot("settling and cancelling").await;

    // The waiters stop asking and expire; then the unsettled reservations expire.
    clock.advance_ms(Policy::default().max_wait_slice_ms + Policy::default().waiter_grace_ms);
    check_same_snapshot("the waiters' expiry").await;
    clock.advance_ms(Policy::default().reservation_ttl_ms);
    check_same_snapshot("the reservations' expiry").await;
    let after = redis.snapshot().await.unwrap();
    assert_eq!((after.n_in_flight, after.waiting), (0, [0, 0]));
    assert_eq!(after.counters.expired_waiters, 99);
    assert_eq!(after.counters.expired_reservations, 30);
}

#[tokio::test]
async fn every_key_lives_under_the_prefix() {
    let server = PrivateRedis::start();
    let config = config("custom-prefix:".to_owned(), RedisClock::Server);
    let bucket = Bucket::redis_from_url(&server.url(), config).unwrap();
    bucket.reconcile(&envelope(100, 30_000, 1)).await.unwrap();
    let permit = bucket
        .acquire(Tokens::from_whole(10), Lane::Urgent)
        .await
        .unwrap();
    bucket.bulk_budget().await.unwrap();
    permit.release().await.unwrap();
    let keys: Vec<String> = command(&server.url(), redis::cmd("KEYS").arg("*")).await;
    assert_eq!(keys, ["custom-prefix:bucket:state"]);
}

#[tokio::test]
async fn a_dropped_permit_returns_its_estimate() {
    let (bucket, _) = shared_bucket("dropped");
    bucket.reconcile(&envelope(100, 30_000, 1)).await.unwrap();
    drop(
        bucket
            .acquire(Tokens::from_whole(10), Lane::Urgent)
            .await
            .unwrap(),
    );
    // The release runs on a spawned task; let it finish.
    for _ in 0..1_000 {
        if bucket.snapshot().await.unwrap().n_in_flight == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let snapshot = bucket.snapshot().await.unwrap();
    assert_eq!(snapshot.n_in_flight, 0);
    assert_eq!(snapshot.balance, Tokens::from_whole(100));
}

#[tokio::test]
async fn an_unsettled_reservation_expires_after_the_ttl_with_its_estimate_spent() {
    let clock = ManualClock::at(T0);
    let bucket = bucket_on_clock(&testkit::unique_prefix("ttl"), &clock);
    let ttl = Policy::default().reservation_ttl_ms;
    // No refill during the test: the next one is two TTLs away.
    bucket.reconcile(&envelope(100, 2 * ttl, 1)).await.unwrap();
    let request = AcquireRequest {
        cost: Tokens::from_whole(7),
        lane: Lane::Urgent,
        waiter: None,
    };
    // A holder that never comes back: the raw decision, no permit to drop.
    let (decision, _) = bucket.decide(request).await.unwrap();
    assert!(matches!(decision, Decision::Admit { .. }), "{decision:?}");

    clock.advance_ms(ttl - 1);
    let snapshot = bucket.snapshot().await.unwrap();
    assert_eq!(
        (snapshot.n_in_flight, snapshot.in_flight),
        (1, Tokens::from_whole(7))
    );

    clock.advance_ms(1);
    let snapshot = bucket.snapshot().await.unwrap();
    assert_eq!(
        (snapshot.n_in_flight, snapshot.in_flight),
        (0, Tokens::ZERO)
    );
    assert_eq!(snapshot.counters.expired_reservations, 1);
    assert_eq!(snapshot.balance, Tokens::from_whole(93));
}

/// Set in the child process of the crashed-holder test: the prefix to acquire under.
const CRASH_CHILD_ENV: &str = "KEEPA_DEALS_TOKEN_BUCKET_CRASH_CHILD";

#[tokio::test]
async fn a_crashed_process_reservation_is_counted_in_flight_then_expires() {
    if let Ok(prefix) = std::env::var(CRASH_CHILD_ENV) {
        // The child: acquire, say so, and die without settling or releasing.
        let bucket = bucket_on_clock(&prefix, &ManualClock::at(T0));
        let permit = bucket
            .acquire(Tokens::from_whole(7), Lane::Urgent)
            .await
            .unwrap();
        println!("admitted {:?}", permit.reservation());
        std::process::abort();
    }

    let prefix = testkit::unique_prefix("crashed-process");
    let clock = ManualClock::at(T0);
    let bucket = bucket_on_clock(&prefix, &clock);
    let ttl = Policy::default().reservation_ttl_ms;
    bucket.reconcile(&envelope(100, 2 * ttl, 1)).await.unwrap();

    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "redis::a_crashed_process_reservation_is_counted_in_flight_then_expires",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_ENV, &prefix)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "the child did not crash: {stdout}"
    );
    assert!(
        stdout.contains("admitted"),
        "the child never acquired: {stdout}"
    );

    // Another client sees the dead process's reservation in flight...
    let snapshot = bucket.snapshot().await.unwrap();
    assert_eq!(
        (snapshot.n_in_flight, snapshot.in_flight),
        (1, Tokens::from_whole(7))
    );
    assert_eq!(snapshot.balance, Tokens::from_whole(93));
    // ...until its TTL runs out.
    clock.advance_ms(ttl);
    let snapshot = bucket.snapshot().await.unwrap();
    assert_eq!(
        (snapshot.n_in_flight, snapshot.in_flight),
        (0, Tokens::ZERO)
    );
    assert_eq!(snapshot.counters.expired_reservations, 1);
}

/// A Keepa-like quota on the simulated clock: refills once a minute at its own phase, caps at
/// an hour of refill, admits while the balance is above zero and charges in full.
#[derive(Debug)]
struct Ledger {
    balance: i64,
    rate: i64,
    next_refill_ms: i64,
    timestamp_ms: i64,
    n_refused: u64,
    lowest: i64,
    wasted: i64,
}

impl Ledger {
    fn request(&mut self, now_ms: i64, cost: i64) -> Envelope {
        while now_ms >= self.next_refill_ms {
            let filled = (self.balance + self.rate)
                .min(60 * self.rate)
                .max(self.balance);
            self.wasted += self.balance + self.rate - filled;
            self.balance = filled;
            self.next_refill_ms += 60_000;
        }
        self.timestamp_ms += 1;
        let tokens_consumed = if self.balance > 0 {
            self.balance -= cost;
            cost
        } else {
            self.n_refused += 1;
            0
        };
        self.lowest = self.lowest.min(self.balance);
        Envelope {
            tokens_left: self.balance,
            refill_in_ms: self.next_refill_ms - now_ms,
            refill_rate: self.rate,
            tokens_consumed,
            server_timestamp_ms: self.timestamp_ms,
        }
    }
}

/// One simulated client: its own `Bucket` (as another process would have), stepping through
/// ask → wait → send → reconcile on the shared simulated clock.
enum Stage {
    Idle,
    Waiting {
        waiter: WaiterId,
        until_ms: i64,
        cost: Tokens,
    },
    InFlight {
        reservation: ReservationId,
        envelope: Envelope,
        done_ms: i64,
    },
}

struct SimulatedClient {
    bucket: Bucket,
    lane: Lane,
    stage: Stage,
    /// Urgent clients ask every so often; bulk clients ask whenever idle.
    next_ask_ms: i64,
    asked_ms: i64,
    waits_ms: Vec<i64>,
}

const LATENCY_MS: i64 = 2_000;
const URGENT_EVERY_MS: i64 = 37_000;

impl SimulatedClient {
    async fn step(mut self, now_ms: i64, ledger: Arc<Mutex<Ledger>>) -> SimulatedClient {
        if let Stage::InFlight {
            reservation,
            envelope,
            done_ms,
        } = self.stage
        {
            if now_ms < done_ms {
                return self;
            }
            self.bucket
                .reconcile_reservation(reservation, &envelope)
                .await
                .unwrap();
            self.stage = Stage::Idle;
        }
        let request = match self.stage {
            Stage::Idle if now_ms >= self.next_ask_ms => {
                let cost = match self.lane {
                    Lane::Urgent => Tokens::from_whole(5),
                    // Size the batch to what bulk may spend now; when nothing, a typical batch.
                    Lane::Bulk => Tokens::from_whole(
                        self.bucket
                            .bulk_budget()
                            .await
                            .unwrap()
                            .whole_floor()
                            .clamp(1, 40),
                    ),
                };
                self.asked_ms = now_ms;
                AcquireRequest {
                    cost,
                    lane: self.lane,
                    waiter: None,
                }
            }
            Stage::Waiting {
                waiter,
                until_ms,
                cost,
            } if now_ms >= until_ms => AcquireRequest {
                cost,
                lane: self.lane,
                waiter: Some(waiter),
            },
            _ => return self,
        };
        match self.bucket.decide(request).await.unwrap().0 {
            Decision::Admit { reservation } => {
                self.waits_ms.push(now_ms - self.asked_ms);
                let cost = request.cost.whole_ceil();
                let envelope = ledger.lock().unwrap().request(now_ms, cost);
                self.stage = Stage::InFlight {
                    reservation,
                    envelope,
                    done_ms: now_ms + LATENCY_MS,
                };
                if self.lane == Lane::Urgent {
                    self.next_ask_ms = now_ms + URGENT_EVERY_MS;
                }
            }
            Decision::Wait { waiter, until_ms } => {
                self.stage = Stage::Waiting {
                    waiter,
                    until_ms,
                    cost: request.cost,
                }
            }
            other => panic!("unexpected decision {other:?}"),
        }
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_never_pass_the_floor_and_urgent_work_is_never_starved() {
    // Three bulk clients saturate a 20 tokens/min key; one urgent client asks for 5 tokens
    // every 37 s. Every client has its own Bucket on the same prefix, as separate processes
    // would, and they step concurrently once per simulated second.
    const STEP_MS: i64 = 1_000;
    let prefix = testkit::unique_prefix("concurrent");
    let clock = ManualClock::at(T0);
    let ledger = Arc::new(Mutex::new(Ledger {
        balance: 1_200,
        rate: 20,
        next_refill_ms: T0 + 17_000,
        timestamp_ms: 0,
        n_refused: 0,
        lowest: 1_200,
        wasted: 0,
    }));
    let first = ledger.lock().unwrap().request(T0, 0);
    bucket_on_clock(&prefix, &clock)
        .reconcile(&first)
        .await
        .unwrap();

    let lanes = [Lane::Bulk, Lane::Bulk, Lane::Bulk, Lane::Urgent];
    let mut clients: Vec<SimulatedClient> = lanes
        .iter()
        .map(|&lane| SimulatedClient {
            bucket: bucket_on_clock(&prefix, &clock),
            lane,
            stage: Stage::Idle,
            next_ask_ms: T0 + URGENT_EVERY_MS,
            asked_ms: T0,
            waits_ms: Vec::new(),
        })
        .collect();
    for client in &mut clients {
        if client.lane == Lane::Bulk {
            client.next_ask_ms = T0;
        }
    }

    let end_ms = T0 + 3_600_000;
    while clock.now_ms() < end_ms {
        clock.advance_ms(STEP_MS);
        let now_ms = clock.now_ms();
        let steps: Vec<_> = clients
            .into_iter()
            .map(|client| tokio::spawn(client.step(now_ms, ledger.clone())))
            .collect();
        clients = Vec::with_capacity(steps.len());
        for step in steps {
            clients.push(step.await.unwrap());
        }
    }

    let ledger = ledger.lock().unwrap();
    let urgent = &clients[3].waits_ms;
    let worst_urgent_ms = *urgent.iter().max().unwrap();
    let n_bulk: usize = clients[..3].iter().map(|c| c.waits_ms.len()).sum();
    assert!(urgent.len() > 80, "{} urgent requests", urgent.len());
    assert!(n_bulk > 100, "{n_bulk} bulk requests");
    // DESIGN.md §4: one refill period, plus the simulated step the client takes to ask again.
    // (Envelopes arrive out of order here; the core gives back the charge of a request whose
    // stale envelope shows it was subtracted twice, so the projection never stays low.)
    assert!(
        worst_urgent_ms <= 60_000 + STEP_MS,
        "an urgent request waited {worst_urgent_ms} simulated ms"
    );
    assert_eq!(ledger.n_refused, 0, "keepa refused requests: {ledger:?}");
    assert!(
        ledger.lowest >= -180,
        "the balance reached {}",
        ledger.lowest
    );
    assert_eq!(ledger.wasted, 0, "tokens expired at the cap: {ledger:?}");
}

#[tokio::test(start_paused = true)]
async fn under_a_paused_clock_real_time_io_keeps_simulated_time_still_during_redis_calls() {
    // Something for the paused clock to jump to, were it allowed to advance while we wait on
    // Redis replies.
    let alarm = tokio::spawn(tokio::time::sleep(std::time::Duration::from_secs(3600)));
    let real_time = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = RedisConfig {
        io: token_bucket::RedisIo::RealTime(real_time.handle().clone()),
        ..config(
            testkit::unique_prefix("paused-real-time"),
            RedisClock::Injected(Arc::new(token_bucket::clock::TokioClock::start())),
        )
    };
    let bucket = Bucket::redis_from_url(&testkit::redis_url(), config).unwrap();
    let started = tokio::time::Instant::now();
    bucket.reconcile(&envelope(1_000, 30_000, 1)).await.unwrap();
    for _ in 0..50 {
        let permit = bucket
            .acquire(Tokens::from_whole(1), Lane::Urgent)
            .await
            .unwrap();
        permit.settle(Tokens::from_whole(1)).await.unwrap();
    }
    assert_eq!(
        started.elapsed(),
        std::time::Duration::ZERO,
        "simulated time moved during redis calls"
    );
    assert_eq!(
        bucket.snapshot().await.unwrap().balance,
        Tokens::from_whole(950)
    );
    alarm.abort();
    real_time.shutdown_background();
}
