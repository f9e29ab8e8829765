//! The command line: a temporary database gives a parseable JSON report and the exit code of
//! its worst status; bad flags and values, a bad Redis or Keepa URL, an empty key prefix and an
//! unreadable or unusable key file exit 2 or 3 with a message and no report, never a panic.

use crate::support::{check, diag, temp_database};

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
fn the_human_report_has_no_colour_when_stdout_is_not_a_terminal() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    // Without NO_COLOR: only the pipe tells diag that no terminal reads it.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_diag"))
        .args(["--database", &database, "--no-probe"])
        .env_remove("NO_COLOR")
        .env_remove("KEEPA_API_KEY")
        .env_remove("KEEPA_DEALS_REDIS_URL")
        .output()
        .expect("diag runs");
    let (stdout, _) = check(&output, 1);
    assert!(stdout.contains("WARN"), "{stdout}");
    assert!(!stdout.contains('\x1b'), "{stdout}");
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

/// diag refuses `arguments` with exit code `expected_code` and a message that says `says`.
#[track_caller]
fn refused(arguments: &[&str], expected_code: i32, says: &str) {
    let (stdout, stderr) = check(&diag(arguments), expected_code);
    assert!(
        stderr.to_lowercase().contains(&says.to_lowercase()),
        "diag {arguments:?} should say {says:?}: {stderr}"
    );
    assert!(stdout.is_empty(), "no report on bad input: {stdout}");
}

#[test]
fn bad_values_exit_2_or_3_with_a_clear_message() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    refused(&["--expect-client", "phantom"], 2, "expected NAME=RATE");
    refused(&["--expect-client", "phantom=fast"], 2, "not a number");
    refused(&["--expect-client", "phantom=-1"], 2, "non-negative");
    refused(&["--deficit-floor", "deep"], 2, "invalid value");
    refused(
        &["--database", &database, "--key-prefix", ""],
        3,
        "prefix is empty",
    );
    let bad_key = directory.path().join("bad.key");
    std::fs::write(&bad_key, "\"quoted key\"\n").expect("written");
    let bad_key = bad_key.to_str().expect("utf-8");
    refused(
        &["--database", &database, "--keepa-key-file", bad_key],
        3,
        "keepa api key is not usable",
    );
    let good_key = directory.path().join("good.key");
    std::fs::write(&good_key, "abc123\n").expect("written");
    refused(
        &[
            "--database",
            &database,
            "--keepa-key-file",
            good_key.to_str().expect("utf-8"),
            "--keepa-base-url",
            "not a url",
        ],
        3,
        "--keepa-base-url is not a usable url",
    );
}
