//! Pack indexes: which blobs a pack holds, and where.
//!
//! A pack is its pieces back to back — a blob compressed (and sealed) alone, or a group of
//! blobs compressed and sealed together — so an index needs each piece's length in pack order
//! (offsets follow) and its blobs' ids (for a group, each member's plain length: their places
//! in the group follow). Version 4 (what this dirvault writes, `index/{pack}.idx`, magic
//! `DVI4`) says groups and the width of its ids (16 bytes for a tenant with short ids, else
//! 32); version 3 (`DVI3`, the same name) is version 4 with 32-byte ids and no width byte;
//! version 2 (`DVI2`) had blobs alone only, 32-byte id and varint length each; version 1
//! (`index/{pack}.json`) was JSON, about 84 bytes a blob. All four are read. Decoding takes
//! hostile bytes: it says what is wrong, never panics.

use super::*;

/// Binary pack indexes start with one of these (JSON never does): version 4 (groups, ids of
/// the width its header says), version 3 (groups, 32-byte ids; still read) and version 2
/// (blobs alone only; still read).
const INDEX_V4: &[u8; 4] = b"DVI4";
const INDEX_V3: &[u8; 4] = b"DVI3";
const INDEX_V2: &[u8; 4] = b"DVI2";

/// Which binary index version is being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BinaryIndex {
    V2,
    V3,
    V4,
}

/// The file name a pack's index is written under (versions 2 and 3).
pub(crate) fn pack_index_name(pack: &str) -> String {
    format!("{pack}.idx")
}

/// The pack an index file name is for: `{pack}.idx` or version 1's `{pack}.json`.
pub(crate) fn pack_of_index_name(name: &str) -> &str {
    name.strip_suffix(".idx")
        .or_else(|| name.strip_suffix(".json"))
        .unwrap_or(name)
}

/// The blobs of one piece of a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PieceBlobs {
    /// One blob compressed (and sealed) alone.
    Alone(BlobId),
    /// Blobs compressed (and sealed) together: each with its length in the group's plain
    /// bytes, where they are back to back in this order.
    Group(Vec<(BlobId, u32)>),
}

impl PieceBlobs {
    /// The ids of the piece's blobs.
    fn ids(&self) -> impl Iterator<Item = &BlobId> {
        let (alone, members) = match self {
            Self::Alone(id) => (Some(id), &[][..]),
            Self::Group(members) => (None, &members[..]),
        };
        alone.into_iter().chain(members.iter().map(|(id, _)| id))
    }
}

/// One piece of a pack: where it is and which blobs it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexPiece {
    pub(crate) offset: u64,
    pub(crate) length: u64,
    pub(crate) blobs: PieceBlobs,
}

/// What a pack's index says: the pack's id and its pieces in pack order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackIndex {
    pub(crate) pack: String,
    pub(crate) pieces: Vec<IndexPiece>,
}

impl PackIndex {
    /// The index of a pack written as `pieces` (length, blobs) back to back from its start.
    pub(crate) fn of_pack(
        pack: String,
        pieces: impl IntoIterator<Item = (u64, PieceBlobs)>,
    ) -> Self {
        let mut end = 0u64;
        let pieces = pieces
            .into_iter()
            .map(|(length, blobs)| {
                let offset = end;
                end = end.saturating_add(length);
                IndexPiece {
                    offset,
                    length,
                    blobs,
                }
            })
            .collect();
        Self { pack, pieces }
    }

    /// Where the pack's last piece ends.
    pub(crate) fn extent(&self) -> u64 {
        self.pieces
            .iter()
            .map(|p| p.offset.saturating_add(p.length))
            .max()
            .unwrap_or(0)
    }

    /// Every blob of the pack with its location.
    pub(crate) fn locations(self) -> Vec<(BlobId, BlobLocation)> {
        let pack: std::sync::Arc<str> = self.pack.into();
        let mut out = Vec::with_capacity(self.pieces.len());
        for piece in self.pieces {
            let at = |group| BlobLocation {
                pack: pack.clone(),
                offset: piece.offset,
                length: piece.length,
                group,
            };
            match piece.blobs {
                PieceBlobs::Alone(id) => out.push((id, at(None))),
                PieceBlobs::Group(members) => {
                    let mut start = 0u32;
                    for (id, length) in members {
                        out.push((id, at(Some(InGroup { start, length }))));
                        // Checked when decoded and when written: a group is far below 4 GiB.
                        start = start.saturating_add(length);
                    }
                }
            }
        }
        out
    }

