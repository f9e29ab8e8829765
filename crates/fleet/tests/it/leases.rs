//! Leases: exclusivity until expiry, renewal, owner-only release, fencing that never goes back,
//! and what `inspect` shows. Each body runs over both backends.

use std::time::Duration;

use fleet::{Error, InstanceId, KeyKind};

use crate::support::{START_MS, both_backends, clean_up};

const TTL: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_held_lease_is_exclusive_until_its_ttl_passes_then_taken_over_with_a_higher_fencing() {
    for (backend, fleet, clock) in both_backends("lease_exclusive") {
        let first = fleet.with_instance(InstanceId::new("host-a", 1));
        let second = fleet.with_instance(InstanceId::new("host-b", 2));
        let held = first
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(held.expires_at_ms(), START_MS + 30_000, "{backend}");
        assert!(
            second
                .acquire_lease("discovery", TTL)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
        clock.advance_ms(29_999);
        assert!(
            second
                .acquire_lease("discovery", TTL)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
        clock.advance_ms(1);
        let successor = second
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .unwrap();
        assert!(successor.fencing() > held.fencing(), "{backend}");
        assert!(
            !first.renew(&held).await.unwrap(),
            "{backend}: the old holder lost it"
        );
        assert!(
            !first.release(&held).await.unwrap(),
            "{backend}: and cannot release it"
        );
        let info = fleet.inspect("discovery").await.unwrap().unwrap();
        assert_eq!(info.holder_instance, *second.instance(), "{backend}");
        assert_eq!(info.fencing, successor.fencing(), "{backend}");
        clean_up(&fleet).await;
    }
}

#[tokio::test]
async fn renewing_before_expiry_keeps_the_lease_and_renewing_after_it_fails() {
    for (backend, fleet, clock) in both_backends("lease_renew") {
        let other = fleet.with_instance(InstanceId::new("host-b", 2));
        let held = fleet
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .unwrap();
        clock.advance_ms(20_000);
        assert!(fleet.renew(&held).await.unwrap(), "{backend}");
        clock.advance_ms(20_000);
        assert!(
            other
                .acquire_lease("discovery", TTL)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
        let info = fleet.inspect("discovery").await.unwrap().unwrap();
        assert_eq!(info.expires_at_ms, START_MS + 50_000, "{backend}");
        clock.advance_ms(10_000);
        assert!(
            !fleet.renew(&held).await.unwrap(),
            "{backend}: expired, even untaken"
        );
        clean_up(&fleet).await;
    }
}

#[tokio::test]
async fn only_the_owner_releases_a_lease() {
    for (backend, fleet, clock) in both_backends("lease_release") {
        let other = fleet.with_instance(InstanceId::new("host-b", 2));
        let stale = other
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .unwrap();
        clock.advance_ms(30_000);
        let held = fleet
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .unwrap();
        assert!(!other.release(&stale).await.unwrap(), "{backend}");
        let info = fleet.inspect("discovery").await.unwrap().unwrap();
        assert_eq!(info.fencing, held.fencing(), "{backend}: still held");
        assert!(fleet.release(&held).await.unwrap(), "{backend}");
        assert!(
            fleet.inspect("discovery").await.unwrap().is_none(),
            "{backend}"
        );
        let next = other
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next.fencing(), held.fencing() + 1, "{backend}");
        clean_up(&fleet).await;
    }
}

#[tokio::test]
async fn fencing_numbers_keep_increasing_after_flush_deletes_the_lease() {
    for (backend, fleet, _clock) in both_backends("lease_fencing_flush") {
        let first = fleet
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .unwrap();
        let leases: Vec<_> = fleet
            .list_keys()
            .await
            .unwrap()
            .into_iter()
            .filter(|key| matches!(key.kind(), KeyKind::Lease { .. }))
            .collect();
        assert_eq!(fleet.delete(&leases).await.unwrap(), 1, "{backend}");
        let second = fleet
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.fencing(), first.fencing() + 1, "{backend}");
        clean_up(&fleet).await;
    }
}

#[tokio::test]
async fn inspect_shows_only_a_hint_of_the_owner_token() {
    for (backend, fleet, _clock) in both_backends("lease_inspect") {
        assert!(
            fleet.inspect("discovery").await.unwrap().is_none(),
            "{backend}"
        );
        let held = fleet
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .unwrap();
        let info = fleet.inspect("discovery").await.unwrap().unwrap();
        assert_eq!(info.owner_token_hint.len(), 8, "{backend}");
        assert_eq!(info.owner_token_hint, held.owner_token_hint(), "{backend}");
        assert_eq!(info.holder_instance, *InstanceId::current(), "{backend}");
        assert_eq!(info.fencing, 1, "{backend}");
        assert!(!info.is_expired_at(START_MS + 29_999), "{backend}");
        assert!(info.is_expired_at(START_MS + 30_000), "{backend}");
        let debug = format!("{held:?}");
        assert!(
            debug.contains(held.owner_token_hint()),
            "{backend}: {debug}"
        );
        clean_up(&fleet).await;
    }
}

#[tokio::test]
async fn a_lease_without_a_ttl_is_refused() {
    for (backend, fleet, _clock) in both_backends("lease_zero_ttl") {
        let error = fleet
            .acquire_lease("discovery", Duration::ZERO)
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::InvalidLeaseTtl { .. }),
            "{backend}: {error}"
        );
    }
}

