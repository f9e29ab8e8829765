//! The worker's library: configuration, the instance lock, and (as they land) the ingestion
//! tasks and the HTTP API. `bins/worker` only parses its command line into a
//! [`config::WorkerConfig`] and calls into this crate.

pub mod analysis;
pub mod api;
pub mod config;
pub mod discovery;
pub mod lock;
pub mod metrics;
pub mod run;
pub mod worker;
