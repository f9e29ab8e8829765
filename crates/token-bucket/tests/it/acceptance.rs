//! The rules of DESIGN.md §4 and the acceptance cases of §10, one test per rule, on the core.

use token_bucket::core::{
    AcquireRequest, Core, Decision, Envelope, Policy, ReconcileOutcome, RefuseReason,
};
use token_bucket::{Lane, Tokens};

const T0: i64 = 1_000_000;

fn envelope(
    tokens_left: i64,
    refill_in_ms: i64,
    refill_rate: i64,
    server_timestamp_ms: i64,
) -> Envelope {
    Envelope {
        tokens_left,
        refill_in_ms,
        refill_rate,
        tokens_consumed: 0,
        server_timestamp_ms,
    }
}

/// A core synced at `T0` to `tokens_left` at 5 tokens/min, next refill 30 s later.
fn synced(tokens_left: i64) -> Core {
    let mut core = Core::new(Policy::default());
    core.reconcile(T0, &envelope(tokens_left, 30_000, 5, 1), None);
    core
}

fn ask(core: &mut Core, now: i64, cost: i64, lane: Lane) -> Decision {
    core.acquire(
        now,
        AcquireRequest {
            cost: Tokens::from_whole(cost),
            lane,
            waiter: None,
        },
    )
}

#[track_caller]
fn check_admitted(decision: Decision) {
    assert!(
        matches!(decision, Decision::Admit { .. }),
        "expected admission, got {decision:?}"
    );
}

#[track_caller]
fn check_waits(decision: Decision) -> i64 {
    match decision {
        Decision::Wait { until_ms, .. } => until_ms,
        other => panic!("expected a wait, got {other:?}"),
    }
}

#[test]
fn twenty_tokens_admit_a_cost_of_ten() {
    check_admitted(ask(&mut synced(20), T0, 10, Lane::Urgent));
    check_admitted(ask(&mut synced(20), T0, 10, Lane::Bulk));
}

#[test]
fn bulk_waits_when_it_would_eat_the_urgent_reserve_but_urgent_goes() {
    let mut core = synced(15);
    check_waits(ask(&mut core, T0, 10, Lane::Bulk));
    check_admitted(ask(&mut core, T0, 10, Lane::Urgent));
}

#[test]
fn nothing_is_admitted_at_zero_or_below() {
    let mut core = synced(0);
    check_waits(ask(&mut core, T0, 1, Lane::Urgent));
    let mut core = synced(-7);
    check_waits(ask(&mut core, T0, 1, Lane::Urgent));
}

#[test]
fn urgent_may_spend_into_deficit_down_to_the_floor_and_no_further() {
    let mut core = synced(3);
    check_admitted(ask(&mut core, T0, 10, Lane::Urgent));
    assert_eq!(core.snapshot(T0).balance, Tokens::from_whole(-7));
    // Keepa would admit this (balance > 0), but it would end below the −180 floor.
    check_waits(ask(&mut synced(20), T0, 201, Lane::Urgent));
    check_admitted(ask(&mut synced(20), T0, 200, Lane::Urgent));
}

#[test]
fn a_waiting_request_is_told_the_refill_that_lets_it_in() {
    let mut core = synced(-7);
    // −7 + 5 = −2 at the first refill, +3 at the second.
    assert_eq!(check_waits(ask(&mut core, T0, 1, Lane::Urgent)), T0 + 5_000);
    let mut core = Core::new(Policy {
        max_wait_slice_ms: 600_000,
        ..Policy::default()
    });
    core.reconcile(T0, &envelope(-7, 30_000, 5, 1), None);
    assert_eq!(
        check_waits(ask(&mut core, T0, 1, Lane::Urgent)),
        T0 + 30_000 + 60_000
    );
}

#[test]
fn refills_follow_the_phase_learned_from_refill_in() {
    let mut core = synced(0);
    assert_eq!(core.snapshot(T0 + 29_999).balance, Tokens::ZERO);
    assert_eq!(core.snapshot(T0 + 30_000).balance, Tokens::from_whole(5));
    assert_eq!(core.snapshot(T0 + 89_999).balance, Tokens::from_whole(5));
    assert_eq!(core.snapshot(T0 + 90_000).balance, Tokens::from_whole(10));
}

