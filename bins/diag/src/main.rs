//! `cargo run -p diag`: every health check of keepa-deals in one report, for a person (aligned
//! text, coloured on a terminal) or a monitoring system (`--json`, Nagios exit code).
//!
//! This binary only turns flags into a validated [`diagnostics::Sources`], supplies the two
//! pieces of IO the library leaves to it (the `/token` probe through keepa-client, the instance
//! lock through the worker's library) and maps the report to an exit code. The checks live in
//! the `diagnostics` crate.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use diagnostics::{
    LockInspector, ProbeError, QuotaRecord, RedisSource, Sources, TokenProbe, exit_code,
};
use keepa_client::{ApiKey, ClientConfig, KeepaClient, ReqwestTransport, Timeouts};

const AFTER_HELP: &str = "\
Exit codes (Nagios):
  0  OK        every check passed
  1  WARNING   at least one check warns, none fails
  2  CRITICAL  at least one check fails (also: clap's code for bad flags)
  3  UNKNOWN   a source could not be read and nothing is worse, or the configuration
               is unusable (bad --redis-url, unreadable --keepa-key-file)

The quota check calls Keepa's /token at most once, and only when neither Redis nor the
database holds a quota observation younger than 10 minutes. The key is never printed.";

/// Diagnose keepa-deals: quota, task progress, leases, backlog, stale deals, deal funnel,
/// API errors, call rates, database, watermark, incidents, pause flag, instance lock.
#[derive(Debug, Parser)]
#[command(name = "diag", version, after_help = AFTER_HELP)]
struct Arguments {
    /// The worker's SQLite database (opened read-only; never created).
    #[arg(long, value_name = "PATH", default_value = "keepa-deals.sqlite")]
    database: PathBuf,

    /// Redis of the fleet tier (bucket, leases, heartbeats, flags, call rates). Without it,
    /// diag reads the embedded tier: the database and its lock file.
    #[arg(
        long,
        value_name = "URL",
        env = "KEEPA_DEALS_REDIS_URL",
        hide_env_values = true
    )]
    redis_url: Option<String>,

    /// Prefix of every Redis key of this deployment.
    #[arg(long, value_name = "PREFIX", default_value = "keepa-deals:")]
    key_prefix: String,

    /// Print the report as JSON (schema in docs/diagnostics-json.md).
    #[arg(long)]
    json: bool,

    /// A file holding the Keepa API key, for the one /token call when no recent quota
    /// observation exists. KEEPA_API_KEY is used when this is not given.
    #[arg(long, value_name = "PATH")]
    keepa_key_file: Option<PathBuf>,

    /// The Keepa API key (prefer --keepa-key-file: environments leak less than arguments).
    #[arg(
        long = "keepa-api-key",
        env = "KEEPA_API_KEY",
        hide_env_values = true,
        hide = true
    )]
    keepa_api_key: Option<String>,

    /// Keepa's API root (a simulator's is http://127.0.0.1:PORT/).
    #[arg(long, value_name = "URL", default_value = keepa_client::KEEPA_BASE_URL)]
    keepa_base_url: String,

    /// Never call Keepa's /token, even when no quota observation exists.
    #[arg(long)]
    no_probe: bool,

    /// An expected Keepa client and its calls per minute, `NAME=RATE` (repeatable). With none,
    /// call rates are only listed; with some, any other client or a faster one warns.
    #[arg(long = "expect-client", value_name = "NAME=RATE", value_parser = parse_expectation)]
    expect_client: Vec<(String, f64)>,

    /// The bucket's deficit floor in tokens (the worker's default is -180).
    #[arg(long, value_name = "TOKENS", default_value_t = -180, allow_hyphen_values = true)]
    deficit_floor: i64,
}

fn parse_expectation(text: &str) -> Result<(String, f64), String> {
    let (name, rate) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=RATE, got {text:?}"))?;
    let rate: f64 = rate
        .parse()
        .map_err(|_| format!("the rate of {name:?} is not a number"))?;
    if name.is_empty() || !rate.is_finite() || rate < 0.0 {
        return Err(format!(
            "expected NAME=RATE with a non-negative rate, got {text:?}"
        ));
    }
    Ok((name.to_owned(), rate))
}

