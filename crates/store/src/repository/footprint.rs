//! What an incremental snapshot wrote beyond its parent, part by part: where its bytes went
//! (the backup benchmark prints it; a large part shows which structure to make cheaper).

use super::*;

impl Repository {
    /// The compressed bytes `child` wrote that `parent` does not share, by part: each kind's
    /// new manifest chunks, its index (when not the parent's) and its changeset, then the
    /// relationships' likewise; the largest first.
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
            let old: HashSet<BlobId> = self
                .manifest_chunks(tenant, before)
                .await?
                .into_iter()
                .map(|c| c.blob)
                .collect();
            let chunks = self
                .manifest_chunks(tenant, record)
                .await?
                .iter()
                .filter(|c| !old.contains(&c.blob))
                .map(|c| length(c.at.as_ref()))
                .sum();
            let index = match before.index == record.index {
                true => 0,
                false => length(record.index_at.as_ref()),
            };
            parts.push((format!("{name} chunks"), chunks));
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
