//! A tiny benchmark kit for the workspace's `[[bench]] harness = false` binaries.
//!
//! A benchmark measures the code under test and a baseline in the same run, then prints one
//! JSON line per figure with [`report`]: `{"name","value","unit","baseline","baseline_value","ratio"}`.
//! `cargo xtask bench <suite>` collects those lines; `docs/benchmarks.md` records them.
//!
//! [`measure`] times a closure in adaptive batches (for fast, synchronous code);
//! [`measure_samples`] takes durations the caller measured itself (for async code, round trips
//! and latency distributions). Progress text goes to stderr, figures only to stdout, so the
//! output of a bench binary can be piped straight into a `.jsonl` file.
//!
//! This crate deliberately does no statistics beyond the median, mean and percentiles, keeps no
//! history between runs, draws no plots and starts no threads: figures are ratios against a
//! baseline measured in the same process, which is what stays comparable across machines.
//!
//! ```
//! // Keep the example fast: a real bench leaves BENCHKIT_SECONDS unset (one second).
//! let sum = |n: u64| (0..n).sum::<u64>();
//! let m = benchkit::measure_samples("sum_1000", 10, || {
//!     let start = std::time::Instant::now();
//!     benchkit::black_box(sum(benchkit::black_box(1000)));
//!     start.elapsed()
//! });
//! assert_eq!(m.iterations, 10);
//! benchkit::report("sum_1000_p99", m.p99_ns, "ns", "sum_1000_p50", m.p50_ns);
//! ```

use std::time::{Duration, Instant};

pub use std::hint::black_box;

/// The environment variable that overrides the measuring time of [`measure`], in seconds
/// (a decimal number such as `0.2` or `5`).
pub const SECONDS_ENV: &str = "BENCHKIT_SECONDS";

/// How long [`measure`] measures when [`SECONDS_ENV`] is not set.
const DEFAULT_MEASURING_TIME: Duration = Duration::from_secs(1);
/// How long [`measure`] runs the closure before measuring, to warm caches and estimate its cost.
const WARM_UP_TIME: Duration = Duration::from_millis(200);
/// The shortest sample [`measure`] aims for: long enough that the clock's resolution and the
/// cost of reading it vanish in the per-iteration figure.
const MIN_SAMPLE_TIME: Duration = Duration::from_millis(1);
/// [`measure`] takes at least this many samples, however slow the closure, so p50 and p99 exist.
const MIN_SAMPLES: usize = 5;

/// The timings of one measured piece of code, in nanoseconds per iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// The typical cost of one iteration: for [`measure`] the median over samples of
    /// (sample time ÷ batch size); for [`measure_samples`] the mean of the returned durations.
    pub ns_per_iter: f64,
    /// The median (50th percentile) of the per-iteration sample values.
    pub p50_ns: f64,
    /// The 99th percentile of the per-iteration sample values.
    pub p99_ns: f64,
    /// How many iterations were measured (warm-up excluded).
    pub iterations: u64,
}

/// Measures `f` and returns its cost per iteration.
///
/// Runs `f` for about 200 ms to warm up and estimate its cost, then in batches sized so that each
/// sample takes at least about 1 ms, for about one second in total ([`SECONDS_ENV`] overrides
/// it), taking at least five samples. Each sample yields one per-iteration value
/// (sample time ÷ batch size); [`Measurement::ns_per_iter`] and [`Measurement::p50_ns`] are
/// their median and [`Measurement::p99_ns`] their 99th percentile.
///
/// Wrap inputs and results in [`black_box`] so the compiler cannot optimise the work away.
/// Prints progress to stderr, nothing to stdout.
///
/// # Panics
///
/// When [`SECONDS_ENV`] is set to something other than a non-negative number of seconds.
pub fn measure<F: FnMut()>(name: &str, f: F) -> Measurement {
    let measuring_time = measuring_time_from_env();
    eprintln!("measuring {name} …");
    let measurement = measure_for(WARM_UP_TIME, measuring_time, f);
    print_summary(name, &measurement);
    measurement
}

/// Builds a [`Measurement`] from `samples` durations that `f` measures itself, one per call.
///
/// For code that [`measure`] cannot time in batches: async calls driven by a runtime, network
/// round trips, latencies under load. [`Measurement::ns_per_iter`] is the mean of the durations,
/// [`Measurement::p50_ns`] and [`Measurement::p99_ns`] their percentiles, and
/// [`Measurement::iterations`] equals `samples`. There is no warm-up: discard a few calls
/// yourself before calling this when the first ones are not representative.
/// Prints progress to stderr, nothing to stdout.
///
/// # Panics
///
/// When `samples` is 0.
pub fn measure_samples<F: FnMut() -> Duration>(
    name: &str,
    samples: usize,
    mut f: F,
) -> Measurement {
    assert!(
        samples > 0,
        "benchkit::measure_samples({name:?}) needs at least one sample"
    );
    eprintln!("measuring {name} ({samples} samples) …");
    let nanos: Vec<f64> = (0..samples).map(|_| f().as_nanos() as f64).collect();
    let measurement = summarize_samples(&nanos);
    print_summary(name, &measurement);
    measurement
}

