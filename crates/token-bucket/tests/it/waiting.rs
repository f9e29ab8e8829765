//! The async layer under tokio's paused clock: order within a lane, cancellation, dropped
//! permits, and a saturating bulk load against a Keepa-like ledger, where urgent requests must
//! still be served within one refill tick and the ledger must never reach the deficit floor.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use token_bucket::{Bucket, Envelope, Error, Lane, Policy, Tokens};
use tokio::time::Instant;

fn envelope(tokens_left: i64, refill_in_ms: i64, server_timestamp_ms: i64) -> Envelope {
    Envelope {
        tokens_left,
        refill_in_ms,
        refill_rate: 5,
        tokens_consumed: 0,
        server_timestamp_ms,
    }
}

async fn synced(tokens_left: i64) -> Bucket {
    let bucket = Bucket::in_memory(Policy::default());
    bucket
        .reconcile(&envelope(tokens_left, 30_000, 1))
        .await
        .unwrap();
    bucket
}

#[tokio::test(start_paused = true)]
async fn an_unsynced_bucket_says_how_to_sync() {
    let bucket = Bucket::in_memory(Policy::default());
    let error = bucket
        .acquire(Tokens::from_whole(1), Lane::Urgent)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Unsynced));
    assert!(error.to_string().contains("/token"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_cost_no_plan_can_admit_is_refused_not_queued() {
    let bucket = synced(300).await;
    let error = bucket
        .acquire(Tokens::from_whole(600), Lane::Bulk)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::CostAboveMaximum { .. }));
    assert!(error.to_string().contains("290"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn waiters_in_a_lane_are_served_in_the_order_they_asked() {
    let bucket = synced(10).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (n, cost) in [(0, 30), (1, 5), (2, 20)] {
        let (bucket, order) = (bucket.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let permit = bucket
                .acquire(Tokens::from_whole(cost), Lane::Bulk)
                .await
                .unwrap();
            order.lock().unwrap().push(n);
            permit.settle(Tokens::from_whole(cost)).await.unwrap();
        }));
        tokio::task::yield_now().await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_acquire_gives_up_its_place_at_once() {
    let bucket = synced(10).await;
    let first = tokio::spawn({
        let bucket = bucket.clone();
        async move { bucket.acquire(Tokens::from_whole(200), Lane::Bulk).await }
    });
    tokio::task::yield_now().await;
    let started = Instant::now();
    let second = tokio::spawn({
        let bucket = bucket.clone();
        async move {
            bucket
                .acquire(Tokens::from_whole(5), Lane::Bulk)
                .await
                .map(|permit| (permit, Instant::now()))
        }
    });
    tokio::task::yield_now().await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    bucket.reconcile(&envelope(100, 30_000, 2)).await.unwrap();
    let (_permit, admitted_at) = second.await.unwrap().unwrap();
    // Had the first kept its place, the second would have waited for it to expire.
    assert_eq!(admitted_at, started);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_permit_returns_its_estimate() {
    let bucket = synced(100).await;
    let permit = bucket
        .acquire(Tokens::from_whole(30), Lane::Bulk)
        .await
        .unwrap();
    assert_eq!(
        bucket.snapshot().await.unwrap().balance,
        Tokens::from_whole(70)
    );
    drop(permit);
    let snapshot = bucket.snapshot().await.unwrap();
    assert_eq!(snapshot.balance, Tokens::from_whole(100));
    assert_eq!(snapshot.n_in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_permit_whose_request_was_sent_keeps_its_estimate_spent() {
    let bucket = synced(100).await;
    let mut permit = bucket
        .acquire(Tokens::from_whole(30), Lane::Bulk)
        .await
        .unwrap();
    permit.mark_sent();
    drop(permit);
    let snapshot = bucket.snapshot().await.unwrap();
    assert_eq!(snapshot.balance, Tokens::from_whole(70));
    assert_eq!(snapshot.n_in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_refund_wakes_a_waiter_before_the_next_refill() {
    let bucket = synced(20).await;
    let held = bucket
        .acquire(Tokens::from_whole(10), Lane::Bulk)
        .await
        .unwrap();
    let started = Instant::now();
    let waiter = tokio::spawn({
        let bucket = bucket.clone();
        async move {
            bucket
                .acquire(Tokens::from_whole(8), Lane::Bulk)
                .await
                .map(|_| Instant::now())
        }
    });
    tokio::task::yield_now().await;
    held.settle(Tokens::from_whole(1)).await.unwrap();
    assert_eq!(waiter.await.unwrap().unwrap(), started);
}

/// Keepa's side of the quota, as DESIGN.md §2 describes it: refills once a minute at a phase,
/// capped at an hour of refill, a request admitted while the balance is above zero and then
/// charged in full, 429 at zero or below.
struct Ledger {
    balance: i64,
    rate: i64,
    next_refill: Instant,
    timestamp_ms: i64,
    n_refused: u64,
    lowest: i64,
    wasted: i64,
}

impl Ledger {
    fn refill(&mut self, now: Instant) {
        while now >= self.next_refill {
            let cap = 60 * self.rate;
            let filled = (self.balance + self.rate).min(cap).max(self.balance);
            self.wasted += self.balance + self.rate - filled;
            self.balance = filled;
            self.next_refill += Duration::from_secs(60);
        }
    }

    fn request(&mut self, cost: i64) -> Envelope {
        let now = Instant::now();
        self.refill(now);
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
            refill_in_ms: i64::try_from((self.next_refill - now).as_millis()).unwrap(),
            refill_rate: self.rate,
            tokens_consumed,
            server_timestamp_ms: self.timestamp_ms,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn saturating_bulk_never_delays_urgent_work_by_more_than_one_refill() {
    // 20 tokens/min; urgent work asks for 5 tokens every 37 s (about 8 a minute), three bulk
    // workers ask for everything else.
    let start = Instant::now();
    let ledger = Arc::new(Mutex::new(Ledger {
        balance: 1_200,
        rate: 20,
        next_refill: start + Duration::from_millis(17_000),
        timestamp_ms: 0,
        n_refused: 0,
        lowest: 1_200,
        wasted: 0,
    }));
    let bucket = Bucket::in_memory(Policy::default());
    let first = ledger.lock().unwrap().request(0);
    bucket.reconcile(&first).await.unwrap();
    let end = start + Duration::from_secs(3 * 3600);
    let latency = Duration::from_millis(300);

    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (bucket, ledger) = (bucket.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                // Size the batch to what bulk may spend now; when nothing, ask for a typical batch.
                let budget = bucket.bulk_budget().await.unwrap().whole_floor();
                let cost = budget.clamp(1, 40);
                let permit = bucket
                    .acquire(Tokens::from_whole(cost), Lane::Bulk)
                    .await
                    .unwrap();
                tokio::time::sleep(latency).await;
                let envelope = ledger.lock().unwrap().request(cost);
                permit.reconcile(&envelope).await.unwrap();
            }
        }));
    }
    let urgent = tokio::spawn({
        let (bucket, ledger) = (bucket.clone(), ledger.clone());
        async move {
            let mut delays = Vec::new();
            while Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(37_000)).await;
                let asked = Instant::now();
                let permit = bucket
                    .acquire(Tokens::from_whole(5), Lane::Urgent)
                    .await
                    .unwrap();
                delays.push(asked.elapsed());
                tokio::time::sleep(latency).await;
                let envelope = ledger.lock().unwrap().request(5);
                permit.reconcile(&envelope).await.unwrap();
            }
            delays
        }
    });
    for task in tasks {
        task.await.unwrap();
    }
    let delays = urgent.await.unwrap();
    let ledger = ledger.lock().unwrap();
    assert!(delays.len() > 250, "{} urgent requests", delays.len());
    let worst = delays.iter().max().unwrap();
    assert!(
        *worst <= Duration::from_secs(60),
        "an urgent request waited {worst:?}"
    );
    assert_eq!(ledger.n_refused, 0, "Keepa refused requests");
    assert!(
        ledger.lowest >= -180,
        "the balance reached {}",
        ledger.lowest
    );
    // The starting 1200 are spent down, not left to expire at the cap.
    assert_eq!(ledger.wasted, 0);
    // Saturated: by the end, the balance sits near the reserve, not at the cap.
    assert!(ledger.balance < 60, "balance {} at the end", ledger.balance);
}
