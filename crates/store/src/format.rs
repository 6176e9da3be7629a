//! The persisted format (see `docs/storage-format.md`). Every file carries a version.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use chrono::{DateTime, Utc};
use dirvault_model::{ObjectId, ObjectKind, SnapshotId, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A blob's id: the SHA-256 of its canonical JSON (keys sorted, no whitespace), so the same
/// object always has the same id whatever order Graph sent its properties in. Written as 64
/// hex digits; held as the 32 bytes (manifests hold hundreds of thousands of them).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlobId([u8; 32]);

impl std::hash::Hash for BlobId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // A SHA-256 is uniform already: its first 8 bytes are as good a key as all 32, and a
        // quarter of the hashing (tables of hundreds of thousands of ids are looked up once
        // per object). Equal ids still hash equal; equality compares all 32 bytes.
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
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

    /// Parses a hex id (either case).
    pub fn parse(s: &str) -> Option<Self> {
        // Exactly 64 digits: `decode_to_array` would also take a `0x` prefix.
        if s.len() != 64 {
            return None;
        }
        hex::decode_to_array(s).ok().map(Self)
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", &hex::encode(&self.0[..6]))
    }
}

impl Serialize for BlobId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for BlobId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = BlobId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a blob id (64 hex digits)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BlobId, E> {
                BlobId::parse(v).ok_or_else(|| E::custom(format!("not a blob id: {v:?}")))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// A JSON value's canonical form: object keys sorted, no whitespace. Blobs are stored this
/// way, so that a blob's bytes hash to its id and reading verifies without re-serializing.
pub(crate) fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

thread_local! {
    /// A buffer per thread for [`with_canonical_object`].
    static CANONICAL: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::default();
}

/// Calls `f` with a JSON object's canonical form, written into a buffer this thread reuses:
/// where most objects are stored already (an incremental), only the new ones need bytes of
/// their own.
pub(crate) fn with_canonical_object<T>(
    map: &serde_json::Map<String, Value>,
    f: impl FnOnce(&[u8]) -> T,
) -> T {
    CANONICAL.with_borrow_mut(|buf| {
        buf.clear();
        write_canonical_object(map, buf);
        let out = f(buf);
        // An unusually large object's buffer is not kept for the life of the thread.
        if buf.capacity() > KEPT_CANONICAL_BUFFER {
            *buf = Vec::new();
        }
        out
    })
}

/// The largest buffer [`with_canonical_object`] keeps for the next object.
const KEPT_CANONICAL_BUFFER: usize = 1 << 20;

/// Maps with more keys than this are sorted every time (no remembered order).
const REMEMBERED_ORDER_KEYS: usize = 256;

thread_local! {
    /// The last key order sorted for maps of each size on this thread (indexed by the number
    /// of keys): objects of one kind come with their keys in the same order, so one check of
    /// the remembered permutation (n − 1 comparisons) usually replaces a sort (a fifth of a
    /// snapshot's time otherwise).
    static KEY_ORDERS: std::cell::RefCell<Vec<Vec<usize>>> = std::cell::RefCell::default();
}

/// A map's entries with their keys in byte order.
fn sorted_entries(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let entries: Vec<(&String, &Value)> = map.iter().collect();
    let n = entries.len();
    if n < 2 {
        return entries;
    }
    let sort = |entries: &[(&String, &Value)]| {
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_unstable_by(|&a, &b| entries[a].0.cmp(entries[b].0));
        order
    };
    if n > REMEMBERED_ORDER_KEYS {
        return sort(&entries).iter().map(|&i| entries[i]).collect();
    }
    KEY_ORDERS.with_borrow_mut(|orders| {
        if orders.len() <= n {
            orders.resize_with(n + 1, Vec::new);
        }
        let order = &mut orders[n];
        // Keys are unique: strictly increasing means this is the sorted order.
        let remembered = order.len() == n
            && order
                .windows(2)
                .all(|w| entries[w[0]].0.as_bytes() < entries[w[1]].0.as_bytes());
        if !remembered {
            *order = sort(&entries);
        }
        order.iter().map(|&i| entries[i]).collect()
    })
}

fn write_canonical_object(map: &serde_json::Map<String, Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (k, v)) in sorted_entries(map).into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(k, out);
        out.push(b':');
        write_canonical(v, out);
    }
    out.push(b'}');
}

