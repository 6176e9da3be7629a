//! What changed between two snapshots, from their manifests alone (no object is read): the
//! summary a backup prints. Attribute-level diffs are the diff crate's job.

use std::collections::BTreeMap;

use dirvault_model::{ObjectId, ObjectKind};
use dirvault_store::{ManifestEntry, Repository, Snapshot};
use serde::Serialize;

use crate::Result;

/// One object in a change list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    /// Its id.
    pub id: ObjectId,
    /// Its name, when it has one.
    pub name: Option<String>,
}

/// Changes of one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindChanges {
    /// Objects only in the newer snapshot.
    pub created: Vec<Changed>,
    /// Objects whose version differs.
    pub modified: Vec<Changed>,
    /// Objects only in the older snapshot.
    pub deleted: Vec<Changed>,
}

impl KindChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.modified.is_empty() && self.deleted.is_empty()
    }
}

fn changed(entry: Option<&ManifestEntry>, id: ObjectId) -> Changed {
    Changed {
        name: entry.and_then(|e| e.name.as_deref().map(str::to_owned)),
        id,
    }
}

/// Created, modified and deleted objects per kind between `old` and `new`; kinds without
/// changes are left out.
///
/// # Errors
/// Store errors reading manifests.
pub async fn changes(
    repo: &Repository,
    old: &Snapshot,
    new: &Snapshot,
) -> Result<BTreeMap<ObjectKind, KindChanges>> {
    changes_between((repo, old), (repo, new)).await
}

/// Like [`changes`], for snapshots in two repositories: object versions are content hashes,
/// so they compare across repositories (how a snapshot is compared with the live tenant).
///
/// # Errors
/// Store errors reading manifests.
pub async fn changes_between(
    (old_repo, old): (&Repository, &Snapshot),
    (new_repo, new): (&Repository, &Snapshot),
) -> Result<BTreeMap<ObjectKind, KindChanges>> {
    let mut out = BTreeMap::new();
    for kind in ObjectKind::ALL {
        let (before, after) =
            dirvault_store::differing_entries((old_repo, old), (new_repo, new), kind).await?;
        let diff = dirvault_diff::diff_versions(
            before.iter().map(|e| (e.id.clone(), e.blob)),
            after.iter().map(|e| (e.id.clone(), e.blob)),
        );
        if diff.is_empty() {
            continue;
        }
        let names: BTreeMap<&ObjectId, &ManifestEntry> = before
            .iter()
            .chain(after.iter())
            .map(|e| (&e.id, e))
            .collect();
        let named = |ids: Vec<ObjectId>| -> Vec<Changed> {
            ids.into_iter()
                .map(|id| changed(names.get(&id).copied(), id))
                .collect()
        };
        out.insert(
            kind,
            KindChanges {
                created: named(diff.created),
                modified: named(diff.modified),
                deleted: named(diff.deleted),
            },
        );
    }
    Ok(out)
}

/// Narrows changes to one kind and/or to deletions (`diff --kind`, `--deleted-only`).
pub fn narrow(
    changes: &mut BTreeMap<ObjectKind, KindChanges>,
    kind: Option<ObjectKind>,
    deleted_only: bool,
) {
    if let Some(k) = kind {
        changes.retain(|c, _| *c == k);
    }
    if deleted_only {
        for c in changes.values_mut() {
            c.created.clear();
            c.modified.clear();
        }
        changes.retain(|_, c| !c.deleted.is_empty());
    }
}

/// The tenant as it is now: a backup into a repository in memory, to compare a snapshot with
/// (drift). Only `kinds` are read (all when empty); `ids` is how the compared repository makes
/// the tenant's content ids ([`Repository::content_ids`]).
///
/// # Errors
/// As [`crate::backup`].
pub async fn live(
    client: &dirvault_graph::GraphClient,
    kinds: &[ObjectKind],
    ids: dirvault_store::ContentIds,
) -> Result<(Repository, Snapshot)> {
    // Its content ids are made as the compared repository's (keyed when it is encrypted).
    let repo = Repository::from(dirvault_store::ObjectSnapshotStore::scratch_like(ids));
    let options = crate::BackupOptions {
        kinds: kinds.to_vec(),
        owner: "dirvault-drift".into(),
        ..crate::BackupOptions::default()
    };
    let report = crate::backup(client, &repo, &options, chrono::Utc::now(), &|_| {}).await?;
    Ok((repo, report.snapshot))
}
