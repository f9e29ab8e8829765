//! The worker binary as a user runs it: the README's `cargo run -p worker -- --simulate`.

mod smoke;