/// Writes a JSON string exactly as serde_json does. Most strings hold nothing to escape and
/// are copied whole; the check scans every byte without branching, which the compiler turns
/// into vector instructions (serde_json looks each byte up in a table, a quarter of the
/// time of making a canonical form).
fn write_string(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    let plain = bytes.iter().fold(true, |plain, &b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    } else {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => write_canonical_object(map, out),
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
        Value::String(s) => write_string(s, out),
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            // Writing a number into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, n);
        }
    }
}

/// Where a blob lives: its pack, and its compressed byte range there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobLocation {
    /// The pack (shared: the many blobs of a pack name it once in memory).
    pub pack: std::sync::Arc<str>,
    /// Offset of the compressed bytes.
    pub offset: u64,
    /// Length of the compressed bytes.
    pub length: u64,
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
    /// Format 1: the manifest's chunks inline (blobs holding JSON arrays of [`ManifestEntry`],
    /// sorted by id). Format 2 writes [`KindRecord::index`] instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifest: Vec<BlobId>,
    /// Format 2: the blob of the manifest's index: its content-defined chunks
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
    /// Which object ids the changeset names, as an [`IdFilter`]: an object's history reads
    /// only the changesets that may name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes_filter: Option<IdFilter>,
    /// Format 5: the changesets since the snapshot that wrote [`KindRecord::index`] (the
    /// base), oldest first. The manifest is the base's chunks with these applied in order;
    /// empty when this snapshot wrote the index itself. An incremental backup that changes 1%
    /// of a kind writes one small changeset instead of every chunk and the index it touches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<ChainLink>,
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
/// [`Snapshot::relationship_chain`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainLink {
    /// The changeset blob ([`Changeset`] for a kind, [`RelationshipChanges`] for relationships).
    pub blob: BlobId,
    /// Where it was written (a hint, as [`ChunkRef::at`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<BlobLocation>,
}

impl KindRecord {
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
pub struct IdFilter(String);

impl IdFilter {
    const BITS_PER_ID: usize = 10;
    const PROBES: u64 = 7;

