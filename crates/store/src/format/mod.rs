//! The persisted format (see `docs/storage-format.md`). Every file carries a version.
//!
//! The records are here; how blobs are made canonical is in [`canonical`], how manifest
//! chunks are encoded in [`chunk`], pack indexes in [`pack_index`].

mod canonical;
mod changeset;
mod chunk;
mod name_chunk;
mod name_filter;
mod pack_index;
mod record;
mod record_pack;
#[cfg(test)]
mod robustness;
#[cfg(test)]
mod tests;

pub(crate) use canonical::*;
pub(crate) use chunk::*;
pub(crate) use name_chunk::*;
pub(crate) use name_filter::*;
pub(crate) use pack_index::*;
pub(crate) use record::*;
pub(crate) use record_pack::*;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use chrono::{DateTime, Utc};
use dirvault_model::{ObjectId, ObjectKind, SnapshotId, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A blob's id: the SHA-256 of its canonical JSON (keys sorted, no whitespace), so the same
/// object always has the same id whatever order Graph sent its properties in; in an encrypted
/// repository a keyed hash of it instead ([`crate::ContentIds`]), which tenants keyed since
/// session 25 cut to 128 bits (a **short** id: the last 16 bytes zero). Written as 64 hex
/// digits, a short id as 32; held as 32 bytes (manifests hold hundreds of thousands of them).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlobId([u8; 32]);

impl std::hash::Hash for BlobId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // A SHA-256 is uniform already: its first 8 bytes are as good a key as all 32, and a
        // quarter of the hashing (tables of hundreds of thousands of ids are looked up once
        // per object). Equal ids still hash equal; equality compares all 32 bytes.
        hash_head(&self.0, state);
    }
}

/// Feeds the first 8 bytes of a uniform id (a digest or keyed hash) to `state`: as good a
/// key as the whole id, for a fraction of the hashing.
pub(crate) fn hash_head<H: std::hash::Hasher>(id: &[u8], state: &mut H) {
    match id.first_chunk::<8>() {
        Some(first) => state.write_u64(u64::from_le_bytes(*first)),
        None => state.write(id),
    }
}

impl BlobId {
    /// The id of a JSON value.
    pub fn of(value: &Value) -> Self {
        Self::of_canonical(&canonical_bytes(value))
    }

    /// The id of canonical JSON bytes (keys sorted, no whitespace).
    pub fn of_canonical(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// The id of these 32 bytes (a keyed content id).
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The short id made of the first 16 of these bytes (a keyed content id cut to 128 bits).
    pub(crate) fn short_from_bytes(bytes: [u8; 32]) -> Self {
        let mut id = [0u8; 32];
        id[..SHORT_ID_BYTES].copy_from_slice(&bytes[..SHORT_ID_BYTES]);
        Self(id)
    }

    /// Whether this is a short (128-bit) id: its last 16 bytes are zero. A full SHA-256 or
    /// HMAC ends in 16 zero bytes with a chance of 2^-128, so the two kinds never meet.
    pub fn is_short(&self) -> bool {
        self.0[SHORT_ID_BYTES..].iter().all(|b| *b == 0)
    }

    /// The bytes that say this id: 16 for a short one, else 32.
    pub(crate) fn significant(&self) -> &[u8] {
        match self.is_short() {
            true => &self.0[..SHORT_ID_BYTES],
            false => &self.0,
        }
    }

    /// The id said by `bytes` (16 for a short id, or 32); `None` for another length.
    pub(crate) fn from_significant(bytes: &[u8]) -> Option<Self> {
        let mut id = [0u8; 32];
        match bytes.len() {
            SHORT_ID_BYTES | 32 => id[..bytes.len()].copy_from_slice(bytes),
            _ => return None,
        }
        Some(Self(id))
    }

    /// Parses a hex id (either case): 64 digits, or 32 for a short id.
    pub fn parse(s: &str) -> Option<Self> {
        // Exactly 32 or 64 digits: `decode_to_array` would also take a `0x` prefix.
        match s.len() {
            64 => hex::decode_to_array(s).ok().map(Self),
            32 => hex::decode_to_array::<_, SHORT_ID_BYTES>(s)
                .ok()
                .and_then(|bytes| Self::from_significant(&bytes)),
            _ => None,
        }
    }
}

/// The bytes of a short blob id.
pub(crate) const SHORT_ID_BYTES: usize = 16;

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.significant()))
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", &hex::encode(&self.0[..6]))
    }
}

