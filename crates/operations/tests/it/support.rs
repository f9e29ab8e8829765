//! What the reliability suite shares: the built binaries (`worker`, `flush`, `watchdog`, `diag`,
//! built once per run with the cargo that runs the tests), a worker child that is killed when the test
//! ends, line readers that block on a process's output instead of sleeping, a minimal HTTP GET,
//! temporary databases with planted state, and the real pipeline run in a test's own runtime
//! against keepa-sim (for tests under tokio's paused clock).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{OnceLock, mpsc};
use std::time::Duration;

use deal_store::{DealStore, StoreOptions, Writer};
use fleet::{Fleet, Heartbeat, InstanceId, Progress, TaskState};
use keepa_client::{ApiKey, ClientConfig, KeepaClient, SimTransport};
use keepa_model::UnixSeconds;
use keepa_sim::Sim;
use pipeline::config::{FileConfig, Overrides, WorkerConfig};
use pipeline::worker::UnixClock;
use token_bucket::Bucket;
use token_bucket::clock::TokioClock;

/// Bounds on events that take about a second: they only turn a hang into a failure, and are
/// never asserted on.
pub(crate) const EVENT_LIMIT: Duration = Duration::from_secs(180);

/// The directory the workspace's binaries are built into (this test binary's `deps/`'s parent).
fn binary_directory() -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    test_binary
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_owned()
}

/// The path of a workspace binary, built once per test run.
pub(crate) fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let output = Command::new(cargo)
            .args([
                "build", "--quiet", "-p", "worker", "-p", "flush", "-p", "watchdog", "-p", "diag",
            ])
            .current_dir(workspace)
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "building the binaries failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    });
    let path = binary_directory().join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A command for a workspace binary with the deployment's environment variables removed, so the
/// developer's shell cannot change what a test means.
pub(crate) fn command(name: &str) -> Command {
    let mut command = Command::new(binary(name));
    for variable in [
        "KEEPA_API_KEY",
        "KEEPA_DEALS_REDIS_URL",
        "KEEPA_DEALS_DATABASE",
        "KEEPA_DEALS_KEY_PREFIX",
        "KEEPA_DEALS_CONFIG",
        "KEEPA_DEALS_LISTEN",
    ] {
        command.env_remove(variable);
    }
    command
}

