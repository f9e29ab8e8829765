//! diagnostics: the health checks of keepa-deals (DESIGN.md §9) over its store, fleet state and
//! quota, gathered into a [`Report`] for a person (aligned text), a machine (JSON, schema in
//! `docs/diagnostics-json.md`) and Nagios (exit code 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
//!
//! # Shape
//!
//! - [`checks`]: one pure function per check — quota, task progress, leases, backlog, stale
//!   deals, deal funnel, API errors, call rates, database, watermark, incidents, pause flag,
//!   instance lock. Each takes observations and `now` and returns a [`CheckResult`]: a
//!   [`Status`], one line of detail, and a remedy naming the command to run.
//! - [`gather`]: the only IO. It reads the database through deal-store's query-only readers,
//!   Redis through fleet and token-bucket (fleet tier), the instance lock through a
//!   [`LockInspector`], and Keepa's `/token` through a [`TokenProbe`] — at most once, and only
//!   when no quota observation younger than [`RECENT_QUOTA_MS`] exists. A source that cannot be
//!   read (an [`Unreadable`]) makes its checks UNKNOWN with the reason and the remedy for that
//!   kind of failure; the report as a whole never fails. History that a restarted Redis lost
//!   (incidents, call counts) is UNKNOWN too, not an empty PASS.
//! - [`render_human`] and [`render_json`].
//! - [`records`]: the state keys and the [`QuotaRecord`] shape the worker writes into the
//!   store for the embedded tier.
//!
//! The worst status decides the exit code, with severity `FAIL > WARN > UNKNOWN > PASS`: a
//! report is UNKNOWN only when nothing is worse.
//!
//! What it does not do: repair anything (flush does), restart anything (the watchdog does), or
//! write to the database. In Redis it only reads, except that the bucket's snapshot script
//! applies due refills like every bucket operation. It never prints the Keepa key or a Redis
//! password.
//!
//! ```
//! use diagnostics::checks::{check_backlog, names};
//! use diagnostics::Status;
//! assert_eq!(check_backlog(&Ok(99)).status, Status::Pass);
//! assert_eq!(check_backlog(&Ok(100)).status, Status::Warn);
//! assert_eq!(check_backlog(&Ok(1000)).status, Status::Fail);
//! assert_eq!(check_backlog(&Ok(5)).name, names::BACKLOG);
//! ```

pub mod checks;
pub mod gather;
pub mod records;
mod render;
mod report;

pub use crate::checks::Unreadable;
pub use crate::gather::{
    ConfigError, LockInspector, NoProbe, Observations, ProbeError, RedisSource, Sources,
    TokenProbe, diagnose, evaluate,
};
pub use crate::records::{QuotaRecord, RECENT_QUOTA_MS};
pub use crate::render::{JSON_SCHEMA_VERSION, render_human, render_json};
pub use crate::report::{CheckResult, Report, Status, exit_code};
