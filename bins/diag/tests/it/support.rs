//! What the `diag` tests share: running the built binary with the deployment's environment
//! removed, checking its exit code (and that nothing panicked), and temporary databases.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `diag` with `arguments`, without the developer's key, Redis URL or colours.
pub(crate) fn diag(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diag"))
        .args(arguments)
        .env_remove("KEEPA_API_KEY")
        .env_remove("KEEPA_DEALS_REDIS_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("diag runs")
}

pub(crate) use testkit::binaries::{assert_check_says, check_exit as check, json_check, now_ms};

/// A new, migrated database `deals.sqlite` in `directory`, as a `--database` argument.
pub(crate) fn temp_database(directory: &Path) -> String {
    let path = directory.join("deals.sqlite");
    deal_store::Writer::open(&path, deal_store::StoreOptions::default()).expect("a new store");
    path.to_str().expect("a utf-8 path").to_owned()
}

/// `diag --json`'s report, parsed.
#[track_caller]
pub(crate) fn json_report(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|error| panic!("json on stdout ({error}): {stdout}"))
}
