//! Integration tests of deal-filters (one binary, modules per feature).
