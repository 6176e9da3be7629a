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

fn changed(e: &ManifestEntry) -> Changed {
    Changed {
        id: e.id.clone(),
        name: e.name.clone(),
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
    let mut out = BTreeMap::new();
    for kind in ObjectKind::ALL {
        let before: BTreeMap<ObjectId, ManifestEntry> = repo
            .manifest(old, kind)
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        let after = repo.manifest(new, kind).await?;
        let mut c = KindChanges::default();
        let mut seen = std::collections::BTreeSet::new();
        for e in &after {
            seen.insert(e.id.clone());
            match before.get(&e.id) {
                None => c.created.push(changed(e)),
                Some(b) if b.blob != e.blob => c.modified.push(changed(e)),
                Some(_) => {}
            }
        }
        c.deleted = before
            .values()
            .filter(|e| !seen.contains(&e.id))
            .map(changed)
            .collect();
        if !c.is_empty() {
            out.insert(kind, c);
        }
    }
    Ok(out)
}
