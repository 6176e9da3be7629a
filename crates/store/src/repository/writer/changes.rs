//! What an incremental snapshot changed against its parent's base: the entries and
//! relationships in chunks the two do not share, compared as they stream in, and the
//! changeset blob that records them.

use super::*;

impl SnapshotWriter {
    /// How a kind's entries differ from its base (the parent record's index, without its
    /// chain): only the chunks the two do not share are compared (an unchanged stretch is the
    /// same chunk blob in both), as they stream in (both are in id order), a few dozen of the
    /// base's at a time: after 1% churn on a million users nearly every chunk differs, and the
    /// base's entries held at once were about 200 MB of an L1M incremental's commit.
    pub(super) async fn entries_since_base(
        &self,
        base: &KindRecord,
        list: &[ManifestEntry],
        ids: &[BlobId],
        ranges: &[std::ops::Range<usize>],
    ) -> Result<ChangesetFile> {
        const CHUNKS_AT_ONCE: usize = 64;
        let base_chunks = self.repo.manifest_chunks(&self.tenant, base).await?;
        let ours: HashSet<&BlobId> = ids.iter().collect();
        let theirs: HashSet<&BlobId> = base_chunks.iter().map(|c| &c.blob).collect();
        let unshared: Vec<ChunkRef> = base_chunks
            .iter()
            .filter(|c| !ours.contains(&c.blob))
            .cloned()
            .collect();
        // Our entries in chunks the base does not have, in order (collected first: an
        // iterator of closures held across the reads below would make this future not Send).
        let after: Vec<&ManifestEntry> = ids
            .iter()
            .zip(ranges)
            .filter(|(id, _)| !theirs.contains(id))
            .flat_map(|(_, range)| &list[range.clone()])
            .collect();
        let mut after = after.into_iter().peekable();
        let mut changes = ChangesetFile::default();
        for group in unshared.chunks(CHUNKS_AT_ONCE) {
            let mut before = self.repo.chunk_entries(&self.tenant, group).await?;
            if !before.is_sorted_by(|a, b| a.id <= b.id) {
                before.sort_by(|a, b| a.id.cmp(&b.id));
            }
            for old in before {
                while let Some(new) = after.next_if(|new| new.id < old.id) {
                    changes.created.push(new.clone());
                }
                match after.next_if(|new| new.id == old.id) {
                    Some(new) if new.blob != old.blob => changes.modified.push(new.clone()),
                    Some(_) => {}
                    None => changes.deleted.push(old),
                }
            }
        }
        changes.created.extend(after.cloned());
        Ok(changes)
    }

    /// How the relationships differ from the parent's base (its index, without its chain):
    /// the chunks the two do not share are compared as they stream in (both are in order), a
    /// few hundred of the base's at a time.
    pub(super) async fn relationships_since_base(
        &self,
        base: &Snapshot,
        ours: &SortedRelationships,
        ids: &[BlobId],
        ranges: &[std::ops::Range<usize>],
    ) -> Result<crate::format::RelationshipChangesFile> {
        const CHUNKS_AT_ONCE: usize = 256;
        let theirs = self.repo.relationship_chunks(base).await?;
        let our_chunks: HashSet<&BlobId> = ids.iter().collect();
        let their_chunks: HashSet<BlobId> = theirs.iter().map(|r| r.blob).collect();
        let unshared: Vec<ChunkRef> = theirs
            .into_iter()
            .filter(|c| !our_chunks.contains(&c.blob))
            .collect();
        // Our relationships in chunks the base does not have, in order (collected first: an
        // iterator of closures held across the reads below would make this future not Send).
        let after: Vec<Relationship> = ids
            .iter()
            .zip(ranges)
            .filter(|(id, _)| !their_chunks.contains(*id))
            .flat_map(|(_, range)| ours.values(range.clone()))
            .collect();
        let mut after = after.into_iter().peekable();
        let mut changes = crate::format::RelationshipChangesFile::default();
        for group in unshared.chunks(CHUNKS_AT_ONCE) {
            let before: Vec<Relationship> = self
                .repo
                .chunked_refs(&self.tenant, group, "relationships")
                .await?;
            for old in before {
                while let Some(new) = after.next_if(|new| *new < old) {
                    changes.added.push(new);
                }
                if after.next_if(|new| *new == old).is_none() {
                    changes.removed.push(old);
                }
            }
        }
        changes.added.extend(after);
        Ok(changes)
    }

    /// Stores a changeset (unless it names nothing) with the filter of the ids it names:
    /// a kind's in binary ([`ChangesetFile::encode`]), the relationships' as JSON.
    pub(super) async fn put_changes(
        &mut self,
        changes: Changes<'_>,
        named: Vec<&str>,
    ) -> Result<Option<(BlobId, IdFilter)>> {
        if named.is_empty() {
            return Ok(None);
        }
        let filter = IdFilter::new(&named);
        let bytes = match changes {
            Changes::Kind(changes) => changes.encode(),
            Changes::Relationships(changes) => {
                crate::format::canonical_bytes(&to_blob_value(changes)?)
            }
        };
        let id = self.ids.id_of(&bytes);
        Ok(Some((self.put_canonical(id, bytes, None).await?, filter)))
    }
}

/// A changeset to store.
pub(super) enum Changes<'a> {
    /// A kind's entries.
    Kind(&'a ChangesetFile),
    /// Links added and removed.
    Relationships(&'a crate::format::RelationshipChangesFile),
}