    fn probes(id: &str, bits: u64) -> impl Iterator<Item = u64> {
        let hash = dirvault_model::fnv1a(id.as_bytes());
        let (h1, h2) = (hash & 0xffff_ffff, hash >> 32);
        (0..Self::PROBES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
    }

    /// The filter of some ids.
    pub fn new(ids: &[&str]) -> Self {
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
    pub fn may_contain(&self, id: &str) -> bool {
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

/// The chunks of a kind's manifest, in id order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct ManifestIndex {
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
    pub at: Option<BlobLocation>,
}

/// A manifest chunk: entries whose locations name their pack by its number in `packs`, so that
/// a chunk names each pack once. Format 4 writes it in binary ([`EntryChunk::encode`]); format
/// 3 wrote it as JSON, each entry an array `[id, blob, name, key, [pack, offset, length]]`;
/// formats 1 and 2 wrote a JSON array of [`ManifestEntry`] objects. All are read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct EntryChunk {
    entries: Vec<PackedEntry>,
    packs: Vec<std::sync::Arc<str>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PackedEntry(
    ObjectId,
    BlobId,
    Option<Text>,
    Option<Text>,
    Option<(usize, u64, u64)>,
);

impl EntryChunk {
    /// The chunk of some entries.
    pub(crate) fn new(entries: &[ManifestEntry]) -> Self {
        let mut packs: Vec<std::sync::Arc<str>> = Vec::new();
        let entries = entries
            .iter()
            .map(|e| {
                let at = e.at.as_ref().map(|at| {
                    let pack = match packs.iter().position(|p| *p == at.pack) {
                        Some(i) => i,
                        None => {
                            packs.push(at.pack.clone());
                            packs.len() - 1
                        }
                    };
                    (pack, at.offset, at.length)
                });
                PackedEntry(e.id.clone(), e.blob, e.name.clone(), e.key.clone(), at)
            })
            .collect();
        Self { entries, packs }
    }

    /// The chunk's canonical JSON (format 3), written directly: its only object has its keys
    /// in sorted order already (`entries`, `packs`) and the rest are arrays and strings.
    #[cfg(test)]
    pub(crate) fn canonical_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The chunk in the binary encoding of format 4 (see docs/storage-format.md): the magic
    /// `DVM4`, the packs, then each entry's id, blob id (32 bytes), name, key and location.
    /// One entry is about a third smaller than in JSON and decodes without a parser.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.entries.len() * 128);
        out.extend_from_slice(BINARY_CHUNK);
        put_varint(&mut out, self.packs.len() as u64);
        for pack in &self.packs {
            put_text(&mut out, pack);
        }
        put_varint(&mut out, self.entries.len() as u64);
        for PackedEntry(id, blob, name, key, at) in &self.entries {
            put_text(&mut out, id.as_str());
            out.extend_from_slice(&blob.0);
            for text in [name, key] {
                match text {
                    None => put_varint(&mut out, 0),
                    Some(t) => {
                        put_varint(&mut out, t.len() as u64 + 1);
                        out.extend_from_slice(t.as_bytes());
                    }
                }
            }
            match at {
                None => put_varint(&mut out, 0),
                Some((pack, offset, length)) => {
                    put_varint(&mut out, *pack as u64 + 1);
                    put_varint(&mut out, *offset);
                    put_varint(&mut out, *length);
                }
            }
        }
        out
    }

    /// Decodes a binary (format 4) chunk. Its input comes from storage: no arithmetic or
    /// indexing that could panic on hostile bytes (the lints keep it so).
    #[deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
    fn decode_binary(bytes: &[u8]) -> Result<Vec<ManifestEntry>, String> {
        /// An entry whose texts are still spans of the chunk's text buffer.
        struct Spans {
            id: Range<usize>,
            blob: BlobId,
            name: Option<Range<usize>>,
            key: Option<Range<usize>>,
            at: Option<BlobLocation>,
        }
        let mut r = Reader { bytes, at: 0 };
        let packs = (0..r.count()?)
            .map(|_| r.text().map(std::sync::Arc::<str>::from))
            .collect::<Result<Vec<_>, String>>()?;
        let count = r.count()?;
        // Ids, names and keys go into one buffer; each entry keeps where its own are.
        let mut texts = String::new();
        let mut push = |text: &str| {
            let start = texts.len();
            texts.push_str(text);
            start..texts.len()
        };
        let mut spans = Vec::with_capacity(count);
        for _ in 0..count {
            let id = r.text()?;
            let id_span = push(id);
            let blob = BlobId(r.take(32)?.try_into().map_err(|_| "a short blob id")?);
            let mut optional = || -> Result<Option<Range<usize>>, String> {
                Ok(match r.varint()? {
                    0 => None,
                    n => Some(push(r.utf8(
                        usize::try_from(n.saturating_sub(1)).map_err(|e| e.to_string())?,
                    )?)),
                })
            };
            let name = optional()?;
            let key = optional()?;
            let at = match r.varint()? {
                0 => None,
                n => {
                    let pack = usize::try_from(n.saturating_sub(1))
                        .ok()
                        .and_then(|i| packs.get(i))
                        .ok_or_else(|| format!("entry {id} names pack #{n}, not listed"))?;
                    Some(BlobLocation {
                        pack: pack.clone(),
                        offset: r.varint()?,
                        length: r.varint()?,
                    })
                }
            };
            spans.push(Spans {
                id: id_span,
                blob,
                name,
                key,
                at,
            });
        }
        if r.at != bytes.len() {
            return Err(format!(
                "{} bytes after the last entry",
                bytes.len().saturating_sub(r.at)
            ));
        }
        let texts = arcstr::ArcStr::from(texts);
        spans
            .into_iter()
            .map(|e| {
                Ok(ManifestEntry {
                    id: ObjectId::new_shared(texts.substr(e.id)).map_err(|e| e.to_string())?,
                    blob: e.blob,
                    name: e.name.map(|span| texts.substr(span)),
                    key: e.key.map(|span| texts.substr(span)),
                    at: e.at,
                })
            })
            .collect()
    }

    /// Decodes a manifest chunk of any format into its entries.
    #[deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
    pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<ManifestEntry>, String> {
        if let Some(rest) = bytes.strip_prefix(BINARY_CHUNK) {
            return Self::decode_binary(rest);
        }
        if bytes.trim_ascii_start().first() == Some(&b'[') {
            return serde_json::from_slice(bytes).map_err(|e| e.to_string());
        }
        let chunk: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        chunk
            .entries
            .into_iter()
            .map(|PackedEntry(id, blob, name, key, at)| {
                let at =
                    match at {
                        None => None,
                        Some((pack, offset, length)) => Some(BlobLocation {
                            pack: chunk.packs.get(pack).cloned().ok_or_else(|| {
                                format!("entry {id} names pack #{pack}, not listed")
                            })?,
                            offset,
                            length,
                        }),
                    };
                Ok(ManifestEntry {
                    id,
                    blob,
                    name,
                    key,
                    at,
                })
            })
            .collect()
    }
}

/// Format 4 manifest chunks start with these bytes (JSON never does).
const BINARY_CHUNK: &[u8; 4] = b"DVM4";

/// Appends `n` as a LEB128 varint.
fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends a length-prefixed string.
fn put_text(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Reads a binary chunk, saying what is wrong with a malformed one.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// Reads what storage holds: no arithmetic or indexing that could panic on hostile bytes.
#[deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .bytes
                .get(self.at)
                .ok_or("truncated: a number runs past the end")?;
            self.at = self.at.saturating_add(1);
            n |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(format!("a number longer than 64 bits at byte {}", self.at))
    }

    /// A count of items that must each take at least a byte.
    fn count(&mut self) -> Result<usize, String> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.bytes.len().saturating_sub(self.at))
            .ok_or_else(|| format!("{n} items cannot fit in what is left of the chunk"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated: {n} bytes wanted at byte {}", self.at))?;
        let out = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| format!("truncated: {n} bytes wanted at byte {}", self.at))?;
        self.at = end;
        Ok(out)
    }

