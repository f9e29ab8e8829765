//! The pipeline crate's integration tests, one binary with a module per area.

mod api;
mod pipeline;
