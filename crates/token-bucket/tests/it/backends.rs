//! The same scripts of events against the core, the memory backend and the Redis backend.
//!
//! A generated script interleaves acquires (keeping the place in the queue or giving it up),
//! settles, releases, cancels, reconciles (some stale, some without token information, some
//! settling a reservation), bulk-budget questions and the passing of time, from several
//! clients. Each script runs against a bare [`Core`], a memory-backed [`Bucket`] and a
//! Redis-backed one on an injected clock; after every event the answer and the snapshot must be
//! identical. Reservation and waiter identities differ between backends by design (Redis seeds
//! them from the clock), so they are compared by order of first appearance.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use token_bucket::clock::{Clock, ManualClock};
use token_bucket::core::{
    AcquireRequest, Core, Decision, Envelope, Policy, ReconcileOutcome, RefuseReason,
    ReservationId, SettleOutcome, Snapshot, WaiterId,
};
use token_bucket::redis::{RedisClock, RedisConfig};
use token_bucket::{Bucket, Lane, Tokens};

const N_CLIENTS: usize = 3;
const T0: i64 = 1_000_000;

#[derive(Clone, Debug)]
enum Event {
    Acquire {
        client: usize,
        cost_milli: i64,
        lane: Lane,
        keep_waiter: bool,
    },
    Settle {
        client: usize,
        actual_milli: i64,
    },
    Release {
        client: usize,
    },
    Cancel {
        client: usize,
    },
    Reconcile {
        envelope: Envelope,
        settle: Option<usize>,
    },
    BulkBudget,
    Advance {
        ms: i64,
    },
}

fn lane() -> impl Strategy<Value = Lane> {
    prop_oneof![Just(Lane::Urgent), Just(Lane::Bulk)]
}

fn event() -> impl Strategy<Value = Event> {
    let client = 0..N_CLIENTS;
    let envelope = (
        -200i64..=1_500,
        0i64..=60_000,
        prop_oneof![1 => Just(0i64), 6 => Just(5i64), 3 => Just(20i64), 2 => Just(25i64)],
        0i64..=80,
        0i64..=200,
    )
        .prop_map(
            |(tokens_left, refill_in_ms, refill_rate, tokens_consumed, server_timestamp_ms)| {
                Envelope {
                    tokens_left,
                    refill_in_ms,
                    refill_rate,
                    tokens_consumed,
                    server_timestamp_ms,
                }
            },
        );
    prop_oneof![
        5 => (client.clone(), 0i64..80_000, lane(), proptest::bool::weighted(0.7)).prop_map(
            |(client, cost_milli, lane, keep_waiter)| Event::Acquire { client, cost_milli, lane, keep_waiter }
        ),
        3 => (client.clone(), 0i64..90_000)
            .prop_map(|(client, actual_milli)| Event::Settle { client, actual_milli }),
        1 => client.clone().prop_map(|client| Event::Release { client }),
        1 => client.clone().prop_map(|client| Event::Cancel { client }),
        3 => (envelope, proptest::option::of(client))
            .prop_map(|(envelope, settle)| Event::Reconcile { envelope, settle }),
        1 => Just(Event::BulkBudget),
        // Exact periods, slices, grace and TTL hit the boundaries of every `>` and `>=`.
        3 => prop_oneof![0i64..5_000, 0i64..130_000, proptest::sample::select(vec![1, 5_000, 10_000, 15_000, 60_000, 120_000])]
            .prop_map(|ms| Event::Advance { ms }),
    ]
}

/// A decision with identities replaced by their order of first appearance.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Unsynced,
    Admit { reservation: usize },
    Wait { waiter: usize, until_ms: i64 },
    Refuse(RefuseReason),
    Settle(SettleOutcome),
    Reconcile(ReconcileOutcome),
    Budget(Tokens),
    Nothing,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Observation {
    answer: Answer,
    snapshot: Snapshot,
}

