//! Renderers of a [`Report`]: aligned text for a person, and JSON with a stable, versioned
//! schema for machines (`docs/diagnostics-json.md`).
//!
//! Renderers return strings and never decide about terminals: the caller says whether to
//! colour (`diag` colours only when stdout is a terminal and `NO_COLOR` is unset).

use std::fmt::Write as _;

use serde::Serialize;

use crate::report::{Report, Status};

/// The version of the JSON schema. Bumped only when a field is removed or changes meaning;
/// fields may be added within a version.
pub const JSON_SCHEMA_VERSION: u32 = 1;

fn colour_code(status: Status) -> &'static str {
    match status {
        Status::Pass => "32",
        Status::Warn => "33",
        Status::Fail => "31",
        Status::Unknown => "35",
    }
}

fn paint(text: &str, status: Status, colour: bool) -> String {
    if colour {
        format!("\x1b[1;{}m{text}\x1b[0m", colour_code(status))
    } else {
        text.to_owned()
    }
}

/// The human report: a headline with the overall status and exit code, then one aligned line
/// per check (`PASS  quota          balance …`) and an indented `remedy:` line under each check
/// that has one. ANSI colours only when `colour` is true.
///
/// ```
/// use diagnostics::{CheckResult, Report, render_human};
/// let report = Report::new(vec![CheckResult::pass("quota", "balance 120 of 300 tokens")], 0);
/// let text = render_human(&report, false);
/// assert!(text.starts_with("keepa-deals diagnostics: OK (exit 0)"));
/// assert!(text.contains("PASS  quota  balance 120 of 300 tokens"));
/// ```
pub fn render_human(report: &Report, colour: bool) -> String {
    let width = report
        .checks
        .iter()
        .map(|check| check.name.len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    let headline = format!(
        "{} (exit {})",
        report.worst.nagios_name(),
        report.exit_code()
    );
    let _ = writeln!(
        text,
        "keepa-deals diagnostics: {}",
        paint(&headline, report.worst, colour)
    );
    for check in &report.checks {
        let _ = writeln!(
            text,
            "{}  {:width$}  {}",
            paint(check.status.label(), check.status, colour),
            check.name,
            check.detail
        );
        if let Some(remedy) = &check.remedy {
            let _ = writeln!(text, "      {:width$}  remedy: {remedy}", "");
        }
    }
    text
}

#[derive(Serialize)]
struct JsonReport<'report> {
    schema: u32,
    status: &'static str,
    nagios: &'static str,
    exit_code: i32,
    generated_at_ms: i64,
    checks: Vec<JsonCheck<'report>>,
}

#[derive(Serialize)]
struct JsonCheck<'report> {
    name: &'report str,
    status: &'static str,
    detail: &'report str,
    remedy: Option<&'report str>,
}

/// The JSON report, pretty-printed, schema [`JSON_SCHEMA_VERSION`]:
/// `{"schema": 1, "status", "nagios", "exit_code", "generated_at_ms", "checks": [{"name",
/// "status", "detail", "remedy"}]}`. Statuses are `pass`, `warn`, `fail`, `unknown`.
pub fn render_json(report: &Report) -> String {
    let json = JsonReport {
        schema: JSON_SCHEMA_VERSION,
        status: report.worst.as_str(),
        nagios: report.worst.nagios_name(),
        exit_code: report.exit_code(),
        generated_at_ms: report.generated_at_ms,
        checks: report
            .checks
            .iter()
            .map(|check| JsonCheck {
                name: check.name,
                status: check.status.as_str(),
                detail: &check.detail,
                remedy: check.remedy.as_deref(),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&json)
        .unwrap_or_else(|error| format!("{{\"schema\": 1, \"error\": \"{error}\"}}"));
    text.push('\n');
    text
}
