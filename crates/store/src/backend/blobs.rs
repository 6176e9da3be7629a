//! A blob's bytes in a pack: compressed alone or in a group with its kind's dictionary, and
//! read back verified.

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

/// Compresses object versions of one kind together, as one group (their canonical JSON back
/// to back), with the kind's dictionary if any.
pub(crate) fn encode_group(
    members: Vec<(BlobId, Vec<u8>)>,
    dictionary: Option<&EncoderDictionary>,
) -> PackPiece {
    let plain: Vec<u8> = members
        .iter()
        .flat_map(|(_, c)| c.iter().copied())
        .collect();
    let members = members
        .into_iter()
        // A group is a few hundred kilobytes (the writer's `GROUP_PLAIN_BYTES`): far below
        // 4 GiB, as is any blob.
        .map(|(id, c)| (id, u32::try_from(c.len()).unwrap_or(u32::MAX)))
        .collect();
    let bytes = match compress::compress_group(&plain, dictionary) {
        Ok(frame) => Bytes::from(frame),
        // As in `encode_blob`: kept plain rather than lost (then reported as unreadable).
        Err(_) => Bytes::from(plain),
    };
    PackPiece::Group { members, bytes }
}

/// Decompresses a group once and hands each wanted member's canonical JSON (`(position,
/// id, place)`), verified, to `f`; `Err` names the position the problem is with.
pub(super) fn with_decoded_group(
    bytes: &[u8],
    wanted: &[(usize, &BlobId, InGroup)],
    dictionaries: &DecoderDictionaries,
    ids: &crate::crypto::ContentIds,
    f: &(dyn Fn(usize, &[u8]) -> Result<()> + Sync),
) -> std::result::Result<Result<()>, (usize, String)> {
    let first = wanted.first().map_or(0, |w| w.0);
    compress::with_decompressed(bytes, dictionaries, |plain| {
        for (i, id, place) in wanted {
            let json = place.range_in(plain.len()).and_then(|r| plain.get(r));
            let json = json.ok_or_else(|| {
                (
                    *i,
                    format!(
                        "its place {place:?} lies outside its group of {} bytes",
                        plain.len()
                    ),
                )
            })?;
            let actual = ids.id_of(json);
            if &actual != *id {
                return Err((*i, format!("content hashes to {actual}, not {id}")));
            }
            if let Err(e) = f(*i, json) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    })
    .map_err(|e| (first, format!("not readable zstd data: {e}")))?
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
