//! keepa-client's integration tests: conformance over real Keepa samples, contract tests
//! against the simulator in-process (paused clock) and over HTTP, and the secrecy of the key.

mod conformance;
mod contract;
mod faults;
mod http;
mod secrets;
mod support;
