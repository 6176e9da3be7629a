//! Name chunks: a base's entries in name order, each with only its id, name and key — what a
//! page by name and a search read instead of every entry of the kind. Decoding takes hostile
//! bytes: it says what is wrong, never panics.

use super::*;

/// Name chunks start with these bytes.
pub(crate) const NAME_CHUNK: &[u8; 4] = b"DVN1";

/// A name chunk ends after an entry whose id hashes (FNV-1a 64) to a multiple of this, so it
/// holds this many entries on average: a few hundred KB of ids, names and keys, so that the
/// first page of a million users reads one chunk or two and a base writes a few hundred.
pub(crate) const NAME_CHUNK_DIVISOR: u64 = 4096;

/// One entry of a name chunk: an object's id, its name (absent names sort as empty) and its
/// key (UPN, appId, mail: what a search matches besides the name and id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamedId {
    pub id: ObjectId,
    pub name: Option<String>,
    pub key: Option<String>,
}

/// A name chunk's encoding: `DVN1`, the number of entries, then each entry's id (as in a
/// manifest chunk: a GUID as 16 bytes), its optional name and its optional key.
pub(crate) fn encode_name_chunk(entries: &[EntryText<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + entries.len() * 72);
    out.extend_from_slice(NAME_CHUNK);
    put_varint(&mut out, entries.len() as u64);
    for e in entries {
        put_entry_id(&mut out, e.id);
        put_optional_text(&mut out, e.name);
        put_optional_text(&mut out, e.key);
    }
    out
}

/// Decodes a name chunk: every entry, or what is wrong with the bytes.
#[cfg(test)]
pub(crate) fn decode_name_chunk(bytes: &[u8]) -> Result<Vec<NamedId>, String> {
    decode_name_chunk_where(bytes, &|_| true)
}

/// Decodes a name chunk, keeping only the entries whose texts `keep` accepts (the others
/// cost no allocation: a search over a million names makes only its hits), or says what is
/// wrong with the bytes — every entry is decoded either way.
pub(crate) fn decode_name_chunk_where(
    bytes: &[u8],
    keep: &(dyn Fn(EntryText<'_>) -> bool + Sync),
) -> Result<Vec<NamedId>, String> {
    let rest = bytes
        .strip_prefix(NAME_CHUNK)
        .ok_or("not a name chunk (it does not start with `DVN1`)")?;
    let mut r = Reader::new(rest);
    let count = r.count()?;
    let mut guid_text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let mut out = Vec::new();
    for _ in 0..count {
        let id = r.entry_id(&mut guid_text)?;
        let name = r.optional_text()?;
        let key = r.optional_text()?;
        if keep(EntryText { id, name, key }) {
            out.push(NamedId {
                id: ObjectId::new(id).map_err(|e| e.to_string())?,
                name: name.map(str::to_owned),
                key: key.map(str::to_owned),
            });
        }
    }
    if !r.is_done() {
        return Err(format!("{} bytes after the last entry", r.left()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// What is encoded decodes to the same ids, names and keys, GUIDs or not; a filter
        /// keeps exactly the entries it accepts, in order.
        #[test]
        fn name_chunks_round_trip(
            entries in proptest::collection::vec(
                (prop_oneof![
                    any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).hyphenated().to_string()),
                    any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).hyphenated().to_string().to_uppercase()),
                    "[a-z0-9-]{1,40}",
                ], proptest::option::of("\\PC{0,30}"), proptest::option::of("[a-z@.]{0,20}")),
                0..50,
            ),
        ) {
            let texts: Vec<EntryText<'_>> = entries
                .iter()
                .map(|(id, name, key)| EntryText { id, name: name.as_deref(), key: key.as_deref() })
                .collect();
            let bytes = encode_name_chunk(&texts);
            let decoded = decode_name_chunk(&bytes).expect("decodes");
            let again: Vec<(String, Option<String>, Option<String>)> =
                decoded.into_iter().map(|n| (n.id.to_string(), n.name, n.key)).collect();
            prop_assert_eq!(&again, &entries);
            let with_a_key = |e: EntryText<'_>| e.key.is_some_and(|k| k.contains('a'));
            let kept: Vec<String> = decode_name_chunk_where(&bytes, &with_a_key)
                .expect("decodes")
                .into_iter()
                .map(|n| n.id.to_string())
                .collect();
            let wanted: Vec<String> = entries
                .iter()
                .filter(|(_, _, key)| key.as_deref().is_some_and(|k| k.contains('a')))
                .map(|(id, _, _)| id.clone())
                .collect();
            prop_assert_eq!(kept, wanted);
        }

        /// Arbitrary bytes, and valid chunks cut short or added to, fail with a message.
        #[test]
        fn any_name_chunk_decodes_or_fails(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            cut in 0usize..200,
        ) {
            let _ = decode_name_chunk(&bytes);
            let mut prefixed = NAME_CHUNK.to_vec();
            prefixed.extend_from_slice(&bytes);
            let _ = decode_name_chunk(&prefixed);
            let _ = decode_name_chunk_where(&prefixed, &|_| false);
            let valid = encode_name_chunk(&[
                EntryText {
                    id: "00000000-0000-4000-8000-000000000001",
                    name: Some("Adele"),
                    key: Some("adele@contoso.example"),
                },
                EntryText { id: "u2", name: None, key: None },
            ]);
            if cut < valid.len() {
                prop_assert!(decode_name_chunk(&valid[..cut]).is_err());
            }
            let mut longer = valid.clone();
            longer.extend_from_slice(&bytes);
            prop_assert_eq!(decode_name_chunk(&longer).is_ok(), bytes.is_empty());
        }
    }
}
