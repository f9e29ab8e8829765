//! The built `diag` binary: its command line and bad input, a database another process holds
//! locked, and the one `/token` call against keepa-sim with a valid and a revoked key.

mod cli;
mod keepa_probe;
mod locked_database;
mod support;
