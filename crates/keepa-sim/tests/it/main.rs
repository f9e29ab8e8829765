//! Integration tests for keepa-sim: one binary, one module per concern.

fn main() {}