/// What the script's client holds on one backend.
#[derive(Default)]
struct Client {
    waiter: Option<(WaiterId, Tokens, Lane)>,
    reservations: VecDeque<ReservationId>,
}

enum Target {
    Core(Box<Core>),
    Bucket(Bucket),
}

struct Run {
    target: Target,
    clock: ManualClock,
    clients: Vec<Client>,
    ordinals: HashMap<u64, usize>,
}

impl Run {
    fn new(target: Target, clock: ManualClock) -> Run {
        Run {
            target,
            clock,
            clients: (0..N_CLIENTS).map(|_| Client::default()).collect(),
            ordinals: HashMap::new(),
        }
    }

    fn ordinal(&mut self, id: u64) -> usize {
        let next = self.ordinals.len();
        *self.ordinals.entry(id).or_insert(next)
    }

    async fn decide(&mut self, request: AcquireRequest) -> Decision {
        let now = self.clock.now_ms();
        match &mut self.target {
            Target::Core(core) => core.acquire(now, request),
            Target::Bucket(bucket) => bucket.decide(request).await.unwrap().0,
        }
    }

    async fn apply(&mut self, event: &Event) -> Answer {
        let now = self.clock.now_ms();
        match *event {
            Event::Acquire {
                client,
                cost_milli,
                lane,
                keep_waiter,
            } => {
                let request = match self.clients[client].waiter {
                    Some((waiter, cost, lane)) => AcquireRequest {
                        cost,
                        lane,
                        waiter: Some(waiter),
                    },
                    None => AcquireRequest {
                        cost: Tokens::from_milli(cost_milli),
                        lane,
                        waiter: None,
                    },
                };
                let decision = self.decide(request).await;
                self.clients[client].waiter = None;
                match decision {
                    Decision::Admit { reservation } => {
                        self.clients[client].reservations.push_back(reservation);
                        Answer::Admit {
                            reservation: self.ordinal(reservation.0),
                        }
                    }
                    Decision::Wait { waiter, until_ms } => {
                        if keep_waiter {
                            self.clients[client].waiter =
                                Some((waiter, request.cost, request.lane));
                        } else {
                            self.cancel(waiter).await;
                        }
                        Answer::Wait {
                            waiter: self.ordinal(waiter.0),
                            until_ms,
                        }
                    }
                    Decision::Refuse(reason) => Answer::Refuse(reason),
                    Decision::Unsynced => Answer::Unsynced,
                }
            }
            Event::Settle {
                client,
                actual_milli,
            } => {
                let Some(reservation) = self.clients[client].reservations.pop_front() else {
                    return Answer::Nothing;
                };
                let actual = Tokens::from_milli(actual_milli);
                Answer::Settle(match &mut self.target {
                    Target::Core(core) => core.settle(now, reservation, actual),
                    Target::Bucket(bucket) => bucket
                        .settle_reservation(reservation, actual)
                        .await
                        .unwrap(),
                })
            }
            Event::Release { client } => {
                let Some(reservation) = self.clients[client].reservations.pop_front() else {
                    return Answer::Nothing;
                };
                Answer::Settle(match &mut self.target {
                    Target::Core(core) => core.release(now, reservation),
                    Target::Bucket(bucket) => {
                        bucket.release_reservation(reservation).await.unwrap()
                    }
                })
            }
            Event::Cancel { client } => {
                if let Some((waiter, _, _)) = self.clients[client].waiter.take() {
                    self.cancel(waiter).await;
                }
                Answer::Nothing
            }
            Event::Reconcile { envelope, settle } => {
                let settle =
                    settle.and_then(|client| self.clients[client].reservations.pop_front());
                Answer::Reconcile(match &mut self.target {
                    Target::Core(core) => core.reconcile(now, &envelope, settle),
                    Target::Bucket(bucket) => match settle {
                        Some(reservation) => bucket
                            .reconcile_reservation(reservation, &envelope)
                            .await
                            .unwrap(),
                        None => bucket.reconcile(&envelope).await.unwrap(),
                    },
                })
            }
            Event::BulkBudget => Answer::Budget(match &mut self.target {
                Target::Core(core) => core.bulk_budget(now),
                Target::Bucket(bucket) => bucket.bulk_budget().await.unwrap(),
            }),
            Event::Advance { ms } => {
                self.clock.advance_ms(ms);
                Answer::Nothing
            }
        }
    }

