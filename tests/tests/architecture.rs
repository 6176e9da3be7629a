//! The shape the workspace promises (docs/architecture.md), checked on the source: files about
//! one thing, and the store's format behind its API.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file below `dir`, relative to the workspace root.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let root = root();
    let mut files = Vec::new();
    for top in ["crates", "bins", "tests"] {
        rust_files(&root.join(top), &mut files);
    }
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (name, text)
        })
        .collect()
}

#[test]
fn a_file_over_800_lines_says_why_in_its_header() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| text.lines().count() > 800)
        .filter(|(_, text)| {
            let header: String = text.lines().take(12).collect::<Vec<_>>().join("\n");
            !header.contains("Longer than our ~800-line guide on purpose")
        })
        .map(|(name, text)| format!("{name} ({} lines)", text.lines().count()))
        .collect();
    assert!(
        long.is_empty(),
        "split these, or say why not in their header: {long:?}"
    );
}

#[test]
fn only_the_store_and_benchmarks_reach_under_the_repository() {
    // `Repository::store()` and `dirvault_store::__internal` show the storage format; the
    // engine, restore, the binaries and their tests go through `Repository`.
    let reaching: Vec<String> = sources()
        .into_iter()
        .filter(|(name, _)| !name.starts_with("crates/store/") && !name.contains("/benches/"))
        .filter(|(name, _)| name != "tests/tests/architecture.rs")
        .filter(|(_, text)| text.contains("__internal") || text.contains(".store()"))
        .map(|(name, _)| name)
        .collect();
    assert!(reaching.is_empty(), "{reaching:?}");
}

#[test]
fn the_store_api_names_no_format_type() {
    let lib = std::fs::read_to_string(root().join("crates/store/src/lib.rs")).unwrap();
    let api = &lib[..lib.find("pub mod __internal").expect("the internal module")];
    for format_type in [
        "BlobIndex",
        "BlobLocation",
        "PackInfo",
        "PackIndexFile",
        "SnapshotFile",
        "LeaseRecord",
        "ChainLink",
        "IdFilter",
        "ManifestIndex",
        "ChunkRef",
        "ChangesetFile",
        "RelationshipChangesFile",
        "RepositoryFile",
        "TenantKeyFile",
        "SnapshotStore",
    ] {
        let exported = api
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .any(|l| {
                l.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|w| w == format_type)
            });
        assert!(!exported, "the store's API exports {format_type}");
    }
}

#[test]
fn the_binaries_call_the_facade_not_the_steps_of_a_workflow() {
    // Planning a restore (load the backup, read the tenant, plan), applying one, holding a
    // lease around maintenance and reading the live tenant for a diff are the library's
    // (`dirvault_engine::Vault`): a binary that strings the steps together again is how the
    // CLI and the daemon came to disagree before.
    let steps = [
        "BackupState::load",
        "CurrentState::read",
        "dirvault_restore::plan(",
        "dirvault_restore::apply(",
        "acquire_lease",
        "renew_lease",
        "changes::live(",
    ];
    let found: Vec<String> = sources()
        .into_iter()
        .filter(|(name, _)| name.starts_with("bins/") && name.contains("/src/"))
        .flat_map(|(name, text)| {
            steps
                .iter()
                .filter(|step| text.contains(**step))
                .map(|step| format!("{name}: {step}"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(found.is_empty(), "{found:?}");
}
