//! Bad input to every binary — unknown flags, malformed URLs, an unreadable configuration or
//! database — gives a clear message on stderr and exit code 2 or 3, never a panic.

use crate::support::{check, run};

#[track_caller]
fn refused(binary: &str, arguments: &[&str], expected_code: i32, says: &str) {
    let (_, stderr) = check(&run(binary, arguments), expected_code);
    assert!(
        stderr.to_lowercase().contains(&says.to_lowercase()),
        "{binary} {arguments:?} should say {says:?}: {stderr}"
    );
}

#[test]
fn unknown_flags_exit_2_with_clap_s_message() {
    refused("worker", &["--no-such-flag"], 2, "unexpected argument");
    refused(
        "flush",
        &["leases", "--no-such-flag"],
        2,
        "unexpected argument",
    );
    refused("flush", &["obliterate"], 2, "unrecognized subcommand");
    refused("flush", &["pause"], 2, "required");
    refused(
        "flush",
        &["pause", "--set", "x", "--clear"],
        2,
        "cannot be used with",
    );
    refused("watchdog", &["--no-such-flag"], 2, "unexpected argument");
    refused("watchdog", &["--grace", "soon"], 2, "expected seconds");
}

#[test]
fn malformed_redis_urls_are_refused_without_echoing_them() {
    let url = "redis://:hunter2@[not-a-host/";
    refused(
        "worker",
        &["--simulate", "--redis-url", "http://hunter2@x/"],
        2,
        "not a redis url",
    );
    // A redis:// url that does not parse is a configuration error too, caught before start.
    refused(
        "worker",
        &["--simulate", "--redis-url", url],
        2,
        "not a valid redis url",
    );
    let output = run("worker", &["--simulate", "--redis-url", url]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    refused(
        "flush",
        &["leases", "--redis-url", url],
        2,
        "redis url is not valid",
    );
    refused(
        "watchdog",
        &["--redis-url", url, "--restart-cmd", "true"],
        3,
        "redis url is not valid",
    );
    for arguments in [
        ["leases", "--redis-url", url],
        ["--dry-run", "--redis-url", url],
    ] {
        let binary = if arguments[0] == "leases" {
            "flush"
        } else {
            "watchdog"
        };
        let output = run(binary, &arguments);
        assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"));
        assert!(!String::from_utf8_lossy(&output.stdout).contains("hunter2"));
    }
}

#[test]
fn an_empty_key_prefix_is_refused() {
    refused(
        "flush",
        &[
            "all",
            "--redis-url",
            "redis://127.0.0.1:1/",
            "--key-prefix",
            "",
        ],
        2,
        "prefix is empty",
    );
}

#[test]
fn an_unreachable_redis_is_unknown_not_a_hang_or_a_panic() {
    refused(
        "flush",
        &["all", "--redis-url", "redis://127.0.0.1:1/"],
        3,
        "unreachable",
    );
    refused(
        "watchdog",
        &["--redis-url", "redis://127.0.0.1:1/", "--dry-run"],
        3,
        "unreachable",
    );
}

#[test]
fn unreadable_configuration_and_databases_are_named() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let missing = directory.path().join("missing.toml");
    let missing_text = missing.to_str().expect("utf-8");
    refused(
        "worker",
        &["--simulate", "--config", missing_text],
        2,
        "missing.toml",
    );
    let garbage = directory.path().join("garbage.toml");
    std::fs::write(&garbage, "this is = = not toml").expect("written");
    refused(
        "worker",
        &["--simulate", "--config", garbage.to_str().expect("utf-8")],
        2,
        "garbage.toml",
    );
    let no_database = directory.path().join("none.sqlite");
    let no_database_text = no_database.to_str().expect("utf-8");
    refused(
        "watchdog",
        &["--database", no_database_text],
        3,
        "no database at",
    );
    refused(
        "flush",
        &["pause", "--clear", "--database", no_database_text],
        3,
        "no database at",
    );
    // A directory where the database should be.
    let directory_text = directory.path().to_str().expect("utf-8");
    refused("watchdog", &["--database", directory_text], 3, "not a file");
    // A file that is not a database.
    let not_sqlite = directory.path().join("notes.txt");
    std::fs::write(&not_sqlite, "hello, not sqlite").expect("written");
    let (_, stderr) = check(
        &run(
            "flush",
            &["tokens", "--database", not_sqlite.to_str().expect("utf-8")],
        ),
        3,
    );
    assert!(!stderr.is_empty());
    assert!(
        !directory.path().join("missing.sqlite").exists(),
        "nothing was created"
    );
    assert!(!no_database.exists(), "the tools never create a database");
}

#[test]
fn the_watchdog_in_the_fleet_tier_needs_a_restart_command() {
    refused(
        "watchdog",
        &["--redis-url", "redis://127.0.0.1:1/"],
        3,
        "needs --restart-cmd",
    );
}

#[test]
fn help_documents_the_exit_codes() {
    let (stdout, _) = check(&run("flush", &["--help"]), 0);
    assert!(
        stdout.contains("REFUSED") && stdout.contains("never sends FLUSHALL"),
        "{stdout}"
    );
    let (stdout, _) = check(&run("watchdog", &["--help"]), 0);
    assert!(
        stdout.contains("CRITICAL") && stdout.contains("UNKNOWN"),
        "{stdout}"
    );
}
