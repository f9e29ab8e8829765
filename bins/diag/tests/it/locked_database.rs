//! `diag` on a database another process holds locked, while the worker holds its instance lock.
//!
//! The other process is this test binary itself, re-run as the hidden helper
//! [`child_holds_the_database_locked`] (a no-op unless [`CHILD_DATABASE_ENV`] names a database),
//! playing an operator's `sqlite3` session: it opens a transaction, deletes every queued ASIN
//! without committing, prints a line and waits. The parent blocks on that line, never on a
//! sleep.
//!
//! - With SQLite's default locking, a writer never blocks diag (WAL): the report is the same as
//!   without it and shows only what was committed.
//! - In exclusive locking mode, diag cannot read at all: it finishes within its busy timeout,
//!   every check that reads the database is UNKNOWN saying the database is locked, with a remedy
//!   that names `fuser`, and the exit code is 3 (UNKNOWN). Once the holder is gone — killed, as
//!   a crashed session would be — the report is the baseline again and nothing committed is lost.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use deal_store::{BacklogEntry, BacklogKind, StoreOptions, Writer};
use keepa_model::{KeepaMinute, UnixSeconds};
use pipeline::lock::InstanceLock;

use crate::support::{assert_check_says, check, diag, json_check, json_report, temp_database};

const CHILD_DATABASE_ENV: &str = "DIAG_TEST_LOCK_HOLDER_DATABASE";
const CHILD_LOCKING_MODE_ENV: &str = "DIAG_TEST_LOCK_HOLDER_LOCKING_MODE";
const LOCKED_LINE: &str = "lock holder: locked";

/// Every check that reads the database (in the embedded tier, the worker's state lives there).
const DATABASE_CHECKS: [&str; 10] = [
    "quota",
    "task_progress",
    "backlog",
    "stale_deals",
    "deal_funnel",
    "api_errors",
    "database",
    "watermark",
    "incidents",
    "pause",
];

/// The child's body: hold the database in a write transaction with an uncommitted change until
/// stdin closes or the parent kills us. A no-op in an ordinary test run.
#[test]
fn child_holds_the_database_locked() {
    let Ok(database) = std::env::var(CHILD_DATABASE_ENV) else {
        return;
    };
    let locking_mode = std::env::var(CHILD_LOCKING_MODE_ENV).expect("the parent sets the mode");
    let connection = rusqlite::Connection::open(&database).expect("the child opens the database");
    connection
        .pragma_update(None, "locking_mode", &locking_mode)
        .expect("the locking mode");
    connection
        .execute_batch("BEGIN EXCLUSIVE; DELETE FROM backlog;")
        .expect("the child's transaction");
    // libtest has printed "test … ... " without a newline: start a line of our own.
    println!("\n{LOCKED_LINE}");
    std::io::stdout().flush().expect("flushed");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// The child holding `database` in `locking_mode`, once it said it holds the lock.
fn hold_locked(database: &str, locking_mode: &str) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "locked_database::child_holds_the_database_locked",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DATABASE_ENV, database)
        .env(CHILD_LOCKING_MODE_ENV, locking_mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the lock holder starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let locked = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line == LOCKED_LINE);
    assert!(locked, "the lock holder ended before it held the lock");
    child
}

/// A database with committed work — three queued ASINs and a watermark — whose instance lock
/// this process holds, as a running worker would.
fn committed_database(directory: &Path) -> (String, InstanceLock) {
    let database = temp_database(directory);
    let mut writer = Writer::open(&database, StoreOptions::default()).expect("the store");
    let now = UnixSeconds(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_secs(),
        )
        .expect("fits"),
    );
    let minute = KeepaMinute::from_unix_seconds(now).expect("a minute");
    let queued: Vec<BacklogEntry> = (1..=3)
        .map(|n| BacklogEntry {
            asin: format!("B00000000{n}").parse().expect("an asin"),
            keepa_last_update: minute,
            kind: BacklogKind::Analyse,
        })
        .collect();
    writer
        .record_discovery(&queued, &[], minute, None, now)
        .expect("committed");
    let lock = InstanceLock::acquire(Path::new(&database)).expect("the instance lock");
    (database, lock)
}

/// `diag --json --no-probe` on `database`: the exit code and each check's status.
fn statuses(database: &str) -> (i32, serde_json::Value, Vec<(String, String)>) {
    let output = diag(&["--database", database, "--json", "--no-probe"]);
    let code = output.status.code().expect("diag exits");
    let (stdout, _) = check(&output, code);
    let report = json_report(&stdout);
    let statuses = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|check| {
            (
                check["name"].as_str().expect("a name").to_owned(),
                check["status"].as_str().expect("a status").to_owned(),
            )
        })
        .collect();
    (code, report, statuses)
}

#[track_caller]
fn assert_backlog_of_three(report: &serde_json::Value) {
    assert_eq!(
        json_check(report, "backlog")["detail"],
        "3 items waiting",
        "the committed backlog"
    );
}

#[test]
fn a_writer_in_default_locking_mode_does_not_block_diag() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let (database, _lock) = committed_database(directory.path());
    let (baseline_code, _, baseline) = statuses(&database);

    let mut holder = hold_locked(&database, "NORMAL");
    let (code, report, during) = statuses(&database);
    assert_eq!((code, &during), (baseline_code, &baseline), "{report}");
    // The holder's uncommitted delete is invisible.
    assert_backlog_of_three(&report);

    holder.kill().expect("killed");
    holder.wait().expect("reaped");
}

#[test]
fn a_database_held_in_exclusive_mode_is_unknown_with_the_remedy_and_nothing_is_lost() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let (database, _lock) = committed_database(directory.path());
    let (baseline_code, baseline_report, baseline) = statuses(&database);
    assert_backlog_of_three(&baseline_report);

    let mut holder = hold_locked(&database, "EXCLUSIVE");
    // diag finishes (bounded by its busy timeout) and says what it could not read.
    let (code, report, _) = statuses(&database);
    assert_eq!(code, 3, "UNKNOWN: nothing worse is known: {report}");
    for name in DATABASE_CHECKS {
        let check = json_check(&report, name);
        assert_eq!(check["status"], "unknown", "{check}");
        assert_check_says(check, "detail", "locked");
        assert_check_says(check, "remedy", &format!("fuser -v {database}"));
    }
    assert_eq!(json_check(&report, "instance_lock")["status"], "pass");

    // The holder dies without committing, as a crashed sqlite3 session would.
    holder.kill().expect("killed");
    holder.wait().expect("reaped");
    let (code, report, after) = statuses(&database);
    assert_eq!((code, &after), (baseline_code, &baseline), "{report}");
    assert_eq!(json_check(&report, "database")["status"], "pass");
    assert_backlog_of_three(&report);
}
