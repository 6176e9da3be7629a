//! What an incremental snapshot changed against its parent's base: the entries and
//! relationships in chunks the two do not share, compared as they stream in, and the
//! changeset blob that records them.

use super::*;

impl SnapshotWriter {
    /// How a kind's entries differ from its base (the parent record's index, without its
    /// chain): only the chunks the two do not share are compared (an unchanged stretch is the
    /// same chunk blob in both).
    pub(super) async fn entries_since_base(
        &self,
        base: &KindRecord,
        list: &[ManifestEntry],
        ids: &[BlobId],
        ranges: &[std::ops::Range<usize>],
    ) -> Result<ChangesetFile> {
        let base_chunks = self.repo.manifest_chunks(&self.tenant, base).await?;
        let ours: HashSet<&BlobId> = ids.iter().collect();
        let theirs: HashSet<&BlobId> = base_chunks.iter().map(|c| &c.blob).collect();
        // The base's chunks that we do not share, read together.
        let unshared: Vec<ChunkRef> = base_chunks
            .iter()
            .filter(|c| !ours.contains(&c.blob))
            .cloned()
            .collect();
        let before = self.repo.chunk_entries(&self.tenant, &unshared).await?;
        let mut before: HashMap<dirvault_model::ObjectId, ManifestEntry> =
            before.into_iter().map(|e| (e.id.clone(), e)).collect();
        let mut changes = ChangesetFile::default();
        for (id, range) in ids.iter().zip(ranges) {
            if theirs.contains(id) {
                continue;
            }
            for entry in &list[range.clone()] {
                match before.remove(&entry.id) {
                    None => changes.created.push(entry.clone()),
                    Some(old) if old.blob != entry.blob => changes.modified.push(entry.clone()),
                    Some(_) => {}
                }
            }
        }
        let mut deleted: Vec<ManifestEntry> = before.into_values().collect();
        deleted.sort_by(|a, b| a.id.cmp(&b.id));
        changes.deleted = deleted;
        Ok(changes)
    }

    /// How the relationships differ from the parent's base (its index, without its chain):
    /// the chunks the two do not share are compared as they stream in (both are in order), a
    /// few hundred of the base's at a time.
    pub(super) async fn relationships_since_base(
        &self,
        base: &Snapshot,
        ours: &[Relationship],
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
        let after: Vec<&Relationship> = ids
            .iter()
            .zip(ranges)
            .filter(|(id, _)| !their_chunks.contains(*id))
            .flat_map(|(_, range)| &ours[range.clone()])
            .collect();
        let mut after = after.into_iter().peekable();
        let mut changes = crate::format::RelationshipChangesFile::default();
        for group in unshared.chunks(CHUNKS_AT_ONCE) {
            let before: Vec<Relationship> = self
                .repo
                .chunked_refs(&self.tenant, group, "relationships")
                .await?;
            for old in before {
                while let Some(new) = after.next_if(|new| **new < old) {
                    changes.added.push(new.clone());
                }
                if after.next_if(|new| **new == old).is_none() {
                    changes.removed.push(old);
                }
            }
        }
        changes.added.extend(after.cloned());
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
