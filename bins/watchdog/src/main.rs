//! `cargo run -p watchdog`, from cron: one check of the stall rule (DESIGN.md §9), a restart when
//! a task is stalled and none happened in the last 30 min, an incident diag shows, and a Nagios
//! exit code. The logic lives in `operations::watchdog`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use operations::watchdog::{self, RestartAction, WatchdogConfig};
use operations::{RedisTarget, Target};

/// Nagios exit codes, as diag's.
mod exit {
    pub(crate) const UNKNOWN: u8 = 3;
}

const AFTER_HELP: &str = "\
A task is stalled when it has made no progress for more than 15 min while it has work, and the
quota is not the reason (it is not waiting for tokens, and the quota projection is above 0).
On a stall the watchdog runs --restart-cmd through `sh -c`, or, without it (embedded tier only),
sends SIGTERM to the process holding the database's instance lock and SIGKILL after --grace;
it restarts at most once per 30 min, remembering its last restart in the incidents that diag
shows. Every decision is printed; stalls and restarts are recorded as incidents.

Exit codes (Nagios, as diag):
  0  OK        no task is stalled
  1  WARNING   no task has reported progress: nothing to judge
  2  CRITICAL  a task is stalled (restarted, restart failed, or within the 30 min limit);
               also clap's code for bad flags
  3  UNKNOWN   the state could not be read, or the configuration is unusable

Cron, every 5 minutes:
  */5 * * * * cd /srv/keepa-deals && watchdog --database deals.sqlite \\
      --restart-cmd 'systemctl restart keepa-deals-worker' >> watchdog.log 2>&1";

/// Detect a stalled keepa-deals worker and restart it (run from cron).
#[derive(Debug, Parser)]
#[command(name = "watchdog", version, after_help = AFTER_HELP)]
struct Cli {
    /// The worker's SQLite database (embedded tier: heartbeats, quota, incidents, lock file).
    /// Default ./keepa-deals.sqlite without --redis-url.
    #[arg(long, env = "KEEPA_DEALS_DATABASE", value_name = "PATH")]
    database: Option<PathBuf>,
    /// Redis of the fleet tier: heartbeats, the bucket and incidents live there.
    #[arg(
        long,
        env = "KEEPA_DEALS_REDIS_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    redis_url: Option<String>,
    /// The prefix of every Redis key of this deployment.
    #[arg(
        long,
        env = "KEEPA_DEALS_KEY_PREFIX",
        default_value = "keepa-deals:",
        value_name = "PREFIX"
    )]
    key_prefix: String,
    /// Restart with this command, run through `sh -c` (exit 0 = restarted). Required in the
    /// fleet tier; without it the instance lock's holder is signalled.
    #[arg(long, value_name = "COMMAND")]
    restart_cmd: Option<String>,
    /// Time between SIGTERM and SIGKILL when signalling the lock holder: seconds, or `30s`,
    /// `2m`.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_grace)]
    grace: Duration,
    /// Decide and print, but neither restart nor record anything.
    #[arg(long)]
    dry_run: bool,
}

fn parse_grace(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.strip_suffix('s') {
        Some(number) => (number, 1),
        None => match text.strip_suffix('m') {
            Some(number) => (number, 60),
            None => (text, 1),
        },
    };
    let value: u64 = number.trim().parse().map_err(|_| {
        format!("expected seconds such as 30 or 30s, or minutes such as 2m; got {text:?}")
    })?;
    Ok(Duration::from_secs(value.saturating_mul(unit)))
}

fn config(cli: &Cli) -> anyhow::Result<WatchdogConfig> {
    let target = match &cli.redis_url {
        Some(url) => Target::fleet(
            RedisTarget::new(url, &cli.key_prefix).context("--redis-url / --key-prefix")?,
            cli.database.clone(),
        ),
        None => Target::embedded(
            cli.database
                .clone()
                .unwrap_or_else(|| PathBuf::from("keepa-deals.sqlite")),
        ),
    };
    let action = match &cli.restart_cmd {
        Some(command) => RestartAction::Command(command.clone()),
        None => RestartAction::SignalLockHolder { grace: cli.grace },
    };
    Ok(WatchdogConfig::new(target, action, cli.dry_run)?)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

fn run(cli: &Cli) -> anyhow::Result<i32> {
    let config = config(cli)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime
        .block_on(watchdog::run(&config, now_ms()))
        .context("reading the heartbeats, quota and incidents")?;
    for line in &outcome.lines {
        println!("{line}");
    }
    Ok(outcome.exit_code)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(exit::UNKNOWN)),
        Err(error) => {
            println!("watchdog: UNKNOWN: {error:#}");
            eprintln!("watchdog: {error:#}");
            ExitCode::from(exit::UNKNOWN)
        }
    }
}
