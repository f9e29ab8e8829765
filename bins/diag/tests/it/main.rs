//! The built `diag` binary: a temporary database gives a parseable JSON report and the exit
//! code of its worst status; bad flags, a bad Redis URL and an unreadable key file exit 2 or 3
//! with a message, never a panic.

use std::path::Path;
use std::process::{Command, Output};

fn diag(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diag"))
        .args(arguments)
        .env_remove("KEEPA_API_KEY")
        .env_remove("KEEPA_DEALS_REDIS_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("diag runs")
}

#[track_caller]
fn check(output: &Output, expected_code: i32) -> (String, String) {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(expected_code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    (stdout, stderr)
}

fn temp_database(directory: &Path) -> String {
    let path = directory.join("deals.sqlite");
    deal_store::Writer::open(&path, deal_store::StoreOptions::default()).expect("a new store");
    path.to_str().expect("a utf-8 path").to_owned()
}

#[test]
fn a_fresh_database_gives_a_json_report_and_the_warning_exit_code() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let output = diag(&["--database", &database, "--json", "--no-probe"]);
    // No worker ran: no heartbeat and a free instance lock warn; nothing fails.
    let (stdout, _) = check(&output, 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json on stdout");
    assert_eq!(report["schema"], 1);
    assert_eq!(report["status"], "warn");
    assert_eq!(report["exit_code"], 1);
    let names: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|check| check["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(
        names,
        [
            "quota",
            "task_progress",
            "leases",
            "backlog",
            "stale_deals",
            "deal_funnel",
            "api_errors",
            "call_rates",
            "database",
            "watermark",
            "incidents",
            "pause",
            "instance_lock"
        ]
    );
}

#[test]
fn the_human_report_has_no_colour_under_no_color() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let (stdout, _) = check(&diag(&["--database", &database, "--no-probe"]), 1);
    assert!(
        stdout.starts_with("keepa-deals diagnostics: WARNING (exit 1)"),
        "{stdout}"
    );
    assert!(!stdout.contains('\x1b'));
}

#[test]
fn a_missing_database_is_reported_not_created() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("absent.sqlite");
    let path_text = path.to_str().expect("utf-8");
    let (stdout, _) = check(&diag(&["--database", path_text, "--json", "--no-probe"]), 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(report["checks"][8]["name"], "database");
    assert_eq!(report["checks"][8]["status"], "unknown");
    assert!(!path.exists());
}

#[test]
fn an_unknown_flag_exits_2_without_a_panic() {
    let (_, stderr) = check(&diag(&["--frobnicate"]), 2);
    assert!(stderr.contains("--frobnicate"), "{stderr}");
}

#[test]
fn a_bad_redis_url_exits_3_with_a_message() {
    let (_, stderr) = check(&diag(&["--redis-url", "http://:secret@example.com/"]), 3);
    assert!(stderr.contains("redis url is not valid"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "the password is never printed: {stderr}"
    );
}

#[test]
fn an_unreadable_key_file_exits_3_with_a_message() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let missing = directory.path().join("no-key");
    let (_, stderr) = check(
        &diag(&[
            "--database",
            &database,
            "--keepa-key-file",
            missing.to_str().expect("utf-8"),
        ]),
        3,
    );
    assert!(stderr.contains("reading the keepa key file"), "{stderr}");
}

#[test]
fn help_documents_the_exit_codes() {
    let (stdout, _) = check(&diag(&["--help"]), 0);
    for line in ["0  OK", "1  WARNING", "2  CRITICAL", "3  UNKNOWN"] {
        assert!(stdout.contains(line), "{line} in {stdout}");
    }
}
