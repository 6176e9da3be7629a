//! Pack indexes: which blobs a pack holds, and where.
//!
//! A pack is its blobs back to back, so an index needs each blob's id and length in pack order;
//! offsets follow. Version 2 (what this dirvault writes, `index/{pack}.idx`) is binary: the
//! magic `DVI2`, the pack id, then per blob its 32-byte id and a varint length — 34 bytes for a
//! directory object's blob where version 1's JSON (`index/{pack}.json`, still read) took about
//! 84 (a hex id, an offset and a length as text; ids are random, so neither compresses).
//! Decoding takes hostile bytes: it says what is wrong, never panics.

use super::*;

/// Binary pack indexes start with these bytes (JSON never does).
const BINARY_INDEX: &[u8; 4] = b"DVI2";

/// The file name a pack's index is written under (version 2).
pub(crate) fn pack_index_name(pack: &str) -> String {
    format!("{pack}.idx")
}

/// The pack an index file name is for: version 2's `{pack}.idx` or version 1's `{pack}.json`.
pub(crate) fn pack_of_index_name(name: &str) -> &str {
    name.strip_suffix(".idx")
        .or_else(|| name.strip_suffix(".json"))
        .unwrap_or(name)
}

/// What a pack's index says: the pack's id and, in pack order, each blob with its offset and
/// length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackIndex {
    pub(crate) pack: String,
    pub(crate) blobs: Vec<(BlobId, u64, u64)>,
}

impl PackIndex {
    /// The index of a pack written as `blobs` (id, length) back to back from its start.
    pub(crate) fn of_pack(pack: String, blobs: impl IntoIterator<Item = (BlobId, u64)>) -> Self {
        let mut end = 0u64;
        let blobs = blobs
            .into_iter()
            .map(|(id, length)| {
                let offset = end;
                end = end.saturating_add(length);
                (id, offset, length)
            })
            .collect();
        Self { pack, blobs }
    }

    /// The binary encoding (version 2). Blobs that are not back to back from the pack's start
    /// cannot be said in it; [`PackIndex::of_pack`] makes only ones that are.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80 + self.blobs.len() * 35);
        out.extend_from_slice(BINARY_INDEX);
        put_text(&mut out, &self.pack);
        put_varint(&mut out, self.blobs.len() as u64);
        let mut end = 0u64;
        for (id, offset, length) in &self.blobs {
            debug_assert_eq!(*offset, end, "blobs back to back");
            end = offset.saturating_add(*length);
            out.extend_from_slice(&id.0);
            put_varint(&mut out, *length);
        }
        out
    }

    /// Decodes a stored index (version 2, or version 1's JSON) read from `path`.
    ///
    /// # Errors
    /// [`crate::Error::Corrupt`] saying what is wrong; [`crate::Error::UnsupportedFormat`] for
    /// a JSON index of another version.
    pub(crate) fn decode(bytes: &[u8], path: &str) -> Result<Self, crate::Error> {
        let corrupt = |reason: String| crate::Error::Corrupt {
            path: path.to_owned(),
            reason: format!("unreadable pack index: {reason}"),
        };
        match bytes.strip_prefix(BINARY_INDEX) {
            Some(rest) => Self::decode_binary(rest).map_err(corrupt),
            None => {
                VersionProbe::expect(bytes, path, PACK_INDEX_VERSION)?;
                let PackIndexFile::V1 { pack, blobs } =
                    serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
                Ok(Self { pack, blobs })
            }
        }
    }

    /// Decodes a binary index (after its magic): no arithmetic or indexing that could panic on
    /// hostile bytes (the lints keep it so).
    #[deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
    fn decode_binary(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader::new(bytes);
        let pack = r.text()?.to_owned();
        let count = r.count()?;
        let mut blobs = Vec::with_capacity(count);
        let mut end = 0u64;
        for _ in 0..count {
            let id = BlobId(r.take(32)?.try_into().map_err(|_| "a short blob id")?);
            let length = r.varint()?;
            let offset = end;
            end = end
                .checked_add(length)
                .ok_or("blob lengths add up past 2^64 bytes")?;
            blobs.push((id, offset, length));
        }
        if !r.is_done() {
            return Err(format!("{} bytes after the last blob", r.left()));
        }
        Ok(Self { pack, blobs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u8) -> BlobId {
        BlobId([n; 32])
    }

    #[test]
    fn an_index_reads_back_with_offsets_following_lengths() {
        let index = PackIndex::of_pack("ab".repeat(32), [(id(1), 10), (id(2), 0), (id(3), 300)]);
        assert_eq!(
            index.blobs,
            vec![(id(1), 0, 10), (id(2), 10, 0), (id(3), 10, 300)]
        );
        let bytes = index.encode();
        assert_eq!(bytes.len(), 4 + 1 + 64 + 1 + 3 * 33 + 1);
        assert_eq!(PackIndex::decode(&bytes, "index/x.idx").unwrap(), index);
    }

    #[test]
    fn a_version_1_json_index_is_still_read() {
        let json = serde_json::to_vec(&PackIndexFile::V1 {
            pack: "p".into(),
            blobs: vec![(id(7), 0, 5), (id(8), 5, 9)],
        })
        .unwrap();
        let index = PackIndex::decode(&json, "index/p.json").unwrap();
        assert_eq!(index.blobs, vec![(id(7), 0, 5), (id(8), 5, 9)]);
    }

    #[test]
    fn a_json_index_of_another_version_is_refused_naming_it() {
        let err = PackIndex::decode(br#"{"version":"9","pack":"p","blobs":[]}"#, "index/p.json")
            .unwrap_err();
        assert!(
            matches!(err, crate::Error::UnsupportedFormat { .. }),
            "{err}"
        );
    }

    #[test]
    fn malformed_binary_indexes_say_what_is_wrong() {
        let good = PackIndex::of_pack("p".into(), [(id(1), 4)]).encode();
        let cases: [(&[u8], &str); 3] = [
            (&good[..good.len() - 3], "truncated"),
            (
                &[good.as_slice(), b"x"].concat(),
                "bytes after the last blob",
            ),
            (b"DVI2\x01p\xff\xff\xff\xff\x0f", "cannot fit"),
        ];
        for (bytes, says) in cases {
            let err = PackIndex::decode(bytes, "index/p.idx")
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{says}: {err}");
        }
    }

    proptest! {
        #[test]
        fn any_index_round_trips(
            pack in "[0-9a-f]{0,64}",
            lengths in proptest::collection::vec(any::<u32>(), 0..50),
        ) {
            let index = PackIndex::of_pack(
                pack,
                lengths.iter().enumerate().map(|(i, l)| (id(i as u8), u64::from(*l))),
            );
            prop_assert_eq!(PackIndex::decode(&index.encode(), "i").unwrap(), index);
        }

        #[test]
        fn any_bytes_after_the_magic_decode_or_fail_without_panicking(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let _ = PackIndex::decode(&[BINARY_INDEX.as_slice(), &bytes].concat(), "i");
            let _ = PackIndex::decode(&bytes, "i");
        }
    }
}
