//! The token bucket's integration tests: one binary, one module per concern.

mod acceptance;
#[cfg(feature = "redis")]
mod backends;
mod properties;
#[cfg(feature = "redis")]
mod redis;
mod waiting;
