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
    let stored = crate::guid_packing::pack_group(
        &members
            .iter()
            .map(|(_, c)| c.as_slice())
            .collect::<Vec<_>>(),
    );
    let members = members
        .into_iter()
        // A group is a few hundred kilobytes (the writer's `GROUP_PLAIN_BYTES`): far below
        // 4 GiB, as is any blob.
        .map(|(id, c)| (id, u32::try_from(c.len()).unwrap_or(u32::MAX)))
        .collect();
    let bytes = match compress::compress_group(&stored, dictionary) {
        Ok(frame) => Bytes::from(frame),
        // As in `encode_blob`: kept plain rather than lost (then reported as unreadable).
        Err(_) => Bytes::from(stored),
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
    compress::with_decompressed(bytes, dictionaries, |stored| {
        // A group of this dirvault has its GUIDs packed; one of session 24 is plain JSON.
        let unpacked;
        let plain = match stored.split_first() {
            Some((&crate::guid_packing::PACKED, packed)) => {
                let mut out = Vec::new();
                crate::guid_packing::unpack_into(packed, &mut out, compress::MAX_GROUP_BYTES)
                    .map_err(|e| (first, format!("its group does not unpack: {e}")))?;
                unpacked = out;
                &unpacked[..]
            }
            _ => stored,
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Vec<(BlobId, Vec<u8>)> {
        [
            r#"{"id":"0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9","skuId":"0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9"}"#,
            r#"{"displayName":"No GUID here","id":"u2"}"#,
        ]
        .iter()
        .map(|json| (BlobId::of_canonical(json.as_bytes()), json.as_bytes().to_vec()))
        .collect()
    }

    /// Reads every member of a stored group, verified.
    fn read(bytes: &[u8], members: &[(BlobId, Vec<u8>)]) -> Vec<Vec<u8>> {
        let mut start = 0;
        let wanted: Vec<_> = members
            .iter()
            .enumerate()
            .map(|(i, (id, json))| {
                let place = InGroup {
                    start,
                    length: json.len() as u32,
                };
                start += json.len() as u32;
                (i, id, place)
            })
            .collect();
        let out = std::sync::Mutex::new(vec![Vec::new(); members.len()]);
        let ids = crate::crypto::ContentIds::default();
        let dictionaries = DecoderDictionaries::default();
        with_decoded_group(bytes, &wanted, &dictionaries, &ids, &|i, json| {
            out.lock().unwrap()[i] = json.to_vec();
            Ok(())
        })
        .unwrap()
        .unwrap();
        out.into_inner().unwrap()
    }

    #[test]
    fn groups_are_stored_with_their_guids_packed_and_plain_groups_still_read() {
        let members = members();
        let plain: Vec<u8> = members.iter().flat_map(|(_, j)| j.clone()).collect();
        let PackPiece::Group { bytes, .. } = encode_group(members.clone(), None) else {
            panic!("a group")
        };
        let stored = compress::decompress(&bytes, &DecoderDictionaries::default()).unwrap();
        assert_eq!(stored[0], crate::guid_packing::PACKED);
        assert_eq!(stored.len(), 1 + plain.len() - 2 * 19);
        let jsons: Vec<Vec<u8>> = members.iter().map(|(_, j)| j.clone()).collect();
        assert_eq!(read(&bytes, &members), jsons);
        // A group as session 24 wrote it: its canonical JSON compressed as it is.
        let earlier = compress::compress_group(&plain, None).unwrap();
        assert_eq!(read(&earlier, &members), jsons);
        // A packed group whose packing is cut: corrupt, naming the first member wanted.
        let mut cut = stored.clone();
        cut.truncate(10);
        let cut = compress::compress_group(&cut, None).unwrap();
        let err = with_decoded_group(
            &cut,
            &[(
                0,
                &members[0].0,
                InGroup {
                    start: 0,
                    length: 4,
                },
            )],
            &DecoderDictionaries::default(),
            &crate::crypto::ContentIds::default(),
            &|_, _| Ok(()),
        )
        .unwrap_err();
        assert_eq!(err.0, 0);
        assert!(err.1.contains("does not unpack"), "{}", err.1);
    }
}
