//! Export of a snapshot: one JSON file per object, exactly as Graph returned it, at
//! `<out>/<kind>/<object-id>.json` (kind = the Graph collection name), optionally with the
//! relationships, into a directory or a zip file.

use std::io::Write;
use std::path::Path;

use dirvault_model::ObjectKind;
use dirvault_store::{Repository, Snapshot};

use crate::{Error, Result};

/// What was exported.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportReport {
    /// Object files written.
    pub objects: u64,
    /// Relationship files written.
    pub relationship_files: u64,
}

fn io(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Export {
        path: path.to_owned(),
        source: Box::new(e),
    }
}

/// A sink for exported files.
enum Sink {
    Dir(std::path::PathBuf),
    Zip(Box<zip::ZipWriter<std::fs::File>>, std::path::PathBuf),
}

impl Sink {
    fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        match self {
            Sink::Dir(root) => {
                let path = root.join(name);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
                }
                std::fs::write(&path, bytes).map_err(|e| io(&path, e))
            }
            Sink::Zip(zip, path) => {
                let options = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated);
                zip.start_file(name, options).map_err(|e| io(path, e))?;
                zip.write_all(bytes).map_err(|e| io(path, e))
            }
        }
    }
}

/// Exports `snapshot` into `out` (a directory, or a `.zip` file when `zip` is set).
///
/// # Errors
/// Store errors reading the snapshot; [`Error::Export`] writing files.
pub async fn export(
    repo: &Repository,
    snapshot: &Snapshot,
    out: &Path,
    zip: bool,
    with_relationships: bool,
) -> Result<ExportReport> {
    export_selection(
        repo,
        snapshot,
        out,
        zip,
        with_relationships,
        &Selection::default(),
    )
    .await
}

/// Which objects an export holds: kinds (every kind when empty) and ids (every object when
/// `None`; `Some` of no id selects nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only these kinds.
    pub kinds: Vec<ObjectKind>,
    /// Only these objects (of any kind).
    pub ids: Option<Vec<dirvault_model::ObjectId>>,
}

/// [`export`] of a selection; relationships are those touching a selected object.
///
/// # Errors
/// As [`export`].
pub async fn export_selection(
    repo: &Repository,
    snapshot: &Snapshot,
    out: &Path,
    zip: bool,
    with_relationships: bool,
    selection: &Selection,
) -> Result<ExportReport> {
    let mut sink = if zip {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let file = std::fs::File::create(out).map_err(|e| io(out, e))?;
        Sink::Zip(Box::new(zip::ZipWriter::new(file)), out.to_owned())
    } else {
        std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
        Sink::Dir(out.to_owned())
    };
    let mut report = ExportReport::default();
    let ids: Option<std::collections::BTreeSet<&dirvault_model::ObjectId>> =
        selection.ids.as_ref().map(|ids| ids.iter().collect());
    for kind in ObjectKind::ALL {
        if !selection.kinds.is_empty() && !selection.kinds.contains(&kind) {
            continue;
        }
        for object in repo.objects(snapshot, kind).await? {
            if ids.as_ref().is_some_and(|ids| !ids.contains(object.id())) {
                continue;
            }
            let bytes = serde_json::to_vec_pretty(object.raw()).unwrap_or_default();
            sink.write(
                &format!("{}/{}.json", kind.name(), file_stem(object.id().as_str())),
                &bytes,
            )?;
            report.objects += 1;
        }
    }
    if with_relationships {
        let mut by_kind: std::collections::BTreeMap<String, Vec<dirvault_model::Relationship>> =
            std::collections::BTreeMap::new();
        for rel in repo.relationships(snapshot).await? {
            if ids
                .as_ref()
                .is_some_and(|ids| !rel.referenced_ids().iter().any(|id| ids.contains(id)))
            {
                continue;
            }
            let name = serde_json::to_value(rel.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            by_kind.entry(name).or_default().push(rel);
        }
        for (name, rels) in by_kind {
            sink.write(
                &format!("relationships/{name}.json"),
                &serde_json::to_vec_pretty(&rels).unwrap_or_default(),
            )?;
            report.relationship_files += 1;
        }
    }
    if let Sink::Zip(zip, path) = sink {
        zip.finish().map_err(|e| io(&path, e))?;
    }
    Ok(report)
}

/// The file name (without `.json`) an object id is exported under. Graph's ids are letters,
/// digits, `-`, `_` and `.`, and are written as they are; any other byte is percent-encoded,
/// so that no id names a parent folder (`..`, `..\\` on Windows), a hidden file or a path
/// outside the export, and a very long one is cut and suffixed with its hash to fit a file
/// name.
pub(crate) fn file_stem(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for (i, b) in id.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // File names are at most 255 bytes; `.json` and the hash suffix fit beside 200.
    if out.len() > 200 {
        out.truncate(200);
        out.push_str(&format!("-{:016x}", dirvault_model::fnv1a(id.as_bytes())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::file_stem;

    // Regression: zip entries could hold `..\` sequences, and a 300-character id aborted a
    // directory export halfway.
    #[test]
    fn export_file_names_stay_inside_their_folder_and_fit() {
        assert_eq!(
            file_stem("6e7b768e-07e2-4810-8459-485f84f8f204"),
            "6e7b768e-07e2-4810-8459-485f84f8f204"
        );
        assert_eq!(file_stem("lAPpYvVp_R-1.x"), "lAPpYvVp_R-1.x");
        for hostile in ["..", "..\\..\\evil", ".hidden", "a/../b", "a:b", "CON\u{0}"] {
            let stem = file_stem(hostile);
            assert!(!stem.starts_with('.'), "{hostile}: {stem}");
            assert!(
                !stem.contains(['/', '\\', ':', '\u{0}']),
                "{hostile}: {stem}"
            );
        }
        let long = file_stem(&"x".repeat(10_000));
        assert!(long.len() + ".json".len() <= 255, "{}", long.len());
        assert_ne!(file_stem(&"x".repeat(300)), file_stem(&"x".repeat(301)));
    }
}
