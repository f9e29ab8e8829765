//! The token bucket's integration tests: one binary, one module per concern.

mod acceptance;
mod properties;
mod waiting;
#[cfg(feature = "redis")]
mod backends;
#[cfg(feature = "redis")]
mod redis;