#[test]
fn the_cap_is_sixty_minutes_of_refill_and_the_excess_is_counted_as_wasted() {
    let mut core = synced(290);
    let snapshot = core.snapshot(T0 + 30_000 + 10 * 60_000);
    assert_eq!(snapshot.cap, Tokens::from_whole(300));
    assert_eq!(snapshot.balance, Tokens::from_whole(300));
    assert_eq!(snapshot.counters.wasted_at_cap, Tokens::from_whole(55 - 10));
}

#[test]
fn a_changed_refill_rate_is_learned_with_its_cap() {
    let mut core = synced(100);
    core.reconcile(T0 + 1_000, &envelope(100, 29_000, 25, 2), None);
    let snapshot = core.snapshot(T0 + 1_000);
    assert_eq!(snapshot.refill_rate, 25);
    assert_eq!(snapshot.cap, Tokens::from_whole(1_500));
    assert_eq!(core.snapshot(T0 + 30_000).balance, Tokens::from_whole(125));
}

#[test]
fn a_cost_above_what_the_lane_can_ever_admit_is_refused_with_the_maximum() {
    let mut core = synced(300);
    assert_eq!(
        ask(&mut core, T0, 481, Lane::Urgent),
        Decision::Refuse(RefuseReason::CostAboveMaximum {
            cost: Tokens::from_whole(481),
            maximum: Tokens::from_whole(480)
        })
    );
    assert_eq!(
        ask(&mut core, T0, 291, Lane::Bulk),
        Decision::Refuse(RefuseReason::CostAboveMaximum {
            cost: Tokens::from_whole(291),
            maximum: Tokens::from_whole(290)
        })
    );
}

#[test]
fn an_unsynced_bucket_admits_nothing_until_an_envelope_arrives() {
    let mut core = Core::new(Policy::default());
    assert_eq!(ask(&mut core, T0, 1, Lane::Urgent), Decision::Unsynced);
    // An invalid key's envelope carries no token information.
    assert_eq!(
        core.reconcile(T0, &envelope(0, 0, 0, 1), None),
        ReconcileOutcome::NoTokenInformation
    );
    assert_eq!(ask(&mut core, T0, 1, Lane::Urgent), Decision::Unsynced);
    core.reconcile(T0, &envelope(50, 1_000, 5, 2), None);
    check_admitted(ask(&mut core, T0, 1, Lane::Urgent));
}

#[test]
fn reconciliation_keeps_concurrent_reservations() {
    let mut core = synced(100);
    let Decision::Admit { reservation: first } = ask(&mut core, T0, 10, Lane::Urgent) else {
        panic!("admitted")
    };
    check_admitted(ask(&mut core, T0, 20, Lane::Bulk));
    // Keepa answers the first request: it cost 12, and 88 are left; the second (20) is still
    // in flight, so the projection is 68, not 88.
    let answer = Envelope {
        tokens_consumed: 12,
        ..envelope(88, 30_000, 5, 2)
    };
    core.reconcile(T0 + 100, &answer, Some(first));
    let snapshot = core.snapshot(T0 + 100);
    assert_eq!(snapshot.balance, Tokens::from_whole(68));
    assert_eq!(snapshot.in_flight, Tokens::from_whole(20));
}

#[test]
fn an_older_envelope_does_not_overwrite_a_newer_one() {
    let mut core = synced(100);
    core.reconcile(T0, &envelope(50, 30_000, 5, 10), None);
    assert_eq!(
        core.reconcile(T0, &envelope(90, 30_000, 5, 5), None),
        ReconcileOutcome::Stale
    );
    assert_eq!(core.snapshot(T0).balance, Tokens::from_whole(50));
}

#[test]
fn unexplained_drops_are_counted_as_foreign_consumption() {
    let mut core = synced(100);
    core.reconcile(T0 + 1, &envelope(60, 30_000, 5, 2), None);
    let counters = core.snapshot(T0 + 1).counters;
    assert_eq!(counters.foreign_consumption(), Tokens::from_whole(40));
}

#[test]
fn settling_refunds_an_overestimate_and_charges_an_underestimate() {
    let mut core = synced(100);
    let Decision::Admit { reservation } = ask(&mut core, T0, 10, Lane::Urgent) else {
        panic!("admitted")
    };
    core.settle(T0, reservation, Tokens::from_whole(4));
    assert_eq!(core.snapshot(T0).balance, Tokens::from_whole(96));
    let Decision::Admit { reservation } = ask(&mut core, T0, 10, Lane::Urgent) else {
        panic!("admitted")
    };
    core.settle(T0, reservation, Tokens::from_whole(386));
    assert_eq!(core.snapshot(T0).balance, Tokens::from_whole(96 - 386));
}