impl Serialize for BlobId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.significant()))
    }
}

impl<'de> Deserialize<'de> for BlobId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = BlobId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a blob id (64 hex digits, or 32 for a short one)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BlobId, E> {
                BlobId::parse(v).ok_or_else(|| E::custom(format!("not a blob id: {v:?}")))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Where a blob lives: its pack, the byte range there of what was compressed (and sealed) as
/// one piece, and, for a blob stored in a group, its place in the group's plain bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobLocation {
    /// The pack (shared: the many blobs of a pack name it once in memory).
    pub pack: std::sync::Arc<str>,
    /// Offset of the compressed bytes (the blob's, or its group's).
    pub offset: u64,
    /// Length of the compressed bytes (the blob's, or its group's).
    pub length: u64,
    /// Where the blob is in its group, when it was compressed together with others (object
    /// versions of one kind are: see docs/storage-format.md, "Groups"); `None` for a blob
    /// compressed alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<InGroup>,
}

/// A blob's byte range in the plain (decompressed) bytes of its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InGroup {
    /// Where the blob starts.
    pub start: u32,
    /// Its length.
    pub length: u32,
}

impl InGroup {
    /// The range in a group of `len` plain bytes; `None` when it does not fit.
    pub fn range_in(&self, len: usize) -> Option<std::ops::Range<usize>> {
        let start = usize::try_from(self.start).ok()?;
        let end = start.checked_add(usize::try_from(self.length).ok()?)?;
        (end <= len).then_some(start..end)
    }
}

impl BlobLocation {
    /// The blob's byte range in its pack; `None` when `offset + length` overflows (a corrupt
    /// or hostile index).
    pub fn range(&self) -> Option<std::ops::Range<u64>> {
        Some(self.offset..self.offset.checked_add(self.length)?)
    }

    /// The blob's byte range in a pack of `len` bytes read whole; `None` when it does not
    /// fit.
    pub fn range_in(&self, len: usize) -> Option<std::ops::Range<usize>> {
        let range = self.range()?;
        let (start, end) = (
            usize::try_from(range.start).ok()?,
            usize::try_from(range.end).ok()?,
        );
        (end <= len).then_some(start..end)
    }
}

/// The version pack index files carry (they are part of format [`FORMAT_VERSION`]).
pub(crate) const PACK_INDEX_VERSION: &str = "1";

/// A pack's index file: which blobs it holds, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub(crate) enum PackIndexFile {
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
    /// The blob of the manifest's index: its content-defined chunks with their first ids, so
    /// that one object is found by reading one chunk, and an unchanged kind is the same blob
    /// as in the parent. Absent for a kind that never had an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) index: Option<BlobId>,
    /// The blob of the [`ChangesetFile`] against the parent snapshot; absent when nothing changed
    /// or there is no parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) changes: Option<BlobId>,
    /// Where the index blob was written (a hint, as [`ChunkRef::at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) index_at: Option<BlobLocation>,
    /// Where the changeset blob was written (a hint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) changes_at: Option<BlobLocation>,
    /// Which object ids the changeset names, as an [`IdFilter`]: an object's history reads
    /// only the changesets that may name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) changes_filter: Option<IdFilter>,
    /// The changesets since the snapshot that wrote [`KindRecord::index`] (the base), oldest
    /// first. The manifest is the base's chunks with these applied in order;
    /// empty when this snapshot wrote the index itself. An incremental backup that changes 1%
    /// of a kind writes one small changeset instead of every chunk and the index it touches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) chain: Vec<ChainLink>,
    /// Objects in the manifest.
    pub count: usize,
    /// The deltaLink to continue from, for kinds with delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_link: Option<String>,
    /// The `$select` the delta round behind [`KindRecord::delta_link`] asked for: a deltaLink
    /// returns only those properties, so a backup that would ask for more (Graph declared a
    /// new property, the tenant registered an extension) reads the kind in full again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selected: Vec<String>,
}

