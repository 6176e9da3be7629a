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

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Export(format!("{}: {e}", path.display()))
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

/// Which objects an export holds: kinds and ids (everything when both are empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only these kinds.
    pub kinds: Vec<ObjectKind>,
    /// Only these objects (of any kind).
    pub ids: Vec<dirvault_model::ObjectId>,
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
    let ids: std::collections::BTreeSet<&dirvault_model::ObjectId> = selection.ids.iter().collect();
    for kind in ObjectKind::ALL {
        if !selection.kinds.is_empty() && !selection.kinds.contains(&kind) {
            continue;
        }
        for object in repo.objects(snapshot, kind).await? {
            if !ids.is_empty() && !ids.contains(object.id()) {
                continue;
            }
            let bytes = serde_json::to_vec_pretty(object.raw()).unwrap_or_default();
            sink.write(&format!("{}/{}.json", kind.name(), object.id()), &bytes)?;
            report.objects += 1;
        }
    }
    if with_relationships {
        let mut by_kind: std::collections::BTreeMap<String, Vec<dirvault_model::Relationship>> =
            std::collections::BTreeMap::new();
        for rel in repo.relationships(snapshot).await? {
            if !ids.is_empty() && !rel.referenced_ids().iter().any(|id| ids.contains(id)) {
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
