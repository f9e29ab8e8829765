//! `cargo xtask`: the project's automation, written in Rust so it runs wherever cargo does.
//!
//! Subcommands: `test` (the README's test command and the only thing `.ci/run` calls),
//! `bench <suite>…`, `sim` and `ci`. Each one starts what it needs — a private `redis-server` on a free
//! port — and stops it whatever happens. This file only parses arguments and maps outcomes to an
//! exit code; the work lives in the modules below.

mod bench;
mod cli;
mod metadata;
mod process;
mod redis;
mod sim;
mod test;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Test(args) => test::run(&args.nextest_args),
        Command::Bench(args) => bench::run(&args.suites),
        Command::Ci(args) => test::run_ci(&args.nextest_args),
        Command::Sim(args) => sim::run(&args.sim_args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