/// Prints one figure as a JSON line on stdout:
/// `{"name","value","unit","baseline","baseline_value","ratio"}`.
///
/// `ratio` is `value / baseline_value`, or `null` when `baseline_value` is 0. Non-finite values
/// are written as `null` (JSON has no NaN).
///
/// ```
/// // Prints {"name":"bucket_acquire_settle","value":120.0,"unit":"ns","baseline":"governor_check","baseline_value":60.0,"ratio":2.0}
/// benchkit::report("bucket_acquire_settle", 120.0, "ns", "governor_check", 60.0);
/// ```
pub fn report(name: &str, value: f64, unit: &str, baseline: &str, baseline_value: f64) {
    println!(
        "{}",
        report_line(name, value, unit, baseline, baseline_value)
    );
}

/// The JSON text [`report`] prints, without the newline.
fn report_line(name: &str, value: f64, unit: &str, baseline: &str, baseline_value: f64) -> String {
    let ratio = if baseline_value == 0.0 {
        None
    } else {
        Some(value / baseline_value)
    };
    serde_json::json!({
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_value": baseline_value,
        "ratio": ratio,
    })
    .to_string()
}

/// Reads [`SECONDS_ENV`], falling back to [`DEFAULT_MEASURING_TIME`].
fn measuring_time_from_env() -> Duration {
    let Ok(text) = std::env::var(SECONDS_ENV) else {
        return DEFAULT_MEASURING_TIME;
    };
    parse_seconds(&text).unwrap_or_else(|| {
        panic!("{SECONDS_ENV}={text:?} is not a number of seconds; set it to e.g. 0.5 or 5, or unset it")
    })
}

/// Parses a non-negative, finite number of seconds.
fn parse_seconds(text: &str) -> Option<Duration> {
    let seconds: f64 = text.trim().parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// The batching loop behind [`measure`], with its times as parameters.
fn measure_for<F: FnMut()>(
    warm_up_time: Duration,
    measuring_time: Duration,
    mut f: F,
) -> Measurement {
    let warm_up_start = Instant::now();
    let mut warm_up_iterations: u64 = 0;
    loop {
        f();
        warm_up_iterations += 1;
        if warm_up_start.elapsed() >= warm_up_time {
            break;
        }
    }
    let estimated_ns_per_iter =
        warm_up_start.elapsed().as_nanos() as f64 / warm_up_iterations as f64;
    let batch_size = batch_size_for(estimated_ns_per_iter, MIN_SAMPLE_TIME);

    let mut per_iteration_ns = Vec::new();
    let measuring_start = Instant::now();
    while per_iteration_ns.len() < MIN_SAMPLES || measuring_start.elapsed() < measuring_time {
        let sample_start = Instant::now();
        for _ in 0..batch_size {
            f();
        }
        per_iteration_ns.push(sample_start.elapsed().as_nanos() as f64 / batch_size as f64);
    }
    summarize_batches(&per_iteration_ns, batch_size)
}

/// How many iterations make a sample of at least `min_sample_time`, given the estimated cost.
fn batch_size_for(estimated_ns_per_iter: f64, min_sample_time: Duration) -> u64 {
    let min_sample_ns = min_sample_time.as_nanos() as f64;
    if estimated_ns_per_iter.is_nan() || estimated_ns_per_iter <= 0.0 {
        // A closure faster than the clock's resolution: any batch that reaches the target will do.
        return min_sample_ns as u64;
    }
    ((min_sample_ns / estimated_ns_per_iter).ceil() as u64).max(1)
}

/// The statistics of [`measure`]: median and p99 of per-iteration values from equal batches.
fn summarize_batches(per_iteration_ns: &[f64], batch_size: u64) -> Measurement {
    let sorted = sorted(per_iteration_ns);
    let p50_ns = percentile(&sorted, 50.0);
    Measurement {
        ns_per_iter: p50_ns,
        p50_ns,
        p99_ns: percentile(&sorted, 99.0),
        iterations: per_iteration_ns.len() as u64 * batch_size,
    }
}

/// The statistics of [`measure_samples`]: mean, p50 and p99 of one value per iteration.
fn summarize_samples(nanos: &[f64]) -> Measurement {
    let sorted = sorted(nanos);
    Measurement {
        ns_per_iter: nanos.iter().sum::<f64>() / nanos.len() as f64,
        p50_ns: percentile(&sorted, 50.0),
        p99_ns: percentile(&sorted, 99.0),
        iterations: nanos.len() as u64,
    }
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// The `p`-th percentile (0–100) of sorted values, interpolating linearly between the two
/// nearest ranks (the "linear" method of NumPy and R's type 7). NaN for an empty slice.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted {
        [] => f64::NAN,
        [only] => *only,
        _ => {
            let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
            let lower = rank.floor() as usize;
            let upper = rank.ceil() as usize;
            let fraction = rank - lower as f64;
            sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
        }
    }
}

