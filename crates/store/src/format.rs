//! The persisted format (see `docs/storage-format.md`). Every file carries a version.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use dirvault_model::{ObjectId, ObjectKind, SnapshotId, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A blob's id: the SHA-256 (hex) of its canonical JSON (keys sorted, no whitespace), so the
/// same object always has the same id whatever order Graph sent its properties in.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlobId(String);

impl BlobId {
    /// The id of a JSON value.
    pub fn of(value: &Value) -> Self {
        Self::of_canonical(&canonical_bytes(value))
    }

    /// The id of canonical JSON bytes (as [`canonical_bytes`] writes them).
    pub fn of_canonical(bytes: &[u8]) -> Self {
        Self(hex(&Sha256::digest(bytes)))
    }

    /// The hex string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a hex id.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(s.to_ascii_lowercase()))
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", &self.0[..12.min(self.0.len())])
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JSON value's canonical form: object keys sorted, no whitespace. Blobs are stored this
/// way, so that a blob's bytes hash to its id and reading verifies without re-serializing.
pub(crate) fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).unwrap_or_default());
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).unwrap_or_default()),
    }
}

/// Where a blob lives: its pack, and its compressed byte range there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobLocation {
    /// The pack.
    pub pack: String,
    /// Offset of the compressed bytes.
    pub offset: u64,
    /// Length of the compressed bytes.
    pub length: u64,
}

/// A pack's index file: which blobs it holds, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum PackIndexFile {
    /// Version 1.
    #[serde(rename = "1")]
    V1 {
        /// The pack id (SHA-256 of the pack file).
        pack: String,
        /// `(blob, offset, length)` for each blob.
        blobs: Vec<(BlobId, u64, u64)>,
    },
}

/// How a kind's backup ended.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum KindStatus {
    /// Every object was read.
    #[default]
    Complete,
    /// Reading failed: the manifest (if any) is the previous snapshot's, never "all deleted".
    Failed {
        /// Why.
        reason: String,
    },
    /// Not backed up (not selected, or the app lacks the permission).
    Skipped {
        /// Why.
        reason: String,
    },
}

/// One kind in a snapshot.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KindRecord {
    /// How its backup ended.
    #[serde(flatten)]
    pub status: KindStatus,
    /// Format 1: the manifest's chunks inline (blobs holding JSON arrays of [`ManifestEntry`],
    /// sorted by id). Format 2 writes [`KindRecord::index`] instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifest: Vec<BlobId>,
    /// Format 2: the blob of the manifest's [`ManifestIndex`]: its content-defined chunks
    /// with their first ids, so that one object is found by reading one chunk, and an
    /// unchanged kind is the same blob as in the parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<BlobId>,
    /// Format 2: the blob of the [`Changeset`] against the parent snapshot; absent when
    /// nothing changed or there is no parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<BlobId>,
    /// Where the index blob was written (a hint, as [`ChunkRef::at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_at: Option<BlobLocation>,
    /// Where the changeset blob was written (a hint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes_at: Option<BlobLocation>,
    /// Objects in the manifest.
    pub count: usize,
    /// The deltaLink to continue from, for kinds with delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_link: Option<String>,
}

/// The chunks of a kind's manifest, in id order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ManifestIndex {
    /// Each chunk: its blob, its first object id and its number of entries.
    pub chunks: Vec<ChunkRef>,
}

/// One chunk of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// The blob (a JSON array of [`ManifestEntry`]).
    pub blob: BlobId,
    /// Its first object id (chunks are sorted by id and do not overlap).
    pub first: String,
    /// Entries in it.
    pub count: usize,
    /// Where the chunk was written: a hint that spares loading the tenant's whole blob index
    /// (checked against the blob id; after a repack the index is used instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<BlobLocation>,
}

/// What changed in a kind since the parent snapshot: the entries of objects created and
/// modified (new versions), and of objects deleted (the parent's version).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Changeset {
    /// New objects.
    #[serde(default)]
    pub created: Vec<ManifestEntry>,
    /// Objects with a new version.
    #[serde(default)]
    pub modified: Vec<ManifestEntry>,
    /// Objects gone (their last version).
    #[serde(default)]
    pub deleted: Vec<ManifestEntry>,
}

/// How the relationships changed since the parent snapshot.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RelationshipChanges {
    /// Relationships that are new.
    #[serde(default)]
    pub added: Vec<dirvault_model::Relationship>,
    /// Relationships that are gone.
    #[serde(default)]
    pub removed: Vec<dirvault_model::Relationship>,
}

