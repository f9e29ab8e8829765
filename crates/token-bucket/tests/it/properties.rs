//! The properties of DESIGN.md §4 as a state-machine test over the core: several clients
//! interleave acquire, retry, cancel, settle, release, reconcile and the passing of time, and
//! after every event the invariants are checked against an independent model of the clients.

use proptest::prelude::*;
use token_bucket::core::{
    AcquireRequest, Core, Decision, Envelope, Policy, ReconcileOutcome, ReservationId, WaiterId,
};
use token_bucket::{Lane, Tokens};

const N_CLIENTS: usize = 4;
const RATES: [i64; 3] = [5, 20, 25];

#[derive(Clone, Debug)]
enum Event {
    Acquire {
        client: usize,
        cost_milli: i64,
        lane: Lane,
    },
    Retry {
        client: usize,
    },
    Cancel {
        client: usize,
    },
    Settle {
        client: usize,
        actual_milli: i64,
    },
    Release {
        client: usize,
    },
    Reconcile {
        fraction_of_cap: i64,
        refill_in_ms: i64,
        rate: usize,
        /// The envelope's timestamp relative to the last one: 1 newer, 0 the same millisecond,
        /// −1 older.
        newer: i64,
        settle: Option<(usize, i64)>,
    },
    Advance {
        ms: i64,
    },
}

fn lane() -> impl Strategy<Value = Lane> {
    prop_oneof![Just(Lane::Urgent), Just(Lane::Bulk)]
}

fn event() -> impl Strategy<Value = Event> {
    let client = 0..N_CLIENTS;
    prop_oneof![
        4 => (client.clone(), 0i64..60_000, lane()).prop_map(|(client, cost_milli, lane)| Event::Acquire { client, cost_milli, lane }),
        3 => client.clone().prop_map(|client| Event::Retry { client }),
        1 => client.clone().prop_map(|client| Event::Cancel { client }),
        3 => (client.clone(), 0i64..80_000).prop_map(|(client, actual_milli)| Event::Settle { client, actual_milli }),
        1 => client.clone().prop_map(|client| Event::Release { client }),
        2 => (-100i64..=100, 0i64..=60_000, 0..RATES.len(), prop_oneof![8 => Just(1i64), 1 => Just(0i64), 1 => Just(-1i64)], proptest::option::of((client, 0i64..80)))
            .prop_map(|(fraction_of_cap, refill_in_ms, rate, newer, settle)| Event::Reconcile { fraction_of_cap, refill_in_ms, rate, newer, settle }),
        3 => (0i64..200_000).prop_map(|ms| Event::Advance { ms }),
    ]
}

#[derive(Default)]
struct Client {
    permits: Vec<(ReservationId, Tokens)>,
    waiting: Option<(WaiterId, Tokens, Lane)>,
}

struct Run {
    core: Core,
    now_ms: i64,
    server_timestamp_ms: i64,
    clients: Vec<Client>,
    /// Whether every settle since the last reconcile charged at most its estimate.
    estimates_held: bool,
    window_start: Option<WindowStart>,
}

/// The bucket's position when the current accounting window opened (at a reconcile).
struct WindowStart {
    balance: Tokens,
    refilled: Tokens,
    granted: Tokens,
    refunded: Tokens,
}

impl Run {
    fn new(surprise_factor: i64) -> Run {
        let mut core = Core::new(Policy {
            surprise_factor,
            ..Policy::default()
        });
        let now_ms = 0;
        core.reconcile(
            now_ms,
            &Envelope {
                tokens_left: 100,
                refill_in_ms: 30_000,
                refill_rate: 5,
                tokens_consumed: 0,
                server_timestamp_ms: 1,
            },
            None,
        );
        let mut run = Run {
            core,
            now_ms,
            server_timestamp_ms: 1,
            clients: (0..N_CLIENTS).map(|_| Client::default()).collect(),
            estimates_held: true,
            window_start: None,
        };
        run.open_window(Tokens::ZERO);
        run
    }

    fn open_window(&mut self, refunded: Tokens) {
        let snapshot = self.core.snapshot(self.now_ms);
        self.window_start = Some(WindowStart {
            balance: snapshot.balance,
            refilled: snapshot.counters.refilled,
            granted: snapshot.counters.granted,
            refunded,
        });
        self.estimates_held = true;
    }