/// The one `/token` call, through keepa-client with a throwaway in-memory bucket.
struct KeepaProbe {
    client: KeepaClient<ReqwestTransport>,
}

impl TokenProbe for KeepaProbe {
    async fn probe(&self) -> Result<QuotaRecord, ProbeError> {
        match self.client.token_status().await {
            Ok(status) => Ok(QuotaRecord {
                tokens_left: status.info.tokens_left,
                refill_rate: status.info.refill_rate,
                refill_in_ms: status.info.refill_in_ms,
                observed_at_ms: status.info.timestamp_ms,
                foreign_consumption: 0,
            }),
            // keepa-client's errors name the request, never the key or the URL.
            Err(error) if matches!(error.kind(), "invalid_key" | "no_api_access") => {
                Err(ProbeError::KeyRejected(error.to_string()))
            }
            Err(error) => Err(ProbeError::Unavailable(error.to_string())),
        }
    }
}

/// Either the Keepa probe or none.
enum Probe {
    Keepa(Box<KeepaProbe>),
    None(diagnostics::NoProbe),
}

impl TokenProbe for Probe {
    async fn probe(&self) -> Result<QuotaRecord, ProbeError> {
        match self {
            Probe::Keepa(probe) => probe.probe().await,
            Probe::None(probe) => probe.probe().await,
        }
    }
}

/// The worker's instance lock, inspected without being kept.
struct WorkerLock;

impl LockInspector for WorkerLock {
    fn holder(&self, database: &Path) -> Result<Option<Option<u32>>, String> {
        pipeline::lock::InstanceLock::holder(database).map_err(|error| error.to_string())
    }
}

fn build_probe(arguments: &Arguments) -> anyhow::Result<Probe> {
    if arguments.no_probe {
        return Ok(Probe::None(diagnostics::NoProbe));
    }
    let key_text = match (&arguments.keepa_key_file, &arguments.keepa_api_key) {
        (Some(path), _) => std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading the keepa key file {}: give a readable file, or --no-probe",
                path.display()
            )
        })?,
        (None, Some(key)) => key.clone(),
        (None, None) => return Ok(Probe::None(diagnostics::NoProbe)),
    };
    let key = ApiKey::new(key_text).context("the keepa api key is not usable")?;
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        request: Duration::from_secs(15),
    };
    let transport = ReqwestTransport::new(&arguments.keepa_base_url, timeouts)
        .context("--keepa-base-url is not a usable url")?;
    let config = ClientConfig {
        timeouts,
        ..ClientConfig::default()
    };
    let bucket = token_bucket::Bucket::in_memory(token_bucket::Policy::default());
    let client = KeepaClient::new(transport, bucket, key, config);
    Ok(Probe::Keepa(Box::new(KeepaProbe { client })))
}

fn build_sources(arguments: &Arguments) -> anyhow::Result<Sources> {
    let mut sources = Sources::embedded(&arguments.database);
    sources.deficit_floor = arguments.deficit_floor;
    sources.expected_call_rates = arguments
        .expect_client
        .iter()
        .cloned()
        .collect::<BTreeMap<_, _>>();
    if let Some(url) = &arguments.redis_url {
        sources.redis = Some(
            RedisSource::new(url, &arguments.key_prefix).context("--redis-url / --key-prefix")?,
        );
    } else if arguments.key_prefix.is_empty() {
        bail!("--key-prefix is empty; use a prefix such as \"keepa-deals:\"");
    }
    Ok(sources)
}

fn run(arguments: &Arguments) -> anyhow::Result<i32> {
    let sources = build_sources(arguments)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        });
    let report = runtime.block_on(async {
        let probe = build_probe(arguments)?;
        anyhow::Ok(diagnostics::diagnose(&sources, &probe, &WorkerLock, now_ms).await)
    })?;
    let text = if arguments.json {
        diagnostics::render_json(&report)
    } else {
        let stdout = std::io::stdout();
        let colour = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
        diagnostics::render_human(&report, colour)
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`diag | head`) is not worth a panic; the exit code still tells.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    Ok(report.exit_code())
}

fn main() {
    let arguments = Arguments::parse();
    let code = match run(&arguments) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("diag: {error:#}");
            exit_code::UNKNOWN
        }
    };
    std::process::exit(code);
}