/// Runs a workspace binary to completion.
pub(crate) fn run(name: &str, arguments: &[&str]) -> Output {
    command(name)
        .args(arguments)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

pub(crate) use testkit::binaries::{check_exit as check, json_check, now_ms};

/// A running `worker --simulate`, killed (SIGKILL) and reaped when dropped.
pub(crate) struct Worker {
    pub(crate) child: Child,
    pub(crate) stdout: mpsc::Receiver<String>,
    pub(crate) stderr: mpsc::Receiver<String>,
    /// Everything read so far, for failure messages.
    pub(crate) said: Vec<String>,
    /// `host:port` of its API.
    pub(crate) api: String,
}

impl Worker {
    /// Starts `worker --simulate` on `database` with extra `arguments` and waits for its start
    /// line.
    pub(crate) fn start(database: &Path, arguments: &[&str]) -> Worker {
        let mut child = command("worker")
            .args(["--simulate", "--listen", "127.0.0.1:0", "--database"])
            .arg(database)
            .args(arguments)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the worker starts");
        let stdout = lines(child.stdout.take().expect("piped stdout"));
        let stderr = lines(child.stderr.take().expect("piped stderr"));
        let mut worker = Worker {
            child,
            stdout,
            stderr,
            said: Vec::new(),
            api: String::new(),
        };
        let started = worker.wait_for_stdout("API at http://");
        worker.api = started
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("the start line names the api address")
            .to_owned();
        worker
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_on(receiver: &mpsc::Receiver<String>, needle: &str, said: &mut Vec<String>) -> String {
        loop {
            match receiver.recv_timeout(EVENT_LIMIT) {
                Ok(line) => {
                    said.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(error) => panic!(
                    "no line containing {needle:?} ({error}); the worker said:\n{}",
                    said.join("\n")
                ),
            }
        }
    }

    /// Blocks until the worker prints a line containing `needle` on stdout.
    pub(crate) fn wait_for_stdout(&mut self, needle: &str) -> String {
        Worker::wait_on(&self.stdout, needle, &mut self.said)
    }

    /// Blocks until the worker logs a line containing `needle` on stderr.
    pub(crate) fn wait_for_log(&mut self, needle: &str) -> String {
        Worker::wait_on(&self.stderr, needle, &mut self.said)
    }

    /// `GET path` on the worker's API: the status line and the body.
    pub(crate) fn get(&self, path: &str) -> (String, String) {
        let mut stream = TcpStream::connect(&self.api).expect("the api accepts connections");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.api
        )
        .expect("the request is sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("the response is read");
        let status = response.lines().next().unwrap_or_default().to_owned();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.trim().to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// `/api/deal-count`'s count.
    pub(crate) fn deal_count(&self) -> u64 {
        let (status, body) = self.get("/api/deal-count");
        assert!(status.contains("200"), "{status}: {body}");
        let value: serde_json::Value = serde_json::from_str(&body).expect("json");
        value["count"].as_u64().expect("a count")
    }

    /// Sends `signal` (`STOP`, `CONT`, …) with `kill(1)`, as an operator would.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    /// SIGKILL, then reap: afterwards its pid is gone from `/proc`.
    pub(crate) fn kill_hard(&mut self) {
        self.child.kill().expect("SIGKILL is sent");
        self.child.wait().expect("the worker is reaped");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// A new, migrated database in `directory`.
pub(crate) fn temp_database(directory: &Path) -> PathBuf {
    let path = directory.join("deals.sqlite");
    Writer::open(&path, StoreOptions::default()).expect("a new store");
    path
}

/// A heartbeat as the worker writes it.
pub(crate) fn heartbeat(
    task: &str,
    last_progress_at_ms: i64,
    reported_at_ms: i64,
    state: TaskState,
    has_work: bool,
) -> Heartbeat {
    let progress = Progress::new(
        InstanceId::new("worker-host", 4242),
        last_progress_at_ms,
        state,
        has_work,
    );
    serde_json::from_value(serde_json::json!({
        "task": task,
        "progress": progress,
        "reported_at_ms": reported_at_ms,
    }))
    .expect("a heartbeat")
}

/// Writes `heartbeat` where the embedded worker does: state entry `heartbeat:<task>`.
pub(crate) fn plant_heartbeat(database: &Path, heartbeat: &Heartbeat) {
    let mut writer = Writer::open(database, StoreOptions::default()).expect("the store opens");
    writer
        .set_state(
            &format!(
                "{}{}",
                diagnostics::records::HEARTBEAT_STATE_PREFIX,
                heartbeat.task
            ),
            &serde_json::to_string(heartbeat).expect("json"),
            UnixSeconds(heartbeat.reported_at_ms / 1_000),
        )
        .expect("the heartbeat is stored");
}

/// Reads a state entry.
pub(crate) fn state(database: &Path, key: &str) -> Option<String> {
    let writer = Writer::open(database, StoreOptions::default()).expect("the store opens");
    writer.reader().state(key).expect("state is readable")
}

/// A pid that no process has: a child that was started and reaped.
pub(crate) fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("true runs");
    let pid = child.id();
    child.wait().expect("reaped");
    pid
}

/// A key keepa-sim accepts, for the in-process pipeline.
pub(crate) const SIM_KEY: &str = "simulatedkeepakey0123456789";
/// Where keepa-sim's and the pipeline's clocks start.
pub(crate) const SIM_START_UNIX_MS: i64 = 1_777_593_600_000;

/// The real pipeline running in this test's runtime (see [`run_pipeline`]).
pub(crate) struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), pipeline::run::RunError>>,
}

/// Runs the pipeline (`pipeline::run::run_with`, as `worker --simulate` does) on `store`
/// against `sim` with `key`, from `clock`'s now, with an in-memory bucket and fleet.
pub(crate) fn run_pipeline(sim: &Sim, store: &DealStore, key: &str, clock: UnixClock) -> Running {
    let client = KeepaClient::new(
        SimTransport::new(sim.clone()),
        Bucket::in_memory(pipeline::run::bucket_policy()),
        ApiKey::new(key).expect("a well-formed key"),
        ClientConfig::default(),
    );
    let overrides = Overrides {
        simulate: true,
        database: Some(store.path().to_owned()),
        listen: Some("127.0.0.1:0".to_owned()),
        ..Overrides::default()
    };
    let config = WorkerConfig::resolve(FileConfig::default(), overrides).expect("a config");
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
    Running { stop, task }
}

/// Asks the pipeline to stop and asserts that it stops cleanly.
pub(crate) async fn stop_pipeline(running: Running) {
    running.stop.send(()).expect("the worker listens");
    running
        .task
        .await
        .expect("the worker task")
        .expect("the worker stops cleanly");
}
