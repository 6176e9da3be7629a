//! Content-defined chunks: how manifests and relationship lists are cut into blobs, and read
//! back.

use super::*;

/// The content-defined chunk boundaries of sorted items, as index ranges: only one chunk is
/// ever serialized at a time.
pub(super) fn chunks<T>(
    items: &[T],
    divisor: u64,
    key: impl Fn(&T) -> String,
) -> Vec<std::ops::Range<usize>> {
    chunks_by(items.len(), divisor, |i| key(&items[i]))
}

/// [`chunks`] of `len` items known by place: `key(i)` is the key of the item at `i`.
pub(super) fn chunks_by(
    len: usize,
    divisor: u64,
    key: impl Fn(usize) -> String,
) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 0..len {
        let hash = dirvault_model::fnv1a(key(i).as_bytes());
        if hash.is_multiple_of(divisor) {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < len {
        out.push(start..len);
    }
    out
}

/// The key relationships are chunked by: their kind (as [`Repository::relationships_of`]
/// looks for it), source and target.
pub(super) fn relationship_key(r: &Relationship) -> String {
    format!("{:?}{}{}", r.kind, r.source, r.target)
}

/// The kind a relationship chunk's first key starts with (the longest of the kinds' `names`
/// that starts it).
pub(super) fn kind_of_key(
    names: &[(RelationshipKind, String)],
    key: &str,
) -> Option<RelationshipKind> {
    names
        .iter()
        .filter(|(_, name)| key.starts_with(name.as_str()))
        .max_by_key(|(_, name)| name.len())
        .map(|(kind, _)| *kind)
}

/// A JSON blob's bytes parsed, or why they are corrupt.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    blob: &BlobId,
    what: &str,
) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        path: format!("{what} {blob}"),
        reason: e.to_string(),
    })
}

/// The entries of a changeset that name `id` ([`ChangesetFile::naming`]).
pub(super) fn changeset_naming(
    bytes: &[u8],
    blob: &BlobId,
    id: &dirvault_model::ObjectId,
) -> Result<ChangesetFile> {
    ChangesetFile::naming(bytes, id.as_str()).map_err(|reason| Error::Corrupt {
        path: format!("changeset {blob}"),
        reason,
    })
}

/// A changeset's entries, binary or JSON ([`ChangesetFile::decode`]).
pub(super) fn parse_changeset(bytes: &[u8], blob: &BlobId) -> Result<ChangesetFile> {
    ChangesetFile::decode(bytes).map_err(|reason| Error::Corrupt {
        path: format!("changeset {blob}"),
        reason,
    })
}

/// What chunks hold: manifest entries or relationships.
pub(super) trait ChunkItem: Sized + Send + Sync {
    /// The items of one chunk's bytes.
    fn decode_chunk(bytes: &[u8]) -> std::result::Result<Vec<Self>, String>;
}

impl ChunkItem for ManifestEntry {
    fn decode_chunk(bytes: &[u8]) -> std::result::Result<Vec<Self>, String> {
        EntryChunk::decode(bytes)
    }
}

impl ChunkItem for Relationship {
    fn decode_chunk(bytes: &[u8]) -> std::result::Result<Vec<Self>, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// How one chunk's bytes become items: [`ChunkItem::decode_chunk`], or a decoding that keeps
/// only some of them ([`Repository::manifest_matching`]).
pub(super) type DecodeChunk<'a, T> =
    &'a (dyn Fn(&[u8]) -> std::result::Result<Vec<T>, String> + Sync);

/// Reads chunks and concatenates their items, in order: each chunk is parsed as soon as it
/// is decoded, on the thread that decoded it (no chunk's bytes are kept).
pub(super) async fn read_chunks<T: Send + Sync>(
    store: &dyn SnapshotStore,
    tenant: &TenantId,
    located: &[(BlobId, BlobLocation)],
    what: &str,
    decode: DecodeChunk<'_, T>,
) -> Result<Vec<T>> {
    let parts = crate::backend::map_blobs(store, tenant, located, &|i, bytes| {
        decode(bytes).map_err(|reason| Error::Corrupt {
            path: format!(
                "{what} chunk {}",
                located
                    .get(i)
                    .map(|(blob, _)| blob.to_string())
                    .unwrap_or_default()
            ),
            reason,
        })
    })
    .await?;
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for part in parts {
        out.extend(part);
    }
    Ok(out)
}