/// One changeset of a chain of them on top of a base index ([`KindRecord::chain`],
/// [`Snapshot::relationships`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChainLink {
    /// The changeset blob ([`ChangesetFile`] for a kind, [`RelationshipChangesFile`] for relationships).
    pub blob: BlobId,
    /// Where it was written (a hint, as [`ChunkRef::at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<BlobLocation>,
}

impl KindRecord {
    /// Whether the changes this record's snapshot made may name object `id`: `false` only
    /// when they certainly do not (its change log can skip the snapshot without reading it).
    pub fn changes_may_name(&self, id: &str) -> bool {
        self.changes.is_some()
            && self
                .changes_filter
                .as_ref()
                .is_none_or(|f| f.may_contain(id))
    }

    /// Whether the snapshot recorded changes against its parent for this kind (none: no
    /// parent, or nothing changed).
    pub fn has_changes(&self) -> bool {
        self.changes.is_some()
    }

    /// Whether two records are built on the same base index (the snapshot that wrote it last
    /// rewrote the chunks; others chain changesets on it).
    pub fn shares_base(&self, other: &KindRecord) -> bool {
        self.index == other.index
    }

    /// How many changesets are chained on the base (0 for a snapshot that wrote its index).
    pub fn chain_length(&self) -> usize {
        self.chain.len()
    }

    /// Whether two records hold the same manifest by construction: the same index with the
    /// same chain on top (records without an index compare as different).
    pub fn same_manifest(&self, other: &KindRecord) -> bool {
        self.index.is_some() && self.index == other.index && self.chain == other.chain
    }
}

/// A Bloom filter of object ids (base64 of its bits): "maybe" or "certainly not". 10 bits and
/// 7 probes per id (about 1% false positives); the probes are FNV-1a 64 of the id, split into
/// two 32-bit halves `h1`, `h2`, probe `i` at bit `(h1 + i·h2) mod bits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct IdFilter(String);

impl IdFilter {
    const BITS_PER_ID: usize = 10;
    const PROBES: u64 = 7;

    fn probes(id: &str, bits: u64) -> impl Iterator<Item = u64> {
        let hash = dirvault_model::fnv1a(id.as_bytes());
        let (h1, h2) = (hash & 0xffff_ffff, hash >> 32);
        (0..Self::PROBES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
    }

    /// The filter of some ids.
    pub(crate) fn new(ids: &[&str]) -> Self {
        let mut bits = vec![0u8; (ids.len() * Self::BITS_PER_ID).div_ceil(8).max(1)];
        let n = bits.len() as u64 * 8;
        for id in ids {
            for bit in Self::probes(id, n) {
                bits[(bit / 8) as usize] |= 1 << (bit % 8);
            }
        }
        use base64::Engine as _;
        Self(base64::engine::general_purpose::STANDARD_NO_PAD.encode(bits))
    }

    /// Whether `id` may be in the set (`true` when the filter cannot be read).
    pub(crate) fn may_contain(&self, id: &str) -> bool {
        use base64::Engine as _;
        let Ok(bits) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(&self.0) else {
            return true;
        };
        if bits.is_empty() {
            return true;
        }
        let n = bits.len() as u64 * 8;
        Self::probes(id, n).all(|bit| bits[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
    }
}

/// The chunks of a kind's manifest, in id order (and in name order: [`ManifestIndex::by_name`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct ManifestIndex {
    /// Each chunk: its blob, its first object id and its number of entries.
    pub chunks: Vec<ChunkRef>,
    /// The same entries in name order ([`crate::name_order`]), each with only its id, name
    /// and key, in content-defined name chunks of about [`NAME_CHUNK_DIVISOR`] entries
    /// (`first` is a chunk's first id): a page by name reads the first few instead of every
    /// entry, a search their texts instead of the entries. Written with every base of a kind
    /// since session 30 of dirvault's development; absent before, and for relationships.
    #[serde(default, rename = "byName", skip_serializing_if = "Vec::is_empty")]
    pub by_name: Vec<ChunkRef>,
    /// The name chunks' filters ([`NameFilter`], one blob for them all, in their order): a
    /// search reads only the name chunks that may hold its needle. Written with every base's
    /// name chunks since session 33 of dirvault's development; absent before.
    #[serde(
        default,
        rename = "nameFilters",
        skip_serializing_if = "Option::is_none"
    )]
    pub name_filters: Option<BlobRef>,
}

