//! One object's versions across a tenant's snapshots: decided from the snapshot records where
//! they can be (the kind unchanged, or its changeset's filter certainly not naming the object),
//! and read where they cannot — those reads (a changeset each, or a manifest lookup) made
//! together, not one after the other.

use futures::{StreamExt, TryStreamExt};

use super::*;

/// Reads of changesets or manifests in flight at once for one object's versions: at L1M a
/// changeset is 10k entries (7–12 ms to read); over 730 snapshots about 1% of the filters
/// say "maybe" falsely, on top of the object's own changes.
const READS_AT_ONCE: usize = 8;

/// What a snapshot's record says of one object's entry, before anything is read.
enum Step<'a> {
    /// The snapshot has no such kind.
    Absent,
    /// The same as in the snapshot before (its parent).
    AsBefore,
    /// Its changeset against the parent may name the object.
    Changes(&'a BlobId, Option<&'a BlobLocation>),
    /// Only its manifest can tell.
    Lookup,
}

/// What a read found.
enum Found {
    /// The changeset names the object: its entry, or `None` (deleted).
    Named(Option<ManifestEntry>),
    /// The changeset does not name it after all (its filter's false positive).
    NotNamed,
}

impl Repository {
    /// Every version of one object across the tenant's snapshots, oldest first: `None` where
    /// the snapshot does not hold it. Format 2 snapshots are answered from their changesets
    /// (one small blob each, and none at all for an unchanged kind) instead of manifests.
    ///
    /// # Errors
    /// Store errors.
    pub async fn versions(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        id: &dirvault_model::ObjectId,
    ) -> Result<Vec<(Snapshot, Option<ManifestEntry>)>> {
        let snapshots = self.snapshots(tenant).await?;
        let steps: Vec<Step<'_>> = snapshots
            .iter()
            .enumerate()
            .map(|(i, snapshot)| {
                let parent = i
                    .checked_sub(1)
                    .and_then(|p| snapshots.get(p))
                    .filter(|p| snapshot.parent.as_ref() == Some(&p.id));
                step(parent, snapshot, kind, id)
            })
            .collect();
        // The reads, made together; their futures are made first (a stream mapping with a
        // closure across the await would make callers' futures not `Send`).
        let reads: Vec<_> = steps
            .iter()
            .zip(&snapshots)
            .filter(|(step, _)| matches!(step, Step::Changes(..) | Step::Lookup))
            .map(|(step, snapshot)| self.read_step(step, snapshot, kind, id))
            .collect();
        let mut found = futures::stream::iter(reads)
            .buffered(READS_AT_ONCE)
            .try_collect::<Vec<Found>>()
            .await?
            .into_iter();
        let mut out: Vec<(Snapshot, Option<ManifestEntry>)> = Vec::with_capacity(steps.len());
        let mut before: Option<ManifestEntry> = None;
        for (step, snapshot) in steps.iter().zip(&snapshots) {
            let current = match step {
                Step::Absent => None,
                Step::AsBefore => before.clone(),
                Step::Changes(..) | Step::Lookup => match found.next() {
                    Some(Found::Named(entry)) => entry,
                    Some(Found::NotNamed) | None => before.clone(),
                },
            };
            before.clone_from(&current);
            out.push((snapshot.clone(), current));
        }
        Ok(out)
    }

    /// Reads what a [`Step::Changes`] or [`Step::Lookup`] needs.
    async fn read_step(
        &self,
        step: &Step<'_>,
        snapshot: &Snapshot,
        kind: ObjectKind,
        id: &dirvault_model::ObjectId,
    ) -> Result<Found> {
        let Step::Changes(blob, at) = step else {
            return Ok(Found::Named(self.entry(snapshot, kind, id).await?));
        };
        let bytes = self.blob_bytes_at(&snapshot.tenant, blob, *at).await?;
        let changes = changeset_naming(&bytes, blob, id)?;
        Ok(
            match changes
                .created
                .iter()
                .chain(&changes.modified)
                .find(|e| &e.id == id)
            {
                Some(e) => Found::Named(Some(e.clone())),
                None if changes.deleted.iter().any(|e| &e.id == id) => Found::Named(None),
                None => Found::NotNamed,
            },
        )
    }
}

/// What `snapshot`'s record says of object `id`, knowing its `parent`'s (the snapshot before
/// it, when that is its parent).
fn step<'a>(
    parent: Option<&Snapshot>,
    snapshot: &'a Snapshot,
    kind: ObjectKind,
    id: &dirvault_model::ObjectId,
) -> Step<'a> {
    let Some(record) = snapshot.kinds.get(&kind) else {
        return Step::Absent;
    };
    let before = match parent {
        Some(p) if record.index.is_some() => p.kinds.get(&kind),
        _ => return Step::Lookup,
    };
    if before.is_some_and(|b| b.same_manifest(record)) {
        return Step::AsBefore;
    }
    if record.changes.is_none() && before.is_some_and(|b| b.index.is_some()) {
        // Format 2 writes a changeset whenever the index changes; none means the kind was
        // carried over as it was.
        return Step::AsBefore;
    }
    if record
        .changes_filter
        .as_ref()
        .is_some_and(|f| !f.may_contain(id.as_str()))
    {
        // The changeset certainly does not name it.
        return Step::AsBefore;
    }
    match &record.changes {
        Some(blob) => Step::Changes(blob, record.changes_at.as_ref()),
        None => Step::Lookup,
    }
}