    fn apply(&mut self, event: &Event, refunded: &mut Tokens) {
        let policy = *self.core.policy();
        match *event {
            Event::Acquire {
                client,
                cost_milli,
                lane,
            } => {
                if self.clients[client].waiting.is_none() {
                    self.ask(client, Tokens::from_milli(cost_milli), lane, None, &policy);
                }
            }
            Event::Retry { client } => {
                if let Some((waiter, cost, lane)) = self.clients[client].waiting {
                    self.ask(client, cost, lane, Some(waiter), &policy);
                }
            }
            Event::Cancel { client } => {
                if let Some((waiter, ..)) = self.clients[client].waiting.take() {
                    self.core.cancel(self.now_ms, waiter);
                }
            }
            Event::Settle {
                client,
                actual_milli,
            } => {
                if let Some((reservation, cost)) = self.clients[client].permits.pop() {
                    let actual = Tokens::from_milli(actual_milli);
                    if actual > cost {
                        self.estimates_held = false;
                    }
                    if let token_bucket::SettleOutcome::Settled { refund } =
                        self.core.settle(self.now_ms, reservation, actual)
                    {
                        *refunded = *refunded + refund;
                    }
                }
            }
            Event::Release { client } => {
                if let Some((reservation, _)) = self.clients[client].permits.pop()
                    && let token_bucket::SettleOutcome::Settled { refund } =
                        self.core.release(self.now_ms, reservation)
                {
                    *refunded = *refunded + refund;
                }
            }
            Event::Reconcile {
                fraction_of_cap,
                refill_in_ms,
                rate,
                newer,
                settle,
            } => {
                let refill_rate = RATES[rate];
                let tokens_left = fraction_of_cap * refill_rate * 60 / 100;
                self.server_timestamp_ms += newer;
                let mut reservation = None;
                let mut tokens_consumed = 0;
                if let Some((client, consumed)) = settle
                    && let Some((id, _)) = self.clients[client].permits.pop()
                {
                    reservation = Some(id);
                    tokens_consumed = consumed;
                }
                let envelope = Envelope {
                    tokens_left,
                    refill_in_ms,
                    refill_rate,
                    tokens_consumed,
                    server_timestamp_ms: self.server_timestamp_ms,
                };
                let before = self.core.snapshot(self.now_ms);
                let outcome = self.core.reconcile(self.now_ms, &envelope, reservation);
                if let ReconcileOutcome::Applied { .. } = outcome {
                    // Reconciliation converges: the projection is the authoritative balance less
                    // what is still in flight; an envelope of the same millisecond as the last
                    // one can only lower it.
                    let snapshot = self.core.snapshot(self.now_ms);
                    let authoritative = Tokens::from_whole(tokens_left) - snapshot.in_flight;
                    if newer == 0 {
                        assert!(snapshot.balance <= authoritative);
                        assert!(snapshot.balance <= before.balance + before.in_flight);
                    } else {
                        assert_eq!(snapshot.balance, authoritative);
                    }
                    assert_eq!(snapshot.refill_rate, refill_rate);
                    self.open_window(*refunded);
                } else {
                    self.server_timestamp_ms += 1;
                    // A stale envelope still settles, so the window no longer balances exactly.
                    self.estimates_held &= reservation.is_none();
                }
            }
            Event::Advance { ms } => self.now_ms += ms,
        }
    }

