//! Redis restarted mid-run (DESIGN.md §10): a fleet-tier worker whose Redis dies says so in its
//! log, keeps the deals it committed, and, once a server is back on the same address without
//! the old state (no persistence, as after a restart), resynchronises its bucket from Keepa and
//! stores deals again. The shared test server is never touched: the worker gets a
//! `testkit::PrivateRedis` of this test's own. The test blocks on the worker's log lines.

use crate::support::{Worker, temp_database};

#[test]
fn a_worker_recovers_when_its_redis_restarts_empty() {
    let mut redis = testkit::PrivateRedis::start();
    let url = redis.url();
    let prefix = testkit::unique_prefix("redis-restart");
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let mut worker = Worker::start(&database, &["--redis-url", &url, "--key-prefix", &prefix]);
    worker.wait_for_log("asking /token once");
    // The API counts valid deals only: wait until some are there.
    let before = loop {
        worker.wait_for_log("analysis: stored");
        let count = worker.deal_count();
        if count > 0 {
            break count;
        }
    };

    redis.kill();
    // Every task meets the dead server on its next call and says what to do.
    worker.wait_for_log("is unreachable");
    let (status, _) = worker.get("/api/deal-count");
    assert!(
        status.contains("200"),
        "the API reads the database, not redis: {status}"
    );
    assert!(worker.deal_count() >= before, "committed deals stay");

    redis.restart();
    // The bucket's state went with the old server: the worker asks Keepa where the quota
    // stands, once, and goes on storing deals.
    worker.wait_for_log("asking /token once");
    loop {
        worker.wait_for_log("analysis: stored");
        if worker.deal_count() > before {
            break;
        }
    }
    let (status, _) = worker.get("/api/deals?limit=1");
    assert!(status.contains("200"), "{status}");
}
