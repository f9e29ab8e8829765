//! A Keepa key revoked mid-run, against the real pipeline and keepa-sim under tokio's paused
//! clock: the worker stores deals with a good key, then runs on the same database with a key
//! Keepa answers `400 invalidKey` to (a revoked key). diag, reading the database as it does in
//! the embedded tier, must say that Keepa refuses the key — FAIL, with a remedy naming the key
//! settings, not a stall to restart — and every deal committed before is still there.

use std::path::Path;
use std::time::Duration;

use deal_store::{DealFilter, DealStore, StoreOptions};
use diagnostics::checks::names;
use diagnostics::{LockInspector, NoProbe, Report, Sources, Status, exit_code};
use keepa_sim::Sim;
use pipeline::worker::UnixClock;

use crate::support::{SIM_KEY, SIM_START_UNIX_MS, run_pipeline, stop_pipeline};

const REVOKED_KEY: &str = "revokedkeepakey0123456789";

/// The worker's instance lock, held (the worker runs while diag looks).
struct Held;

impl LockInspector for Held {
    fn holder(&self, _database: &Path) -> Result<Option<Option<u32>>, String> {
        Ok(Some(Some(std::process::id())))
    }
}

async fn visible_deals(store: &DealStore) -> u64 {
    store
        .read(|reader| reader.count_deals(&DealFilter::default()))
        .await
        .expect("a count")
}

#[tokio::test(start_paused = true)]
async fn a_revoked_key_is_reported_as_such_and_no_deal_is_lost() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = directory.path().join("deals.sqlite");
    let sim = Sim::builder()
        .api_key(SIM_KEY)
        .seed(3)
        .refill_rate(20)
        .catalogue_size(400)
        .start_unix_ms(SIM_START_UNIX_MS)
        .build();
    let store = DealStore::open(&database, StoreOptions::default())
        .await
        .expect("a store");
    let clock = UnixClock::starting_at(SIM_START_UNIX_MS);

    let good = run_pipeline(&sim, &store, SIM_KEY, clock);
    tokio::time::sleep(Duration::from_secs(10 * 60)).await;
    stop_pipeline(good).await;
    let committed = visible_deals(&store).await;
    assert!(committed > 0, "the good key stored deals");

    // Keepa no longer accepts the key the worker runs with.
    let revoked = run_pipeline(&sim, &store, REVOKED_KEY, clock);
    tokio::time::sleep(Duration::from_secs(20 * 60)).await;
    let sources = Sources::embedded(&database);
    let report: Report = diagnostics::diagnose(&sources, &NoProbe, &Held, clock.now_ms()).await;
    stop_pipeline(revoked).await;

    let text = diagnostics::render_human(&report, false);
    let api_errors = report.check(names::API_ERRORS).expect("api_errors");
    assert_eq!(api_errors.status, Status::Fail, "{text}");
    assert!(api_errors.detail.contains("invalid_key"), "{text}");
    assert!(
        api_errors
            .remedy
            .as_deref()
            .is_some_and(|remedy| remedy.contains("--keepa-key-file")),
        "names the key settings: {text}"
    );
    // Twenty minutes without progress is a stall, but not one a restart fixes.
    let tasks = report.check(names::TASK_PROGRESS).expect("task_progress");
    assert_eq!(tasks.status, Status::Fail, "{text}");
    assert!(
        tasks
            .remedy
            .as_deref()
            .is_some_and(|remedy| remedy.contains("see api_errors first")),
        "{text}"
    );
    assert_eq!(report.exit_code(), exit_code::CRITICAL, "{text}");
    assert_eq!(
        visible_deals(&store).await,
        committed,
        "nothing committed is lost"
    );
}