#[tokio::test]
async fn with_the_servers_clock_leases_expire_by_redis_time() {
    let fleet = fleet::Fleet::connect(
        &testkit::redis_url(),
        fleet::FleetConfig::with_prefix(&testkit::unique_prefix("lease_server_time")),
    )
    .unwrap();
    let before = fleet.now_ms().await.unwrap();
    let held = fleet
        .acquire_lease("discovery", TTL)
        .await
        .unwrap()
        .unwrap();
    let after = fleet.now_ms().await.unwrap();
    assert!((before + 30_000..=after + 30_000).contains(&held.expires_at_ms()));
    let other = fleet.with_instance(InstanceId::new("host-b", 2));
    assert!(
        other
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .is_none()
    );
    assert!(fleet.renew(&held).await.unwrap());
    assert!(fleet.release(&held).await.unwrap());
    // A one-millisecond lease has expired by the server's next TIME reading at the latest one
    // millisecond later; the script compares against TIME, so taking it over needs no sleep
    // beyond what the round trips take. Retrying is bounded.
    let short = fleet
        .acquire_lease("short", Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();
    let mut taken = None;
    for _ in 0..1_000 {
        taken = other.acquire_lease("short", TTL).await.unwrap();
        if taken.is_some() {
            break;
        }
    }
    assert_eq!(taken.unwrap().fencing(), short.fencing() + 1);
    clean_up(&fleet).await;
}

#[tokio::test]
async fn raising_fencing_after_a_wipe_makes_the_next_holder_outrank_the_store() {
    for (backend, fleet, _clock) in both_backends("lease_raise_fencing") {
        let first = fleet
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.fencing(), 1, "{backend}");
        fleet.release(&first).await.unwrap();
        // The store saw fencing 41 before the fleet state was wiped.
        assert_eq!(
            fleet.raise_fencing("discovery", 41).await.unwrap(),
            41,
            "{backend}"
        );
        // Raising never lowers.
        assert_eq!(
            fleet.raise_fencing("discovery", 7).await.unwrap(),
            41,
            "{backend}"
        );
        let next = fleet
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next.fencing(), 42, "{backend}");
        clean_up(&fleet).await;
    }
}

#[tokio::test(start_paused = true)]
async fn under_a_paused_clock_a_real_time_io_runtime_keeps_simulated_time_still() {
    let alarm = tokio::spawn(tokio::time::sleep(Duration::from_secs(3600)));
    let real_time = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut config = fleet::FleetConfig::with_prefix(&testkit::unique_prefix("paused-fleet"));
    config.clock = fleet::FleetClock::injected(token_bucket::clock::TokioClock::start());
    config.io_runtime = Some(real_time.handle().clone());
    let fleet = fleet::Fleet::connect(&testkit::redis_url(), config).unwrap();
    let started = tokio::time::Instant::now();
    for _ in 0..20 {
        let lease = fleet
            .acquire_lease("discovery", TTL)
            .await
            .unwrap()
            .unwrap();
        assert!(fleet.renew(&lease).await.unwrap());
        assert!(fleet.release(&lease).await.unwrap());
    }
    assert!(fleet.pause().await.unwrap().is_none());
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "simulated time moved during redis calls"
    );
    clean_up(&fleet).await;
    alarm.abort();
    real_time.shutdown_background();
}
