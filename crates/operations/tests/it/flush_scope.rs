//! flush's scope and safety: keys outside the prefix survive `flush all --yes` (and are never
//! read), no `FLUSHALL`/`FLUSHDB` is ever sent (the server's command statistics, and the source),
//! the pause flag is set and cleared in both tiers where the worker and diag read it, token
//! state is forgotten, and a lock file is removed only when no live process holds it.

use std::path::{Path, PathBuf};

use deadpool_redis::redis;
use fleet::{Fleet, FleetConfig, PauseFlag};
use pipeline::lock::{InstanceLock, lock_path};

use crate::support::{check, dead_pid, run, state, temp_database};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn connection(url: &str) -> deadpool_redis::Connection {
    deadpool_redis::Config::from_url(url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .expect("a pool")
        .get()
        .await
        .expect("redis answers")
}

/// How often the server has run `command` since it started (`INFO commandstats`).
async fn calls_of(connection: &mut deadpool_redis::Connection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(connection)
        .await
        .expect("info");
    let needle = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&needle))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().expect("a count"))
}

#[test]
fn flush_all_deletes_the_prefix_and_nothing_else_and_never_flushes_the_server() {
    let url = testkit::redis_url();
    let prefix = testkit::unique_prefix("flush-scope");
    let runtime = runtime();
    // Foreign keys: other programs, a longer prefix that merely starts alike, the prefix without
    // its separator, and a key that contains the prefix later on.
    let foreign = [
        format!("other-app:{prefix}"),
        format!("x{prefix}bucket:state"),
        prefix.trim_end_matches(':').to_owned(),
        format!("{}-sibling:fleet:pause", prefix.trim_end_matches(':')),
        format!("shared:{prefix}fleet:heartbeats"),
    ];
    let owned = [
        format!("{prefix}bucket:state"),
        format!("{prefix}fleet:pause"),
        format!("{prefix}something-newer"),
    ];
    let flushes_before = runtime.block_on(async {
        let mut connection = connection(&url).await;
        for key in foreign.iter().chain(owned.iter()) {
            let _: () = redis::cmd("SET")
                .arg(key)
                .arg("value")
                .query_async(&mut connection)
                .await
                .expect("set");
        }
        calls_of(&mut connection, "flushall").await + calls_of(&mut connection, "flushdb").await
    });

    let (stdout, _) = check(
        &run(
            "flush",
            &["all", "--redis-url", &url, "--key-prefix", &prefix],
        ),
        0,
    );
    for key in &owned {
        assert!(stdout.contains(key.as_str()), "{key} is listed: {stdout}");
    }
    for key in &foreign {
        assert!(
            !stdout
                .lines()
                .any(|line| line.split_whitespace().nth(1) == Some(key)),
            "{key} is not listed: {stdout}"
        );
    }
    let (stdout, _) = check(
        &run(
            "flush",
            &["all", "--yes", "--redis-url", &url, "--key-prefix", &prefix],
        ),
        0,
    );
    assert_eq!(
        stdout.matches("done: delete").count(),
        owned.len(),
        "{stdout}"
    );

    runtime.block_on(async {
        let mut connection = connection(&url).await;
        for key in &foreign {
            let value: Option<String> = redis::cmd("GET")
                .arg(key)
                .query_async(&mut connection)
                .await
                .expect("get");
            assert_eq!(value.as_deref(), Some("value"), "{key} survives");
        }
        for key in &owned {
            let exists: i64 = redis::cmd("EXISTS")
                .arg(key)
                .query_async(&mut connection)
                .await
                .expect("exists");
            assert_eq!(exists, 0, "{key} is gone");
        }
        let flushes_after = calls_of(&mut connection, "flushall").await
            + calls_of(&mut connection, "flushdb").await;
        assert_eq!(
            flushes_after, flushes_before,
            "no FLUSHALL or FLUSHDB was sent"
        );
        let _: i64 = redis::cmd("DEL")
            .arg(foreign.as_slice())
            .query_async(&mut connection)
            .await
            .expect("cleanup");
    });
}

fn rust_sources(directory: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("a source directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_sources(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn no_source_of_flush_or_the_watchdog_can_send_flushall_or_flushdb() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    for directory in ["src", "../../bins/flush/src", "../../bins/watchdog/src"] {
        rust_sources(&root.join(directory), &mut sources);
    }
    assert!(sources.len() >= 8, "{sources:?}");
    for source in sources {
        let text = std::fs::read_to_string(&source)
            .expect("readable")
            .to_lowercase();
        for command in ["\"flushall\"", "\"flushdb\"", "flushall\"", "flushdb\""] {
            assert!(
                !text.contains(command),
                "{} names {command} as a string",
                source.display()
            );
        }
    }
}