    /// The binary encoding (version 4). Pieces that are not back to back from the pack's start
    /// cannot be said in it; [`PackIndex::of_pack`] makes only ones that are.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80 + self.pieces.len() * 36);
        out.extend_from_slice(INDEX_V4);
        let width = id_width(self.pieces.iter().flat_map(|p| p.blobs.ids()));
        out.push(width as u8);
        fn id_bytes(id: &BlobId, width: usize) -> &[u8] {
            &id.0[..width]
        }
        put_text(&mut out, &self.pack);
        put_varint(&mut out, self.pieces.len() as u64);
        let mut end = 0u64;
        for piece in &self.pieces {
            debug_assert_eq!(piece.offset, end, "pieces back to back");
            end = piece.offset.saturating_add(piece.length);
            put_varint(&mut out, piece.length);
            match &piece.blobs {
                PieceBlobs::Alone(id) => {
                    put_varint(&mut out, 0);
                    out.extend_from_slice(id_bytes(id, width));
                }
                PieceBlobs::Group(members) => {
                    put_varint(&mut out, members.len() as u64);
                    for (id, length) in members {
                        out.extend_from_slice(id_bytes(id, width));
                        put_varint(&mut out, u64::from(*length));
                    }
                }
            }
        }
        out
    }

    /// Decodes a stored index (version 3, 2, or version 1's JSON) read from `path`.
    ///
    /// # Errors
    /// [`crate::Error::Corrupt`] saying what is wrong; [`crate::Error::UnsupportedFormat`] for
    /// a JSON index of another version.
    pub(crate) fn decode(bytes: &[u8], path: &str) -> Result<Self, crate::Error> {
        let corrupt = |reason: String| crate::Error::Corrupt {
            path: path.to_owned(),
            reason: format!("unreadable pack index: {reason}"),
        };
        for (magic, version) in [
            (INDEX_V4, BinaryIndex::V4),
            (INDEX_V3, BinaryIndex::V3),
            (INDEX_V2, BinaryIndex::V2),
        ] {
            if let Some(rest) = bytes.strip_prefix(magic) {
                return Self::decode_binary(rest, version).map_err(corrupt);
            }
        }
        VersionProbe::expect(bytes, path, PACK_INDEX_VERSION)?;
        let PackIndexFile::V1 { pack, blobs } =
            serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        let pieces = blobs
            .into_iter()
            .map(|(id, offset, length)| IndexPiece {
                offset,
                length,
                blobs: PieceBlobs::Alone(id),
            })
            .collect();
        Ok(Self { pack, pieces })
    }

    /// Decodes a binary index (after its magic): no arithmetic or indexing that could panic on
    /// hostile bytes (the lints keep it so).
    #[deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
    fn decode_binary(bytes: &[u8], version: BinaryIndex) -> Result<Self, String> {
        let mut r = Reader::new(bytes);
        let width = match version {
            BinaryIndex::V4 => read_id_width(&mut r)?,
            BinaryIndex::V2 | BinaryIndex::V3 => 32,
        };
        let pack = r.text()?.to_owned();
        let count = r.count()?;
        let mut pieces = Vec::with_capacity(count);
        let mut end = 0u64;
        let id = |r: &mut Reader| read_id(r, width);
        for _ in 0..count {
            let (length, blobs) = if version != BinaryIndex::V2 {
                let length = r.varint()?;
                let blobs = match r.count()? {
                    0 => PieceBlobs::Alone(id(&mut r)?),
                    n => {
                        let mut members = Vec::with_capacity(n);
                        let mut plain = 0u32;
                        for _ in 0..n {
                            let blob = id(&mut r)?;
                            let length = u32::try_from(r.varint()?)
                                .map_err(|_| "a group member of 4 GiB or more")?;
                            plain = plain
                                .checked_add(length)
                                .ok_or("a group of 4 GiB or more")?;
                            members.push((blob, length));
                        }
                        PieceBlobs::Group(members)
                    }
                };
                (length, blobs)
            } else {
                // Version 2: each blob alone, its id then its length.
                let blob = id(&mut r)?;
                (r.varint()?, PieceBlobs::Alone(blob))
            };
            let offset = end;
            end = end
                .checked_add(length)
                .ok_or("piece lengths add up past 2^64 bytes")?;
            pieces.push(IndexPiece {
                offset,
                length,
                blobs,
            });
        }
        if !r.is_done() {
            return Err(format!("{} bytes after the last piece", r.left()));
        }
        Ok(Self { pack, pieces })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u8) -> BlobId {
        BlobId([n; 32])
    }

    fn at(offset: u64, length: u64, group: Option<(u32, u32)>) -> BlobLocation {
        BlobLocation {
            pack: "p".into(),
            offset,
            length,
            group: group.map(|(start, length)| InGroup { start, length }),
        }
    }

    #[test]
    fn an_index_reads_back_with_offsets_following_lengths() {
        let index = PackIndex::of_pack(
            "p".into(),
            [
                (10, PieceBlobs::Alone(id(1))),
                (0, PieceBlobs::Alone(id(2))),
                (
                    300,
                    PieceBlobs::Group(vec![(id(3), 100), (id(4), 0), (id(5), 7)]),
                ),
                (5, PieceBlobs::Alone(id(6))),
            ],
        );
        let bytes = index.encode();
        // magic, id width, pack id, count; then per piece a length, a member count and
        // 32 bytes an id (a group member's plain length after it).
        assert_eq!(
            bytes.len(),
            4 + 1 + 2 + 1 + 3 * (1 + 1 + 32) + (2 + 1 + 3 * 32 + 1 + 1 + 1)
        );
        let decoded = PackIndex::decode(&bytes, "index/p.idx").unwrap();
        assert_eq!(decoded, index);
        assert_eq!(decoded.extent(), 315);
        assert_eq!(
            decoded.locations(),
            vec![
                (id(1), at(0, 10, None)),
                (id(2), at(10, 0, None)),
                (id(3), at(10, 300, Some((0, 100)))),
                (id(4), at(10, 300, Some((100, 0)))),
                (id(5), at(10, 300, Some((100, 7)))),
                (id(6), at(310, 5, None)),
            ]
        );
    }

    #[test]
    fn an_index_of_short_ids_says_each_in_16_bytes() {
        let short = |n: u8| BlobId::short_from_bytes([n; 32]);
        let pieces = |first: BlobId| {
            [
                (10, PieceBlobs::Alone(first)),
                (30, PieceBlobs::Group(vec![(short(3), 10), (short(4), 7)])),
            ]
        };
        let index = PackIndex::of_pack("p".into(), pieces(short(1)));
        let bytes = index.encode();
        assert!(bytes.starts_with(b"DVI4\x10"));
        assert_eq!(
            bytes.len(),
            4 + 1 + 2 + 1 + (1 + 1 + 16) + (1 + 1 + 2 * (16 + 1))
        );
        assert_eq!(PackIndex::decode(&bytes, "index/p.idx").unwrap(), index);
        // One full id: all take 32 bytes.
        let mixed = PackIndex::of_pack("p".into(), pieces(id(1)));
        let long = mixed.encode();
        assert!(long.starts_with(b"DVI4\x20"));
        assert_eq!(long.len(), bytes.len() + 3 * 16);
        assert_eq!(PackIndex::decode(&long, "index/p.idx").unwrap(), mixed);
    }

    #[test]
    fn a_version_3_index_is_still_read() {
        let mut v3 = b"DVI3".to_vec();
        put_text(&mut v3, "p");
        put_varint(&mut v3, 2);
        put_varint(&mut v3, 5);
        put_varint(&mut v3, 0);
        v3.extend_from_slice(&id(7).0);
        put_varint(&mut v3, 9);
        put_varint(&mut v3, 1);
        v3.extend_from_slice(&id(8).0);
        put_varint(&mut v3, 4);
        let index = PackIndex::decode(&v3, "index/p.idx").unwrap();
        assert_eq!(
            index.locations(),
            vec![(id(7), at(0, 5, None)), (id(8), at(5, 9, Some((0, 4))))]
        );
    }

    #[test]
    fn a_version_2_index_is_still_read() {
        let mut v2 = b"DVI2".to_vec();
        put_text(&mut v2, "p");
        put_varint(&mut v2, 2);
        for (n, length) in [(7u8, 5u64), (8, 9)] {
            v2.extend_from_slice(&id(n).0);
            put_varint(&mut v2, length);
        }
        let index = PackIndex::decode(&v2, "index/p.idx").unwrap();
        assert_eq!(
            index.locations(),
            vec![(id(7), at(0, 5, None)), (id(8), at(5, 9, None))]
        );
    }

    #[test]
    fn a_version_1_json_index_is_still_read() {
        let json = serde_json::to_vec(&PackIndexFile::V1 {
            pack: "p".into(),
            blobs: vec![(id(7), 0, 5), (id(8), 5, 9)],
        })
        .unwrap();
        let index = PackIndex::decode(&json, "index/p.json").unwrap();
        assert_eq!(
            index.locations(),
            vec![(id(7), at(0, 5, None)), (id(8), at(5, 9, None))]
        );
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
        let good = PackIndex::of_pack("p".into(), [(4, PieceBlobs::Alone(id(1)))]).encode();
        let mut huge_group = b"DVI3".to_vec();
        put_text(&mut huge_group, "p");
        put_varint(&mut huge_group, 1);
        put_varint(&mut huge_group, 9);
        put_varint(&mut huge_group, 2);
        for _ in 0..2 {
            huge_group.extend_from_slice(&id(1).0);
            put_varint(&mut huge_group, u64::from(u32::MAX));
        }
        let cases: [(&[u8], &str); 7] = [
            (b"DVI4\x08\x01p\x00", "16 or 32"),
            (b"DVI4\x10\x01p\xff\xff\xff\xff\x0f", "cannot fit"),
            (&good[..good.len() - 3], "truncated"),
            (
                &[good.as_slice(), b"x"].concat(),
                "bytes after the last piece",
            ),
            (b"DVI3\x01p\xff\xff\xff\xff\x0f", "cannot fit"),
            (b"DVI2\x01p\xff\xff\xff\xff\x0f", "cannot fit"),
            (&huge_group, "a group of 4 GiB or more"),
        ];
        for (bytes, says) in cases {
            let err = PackIndex::decode(bytes, "index/p.idx")
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{says}: {err}");
        }
    }

    fn any_piece() -> impl Strategy<Value = (u64, PieceBlobs)> {
        let alone = any::<u8>().prop_map(|n| PieceBlobs::Alone(id(n)));
        let group =
            proptest::collection::vec((any::<u8>(), 0u32..100_000), 1..20).prop_map(|members| {
                PieceBlobs::Group(members.into_iter().map(|(n, l)| (id(n), l)).collect())
            });
        (any::<u32>().prop_map(u64::from), prop_oneof![alone, group])
    }

    /// A piece's ids cut to 128 bits (as a tenant keyed since session 25 makes them).
    fn shortened((length, blobs): (u64, PieceBlobs)) -> (u64, PieceBlobs) {
        let short = |id: BlobId| BlobId::short_from_bytes(id.0);
        let blobs = match blobs {
            PieceBlobs::Alone(id) => PieceBlobs::Alone(short(id)),
            PieceBlobs::Group(members) => {
                PieceBlobs::Group(members.into_iter().map(|(id, l)| (short(id), l)).collect())
            }
        };
        (length, blobs)
    }

    proptest! {
        #[test]
        fn any_index_round_trips(
            pack in "[0-9a-f]{0,64}",
            pieces in proptest::collection::vec(any_piece(), 0..30),
            short in any::<bool>(),
        ) {
            let pieces: Vec<_> = match short {
                true => pieces.into_iter().map(shortened).collect(),
                false => pieces,
            };
            let index = PackIndex::of_pack(pack, pieces);
            prop_assert_eq!(PackIndex::decode(&index.encode(), "i").unwrap(), index);
        }

        #[test]
        fn any_bytes_after_the_magic_decode_or_fail_without_panicking(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let _ = PackIndex::decode(&[INDEX_V4.as_slice(), &bytes].concat(), "i");
            let _ = PackIndex::decode(&[INDEX_V4.as_slice(), b"\x10", &bytes].concat(), "i");
            let _ = PackIndex::decode(&[INDEX_V3.as_slice(), &bytes].concat(), "i");
            let _ = PackIndex::decode(&[INDEX_V2.as_slice(), &bytes].concat(), "i");
            let _ = PackIndex::decode(&bytes, "i");
        }
    }
}
