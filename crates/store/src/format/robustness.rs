//! Decoders against hostile input (property tests).

use super::*;
use proptest::prelude::*;

proptest! {
    #[test]
    fn blob_ids_parse_back_from_either_case_and_nothing_else_parses(
        bytes in any::<[u8; 32]>(),
        noise in "\\PC{0,80}",
    ) {
        let id = BlobId(bytes);
        let text = id.to_string();
        prop_assert_eq!(text.len(), 64);
        prop_assert_eq!(BlobId::parse(&text), Some(id));
        prop_assert_eq!(BlobId::parse(&text.to_uppercase()), Some(id));
        prop_assert_eq!(BlobId::parse(&format!("0x{}", &text[2..])), None);
        // A short id (a tenant keyed since session 25): 32 digits.
        let short = BlobId::short_from_bytes(bytes);
        prop_assert!(short.is_short() && !id.is_short());
        prop_assert_eq!(short.to_string().len(), 32);
        prop_assert_eq!(BlobId::parse(&short.to_string()), Some(short));
        prop_assert_eq!(BlobId::parse(&short.to_string().to_uppercase()), Some(short));
        prop_assert_eq!(BlobId::parse(&format!("{short}{}", "0".repeat(32))), Some(short));
        if let Some(parsed) = BlobId::parse(&noise) {
            prop_assert_eq!(parsed.to_string(), noise.to_lowercase());
        }
    }
}

fn sample() -> Vec<ManifestEntry> {
    (0..20)
        .map(|i| ManifestEntry {
            id: ObjectId::new(format!("{i:08x}-0000-4000-8000-000000000000")).unwrap(),
            blob: BlobId::of_canonical(format!("blob {i}").as_bytes()),
            name: Some(Text::from(format!("User {i}"))),
            key: (i % 2 == 0).then(|| Text::from(format!("user{i}@contoso.com"))),
            at: Some(BlobLocation {
                pack: format!("pack{}", i % 3).into(),
                offset: i * 100,
                length: 90,
                group: (i % 2 == 1).then(|| InGroup {
                    start: i as u32 * 10,
                    length: 9,
                }),
            }),
        })
        .collect()
}

proptest! {
    // Manifest chunks: arbitrary bytes and mutations of valid chunks decode or fail with a
    // message, never panic.
    #[test]
    fn any_manifest_chunk_decodes_or_fails(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = EntryChunk::decode(&bytes);
        let mut binary = BINARY_CHUNK.to_vec();
        binary.extend_from_slice(&bytes);
        let _ = EntryChunk::decode(&binary);
        let mut short = BINARY_CHUNK.to_vec();
        short.push(16);
        short.extend_from_slice(&bytes);
        let _ = EntryChunk::decode(&short);
    }

    #[test]
    fn mutated_manifest_chunks_decode_or_fail(
        flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8),
        cut in any::<u16>(),
    ) {
        let mut bytes = EntryChunk::new(&sample()).encode();
        for (at, byte) in flips {
            let i = usize::from(at) % bytes.len();
            bytes[i] ^= byte;
        }
        bytes.truncate(usize::from(cut) % (bytes.len() + 1));
        if let Ok(entries) = EntryChunk::decode(&bytes) {
            for e in entries {
                let _ = e.at.as_ref().map(BlobLocation::range);
            }
        }
    }

    // A decoding that keeps some entries is the whole decoding filtered, and never fails
    // where the whole one reads (it only leaves out checks of entries it does not make).
    #[test]
    fn a_matching_decode_is_the_whole_decode_filtered(
        bits in any::<u32>(),
        flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = EntryChunk::new(&sample()).encode();
        for (at, byte) in flips {
            let i = usize::from(at) % bytes.len();
            bytes[i] ^= byte;
        }
        let keep = |e: EntryText<'_>| {
            let text = [Some(e.id), e.name, e.key].into_iter().flatten().collect::<String>();
            let hash = text.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
            bits >> (hash % 32) & 1 == 1
        };
        match (EntryChunk::decode(&bytes), EntryChunk::decode_matching(&bytes, &keep)) {
            (Ok(all), Ok(kept)) => {
                let filtered: Vec<ManifestEntry> = all.into_iter().filter(|e| keep(e.text())).collect();
                prop_assert_eq!(filtered, kept);
            }
            (Ok(_), Err(e)) => prop_assert!(false, "only the matching decoding failed: {}", e),
            (Err(_), _) => {}
        }
    }

    // Snapshot records and pack indexes are JSON: a mutated record reads or fails, and
    // what reads is checked (integrity) without panicking.
    #[test]
    fn mutated_snapshot_records_read_or_fail(
        flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6),
    ) {
        let mut record = serde_json::to_vec(&SnapshotFile::V6(Snapshot {
            id: SnapshotId::new("20261124T060000Z-0000abcd").unwrap(),
            tenant: TenantId::new("5f1c2d3e-0000-4000-8000-000000000000").unwrap(),
            time: chrono::DateTime::parse_from_rfc3339("2026-11-24T06:00:00Z").unwrap().into(),
            parent: None,
            kinds: BTreeMap::new(),
            relationships: KindRecord { count: 3, ..KindRecord::default() },
            tool_version: "0.1.0".into(),
            integrity: None,
        })).unwrap();
        for (at, byte) in flips {
            let i = usize::from(at) % record.len();
            record[i] ^= byte;
        }
        if let Ok(snapshot) = SnapshotFile::decode(&record, "snapshots/x.json") {
            let _ = snapshot.integrity_problem("5f1c2d3e-0000-4000-8000-000000000000", "20261124T060000Z-0000abcd");
            let _ = snapshot.root_blobs().count();
        }
        let _ = PackIndex::decode(&record, "index/x.json");
    }
}
