//! `cargo xtask test` and `cargo xtask ci`: the whole test suite against a private Redis.
//!
//! Runs `cargo nextest run --workspace --no-fail-fast` and then the doctests (which nextest does
//! not run), both with the server's URL in `KEEPA_DEALS_TEST_REDIS_URL`, and exits with the
//! tests' status. It does not decide which tests need Redis: they all get the URL.

use std::process::{ExitCode, ExitStatus};

use anyhow::{Context, Result};

use crate::metadata::Workspace;
use crate::process;
use crate::redis::{PrivateRedis, REDIS_URL_ENV};

/// `cargo xtask test [-- nextest args]`.
pub(crate) fn run(nextest_args: &[String]) -> Result<ExitCode> {
    let workspace = Workspace::load()?;
    ensure_nextest()?;
    let server = PrivateRedis::start(&workspace.xtask_dir()?)?;
    let url = server.url();

    let nextest_status = process::run(
        process::cargo()
            .args(["nextest", "run", "--workspace", "--no-fail-fast"])
            .args(nextest_args)
            .env(REDIS_URL_ENV, &url),
    )?;
    let doctest_outcome = if workspace.has_library() {
        let status = process::run(
            process::cargo()
                .args(["test", "--workspace", "--doc"])
                .env(REDIS_URL_ENV, &url),
        )?;
        StepOutcome::from_status(status)
    } else {
        StepOutcome::Skipped("no library crates")
    };
    drop(server);

    let summary = Summary {
        steps: vec![
            ("nextest", StepOutcome::from_status(nextest_status)),
            ("doctests", doctest_outcome),
        ],
    };
    eprintln!("{}", summary.line());
    Ok(summary.exit_code())
}

/// `cargo xtask ci`: formatting, clippy with `-D warnings`, then [`run`].
pub(crate) fn run_ci(nextest_args: &[String]) -> Result<ExitCode> {
    process::run_checked(process::cargo().args(["fmt", "--all", "--", "--check"]))
        .context("formatting differs; run `cargo fmt --all` and commit the result")?;
    process::run_checked(process::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))
    .context("clippy found problems; fix the warnings above")?;
    run(nextest_args)
}

/// Makes sure `cargo nextest` works, installing it with `cargo install` when it does not.
fn ensure_nextest() -> Result<()> {
    if process::succeeds_quietly(process::cargo().args(["nextest", "--version"])) {
        return Ok(());
    }
    eprintln!(
        "xtask: `cargo nextest` is not installed; installing it with `cargo install cargo-nextest --locked` (a few minutes, once)"
    );
    process::run_checked(process::cargo().args(["install", "cargo-nextest", "--locked"])).context(
        "could not install cargo-nextest; install it yourself (`cargo install cargo-nextest --locked`, \
         or a prebuilt binary from https://nexte.st) and try again",
    )
}

/// How one step of the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StepOutcome {
    Passed,
    /// Failed with this exit code (1 when the process was killed by a signal).
    Failed {
        code: i32,
        detail: String,
    },
    Skipped(&'static str),
}

impl StepOutcome {
    fn from_status(status: ExitStatus) -> StepOutcome {
        if status.success() {
            return StepOutcome::Passed;
        }
        StepOutcome::Failed {
            code: status.code().unwrap_or(1),
            detail: process::describe_status(status),
        }
    }
}

/// The steps of a run, in order, for the closing line and the exit code.
#[derive(Debug)]
struct Summary {
    steps: Vec<(&'static str, StepOutcome)>,
}

impl Summary {
    /// `xtask test: nextest ok, doctests FAILED (exit code 101)`
    fn line(&self) -> String {
        let parts: Vec<String> = self
            .steps
            .iter()
            .map(|(name, outcome)| match outcome {
                StepOutcome::Passed => format!("{name} ok"),
                StepOutcome::Failed { detail, .. } => format!("{name} FAILED ({detail})"),
                StepOutcome::Skipped(reason) => format!("{name} skipped ({reason})"),
            })
            .collect();
        format!("xtask test: {}", parts.join(", "))
    }

    /// The exit code of the first failed step, or success.
    fn exit_code(&self) -> ExitCode {
        let first_failure = self.steps.iter().find_map(|(_, outcome)| match outcome {
            StepOutcome::Failed { code, .. } => Some(*code),
            _ => None,
        });
        match first_failure {
            None => ExitCode::SUCCESS,
            Some(code) => ExitCode::from(
                u8::try_from(code)
                    .ok()
                    .filter(|&code| code != 0)
                    .unwrap_or(1),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(code: i32) -> StepOutcome {
        StepOutcome::Failed {
            code,
            detail: format!("exit code {code}"),
        }
    }

    #[track_caller]
    fn check(
        steps: Vec<(&'static str, StepOutcome)>,
        expected_line: &str,
        expected_code: ExitCode,
    ) {
        let summary = Summary { steps };
        assert_eq!(summary.line(), expected_line);
        assert_eq!(summary.exit_code(), expected_code);
    }

    #[test]
    fn summaries() {
        check(
            vec![
                ("nextest", StepOutcome::Passed),
                ("doctests", StepOutcome::Passed),
            ],
            "xtask test: nextest ok, doctests ok",
            ExitCode::SUCCESS,
        );
        check(
            vec![("nextest", failed(100)), ("doctests", StepOutcome::Passed)],
            "xtask test: nextest FAILED (exit code 100), doctests ok",
            ExitCode::from(100),
        );
        check(
            vec![("nextest", StepOutcome::Passed), ("doctests", failed(101))],
            "xtask test: nextest ok, doctests FAILED (exit code 101)",
            ExitCode::from(101),
        );
        check(
            vec![("nextest", failed(100)), ("doctests", failed(101))],
            "xtask test: nextest FAILED (exit code 100), doctests FAILED (exit code 101)",
            ExitCode::from(100),
        );
        check(
            vec![
                ("nextest", StepOutcome::Passed),
                ("doctests", StepOutcome::Skipped("no library crates")),
            ],
            "xtask test: nextest ok, doctests skipped (no library crates)",
            ExitCode::SUCCESS,
        );
        check(
            vec![("nextest", failed(300))],
            "xtask test: nextest FAILED (exit code 300)",
            ExitCode::from(1),
        );
    }

    #[test]
    fn a_signal_counts_as_failure() {
        use std::os::unix::process::ExitStatusExt;
        let killed = ExitStatus::from_raw(9);
        let outcome = StepOutcome::from_status(killed);
        assert_eq!(
            outcome,
            StepOutcome::Failed {
                code: 1,
                detail: "killed by signal 9".into()
            }
        );
    }
}
