//! The operator's pause flag and the watchdog's capped incident list, over both backends.

use fleet::Incident;

use crate::support::{START_MS, both_backends, clean_up};

#[tokio::test]
async fn the_pause_flag_is_set_read_and_cleared_only_on_request() {
    for (backend, fleet, clock) in both_backends("pause_flag") {
        assert_eq!(fleet.pause().await.unwrap(), None, "{backend}");
        clock.advance_ms(1_000);
        fleet
            .set_pause("keepa key rotation", "alice")
            .await
            .unwrap();
        let flag = fleet.pause().await.unwrap().unwrap();
        assert_eq!(
            (flag.reason.as_str(), flag.by.as_str(), flag.at_ms),
            ("keepa key rotation", "alice", START_MS + 1_000),
            "{backend}"
        );
        fleet.clear_pause().await.unwrap();
        assert_eq!(fleet.pause().await.unwrap(), None, "{backend}");
        fleet.clear_pause().await.unwrap();
        clean_up(&fleet).await;
    }
}

#[tokio::test]
async fn incidents_are_kept_newest_first_and_capped_at_one_hundred() {
    for (backend, fleet, _clock) in both_backends("incidents") {
        assert!(fleet.incidents(10).await.unwrap().is_empty(), "{backend}");
        for index in 0..105_i64 {
            let detail = format!("restart {index}");
            fleet
                .record_incident(Incident::new(START_MS + index, "stall-restart", &detail))
                .await
                .unwrap();
        }
        let all = fleet.incidents(1_000).await.unwrap();
        assert_eq!(all.len(), 100, "{backend}");
        assert_eq!(all[0].detail, "restart 104", "{backend}");
        assert_eq!(all[99].at_ms, START_MS + 5, "{backend}");
        let newest = fleet.incidents(2).await.unwrap();
        assert_eq!(newest, all[..2], "{backend}");
        assert!(fleet.incidents(0).await.unwrap().is_empty(), "{backend}");
        clean_up(&fleet).await;
    }
}
