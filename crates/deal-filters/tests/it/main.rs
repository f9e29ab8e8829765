//! Integration tests of deal-filters: one binary, one module per feature.

mod acceptance;
mod golden;
mod properties;
mod purity;
mod support;