#[test]
fn a_crashed_holders_reservation_expires_with_its_estimate_spent() {
    let mut core = synced(100);
    check_admitted(ask(&mut core, T0, 10, Lane::Urgent));
    let ttl = Policy::default().reservation_ttl_ms;
    assert_eq!(core.snapshot(T0 + ttl - 1).n_in_flight, 1);
    let snapshot = core.snapshot(T0 + ttl);
    assert_eq!(snapshot.n_in_flight, 0);
    assert_eq!(snapshot.counters.expired_reservations, 1);
    // The estimate stays spent: only the refills since T0 came back.
    assert_eq!(snapshot.balance, Tokens::from_whole(90 + 5 * 2));
}

#[test]
fn bulk_budget_is_what_bulk_may_spend_now() {
    let mut core = synced(100);
    assert_eq!(core.bulk_budget(T0), Tokens::from_whole(90));
    let mut core = synced(5);
    assert_eq!(core.bulk_budget(T0), Tokens::ZERO);
    // While an urgent request waits, bulk may spend nothing.
    let mut core = synced(0);
    check_waits(ask(&mut core, T0, 1, Lane::Urgent));
    core.reconcile(T0, &envelope(100, 30_000, 5, 2), None);
    assert_eq!(core.bulk_budget(T0), Tokens::ZERO);
}

#[test]
fn bulk_waits_behind_a_waiting_urgent_request() {
    let mut core = synced(0);
    let Decision::Wait { waiter: urgent, .. } = ask(&mut core, T0, 4, Lane::Urgent) else {
        panic!("nothing goes at zero")
    };
    core.reconcile(T0, &envelope(100, 30_000, 5, 2), None);
    let Decision::Wait { waiter: bulk, .. } = ask(&mut core, T0, 10, Lane::Bulk) else {
        panic!("bulk must not pass a waiting urgent request")
    };
    let again = |lane, cost, waiter| AcquireRequest {
        cost: Tokens::from_whole(cost),
        lane,
        waiter: Some(waiter),
    };
    check_admitted(core.acquire(T0, again(Lane::Urgent, 4, urgent)));
    check_admitted(core.acquire(T0, again(Lane::Bulk, 10, bulk)));
}

#[test]
fn requests_in_one_lane_are_admitted_in_order() {
    let mut core = synced(12);
    let Decision::Wait { waiter: first, .. } = ask(&mut core, T0, 5, Lane::Bulk) else {
        panic!("waits for the reserve")
    };
    // A later, smaller request does not overtake the head of the queue.
    check_waits(ask(&mut core, T0, 1, Lane::Bulk));
    core.reconcile(T0, &envelope(20, 30_000, 5, 2), None);
    let head = AcquireRequest {
        cost: Tokens::from_whole(5),
        lane: Lane::Bulk,
        waiter: Some(first),
    };
    check_admitted(core.acquire(T0, head));
}

#[test]
fn a_request_charged_before_a_newer_envelope_is_not_counted_twice() {
    let mut core = synced(100);
    let Decision::Admit { reservation: first } = ask(&mut core, T0, 10, Lane::Urgent) else {
        panic!("admitted")
    };
    let Decision::Admit {
        reservation: second,
    } = ask(&mut core, T0, 10, Lane::Urgent)
    else {
        panic!("admitted")
    };
    // Keepa charged both (100 → 80), but the second answer arrives first: its tokensLeft
    // already includes the first request, which is still in flight here.
    let newer = Envelope {
        tokens_consumed: 10,
        ..envelope(80, 30_000, 5, 3)
    };
    core.reconcile(T0 + 10, &newer, Some(second));
    assert_eq!(core.snapshot(T0 + 10).balance, Tokens::from_whole(70));
    // The first answer is older than the one applied: only its settle counts, and the charge
    // that was subtracted twice comes back.
    let older = Envelope {
        tokens_consumed: 10,
        ..envelope(90, 30_000, 5, 2)
    };
    assert_eq!(
        core.reconcile(T0 + 20, &older, Some(first)),
        ReconcileOutcome::Stale
    );
    assert_eq!(core.snapshot(T0 + 20).balance, Tokens::from_whole(80));
}
