//! A database file deleted under a running worker. SQLite goes on writing into the deleted file
//! through the worker's open descriptors, so nothing looks wrong from the worker's side and every
//! deal is lost when it stops. `diag` must say so — `database` FAIL, exit 2, naming the worker's
//! pid — and its remedy (freeze the worker, copy the file back out of `/proc/<pid>/fd`, kill it)
//! must save every deal the worker had committed. This test follows the remedy to the letter and
//! counts the deals afterwards.

use std::path::{Path, PathBuf};

use deal_store::{DealFilter, StoreOptions, Writer};

use crate::support::{Worker, check, run, temp_database};

/// The worker's descriptor of `database` once the file is deleted: `/proc/<pid>/fd/N` whose
/// link reads `<database> (deleted)`, as `ls -l /proc/<pid>/fd` shows it.
fn deleted_descriptor(pid: u32, database: &Path) -> PathBuf {
    let wanted = format!("{} (deleted)", database.display());
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the worker's descriptors")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            std::fs::read_link(path).is_ok_and(|target| target.to_string_lossy() == wanted)
        })
        .unwrap_or_else(|| panic!("worker pid {pid} has no descriptor of {wanted}"))
}

fn diag_json(database: &Path, expected_code: i32) -> serde_json::Value {
    let database = database.to_str().expect("a utf-8 path");
    let (stdout, _) = check(
        &run("diag", &["--database", database, "--json", "--no-probe"]),
        expected_code,
    );
    serde_json::from_str(&stdout).expect("json on stdout")
}

fn database_check(report: &serde_json::Value) -> &serde_json::Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|check| check["name"] == "database")
        .expect("a database check")
}

#[test]
fn a_database_deleted_under_a_running_worker_fails_and_the_remedy_saves_every_deal() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let mut worker = Worker::start(&database, &[]);
    worker.wait_for_log("analysis: stored");
    let pid = worker.pid();

    std::fs::remove_file(&database).expect("the database is deleted");
    // The worker notices nothing: it keeps storing, and its API keeps counting.
    worker.wait_for_log("analysis: stored");
    let visible_before = worker.deal_count();
    assert!(visible_before > 0);

    let report = diag_json(&database, 2);
    let database_report = database_check(&report);
    assert_eq!(database_report["status"], "fail", "{database_report}");
    let detail = database_report["detail"].as_str().expect("a detail");
    assert!(
        detail.contains(&format!("worker pid {pid}")),
        "names the worker: {detail}"
    );
    let remedy = database_report["remedy"].as_str().expect("a remedy");
    assert!(
        remedy.contains(&format!("kill -STOP {pid}")) && remedy.contains("/proc/"),
        "says how to save the data: {remedy}"
    );

    // The remedy: freeze, copy the open file back, kill.
    worker.signal("STOP");
    std::fs::copy(deleted_descriptor(pid, &database), &database).expect("the file is copied");
    worker.kill_hard();

    let report = diag_json(&database, 1);
    assert_eq!(
        database_check(&report)["status"],
        "pass",
        "{}",
        database_check(&report)
    );
    let writer = Writer::open(&database, StoreOptions::default()).expect("the store reopens");
    let reader = writer.reader();
    assert_eq!(
        reader.integrity_check().expect("an integrity check"),
        ["ok"]
    );
    let visible_after = reader.count_deals(&DealFilter::default()).expect("a count");
    assert!(
        visible_after >= visible_before,
        "deals the worker had committed are lost: {visible_after} < {visible_before}"
    );
}
