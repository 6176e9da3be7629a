//! What an incremental snapshot wrote beyond its parent, part by part: where its bytes went
//! (the backup benchmark prints it; a large part shows which structure to make cheaper).

use super::*;

impl Repository {
    /// The compressed bytes `child` wrote that `parent` does not share, by part: each kind's
    /// new manifest chunks, name chunks and name filters, its index (when not the parent's)
    /// and its changeset, then the relationships' likewise; the largest first.
    ///
    /// # Errors
    /// Missing or corrupt index blobs.
    pub async fn written_beyond(
        &self,
        parent: &Snapshot,
        child: &Snapshot,
    ) -> Result<Vec<(String, u64)>> {
        let tenant = &child.tenant;
        let empty = KindRecord::default();
        let mut parts = Vec::new();
        let records = child
            .kinds
            .iter()
            .map(|(kind, record)| (kind.to_string(), record, parent.kinds.get(kind)))
            .chain(std::iter::once((
                "relationships".to_owned(),
                &child.relationships,
                Some(&parent.relationships),
            )));
        for (name, record, before) in records {
            let before = before.unwrap_or(&empty);
            let index_of = |record: &KindRecord| {
                let (index, at) = (record.index, record.index_at.clone());
                async move {
                    match index {
                        Some(index) => self.manifest_index(tenant, &index, at.as_ref()).await,
                        None => Ok(ManifestIndex::default()),
                    }
                }
            };
            let (then, now) = (index_of(before).await?, index_of(record).await?);
            let old: HashSet<BlobId> = then
                .chunks
                .iter()
                .chain(&then.by_name)
                .map(|c| c.blob)
                .collect();
            let new_bytes = |refs: &[ChunkRef]| -> u64 {
                refs.iter()
                    .filter(|c| !old.contains(&c.blob))
                    .map(|c| length(c.at.as_ref()))
                    .sum()
            };
            let filters = now
                .name_filters
                .as_ref()
                .filter(|f| then.name_filters.as_ref().is_none_or(|t| t.blob != f.blob))
                .map_or(0, |f| length(f.at.as_ref()));
            let (chunks, names) = (new_bytes(&now.chunks), new_bytes(&now.by_name));
            let index = match before.index == record.index {
                true => 0,
                false => length(record.index_at.as_ref()),
            };
            parts.push((format!("{name} chunks"), chunks));
            parts.push((format!("{name} name chunks"), names));
            parts.push((format!("{name} name filters"), filters));
            parts.push((format!("{name} index"), index));
            parts.push((
                format!("{name} changes"),
                length(record.changes_at.as_ref()),
            ));
        }
        parts.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
        Ok(parts)
    }
}

fn length(at: Option<&BlobLocation>) -> u64 {
    at.map_or(0, |at| at.length)
}
