//! Crash safety: a child process upserts deals in a loop and prints each ASIN
//! after its commit returned; the parent kills it with SIGKILL after a varying
//! number of lines, five times over. After every kill the database opens,
//! passes `PRAGMA integrity_check`, and holds every printed ASIN.
//!
//! The child is this test binary itself, filtered to the hidden helper test
//! [`child_upserts_until_killed`], which does nothing unless the environment
//! variable [`CHILD_DATABASE_ENV`] names a database. No sleeps: the parent
//! blocks on reading the child's lines.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use deal_store::{StoreOptions, Writer};
use keepa_model::Asin;

use crate::support::{NOW, analysis_at, asin, valid_deal};

const CHILD_DATABASE_ENV: &str = "DEAL_STORE_CRASH_CHILD_DATABASE";
const CHILD_FIRST_INDEX_ENV: &str = "DEAL_STORE_CRASH_CHILD_FIRST_INDEX";
const COMMITTED_PREFIX: &str = "committed ";

/// The child's body; a no-op in a normal test run.
#[test]
fn child_upserts_until_killed() {
    let Ok(database) = std::env::var(CHILD_DATABASE_ENV) else {
        return;
    };
    let first_index: u32 = std::env::var(CHILD_FIRST_INDEX_ENV)
        .expect("the parent sets the first index")
        .parse()
        .expect("a number");
    let mut writer =
        Writer::open(&database, StoreOptions::default()).expect("the child opens the store");
    // Bounded in case the parent dies without killing us.
    for index in first_index..first_index + 1_000_000 {
        writer
            .upsert_deal(&valid_deal(index), analysis_at(NOW))
            .expect("the child's upsert");
        println!("{COMMITTED_PREFIX}{}", asin(index));
    }
}

#[test]
fn every_printed_deal_survives_sigkill() {
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("crash.sqlite");
    let test_binary = std::env::current_exe().unwrap();
    let mut committed: Vec<Asin> = Vec::new();
    // A fixed xorshift sequence: varied kill points, reproducible runs.
    let mut random_state: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..5_u32 {
        random_state ^= random_state << 13;
        random_state ^= random_state >> 7;
        random_state ^= random_state << 17;
        let lines_before_kill = 1 + (random_state % 300) as usize;
        let mut child = Command::new(&test_binary)
            .args([
                "crash::child_upserts_until_killed",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_DATABASE_ENV, &database)
            .env(CHILD_FIRST_INDEX_ENV, (round * 1_000_000).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen_this_round = 0;
        while seen_this_round < lines_before_kill {
            let line = lines
                .next()
                .expect("the child ended before it was killed")
                .unwrap();
            if let Some(text) = line.strip_prefix(COMMITTED_PREFIX) {
                committed.push(text.parse().unwrap());
                seen_this_round += 1;
            }
        }
        child.kill().unwrap();
        // Lines already in the pipe were printed after their commit too.
        for line in lines {
            let Ok(line) = line else { break };
            if let Some(text) = line.strip_prefix(COMMITTED_PREFIX) {
                committed.push(text.parse().unwrap());
            }
        }
        child.wait().unwrap();

        let writer = Writer::open(&database, StoreOptions::default())
            .unwrap_or_else(|error| panic!("round {round}: the store does not reopen: {error}"));
        let reader = writer.reader();
        assert_eq!(
            reader.integrity_check().unwrap(),
            vec!["ok".to_owned()],
            "round {round}"
        );
        let stored: std::collections::HashSet<Asin> = reader
            .all_deals()
            .unwrap()
            .into_iter()
            .map(|stored| stored.deal.asin)
            .collect();
        let lost: Vec<&Asin> = committed
            .iter()
            .filter(|asin| !stored.contains(asin))
            .collect();
        assert!(
            lost.is_empty(),
            "round {round}: committed deals lost: {lost:?}"
        );
    }
    assert!(committed.len() >= 5);
}
