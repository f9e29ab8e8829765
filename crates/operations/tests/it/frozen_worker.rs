//! The stall rule against the real pipeline under tokio's paused clock: a worker whose Keepa
//! calls hang (keepa-sim's freeze knob) is judged stalled once 15 simulated minutes pass without
//! progress, and a worker that is merely waiting for tokens is not. The judge reads the
//! heartbeats and the quota the worker leaves in its database, as the watchdog does.

use std::time::Duration;

use deal_store::{DealStore, StoreOptions};
use fleet::Heartbeat;
use keepa_sim::Sim;
use operations::stall::{Decision, decide};
use pipeline::worker::UnixClock;

use crate::support::{Running, SIM_KEY, SIM_START_UNIX_MS, run_pipeline, stop_pipeline};

struct Worker {
    sim: Sim,
    store: DealStore,
    running: Running,
    clock: UnixClock,
    _directory: tempfile::TempDir,
}

async fn start(refill_rate: u32) -> Worker {
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("deals.sqlite");
    let sim = Sim::builder()
        .api_key(SIM_KEY)
        .seed(3)
        .refill_rate(refill_rate)
        .catalogue_size(400)
        .start_unix_ms(SIM_START_UNIX_MS)
        .build();
    let store = DealStore::open(&database, StoreOptions::default())
        .await
        .unwrap();
    let clock = UnixClock::starting_at(SIM_START_UNIX_MS);
    let running = run_pipeline(&sim, &store, SIM_KEY, clock);
    Worker {
        sim,
        store,
        running,
        clock,
        _directory: directory,
    }
}

/// What the watchdog would decide now, from the worker's database alone.
async fn judge(worker: &Worker) -> Decision {
    let entries = worker
        .store
        .read(|reader| reader.all_state())
        .await
        .unwrap();
    let heartbeats: Vec<Heartbeat> = entries
        .iter()
        .filter(|entry| {
            entry
                .key
                .starts_with(diagnostics::records::HEARTBEAT_STATE_PREFIX)
        })
        .map(|entry| serde_json::from_str(&entry.value).unwrap())
        .collect();
    let quota: Option<diagnostics::QuotaRecord> = entries
        .iter()
        .find(|entry| entry.key == diagnostics::records::QUOTA_STATE_KEY)
        .map(|entry| serde_json::from_str(&entry.value).unwrap());
    decide(&heartbeats, quota.as_ref(), None, worker.clock.now_ms())
}

async fn stop(worker: Worker) {
    worker.sim.update_knobs(|knobs| knobs.freeze = false);
    stop_pipeline(worker.running).await;
}

#[tokio::test(start_paused = true)]
async fn a_worker_whose_keepa_calls_hang_is_a_stall_after_15_minutes() {
    let worker = start(20).await;
    // Keepa hangs from the first request on, with tokens to spare: discovery has its pages to
    // read and never gets an answer.
    worker.sim.update_knobs(|knobs| knobs.freeze = true);
    tokio::time::sleep(Duration::from_secs(14 * 60)).await;
    assert!(
        matches!(judge(&worker).await, Decision::Healthy { .. }),
        "not yet 15 minutes without progress"
    );
    tokio::time::sleep(Duration::from_secs(2 * 60)).await;
    match judge(&worker).await {
        Decision::Restart { stalled } => {
            assert!(
                stalled.iter().any(|task| task.task == "discovery"),
                "{stalled:?}"
            );
        }
        other => panic!("a frozen worker with work must be restarted: {other:?}"),
    }
    stop(worker).await;
}

#[tokio::test(start_paused = true)]
async fn a_worker_waiting_for_tokens_is_not_a_stall() {
    let worker = start(1).await;
    tokio::time::sleep(Duration::from_secs(3 * 60)).await;
    // The key is deep in deficit (another program spent it): 1 token a minute climbs out slowly.
    worker.sim.set_tokens_left(-150);
    tokio::time::sleep(Duration::from_secs(30 * 60)).await;
    let backlog = worker
        .store
        .read(|reader| reader.backlog_depth())
        .await
        .unwrap();
    assert!(backlog > 0, "the worker still has work");
    match judge(&worker).await {
        Decision::Healthy { notes } => {
            assert!(
                notes.iter().any(|note| note.contains("not a stall")),
                "{notes:?}"
            );
        }
        other => panic!("waiting for tokens is not a stall: {other:?}"),
    }
    stop(worker).await;
}
