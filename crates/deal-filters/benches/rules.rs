//! Placeholder replaced by the rules benchmark.
fn main() {}
