//! The stall rule against the real pipeline under tokio's paused clock: a worker whose Keepa
//! calls hang (keepa-sim's freeze knob) is judged stalled once 15 simulated minutes pass without
//! progress, and a worker that is merely waiting for tokens is not. The judge reads the
//! heartbeats and the quota the worker leaves in its database, as the watchdog does.

use std::time::Duration;

use deal_store::{DealStore, StoreOptions};
use fleet::{Fleet, Heartbeat};
use keepa_client::{ApiKey, ClientConfig, KeepaClient, SimTransport};
use keepa_sim::Sim;
use operations::stall::{Decision, decide};
use pipeline::config::{FileConfig, Overrides, WorkerConfig};
use pipeline::worker::UnixClock;
use token_bucket::clock::TokioClock;
use token_bucket::{Bucket, Policy};

const KEY: &str = "simulatedkeepakey0123456789";
const START_UNIX_MS: i64 = 1_777_593_600_000;

struct Worker {
    sim: Sim,
    store: DealStore,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), pipeline::run::RunError>>,
    clock: UnixClock,
    _directory: tempfile::TempDir,
}

async fn start(refill_rate: u32) -> Worker {
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("deals.sqlite");
    let sim = Sim::builder()
        .api_key(KEY)
        .seed(3)
        .refill_rate(refill_rate)
        .catalogue_size(400)
        .start_unix_ms(START_UNIX_MS)
        .build();
    let client = KeepaClient::new(
        SimTransport::new(sim.clone()),
        Bucket::in_memory(Policy::default()),
        ApiKey::new(KEY).unwrap(),
        ClientConfig::default(),
    );
    let store = DealStore::open(&database, StoreOptions::default())
        .await
        .unwrap();
    let overrides = Overrides {
        simulate: true,
        database: Some(database),
        listen: Some("127.0.0.1:0".to_owned()),
        ..Overrides::default()
    };
    let config = WorkerConfig::resolve(FileConfig::default(), overrides).unwrap();
    let clock = UnixClock::starting_at(START_UNIX_MS);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(pipeline::run::run_with(
        config,
        store.clone(),
        Fleet::in_memory(TokioClock::start()),
        client,
        clock,
        async move {
            let _ = stopped.await;
        },
        |_| {},
    ));
    Worker {
        sim,
        store,
        stop,
        task,
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
    worker.stop.send(()).unwrap();
    worker.task.await.unwrap().unwrap();
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
