//! `cargo run -p worker`: parses the command line into a validated configuration and runs the
//! worker until SIGTERM or SIGINT. Everything else lives in the `pipeline` crate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use pipeline::config::{FileConfig, Overrides, Secret, WorkerConfig};

/// Exit codes, documented in `--help`.
mod exit {
    /// Stopped cleanly on SIGTERM or SIGINT.
    pub(crate) const OK: u8 = 0;
    /// Failed after starting (lock held, database or Redis unusable, address in use).
    pub(crate) const FAILED: u8 = 1;
    /// The configuration is invalid (also clap's code for bad flags).
    pub(crate) const BAD_CONFIG: u8 = 2;
}

/// Keeps a database of Amazon deals fresh from the Keepa API and serves it over HTTP, spending
/// the Keepa token quota shared by every process on the key as well as it can be spent.
///
/// Try it without a key: `cargo run -p worker -- --simulate` runs against an in-process
/// simulated Keepa, stores deals in ./keepa-deals.sqlite and serves http://127.0.0.1:8080/api/deals.
///
/// Settings come from flags, environment variables and an optional TOML file (--config);
/// flags and variables win over the file. Exit codes: 0 stopped cleanly, 1 failed while
/// running (another worker holds the database, the database or Redis is unusable, the address
/// is in use), 2 invalid configuration or flags.
#[derive(Debug, Parser)]
#[command(name = "worker", version, about, long_about)]
struct Cli {
    /// Use an in-process simulated Keepa instead of the real API: no key, no network.
    #[arg(long)]
    simulate: bool,
    /// The simulated catalogue's seed (with --simulate).
    #[arg(long, value_name = "N")]
    sim_seed: Option<u64>,
    /// The simulated plan's tokens per minute (with --simulate; default 60).
    #[arg(long, value_name = "TOKENS")]
    sim_refill_rate: Option<u32>,
    /// A file holding the Keepa API key (one line). The key may instead be in KEEPA_API_KEY.
    #[arg(long, value_name = "PATH")]
    keepa_key_file: Option<PathBuf>,
    /// A TOML configuration file: the keys database, listen, redis_url, key_prefix and
    /// attempt_budget, and the tables selection, settings and schedule. See docs/operations.md.
    #[arg(long, env = "KEEPA_DEALS_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// The SQLite database file (default ./keepa-deals.sqlite). One worker per database.
    #[arg(long, env = "KEEPA_DEALS_DATABASE", value_name = "PATH")]
    database: Option<PathBuf>,
    /// Where the HTTP API listens (default 127.0.0.1:8080, loopback only).
    #[arg(long, env = "KEEPA_DEALS_LISTEN", value_name = "HOST:PORT")]
    listen: Option<String>,
    /// The fleet tier: share the token bucket, leases, heartbeats and flags through this Redis
    /// so several workers and programs on one Keepa key stay within one quota.
    #[arg(long, env = "KEEPA_DEALS_REDIS_URL", value_name = "URL")]
    redis_url: Option<String>,
    /// The prefix of every Redis key the worker owns (default "keepa-deals:").
    #[arg(long, env = "KEEPA_DEALS_KEY_PREFIX", value_name = "PREFIX")]
    key_prefix: Option<String>,
    /// Log format: human (default) or json. RUST_LOG filters as usual (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// Print the effective configuration (the key redacted) and exit.
    #[arg(long)]
    print_config: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match resolve(&cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("worker: {error:#}");
            return ExitCode::from(exit::BAD_CONFIG);
        }
    };
    if cli.print_config {
        print!("{}", config.describe());
        return ExitCode::from(exit::OK);
    }
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("worker: cannot start the async runtime: {error}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let outcome = runtime.block_on(pipeline::run::run(config, shutdown_signal(), |started| {
        let keepa = if started.simulated { "simulated Keepa" } else { "Keepa" };
        println!(
            "worker: storing deals in {} from {keepa}; API at http://{}/api/deals; stop with Ctrl-C (SIGINT) or SIGTERM",
            started.database.display(),
            started.api
        );
    }));
    match outcome {
        Ok(()) => ExitCode::from(exit::OK),
        Err(error) => {
            eprintln!("worker: {error}");
            ExitCode::from(exit::FAILED)
        }
    }
}

fn resolve(cli: &Cli) -> anyhow::Result<WorkerConfig> {
    let file = match &cli.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    let overrides = Overrides {
        simulate: cli.simulate,
        sim_seed: cli.sim_seed,
        sim_refill_rate: cli.sim_refill_rate,
        keepa_api_key: std::env::var("KEEPA_API_KEY")
            .ok()
            .filter(|key| !key.is_empty())
            .map(Secret::new),
        keepa_key_file: cli.keepa_key_file.clone(),
        database: cli.database.clone(),
        listen: cli.listen.clone(),
        redis_url: cli.redis_url.clone(),
        key_prefix: cli.key_prefix.clone(),
    };
    Ok(WorkerConfig::resolve(file, overrides)?)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(terminate) => terminate,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the worker");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
