//! Heartbeats report progress, not liveness: the state changes freely, the progress instant only
//! when the caller says work completed, and each report is stamped with the fleet's clock.

use fleet::{InstanceId, Progress, TaskState, WaitReason};

use crate::support::{START_MS, both_backends, clean_up};

#[tokio::test]
async fn heartbeats_round_trip_with_state_changes_that_keep_the_progress_instant() {
    for (backend, fleet, clock) in both_backends("heartbeats") {
        let me = InstanceId::current().clone();
        let working = TaskState::Working {
            what: "analysing 12 deals".to_owned(),
        };
        fleet
            .report_progress(
                "discovery",
                Progress::new(me.clone(), START_MS, working, true),
            )
            .await
            .unwrap();
        let idle = TaskState::Waiting {
            reason: WaitReason::NoWork,
        };
        fleet
            .report_progress(
                "refresh",
                Progress::new(me.clone(), START_MS - 5_000, idle, false),
            )
            .await
            .unwrap();
        clock.advance_ms(60_000);
        let waiting = TaskState::Waiting {
            reason: WaitReason::Tokens {
                until_ms: START_MS + 180_000,
            },
        };
        fleet
            .report_progress(
                "discovery",
                Progress::new(me.clone(), START_MS, waiting.clone(), true),
            )
            .await
            .unwrap();

        let heartbeats = fleet.heartbeats().await.unwrap();
        let tasks: Vec<&str> = heartbeats.iter().map(|beat| beat.task.as_str()).collect();
        assert_eq!(tasks, ["discovery", "refresh"], "{backend}");
        let discovery = &heartbeats[0];
        assert_eq!(
            discovery.progress.last_progress_at_ms, START_MS,
            "{backend}"
        );
        assert_eq!(discovery.reported_at_ms, START_MS + 60_000, "{backend}");
        assert_eq!(discovery.progress.state, waiting, "{backend}");
        assert!(discovery.progress.is_waiting_for_quota(), "{backend}");
        assert_eq!(discovery.progress.instance, me, "{backend}");
        assert_eq!(heartbeats[1].reported_at_ms, START_MS, "{backend}");
        assert!(!heartbeats[1].progress.has_work, "{backend}");

        fleet.forget_task("refresh").await.unwrap();
        assert_eq!(fleet.heartbeats().await.unwrap().len(), 1, "{backend}");
        clean_up(&fleet).await;
    }
}

#[track_caller]
fn check(state: TaskState, expected: &str) {
    assert_eq!(state.to_string(), expected);
}

#[test]
fn states_read_as_a_person_would_say_them() {
    check(
        TaskState::Waiting {
            reason: WaitReason::Tokens {
                until_ms: START_MS + 180_000,
            },
        },
        "waiting for tokens until 12:03:00Z",
    );
    check(
        TaskState::Waiting {
            reason: WaitReason::NoWork,
        },
        "idle: no new work",
    );
    check(
        TaskState::Waiting {
            reason: WaitReason::Paused,
        },
        "paused by the operator",
    );
    check(
        TaskState::Waiting {
            reason: WaitReason::Lease,
        },
        "waiting for the lease: another instance holds it",
    );
    check(
        TaskState::Waiting {
            reason: WaitReason::Backoff {
                until_ms: START_MS + 5_500,
            },
        },
        "backing off after errors until 12:00:05Z",
    );
    check(
        TaskState::Working {
            what: "analysing 12 deals".to_owned(),
        },
        "working: analysing 12 deals",
    );
    check(TaskState::Stopped, "stopped");
}
