//! The JSON schema (version 1) against a hand-written expected file, and the human report's
//! alignment and colouring.

use diagnostics::{CheckResult, Report, Status, render_human, render_json};

use crate::support::NOW_MS;

fn sample_report() -> Report {
    Report::new(
        vec![
            CheckResult::pass("quota", "balance 120 of 300 tokens, 5/min"),
            CheckResult::new(
                "leases",
                Status::Warn,
                "discovery: held by DEAD host:42:abcd",
                Some("run `cargo run -p flush -- leases --yes`".to_owned()),
            ),
            CheckResult::unknown(
                "backlog",
                "backlog depth not tracked by this database version",
                None,
            ),
        ],
        NOW_MS,
    )
}

#[test]
fn json_matches_the_documented_schema_v1() {
    let expected_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/snapshots/report_v1.json"
    );
    let expected = std::fs::read_to_string(expected_path).expect("the expected file");
    assert_eq!(render_json(&sample_report()), expected);
}

#[test]
fn json_parses_and_says_the_worst_status() {
    let value: serde_json::Value =
        serde_json::from_str(&render_json(&sample_report())).expect("json");
    assert_eq!(value["schema"], 1);
    assert_eq!(value["status"], "warn");
    assert_eq!(value["nagios"], "WARNING");
    assert_eq!(value["exit_code"], 1);
    assert_eq!(value["checks"][2]["status"], "unknown");
    assert!(value["checks"][0]["remedy"].is_null());
}

#[test]
fn human_report_is_aligned_and_plain_without_colour() {
    let text = render_human(&sample_report(), false);
    let expected = "\
keepa-deals diagnostics: WARNING (exit 1)
PASS  quota    balance 120 of 300 tokens, 5/min
WARN  leases   discovery: held by DEAD host:42:abcd
               remedy: run `cargo run -p flush -- leases --yes`
UNKN  backlog  backlog depth not tracked by this database version
";
    assert_eq!(text, expected);
    assert!(!text.contains('\x1b'));
}

#[test]
fn human_report_colours_only_when_asked() {
    let text = render_human(&sample_report(), true);
    assert!(text.contains("\x1b[1;33mWARN\x1b[0m"), "{text}");
}
