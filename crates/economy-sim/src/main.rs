//! `economy-sim`: runs the token-economy simulation and prints one JSON line per scenario ×
//! policy, then an aligned table (`--json`: the JSON lines only). `cargo xtask sim` runs it
//! against a private Redis.

use std::process::ExitCode;

use clap::Parser;
use economy_sim::ours::Backend;
use economy_sim::scenario::{Scenario, ScenarioKind, ScenarioOptions};
use economy_sim::{Policy, report};

/// The token-economy simulation: the real worker pipeline ("ours") and models of older quota
/// policies against keepa-sim under tokio's paused clock.
#[derive(Debug, Parser)]
#[command(name = "economy-sim")]
struct Cli {
    /// Simulated hours per run.
    #[arg(long, default_value_t = 24.0)]
    hours: f64,
    /// Tokens per minute for the scenarios not defined by their rate (cost-surprise,
    /// foreign-consumer, restart).
    #[arg(long, default_value_t = economy_sim::scenario::DEFAULT_REFILL_RATE)]
    refill: u32,
    /// Workers sharing the key.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Only these scenarios (repeatable): steady-5, steady-25, plan-change, cost-surprise,
    /// foreign-consumer, restart. Default: all.
    #[arg(long, value_parser = parse_scenario)]
    scenario: Vec<ScenarioKind>,
    /// Only these policies (repeatable): ours, legacy, naive. Default: all.
    #[arg(long, value_parser = parse_policy)]
    policy: Vec<Policy>,
    /// Print only the JSON lines, no table.
    #[arg(long)]
    json: bool,
    /// Where "ours" keeps the token bucket and the fleet state: `memory` (the default), or
    /// `redis` (needs KEEPA_DEALS_TEST_REDIS_URL; the fleet tier, its calls on a real-time
    /// runtime so that the paused clock holds still while they are in flight).
    #[arg(long, default_value = "memory")]
    backend: String,
    /// The simulator's seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

fn parse_scenario(name: &str) -> Result<ScenarioKind, String> {
    ScenarioKind::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = ScenarioKind::ALL.iter().map(|kind| kind.name()).collect();
        format!("unknown scenario `{name}`; known: {}", names.join(", "))
    })
}

fn parse_policy(name: &str) -> Result<Policy, String> {
    Policy::ALL
        .into_iter()
        .find(|policy| policy.name() == name)
        .ok_or_else(|| format!("unknown policy `{name}`; known: ours, legacy, naive"))
}

const REDIS_URL_ENV: &str = "KEEPA_DEALS_TEST_REDIS_URL";

fn backend(choice: &str) -> anyhow::Result<Backend> {
    let url = std::env::var(REDIS_URL_ENV)
        .ok()
        .filter(|url| !url.is_empty());
    let redis = |url: String| Backend::Redis {
        url,
        key_prefix: format!("economy-sim:{}:", std::process::id()),
    };
    match (choice, url) {
        ("memory", _) => Ok(Backend::Memory),
        ("redis", Some(url)) => Ok(redis(url)),
        ("redis", None) => anyhow::bail!(
            "--backend redis needs {REDIS_URL_ENV}; `cargo xtask sim` starts a private redis-server and sets it"
        ),
        (other, _) => anyhow::bail!("unknown backend `{other}`; known: memory, redis"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("economy-sim: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let backend = backend(&cli.backend)?;
    let scenarios = if cli.scenario.is_empty() {
        ScenarioKind::ALL.to_vec()
    } else {
        cli.scenario.clone()
    };
    let policies = if cli.policy.is_empty() {
        Policy::ALL.to_vec()
    } else {
        cli.policy.clone()
    };
    let options = ScenarioOptions {
        hours: Some(cli.hours),
        refill_rate: Some(cli.refill),
        workers: Some(cli.workers),
        seed: Some(cli.seed),
    };
    let mut reports = Vec::new();
    for kind in scenarios {
        let scenario = Scenario::new(kind, options);
        for &policy in &policies {
            // A new prefix per run: each run starts from an empty Redis state.
            let backend = match &backend {
                Backend::Redis { url, key_prefix } => Backend::Redis {
                    url: url.clone(),
                    key_prefix: format!("{key_prefix}{}:{}:", kind.name(), policy.name()),
                },
                Backend::Memory => Backend::Memory,
            };
            let report = economy_sim::run(&scenario, policy, &backend)?;
            println!("{}", report::json_line(&report));
            reports.push(report);
        }
    }
    if !cli.json {
        println!();
        print!("{}", report::table(&reports));
    }
    Ok(())
}