/// A blob and where it was written (a hint, as [`ChunkRef::at`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlobRef {
    /// The blob.
    pub blob: BlobId,
    /// Where it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<BlobLocation>,
}

/// One chunk of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChunkRef {
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
pub(crate) struct ChangesetFile {
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
pub(crate) struct RelationshipChangesFile {
    /// Relationships that are new.
    #[serde(default)]
    pub added: Vec<dirvault_model::Relationship>,
    /// Relationships that are gone.
    #[serde(default)]
    pub removed: Vec<dirvault_model::Relationship>,
}

/// Text of a manifest entry (a name or key): a reference-counted string, or a part of one.
/// A decoded manifest chunk keeps the texts of all its entries in one buffer, so that reading
/// and dropping a hundred thousand entries allocates and frees a few hundred buffers, not a
/// hundred thousand strings.
pub type Text = arcstr::Substr;

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
    pub name: Option<Text>,
    /// A second key: UPN (users), appId (applications, service principals), mail (groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Text>,
    /// Where the version's blob is (a hint, as [`ChunkRef::at`]): showing an object or its
    /// history needs no blob index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) at: Option<BlobLocation>,
}

impl ManifestEntry {
    /// An entry for the version `blob` of object `id`, with the name and second key that
    /// listing and search show.
    pub fn new(id: ObjectId, blob: BlobId, name: Option<Text>, key: Option<Text>) -> Self {
        Self {
            id,
            blob,
            name,
            key,
            at: None,
        }
    }

    /// Drops where the version is stored (a hint for reading it back), for an entry handed
    /// to someone who shows it rather than reads it: a listing in the daemon's API.
    pub fn clear_location(&mut self) {
        self.at = None;
    }

    /// The entry's texts, as a search sees them.
    pub fn text(&self) -> EntryText<'_> {
        EntryText {
            id: self.id.as_str(),
            name: self.name.as_deref(),
            key: self.key.as_deref(),
        }
    }
}

/// The texts of a manifest entry, borrowed: what
/// [`Repository::manifest_matching`](crate::Repository::manifest_matching) shows a filter
/// while a chunk is decoded, before any entry is made of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryText<'a> {
    /// The object id.
    pub id: &'a str,
    /// Its display name.
    pub name: Option<&'a str>,
    /// Its second key (UPN, appId, mail).
    pub key: Option<&'a str>,
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
    /// The relationships (memberships, owners, role assignments…), recorded as a kind's
    /// objects are: an index of chunks, the changes against the parent and a chain of them on
    /// a base (as a kind's chain). Their `status` is always complete: links are read with
    /// their kinds, and a kind that failed keeps its parent's links.
    #[serde(default)]
    pub relationships: KindRecord,
    /// The dirvault version that wrote it.
    pub tool_version: String,
    /// In the stored record only: SHA-256 (hex) of the record without this field, written at
    /// commit and checked by every read ([`Snapshot::integrity_problem`]), so that an edited
    /// count or chain is reported rather than read as older data. Snapshots in memory carry
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) integrity: Option<String>,
}

impl Snapshot {
    /// Every blob the snapshot record names itself: indexes, changesets and chains (the
    /// chunks behind the indexes are not named here).
    pub fn root_blobs(&self) -> impl Iterator<Item = &BlobId> {
        self.kinds
            .values()
            .chain(std::iter::once(&self.relationships))
            .flat_map(|k| {
                k.index
                    .iter()
                    .chain(&k.changes)
                    .chain(k.chain.iter().map(|l| &l.blob))
            })
    }
}

