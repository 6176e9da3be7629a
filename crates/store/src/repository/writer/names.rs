//! A base's name chunks ([`crate::format::NAME_CHUNK`]): written with the base's chunks in id
//! order, so that a page by name reads the first few of them instead of every entry, and a
//! search reads their texts instead of every entry — only those of the chunks whose filters
//! ([`NameFilter`]) say they may hold its needle.

use super::*;
use crate::format::{NAME_CHUNK_DIVISOR, NameFilter, encode_name_chunk, encode_name_filters};

/// Name chunks encoded at once (on every core) before they are handed to the packer: the
/// encoded bytes of a whole L1M base (about 90 MB) are never held together.
const NAME_CHUNKS_AT_ONCE: usize = 16;

impl SnapshotWriter {
    /// Writes the entries of `list` (a kind's manifest in id order) as name chunks, in name
    /// order ([`crate::name_order`]), and their filters; returns the chunks' references
    /// (`first`: a chunk's first id) and the filters' blob.
    pub(super) async fn put_name_chunks(
        &mut self,
        list: &[ManifestEntry],
    ) -> Result<(Vec<ChunkRef>, BlobId)> {
        let key = |i: usize| {
            list.get(i).map_or(("", ""), |e| {
                (e.name.as_deref().unwrap_or(""), e.id.as_str())
            })
        };
        let mut order: Vec<usize> = (0..list.len()).collect();
        order.par_sort_unstable_by(|&a, &b| crate::name_order(key(a), key(b)));
        // Cut where an id hashes to a multiple of the divisor, as manifest chunks are (by
        // content, not by count): a rename or a new object rewrites the chunk it falls in,
        // not every chunk after it, so a rebase after changes that rename nothing writes no
        // name chunk anew.
        let ranges = chunks(&order, NAME_CHUNK_DIVISOR, |&i| key(i).1.to_owned());
        let mut refs = Vec::with_capacity(ranges.len());
        let mut filters = Vec::with_capacity(ranges.len());
        for batch in ranges.chunks(NAME_CHUNKS_AT_ONCE) {
            let encoded: Vec<(BlobId, Vec<u8>, String, usize, NameFilter)> = batch
                .par_iter()
                .map(|range| {
                    let chunk = order.get(range.clone()).unwrap_or_default();
                    let texts: Vec<EntryText<'_>> = chunk
                        .iter()
                        .filter_map(|&i| list.get(i))
                        .map(ManifestEntry::text)
                        .collect();
                    let bytes = encode_name_chunk(&texts);
                    let first = chunk.first().map_or("", |&i| key(i).1).to_owned();
                    let filter = NameFilter::of(&texts);
                    (self.ids.id_of(&bytes), bytes, first, chunk.len(), filter)
                })
                .collect();
            for (id, bytes, first, count, filter) in encoded {
                filters.push(filter);
                refs.push(ChunkRef {
                    blob: self.put_canonical(id, bytes, None).await?,
                    first,
                    count,
                    at: None,
                });
            }
        }
        let filters = encode_name_filters(&filters);
        let filters = self
            .put_canonical(self.ids.id_of(&filters), filters, None)
            .await?;
        Ok((refs, filters))
    }
}