/// One object in a manifest: its version and the summary listing and search need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestEntry {
    /// Object id.
    pub id: ObjectId,
    /// The object version's blob.
    pub blob: BlobId,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A second key: UPN (users), appId (applications, service principals), mail (groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Where the version's blob is (a hint, as [`ChunkRef::at`]): showing an object or its
    /// history needs no blob index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<BlobLocation>,
}

/// A committed snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Its id (sorts by time).
    pub id: SnapshotId,
    /// The tenant.
    pub tenant: TenantId,
    /// When the backup started.
    pub time: DateTime<Utc>,
    /// The snapshot it was taken incrementally from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<SnapshotId>,
    /// Every kind.
    pub kinds: BTreeMap<ObjectKind, KindRecord>,
    /// Format 1: the relationships' chunks inline (blobs holding JSON arrays of
    /// relationships, sorted). Format 2 writes [`Snapshot::relationship_index`] instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationships: Vec<BlobId>,
    /// Format 2: the blob listing the relationships' chunks (a [`ManifestIndex`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_index: Option<BlobId>,
    /// Where the relationship index was written (a hint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_index_at: Option<BlobLocation>,
    /// Format 2: the blob of the [`RelationshipChanges`] against the parent; absent when none
    /// changed or there is no parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_changes: Option<BlobId>,
    /// Relationships in it.
    #[serde(default)]
    pub relationship_count: usize,
    /// The dirvault version that wrote it.
    pub tool_version: String,
}

impl Snapshot {
    /// Every blob the snapshot record names itself: format 1 chunks, format 2 indexes and
    /// changesets (whose chunks [`crate::Repository::snapshot_blobs`] adds).
    pub fn root_blobs(&self) -> impl Iterator<Item = &BlobId> {
        self.kinds
            .values()
            .flat_map(|k| k.manifest.iter().chain(&k.index).chain(&k.changes))
            .chain(self.relationships.iter())
            .chain(&self.relationship_index)
            .chain(&self.relationship_changes)
    }
}

/// The versioned snapshot file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum SnapshotFile {
    /// Version 1: manifests and relationship chunks inline.
    #[serde(rename = "1")]
    V1(Snapshot),
    /// Version 2: manifest indexes, changesets, a relationship index.
    #[serde(rename = "2")]
    V2(Snapshot),
}

impl SnapshotFile {
    /// The snapshot, whatever the version.
    pub fn into_snapshot(self) -> Snapshot {
        match self {
            SnapshotFile::V1(s) | SnapshotFile::V2(s) => s,
        }
    }
}

/// A tenant's lease: keeps two writers off the same tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseRecord {
    /// Who holds it (host, process, random suffix).
    pub owner: String,
    /// When it expires unless renewed.
    pub expires: DateTime<Utc>,
}

/// A new snapshot id: `YYYYMMDDTHHMMSSZ-xxxxxxxx`, so that ids sort by time.
pub fn new_snapshot_id(time: DateTime<Utc>) -> SnapshotId {
    let suffix: u32 = rand::random();
    let id = format!("{}-{suffix:08x}", time.format("%Y%m%dT%H%M%SZ"));
    // The format has no whitespace or '/': always a valid id.
    SnapshotId::new(id).unwrap_or_else(|_| unreachable!())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert_eq!(a.as_str().len(), 64);
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
                count: 0,
                delta_link: Some(
                    "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x".into(),
                ),
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
        let file = SnapshotFile::V2(Snapshot {
            id: SnapshotId::new("20261124T060000Z-0000abcd").unwrap(),
            tenant: TenantId::new("5f1c2d3e-0000-4000-8000-000000000001").unwrap(),
            time: DateTime::parse_from_rfc3339("2026-11-24T06:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            parent: None,
            kinds,
            relationships: Vec::new(),
            relationship_index: None,
            relationship_index_at: None,
            relationship_changes: None,
            relationship_count: 0,
            tool_version: "0.1.0".into(),
        });
        insta::assert_json_snapshot!(file);
    }

    #[test]
    fn format_1_snapshot_files_are_still_read() {
        let v1 = json!({"version": "1", "id": "20261124T060000Z-0000abcd",
            "tenant": "5f1c2d3e-0000-4000-8000-000000000001", "time": "2026-11-24T06:00:00Z",
            "kinds": {"users": {"status": "complete", "manifest": [BlobId::of(&json!([]))], "count": 0}},
            "relationships": [BlobId::of(&json!([]))], "relationshipCount": 0, "toolVersion": "0.1.0"});
        let file: SnapshotFile = serde_json::from_value(v1).unwrap();
        let s = file.into_snapshot();
        assert_eq!(s.kinds[&ObjectKind::Users].manifest.len(), 1);
        assert!(s.kinds[&ObjectKind::Users].index.is_none());
        assert_eq!(s.root_blobs().count(), 2);
    }
}
