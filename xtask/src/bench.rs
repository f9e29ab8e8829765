//! `cargo xtask bench <suite>…`: runs benchmark binaries against a private Redis and collects
//! their JSON lines.
//!
//! Each suite is one `[[bench]] harness = false` target built on `benchkit`. Its JSON lines are
//! streamed to stdout and written to `target/xtask/bench-<suite>.jsonl`; anything else it prints
//! goes to stderr. Judging the figures is left to people reading `docs/benchmarks.md`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::cli::Suite;
use crate::metadata::{BenchLookup, Workspace};
use crate::process;
use crate::redis::{PrivateRedis, REDIS_URL_ENV};

/// Every concrete suite, in the order `all` runs them.
const SUITES: [Suite; 4] = [Suite::Bucket, Suite::Decode, Suite::Rules, Suite::Store];

/// (suite name, crate, bench target) of a concrete suite.
fn target_of(suite: Suite) -> Option<(&'static str, &'static str, &'static str)> {
    match suite {
        Suite::Bucket => Some(("bucket", "token-bucket", "bucket")),
        Suite::Decode => Some(("decode", "keepa-client", "decode")),
        Suite::Rules => Some(("rules", "deal-filters", "rules")),
        Suite::Store => Some(("store", "deal-store", "store")),
        Suite::All => None,
    }
}

/// The concrete suites to run for the requested ones, each once, in the order first requested.
fn expand(requested: &[Suite]) -> Vec<Suite> {
    let mut suites = Vec::new();
    for &suite in requested {
        let expanded: &[Suite] = if suite == Suite::All {
            &SUITES
        } else {
            std::slice::from_ref(&suite)
        };
        for &concrete in expanded {
            if !suites.contains(&concrete) {
                suites.push(concrete);
            }
        }
    }
    suites
}

/// Why a suite cannot run, in words that say what is missing.
fn missing_reason(lookup: &BenchLookup, package: &str, bench: &str) -> Option<String> {
    match lookup {
        BenchLookup::Found => None,
        BenchLookup::NoSuchCrate => Some(format!(
            "crate `{package}` does not exist in the workspace yet"
        )),
        BenchLookup::NoSuchBench => Some(format!(
            "crate `{package}` has no bench target `{bench}` yet (expected `[[bench]] name = \"{bench}\" harness = false`)"
        )),
    }
}

/// `cargo xtask bench <suite>…`.
pub(crate) fn run(requested: &[Suite]) -> Result<ExitCode> {
    let workspace = Workspace::load()?;
    let explicitly_named = |suite: Suite| requested.contains(&suite);

    let mut runnable = Vec::new();
    let mut missing = Vec::new();
    for suite in expand(requested) {
        let (name, package, bench) = target_of(suite).expect("expand returns concrete suites");
        match missing_reason(&workspace.find_bench(package, bench), package, bench) {
            None => runnable.push((name, package, bench)),
            Some(reason) if explicitly_named(suite) => {
                missing.push(format!("suite `{name}`: {reason}"));
            }
            Some(reason) => eprintln!("xtask: skipping suite `{name}`: {reason}"),
        }
    }
    if !missing.is_empty() {
        bail!(
            "cannot run the requested benchmarks:\n  {}",
            missing.join("\n  ")
        );
    }
    if runnable.is_empty() {
        bail!(
            "no benchmark suite exists yet; see docs/benchmarks.md for the suites and their crates"
        );
    }

    let xtask_dir = workspace.xtask_dir()?;
    let server = PrivateRedis::start(&xtask_dir)?;
    let mut results = Vec::new();
    for (name, package, bench) in runnable {
        let output_path = xtask_dir.join(format!("bench-{name}.jsonl"));
        let outcome = run_suite(package, bench, &server.url(), &output_path)
            .with_context(|| format!("benchmark suite `{name}` ({package}/{bench}) failed"));
        results.push((name, output_path, outcome));
    }
    drop(server);

    let mut all_ok = true;
    for (name, path, outcome) in results {
        match outcome {
            Ok(0) => eprintln!(
                "xtask bench: {name} ran but printed no figures (no JSON lines on stdout)"
            ),
            Ok(figures) => eprintln!(
                "xtask bench: {name} ok ({figures} figures in {})",
                path.display()
            ),
            Err(error) => {
                all_ok = false;
                eprintln!("xtask bench: {name} FAILED: {error:#}");
            }
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs one bench target, tees its JSON lines, and returns how many figures it printed.
fn run_suite(package: &str, bench: &str, redis_url: &str, output_path: &Path) -> Result<usize> {
    let file = File::create(output_path)
        .with_context(|| format!("could not create {}", output_path.display()))?;
    let mut collected = BufWriter::new(file);
    let mut child = process::spawn_with_piped_stdout(
        process::cargo()
            .args(["bench", "-p", package, "--bench", bench])
            .env(REDIS_URL_ENV, redis_url),
    )?;
    let stdout = child
        .stdout
        .take()
        .context("the bench's stdout was not piped")?;
    let mut figures = 0;
    let mut stdout_lock = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("could not read the bench's output")?;
        if is_json_object(&line) {
            writeln!(stdout_lock, "{line}")?;
            stdout_lock.flush()?;
            writeln!(collected, "{line}")?;
            figures += 1;
        } else {
            eprintln!("{line}");
        }
    }
    collected
        .flush()
        .with_context(|| format!("could not write {}", output_path.display()))?;
    let status = child.wait().context("could not wait for cargo bench")?;
    if !status.success() {
        bail!(
            "`cargo bench -p {package} --bench {bench}` ended with {}",
            process::describe_status(status)
        );
    }
    Ok(figures)
}

fn is_json_object(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line).is_ok_and(|value| value.is_object())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_expands_to_every_suite_once() {
        assert_eq!(expand(&[Suite::All]), SUITES);
        assert_eq!(
            expand(&[Suite::Store, Suite::All]),
            [Suite::Store, Suite::Bucket, Suite::Decode, Suite::Rules]
        );
        assert_eq!(expand(&[Suite::Rules, Suite::Rules]), [Suite::Rules]);
    }

    #[test]
    fn suites_map_to_their_crates() {
        assert_eq!(
            target_of(Suite::Bucket),
            Some(("bucket", "token-bucket", "bucket"))
        );
        assert_eq!(
            target_of(Suite::Decode),
            Some(("decode", "keepa-client", "decode"))
        );
        assert_eq!(
            target_of(Suite::Rules),
            Some(("rules", "deal-filters", "rules"))
        );
        assert_eq!(
            target_of(Suite::Store),
            Some(("store", "deal-store", "store"))
        );
        assert_eq!(target_of(Suite::All), None);
    }

    #[test]
    fn missing_benches_are_named() {
        assert_eq!(
            missing_reason(&BenchLookup::Found, "deal-store", "store"),
            None
        );
        let no_crate = missing_reason(&BenchLookup::NoSuchCrate, "deal-store", "store").unwrap();
        assert!(no_crate.contains("`deal-store`"), "{no_crate}");
        let no_bench = missing_reason(&BenchLookup::NoSuchBench, "deal-store", "store").unwrap();
        assert!(
            no_bench.contains("`store`") && no_bench.contains("harness = false"),
            "{no_bench}"
        );
    }

    #[test]
    fn only_json_objects_count_as_figures() {
        assert!(is_json_object(r#"{"name":"x","value":1.0}"#));
        assert!(!is_json_object("measuring x …"));
        assert!(!is_json_object("[1, 2]"));
        assert!(!is_json_object(""));
    }
}
