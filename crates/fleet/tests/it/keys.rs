//! `list_keys` and `delete`: every key the crate writes is listed and typed; keys outside the
//! fleet namespace (foreign programs, the token bucket under the same prefix, a prefix whose
//! glob characters would match more than it should) are never listed, read or deleted.

use std::time::Duration;

use deadpool_redis::redis::{self, AsyncCommands};
use fleet::{Error, Incident, InstanceId, KeyKind, Progress, TaskState};
use token_bucket::clock::ManualClock;

use crate::support::{START_MS, both_backends, redis_fleet, redis_fleet_with_prefix};

async fn write_one_of_everything(fleet: &fleet::Fleet) {
    fleet
        .acquire_lease("discovery", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let progress = Progress::new(
        InstanceId::current().clone(),
        START_MS,
        TaskState::Stopped,
        false,
    );
    fleet.report_progress("discovery", progress).await.unwrap();
    fleet.set_pause("maintenance", "ops").await.unwrap();
    fleet.record_call("worker").await.unwrap();
    fleet
        .record_incident(Incident::new(START_MS, "stall-restart", "restarted"))
        .await
        .unwrap();
}

#[tokio::test]
async fn list_keys_describes_every_key_the_crate_writes_and_delete_removes_them() {
    for (backend, fleet, _clock) in both_backends("keys_all") {
        write_one_of_everything(&fleet).await;
        let keys = fleet.list_keys().await.unwrap();
        let kinds: Vec<KeyKind> = keys.iter().map(|key| key.kind().clone()).collect();
        let minute = START_MS / 60_000;
        let mut expected = vec![
            KeyKind::Lease {
                name: "discovery".to_owned(),
            },
            KeyKind::LeaseFencing {
                name: "discovery".to_owned(),
            },
            KeyKind::Heartbeats,
            KeyKind::PauseFlag,
            KeyKind::CallCounts { minute },
            KeyKind::Incidents,
        ];
        expected.sort();
        let mut sorted = kinds.clone();
        sorted.sort();
        assert_eq!(sorted, expected, "{backend}");
        for key in &keys {
            assert!(
                key.key()
                    .starts_with(&format!("{}fleet:", fleet.key_prefix())),
                "{backend}: {key}"
            );
        }
        assert_eq!(fleet.delete(&keys).await.unwrap(), 6, "{backend}");
        assert!(fleet.list_keys().await.unwrap().is_empty(), "{backend}");
        assert!(fleet.pause().await.unwrap().is_none(), "{backend}");
    }
}

#[tokio::test]
async fn foreign_keys_survive_list_keys_and_delete() {
    let clock = ManualClock::at(START_MS);
    // Glob characters in the prefix: unescaped, `[ab]*` would match the sibling prefix below.
    let prefix = format!("{}[ab]*?:", testkit::unique_prefix("keys_foreign"));
    let sibling = prefix.replace("[ab]*?", "a-sibling-x");
    let fleet = redis_fleet_with_prefix(&prefix, &clock);
    let pool = deadpool_redis::Config::from_url(testkit::redis_url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let mut connection = pool.get().await.unwrap();
    let mut foreign: Vec<String> = (0..50)
        .map(|index| format!("{prefix}-foreign-{index}"))
        .collect();
    foreign.push(format!("{prefix}bucket:state"));
    foreign.push(format!("{sibling}fleet:lease:discovery"));
    foreign.push(format!("{sibling}fleet:pause"));
    foreign.push(format!("{}fleet:pause", prefix.trim_end_matches(':')));
    for key in &foreign {
        let () = connection.set(key, "foreign value").await.unwrap();
    }

    write_one_of_everything(&fleet).await;
    let keys = fleet.list_keys().await.unwrap();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert!(
        keys.iter()
            .all(|key| !foreign.contains(&key.key().to_owned()))
    );
    assert_eq!(fleet.delete(&keys).await.unwrap(), 6);

    for key in &foreign {
        let value: Option<String> = connection.get(key).await.unwrap();
        assert_eq!(
            value.as_deref(),
            Some("foreign value"),
            "{key} must survive"
        );
    }
    let () = redis::cmd("DEL")
        .arg(&foreign)
        .query_async(&mut connection)
        .await
        .unwrap();
}

#[tokio::test]
async fn delete_refuses_keys_of_another_prefix_and_deletes_nothing() {
    let clock = ManualClock::at(START_MS);
    let ours = redis_fleet("keys_ours", &clock);
    let theirs = redis_fleet("keys_theirs", &clock);
    write_one_of_everything(&theirs).await;
    write_one_of_everything(&ours).await;
    let mut mixed = ours.list_keys().await.unwrap();
    mixed.extend(theirs.list_keys().await.unwrap());
    let error = ours.delete(&mixed).await.unwrap_err();
    assert!(matches!(error, Error::KeyOutsidePrefix { .. }), "{error}");
    assert_eq!(ours.list_keys().await.unwrap().len(), 6);
    assert_eq!(theirs.list_keys().await.unwrap().len(), 6);
    for fleet in [ours, theirs] {
        let keys = fleet.list_keys().await.unwrap();
        fleet.delete(&keys).await.unwrap();
    }
}
