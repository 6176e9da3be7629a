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
        let (before, after) = differing_entries((old_repo, old), (new_repo, new), kind).await?;
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

/// The manifest entries of a kind in two snapshots, leaving out the chunks both share (a
/// chunk's blob id is its content, so a shared chunk holds the same entries on both sides and
/// cannot hold a difference): diffing two large snapshots reads only what differs.
async fn differing_entries(
    (old_repo, old): (&Repository, &Snapshot),
    (new_repo, new): (&Repository, &Snapshot),
    kind: ObjectKind,
) -> Result<(Vec<ManifestEntry>, Vec<ManifestEntry>)> {
    let (Some(a), Some(b)) = (old.kinds.get(&kind), new.kinds.get(&kind)) else {
        return Ok((
            old_repo.manifest(old, kind).await?,
            new_repo.manifest(new, kind).await?,
        ));
    };
    if a.index.is_some() && a.index == b.index {
        return Ok((Vec::new(), Vec::new()));
    }
    let a_chunks = old_repo.manifest_chunks(&old.tenant, a).await?;
    let b_chunks = new_repo.manifest_chunks(&new.tenant, b).await?;
    let a_ids: std::collections::HashSet<_> = a_chunks.iter().map(|c| c.blob).collect();
    let b_ids: std::collections::HashSet<_> = b_chunks.iter().map(|c| c.blob).collect();
    let before = entries_outside(old_repo, &old.tenant, a_chunks, &b_ids).await?;
    let after = entries_outside(new_repo, &new.tenant, b_chunks, &a_ids).await?;
    Ok((before, after))
}

/// The entries of the chunks that are not in `shared`.
async fn entries_outside(
    repo: &Repository,
    tenant: &dirvault_model::TenantId,
    chunks: Vec<dirvault_store::ChunkRef>,
    shared: &std::collections::HashSet<dirvault_store::BlobId>,
) -> Result<Vec<ManifestEntry>> {
    let wanted: Vec<dirvault_store::ChunkRef> = chunks
        .into_iter()
        .filter(|c| !shared.contains(&c.blob))
        .collect();
    Ok(repo.chunk_entries(tenant, &wanted).await?)
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
/// (drift). Only `kinds` are read (all when empty).
///
/// # Errors
/// As [`crate::backup`].
pub async fn live(
    client: &dirvault_graph::GraphClient,
    kinds: &[ObjectKind],
) -> Result<(Repository, Snapshot)> {
    let repo = Repository::open("memory://")?;
    let options = crate::BackupOptions {
        kinds: kinds.to_vec(),
        owner: "dirvault-drift".into(),
        ..crate::BackupOptions::default()
    };
    let report = crate::backup(client, &repo, &options, chrono::Utc::now(), &|_| {}).await?;
    Ok((repo, report.snapshot))
}
