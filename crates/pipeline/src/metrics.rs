//! The worker's metrics, rendered as Prometheus text for `GET /metrics`.
//!
//! A handful of labelled counters, gauges and one latency histogram, kept in memory behind a
//! mutex: the worker updates them a few times per Keepa call, far below the point where a
//! lock-free registry would pay for its dependency. Nothing here knows about HTTP; the API module
//! calls [`Metrics::render`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds, in seconds, of the latency histogram's buckets.
const LATENCY_BUCKETS_SECONDS: [f64; 10] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The worker's metrics. Clones share the same values.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Values>>,
}

#[derive(Debug, Default)]
struct Values {
    counters: BTreeMap<(&'static str, Labels), f64>,
    gauges: BTreeMap<(&'static str, Labels), f64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS_SECONDS.len()],
    count: u64,
    sum_seconds: f64,
}

/// What each metric means, for the `# HELP` lines; using a metric not listed here is a
/// programming error that debug builds (and so the tests) catch.
const HELP: &[(&str, &str, &str)] = &[
    (
        "keepa_tokens_left",
        "gauge",
        "Projected Keepa token balance, in-flight estimates deducted.",
    ),
    (
        "keepa_refill_rate",
        "gauge",
        "Keepa tokens added per minute (the plan).",
    ),
    (
        "keepa_foreign_consumption_tokens",
        "gauge",
        "Tokens spent on this key by other programs, estimated from envelopes.",
    ),
    (
        "keepa_tokens_spent_total",
        "counter",
        "Tokens Keepa charged, by lane.",
    ),
    (
        "keepa_requests_total",
        "counter",
        "Keepa requests, by endpoint and HTTP status.",
    ),
    (
        "keepa_throttled_total",
        "counter",
        "Keepa answers with HTTP 429.",
    ),
    (
        "keepa_errors_total",
        "counter",
        "Failed Keepa calls, by kind.",
    ),
    (
        "deals_stored_total",
        "counter",
        "Deals committed to the store, by source.",
    ),
    (
        "deals_rejected_total",
        "counter",
        "Deals rejected, by reason.",
    ),
    (
        "task_last_progress_seconds",
        "gauge",
        "Unix time at which each task last completed useful work.",
    ),
    (
        "api_request_duration_seconds",
        "histogram",
        "Latency of the worker's HTTP API, by route.",
    ),
];

impl Metrics {
    /// Adds `by` to a counter.
    pub fn add(&self, name: &'static str, labels: &[(&'static str, &str)], by: f64) {
        debug_assert_known(name);
        let mut values = self.lock();
        *values.counters.entry((name, owned(labels))).or_default() += by;
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        debug_assert_known(name);
        self.lock().gauges.insert((name, owned(labels)), value);
    }

    /// Records one latency observation.
    pub fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], latency: Duration) {
        debug_assert_known(name);
        let seconds = latency.as_secs_f64();
        let mut values = self.lock();
        let histogram = values.histograms.entry((name, owned(labels))).or_default();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(LATENCY_BUCKETS_SECONDS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum_seconds += seconds;
    }

    /// A counter's current value, for tests and progress lines.
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> f64 {
        self.lock()
            .counters
            .get(&(name, owned(labels)))
            .copied()
            .unwrap_or(0.0)
    }

    /// Everything, in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let values = self.lock();
        let mut out = String::new();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            let series = match *kind {
                "counter" => &values.counters,
                "gauge" => &values.gauges,
                _ => {
                    for ((_, labels), histogram) in
                        values.histograms.iter().filter(|((n, _), _)| n == name)
                    {
                        for (bound, count) in LATENCY_BUCKETS_SECONDS.iter().zip(histogram.buckets)
                        {
                            let mut with_le = labels.clone();
                            with_le.push(("le", bound.to_string()));
                            let _ =
                                writeln!(out, "{name}_bucket{} {count}", format_labels(&with_le));
                        }
                        let mut with_inf = labels.clone();
                        with_inf.push(("le", "+Inf".to_owned()));
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {}",
                            format_labels(&with_inf),
                            histogram.count
                        );
                        let _ = writeln!(
                            out,
                            "{name}_sum{} {}",
                            format_labels(labels),
                            histogram.sum_seconds
                        );
                        let _ = writeln!(
                            out,
                            "{name}_count{} {}",
                            format_labels(labels),
                            histogram.count
                        );
                    }
                    continue;
                }
            };
            for ((_, labels), value) in series.iter().filter(|((n, _), _)| n == name) {
                let _ = writeln!(out, "{name}{} {value}", format_labels(labels));
            }
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Values> {
        // Metrics are advisory: a panic elsewhere while holding the lock must not stop them.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[track_caller]
fn debug_assert_known(name: &str) {
    debug_assert!(
        HELP.iter().any(|(known, ..)| *known == name),
        "metric `{name}` has no HELP entry"
    );
}

fn owned(labels: &[(&'static str, &str)]) -> Labels {
    labels
        .iter()
        .map(|(key, value)| (*key, (*value).to_owned()))
        .collect()
}

fn format_labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(key, value)| {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{key}=\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms_with_help() {
        let metrics = Metrics::default();
        metrics.add("deals_rejected_total", &[("reason", "no_buy_price")], 2.0);
        metrics.add("deals_rejected_total", &[("reason", "no_buy_price")], 1.0);
        metrics.set("keepa_tokens_left", &[], -7.0);
        metrics.observe(
            "api_request_duration_seconds",
            &[("route", "/api/deals")],
            Duration::from_millis(30),
        );
        let text = metrics.render();
        assert!(
            text.contains("# TYPE deals_rejected_total counter"),
            "{text}"
        );
        assert!(
            text.contains("deals_rejected_total{reason=\"no_buy_price\"} 3"),
            "{text}"
        );
        assert!(text.contains("keepa_tokens_left -7"), "{text}");
        assert!(
            text.contains(
                "api_request_duration_seconds_bucket{route=\"/api/deals\",le=\"0.025\"} 0"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "api_request_duration_seconds_bucket{route=\"/api/deals\",le=\"0.05\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("api_request_duration_seconds_count{route=\"/api/deals\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::default();
        metrics.add("keepa_errors_total", &[("kind", "a\"b\\c\nd")], 1.0);
        assert!(
            metrics
                .render()
                .contains(r#"keepa_errors_total{kind="a\"b\\c\nd"} 1"#)
        );
    }

    #[test]
    #[should_panic(expected = "has no HELP entry")]
    fn a_metric_without_help_is_a_programming_error() {
        Metrics::default().add("not_a_metric", &[], 1.0);
    }
}