/// The one storage format this dirvault reads and writes: in `repository.json` and every
/// snapshot record. There are no older repositories to migrate; any other version is refused
/// with [`crate::Error::UnsupportedFormat`] rather than read wrongly.
pub(crate) const FORMAT_VERSION: &str = "6";

/// Where a repository says which format it is in: `repository.json` at its root.
pub(crate) const REPOSITORY_FILE: &str = "repository.json";

/// `repository.json`: the repository's format version, and a random id of its own made when
/// it was created (for telling repositories apart; encryption will bind objects to it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RepositoryFile {
    /// [`FORMAT_VERSION`].
    pub(crate) version: String,
    /// 32 random hex digits.
    pub(crate) id: String,
    /// How the repository is encrypted; absent for an unencrypted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) encryption: Option<Encryption>,
}

/// The encryption scheme of a repository (`repository.json`): what seals objects, how
/// content ids are keyed, where the master key's slots are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Encryption {
    /// `xchacha20poly1305`.
    pub(crate) cipher: String,
    /// `hmac-sha256`.
    pub(crate) ids: String,
}

impl Encryption {
    pub(crate) fn current() -> Self {
        Self {
            cipher: "xchacha20poly1305".into(),
            ids: "hmac-sha256".into(),
        }
    }
}

/// `tenants/{tenant}/key.json`: the tenant's keys sealed under the master key, or, once
/// forgotten, only when that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TenantKeyFile {
    pub(crate) version: String,
    /// The sealed keys (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) wrapped: Option<String>,
    /// When the keys were forgotten (the tenant's data can no longer be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) erased: Option<DateTime<Utc>>,
}

impl RepositoryFile {
    /// The file of a new repository.
    pub(crate) fn new() -> Self {
        Self {
            version: FORMAT_VERSION.to_owned(),
            id: hex::encode(rand::random::<[u8; 16]>()),
            encryption: None,
        }
    }

    /// Checks a stored `repository.json`: the format this dirvault reads, or
    /// [`crate::Error::UnsupportedFormat`].
    pub(crate) fn check(bytes: &[u8]) -> Result<Self, crate::Error> {
        VersionProbe::expect(bytes, REPOSITORY_FILE, FORMAT_VERSION)?;
        serde_json::from_slice(bytes).map_err(|e| crate::Error::Corrupt {
            path: REPOSITORY_FILE.to_owned(),
            reason: e.to_string(),
        })
    }
}

/// Just the version of a versioned file, read before the rest so that a file of another
/// version is named as such, not as a parse error halfway through.
#[derive(Deserialize)]
pub(crate) struct VersionProbe {
    pub(crate) version: Option<serde_json::Value>,
}

impl VersionProbe {
    /// `Ok` when the file at `path` says it has `version`; else
    /// [`crate::Error::UnsupportedFormat`] naming what it says (the repository format this
    /// dirvault reads is the one supported).
    pub(crate) fn expect(bytes: &[u8], path: &str, version: &str) -> Result<(), crate::Error> {
        match Self::of(bytes) {
            Some(v) if v == version => Ok(()),
            found => Err(crate::Error::UnsupportedFormat {
                path: path.to_owned(),
                found,
                supported: FORMAT_VERSION,
            }),
        }
    }

    /// The version a file says it has (`None` when it says none, or is not a JSON object).
    pub(crate) fn of(bytes: &[u8]) -> Option<String> {
        let probe: Self = serde_json::from_slice(bytes).ok()?;
        match probe.version? {
            Value::String(s) => Some(s),
            other => Some(format!("{other} (not a string)")),
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
    /// The process that took it: a lease of a process known to be dead is broken at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<crate::holder::LeaseHolder>,
}

/// A new snapshot id: `YYYYMMDDTHHMMSSZ-xxxxxxxx`, so that ids sort by time.
pub fn new_snapshot_id(time: DateTime<Utc>) -> SnapshotId {
    let suffix: u32 = rand::random();
    let id = format!("{}-{suffix:08x}", time.format("%Y%m%dT%H%M%SZ"));
    // The format has no whitespace or '/': always a valid id.
    SnapshotId::new(id).unwrap_or_else(|_| unreachable!())
}
