//! The shape of a diagnosis: a [`Status`] per check, a [`CheckResult`] per check, and the
//! [`Report`] that collects them and maps the worst status to a Nagios exit code.
//!
//! This module holds no checks and does no IO; it only defines the vocabulary and the ordering
//! of severities.

use std::fmt;

/// The outcome of one check.
///
/// Severity order, used for [`Report::worst`]: `Fail` > `Warn` > `Unknown` > `Pass`. A report is
/// UNKNOWN only when no check is worse: a known failure is more useful to an operator than the
/// fact that some other source could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The check found nothing wrong.
    Pass,
    /// Something needs attention, but the system still makes progress.
    Warn,
    /// Something is broken: the system does not make progress, or will not soon.
    Fail,
    /// The check's source could not be read (Redis down, database missing or locked).
    Unknown,
}

impl Status {
    /// The severity rank: higher is worse (`Pass` 0, `Unknown` 1, `Warn` 2, `Fail` 3).
    pub fn severity(self) -> u8 {
        match self {
            Status::Pass => 0,
            Status::Unknown => 1,
            Status::Warn => 2,
            Status::Fail => 3,
        }
    }

    /// The four-letter label of the human report: `PASS`, `WARN`, `FAIL`, `UNKN`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Unknown => "UNKN",
        }
    }

    /// The lowercase name used in JSON: `pass`, `warn`, `fail`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
        }
    }

    /// The Nagios exit code for a report whose worst status is `self`.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Pass => exit_code::OK,
            Status::Warn => exit_code::WARNING,
            Status::Fail => exit_code::CRITICAL,
            Status::Unknown => exit_code::UNKNOWN,
        }
    }

    /// The Nagios name for a report whose worst status is `self`: `OK`, `WARNING`, `CRITICAL`,
    /// `UNKNOWN`.
    pub fn nagios_name(self) -> &'static str {
        match self {
            Status::Pass => "OK",
            Status::Warn => "WARNING",
            Status::Fail => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.label())
    }
}

/// The Nagios exit codes of `diag` (and the watchdog), in one place.
pub mod exit_code {
    /// Every check passed.
    pub const OK: i32 = 0;
    /// At least one check warns, none fails.
    pub const WARNING: i32 = 1;
    /// At least one check fails.
    pub const CRITICAL: i32 = 2;
    /// Some source could not be read and nothing is worse; also a configuration `diag` could
    /// not use (bad URL, unreadable key file).
    pub const UNKNOWN: i32 = 3;
}

/// One check's verdict: its stable name, status, one line of detail and, when there is
/// something to do, a remedy that names the command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// A stable snake_case identifier (`quota`, `task_progress`, …); see `docs/diagnostics-json.md`.
    pub name: &'static str,
    /// The verdict.
    pub status: Status,
    /// One line for a person: what was seen.
    pub detail: String,
    /// What to do, naming the command to run, when there is something to do.
    pub remedy: Option<String>,
}

impl CheckResult {
    /// A passing check.
    pub fn pass(name: &'static str, detail: impl Into<String>) -> CheckResult {
        CheckResult::new(name, Status::Pass, detail, None)
    }

    /// A check with the given status, detail and remedy. Newlines in `detail` become spaces,
    /// so the detail stays one line.
    pub fn new(
        name: &'static str,
        status: Status,
        detail: impl Into<String>,
        remedy: Option<String>,
    ) -> CheckResult {
        let one_line = |text: String| {
            if text.contains(['\n', '\r']) {
                text.replace(['\n', '\r'], " ")
            } else {
                text
            }
        };
        CheckResult {
            name,
            status,
            detail: one_line(detail.into()),
            remedy: remedy.map(one_line),
        }
    }

    /// An UNKNOWN check: its source could not be read, for `reason`.
    pub fn unknown(
        name: &'static str,
        reason: impl fmt::Display,
        remedy: Option<String>,
    ) -> CheckResult {
        CheckResult::new(name, Status::Unknown, reason.to_string(), remedy)
    }
}

/// Every check's result and the worst status among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The checks, in the order they ran.
    pub checks: Vec<CheckResult>,
    /// The worst status (see [`Status::severity`]); `Pass` for an empty report.
    pub worst: Status,
    /// When the report was made, Unix milliseconds.
    pub generated_at_ms: i64,
}

impl Report {
    /// A report over `checks`, made at `generated_at_ms`.
    pub fn new(checks: Vec<CheckResult>, generated_at_ms: i64) -> Report {
        let worst = checks
            .iter()
            .map(|check| check.status)
            .max_by_key(|status| status.severity())
            .unwrap_or(Status::Pass);
        Report {
            checks,
            worst,
            generated_at_ms,
        }
    }

    /// The Nagios exit code of the report ([`exit_code`]).
    pub fn exit_code(&self) -> i32 {
        self.worst.exit_code()
    }

    /// The check named `name`, if it ran.
    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|check| check.name == name)
    }
}