#[test]
fn the_pause_flag_is_set_and_cleared_in_the_store_where_the_worker_and_diag_read_it() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let database_text = database.to_str().expect("utf-8");
    let pause = |extra: &[&str]| {
        let mut arguments = vec!["pause", "--database", database_text];
        arguments.extend_from_slice(extra);
        run("flush", &arguments)
    };
    let (stdout, _) = check(&pause(&["--set", "migrating the disk"]), 0);
    assert!(stdout.contains("dry run"), "{stdout}");
    assert_eq!(state(&database, "pause"), None, "a dry run sets nothing");

    check(&pause(&["--set", "migrating the disk", "--yes"]), 0);
    let flag: PauseFlag =
        serde_json::from_str(&state(&database, "pause").expect("set")).expect("a pause flag");
    assert_eq!(flag.reason, "migrating the disk");

    let (stdout, _) = check(&pause(&["--clear"]), 0);
    assert!(stdout.contains("migrating the disk"), "{stdout}");
    assert!(state(&database, "pause").is_some());
    check(&pause(&["--clear", "--yes"]), 0);
    assert_eq!(state(&database, "pause"), None);
    let (stdout, _) = check(&pause(&["--clear", "--yes"]), 0);
    assert!(stdout.contains("the pause flag is not set"), "{stdout}");
}

#[test]
fn the_pause_flag_is_set_and_cleared_in_redis_in_the_fleet_tier() {
    let url = testkit::redis_url();
    let prefix = testkit::unique_prefix("flush-pause");
    let fleet = Fleet::connect(&url, FleetConfig::with_prefix(&prefix)).expect("a fleet");
    let runtime = runtime();
    let pause = |extra: &[&str]| {
        let mut arguments = vec!["pause", "--redis-url", &url, "--key-prefix", &prefix];
        arguments.extend_from_slice(extra);
        run("flush", &arguments)
    };
    check(&pause(&["--set", "quota audit", "--yes"]), 0);
    let flag = runtime
        .block_on(fleet.pause())
        .expect("redis")
        .expect("set");
    assert_eq!(flag.reason, "quota audit");
    check(&pause(&["--clear", "--yes"]), 0);
    assert_eq!(runtime.block_on(fleet.pause()).expect("redis"), None);
}

#[test]
fn token_state_is_forgotten_so_the_next_request_reconciles() {
    let url = testkit::redis_url();
    let prefix = testkit::unique_prefix("flush-tokens");
    let runtime = runtime();
    let bucket = token_bucket::Bucket::redis_from_url(
        &url,
        token_bucket::RedisConfig {
            key_prefix: prefix.clone(),
            ..token_bucket::RedisConfig::default()
        },
    )
    .expect("a bucket");
    runtime
        .block_on(bucket.reconcile(&token_bucket::Envelope {
            tokens_left: 200,
            refill_in_ms: 30_000,
            refill_rate: 5,
            tokens_consumed: 0,
            server_timestamp_ms: 1,
        }))
        .expect("synced");
    assert!(runtime.block_on(bucket.snapshot()).expect("redis").synced);
    let tokens = |extra: &[&str]| {
        let mut arguments = vec!["tokens", "--redis-url", &url, "--key-prefix", &prefix];
        arguments.extend_from_slice(extra);
        run("flush", &arguments)
    };
    let (stdout, _) = check(&tokens(&[]), 0);
    assert!(
        stdout.contains(&format!("desync  {prefix}bucket:state")),
        "{stdout}"
    );
    assert!(runtime.block_on(bucket.snapshot()).expect("redis").synced);
    check(&tokens(&["--yes"]), 0);
    assert!(!runtime.block_on(bucket.snapshot()).expect("redis").synced);
}

#[test]
fn a_stale_lock_file_is_removed_and_a_held_one_never() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let database_text = database.to_str().expect("utf-8");
    let lock_file = lock_path(&database);
    let dead = dead_pid();
    std::fs::write(&lock_file, format!("{dead}\n")).expect("a stale lock file");

    let (stdout, _) = check(&run("flush", &["locks", "--database", database_text]), 0);
    let row = stdout
        .lines()
        .find(|line| line.contains("deals.sqlite.lock"))
        .unwrap_or_else(|| panic!("the lock file is listed: {stdout}"));
    assert!(row.contains(&format!("pid {dead}")), "{row}");
    assert!(row.contains("not held"), "{row}");
    check(
        &run("flush", &["locks", "--yes", "--database", database_text]),
        0,
    );
    assert!(!lock_file.exists());

    // This test process holds it now: even --force leaves it.
    let held = InstanceLock::acquire(&database).expect("the lock");
    let (stdout, _) = check(
        &run(
            "flush",
            &["locks", "--yes", "--force", "--database", database_text],
        ),
        1,
    );
    assert!(stdout.contains("never removed"), "{stdout}");
    assert!(lock_file.exists());
    drop(held);
}

#[test]
fn flush_all_in_the_embedded_tier_removes_only_the_diagnostic_state_entries() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let database = temp_database(directory.path());
    let now = keepa_model::UnixSeconds(1_700_000_000);
    {
        let mut writer =
            deal_store::Writer::open(&database, deal_store::StoreOptions::default()).unwrap();
        for key in [
            "pause",
            "incidents",
            "quota",
            "heartbeat:analysis",
            "discovery.note",
        ] {
            writer.set_state(key, "{}", now).unwrap();
        }
    }
    let database_text = database.to_str().expect("utf-8");
    let (stdout, _) = check(
        &run("flush", &["all", "--yes", "--database", database_text]),
        0,
    );
    assert_eq!(stdout.matches("done: delete").count(), 4, "{stdout}");
    for key in ["pause", "incidents", "quota", "heartbeat:analysis"] {
        assert_eq!(state(&database, key), None, "{key}");
    }
    assert_eq!(state(&database, "discovery.note").as_deref(), Some("{}"));
}
