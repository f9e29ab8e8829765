//! What xtask needs to know about the workspace: where it is, where build output goes, and
//! which crates have library and bench targets (from `cargo metadata --no-deps`).
//!
//! It reads the workspace's description; it does not build anything.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::process;

/// The workspace root: the nearest directory at or above the current one that holds this
/// workspace's manifest and `xtask/`, else the parent of xtask's own manifest directory.
///
/// `cargo xtask` runs where it was typed, so the current directory names the checkout the
/// user meant. xtask's compile-time path is only a fallback: with a `CARGO_TARGET_DIR` shared
/// by several checkouts (git worktrees), the one `xtask` binary in it may have been built from
/// another checkout, and would otherwise test that one.
pub(crate) fn workspace_root() -> &'static Path {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let is_root = |dir: &Path| {
            dir.join("xtask").join("Cargo.toml").is_file()
                && std::fs::read_to_string(dir.join("Cargo.toml"))
                    .is_ok_and(|manifest| manifest.contains("[workspace]"))
        };
        std::env::current_dir()
            .ok()
            .and_then(|dir| {
                dir.ancestors()
                    .find(|dir| is_root(dir))
                    .map(Path::to_path_buf)
            })
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .parent()
                    .expect("xtask lives one level below the workspace root")
                    .to_path_buf()
            })
    })
}

/// The workspace as `cargo metadata --no-deps` describes it.
#[derive(Debug)]
pub(crate) struct Workspace {
    metadata: Value,
}

/// Whether a crate has a given `[[bench]]` target.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BenchLookup {
    Found,
    NoSuchCrate,
    NoSuchBench,
}

impl Workspace {
    /// Runs `cargo metadata --no-deps` and keeps its answer.
    pub(crate) fn load() -> Result<Workspace> {
        let text = process::output_text(process::cargo().args(["metadata", "--no-deps", "--format-version", "1"]))
            .context("could not read the workspace layout; does `cargo metadata` work in the workspace root?")?;
        Workspace::from_json(&text)
    }

    fn from_json(text: &str) -> Result<Workspace> {
        let metadata = serde_json::from_str(text)
            .context("`cargo metadata` printed something that is not JSON")?;
        Ok(Workspace { metadata })
    }

    /// `target/xtask` (under the configured target directory), created if missing: logs and
    /// collected benchmark figures go there.
    pub(crate) fn xtask_dir(&self) -> Result<PathBuf> {
        let target = self
            .metadata
            .get("target_directory")
            .and_then(Value::as_str)
            .map_or_else(|| workspace_root().join("target"), PathBuf::from);
        let dir = target.join("xtask");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        Ok(dir)
    }

    /// Whether any workspace crate has a library target (and so possibly doctests).
    pub(crate) fn has_library(&self) -> bool {
        self.targets().any(|(_, kinds, _)| kinds.contains(&"lib"))
    }

    /// Whether crate `package` has a bench target called `bench`.
    pub(crate) fn find_bench(&self, package: &str, bench: &str) -> BenchLookup {
        if !self
            .packages()
            .any(|p| p.get("name").and_then(Value::as_str) == Some(package))
        {
            return BenchLookup::NoSuchCrate;
        }
        let found = self.targets().any(|(owner, kinds, name)| {
            owner == package && name == bench && kinds.contains(&"bench")
        });
        if found {
            BenchLookup::Found
        } else {
            BenchLookup::NoSuchBench
        }
    }

    fn packages(&self) -> impl Iterator<Item = &Value> {
        self.metadata
            .get("packages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    }

    /// (package name, target kinds, target name) for every target of every workspace crate.
    fn targets(&self) -> impl Iterator<Item = (&str, Vec<&str>, &str)> {
        self.packages().flat_map(|package| {
            let package_name = package
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            package
                .get("targets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(move |target| {
                    let kinds = target
                        .get("kind")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    let name = target
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    (package_name, kinds, name)
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = r#"{
        "packages": [
            {"name": "token-bucket", "targets": [
                {"name": "token_bucket", "kind": ["lib"]},
                {"name": "bucket", "kind": ["bench"]},
                {"name": "it", "kind": ["test"]}
            ]},
            {"name": "xtask", "targets": [{"name": "xtask", "kind": ["bin"]}]}
        ],
        "target_directory": "/somewhere/target"
    }"#;

    #[track_caller]
    fn check_bench(package: &str, bench: &str, expected: BenchLookup) {
        let workspace = Workspace::from_json(METADATA).unwrap();
        assert_eq!(
            workspace.find_bench(package, bench),
            expected,
            "{package}/{bench}"
        );
    }

    #[test]
    fn benches_are_found_by_crate_and_target_name() {
        check_bench("token-bucket", "bucket", BenchLookup::Found);
        check_bench("token-bucket", "it", BenchLookup::NoSuchBench);
        check_bench("token-bucket", "decode", BenchLookup::NoSuchBench);
        check_bench("deal-store", "store", BenchLookup::NoSuchCrate);
    }

    #[test]
    fn a_workspace_of_binaries_has_no_library() {
        let only_binaries =
            r#"{"packages": [{"name": "xtask", "targets": [{"name": "xtask", "kind": ["bin"]}]}]}"#;
        assert!(!Workspace::from_json(only_binaries).unwrap().has_library());
        assert!(Workspace::from_json(METADATA).unwrap().has_library());
    }

    #[test]
    fn the_workspace_root_holds_the_root_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(workspace_root().join("xtask").is_dir());
    }
}
