//! A blob's bytes in a pack: compressed with its kind's dictionary, and read back verified.

use super::*;

/// Compresses a blob's canonical JSON for a pack, with its kind's dictionary if any.
pub(crate) fn encode_blob(canonical: Vec<u8>, dictionary: Option<&EncoderDictionary>) -> Bytes {
    match compress::compress(&canonical, dictionary) {
        Ok(frame) => Bytes::from(frame),
        // zstd cannot fail on a buffer sized by its bound; if it did, store the blob plain
        // rather than lose it (a reader would report it as unreadable, never as wrong).
        Err(_) => Bytes::from(canonical),
    }
}

/// Reads blobs through [`SnapshotStore::visit_blobs`] and keeps what `f` makes of each one's
/// canonical JSON, in the order of `blobs`.
pub(crate) async fn map_blobs<T: Send + Sync>(
    store: &(impl SnapshotStore + ?Sized),
    tenant: &TenantId,
    blobs: &[(BlobId, BlobLocation)],
    f: &(dyn for<'b> Fn(usize, &'b [u8]) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    let slots: Vec<std::sync::OnceLock<T>> =
        blobs.iter().map(|_| std::sync::OnceLock::new()).collect();
    store
        .visit_blobs(tenant, blobs, &|i, json| {
            let made = f(i, json)?;
            if let Some(slot) = slots.get(i) {
                let _ = slot.set(made);
            }
            Ok(())
        })
        .await?;
    slots
        .into_iter()
        .zip(blobs)
        .map(|(slot, (id, _))| {
            slot.into_inner().ok_or_else(|| Error::MissingBlob {
                tenant: tenant.to_string(),
                blob: id.to_string(),
            })
        })
        .collect()
}

/// Decompresses and verifies a blob; answers its canonical JSON.
pub(super) fn decode_blob(
    bytes: &[u8],
    id: &BlobId,
    dictionaries: &DecoderDictionaries,
    ids: &crate::crypto::ContentIds,
) -> std::result::Result<Bytes, String> {
    with_decoded_blob(bytes, id, dictionaries, ids, Bytes::copy_from_slice)
}

/// Decompresses and verifies a blob into this thread's buffer and hands its canonical JSON
/// to `f`. Blobs are stored canonical, so hashing the bytes verifies them.
pub(super) fn with_decoded_blob<R>(
    bytes: &[u8],
    id: &BlobId,
    dictionaries: &DecoderDictionaries,
    ids: &crate::crypto::ContentIds,
    f: impl FnOnce(&[u8]) -> R,
) -> std::result::Result<R, String> {
    compress::with_decompressed(bytes, dictionaries, |json| {
        let actual = ids.id_of(json);
        if &actual == id {
            Ok(f(json))
        } else {
            Err(format!("content hashes to {actual}, not {id}"))
        }
    })
    .map_err(|e| format!("not readable zstd data: {e}"))?
}