fn print_summary(name: &str, m: &Measurement) {
    eprintln!(
        "  {name}: {:.1} ns/iter (p50 {:.1} ns, p99 {:.1} ns, {} iterations)",
        m.ns_per_iter, m.p50_ns, m.p99_ns, m.iterations
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_percentile(values: &[f64], p: f64, expected: f64) {
        let actual = percentile(&sorted(values), p);
        assert!(
            (actual - expected).abs() < 1e-9,
            "p{p} of {values:?}: expected {expected}, got {actual}"
        );
    }

    #[test]
    fn percentiles_of_a_known_sample_set() {
        let one_to_hundred_one: Vec<f64> = (1..=101).map(f64::from).collect();
        check_percentile(&one_to_hundred_one, 50.0, 51.0);
        check_percentile(&one_to_hundred_one, 99.0, 100.0);
        check_percentile(&one_to_hundred_one, 0.0, 1.0);
        check_percentile(&one_to_hundred_one, 100.0, 101.0);
        check_percentile(&[4.0, 1.0, 3.0, 2.0], 50.0, 2.5);
        check_percentile(&[10.0, 20.0], 99.0, 19.9);
        check_percentile(&[7.0], 99.0, 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn samples_summary_uses_mean_and_percentiles() {
        let m = summarize_samples(&[1.0, 2.0, 3.0, 10.0]);
        assert_eq!(m.ns_per_iter, 4.0);
        assert_eq!(m.p50_ns, 2.5);
        assert!((m.p99_ns - 9.79).abs() < 1e-9);
        assert_eq!(m.iterations, 4);
    }

    #[test]
    fn batches_summary_uses_the_median_and_counts_every_iteration() {
        let m = summarize_batches(&[5.0, 1.0, 3.0], 1000);
        assert_eq!(m.ns_per_iter, 3.0);
        assert_eq!(m.p50_ns, 3.0);
        assert_eq!(m.iterations, 3000);
    }

    #[test]
    fn batch_size_reaches_the_minimum_sample_time() {
        let one_ms = Duration::from_millis(1);
        assert_eq!(batch_size_for(100.0, one_ms), 10_000);
        assert_eq!(batch_size_for(300.0, one_ms), 3_334);
        assert_eq!(batch_size_for(5_000_000.0, one_ms), 1);
        assert_eq!(batch_size_for(0.0, one_ms), 1_000_000);
    }

    #[test]
    fn measuring_runs_the_closure_and_takes_the_minimum_samples() {
        let mut calls: u64 = 0;
        let m = measure_for(Duration::ZERO, Duration::ZERO, || calls += 1);
        assert!(m.iterations >= MIN_SAMPLES as u64);
        assert!(calls > m.iterations, "the warm-up runs at least once");
        assert!(m.ns_per_iter.is_finite() && m.p99_ns >= m.p50_ns);
    }

    #[test]
    fn measure_samples_takes_exactly_the_requested_samples() {
        let mut next = 0;
        let m = measure_samples("fixed", 3, || {
            next += 1;
            Duration::from_nanos(next * 100)
        });
        assert_eq!(m.iterations, 3);
        assert_eq!(m.ns_per_iter, 200.0);
        assert_eq!(m.p50_ns, 200.0);
    }

    #[test]
    fn report_line_has_the_six_fields_and_the_ratio() {
        let line = report_line("bucket", 120.0, "ns", "governor", 60.0);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected_keys = [
            "name",
            "value",
            "unit",
            "baseline",
            "baseline_value",
            "ratio",
        ];
        expected_keys.sort_unstable();
        let mut sorted_keys = keys.clone();
        sorted_keys.sort_unstable();
        assert_eq!(sorted_keys, expected_keys);
        assert_eq!(value["name"], "bucket");
        assert_eq!(value["unit"], "ns");
        assert_eq!(value["baseline"], "governor");
        assert_eq!(value["value"], 120.0);
        assert_eq!(value["baseline_value"], 60.0);
        assert_eq!(value["ratio"], 2.0);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn ratio_is_null_against_a_zero_baseline() {
        let value: serde_json::Value =
            serde_json::from_str(&report_line("x", 5.0, "ops/s", "y", 0.0)).unwrap();
        assert!(value["ratio"].is_null());
    }

    #[test]
    fn seconds_parse_as_decimal_and_reject_nonsense() {
        assert_eq!(parse_seconds("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_seconds(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("soon"), None);
        assert_eq!(parse_seconds("inf"), None);
    }
}