    fn utf8(&mut self, n: usize) -> Result<&'a str, String> {
        std::str::from_utf8(self.take(n)?).map_err(|e| format!("not UTF-8: {e}"))
    }

    fn text(&mut self) -> Result<&'a str, String> {
        let n = usize::try_from(self.varint()?).map_err(|e| e.to_string())?;
        self.utf8(n)
    }
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
    /// Format 2: the blob listing the relationships' chunks (an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_index: Option<BlobId>,
    /// Where the relationship index was written (a hint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_index_at: Option<BlobLocation>,
    /// Format 2: the blob of the [`RelationshipChanges`] against the parent; absent when none
    /// changed or there is no parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_changes: Option<BlobId>,
    /// Where the relationship changes were written (a hint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_changes_at: Option<BlobLocation>,
    /// The ids the relationship changes name (sources, targets, units, resources), as an
    /// [`IdFilter`]: an object's relationship change log reads only the changes that may name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_changes_filter: Option<IdFilter>,
    /// Format 5: the relationship changes since the snapshot that wrote
    /// [`Snapshot::relationship_index`], oldest first (as [`KindRecord::chain`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationship_chain: Vec<ChainLink>,
    /// Relationships in it.
    #[serde(default)]
    pub relationship_count: usize,
    /// The dirvault version that wrote it.
    pub tool_version: String,
    /// In the stored record only: SHA-256 (hex) of the record without this field, written at
    /// commit and checked by every read ([`Snapshot::integrity_problem`]), so that an edited
    /// count or chain is reported rather than read as older data. Snapshots in memory carry
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<String>,
}

impl Snapshot {
    /// The SHA-256 (hex) of the record as stored, without its `integrity` field.
    pub fn integrity_digest(&self) -> String {
        use sha2::Digest;
        let mut content = self.clone();
        content.integrity = None;
        // A snapshot always serializes: its maps have string keys.
        let bytes = serde_json::to_vec(&SnapshotFile::V5(content)).unwrap_or_default();
        hex::encode(&sha2::Sha256::digest(&bytes))
    }

    /// Why the record read from `tenants/{tenant}/snapshots/{id}.json` cannot be trusted: its
    /// integrity hash does not match its content, or it names another tenant or id than its
    /// place. `None` for a sound record (and for records written before the hash existed).
    pub fn integrity_problem(&self, tenant: &str, id: &str) -> Option<String> {
        if self.tenant.as_str() != tenant || self.id.as_str() != id {
            return Some(format!(
                "the record names snapshot {} of tenant {}, but is stored as snapshot {id} of tenant {tenant}",
                self.id, self.tenant
            ));
        }
        match &self.integrity {
            Some(hash) if *hash != self.integrity_digest() => Some(
                "the record was changed after it was written (its integrity hash does not match)"
                    .into(),
            ),
            _ => None,
        }
    }
}

