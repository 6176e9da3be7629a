//! Changesets in their binary form: what changed in a kind since the parent snapshot, as three
//! manifest chunks (created, modified, deleted). A history reads one changeset for each
//! version of an object, a diff and every chained read read theirs: at L1M a changeset of ten
//! thousand entries was 3 MB of JSON, parsed whole to find one entry.

use super::*;

/// Binary changesets start with these bytes (JSON never does); changesets written before
/// (session 28 of dirvault's development) are JSON and still read.
const BINARY_CHANGESET: &[u8; 4] = b"DVC1";

impl ChangesetFile {
    /// The changeset in its binary encoding (see docs/storage-format.md): the magic `DVC1`,
    /// then the created, modified and deleted entries, each a varint length and a manifest
    /// chunk ([`EntryChunk::encode`]). One changeset has one encoding.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = BINARY_CHANGESET.to_vec();
        for entries in [&self.created, &self.modified, &self.deleted] {
            let chunk = EntryChunk::new(entries).encode();
            put_varint(&mut out, chunk.len() as u64);
            out.extend_from_slice(&chunk);
        }
        out
    }

    /// Decodes a changeset, binary or JSON.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        match bytes.strip_prefix(BINARY_CHANGESET) {
            Some(rest) => Self::decode_binary(rest, &|_| true),
            None => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        }
    }

    /// The entries of a changeset that name object `id` (at most one in a sound changeset):
    /// the others are never made into entries. In a JSON changeset, only entries whose text
    /// holds the id are parsed.
    pub(crate) fn naming(bytes: &[u8], id: &str) -> Result<Self, String> {
        match bytes.strip_prefix(BINARY_CHANGESET) {
            Some(rest) => Self::decode_binary(rest, &|e| e.id == id),
            None => Self::json_naming(bytes, id),
        }
    }

    /// The sections of a binary changeset (after its magic), each entry kept or not.
    fn decode_binary(bytes: &[u8], keep: &dyn Fn(EntryText<'_>) -> bool) -> Result<Self, String> {
        let mut r = Reader::new(bytes);
        let mut section = || -> Result<Vec<ManifestEntry>, String> {
            let length = usize::try_from(r.varint()?).map_err(|e| e.to_string())?;
            EntryChunk::decode_matching(r.take(length)?, keep)
        };
        let (created, modified, deleted) = (section()?, section()?, section()?);
        if !r.is_done() {
            return Err(format!("{} bytes after the deleted entries", r.left()));
        }
        Ok(Self {
            created,
            modified,
            deleted,
        })
    }

    /// [`ChangesetFile::naming`] for a JSON changeset: each entry read as JSON text, and
    /// parsed only when that text holds the id.
    fn json_naming(bytes: &[u8], id: &str) -> Result<Self, String> {
        use serde_json::value::RawValue;
        /// A changeset whose entries are still JSON text.
        #[derive(Deserialize)]
        struct Unparsed<'a> {
            #[serde(borrow, default)]
            created: Vec<&'a RawValue>,
            #[serde(borrow, default)]
            modified: Vec<&'a RawValue>,
            #[serde(borrow, default)]
            deleted: Vec<&'a RawValue>,
        }
        let needle = serde_json::to_vec(id).unwrap_or_default();
        let finder = memchr::memmem::Finder::new(&needle);
        if finder.find(bytes).is_none() {
            // Not named: no need to parse it at all.
            return Ok(Self::default());
        }
        let unparsed: Unparsed = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let naming = |texts: Vec<&RawValue>| -> Result<Vec<ManifestEntry>, String> {
            let mut out = Vec::new();
            for text in texts {
                if finder.find(text.get().as_bytes()).is_some() {
                    let entry: ManifestEntry =
                        serde_json::from_str(text.get()).map_err(|e| e.to_string())?;
                    if entry.id.as_str() == id {
                        out.push(entry);
                    }
                }
            }
            Ok(out)
        };
        Ok(Self {
            created: naming(unparsed.created)?,
            modified: naming(unparsed.modified)?,
            deleted: naming(unparsed.deleted)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(i: u32, at: bool) -> ManifestEntry {
        ManifestEntry {
            id: ObjectId::new(format!("{i:08x}-0000-4000-8000-000000000000")).unwrap(),
            blob: BlobId::of_canonical(format!("version {i}").as_bytes()),
            name: (!i.is_multiple_of(3)).then(|| Text::from(format!("User {i}"))),
            key: i
                .is_multiple_of(2)
                .then(|| Text::from(format!("user{i}@contoso.com"))),
            at: at.then(|| BlobLocation {
                pack: format!("pack{}", i % 4).into(),
                offset: u64::from(i) * 1000,
                length: 700,
                group: (!i.is_multiple_of(2)).then_some(InGroup {
                    start: i * 10,
                    length: 9,
                }),
            }),
        }
    }

    fn sample() -> ChangesetFile {
        ChangesetFile {
            created: (0..5).map(|i| entry(i, true)).collect(),
            modified: (5..40).map(|i| entry(i, !i.is_multiple_of(5))).collect(),
            deleted: vec![entry(40, false)],
        }
    }

    #[test]
    fn changesets_round_trip_in_binary_and_json_is_still_read() {
        let file = sample();
        let binary = file.encode();
        assert!(binary.starts_with(BINARY_CHANGESET));
        assert_eq!(ChangesetFile::decode(&binary).unwrap(), file);
        let json = serde_json::to_vec(&file).unwrap();
        assert!(
            binary.len() * 2 < json.len(),
            "{} vs {}",
            binary.len(),
            json.len()
        );
        assert_eq!(ChangesetFile::decode(&json).unwrap(), file);
        assert_eq!(
            ChangesetFile::decode(&ChangesetFile::default().encode()).unwrap(),
            ChangesetFile::default()
        );
        // One object's entries, from either form.
        let wanted = file.modified[3].id.clone();
        for bytes in [&binary, &json] {
            let naming = ChangesetFile::naming(bytes, wanted.as_str()).unwrap();
            assert_eq!(naming.modified, vec![file.modified[3].clone()]);
            assert!(naming.created.is_empty() && naming.deleted.is_empty());
        }
    }

    #[test]
    fn broken_changesets_say_what_is_wrong() {
        let binary = sample().encode();
        let mut longer = binary.clone();
        longer.push(0);
        assert!(
            ChangesetFile::decode(&longer)
                .unwrap_err()
                .contains("after the deleted entries")
        );
        let cut = &binary[..binary.len() - 3];
        assert!(ChangesetFile::decode(cut).is_err());
        assert!(
            ChangesetFile::decode(b"DVC1")
                .unwrap_err()
                .contains("truncated")
        );
        assert!(ChangesetFile::decode(b"not a changeset").is_err());
    }

    proptest! {
        // Hostile bytes: decoded or refused with a message, never a panic; the entries of one
        // id are those of the whole decoding.
        #[test]
        fn any_changeset_decodes_or_fails(
            flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..6),
            cut in any::<u16>(),
            noise in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut bytes = sample().encode();
            for (at, byte) in flips {
                let i = usize::from(at) % bytes.len();
                bytes[i] ^= byte;
            }
            bytes.truncate(usize::from(cut) % (bytes.len() + 1));
            let id = "00000007-0000-4000-8000-000000000000";
            let keep = |e: EntryText<'_>| e.id == id;
            match (ChangesetFile::decode(&bytes), ChangesetFile::naming(&bytes, id)) {
                (Ok(all), Ok(kept)) => {
                    let filtered = |v: Vec<ManifestEntry>| -> Vec<ManifestEntry> {
                        v.into_iter().filter(|e| keep(e.text())).collect()
                    };
                    prop_assert_eq!(filtered(all.created), kept.created);
                    prop_assert_eq!(filtered(all.modified), kept.modified);
                    prop_assert_eq!(filtered(all.deleted), kept.deleted);
                }
                (Ok(_), Err(e)) => prop_assert!(false, "only the filtered decoding failed: {}", e),
                (Err(_), _) => {}
            }
            let mut hostile = BINARY_CHANGESET.to_vec();
            hostile.extend_from_slice(&noise);
            let _ = ChangesetFile::decode(&hostile);
        }
    }
}
