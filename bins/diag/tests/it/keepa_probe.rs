//! diag's one `/token` call, through keepa-client against keepa-sim served on a loopback port
//! (never the real Keepa): with a valid key and no stored envelope it asks exactly once and the
//! quota passes; with a recent stored envelope it does not ask at all; with a key Keepa no longer
//! accepts (400 invalid key, a revoked key) the quota check FAILs with a remedy naming the key
//! settings, diag exits 2, and the key appears nowhere in its output.

use std::net::TcpListener;
use std::path::Path;

use deal_store::{StoreOptions, Writer};
use diagnostics::QuotaRecord;
use diagnostics::records::QUOTA_STATE_KEY;
use keepa_model::UnixSeconds;
use keepa_sim::Sim;

use crate::support::{
    assert_check_says, check, diag, json_check, json_report, now_ms, temp_database,
};

const SIM_KEY: &str = "simulatedkeepakey0123456789";
const REVOKED_KEY: &str = "revokedkeepakey0123456789";

/// keepa-sim on a loopback port, served from a thread of its own until dropped.
struct SimServer {
    sim: Sim,
    base_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimServer {
    fn start() -> SimServer {
        let sim = Sim::builder()
            .api_key(SIM_KEY)
            .start_unix_ms(now_ms())
            .build();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let base_url = format!("http://{}/", listener.local_addr().expect("an address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = sim.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                keepa_sim::serve(listener, served, async move {
                    let _ = stopped.await;
                })
                .await
                .expect("the simulator serves");
            });
        });
        SimServer {
            sim,
            base_url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `/token` requests answered with `status` so far.
    fn token_calls(&self, status: u16) -> u64 {
        self.sim.counters().requests_with("/token", status)
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn key_file(directory: &Path, key: &str) -> String {
    let path = directory.join("keepa.key");
    std::fs::write(&path, format!("{key}\n")).expect("the key file");
    path.to_str().expect("utf-8").to_owned()
}

/// `diag --json` with the key in a file and Keepa at the simulator: exit code and report.
fn diag_with_key(database: &str, key_file: &str, server: &SimServer) -> (i32, serde_json::Value) {
    let output = diag(&[
        "--database",
        database,
        "--json",
        "--keepa-key-file",
        key_file,
        "--keepa-base-url",
        &server.base_url,
    ]);
    let code = output.status.code().expect("diag exits");
    let (stdout, stderr) = check(&output, code);
    for key in [SIM_KEY, REVOKED_KEY] {
        assert!(
            !stdout.contains(key) && !stderr.contains(key),
            "the key is never printed"
        );
    }
    (code, json_report(&stdout))
}

#[test]
fn with_no_stored_envelope_diag_asks_token_once_and_not_with_a_recent_one() {
    let server = SimServer::start();
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let key = key_file(directory.path(), SIM_KEY);

    let (_, report) = diag_with_key(&database, &key, &server);
    let quota = json_check(&report, "quota");
    assert_eq!(quota["status"], "pass", "{quota}");
    assert_check_says(quota, "detail", "from one /token call");
    assert_eq!(server.token_calls(200), 1, "exactly one /token call");

    // The worker's envelope of a minute ago is recent: no call.
    let mut writer = Writer::open(&database, StoreOptions::default()).expect("the store");
    let record = QuotaRecord {
        tokens_left: 250,
        refill_rate: 20,
        refill_in_ms: 30_000,
        observed_at_ms: now_ms() - 60_000,
        foreign_consumption: 0,
    };
    writer
        .set_state(
            QUOTA_STATE_KEY,
            &serde_json::to_string(&record).expect("json"),
            UnixSeconds(now_ms() / 1000),
        )
        .expect("stored");
    let (_, report) = diag_with_key(&database, &key, &server);
    let quota = json_check(&report, "quota");
    assert_eq!(quota["status"], "pass", "{quota}");
    assert_check_says(quota, "detail", "last stored envelope");
    assert_eq!(server.token_calls(200), 1, "no second /token call");
}

#[test]
fn a_revoked_key_fails_the_quota_check_and_exits_2() {
    let server = SimServer::start();
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let key = key_file(directory.path(), REVOKED_KEY);

    let (code, report) = diag_with_key(&database, &key, &server);
    assert_eq!(code, 2, "CRITICAL: {report}");
    let quota = json_check(&report, "quota");
    assert_eq!(quota["status"], "fail", "{quota}");
    assert_check_says(quota, "detail", "keepa rejected the api key");
    assert_check_says(quota, "remedy", "--keepa-key-file");
    assert_eq!(
        (server.token_calls(400), server.token_calls(200)),
        (1, 0),
        "one /token call, refused"
    );
}
