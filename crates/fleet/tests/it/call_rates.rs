//! Per-client call rates: per-minute counts, rates over a window, and alerts for clients above
//! their expected rate or not expected at all (the "phantom" caller).

use std::collections::HashMap;

use crate::support::{both_backends, clean_up};

fn expected(pairs: &[(&str, f64)]) -> HashMap<String, f64> {
    pairs
        .iter()
        .map(|(client, rate)| ((*client).to_owned(), *rate))
        .collect()
}

#[tokio::test]
async fn call_rates_average_per_minute_counts_over_the_window() {
    for (backend, fleet, clock) in both_backends("call_rates") {
        for _ in 0..6 {
            fleet.record_call("worker").await.unwrap();
        }
        fleet.record_call("phantom").await.unwrap();
        clock.advance_ms(60_000);
        for _ in 0..3 {
            fleet.record_call("worker").await.unwrap();
        }
        let rates: Vec<(String, f64)> = fleet
            .call_rates(2)
            .await
            .unwrap()
            .into_iter()
            .map(|rate| (rate.client, rate.calls_per_minute))
            .collect();
        assert_eq!(
            rates,
            [("phantom".to_owned(), 0.5), ("worker".to_owned(), 4.5)],
            "{backend}"
        );
        let last_minute = fleet.call_rates(1).await.unwrap();
        assert_eq!(last_minute.len(), 1, "{backend}");
        assert!(
            (last_minute[0].calls_per_minute - 3.0).abs() < 1e-9,
            "{backend}"
        );

        let alerts = fleet
            .call_rate_alerts(2, &expected(&[("worker", 4.0)]))
            .await
            .unwrap();
        let described: Vec<String> = alerts.iter().map(ToString::to_string).collect();
        assert_eq!(
            described,
            [
                "client phantom calls 0.5/min and is not an expected client",
                "client worker calls 4.5/min, above its expected 4.0/min",
            ],
            "{backend}"
        );
        let calm = expected(&[("worker", 5.0), ("phantom", 1.0)]);
        assert!(
            fleet.call_rate_alerts(2, &calm).await.unwrap().is_empty(),
            "{backend}"
        );

        clock.advance_ms(3 * 60 * 60_000);
        assert!(
            fleet.call_rates(120).await.unwrap().is_empty(),
            "{backend}: old minutes fall out"
        );
        clean_up(&fleet).await;
    }
}
