//! `keepa-sim`: the Keepa simulator as a standalone HTTP server on real time.
//!
//! Parses the command line into a [`keepa_sim::SimConfig`], binds the port and serves until
//! Ctrl-C. All behaviour lives in the library.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use keepa_sim::{Knobs, Sim, SimConfig};

/// A Keepa API simulator: `/deal`, `/product`, `/token` with Keepa's token accounting, a seeded
/// catalogue and fault knobs. Change knobs while it runs with `POST /_sim/knobs` (JSON).
#[derive(Debug, Parser)]
#[command(version)]
struct Arguments {
    /// TCP port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8091)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Seed for the catalogue, refill phase, deal order, updates and faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Tokens added per minute (the plan); the bucket holds at most 60 × this.
    #[arg(long, default_value_t = 20)]
    refill_rate: u32,
    /// Starting balance (default: a full bucket).
    #[arg(long, allow_negative_numbers = true)]
    tokens: Option<i64>,
    /// The API key clients must send as `key`.
    #[arg(
        long,
        env = "KEEPA_SIM_KEY",
        default_value = "sim-key",
        hide_env_values = true
    )]
    key: String,
    /// Products in the generated catalogue.
    #[arg(long, default_value_t = 3000)]
    catalogue_size: usize,
    /// Product updates surfacing on /deal per minute.
    #[arg(long, default_value_t = 10)]
    deal_updates_per_minute: u32,
    /// Latency added to every API response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of requests answered with HTTP 500 (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    server_error_rate: f64,
    /// Share of requests that hang for --timeout-ms before answering (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    timeout_rate: f64,
    /// How long a hanging request hangs, in milliseconds.
    #[arg(long, default_value_t = 120_000)]
    timeout_ms: u64,
    /// Share of responses whose JSON body is cut in half (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    truncated_body_rate: f64,
    /// Share of responses that are an HTML page instead of JSON (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    non_json_body_rate: f64,
    /// Multiplies every request's cost (10 models the "386-token surprise").
    #[arg(long, default_value_t = 1.0)]
    cost_multiplier: f64,
    /// Tokens another program on the same key spends each minute.
    #[arg(long, default_value_t = 0)]
    foreign_tokens_per_minute: u32,
    /// Enable the unverified lockout: a balance at or below −200 refuses every request for an hour.
    #[arg(long)]
    lockout: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let arguments = Arguments::parse();
    let start_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(0));
    let knobs = Knobs {
        refill_rate: arguments.refill_rate,
        latency: Duration::from_millis(arguments.latency_ms),
        server_error_rate: arguments.server_error_rate,
        timeout_rate: arguments.timeout_rate,
        timeout_duration: Duration::from_millis(arguments.timeout_ms),
        truncated_body_rate: arguments.truncated_body_rate,
        non_json_body_rate: arguments.non_json_body_rate,
        cost_multiplier: arguments.cost_multiplier,
        foreign_tokens_per_minute: arguments.foreign_tokens_per_minute,
        lockout_enabled: arguments.lockout,
        deal_updates_per_minute: arguments.deal_updates_per_minute,
        ..Knobs::default()
    };
    let mut config = SimConfig::default();
    config.api_key = arguments.key;
    config.seed = arguments.seed;
    config.refill_rate = arguments.refill_rate;
    config.tokens = arguments.tokens;
    config.catalogue_size = arguments.catalogue_size;
    config.start_unix_ms = start_unix_ms;
    config.knobs = knobs;
    let sim = Sim::new(config);
    let listener =
        match tokio::net::TcpListener::bind((arguments.host.as_str(), arguments.port)).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!(
                    "keepa-sim: cannot listen on {}:{}: {error}",
                    arguments.host, arguments.port
                );
                return ExitCode::from(2);
            }
        };
    match listener.local_addr() {
        Ok(address) => println!("keepa-sim listening on http://{address} (Ctrl-C to stop)"),
        Err(error) => eprintln!("keepa-sim: listening, address unknown: {error}"),
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match keepa_sim::serve(listener, sim, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keepa-sim: server failed: {error}");
            ExitCode::FAILURE
        }
    }
}
