//! The watchdog without `--restart-cmd`, in the embedded tier: it signals the process holding
//! the database's instance lock. Against the real worker: a task frozen 16 min ago makes the
//! watchdog send SIGTERM, and the worker stops cleanly (exit 0) well within the grace period.

use fleet::TaskState;

use crate::support::{
    Worker, check, heartbeat, now_ms, plant_heartbeat, run, state, temp_database,
};

#[test]
fn a_stall_makes_the_watchdog_sigterm_the_lock_holder_which_exits_cleanly() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let now = now_ms();
    let frozen = heartbeat(
        "frozen-task",
        now - 16 * 60_000,
        now - 16 * 60_000,
        TaskState::Working {
            what: "a request that never returns".to_owned(),
        },
        true,
    );
    plant_heartbeat(&database, &frozen);
    let mut worker = Worker::start(&database, &[]);
    let database_text = database.to_str().expect("utf-8");

    let (stdout, _) = check(
        &run("watchdog", &["--database", database_text, "--dry-run"]),
        2,
    );
    assert!(
        stdout.contains("would send SIGTERM to the holder of the instance lock"),
        "{stdout}"
    );

    let (stdout, _) = check(&run("watchdog", &["--database", database_text]), 2);
    assert!(
        stdout.contains(&format!(
            "sent SIGTERM to worker pid {}, which stopped",
            worker.pid()
        )),
        "{stdout}"
    );
    let status = worker.child.wait().expect("the worker exits");
    assert_eq!(
        status.code(),
        Some(0),
        "the worker said:\n{}",
        worker.said.join("\n")
    );
    let incidents = state(&database, diagnostics::records::INCIDENTS_STATE_KEY).expect("recorded");
    assert!(incidents.contains("watchdog-restart"), "{incidents}");
}
