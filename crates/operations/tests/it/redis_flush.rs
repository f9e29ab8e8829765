//! Redis flushed mid-run, namespaced: `flush all --yes --force` deletes every key under a running
//! fleet-tier worker's prefix (its bucket state, heartbeats, lease), and the worker keeps going —
//! its next request finds the bucket unsynced and reconciles from Keepa — which shows
//! as `/api/deal-count` growing. The test blocks on the worker's log lines, never on a sleep.
//!
//! `diag` tells the truth on both sides of it. Right after the flush — the worker frozen with
//! SIGSTOP, so that the report cannot race its recovery — the bucket has no state (quota UNKNOWN,
//! with the remedy that it resynchronises from the worker's next answer) and no task has reported
//! progress (WARN); nothing FAILs. Once the worker has stored deals with new requests, the quota
//! comes from the Redis bucket again, and the deals committed before the flush are all there.

use std::path::Path;

use crate::support::{Worker, check, json_check, run, temp_database};

/// `diag --json` on the worker's prefix and database: the exit code and the report.
fn diag(url: &str, prefix: &str, database: &Path) -> (i32, serde_json::Value) {
    let database = database.to_str().expect("a utf-8 path");
    let output = run(
        "diag",
        &[
            "--redis-url",
            url,
            "--key-prefix",
            prefix,
            "--database",
            database,
            "--json",
            "--no-probe",
        ],
    );
    let code = output.status.code().expect("diag exits");
    let (stdout, _) = check(&output, code);
    (code, serde_json::from_str(&stdout).expect("json on stdout"))
}

#[track_caller]
fn says(check: &serde_json::Value, field: &str, part: &str) {
    assert!(
        check[field]
            .as_str()
            .is_some_and(|text| text.contains(part)),
        "{field} should say {part:?}: {check}"
    );
}

#[test]
fn a_worker_keeps_storing_deals_after_its_prefix_is_flushed() {
    let url = testkit::redis_url();
    let prefix = testkit::unique_prefix("redis-flush");
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let mut worker = Worker::start(&database, &["--redis-url", &url, "--key-prefix", &prefix]);
    worker.wait_for_log("asking /token once");
    worker.wait_for_log("analysis: stored");
    let before = worker.deal_count();

    let flush_all = |extra: &[&str]| {
        let mut arguments = vec!["all", "--redis-url", &url, "--key-prefix", &prefix];
        arguments.extend_from_slice(extra);
        run("flush", &arguments)
    };
    let (stdout, _) = check(&flush_all(&[]), 0);
    let bucket_key = format!("{prefix}bucket:state");
    assert!(stdout.contains(&bucket_key), "{stdout}");
    assert!(
        stdout.contains(&format!("{prefix}fleet:heartbeats")),
        "{stdout}"
    );
    worker.signal("STOP");
    let (stdout, _) = check(&flush_all(&["--yes", "--force"]), 0);
    assert!(
        stdout.contains(&format!("done: delete {bucket_key}")),
        "{stdout}"
    );

    let (code, report) = diag(&url, &prefix, &database);
    assert_eq!(code, 1, "WARNING, nothing fails: {report}");
    let quota = json_check(&report, "quota");
    assert_eq!(quota["status"], "unknown", "{quota}");
    says(quota, "detail", "the redis bucket has no state");
    says(quota, "remedy", "resynchronises");
    let tasks = json_check(&report, "task_progress");
    assert_eq!(tasks["status"], "warn", "{tasks}");
    says(tasks, "detail", "no task has reported progress");
    assert_eq!(json_check(&report, "leases")["detail"], "no lease is held");
    assert_eq!(json_check(&report, "database")["status"], "pass");
    worker.signal("CONT");

    // Analysis goes on storing deals that the API counts. (Whether the bucket is resynchronised
    // by a `/token` call or by the envelope of a request already in flight is a race, so the
    // test does not insist on the log line of the former.)
    let after = loop {
        worker.wait_for_log("analysis: stored");
        let count = worker.deal_count();
        if count > before {
            break count;
        }
    };
    assert!(after > before);
    let (status, _) = worker.get("/api/deals?limit=1");
    assert!(status.contains("200"), "{status}");

    // A deal fetched before the flush may have been stored after it; the next stored batch
    // needed a request of its own, which resynchronised the bucket.
    loop {
        worker.wait_for_log("analysis: stored");
        if worker.deal_count() > after {
            break;
        }
    }
    let (_, report) = diag(&url, &prefix, &database);
    let quota = json_check(&report, "quota");
    assert_eq!(quota["status"], "pass", "{quota}");
    says(quota, "detail", "from redis bucket");
    assert_eq!(json_check(&report, "database")["status"], "pass");
}
