//! Redis flushed mid-run, namespaced: `flush all --yes --force` deletes every key under a running
//! fleet-tier worker's prefix (its bucket state, heartbeats, lease), and the worker keeps going —
//! its next request finds the bucket unsynced and reconciles from Keepa — which shows
//! as `/api/deal-count` growing. The test blocks on the worker's log lines, never on a sleep.

use crate::support::{Worker, check, run, temp_database};

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
    let (stdout, _) = check(&flush_all(&["--yes", "--force"]), 0);
    assert!(
        stdout.contains(&format!("done: delete {bucket_key}")),
        "{stdout}"
    );

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
}
