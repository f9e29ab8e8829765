//! Integration tests of diagnostics: every check's status boundaries (pure), the JSON schema
//! snapshot, gathering from real and broken databases, and from a real, a dead and a restarted
//! Redis.

mod checks;
mod gather_redis;
mod gather_store;
mod json;
mod redis_restart;
mod support;
