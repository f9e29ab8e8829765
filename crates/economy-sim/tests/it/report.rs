//! The report's arithmetic: percentiles, utilization, and the table's shape.

use economy_sim::report::{percentile, utilization};

#[track_caller]
fn check_percentile(samples: &[u64], quantile: f64, expected: u64) {
    assert_eq!(
        percentile(samples, quantile),
        expected,
        "{samples:?} at {quantile}"
    );
}

#[test]
fn percentiles_use_the_nearest_rank() {
    check_percentile(&[], 0.5, 0);
    check_percentile(&[7], 0.99, 7);
    check_percentile(&[3, 1, 2], 0.5, 2);
    let hundred: Vec<u64> = (1..=100).collect();
    check_percentile(&hundred, 0.5, 50);
    check_percentile(&hundred, 0.99, 99);
    check_percentile(&hundred, 1.0, 100);
}

#[test]
fn utilization_counts_the_start_and_end_balances_and_leaves_out_foreign_tokens() {
    // 300 at the start, 600 refilled, 0 left, none foreign: 900 available, 891 used.
    assert!((utilization(891, 600, 300, 0, 0) - 0.99).abs() < 1e-12);
    // A deficit at the end means more was spent than refilled.
    assert!((utilization(700, 600, 0, -100, 0) - 1.0).abs() < 1e-12);
    // The foreign consumer's tokens were never ours to spend.
    assert!((utilization(300, 600, 0, 0, 300) - 1.0).abs() < 1e-12);
    assert_eq!(utilization(0, 0, 0, 0, 0), 0.0);
}

#[test]
fn the_table_has_a_row_per_report_and_aligned_columns() {
    let line = r#"{"scenario":"steady-5","policy":"ours"}"#;
    assert!(line.contains("steady-5"));
    let table = economy_sim::report::table(&[]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "header and rule: {table}");
    assert_eq!(
        lines[0].chars().count(),
        lines[1].chars().count(),
        "{table}"
    );
}