impl Snapshot {
    /// Every blob the snapshot record names itself: format 1 chunks, format 2 indexes and
    /// changesets (whose chunks are added too).
    pub fn root_blobs(&self) -> impl Iterator<Item = &BlobId> {
        self.kinds
            .values()
            .flat_map(|k| {
                k.manifest
                    .iter()
                    .chain(&k.index)
                    .chain(&k.changes)
                    .chain(k.chain.iter().map(|l| &l.blob))
            })
            .chain(self.relationships.iter())
            .chain(&self.relationship_index)
            .chain(&self.relationship_changes)
            .chain(self.relationship_chain.iter().map(|l| &l.blob))
    }
}

/// The versioned snapshot file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub(crate) enum SnapshotFile {
    /// Version 1: manifests and relationship chunks inline.
    #[serde(rename = "1")]
    V1(Snapshot),
    /// Version 2: manifest indexes, changesets, a relationship index.
    #[serde(rename = "2")]
    V2(Snapshot),
    /// Version 3: as 2, with manifest chunks in the compact [`EntryChunk`] encoding (which a
    /// reader of version 2 could not read).
    #[serde(rename = "3")]
    V3(Snapshot),
    /// Version 4: as 3, with manifest chunks in the binary [`EntryChunk`] encoding.
    #[serde(rename = "4")]
    V4(Snapshot),
    /// Version 5: as 4, with manifests and relationships as a base index plus a chain of
    /// changesets ([`KindRecord::chain`]), which a reader of version 4 would not apply.
    #[serde(rename = "5")]
    V5(Snapshot),
}

impl SnapshotFile {
    /// The snapshot, whatever the version.
    pub(crate) fn into_snapshot(self) -> Snapshot {
        match self {
            SnapshotFile::V1(s)
            | SnapshotFile::V2(s)
            | SnapshotFile::V3(s)
            | SnapshotFile::V4(s)
            | SnapshotFile::V5(s) => s,
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

#[cfg(test)]
mod robustness {
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
                }),
            })
            .collect()
    }

    proptest! {
        // Manifest chunks (binary format 4, JSON formats 1-3): arbitrary bytes and mutations
        // of valid chunks decode or fail with a message, never panic.
        #[test]
        fn any_manifest_chunk_decodes_or_fails(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = EntryChunk::decode(&bytes);
            let mut binary = BINARY_CHUNK.to_vec();
            binary.extend_from_slice(&bytes);
            let _ = EntryChunk::decode(&binary);
        }

        #[test]
        fn mutated_manifest_chunks_decode_or_fail(
            flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..8),
            cut in any::<u16>(),
            json in any::<bool>(),
        ) {
            let chunk = EntryChunk::new(&sample());
            let mut bytes = if json { chunk.canonical_json() } else { chunk.encode() };
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

        // Snapshot records and pack indexes are JSON: a mutated record reads or fails, and
        // what reads is checked (integrity) without panicking.
        #[test]
        fn mutated_snapshot_records_read_or_fail(
            flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 1..6),
        ) {
            let mut record = serde_json::to_vec(&SnapshotFile::V5(Snapshot {
                id: SnapshotId::new("20261124T060000Z-0000abcd").unwrap(),
                tenant: TenantId::new("5f1c2d3e-0000-4000-8000-000000000000").unwrap(),
                time: chrono::DateTime::parse_from_rfc3339("2026-11-24T06:00:00Z").unwrap().into(),
                parent: None,
                kinds: BTreeMap::new(),
                relationships: Vec::new(),
                relationship_index: None,
                relationship_index_at: None,
                relationship_changes: None,
                relationship_changes_at: None,
                relationship_changes_filter: None,
                relationship_chain: Vec::new(),
                relationship_count: 3,
                tool_version: "0.1.0".into(),
                integrity: None,
            })).unwrap();
            for (at, byte) in flips {
                let i = usize::from(at) % record.len();
                record[i] ^= byte;
            }
            if let Ok(file) = serde_json::from_slice::<SnapshotFile>(&record) {
                let snapshot = file.into_snapshot();
                let _ = snapshot.integrity_problem("5f1c2d3e-0000-4000-8000-000000000000", "20261124T060000Z-0000abcd");
                let _ = snapshot.root_blobs().count();
            }
            let _ = serde_json::from_slice::<PackIndexFile>(&record);
        }
    }
}

