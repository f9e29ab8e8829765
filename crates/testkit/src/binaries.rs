//! Checking what a workspace binary printed and how it exited, for the suites that run the
//! built binaries (`diag`, `flush`, `watchdog`, `worker`).

use std::process::Output;

/// Asserts the exit code and that nothing panicked; answers stdout and stderr, each printed in
/// the failure message.
#[track_caller]
pub fn check_exit(output: &Output, expected_code: i32) -> (String, String) {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(expected_code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    assert!(!stdout.contains("panicked"), "a panic: {stdout}");
    (stdout, stderr)
}

/// The check called `name` in a `diag --json` report (see `docs/diagnostics-json.md`).
///
/// # Panics
///
/// When the report has no `checks` array or no check of that name.
#[track_caller]
pub fn json_check<'report>(
    report: &'report serde_json::Value,
    name: &str,
) -> &'report serde_json::Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|check| check["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

/// Now on this host's clock, Unix milliseconds: what a binary run by a test reads as now.
pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

/// Asserts that the text field `field` (`detail`, `remedy`) of a `diag --json` check holds
/// `part`; the failure message prints the whole check.
#[track_caller]
pub fn assert_check_says(check: &serde_json::Value, field: &str, part: &str) {
    assert!(
        check[field]
            .as_str()
            .is_some_and(|text| text.contains(part)),
        "the {field} should say {part:?}: {check}"
    );
}
