//! The format's round trips and compatibility.

use super::*;
use serde_json::json;

// Regression: `offset + length` from an index file could overflow (a panic in debug
// builds, a wrapped range in release), and a range past a pack's end panicked in prune.
#[test]
fn blob_ranges_that_overflow_or_leave_their_pack_are_refused() {
    let at = |offset, length| BlobLocation {
        pack: "p".into(),
        offset,
        length,
        group: None,
    };
    assert_eq!(at(u64::MAX, 2).range(), None);
    assert_eq!(at(u64::MAX - 1, 1).range(), Some(u64::MAX - 1..u64::MAX));
    assert_eq!(at(10, 5).range_in(15), Some(10..15));
    assert_eq!(at(10, 6).range_in(15), None);
    assert_eq!(at(u64::MAX, 1).range_in(usize::MAX), None);
}

/// The canonical form, written the slow and obvious way: keys sorted at every level.
fn reference_canonical(value: &Value) -> Vec<u8> {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            v => v.clone(),
        }
    }
    serde_json::to_vec(&sorted(value)).unwrap()
}

#[test]
fn canonical_bytes_sort_keys_whatever_orders_came_before() {
    // Maps of the same size in different orders, one after another on one thread: the
    // remembered order of the first must not be trusted for the others.
    let values = [
        json!({"id": "1", "b": 2, "a": {"z": 1, "y": [{"q": 1, "p": 2}]}, "c": "\"\n"}),
        json!({"c": 3, "a": 1, "id": "2", "b": {"y": 1, "z": [{"p": 1, "q": 2}]}}),
        json!({"a": 1, "b": 2, "c": 3, "id": "3"}),
        json!({"id": "4", "c": 3, "b": 2, "a": 1}),
        json!({"id": "5", "b": 2, "a": {"z": 1, "y": 0}, "c": "x"}),
        json!({"é": 1, "e": 2, "E": 3, "ee": 4}),
        // The remembered order holds for the first keys (and a nested map of the same
        // size) and fails only at the last pair: the map is sorted again.
        json!({"a": {"x": 1, "y": 2, "w": 0, "v": 9}, "b": 1, "c": 2, "d": 3}),
        json!({"a": {"x": 1, "y": 2, "w": 0, "v": 9}, "b": 1, "d": 2, "c": 3}),
        // Maps too large to remember an order for (sorted every time), with a small one
        // nested in them, and one of exactly the largest remembered size.
        (0..300)
            .rev()
            .map(|i| (format!("k{i}"), json!({"b": i, "a": [i]})))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        (0..REMEMBERED_ORDER_KEYS)
            .rev()
            .map(|i| (format!("k{i:03}"), json!(i)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        json!({}),
        json!({"only": {}}),
    ];
    for _ in 0..2 {
        for v in &values {
            assert_eq!(
                String::from_utf8(canonical_bytes(v)).unwrap(),
                String::from_utf8(reference_canonical(v)).unwrap()
            );
        }
    }
}

#[test]
fn canonical_strings_and_scalars_are_written_as_serde_json_writes_them() {
    // Every byte that needs escaping (controls, quote, backslash), at every position of
    // an 8-byte stretch, beside bytes that do not (DEL, non-ASCII, emoji, '/').
    let mut strings: Vec<String> = (0u8..0x20)
        .chain([b'"', b'\\'])
        .map(|b| format!("ab{}cdefghijk", char::from(b)))
        .collect();
    for at in 0..9 {
        let mut s = "x".repeat(at);
        s.push('"');
        s.push_str(&"y".repeat(8 - at));
        strings.push(s);
    }
    strings.extend(
        [
            "",
            "plain",
            "\u{7f}",
            "é/ü",
            "🙂\u{2028}",
            "a\\b",
            "quote\"d",
            "tab\there",
        ]
        .map(String::from),
    );
    let mut map = serde_json::Map::new();
    for (i, s) in strings.iter().enumerate() {
        map.insert(s.clone(), json!(i));
        map.insert(format!("v{i:03}"), json!(s));
    }
    for (i, n) in [
        json!(0),
        json!(-7),
        json!(1.5e300),
        json!(u64::MAX),
        json!(-0.25),
    ]
    .into_iter()
    .enumerate()
    {
        map.insert(format!("n{i}"), n);
    }
    map.insert("t".into(), json!(true));
    map.insert("f".into(), json!(false));
    map.insert("z".into(), Value::Null);
    map.insert("arr".into(), json!(strings));
    let value = Value::Object(map);
    assert_eq!(
        String::from_utf8(canonical_bytes(&value)).unwrap(),
        String::from_utf8(reference_canonical(&value)).unwrap()
    );
}

#[test]
fn blob_id_ignores_key_order_but_not_values() {
    let a = BlobId::of(&json!({"id": "1", "b": [1, {"y": null, "x": 2}]}));
    let b = BlobId::of(&json!({"b": [1, {"x": 2, "y": null}], "id": "1"}));
    assert_eq!(a, b);
    assert_ne!(
        a,
        BlobId::of(&json!({"id": "1", "b": [{"x": 2, "y": null}, 1]}))
    );
    assert_ne!(
        a,
        BlobId::of(&json!({"id": "1", "b": [1, {"x": 2}]})),
        "null is a value"
    );
    assert_eq!(a.to_string().len(), 64);
    assert_eq!(BlobId::parse(&a.to_string().to_uppercase()), Some(a));
    assert_eq!(BlobId::parse("zz"), None);
}

#[test]
fn snapshot_file_format_is_pinned() {
    let mut kinds = BTreeMap::new();
    kinds.insert(
        ObjectKind::Users,
        KindRecord {
            status: KindStatus::Complete,
            index: Some(BlobId::of(&json!({"chunks": []}))),
            changes: Some(BlobId::of(&json!({"created": []}))),
            chain: vec![ChainLink {
                blob: BlobId::of(&json!({"created": []})),
                at: Some(BlobLocation {
                    pack: "00ff".into(),
                    offset: 12,
                    length: 34,
                    group: None,
                }),
            }],
            count: 0,
            delta_link: Some("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x".into()),
            ..KindRecord::default()
        },
    );
    kinds.insert(
        ObjectKind::SignIns,
        KindRecord {
            status: KindStatus::Skipped {
                reason: "AuditLog.Read.All not granted".into(),
            },
            ..KindRecord::default()
        },
    );
    kinds.insert(
        ObjectKind::Groups,
        KindRecord {
            status: KindStatus::Failed {
                reason: "HTTP 503".into(),
            },
            ..KindRecord::default()
        },
    );
    let file = SnapshotFile::V6(Snapshot {
        id: SnapshotId::new("20261124T060000Z-0000abcd").unwrap(),
        tenant: TenantId::new("5f1c2d3e-0000-4000-8000-000000000001").unwrap(),
        time: DateTime::parse_from_rfc3339("2026-11-24T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        parent: None,
        kinds,
        relationships: KindRecord {
            index: Some(BlobId::of(&json!({"chunks": []}))),
            chain: vec![ChainLink {
                blob: BlobId::of(&json!({"added": []})),
                at: None,
            }],
            ..KindRecord::default()
        },
        tool_version: "0.1.0".into(),
        integrity: None,
    });
    insta::assert_json_snapshot!(file);
}

#[test]
fn id_filters_say_certainly_not_for_most_absent_ids() {
    let ids: Vec<String> = (0..1000).map(|i| format!("user-{i}")).collect();
    let ids_ref: Vec<&str> = ids.iter().map(String::as_str).collect();
    let filter = IdFilter::new(&ids_ref);
    assert!(
        ids.iter().all(|id| filter.may_contain(id)),
        "no false negatives"
    );
    let false_positives = (0..10_000)
        .filter(|i| filter.may_contain(&format!("other-{i}")))
        .count();
    assert!(false_positives < 300, "{false_positives} of 10,000");
    assert!(
        IdFilter("not base64!".into()).may_contain("x"),
        "unreadable: maybe"
    );
    let empty = IdFilter::new(&[]);
    assert!(!empty.may_contain("x"));
}

#[test]
fn a_manifest_chunk_that_is_not_binary_is_refused() {
    // Earlier development versions wrote chunks as JSON; no repository holds them.
    let entries = serde_json::to_vec(&json!([{"id": "a1", "blob": BlobId::of(&json!({}))}]));
    let err = EntryChunk::decode(&entries.unwrap()).unwrap_err();
    assert!(err.contains("not a manifest chunk"), "{err}");
    // A pack number out of range is an error, not a wrong location.
    let mut bad = b"DVM4".to_vec();
    bad.extend_from_slice(b"\x00\x01\x02a1");
    bad.extend_from_slice(&[7; 32]);
    bad.extend_from_slice(b"\x00\x00\x06\x00\x0a");
    let err = EntryChunk::decode(&bad).unwrap_err();
    assert!(err.contains("pack #6"), "{err}");
}

#[test]
fn binary_manifest_chunks_round_trip_and_say_what_is_wrong() {
    let at = |pack: &str, offset, group| BlobLocation {
        pack: pack.into(),
        offset,
        length: 300,
        group,
    };
    let guid = "0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9";
    let entries = vec![
        ManifestEntry {
            id: ObjectId::new("a1").unwrap(),
            blob: BlobId::of(&json!({"id": "a1"})),
            name: Some("Zoë".into()),
            key: Some("".into()),
            at: Some(at("p1", 1 << 40, None)),
        },
        ManifestEntry {
            id: ObjectId::new("b2").unwrap(),
            blob: BlobId::of(&json!({"id": "b2"})),
            name: None,
            key: None,
            at: None,
        },
        // A GUID in Graph's form is stored as its 16 bytes; in any other form, as text, so
        // that each reads back as it was.
        ManifestEntry {
            id: ObjectId::new(guid).unwrap(),
            blob: BlobId::of(&json!({"id": guid})),
            name: Some("Adele".into()),
            key: Some("adele@contoso.com".into()),
            at: Some(at(
                "p2",
                7,
                Some(InGroup {
                    start: 0,
                    length: 0,
                }),
            )),
        },
        ManifestEntry {
            id: ObjectId::new(guid.to_uppercase()).unwrap(),
            blob: BlobId::of(&json!({"id": guid.to_uppercase()})),
            name: None,
            key: None,
            at: Some(at(
                "p1",
                9,
                Some(InGroup {
                    start: u32::MAX,
                    length: u32::MAX,
                }),
            )),
        },
    ];
    let chunk = EntryChunk::new(&entries);
    let bytes = chunk.encode();
    assert!(bytes.starts_with(b"DVM6"));
    assert_eq!(EntryChunk::decode(&bytes).unwrap(), entries);
    // One encoding for one chunk (content addressing depends on it).
    assert_eq!(EntryChunk::new(&entries).encode(), bytes);
    // The layout, pinned: magic, 32-byte blob ids, 2 packs "p1" "p2", 4 entries, the first
    // one's id "a1" (its length + 1: 0 says a GUID's 16 bytes follow).
    assert_eq!(&bytes[..16], b"DVM6\x20\x02\x02p1\x02p2\x04\x03a1");
    let third = bytes
        .windows(17)
        .position(|w| w[0] == 0 && w[1..] == uuid::Uuid::parse_str(guid).unwrap().as_bytes()[..]);
    assert!(third.is_some(), "the GUID as 16 bytes");
    // Every truncation is an error, never a shorter list.
    for end in 4..bytes.len() {
        assert!(EntryChunk::decode(&bytes[..end]).is_err(), "cut at {end}");
    }
    let mut long = bytes.clone();
    long.push(0);
    let err = EntryChunk::decode(&long).unwrap_err();
    assert!(err.contains("after the last entry"), "{err}");
    // A huge count is refused before anything is allocated for it.
    for huge in [
        &b"DVM5\xff\xff\xff\xff\x0f"[..],
        b"DVM6\x10\xff\xff\xff\xff\x0f",
    ] {
        let err = EntryChunk::decode(huge).unwrap_err();
        assert!(err.contains("cannot fit"), "{err}");
    }
    // Blob ids of a width other than 16 or 32 are refused.
    let err = EntryChunk::decode(b"DVM6\x11\x00\x00").unwrap_err();
    assert!(err.contains("16 or 32"), "{err}");
    // A place in a group beyond 32 bits is refused.
    let mut bad = b"DVM5\x01\x01p\x01\x03a1".to_vec();
    bad.extend_from_slice(&[7; 32]);
    bad.extend_from_slice(b"\x00\x00\x01\x00\x01\xff\xff\xff\xff\x7f\x00");
    let err = EntryChunk::decode(&bad).unwrap_err();
    assert!(err.contains("4 GiB"), "{err}");
}

/// Tenants keyed since session 25 have short (128-bit) blob ids: their chunks say each in 16
/// bytes, and read back the same.
#[test]
fn manifest_chunks_of_short_ids_say_each_in_16_bytes() {
    let entries: Vec<ManifestEntry> = (0..5u8)
        .map(|i| ManifestEntry {
            id: ObjectId::new(format!("0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f{i}")).unwrap(),
            blob: BlobId::short_from_bytes([i + 1; 32]),
            name: Some(format!("User {i}").into()),
            key: None,
            at: None,
        })
        .collect();
    let short = EntryChunk::new(&entries).encode();
    assert!(short.starts_with(b"DVM6\x10"));
    assert_eq!(EntryChunk::decode(&short).unwrap(), entries);
    // One full id among them: every id of the chunk takes 32 bytes.
    let mut mixed = entries.clone();
    mixed[2].blob = BlobId([9; 32]);
    let long = EntryChunk::new(&mixed).encode();
    assert!(long.starts_with(b"DVM6\x20"));
    assert_eq!(long.len(), short.len() + 5 * 16);
    assert_eq!(EntryChunk::decode(&long).unwrap(), mixed);
}

/// Chunks of session 24 (`DVM5`: 32-byte blob ids, no width byte) are still read.
#[test]
fn version_5_manifest_chunks_are_still_read() {
    let mut v5 = b"DVM5\x01\x02p1\x01\x00".to_vec();
    let guid = "0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9";
    v5.extend_from_slice(uuid::Uuid::parse_str(guid).unwrap().as_bytes());
    v5.extend_from_slice(&[7; 32]);
    v5.extend_from_slice(b"\x06Adele\x00\x01\x05\xac\x02\x0b\x09");
    let place = InGroup {
        start: 10,
        length: 9,
    };
    assert_eq!(
        EntryChunk::decode(&v5).unwrap(),
        vec![earlier_chunks_entry(guid, Some(place))]
    );
}

/// The one entry the hand-written chunks of earlier versions hold: "Adele", blob `[7; 32]`, in
/// pack "p1" at 5 (300 bytes), at `group` there.
fn earlier_chunks_entry(guid: &str, group: Option<InGroup>) -> ManifestEntry {
    ManifestEntry {
        id: ObjectId::new(guid).unwrap(),
        blob: BlobId([7; 32]),
        name: Some("Adele".into()),
        key: None,
        at: Some(BlobLocation {
            pack: "p1".into(),
            offset: 5,
            length: 300,
            group,
        }),
    }
}

/// Chunks written before groups and binary GUIDs (`DVM4`: ids as text, locations without a
/// place in a group) are still read.
#[test]
fn version_4_manifest_chunks_are_still_read() {
    let mut v4 = b"DVM4\x01\x02p1\x01".to_vec();
    let guid = "0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9";
    v4.push(guid.len() as u8);
    v4.extend_from_slice(guid.as_bytes());
    v4.extend_from_slice(&[7; 32]);
    v4.extend_from_slice(b"\x06Adele\x00\x01\x05\xac\x02");
    assert_eq!(
        EntryChunk::decode(&v4).unwrap(),
        vec![earlier_chunks_entry(guid, None)]
    );
}

#[test]
fn snapshot_records_of_another_format_are_refused_by_name() {
    let path = "tenants/t/snapshots/20261124T060000Z-0000abcd.json";
    for (record, found) in [
        (json!({"version": "5", "kinds": {}}), Some("5")),
        (
            json!({"version": "1", "kinds": {"users": {"manifest": []}}}),
            Some("1"),
        ),
        (json!({"version": 6}), Some("6 (not a string)")),
        (json!({"kinds": {}}), None),
        (json!([1, 2]), None),
    ] {
        let bytes = serde_json::to_vec(&record).unwrap();
        match SnapshotFile::decode(&bytes, path) {
            Err(crate::Error::UnsupportedFormat {
                path: p,
                found: f,
                supported,
            }) => {
                assert_eq!(p, path);
                assert_eq!(f.as_deref(), found, "{record}");
                assert_eq!(supported, FORMAT_VERSION);
            }
            other => panic!("{record}: {other:?}"),
        }
    }
    let message = SnapshotFile::decode(br#"{"version":"5"}"#, path)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("format \"5\"") && message.contains("reads only format 6"),
        "{message}"
    );
}
