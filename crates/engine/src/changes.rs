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
    // Consecutive snapshots of one repository: each kind's changeset, written against the
    // parent, is the change (one blob, where comparing manifests reads every chunk holding
    // an object the chains name: all of them at L1M after 1% churn).
    let consecutive = std::ptr::eq(old_repo, new_repo)
        && old.tenant == new.tenant
        && new.parent.as_ref() == Some(&old.id);
    for kind in ObjectKind::ALL {
        if consecutive && let Some(changes) = since_parent(new_repo, old, new, kind).await? {
            if !changes.is_empty() {
                out.insert(kind, changes);
            }
            continue;
        }
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

/// The changes of `kind` from `old` to `new`, its child, from `new`'s changeset; `None` when
/// its manifest differs from the parent's but it records no changeset (then manifests are
/// compared).
async fn since_parent(
    repo: &Repository,
    old: &Snapshot,
    new: &Snapshot,
    kind: ObjectKind,
) -> Result<Option<KindChanges>> {
    let (Some(a), Some(b)) = (old.kinds.get(&kind), new.kinds.get(&kind)) else {
        return Ok(None);
    };
    if a.same_manifest(b) {
        return Ok(Some(KindChanges::default()));
    }
    let Some(changeset) = repo.changeset(new, kind).await? else {
        return Ok(None);
    };
    let listed = |mut entries: Vec<ManifestEntry>| -> Vec<Changed> {
        entries.sort_by(|x, y| x.id.cmp(&y.id));
        entries
            .into_iter()
            .map(|e| changed(Some(&e), e.id.clone()))
            .collect()
    };
    Ok(Some(KindChanges {
        created: listed(changeset.created),
        modified: listed(changeset.modified),
        deleted: listed(changeset.deleted),
    }))
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use dirvault_model::{DirectoryObject, TenantId};

    fn user(i: u32, version: u32) -> DirectoryObject {
        DirectoryObject::from_graph(
            ObjectKind::Users,
            serde_json::json!({"id": format!("u{i:03}"), "displayName": format!("User {i} v{version}"),
                               "userPrincipalName": format!("u{i}@contoso.com")}),
        )
        .unwrap()
    }

    /// A child's changesets give what comparing the two manifests gives (through a second
    /// handle on the same repository, which takes the comparing path), across a chain and
    /// its rebase, for creations, changes, deletions and a kind that did not change.
    #[tokio::test]
    async fn consecutive_snapshots_change_as_their_manifests_do() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().to_str().unwrap();
        let repo = Repository::open(url).unwrap();
        let other = Repository::open(url).unwrap();
        let tenant: TenantId = "5f1c2d3e-0000-4000-8000-0000000000ce".parse().unwrap();
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let mut state: BTreeMap<u32, u32> = (0..60).map(|i| (i, 0)).collect();
        let mut snapshots: Vec<Snapshot> = Vec::new();
        for step in 0..40u32 {
            if step > 0 {
                // A few changes a step: some users changed, one deleted, one new.
                for i in [step % 60, (step * 7) % 60] {
                    if let Some(v) = state.get_mut(&i) {
                        *v += 1;
                    }
                }
                state.remove(&((step * 13) % 60));
                state.insert(60 + step, 0);
            }
            let parent = snapshots.last().map(|s| s.id.clone());
            let mut w = repo
                .begin(&tenant, start + Duration::hours(i64::from(step)), parent)
                .await
                .unwrap();
            let users: Vec<DirectoryObject> = state.iter().map(|(i, v)| user(*i, *v)).collect();
            w.add_objects(&users).await.unwrap();
            snapshots.push(w.commit().await.unwrap().0);
        }
        let mut changed = 0;
        for pair in snapshots.windows(2) {
            let fast = changes(&repo, &pair[0], &pair[1]).await.unwrap();
            let compared = changes_between((&repo, &pair[0]), (&other, &pair[1]))
                .await
                .unwrap();
            assert_eq!(fast, compared, "{} -> {}", pair[0].id, pair[1].id);
            changed += fast.get(&ObjectKind::Users).map_or(0, |c| c.modified.len());
        }
        assert!(changed > 40, "{changed}");
        assert!(
            changes(&repo, &snapshots[5], &snapshots[5])
                .await
                .unwrap()
                .is_empty()
        );
    }
}