#[cfg(test)]
mod tests {
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
                    }),
                }],
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
        let file = SnapshotFile::V5(Snapshot {
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
            relationship_changes_at: None,
            relationship_changes_filter: None,
            relationship_chain: vec![ChainLink {
                blob: BlobId::of(&json!({"added": []})),
                at: None,
            }],
            relationship_count: 0,
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
    fn manifest_chunks_are_compact_and_every_format_is_read() {
        let at = |pack: &str, offset| BlobLocation {
            pack: pack.into(),
            offset,
            length: 10,
        };
        let entries = vec![
            ManifestEntry {
                id: ObjectId::new("a1").unwrap(),
                blob: BlobId::of(&json!({"id": "a1"})),
                name: Some("Adele".into()),
                key: Some("adele@contoso.com".into()),
                at: Some(at("p1", 0)),
            },
            ManifestEntry {
                id: ObjectId::new("b2").unwrap(),
                blob: BlobId::of(&json!({"id": "b2"})),
                name: None,
                key: None,
                at: Some(at("p2", 10)),
            },
            ManifestEntry {
                id: ObjectId::new("c3").unwrap(),
                blob: BlobId::of(&json!({"id": "c3"})),
                name: Some("Carol".into()),
                key: None,
                at: Some(at("p1", 20)),
            },
        ];
        let compact = serde_json::to_value(EntryChunk::new(&entries)).unwrap();
        insta::assert_json_snapshot!(compact);
        let bytes = canonical_bytes(&compact);
        assert_eq!(
            EntryChunk::new(&entries).canonical_json(),
            bytes,
            "written canonical"
        );
        assert_eq!(EntryChunk::decode(&bytes).unwrap(), entries);
        // Formats 1 and 2: a JSON array of entry objects.
        let plain = serde_json::to_vec(&entries).unwrap();
        assert_eq!(EntryChunk::decode(&plain).unwrap(), entries);
        // A pack number out of range is an error, not a wrong location.
        let bad =
            json!({"entries": [["a1", entries[0].blob, null, null, [5, 0, 10]]], "packs": []});
        let err = EntryChunk::decode(&canonical_bytes(&bad)).unwrap_err();
        assert!(err.contains("pack #5"), "{err}");
    }

    #[test]
    fn binary_manifest_chunks_round_trip_and_say_what_is_wrong() {
        let at = |pack: &str, offset| BlobLocation {
            pack: pack.into(),
            offset,
            length: 300,
        };
        let entries = vec![
            ManifestEntry {
                id: ObjectId::new("a1").unwrap(),
                blob: BlobId::of(&json!({"id": "a1"})),
                name: Some("Zoë".into()),
                key: Some("".into()),
                at: Some(at("p1", 1 << 40)),
            },
            ManifestEntry {
                id: ObjectId::new("b2").unwrap(),
                blob: BlobId::of(&json!({"id": "b2"})),
                name: None,
                key: None,
                at: None,
            },
        ];
        let chunk = EntryChunk::new(&entries);
        let bytes = chunk.encode();
        assert!(bytes.starts_with(b"DVM4"));
        assert_eq!(EntryChunk::decode(&bytes).unwrap(), entries);
        // One encoding for one chunk (content addressing depends on it), a third smaller than
        // the JSON of format 3.
        assert_eq!(EntryChunk::new(&entries).encode(), bytes);
        assert!(bytes.len() * 3 < chunk.canonical_json().len() * 2);
        // The layout, pinned: magic, 1 pack "p1", 2 entries, the first one's id "a1".
        assert_eq!(&bytes[..12], b"DVM4\x01\x02p1\x02\x02a1");
        // Every truncation is an error, never a shorter list.
        for end in 4..bytes.len() {
            assert!(EntryChunk::decode(&bytes[..end]).is_err(), "cut at {end}");
        }
        let mut long = bytes.clone();
        long.push(0);
        let err = EntryChunk::decode(&long).unwrap_err();
        assert!(err.contains("after the last entry"), "{err}");
        // A huge count is refused before anything is allocated for it.
        let err = EntryChunk::decode(b"DVM4\xff\xff\xff\xff\x0f").unwrap_err();
        assert!(err.contains("cannot fit"), "{err}");
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
