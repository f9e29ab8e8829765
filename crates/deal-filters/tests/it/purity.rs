//! deal-filters does no IO: its manifest names no async runtime, database or
//! HTTP crate (DESIGN.md §3 invariant).

#[test]
fn manifest_has_no_tokio_sqlite_or_http_dependency() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let dependencies: Vec<&str> = manifest
        .split("\n[")
        .filter(|section| {
            section.starts_with("dependencies]") || section.starts_with("dependencies.")
        })
        .flat_map(|section| section.lines().skip(1))
        .filter_map(|line| line.split(['=', '.']).next())
        .map(str::trim)
        .filter(|name| !name.is_empty() && !name.starts_with('#'))
        .collect();
    assert!(
        dependencies.contains(&"keepa-model"),
        "parsed dependencies: {dependencies:?}"
    );
    for forbidden in [
        "tokio",
        "rusqlite",
        "reqwest",
        "hyper",
        "axum",
        "deal-store",
        "keepa-client",
    ] {
        assert!(
            !dependencies.contains(&forbidden),
            "deal-filters must not depend on {forbidden}"
        );
    }
}
