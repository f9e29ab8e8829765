//! `cargo run -p flush -- <what>`: clears stale state safely — leases, the pause flag, token
//! state, stale lock files, everything under the key prefix. A dry run is the default; `--yes`
//! acts; state a live process holds needs `--force`. The logic lives in `operations::flush`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use operations::flush::{self, Request, exit_code};
use operations::{RedisTarget, Target};

const AFTER_HELP: &str = "\
Without --yes nothing changes: flush lists exactly what would go (key or path, holder, whether
the holder is alive, what it holds). With --yes it acts, but leaves alone what a live process
holds (a lease whose holder is alive or on another host, the embedded tier's state while its
worker runs) unless --force; a lock file held by a live process is never removed.

Only keys under --key-prefix are listed or deleted (SCAN MATCH <prefix>*, then DEL one by one);
flush never sends FLUSHALL or FLUSHDB. In the database only the state entries kept for diag
(pause, incidents, quota, heartbeat:<task>) are touched, never deals.

Exit codes:
  0  OK       dry run listed, or everything listed was done
  1  REFUSED  something held by a live process was left alone (add --force, or stop it)
  2  USAGE    bad flags or configuration (e.g. a malformed --redis-url)
  3  FAILED   Redis or the database could not be read, or an action failed

Recipes:
  flush leases                      list leases and whether their holders live
  flush leases --yes                remove leases held by dead owners
  flush pause --set 'migrating' --yes
  flush pause --clear --yes
  flush tokens --yes                forget the quota projection; the next request reconciles
  flush locks --yes                 remove a lock file no live process holds
  flush all --yes                   everything under the prefix (fencing counters kept)";

/// Clear stale keepa-deals state: leases, the pause flag, token state, lock files, everything
/// under the key prefix. Dry run unless --yes.
#[derive(Debug, Parser)]
#[command(name = "flush", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    what: What,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct Common {
    /// The worker's SQLite database: the embedded tier's state and lock file (never created).
    /// Default ./keepa-deals.sqlite without --redis-url; with it, only when given.
    #[arg(long, global = true, env = "KEEPA_DEALS_DATABASE", value_name = "PATH")]
    database: Option<PathBuf>,
    /// Redis of the fleet tier; without it flush acts on the embedded tier.
    #[arg(
        long,
        global = true,
        env = "KEEPA_DEALS_REDIS_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    redis_url: Option<String>,
    /// The prefix of every Redis key of this deployment; nothing outside it is touched.
    #[arg(
        long,
        global = true,
        env = "KEEPA_DEALS_KEY_PREFIX",
        default_value = "keepa-deals:",
        value_name = "PREFIX"
    )]
    key_prefix: String,
    /// Act: without it, flush only lists what would change.
    #[arg(long, global = true)]
    yes: bool,
    /// Also remove state a live process holds (never a lock file a live process holds).
    #[arg(long, global = true)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Fleet leases, with their holders and whether those are alive.
    Leases,
    /// Set or clear the operator's pause flag.
    Pause(PauseArgs),
    /// The token state, so the next request reconciles from Keepa.
    Tokens,
    /// The instance lock file of --database, when no live process holds it.
    Locks,
    /// Everything under the key prefix, the state entries kept for diag, a stale lock file.
    All {
        /// Also delete the leases' fencing counters. A deleted counter restarts at 1, below the
        /// number the database remembers; discovery raises it past the database's before its
        /// next commit, so this is safe, only unnecessary.
        #[arg(long)]
        with_fencing: bool,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct PauseArgs {
    /// Pause every worker, for this reason.
    #[arg(long, value_name = "REASON")]
    set: Option<String>,
    /// Let the workers run again.
    #[arg(long)]
    clear: bool,
}

fn target(common: &Common) -> anyhow::Result<Target> {
    match &common.redis_url {
        Some(url) => {
            let redis =
                RedisTarget::new(url, &common.key_prefix).context("--redis-url / --key-prefix")?;
            Ok(Target::fleet(redis, common.database.clone()))
        }
        None => {
            anyhow::ensure!(
                !common.key_prefix.is_empty(),
                "--key-prefix is empty; use a prefix such as \"keepa-deals:\""
            );
            Ok(Target::embedded(
                common
                    .database
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("keepa-deals.sqlite")),
            ))
        }
    }
}

fn request(what: &What) -> anyhow::Result<Request> {
    Ok(match what {
        What::Leases => Request::Leases,
        What::Pause(PauseArgs {
            set: Some(reason), ..
        }) => {
            anyhow::ensure!(!reason.trim().is_empty(), "--set needs a reason");
            let by = std::env::var("USER").unwrap_or_else(|_| "an operator".to_owned());
            Request::SetPause {
                reason: reason.clone(),
                by: format!("{by} (flush)"),
            }
        }
        What::Pause(_) => Request::ClearPause,
        What::Tokens => Request::Tokens,
        What::Locks => Request::Locks,
        What::All { with_fencing } => Request::All {
            with_fencing: *with_fencing,
        },
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

fn run(cli: &Cli) -> Result<i32, (i32, anyhow::Error)> {
    let usage = |error: anyhow::Error| (exit_code::USAGE, error);
    let target = target(&cli.common).map_err(usage)?;
    let request = request(&cli.what).map_err(usage)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            (
                exit_code::FAILED,
                anyhow::Error::new(error).context("starting the async runtime"),
            )
        })?;
    runtime.block_on(async {
        let failed = |error: operations::Error| {
            (
                exit_code::FAILED,
                anyhow::Error::new(error).context("reading what to flush"),
            )
        };
        let plan = flush::plan(&target, &request, now_ms())
            .await
            .map_err(failed)?;
        if !cli.common.yes {
            println!("flush: dry run, nothing changed; add --yes to act");
            for line in flush::render_plan(&plan) {
                println!("{line}");
            }
            return Ok(exit_code::OK);
        }
        for line in flush::render_plan(&plan) {
            println!("{line}");
        }
        let outcome = flush::execute(&target, plan, cli.common.force)
            .await
            .map_err(failed)?;
        for line in flush::render_outcome(&outcome) {
            println!("{line}");
        }
        Ok(outcome.exit_code())
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match run(&cli) {
        Ok(code) => code,
        Err((code, error)) => {
            eprintln!("flush: {error:#}");
            code
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}
