//! `cargo xtask sim [ARGS]…`: the token-economy simulation (crate `economy-sim`) against a
//! private Redis, built in release mode so 24 simulated hours of every scenario take minutes.
//!
//! Arguments after `sim` go to the `economy-sim` binary unchanged (`--hours`, `--refill`,
//! `--workers`, `--scenario`, `--json`, …; `cargo xtask sim -- --help` lists them). Its JSON
//! lines and table go to stdout and are copied to `target/xtask/sim.txt`.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::metadata::Workspace;
use crate::process;
use crate::redis::{PrivateRedis, REDIS_URL_ENV};

/// `cargo xtask sim [ARGS]…`.
pub(crate) fn run(sim_args: &[String]) -> Result<ExitCode> {
    let workspace = Workspace::load()?;
    let xtask_dir = workspace.xtask_dir()?;
    let server = PrivateRedis::start(&xtask_dir)?;
    let output_path = xtask_dir.join("sim.txt");
    let mut collected = File::create(&output_path)
        .with_context(|| format!("could not create {}", output_path.display()))?;
    let mut child = process::spawn_with_piped_stdout(
        process::cargo()
            .args([
                "run",
                "--release",
                "-q",
                "-p",
                "economy-sim",
                "--bin",
                "economy-sim",
                "--",
            ])
            .args(sim_args)
            .env(REDIS_URL_ENV, server.url()),
    )?;
    let stdout = child
        .stdout
        .take()
        .context("the simulation's stdout was not piped")?;
    let mut stdout_lock = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("could not read the simulation's output")?;
        writeln!(stdout_lock, "{line}")?;
        stdout_lock.flush()?;
        writeln!(collected, "{line}")?;
    }
    let status = child.wait().context("could not wait for the simulation")?;
    drop(server);
    if !status.success() {
        bail!(
            "`cargo run --release -p economy-sim` ended with {}",
            process::describe_status(status)
        );
    }
    eprintln!("xtask sim: output copied to {}", output_path.display());
    Ok(ExitCode::SUCCESS)
}