    fn ask(
        &mut self,
        client: usize,
        cost: Tokens,
        lane: Lane,
        waiter: Option<WaiterId>,
        policy: &Policy,
    ) {
        let before = self.core.snapshot(self.now_ms);
        let request = AcquireRequest { cost, lane, waiter };
        match self.core.acquire(self.now_ms, request) {
            Decision::Admit { reservation } => {
                // No request is admitted at a projected balance ≤ 0 …
                assert!(
                    before.balance > Tokens::ZERO,
                    "admitted at {} (lane {lane})",
                    before.balance
                );
                // … nor so that a request in flight, arriving after all the others, could
                // find the balance at zero …
                let cheapest = self
                    .clients
                    .iter()
                    .flat_map(|client| client.permits.iter())
                    .filter(|(id, _)| self.core.reservation_lane(*id).is_some())
                    .map(|(_, cost)| *cost)
                    .fold(cost, Tokens::min);
                assert!(
                    lane == Lane::Bulk
                        || before.balance - cost + cheapest > before.drift_margin
                        || before.balance >= before.cap,
                    "admitted {cost} at {} with {cheapest} in flight",
                    before.balance
                );
                // … nor, when others are in flight, so that the cheapest request could find the
                // balance at zero should the others cost `surprise_factor` times their
                // estimates …
                let others = before.in_flight;
                if policy.surprise_factor > 1 && others > Tokens::ZERO {
                    let surprised = Tokens::from_milli(
                        (others + cost - cheapest).as_milli() * policy.surprise_factor,
                    );
                    assert!(
                        before.balance + others - surprised > before.drift_margin
                            || before.balance >= before.cap,
                        "admitted {cost} at {} beside {others} in flight (factor {})",
                        before.balance,
                        policy.surprise_factor
                    );
                }
                // … nor, when urgent, deeper than one refill brings back above the margin …
                if lane == Lane::Urgent {
                    let one_refill = (Tokens::from_whole(before.refill_rate) - before.drift_margin)
                        .non_negative();
                    assert!(
                        before.balance - cost + one_refill > Tokens::ZERO
                            || before.balance >= before.cap,
                        "admitted urgent {cost} at {} with one refill of {one_refill}",
                        before.balance
                    );
                }
                // … nor at or below the drift margin, unless the bucket is full …
                let margin = before.drift_margin;
                assert!(
                    before.balance > margin || before.balance >= before.cap,
                    "admitted at {} with a drift margin of {margin}",
                    before.balance
                );
                // … or with a post-cost balance below the floor …
                assert!(before.balance - cost >= policy.deficit_floor);
                // … and bulk never eats the urgent reserve or passes a waiting urgent request.
                if lane == Lane::Bulk {
                    assert!(before.balance - cost >= policy.urgent_reserve);
                    assert!(before.urgent_reserve >= policy.urgent_reserve);
                    assert!(
                        before.balance - cost >= before.urgent_reserve + margin
                            || before.balance >= before.cap
                    );
                    assert_eq!(before.waiting[Lane::Urgent as usize], 0);
                }
                self.clients[client].waiting = None;
                self.clients[client].permits.push((reservation, cost));
            }
            Decision::Wait { waiter, until_ms } => {
                assert!(until_ms > self.now_ms, "a wait ends in the future");
                assert!(until_ms <= self.now_ms + policy.max_wait_slice_ms);
                // Never at the cap with a request waiting that the cap could admit.
                assert!(before.balance < before.cap || before.waiting.iter().sum::<usize>() > 0);
                self.clients[client].waiting = Some((waiter, cost, lane));
            }
            Decision::Refuse(_) => {
                let maximum = self.core.maximum_cost(lane);
                assert!(cost > maximum, "refused {cost} below the maximum {maximum}");
                self.clients[client].waiting = None;
            }
            Decision::Unsynced => panic!("the run is synced from the start"),
        }
    }

    fn check_invariants(&mut self, refunded: Tokens) {
        let snapshot = self.core.snapshot(self.now_ms);
        // The projection never exceeds the cap.
        assert!(
            snapshot.balance <= snapshot.cap,
            "balance {} above cap {}",
            snapshot.balance,
            snapshot.cap
        );
        // Tokens granted over a window ≤ starting balance + refills − floor, net of refunds,
        // while estimates hold.
        if let (true, Some(start)) = (self.estimates_held, &self.window_start) {
            let granted = snapshot.counters.granted - start.granted;
            let refills = snapshot.counters.refilled - start.refilled;
            let net = granted - (refunded - start.refunded);
            // Admissions never end below the floor (or below where the window started, when an
            // envelope put the balance lower still).
            let lowest = start.balance.min(self.core.policy().deficit_floor);
            let bound = start.balance + refills - lowest;
            assert!(
                net <= bound,
                "granted {net} over a window bounded by {bound}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn interleaved_clients_never_break_the_rules(
        events in proptest::collection::vec(event(), 1..120),
        surprise_factor in prop_oneof![Just(1i64), Just(10i64), 2i64..=4],
    ) {
        let mut run = Run::new(surprise_factor);
        let mut refunded = Tokens::ZERO;
        for event in &events {
            run.apply(event, &mut refunded);
            run.check_invariants(refunded);
        }
    }

    /// A request that waits and asks again whenever told is admitted no later than the refill
    /// that fills the bucket: the bucket is never at its cap with that request still waiting.
    #[test]
    fn a_lone_waiter_is_admitted_before_the_bucket_fills(
        start in -180i64..300, cost in 0i64..=290, lane in lane(), refill_in_ms in 1i64..=60_000,
    ) {
        let mut core = Core::new(Policy::default());
        core.reconcile(0, &Envelope { tokens_left: start, refill_in_ms, refill_rate: 5, tokens_consumed: 0, server_timestamp_ms: 1 }, None);
        let mut now_ms = 0;
        let mut waiter = None;
        loop {
            let before = core.snapshot(now_ms);
            match core.acquire(now_ms, AcquireRequest { cost: Tokens::from_whole(cost), lane, waiter }) {
                Decision::Admit { .. } => break,
                Decision::Wait { waiter: id, until_ms } => {
                    prop_assert!(before.balance < before.cap, "waiting at the cap");
                    waiter = Some(id);
                    now_ms = until_ms;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // Filling from −180 to 300 at 5/min takes 96 refills.
        prop_assert!(now_ms <= refill_in_ms + 96 * 60_000);
    }
}
