//! The command line of `cargo xtask`, as clap types. Nothing here runs anything.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Project automation for keepa-deals.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the whole test suite: installs redis-server when missing (as root), starts a private
    /// one on a free port, runs `cargo nextest run --workspace` and the doctests, stops the server.
    Test(TestArgs),
    /// Run benchmark suites against a private redis-server; JSON lines go to stdout and to
    /// `target/xtask/bench-<suite>.jsonl`.
    Bench(BenchArgs),
    /// What CI checks: `cargo fmt --check`, clippy with `-D warnings`, then `test`.
    Ci(TestArgs),
    /// The token-economy simulation (crate `economy-sim`, release build) against a private
    /// redis-server; output also in `target/xtask/sim.txt`.
    Sim(SimArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Arguments for the `economy-sim` binary, e.g. `--hours 6 --scenario steady-5 --json`
    /// (`cargo xtask sim -- --help` lists them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) sim_args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// Extra arguments for `cargo nextest run`, after `--` (e.g. `-- -E 'package(token-bucket)'`).
    #[arg(last = true)]
    pub(crate) nextest_args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The suites to run, in order.
    #[arg(required = true, value_enum)]
    pub(crate) suites: Vec<Suite>,
}

/// A benchmark suite: one `[[bench]]` target of one crate, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Suite {
    /// token-bucket's `bucket` bench: acquire+settle in memory and over Redis.
    Bucket,
    /// keepa-client's `decode` bench: typed decoding against `serde_json::Value`.
    Decode,
    /// deal-filters' `rules` bench: full analysis against decoding.
    Rules,
    /// deal-store's `store` bench: upserts and `/api/deals` queries.
    Store,
    /// Every suite above whose bench exists.
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn test_takes_extra_nextest_arguments_after_a_double_dash() {
        let cli = parse(&["test", "--", "-E", "package(token-bucket)", "--no-capture"]).unwrap();
        let Command::Test(args) = cli.command else {
            panic!("expected test, got {cli:?}")
        };
        assert_eq!(
            args.nextest_args,
            ["-E", "package(token-bucket)", "--no-capture"]
        );
    }

    #[test]
    fn test_without_arguments_passes_none() {
        let cli = parse(&["test"]).unwrap();
        let Command::Test(args) = cli.command else {
            panic!("expected test, got {cli:?}")
        };
        assert!(args.nextest_args.is_empty());
    }

    #[test]
    fn test_rejects_arguments_without_the_double_dash() {
        assert!(parse(&["test", "--no-capture"]).is_err());
    }

    #[test]
    fn bench_takes_one_or_more_known_suites() {
        let cli = parse(&["bench", "bucket", "store"]).unwrap();
        let Command::Bench(args) = cli.command else {
            panic!("expected bench, got {cli:?}")
        };
        assert_eq!(args.suites, [Suite::Bucket, Suite::Store]);
        assert!(parse(&["bench"]).is_err(), "a suite is required");
        assert!(
            parse(&["bench", "everything"]).is_err(),
            "unknown suites are refused"
        );
    }

    #[test]
    fn sim_passes_its_arguments_through() {
        let cli = parse(&["sim", "--hours", "2", "--scenario", "steady-5"]).unwrap();
        let Command::Sim(args) = cli.command else {
            panic!("expected sim, got {cli:?}")
        };
        assert_eq!(args.sim_args, ["--hours", "2", "--scenario", "steady-5"]);
    }

    #[test]
    fn ci_is_a_subcommand() {
        assert!(matches!(parse(&["ci"]).unwrap().command, Command::Ci(_)));
    }
}
