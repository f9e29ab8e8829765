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

/// As [`synced`], with waiters that may wait a whole refill without asking again.
fn patient(tokens_left: i64) -> Core {
    let mut core = Core::new(Policy {
        max_wait_slice_ms: 60_000,
        ..Policy::default()
    });
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
fn check_waits_with_id(decision: Decision) -> token_bucket::core::WaiterId {
    match decision {
        Decision::Wait { waiter, .. } => waiter,
        other => panic!("expected a wait, got {other:?}"),
    }
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
fn urgent_may_spend_into_deficit_as_far_as_one_refill_brings_back() {
    // At 5 tokens a minute: 3 − 5 = −2, and the next refill brings the balance back to 3.
    let mut core = synced(3);
    check_admitted(ask(&mut core, T0, 5, Lane::Urgent));
    assert_eq!(core.snapshot(T0).balance, Tokens::from_whole(-2));
    // Keepa would admit 10 at a balance of 5, but the next refill would only bring it back to
    // 0, and every urgent request after it would wait a second refill: it needs more than 5.
    let mut core = synced(5);
    assert_eq!(
        check_waits(ask(&mut core, T0, 10, Lane::Urgent)),
        T0 + 5_000,
        "asks again after the default wait slice"
    );
    check_admitted(ask(&mut synced(6), T0, 10, Lane::Urgent));
}

#[test]
fn at_the_cap_urgent_may_spend_down_to_the_floor_and_no_further() {
    // The one-refill rule is learned and never makes a request wait at the cap (300 at
    // 5/min): there the −180 floor is what bounds a large urgent request.
    let mut core = synced(300);
    check_admitted(ask(&mut core, T0, 480, Lane::Urgent));
    assert_eq!(core.snapshot(T0).balance, Tokens::from_whole(-180));
    assert!(matches!(
        ask(&mut synced(300), T0, 481, Lane::Urgent),
        Decision::Refuse(RefuseReason::CostAboveMaximum { .. })
    ));
    // Below the cap, a request larger than one refill waits for the tokens above it.
    check_waits(ask(&mut synced(200), T0, 206, Lane::Urgent));
    check_admitted(ask(&mut synced(202), T0, 206, Lane::Urgent));
}

#[test]
fn smaller_urgent_requests_go_before_a_large_one_that_waits_for_its_tokens() {
    // At 5 tokens a minute a page of 30 needs 30 − 5 and a little more in hand; a request of 3
    // behind it goes at once.
    let mut core = synced(4);
    check_waits(ask(&mut core, T0, 30, Lane::Urgent));
    check_admitted(ask(&mut core, T0, 3, Lane::Urgent));
    // A request no larger than one refill holds back the urgent requests behind it: after the
    // refill (−2 + 5), one of 1 that asks first still waits for it.
    let mut core = patient(-2);
    let small = check_waits_with_id(ask(&mut core, T0, 5, Lane::Urgent));
    let again = AcquireRequest {
        cost: Tokens::from_whole(5),
        lane: Lane::Urgent,
        waiter: Some(small),
    };
    check_waits(ask(&mut core, T0 + 30_000, 1, Lane::Urgent));
    check_admitted(core.acquire(T0 + 30_000, again));
    // Bulk waits behind the large request, which is admitted once its tokens are in hand:
    // 21 + 5 at the refill 30 s later.
    let mut core = patient(21);
    let waiter = check_waits_with_id(ask(&mut core, T0, 30, Lane::Urgent));
    check_waits(ask(&mut core, T0, 1, Lane::Bulk));
    let again = AcquireRequest {
        cost: Tokens::from_whole(30),
        lane: Lane::Urgent,
        waiter: Some(waiter),
    };
    check_admitted(core.acquire(T0 + 30_000, again));
}

#[test]
fn with_a_surprise_factor_a_request_beside_others_leaves_room_for_their_surprise() {
    let surprise_guarded = |tokens_left: i64| {
        let mut core = Core::new(Policy {
            surprise_factor: 10,
            ..Policy::default()
        });
        core.reconcile(T0, &envelope(tokens_left, 30_000, 5, 1), None);
        core
    };
    // Alone, a request needs no more than Keepa's rule.
    let mut core = surprise_guarded(100);
    let first = match ask(&mut core, T0, 10, Lane::Urgent) {
        Decision::Admit { reservation } => reservation,
        other => panic!("expected admission, got {other:?}"),
    };
    // Beside it, one of 2 must still find a positive balance arriving after the first was
    // charged ten times its 10: 90 + 10 − 100 = 0 is not enough.
    let second = check_waits_with_id(ask(&mut core, T0, 2, Lane::Urgent));
    check_waits(ask(&mut core, T0, 2, Lane::Bulk));
    // Once the first has settled, it goes at once.
    core.settle(T0 + 1_000, first, Tokens::from_whole(10));
    let again = AcquireRequest {
        cost: Tokens::from_whole(2),
        lane: Lane::Urgent,
        waiter: Some(second),
    };
    check_admitted(core.acquire(T0 + 1_000, again));
    // With a larger balance, both fly together: 91 + 10 − 100 > 0.
    let mut core = surprise_guarded(101);
    check_admitted(ask(&mut core, T0, 10, Lane::Urgent));
    check_admitted(ask(&mut core, T0, 2, Lane::Urgent));
    // The default trusts the estimates.
    let mut core = synced(100);
    check_admitted(ask(&mut core, T0, 10, Lane::Urgent));
    check_admitted(ask(&mut core, T0, 2, Lane::Urgent));
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
fn foreign_spending_keeps_that_much_in_hand_for_two_refill_periods() {
    // Another program spent 8 tokens that this bucket did not: the next admissions keep 8 in
    // hand, so the other program's next spend cannot leave a request of ours at zero (a 429).
    let mut core = Core::new(Policy::default());
    core.reconcile(T0, &envelope(20, 30_000, 10, 1), None);
    core.reconcile(T0 + 1, &envelope(12, 30_000, 10, 2), None);
    assert_eq!(core.snapshot(T0 + 1).drift_margin, Tokens::from_whole(8));
    check_admitted(ask(&mut core, T0 + 1, 3, Lane::Urgent));
    // 9 left: above the margin, so urgent work still goes; bulk must leave reserve + margin.
    assert_eq!(core.bulk_budget(T0 + 1), Tokens::ZERO);
    check_admitted(ask(&mut core, T0 + 1, 1, Lane::Urgent));
    // 8 left: not above the margin, so urgent work waits for the refill (18 > 8).
    check_waits(ask(&mut core, T0 + 1, 1, Lane::Urgent));
    let Decision::Wait { waiter, .. } = ask(&mut core, T0 + 30_000, 1, Lane::Urgent) else {
        panic!("admitted at 8 tokens with a margin of 8")
    };
    let retry = AcquireRequest {
        cost: Tokens::from_whole(1),
        lane: Lane::Urgent,
        waiter: Some(waiter),
    };
    check_admitted(core.acquire(T0 + 30_001, retry));
    // The margin outlives one refill period and is gone after the second.
    assert_eq!(
        core.snapshot(T0 + 30_001).drift_margin,
        Tokens::from_whole(8)
    );
    assert_eq!(core.snapshot(T0 + 90_001).drift_margin, Tokens::ZERO);
    // A drain larger than a refill keeps only one refill's worth in hand.
    let mut core = synced(100);
    core.reconcile(T0 + 1, &envelope(12, 30_000, 5, 2), None);
    let snapshot = core.snapshot(T0 + 1);
    assert_eq!(
        snapshot.counters.foreign_consumption(),
        Tokens::from_whole(88)
    );
    assert_eq!(snapshot.drift_margin, Tokens::from_whole(5));
}

#[test]
fn our_own_charge_counted_twice_is_not_foreign_spending() {
    // Two requests in flight; Keepa charged the second before writing the first's tokensLeft,
    // so that envelope has the second's cost subtracted twice until its own (older) envelope
    // arrives.
    let mut core = synced(100);
    let Decision::Admit { reservation: first } = ask(&mut core, T0, 4, Lane::Urgent) else {
        panic!("admitted")
    };
    let Decision::Admit {
        reservation: second,
    } = ask(&mut core, T0, 4, Lane::Urgent)
    else {
        panic!("admitted")
    };
    let newer = Envelope {
        tokens_consumed: 4,
        ..envelope(92, 30_000, 5, 3)
    };
    core.reconcile(T0 + 1, &newer, Some(first));
    assert_eq!(core.snapshot(T0 + 1).drift_margin, Tokens::from_whole(4));
    let older = Envelope {
        tokens_consumed: 4,
        ..envelope(96, 30_000, 5, 2)
    };
    core.reconcile(T0 + 2, &older, Some(second));
    let snapshot = core.snapshot(T0 + 2);
    assert_eq!(snapshot.balance, Tokens::from_whole(92));
    assert_eq!(snapshot.drift_margin, Tokens::ZERO);
    assert_eq!(snapshot.counters.foreign_consumption(), Tokens::ZERO);
}

#[test]
fn bulk_leaves_what_urgent_work_spent_in_the_last_refill_period() {
    // 20 tokens/min; urgent work took 16 tokens this period, more than the policy's reserve
    // of 10: bulk now leaves 16, so the next period's urgent work does not wait behind it.
    let mut core = Core::new(Policy::default());
    core.reconcile(T0, &envelope(100, 30_000, 20, 1), None);
    for _ in 0..4 {
        check_admitted(ask(&mut core, T0, 4, Lane::Urgent));
    }
    let snapshot = core.snapshot(T0);
    assert_eq!(snapshot.urgent_reserve, Tokens::from_whole(16));
    assert_eq!(core.bulk_budget(T0), Tokens::from_whole(84 - 16));
    check_waits(ask(&mut core, T0, 70, Lane::Bulk));
    // It lasts through the next refill period, then falls back to the policy's.
    assert_eq!(
        core.snapshot(T0 + 30_000).urgent_reserve,
        Tokens::from_whole(16)
    );
    assert_eq!(
        core.snapshot(T0 + 90_000).urgent_reserve,
        Tokens::from_whole(10)
    );
    // Never more than one refill's worth.
    let mut core = Core::new(Policy::default());
    core.reconcile(T0, &envelope(100, 30_000, 20, 1), None);
    check_admitted(ask(&mut core, T0, 50, Lane::Urgent));
    assert_eq!(core.snapshot(T0).urgent_reserve, Tokens::from_whole(20));
}

#[test]
fn an_urgent_request_waits_when_it_could_overtake_a_cheaper_one_and_leave_it_at_zero() {
    // 3 tokens; a 1-token request is in flight. A 5-token request admitted now could reach
    // Keepa first (requests in flight arrive in any order) and leave the first one at −2: a 429.
    let mut core = synced(3);
    let Decision::Admit { reservation } = ask(&mut core, T0, 1, Lane::Urgent) else {
        panic!("admitted")
    };
    let Decision::Wait { waiter, .. } = ask(&mut core, T0, 5, Lane::Urgent) else {
        panic!("admitted although it could leave the cheaper request at zero")
    };
    // Another 1-token request is safe in any order.
    let mut other = synced(3);
    check_admitted(ask(&mut other, T0, 1, Lane::Urgent));
    check_admitted(ask(&mut other, T0, 1, Lane::Urgent));
    // Once the first has been charged, Keepa's own rule applies again: balance 2 > 0.
    core.settle(T0, reservation, Tokens::from_whole(1));
    let retry = AcquireRequest {
        cost: Tokens::from_whole(5),
        lane: Lane::Urgent,
        waiter: Some(waiter),
    };
    check_admitted(core.acquire(T0, retry));
}

#[test]
fn the_drift_margin_never_holds_a_request_at_the_cap() {
    // At 5/min the cap is 300; the margin must not keep a bulk request waiting while the
    // bucket is full and refills expire.
    let mut core = synced(300);
    core.reconcile(T0 + 1, &envelope(100, 30_000, 5, 2), None);
    assert_eq!(core.snapshot(T0 + 1).drift_margin, Tokens::from_whole(5));
    // After the refill the margin is the previous period's; the bucket is full again.
    core.reconcile(T0 + 30_001, &envelope(300, 30_000, 5, 3), None);
    let snapshot = core.snapshot(T0 + 30_001);
    assert_eq!(snapshot.drift_margin, Tokens::from_whole(5));
    assert_eq!(snapshot.balance, snapshot.cap);
    // The most bulk may ask for is the cap less the reserve: 290. With the margin it would
    // need 305, more than the bucket can hold.
    check_admitted(ask(&mut core, T0 + 30_001, 290, Lane::Bulk));
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