    async fn cancel(&mut self, waiter: WaiterId) {
        let now = self.clock.now_ms();
        match &mut self.target {
            Target::Core(core) => core.cancel(now, waiter),
            Target::Bucket(bucket) => bucket.cancel_waiter(waiter).await.unwrap(),
        }
    }

    async fn snapshot(&mut self) -> Snapshot {
        let now = self.clock.now_ms();
        match &mut self.target {
            Target::Core(core) => core.snapshot(now),
            Target::Bucket(bucket) => bucket.snapshot().await.unwrap(),
        }
    }

    async fn observe(&mut self, events: &[Event]) -> Vec<Observation> {
        let mut observations = Vec::with_capacity(events.len());
        for event in events {
            let answer = self.apply(event).await;
            let snapshot = self.snapshot().await;
            observations.push(Observation { answer, snapshot });
        }
        observations
    }
}

#[track_caller]
fn check_same(
    events: &[Event],
    expected: &[Observation],
    actual: &[Observation],
    backend: &str,
) -> Result<(), TestCaseError> {
    for (index, (expected, actual)) in expected.iter().zip(actual).enumerate() {
        prop_assert_eq!(
            expected,
            actual,
            "the {} backend differs from the core after event {} ({:?}); events so far: {:?}",
            backend,
            index,
            events[index],
            &events[..=index]
        );
    }
    prop_assert_eq!(expected.len(), actual.len());
    Ok(())
}

#[test]
fn the_core_and_both_backends_make_identical_decisions() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pool = deadpool_redis::Config::from_url(testkit::redis_url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        source_file: Some(file!()),
        ..Config::default()
    });
    // Scripts run with the estimates trusted (the default) and with surprises guarded against.
    let script = (
        proptest::collection::vec(event(), 1..60),
        prop_oneof![Just(1i64), Just(10i64), 2i64..=4],
    );
    let result = runner.run(&script, |(events, surprise_factor)| {
        runtime.block_on(async {
            let policy = Policy {
                surprise_factor,
                ..Policy::default()
            };

            let core_clock = ManualClock::at(T0);
            let mut core_run = Run::new(Target::Core(Box::new(Core::new(policy))), core_clock);
            let expected = core_run.observe(&events).await;

            let memory_clock = ManualClock::at(T0);
            let memory = Bucket::in_memory_with_clock(policy, Arc::new(memory_clock.clone()));
            let mut memory_run = Run::new(Target::Bucket(memory), memory_clock);
            let from_memory = memory_run.observe(&events).await;
            check_same(&events, &expected, &from_memory, "memory")?;

            let redis_clock = ManualClock::at(T0);
            let config = RedisConfig {
                key_prefix: testkit::unique_prefix("backends"),
                clock: RedisClock::Injected(Arc::new(redis_clock.clone())),
                policy,
                endpoint: None,
                io: token_bucket::RedisIo::Caller,
            };
            let state_key = config.state_key();
            let redis = Bucket::redis(pool.clone(), config);
            let mut redis_run = Run::new(Target::Bucket(redis), redis_clock);
            let from_redis = redis_run.observe(&events).await;
            let mut connection = pool.get().await.unwrap();
            let () = deadpool_redis::redis::cmd("DEL")
                .arg(&state_key)
                .query_async(&mut connection)
                .await
                .map(|_: i64| ())
                .unwrap();
            check_same(&events, &expected, &from_redis, "redis")
        })
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
