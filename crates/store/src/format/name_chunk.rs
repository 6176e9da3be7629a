//! Name chunks: a base's entries in name order, each with only its id and name — what a page
//! by name reads instead of every entry of the kind. Decoding takes hostile bytes: it says
//! what is wrong, never panics.

use super::*;

/// Name chunks start with these bytes.
pub(crate) const NAME_CHUNK: &[u8; 4] = b"DVN1";

/// Entries a name chunk holds (the last of a base fewer): about 200 KB of names and ids, so
/// that the first page of a million users reads one chunk and a base writes a few hundred.
pub(crate) const NAME_CHUNK_ENTRIES: usize = 4096;

/// One entry of a name chunk: an object's id and its name (absent names sort as empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamedId {
    pub id: ObjectId,
    pub name: Option<String>,
}

/// A name chunk's encoding: `DVN1`, the number of entries, then each entry's id (as in a
/// manifest chunk: a GUID as 16 bytes) and its optional name.
pub(crate) fn encode_name_chunk(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + entries.len() * 40);
    out.extend_from_slice(NAME_CHUNK);
    put_varint(&mut out, entries.len() as u64);
    for &(id, name) in entries {
        put_entry_id(&mut out, id);
        put_optional_text(&mut out, name);
    }
    out
}

/// Decodes a name chunk: every entry, or what is wrong with the bytes.
pub(crate) fn decode_name_chunk(bytes: &[u8]) -> Result<Vec<NamedId>, String> {
    let rest = bytes
        .strip_prefix(NAME_CHUNK)
        .ok_or("not a name chunk (it does not start with `DVN1`)")?;
    let mut r = Reader::new(rest);
    let count = r.count()?;
    let mut guid_text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let id = ObjectId::new(r.entry_id(&mut guid_text)?).map_err(|e| e.to_string())?;
        let name = r.optional_text()?.map(str::to_owned);
        out.push(NamedId { id, name });
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
        /// What is encoded decodes to the same ids and names, GUIDs or not.
        #[test]
        fn name_chunks_round_trip(
            entries in proptest::collection::vec(
                (prop_oneof![
                    any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).hyphenated().to_string()),
                    any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).hyphenated().to_string().to_uppercase()),
                    "[a-z0-9-]{1,40}",
                ], proptest::option::of("\\PC{0,30}")),
                0..50,
            ),
        ) {
            let pairs: Vec<(&str, Option<&str>)> =
                entries.iter().map(|(id, name)| (id.as_str(), name.as_deref())).collect();
            let bytes = encode_name_chunk(&pairs);
            let decoded = decode_name_chunk(&bytes).expect("decodes");
            let again: Vec<(String, Option<String>)> =
                decoded.into_iter().map(|n| (n.id.to_string(), n.name)).collect();
            prop_assert_eq!(again, entries);
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
            let valid = encode_name_chunk(
                &[("00000000-0000-4000-8000-000000000001", Some("Adele")), ("u2", None)],
            );
            if cut < valid.len() {
                prop_assert!(decode_name_chunk(&valid[..cut]).is_err());
            }
            let mut longer = valid.clone();
            longer.extend_from_slice(&bytes);
            prop_assert_eq!(decode_name_chunk(&longer).is_ok(), bytes.is_empty());
        }
    }
}
