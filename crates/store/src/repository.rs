//! [`Repository`]: writing, reading and maintaining snapshots over any [`SnapshotStore`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Datelike, Duration, Utc};
use dirvault_model::{
    DirectoryObject, ObjectKind, Relationship, RelationshipKind, SnapshotId, TenantId,
};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::backend::{BlobIndex, SnapshotStore, encode_blob};
use crate::compress::{self, DICTIONARY_SAMPLES, EncoderDictionary};
use crate::error::{Error, Result};
use crate::format::{
    BlobId, BlobLocation, ChainLink, Changeset, ChunkRef, EntryChunk, IdFilter, KindRecord,
    KindStatus, ManifestEntry, ManifestIndex, Snapshot, new_snapshot_id,
};

/// How many tenants' blob indexes a [`Repository`] keeps loaded (the most recently read).
const INDEX_CACHE_TENANTS: usize = 4;

/// A pack being written on its own task: where its blobs landed.
type PackWrite = tokio::task::JoinHandle<Result<Vec<(BlobId, BlobLocation)>>>;

/// The blob indexes a [`Repository`] keeps loaded, most recently read first.
type RecentIndexes = std::collections::VecDeque<(TenantId, Arc<BlobIndex>)>;

/// Packs are flushed when their compressed content reaches this size: large enough that a
/// backup writes few objects to S3, small enough to keep memory bounded.
pub const PACK_TARGET_BYTES: usize = 8 * 1024 * 1024;

/// Queued blobs are compressed (on every core) when their JSON reaches this size.
const COMPRESS_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Manifests and relationship lists are cut after an item whose key hashes to 0 modulo this
/// (content-defined chunking): on average 32 items a chunk, so that 1% of changes spread over a
/// kind leave most chunks untouched.
const CHUNK_DIVISOR: u64 = 32;

/// Splits sorted items into content-defined chunks, each a JSON array.
/// The content-defined chunk boundaries of sorted items, as index ranges: only one chunk is
/// ever serialized at a time.
fn chunks<T>(items: &[T], key: impl Fn(&T) -> String) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, item) in items.iter().enumerate() {
        let hash = dirvault_model::fnv1a(key(item).as_bytes());
        if hash.is_multiple_of(CHUNK_DIVISOR) {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < items.len() {
        out.push(start..items.len());
    }
    out
}

/// Chunks a format 1 record lists inline: no first keys, counts or locations.
fn inline_chunks(blobs: &[BlobId]) -> Vec<ChunkRef> {
    blobs
        .iter()
        .map(|blob| ChunkRef {
            blob: *blob,
            first: String::new(),
            count: 0,
            at: None,
        })
        .collect()
}

/// The key relationships are chunked by: their kind (as [`Repository::relationships_of`]
/// looks for it), source and target.
fn relationship_key(r: &Relationship) -> String {
    format!("{:?}{}{}", r.kind, r.source, r.target)
}

/// The kind a relationship chunk's first key starts with (the longest of the kinds' `names`
/// that starts it).
fn kind_of_key(names: &[(RelationshipKind, String)], key: &str) -> Option<RelationshipKind> {
    names
        .iter()
        .filter(|(_, name)| key.starts_with(name.as_str()))
        .max_by_key(|(_, name)| name.len())
        .map(|(kind, _)| *kind)
}

/// A chain of changesets composed ([`Repository::manifest_overlay`]): the state of each object
/// it names, `None` for deleted.
pub type Overlay = BTreeMap<dirvault_model::ObjectId, Option<ManifestEntry>>;

/// Entries in id order with an overlay applied: objects it names take its state.
fn apply_overlay(base: Vec<ManifestEntry>, overlay: Overlay) -> Vec<ManifestEntry> {
    let mut out = Vec::with_capacity(base.len() + overlay.len());
    let mut overlay = overlay.into_iter().peekable();
    for entry in base {
        while let Some((id, _)) = overlay.peek()
            && *id < entry.id
        {
            if let Some((_, Some(e))) = overlay.next() {
                out.push(e);
            }
        }
        match overlay.peek() {
            Some((id, _)) if *id == entry.id => {
                if let Some((_, Some(e))) = overlay.next() {
                    out.push(e);
                }
            }
            _ => out.push(entry),
        }
    }
    out.extend(overlay.filter_map(|(_, e)| e));
    out
}

/// The manifest entries of a kind in two snapshots (of two repositories, e.g. a backup and
/// the live tenant read into memory) that may differ, leaving out what both certainly share:
/// a chunk's blob id is its content, so a chunk both bases hold has the same entries on both
/// sides unless an overlay names one of them. Diffing two large snapshots reads only the
/// chunks that differ, those holding objects either chain names, and the chains.
///
/// # Errors
/// Missing or corrupt blobs.
pub async fn differing_entries(
    (old_repo, old): (&Repository, &Snapshot),
    (new_repo, new): (&Repository, &Snapshot),
    kind: ObjectKind,
) -> Result<(Vec<ManifestEntry>, Vec<ManifestEntry>)> {
    let (Some(a), Some(b)) = (old.kinds.get(&kind), new.kinds.get(&kind)) else {
        return Ok((
            old_repo.manifest(old, kind).await?,
            new_repo.manifest(new, kind).await?,
        ));
    };
    if a.same_manifest(b) {
        return Ok((Vec::new(), Vec::new()));
    }
    if a.index.is_some() && a.index == b.index {
        return differing_on_one_base((old_repo, old, a), (new_repo, new, b)).await;
    }
    let a_chunks = old_repo.manifest_chunks(&old.tenant, a).await?;
    let b_chunks = new_repo.manifest_chunks(&new.tenant, b).await?;
    let a_overlay = old_repo.manifest_overlay(&old.tenant, a).await?;
    let b_overlay = new_repo.manifest_overlay(&new.tenant, b).await?;
    let (a_wanted, b_wanted) = {
        let named: BTreeSet<&dirvault_model::ObjectId> =
            a_overlay.keys().chain(b_overlay.keys()).collect();
        let a_ids: HashSet<BlobId> = a_chunks.iter().map(|c| c.blob).collect();
        let b_ids: HashSet<BlobId> = b_chunks.iter().map(|c| c.blob).collect();
        (
            chunks_to_compare(&a_chunks, &b_ids, &named),
            chunks_to_compare(&b_chunks, &a_ids, &named),
        )
    };
    let before = old_repo.chunk_entries(&old.tenant, &a_wanted).await?;
    let after = new_repo.chunk_entries(&new.tenant, &b_wanted).await?;
    Ok((
        apply_overlay(before, a_overlay),
        apply_overlay(after, b_overlay),
    ))
}

/// [`differing_entries`] of two records on the same base (two snapshots of one chain, e.g.
/// consecutive ones): only objects a chain names can differ. An object both chains name is
/// compared as they say; only for an object one chain names is the base read, and only the
/// chunks that would hold such objects.
async fn differing_on_one_base(
    (repo, old, a): (&Repository, &Snapshot, &KindRecord),
    (new_repo, new, b): (&Repository, &Snapshot, &KindRecord),
) -> Result<(Vec<ManifestEntry>, Vec<ManifestEntry>)> {
    let tenant = &old.tenant;
    let a_overlay = repo.manifest_overlay(tenant, a).await?;
    let b_overlay = new_repo.manifest_overlay(&new.tenant, b).await?;
    let (wanted, one_sided) = {
        let one_sided: BTreeSet<&dirvault_model::ObjectId> = a_overlay
            .keys()
            .filter(|id| !b_overlay.contains_key(*id))
            .chain(b_overlay.keys().filter(|id| !a_overlay.contains_key(*id)))
            .collect();
        let chunks = repo.manifest_chunks(tenant, a).await?;
        let all: HashSet<BlobId> = chunks.iter().map(|c| c.blob).collect();
        let wanted = chunks_to_compare(&chunks, &all, &one_sided);
        let one_sided: HashSet<dirvault_model::ObjectId> = one_sided.into_iter().cloned().collect();
        (wanted, one_sided)
    };
    let base: HashMap<dirvault_model::ObjectId, ManifestEntry> = repo
        .chunk_entries(tenant, &wanted)
        .await?
        .into_iter()
        .filter(|e| one_sided.contains(&e.id))
        .map(|e| (e.id.clone(), e))
        .collect();
    let state = |overlay: &Overlay, id: &dirvault_model::ObjectId| match overlay.get(id) {
        Some(state) => state.clone(),
        None => base.get(id).cloned(),
    };
    let named: BTreeSet<&dirvault_model::ObjectId> =
        a_overlay.keys().chain(b_overlay.keys()).collect();
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for id in named {
        let (old, new) = (state(&a_overlay, id), state(&b_overlay, id));
        if old.as_ref().map(|e| e.blob) != new.as_ref().map(|e| e.blob) {
            before.extend(old);
            after.extend(new);
        }
    }
    Ok((before, after))
}

/// The chunks of one side to compare: those the other side does not share, and those that
/// would hold an object an overlay names (all of them when chunks have no first ids).
fn chunks_to_compare(
    chunks: &[ChunkRef],
    other: &HashSet<BlobId>,
    named: &BTreeSet<&dirvault_model::ObjectId>,
) -> Vec<ChunkRef> {
    let mut wanted: Vec<bool> = chunks.iter().map(|c| !other.contains(&c.blob)).collect();
    if !named.is_empty() {
        if chunks.iter().any(|c| c.first.is_empty()) {
            wanted.fill(true);
        }
        for id in named {
            let at = chunks.partition_point(|c| c.first.as_str() <= id.as_str());
            if let Some(w) = at.checked_sub(1).and_then(|i| wanted.get_mut(i)) {
                *w = true;
            }
        }
    }
    chunks
        .iter()
        .zip(wanted)
        .filter(|(_, w)| *w)
        .map(|(c, _)| c.clone())
        .collect()
}

/// Chains of changesets are rebased (a new index written over new chunks) when they reach
/// this many links, so that reading a snapshot applies a bounded number of them...
const MAX_CHAIN: usize = 32;

/// ...or when what they change since their base passes 1/`OVERLAY_DIVISOR` of the kind's
/// entries (or of the links), so that an overlay stays small beside its base.
const OVERLAY_DIVISOR: usize = 8;

/// The changes since the parent, from those since the base and the parent's overlay on that
/// base: an object the overlay names was as the overlay says; any other was as in the base,
/// so it changed since the parent exactly when it changed since the base.
fn entries_since_parent(
    since_base: &Changeset,
    parent: &Overlay,
    list: &[ManifestEntry],
) -> Changeset {
    let ours = |id: &dirvault_model::ObjectId| {
        list.binary_search_by(|e| e.id.cmp(id))
            .ok()
            .map(|i| &list[i])
    };
    let mut out = Changeset::default();
    for (id, before) in parent {
        match (before, ours(id)) {
            (None, Some(now)) => out.created.push(now.clone()),
            (Some(before), Some(now)) if before.blob != now.blob => out.modified.push(now.clone()),
            (Some(before), None) => out.deleted.push(before.clone()),
            _ => {}
        }
    }
    let not_named = |e: &&ManifestEntry| !parent.contains_key(&e.id);
    out.created
        .extend(since_base.created.iter().filter(not_named).cloned());
    out.modified
        .extend(since_base.modified.iter().filter(not_named).cloned());
    out.deleted
        .extend(since_base.deleted.iter().filter(not_named).cloned());
    for list in [&mut out.created, &mut out.modified, &mut out.deleted] {
        list.sort_by(|a, b| a.id.cmp(&b.id));
    }
    out
}

/// [`entries_since_parent`] for relationships (`ours` in order).
fn relationships_since_parent(
    since_base: &crate::format::RelationshipChanges,
    parent: &BTreeMap<Relationship, bool>,
    ours: &[Relationship],
) -> crate::format::RelationshipChanges {
    let mut out = crate::format::RelationshipChanges::default();
    for (r, was) in parent {
        match (was, ours.binary_search(r).is_ok()) {
            (false, true) => out.added.push(r.clone()),
            (true, false) => out.removed.push(r.clone()),
            _ => {}
        }
    }
    let not_named = |r: &&Relationship| !parent.contains_key(*r);
    out.added
        .extend(since_base.added.iter().filter(not_named).cloned());
    out.removed
        .extend(since_base.removed.iter().filter(not_named).cloned());
    out.added.sort();
    out.removed.sort();
    out
}

/// How a manifest (or the relationships) is stored in a new snapshot.
enum Layout {
    /// New chunks (written) under a new index.
    Base(Vec<ChunkRef>),
    /// The parent's base index with a chain: the parent's links, then this snapshot's
    /// changes since the parent when it has any. No chain at all when this snapshot is back
    /// at its base (`at_base`).
    Chain {
        index: BlobId,
        index_at: Option<BlobLocation>,
        links: Vec<ChainLink>,
        at_base: bool,
    },
}

impl Layout {
    /// The parent's base (`index` with its chain `links`) kept, unless the chain has
    /// [`MAX_CHAIN`] links or the `changed` entries (or links) since the base pass
    /// 1/[`OVERLAY_DIVISOR`] of the `count`: `None` means write a new base.
    fn on_base(
        index: Option<BlobId>,
        index_at: Option<BlobLocation>,
        links: Vec<ChainLink>,
        changed: usize,
        count: usize,
    ) -> Option<Layout> {
        let rebase = links.len() >= MAX_CHAIN || changed * OVERLAY_DIVISOR > count;
        (!rebase).then_some(Layout::Chain {
            index: index?,
            index_at,
            links,
            at_base: changed == 0,
        })
    }
}

/// A JSON blob's bytes parsed, or why they are corrupt.
fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    blob: &BlobId,
    what: &str,
) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        path: format!("{what} {blob}"),
        reason: e.to_string(),
    })
}

/// A changeset's bytes parsed if they name `id`; empty when they do not (found without
/// parsing them).
fn changeset_naming(
    bytes: &[u8],
    blob: &BlobId,
    id: &dirvault_model::ObjectId,
) -> Result<Changeset> {
    let needle = serde_json::to_vec(id.as_str()).unwrap_or_default();
    if !bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
        return Ok(Changeset::default());
    }
    parse_json(bytes, blob, "changeset")
}

/// What chunks hold: manifest entries or relationships.
trait ChunkItem: Sized + Send + Sync {
    /// The items of one chunk's bytes.
    fn decode_chunk(bytes: &[u8]) -> std::result::Result<Vec<Self>, String>;
}

impl ChunkItem for ManifestEntry {
    fn decode_chunk(bytes: &[u8]) -> std::result::Result<Vec<Self>, String> {
        EntryChunk::decode(bytes)
    }
}

impl ChunkItem for Relationship {
    fn decode_chunk(bytes: &[u8]) -> std::result::Result<Vec<Self>, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// Reads chunks and concatenates their items, in order: each chunk is parsed as soon as it
/// is decoded, on the thread that decoded it (no chunk's bytes are kept).
async fn read_chunks<T: ChunkItem>(
    store: &dyn SnapshotStore,
    tenant: &TenantId,
    located: &[(BlobId, BlobLocation)],
    what: &str,
) -> Result<Vec<T>> {
    let parts = crate::backend::map_blobs(store, tenant, located, &|i, bytes| {
        T::decode_chunk(bytes).map_err(|reason| Error::Corrupt {
            path: format!(
                "{what} chunk {}",
                located
                    .get(i)
                    .map(|(blob, _)| blob.to_string())
                    .unwrap_or_default()
            ),
            reason,
        })
    })
    .await?;
    let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
    for part in parts {
        out.extend(part);
    }
    Ok(out)
}

/// A repository: every tenant's snapshots in one store.
#[derive(Clone)]
pub struct Repository {
    store: Arc<dyn SnapshotStore>,
    /// The blob indexes of the tenants read last, most recent first: reading one means
    /// reading every pack index, and holding every tenant's would grow a daemon serving
    /// thousands of tenants by tens of megabytes per large tenant.
    indexes: Arc<std::sync::Mutex<RecentIndexes>>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// What a snapshot write cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteStats {
    /// Objects added.
    pub objects: u64,
    /// Blobs that were new (not in the repository yet).
    pub new_blobs: u64,
    /// Compressed bytes written in packs.
    pub bytes_written: u64,
    /// Of those, the bytes of object versions (the rest are manifests, changesets, indexes and
    /// relationship lists).
    pub object_bytes: u64,
    /// Packs written.
    pub packs: u64,
}

impl Repository {
    /// A repository over `store`.
    pub fn new(store: Arc<dyn SnapshotStore>) -> Self {
        Self {
            store,
            indexes: Arc::default(),
        }
    }

    /// Opens a repository by URL (see [`crate::open`]).
    ///
    /// # Errors
    /// [`Error::Url`].
    pub fn open(url: &str) -> Result<Self> {
        Ok(Self::new(crate::open(url)?))
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn SnapshotStore> {
        &self.store
    }

    /// Starts a snapshot of `tenant` taken at `time`.
    ///
    /// # Errors
    /// Store errors reading the blob index.
    pub async fn begin(
        &self,
        tenant: &TenantId,
        time: DateTime<Utc>,
        parent: Option<SnapshotId>,
    ) -> Result<SnapshotWriter> {
        let parent_snapshot = match &parent {
            Some(id) => Some(self.snapshot(tenant, id).await?),
            None => None,
        };
        let parent_kinds = parent_snapshot
            .as_ref()
            .map(|p| p.kinds.clone())
            .unwrap_or_default();
        Ok(SnapshotWriter {
            repo: self.clone(),
            tenant: tenant.clone(),
            time,
            parent,
            parent_kinds,
            parent_snapshot,
            index: self.store.blob_index(tenant).await?,
            raw: Vec::new(),
            raw_bytes: 0,
            pending: Vec::new(),
            pending_bytes: 0,
            in_pending: HashSet::new(),
            writing: None,
            entries: BTreeMap::new(),
            kinds: BTreeMap::new(),
            relationships: BTreeSet::new(),
            stats: WriteStats::default(),
            encoders: self.encoders(tenant).await?,
            samples: BTreeMap::new(),
            training: HashMap::new(),
            untrainable: HashSet::new(),
        })
    }

    /// The tenant's compression dictionaries by kind (the first, by id, where a kind has
    /// several).
    async fn encoders(&self, tenant: &TenantId) -> Result<HashMap<ObjectKind, EncoderDictionary>> {
        let mut out = HashMap::new();
        let mut stored = self.store.dictionaries(tenant).await?;
        stored.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, bytes) in stored {
            if let (Ok(kind), Some(d)) =
                (name.parse::<ObjectKind>(), EncoderDictionary::new(&bytes))
            {
                out.entry(kind).or_insert(d);
            }
        }
        Ok(out)
    }

    /// Every snapshot of a tenant, oldest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn snapshots(&self, tenant: &TenantId) -> Result<Vec<Snapshot>> {
        self.store.snapshots(tenant).await
    }

    /// One snapshot.
    ///
    /// # Errors
    /// [`Error::NoSnapshot`].
    pub async fn snapshot(&self, tenant: &TenantId, id: &SnapshotId) -> Result<Snapshot> {
        self.store.read_snapshot(tenant, id).await
    }

    /// The latest snapshot taken at or before `time` (the latest of all without one), found
    /// from the listing of snapshot ids (which sort by time, to the second) and a read of the
    /// few records of the last candidate second: no need to read every snapshot record.
    /// `Ok(None)` when there is none.
    ///
    /// # Errors
    /// Store errors.
    pub async fn snapshot_at(
        &self,
        tenant: &TenantId,
        time: Option<DateTime<Utc>>,
    ) -> Result<Option<Snapshot>> {
        let ids = self.store.snapshot_ids(tenant).await?;
        // An id starts with its time to the second, `YYYYMMDDTHHMMSSZ`.
        let second = |id: &SnapshotId| id.as_str().split('-').next().unwrap_or("").to_owned();
        let limit = time.map(|t| t.format("%Y%m%dT%H%M%SZ").to_string());
        let mut end = ids.len();
        if let Some(limit) = &limit {
            end = ids.partition_point(|id| second(id).as_str() <= limit.as_str());
        }
        while end > 0 {
            let group = second(&ids[end - 1]);
            let start = ids[..end].partition_point(|id| second(id) < group);
            let mut candidates = Vec::new();
            for id in &ids[start..end] {
                let s = self.snapshot(tenant, id).await?;
                if time.is_none_or(|t| s.time <= t) {
                    candidates.push(s);
                }
            }
            if let Some(best) = candidates
                .into_iter()
                .max_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)))
            {
                return Ok(Some(best));
            }
            end = start;
        }
        Ok(None)
    }

    async fn index(&self, tenant: &TenantId, reload: bool) -> Result<Arc<BlobIndex>> {
        if !reload && let Some(index) = self.cached_index(tenant, None) {
            return Ok(index);
        }
        let index = Arc::new(self.store.blob_index(tenant).await?);
        self.cached_index(tenant, Some(index.clone()));
        Ok(index)
    }

    /// A tenant's cached blob index, now the most recently used (after storing `new` as it
    /// when given).
    fn cached_index(
        &self,
        tenant: &TenantId,
        new: Option<Arc<BlobIndex>>,
    ) -> Option<Arc<BlobIndex>> {
        // A cache: a thread that panicked holding it left nothing half-done that matters.
        let mut m = self
            .indexes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = m.iter().position(|(t, _)| t == tenant);
        let old = at.and_then(|at| m.remove(at)).map(|(_, index)| index);
        let index = new.or(old)?;
        m.push_front((tenant.clone(), index.clone()));
        m.truncate(INDEX_CACHE_TENANTS);
        Some(index)
    }

    /// Reads a blob through the cached index, reloading it once when the blob is not there
    /// (another writer may have added packs since).
    async fn blob(&self, tenant: &TenantId, id: &BlobId) -> Result<Value> {
        let bytes = self.blob_bytes(tenant, id).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: format!("blob {id}"),
            reason: e.to_string(),
        })
    }

    /// A blob's verified canonical JSON bytes, through the cached index.
    async fn blob_bytes(&self, tenant: &TenantId, id: &BlobId) -> Result<Bytes> {
        let mut index = self.index(tenant, false).await?;
        if !index.contains_key(id) {
            index = self.index(tenant, true).await?;
        }
        let at = index.get(id).ok_or_else(|| Error::MissingBlob {
            tenant: tenant.to_string(),
            blob: id.to_string(),
        })?;
        self.store.read_blob_bytes(tenant, id, at).await
    }

    /// The chunks of a kind's manifest: from its index (format 2), or inline without first
    /// ids (format 1).
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn manifest_chunks(
        &self,
        tenant: &TenantId,
        record: &KindRecord,
    ) -> Result<Vec<ChunkRef>> {
        match &record.index {
            Some(index) => {
                self.index_blob(tenant, index, record.index_at.as_ref())
                    .await
            }
            None => Ok(inline_chunks(&record.manifest)),
        }
    }

    async fn index_blob(
        &self,
        tenant: &TenantId,
        index: &BlobId,
        at: Option<&BlobLocation>,
    ) -> Result<Vec<ChunkRef>> {
        let bytes = self.blob_bytes_at(tenant, index, at).await?;
        let parsed: ManifestIndex = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: format!("manifest index {index}"),
            reason: e.to_string(),
        })?;
        Ok(parsed.chunks)
    }

    /// A blob read where a hint says it is, or through the blob index when it is not there
    /// (moved by a repack) or the hint is absent.
    async fn blob_bytes_at(
        &self,
        tenant: &TenantId,
        id: &BlobId,
        at: Option<&BlobLocation>,
    ) -> Result<Bytes> {
        if let Some(at) = at
            && let Ok(bytes) = self.store.read_blob_bytes(tenant, id, at).await
        {
            return Ok(bytes);
        }
        self.blob_bytes(tenant, id).await
    }

    /// The entries of manifest chunks, read together (at their hinted locations when they
    /// have them).
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn chunk_entries(
        &self,
        tenant: &TenantId,
        chunks: &[ChunkRef],
    ) -> Result<Vec<ManifestEntry>> {
        self.chunked_refs(tenant, chunks, "manifest").await
    }
    /// The manifest of one kind in a snapshot (empty when the kind has none).
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn manifest(
        &self,
        snapshot: &Snapshot,
        kind: ObjectKind,
    ) -> Result<Vec<ManifestEntry>> {
        let Some(record) = snapshot.kinds.get(&kind) else {
            return Ok(Vec::new());
        };
        let chunks = self.manifest_chunks(&snapshot.tenant, record).await?;
        let base = self
            .chunked_refs(&snapshot.tenant, &chunks, "manifest")
            .await?;
        if record.chain.is_empty() {
            return Ok(base);
        }
        let overlay = self.manifest_overlay(&snapshot.tenant, record).await?;
        Ok(apply_overlay(base, overlay))
    }

    /// A kind's chain of changesets composed into one overlay on its base: the last state
    /// the chain gives each object it names (`None`: deleted). Empty without a chain.
    ///
    /// # Errors
    /// Missing or corrupt changesets.
    pub async fn manifest_overlay(
        &self,
        tenant: &TenantId,
        record: &KindRecord,
    ) -> Result<Overlay> {
        let mut overlay = Overlay::new();
        for (link, bytes) in record
            .chain
            .iter()
            .zip(self.chain_bytes(tenant, &record.chain).await?)
        {
            let changes: Changeset = parse_json(&bytes, &link.blob, "changeset")?;
            for e in changes.created.into_iter().chain(changes.modified) {
                overlay.insert(e.id.clone(), Some(e));
            }
            for e in changes.deleted {
                overlay.insert(e.id, None);
            }
        }
        Ok(overlay)
    }

    /// A snapshot's chain of relationship changes composed into one overlay on its base:
    /// whether each link the chain names is there at the end. Only links of `kind` when given.
    ///
    /// # Errors
    /// Missing or corrupt relationship changes.
    pub async fn relationship_overlay(
        &self,
        snapshot: &Snapshot,
        kind: Option<RelationshipKind>,
    ) -> Result<BTreeMap<Relationship, bool>> {
        let mut overlay = BTreeMap::new();
        let chain = &snapshot.relationship_chain;
        for (link, bytes) in chain
            .iter()
            .zip(self.chain_bytes(&snapshot.tenant, chain).await?)
        {
            let changes: crate::format::RelationshipChanges =
                parse_json(&bytes, &link.blob, "relationship changes")?;
            let wanted = |r: &Relationship| kind.is_none_or(|k| r.kind == k);
            for r in changes.added.into_iter().filter(wanted) {
                overlay.insert(r, true);
            }
            for r in changes.removed.into_iter().filter(wanted) {
                overlay.insert(r, false);
            }
        }
        Ok(overlay)
    }

    /// One object's manifest entry in a snapshot: one chunk read in format 2 (the chunk whose
    /// first id is the last at or before `id`).
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn entry(
        &self,
        snapshot: &Snapshot,
        kind: ObjectKind,
        id: &dirvault_model::ObjectId,
    ) -> Result<Option<ManifestEntry>> {
        let Some(record) = snapshot.kinds.get(&kind) else {
            return Ok(None);
        };
        if record.index.is_none() {
            return Ok(self
                .manifest(snapshot, kind)
                .await?
                .into_iter()
                .find(|e| &e.id == id));
        }
        // The newest changeset of the chain that names the object says how it is.
        let chain = self.chain_bytes(&snapshot.tenant, &record.chain).await?;
        for (link, bytes) in record.chain.iter().zip(chain).rev() {
            let changes = changeset_naming(&bytes, &link.blob, id)?;
            if let Some(e) = changes
                .created
                .iter()
                .chain(&changes.modified)
                .find(|e| &e.id == id)
            {
                return Ok(Some(e.clone()));
            }
            if changes.deleted.iter().any(|e| &e.id == id) {
                return Ok(None);
            }
        }
        let chunks = self.manifest_chunks(&snapshot.tenant, record).await?;
        let at = chunks.partition_point(|c| c.first.as_str() <= id.as_str());
        let Some(chunk) = at.checked_sub(1).and_then(|i| chunks.get(i)) else {
            return Ok(None);
        };
        let entries: Vec<ManifestEntry> = self
            .chunked_refs(&snapshot.tenant, std::slice::from_ref(chunk), "manifest")
            .await?;
        Ok(entries.into_iter().find(|e| &e.id == id))
    }

    /// What changed in a kind since the snapshot's parent, when the snapshot records it
    /// (format 2); `Some(empty)` when the kind is unchanged.
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn changeset(
        &self,
        snapshot: &Snapshot,
        kind: ObjectKind,
    ) -> Result<Option<Changeset>> {
        let Some(record) = snapshot.kinds.get(&kind) else {
            return Ok(None);
        };
        match &record.changes {
            Some(blob) => {
                let bytes = self
                    .blob_bytes_at(&snapshot.tenant, blob, record.changes_at.as_ref())
                    .await?;
                parse_json(&bytes, blob, "changeset").map(Some)
            }
            None => Ok(None),
        }
    }

    /// The bytes of a chain's changesets (at most [`MAX_CHAIN`]), in order, read together.
    async fn chain_bytes(&self, tenant: &TenantId, chain: &[ChainLink]) -> Result<Vec<Bytes>> {
        // The futures are made first: a stream mapping with a closure across the await would
        // make callers' futures not `Send`.
        let reads: Vec<_> = chain
            .iter()
            .map(|link| self.blob_bytes_at(tenant, &link.blob, link.at.as_ref()))
            .collect();
        futures::future::try_join_all(reads).await
    }

    /// Every version of one object across the tenant's snapshots, oldest first: `None` where
    /// the snapshot does not hold it. Format 2 snapshots are answered from their changesets
    /// (one small blob each, and none at all for an unchanged kind) instead of manifests.
    ///
    /// # Errors
    /// Store errors.
    pub async fn versions(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        id: &dirvault_model::ObjectId,
    ) -> Result<Vec<(Snapshot, Option<ManifestEntry>)>> {
        let mut out: Vec<(Snapshot, Option<ManifestEntry>)> = Vec::new();
        for snapshot in self.snapshots(tenant).await? {
            let record = snapshot.kinds.get(&kind);
            let previous = out
                .last()
                .filter(|(p, _)| snapshot.parent.as_ref() == Some(&p.id));
            let current = match (previous, record) {
                (_, None) => None,
                (Some((p, entry)), Some(r)) if r.index.is_some() => {
                    let before = p.kinds.get(&kind);
                    if before.is_some_and(|b| b.same_manifest(r)) {
                        entry.clone()
                    } else if r.changes.is_none() && before.is_some_and(|b| b.index.is_some()) {
                        // Format 2 writes a changeset whenever the index changes; none
                        // means the kind was carried over as it was.
                        entry.clone()
                    } else if r
                        .changes_filter
                        .as_ref()
                        .is_some_and(|f| !f.may_contain(id.as_str()))
                    {
                        // The changeset certainly does not name it.
                        entry.clone()
                    } else if let Some(blob) = &r.changes {
                        let bytes = self
                            .blob_bytes_at(&snapshot.tenant, blob, r.changes_at.as_ref())
                            .await?;
                        let changes = changeset_naming(&bytes, blob, id)?;
                        if let Some(e) = changes
                            .created
                            .iter()
                            .chain(&changes.modified)
                            .find(|e| &e.id == id)
                        {
                            Some(e.clone())
                        } else if changes.deleted.iter().any(|e| &e.id == id) {
                            None
                        } else {
                            entry.clone()
                        }
                    } else {
                        self.entry(&snapshot, kind, id).await?
                    }
                }
                _ => self.entry(&snapshot, kind, id).await?,
            };
            out.push((snapshot, current));
        }
        Ok(out)
    }

    /// Reads and concatenates chunked JSON arrays.
    /// Reads and concatenates chunks, at their hinted locations when every chunk has one
    /// (no blob index needed), else through the blob index.
    async fn chunked_refs<T: ChunkItem>(
        &self,
        tenant: &TenantId,
        chunks: &[ChunkRef],
        what: &str,
    ) -> Result<Vec<T>> {
        let hinted: Option<Vec<(BlobId, BlobLocation)>> = chunks
            .iter()
            .map(|c| c.at.clone().map(|at| (c.blob, at)))
            .collect();
        if let Some(located) = hinted
            && let Ok(items) = read_chunks(self.store.as_ref(), tenant, &located, what).await
        {
            return Ok(items);
        }
        let ids: Vec<BlobId> = chunks.iter().map(|c| c.blob).collect();
        self.chunked(tenant, &ids, what).await
    }

    async fn chunked<T: ChunkItem>(
        &self,
        tenant: &TenantId,
        chunks: &[BlobId],
        what: &str,
    ) -> Result<Vec<T>> {
        let mut index = self.index(tenant, false).await?;
        if chunks.iter().any(|c| !index.contains_key(c)) {
            index = self.index(tenant, true).await?;
        }
        let located = chunks
            .iter()
            .map(|c| {
                let at = index.get(c).ok_or_else(|| Error::MissingBlob {
                    tenant: tenant.to_string(),
                    blob: c.to_string(),
                })?;
                Ok((*c, at.clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        read_chunks(self.store.as_ref(), tenant, &located, what).await
    }

    /// The relationships of a snapshot.
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn relationships(&self, snapshot: &Snapshot) -> Result<Vec<Relationship>> {
        let chunks = self.relationship_chunks(snapshot).await?;
        let mut base: Vec<Relationship> = self
            .chunked_refs(&snapshot.tenant, &chunks, "relationships")
            .await?;
        if snapshot.relationship_chain.is_empty() {
            return Ok(base);
        }
        let overlay = self.relationship_overlay(snapshot, None).await?;
        base.retain(|r| !overlay.contains_key(r));
        base.extend(
            overlay
                .into_iter()
                .filter(|(_, there)| *there)
                .map(|(r, _)| r),
        );
        base.sort();
        Ok(base)
    }

    /// The relationships of one kind in a snapshot: only the chunks that may hold that kind
    /// are read (chunks are in key order, and a key starts with its kind).
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn relationships_of(
        &self,
        snapshot: &Snapshot,
        kind: RelationshipKind,
    ) -> Result<Vec<Relationship>> {
        let mut out = Vec::new();
        self.relationships_of_each(snapshot, kind, |part| out.extend(part))
            .await?;
        out.sort(); // the chain's links come last
        Ok(out)
    }

    /// [`Repository::relationships_of`] a few hundred chunks at a time, each part given to
    /// `f` as it is decoded (the links a chain of changes adds come last): a caller that keeps them in a set of its own (sharing their ids)
    /// never holds a large tenant's million links twice.
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn relationships_of_each(
        &self,
        snapshot: &Snapshot,
        kind: RelationshipKind,
        mut f: impl FnMut(Vec<Relationship>),
    ) -> Result<()> {
        /// Chunks decoded at once (about 30 links each).
        const CHUNKS_AT_ONCE: usize = 256;
        let chunks = self.relationship_chunks(snapshot).await?;
        // Relationships are in kind order, so the chunks that hold `kind` are those starting
        // with it and the one before them. Chunks without first keys (format 1) are all read.
        let names: Vec<(RelationshipKind, String)> = RelationshipKind::ALL
            .into_iter()
            .map(|k| (k, format!("{k:?}")))
            .collect();
        let kinds: Option<Vec<RelationshipKind>> = chunks
            .iter()
            .map(|c| kind_of_key(&names, &c.first))
            .collect();
        let wanted = match kinds {
            Some(kinds) => {
                let start = kinds.partition_point(|k| *k < kind);
                let end = kinds.partition_point(|k| *k <= kind);
                chunks.get(start.saturating_sub(1)..end).unwrap_or_default()
            }
            None => &chunks[..],
        };
        let overlay = self.relationship_overlay(snapshot, Some(kind)).await?;
        for group in wanted.chunks(CHUNKS_AT_ONCE) {
            let mut part: Vec<Relationship> = self
                .chunked_refs(&snapshot.tenant, group, "relationships")
                .await?;
            part.retain(|r| r.kind == kind && !overlay.contains_key(r));
            f(part);
        }
        let added: Vec<Relationship> = overlay
            .into_iter()
            .filter(|(_, there)| *there)
            .map(|(r, _)| r)
            .collect();
        if !added.is_empty() {
            f(added);
        }
        Ok(())
    }

    /// The chunks of a snapshot's relationships: from its index, or inline without first
    /// keys (format 1).
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn relationship_chunks(&self, snapshot: &Snapshot) -> Result<Vec<ChunkRef>> {
        Ok(match &snapshot.relationship_index {
            Some(index) => {
                let at = snapshot.relationship_index_at.as_ref();
                self.index_blob(&snapshot.tenant, index, at).await?
            }
            None => inline_chunks(&snapshot.relationships),
        })
    }

    /// How the relationships changed since the snapshot's parent, when it records it.
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn relationship_changes(
        &self,
        snapshot: &Snapshot,
    ) -> Result<Option<crate::format::RelationshipChanges>> {
        let Some(blob) = &snapshot.relationship_changes else {
            return Ok(None);
        };
        let bytes = self
            .blob_bytes_at(
                &snapshot.tenant,
                blob,
                snapshot.relationship_changes_at.as_ref(),
            )
            .await?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                path: format!("relationship changes {blob}"),
                reason: e.to_string(),
            })
    }

    /// Every blob a snapshot needs besides its objects: what the record names, and the chunks
    /// behind its indexes.
    ///
    /// # Errors
    /// Missing or corrupt index blobs.
    pub async fn snapshot_blobs(&self, snapshot: &Snapshot) -> Result<Vec<BlobId>> {
        let mut out: Vec<BlobId> = snapshot.root_blobs().cloned().collect();
        for record in snapshot.kinds.values() {
            if let Some(index) = &record.index {
                out.extend(
                    self.index_blob(&snapshot.tenant, index, None)
                        .await?
                        .into_iter()
                        .map(|c| c.blob),
                );
            }
        }
        if let Some(index) = &snapshot.relationship_index {
            out.extend(
                self.index_blob(&snapshot.tenant, index, None)
                    .await?
                    .into_iter()
                    .map(|c| c.blob),
            );
        }
        Ok(out)
    }

    /// One object version by its blob id.
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn object(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        blob: &BlobId,
    ) -> Result<DirectoryObject> {
        let value = self.blob(tenant, blob).await?;
        DirectoryObject::from_graph(kind, value).map_err(|e| Error::Corrupt {
            path: format!("blob {blob}"),
            reason: e.to_string(),
        })
    }

    /// The object version a manifest entry names, read where the entry says it is (or
    /// through the blob index).
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn version(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        entry: &ManifestEntry,
    ) -> Result<DirectoryObject> {
        let bytes = self
            .blob_bytes_at(tenant, &entry.blob, entry.at.as_ref())
            .await?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: format!("blob {}", entry.blob),
            reason: e.to_string(),
        })?;
        DirectoryObject::from_graph(kind, value).map_err(|e| Error::Corrupt {
            path: format!("blob {}", entry.blob),
            reason: e.to_string(),
        })
    }

    /// Every object of one kind in a snapshot, exactly as Graph returned it.
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn objects(
        &self,
        snapshot: &Snapshot,
        kind: ObjectKind,
    ) -> Result<Vec<DirectoryObject>> {
        let mut out = Vec::new();
        for entry in self.manifest(snapshot, kind).await? {
            out.push(self.version(&snapshot.tenant, kind, &entry).await?);
        }
        Ok(out)
    }

    /// Re-reads and re-hashes everything of a tenant; names what is missing or corrupt.
    ///
    /// # Errors
    /// Store errors that stop the check itself (listing fails).
    pub async fn verify(&self, tenant: &TenantId) -> Result<VerifyReport> {
        let index = self.store.blob_index(tenant).await?;
        let mut report = VerifyReport::default();
        let mut good: HashSet<BlobId> = HashSet::new();
        for pack in self.store.packs(tenant).await? {
            report.packs += 1;
            if !pack.indexed {
                report.problems.push(format!(
                    "pack {} has no index (left by an interrupted write; `prune` removes it)",
                    pack.id
                ));
            }
        }
        for (id, at) in &index {
            match self.store.read_blob_bytes(tenant, id, at).await {
                Ok(_) => {
                    good.insert(*id);
                }
                Err(e) => report
                    .problems
                    .push(format!("blob {id} in pack {}: {e}", at.pack)),
            }
            report.blobs += 1;
        }
        // Record by record: one that does not check out is reported by name, and the others
        // are still verified.
        let mut snapshots = Vec::new();
        for id in self.store.snapshot_ids(tenant).await? {
            match self.store.read_snapshot(tenant, &id).await {
                Ok(snapshot) => snapshots.push(snapshot),
                Err(e) => {
                    report.snapshots += 1;
                    report.problems.push(format!("snapshot {id}: {e}"));
                }
            }
        }
        for snapshot in snapshots {
            report.snapshots += 1;
            let roots = match self.snapshot_blobs(&snapshot).await {
                Ok(r) => r,
                Err(e) => {
                    report
                        .problems
                        .push(format!("snapshot {}: {e}", snapshot.id));
                    snapshot.root_blobs().cloned().collect()
                }
            };
            for root in &roots {
                if !good.contains(root) {
                    report.problems.push(format!(
                        "snapshot {}: blob {root} is missing or corrupt",
                        snapshot.id
                    ));
                }
            }
            for kind in snapshot.kinds.keys() {
                let entries = match self.manifest(&snapshot, *kind).await {
                    Ok(e) => e,
                    Err(_) => continue,
                };
                for e in entries {
                    if !good.contains(&e.blob) {
                        report.problems.push(format!(
                            "snapshot {}: {kind} {} (blob {}) is missing or corrupt",
                            snapshot.id, e.id, e.blob
                        ));
                    }
                }
            }
        }
        Ok(report)
    }

    /// Deletes the snapshots `policy` does not keep. Data is freed by [`Repository::prune`].
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty policy; store errors.
    pub async fn forget(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<ForgetReport> {
        let snapshots = self.snapshots(tenant).await?;
        let keep = policy.keep(&snapshots, now)?;
        let mut report = ForgetReport::default();
        for s in snapshots {
            if keep.contains(&s.id) {
                report.kept.push(s.id);
            } else {
                self.store.delete_snapshot(tenant, &s.id).await?;
                report.removed.push(s.id);
            }
        }
        Ok(report)
    }

    /// Frees the data no snapshot references: deletes packs with no referenced blob, repacks
    /// packs that are partly referenced, removes packs left without an index.
    ///
    /// # Errors
    /// Store errors. Run it under the tenant's lease.
    pub async fn prune(&self, tenant: &TenantId) -> Result<PruneReport> {
        let index = self.store.blob_index(tenant).await?;
        let mut referenced: HashSet<BlobId> = HashSet::new();
        for snapshot in self.snapshots(tenant).await? {
            referenced.extend(self.snapshot_blobs(&snapshot).await?);
            for kind in snapshot.kinds.keys() {
                referenced.extend(
                    self.manifest(&snapshot, *kind)
                        .await?
                        .into_iter()
                        .map(|e| e.blob),
                );
            }
        }
        let mut by_pack: BTreeMap<Arc<str>, Vec<(BlobId, crate::format::BlobLocation)>> =
            BTreeMap::new();
        for (id, at) in index {
            by_pack.entry(at.pack.clone()).or_default().push((id, at));
        }
        let mut report = PruneReport::default();
        for pack in self.store.packs(tenant).await? {
            if !pack.indexed {
                self.store.delete_pack(tenant, &pack.id).await?;
                report.packs_deleted += 1;
                report.bytes_freed += pack.size;
                continue;
            }
            let blobs = by_pack.remove(pack.id.as_str()).unwrap_or_default();
            let keep: Vec<_> = blobs
                .iter()
                .filter(|(id, _)| referenced.contains(id))
                .collect();
            if keep.len() == blobs.len() {
                continue;
            }
            if !keep.is_empty() {
                // Write the survivors to a new pack before deleting the old one.
                let data = self.store.read_pack(tenant, &pack.id).await?;
                let moved: Vec<(BlobId, Bytes)> = keep
                    .iter()
                    .map(|(id, at)| {
                        let range = at.range_in(data.len()).ok_or_else(|| Error::Corrupt {
                            path: format!("packs/{}", pack.id),
                            reason: format!("blob {id} lies outside the pack ({at:?})"),
                        })?;
                        Ok((*id, data.slice(range)))
                    })
                    .collect::<Result<_>>()?;
                report.blobs_repacked += moved.len() as u64;
                self.store.write_pack(tenant, moved).await?;
            }
            self.store.delete_pack(tenant, &pack.id).await?;
            report.packs_deleted += 1;
            report.blobs_removed += (blobs.len() - keep.len()) as u64;
            report.bytes_freed += pack.size;
        }
        // Blobs moved or deleted: the cached index is stale.
        // (Even if a thread panicked holding the cache: a stale index must not survive.)
        self.indexes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(t, _)| t != tenant);
        Ok(report)
    }
}

/// What [`Repository::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Snapshots checked.
    pub snapshots: u64,
    /// Packs listed.
    pub packs: u64,
    /// Blobs re-read and re-hashed.
    pub blobs: u64,
    /// Every problem, naming the snapshot, object, blob or pack.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What [`Repository::forget`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ForgetReport {
    /// Kept snapshots.
    pub kept: Vec<SnapshotId>,
    /// Removed snapshots.
    pub removed: Vec<SnapshotId>,
}

/// What [`Repository::prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneReport {
    /// Packs deleted.
    pub packs_deleted: u64,
    /// Blobs no snapshot referenced.
    pub blobs_removed: u64,
    /// Referenced blobs moved out of partly-used packs.
    pub blobs_repacked: u64,
    /// Bytes of deleted packs.
    pub bytes_freed: u64,
}

/// Which snapshots to keep (restic's semantics: the newest snapshot of each of the last N
/// days / ISO weeks / months, the last N snapshots, and everything within a duration).
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct RetentionPolicy {
    /// Keep the last N snapshots.
    #[cfg_attr(feature = "clap", arg(long))]
    pub keep_last: Option<usize>,
    /// Keep the newest snapshot of each of the last N days.
    #[cfg_attr(feature = "clap", arg(long))]
    pub keep_daily: Option<usize>,
    /// Keep the newest snapshot of each of the last N ISO weeks.
    #[cfg_attr(feature = "clap", arg(long))]
    pub keep_weekly: Option<usize>,
    /// Keep the newest snapshot of each of the last N months.
    #[cfg_attr(feature = "clap", arg(long))]
    pub keep_monthly: Option<usize>,
    /// Keep every snapshot younger than this (e.g. 30d, 12h, 2w).
    #[cfg_attr(feature = "clap", arg(long, value_parser = parse_duration))]
    pub keep_within: Option<Duration>,
    /// Allow a policy that keeps none of the tenant's snapshots (without it, such a policy
    /// is refused: `--keep-last 0` deleting everything is never what was meant).
    #[cfg_attr(feature = "clap", arg(long))]
    pub allow_empty: bool,
}

/// The longest duration [`parse_duration`] takes: a century is longer than any retention or
/// schedule means, and keeps date arithmetic far from chrono's limits.
pub const MAX_DURATION_DAYS: i64 = 36_525;

/// Parses a positive duration: `30d`, `12h`, `2w`, `90m`, `30s`, `1d 12h` (humantime's
/// syntax), at most [`MAX_DURATION_DAYS`].
///
/// # Errors
/// A message naming the value: not a duration, zero, or too long.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration ({e}): use e.g. 30d, 12h, 2w or 90m"))?;
    let max = Duration::days(MAX_DURATION_DAYS);
    let d = Duration::from_std(parsed)
        .ok()
        .filter(|d| *d <= max)
        .ok_or_else(|| format!("{s:?} is too long: at most {MAX_DURATION_DAYS} days"))?;
    if d <= Duration::zero() {
        return Err(format!("{s:?}: the duration must be positive"));
    }
    Ok(d)
}

impl RetentionPolicy {
    /// The ids of `snapshots` to keep at `now`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the policy keeps nothing at all (forgetting everything is never
    /// what an empty command line meant).
    pub fn keep(&self, snapshots: &[Snapshot], now: DateTime<Utc>) -> Result<HashSet<SnapshotId>> {
        let rules = RetentionPolicy {
            allow_empty: false,
            ..self.clone()
        };
        if rules == RetentionPolicy::default() {
            return Err(Error::Invalid("no retention policy given: use --keep-last, --keep-daily, --keep-weekly, --keep-monthly or --keep-within".into()));
        }
        let mut newest_first: Vec<&Snapshot> = snapshots.iter().collect();
        newest_first.sort_by_key(|s| std::cmp::Reverse(s.time));
        let mut keep = HashSet::new();
        if let Some(n) = self.keep_last {
            keep.extend(newest_first.iter().take(n).map(|s| s.id.clone()));
        }
        if let Some(within) = self.keep_within {
            keep.extend(
                newest_first
                    .iter()
                    .filter(|s| now - s.time <= within)
                    .map(|s| s.id.clone()),
            );
        }
        let mut bucketed = |n: Option<usize>, bucket: &dyn Fn(&DateTime<Utc>) -> (i32, u32)| {
            let Some(n) = n else { return };
            let mut seen = Vec::new();
            for s in &newest_first {
                let b = bucket(&s.time);
                if !seen.contains(&b) {
                    if seen.len() == n {
                        break;
                    }
                    seen.push(b);
                    keep.insert(s.id.clone());
                }
            }
        };
        bucketed(self.keep_daily, &|t| (t.year(), t.ordinal()));
        bucketed(self.keep_weekly, &|t| {
            (t.iso_week().year(), t.iso_week().week())
        });
        bucketed(self.keep_monthly, &|t| (t.year(), t.month()));
        if keep.is_empty() && !snapshots.is_empty() && !self.allow_empty {
            return Err(Error::Invalid(format!(
                "this policy keeps none of the {} snapshot(s): nothing was forgotten; give a policy that keeps some (e.g. --keep-last 1), or --allow-empty to forget them all",
                snapshots.len()
            )));
        }
        Ok(keep)
    }
}

/// Writes one snapshot: add objects and relationships as they stream in, mark each kind's
/// outcome, then [`SnapshotWriter::commit`]. Nothing is visible before the commit; a crash
/// leaves only unreferenced packs.
#[derive(Debug)]
pub struct SnapshotWriter {
    repo: Repository,
    tenant: TenantId,
    time: DateTime<Utc>,
    parent: Option<SnapshotId>,
    index: BlobIndex,
    parent_kinds: BTreeMap<ObjectKind, KindRecord>,
    /// The parent snapshot (its relationship chunks are compared with this one's).
    parent_snapshot: Option<Snapshot>,
    /// Blobs waiting to be compressed: their canonical JSON and kind.
    raw: Vec<(BlobId, Vec<u8>, Option<ObjectKind>)>,
    raw_bytes: usize,
    /// Compressed blobs waiting for their pack.
    pending: Vec<(BlobId, Bytes)>,
    pending_bytes: usize,
    in_pending: HashSet<BlobId>,
    /// The pack being written while the next one fills (at most one): its blobs stay in
    /// `in_pending` until it is written.
    writing: Option<PackWrite>,
    entries: BTreeMap<ObjectKind, Vec<ManifestEntry>>,
    kinds: BTreeMap<ObjectKind, KindRecord>,
    relationships: BTreeSet<Relationship>,
    stats: WriteStats,
    /// Compression dictionaries by kind: the tenant's, and those this writer trained.
    encoders: HashMap<ObjectKind, EncoderDictionary>,
    /// New objects of kinds without a dictionary, held uncompressed until there are enough to
    /// train one ([`crate::compress::DICTIONARY_SAMPLES`]) and while it is trained.
    samples: BTreeMap<ObjectKind, Vec<(BlobId, Vec<u8>)>>,
    /// Dictionaries being trained on another thread while the writer goes on (training is
    /// single-threaded and took an eighth of a full L100k snapshot, with every core waiting).
    training: HashMap<ObjectKind, Training>,
    /// Kinds whose samples taught zstd nothing: compressed without a dictionary.
    untrainable: HashSet<ObjectKind>,
}

/// A dictionary being trained: `None` when zstd could not make one of the samples.
type Training = tokio::sync::oneshot::Receiver<Option<(EncoderDictionary, Vec<u8>)>>;

/// Samples of a kind held, while its dictionary is trained, before the writer waits for it.
const MAX_SAMPLES_WHILE_TRAINING: usize = 8 * DICTIONARY_SAMPLES;

/// Everything per object but the writing, done on every core by
/// [`SnapshotWriter::add_objects`]: the canonical form, its hash, the manifest entry (name and
/// key lookups in the object) and where the version is stored, if it is. Most objects of an
/// incremental are stored already, and each lookup is a random read of a large table (done one
/// object after another, a third of what the writer did while the other cores waited). The
/// canonical form is copied out of the thread's buffer (at its exact size) only for a new
/// version.
fn encode(index: &BlobIndex, object: &DirectoryObject) -> (Vec<u8>, ManifestEntry) {
    crate::format::with_canonical_object(object.raw(), |canonical| {
        let mut entry = manifest_entry(object, BlobId::of_canonical(canonical));
        entry.at = index.get(&entry.blob).cloned();
        let copy = match entry.at {
            Some(_) => Vec::new(),
            None => canonical.to_vec(),
        };
        (copy, entry)
    })
}

/// An object's manifest entry for its version `blob` (where the blob is comes at commit).
fn manifest_entry(object: &DirectoryObject, blob: BlobId) -> ManifestEntry {
    let key = object
        .user_principal_name()
        .or_else(|| object.app_id())
        .or_else(|| object.mail());
    ManifestEntry {
        id: object.id().clone(),
        blob,
        name: object.display_name().map(crate::Text::from),
        key: key.map(crate::Text::from),
        at: None,
    }
}

impl SnapshotWriter {
    /// Stores a JSON value as a blob unless the repository has it already; an object
    /// version (`kind` given) is compressed with its kind's dictionary.
    async fn put_blob(&mut self, value: &Value, kind: Option<ObjectKind>) -> Result<BlobId> {
        let canonical = crate::format::canonical_bytes(value);
        let id = BlobId::of_canonical(&canonical);
        self.put_canonical(id, canonical, kind).await
    }

    /// Stores a blob's canonical JSON under its id unless the repository has it already.
    async fn put_canonical(
        &mut self,
        id: BlobId,
        canonical: Vec<u8>,
        kind: Option<ObjectKind>,
    ) -> Result<BlobId> {
        if self.index.contains_key(&id) || self.in_pending.contains(&id) {
            return Ok(id);
        }
        self.in_pending.insert(id);
        self.stats.new_blobs += 1;
        if let Some(kind) = kind
            && !self.encoders.contains_key(&kind)
            && !self.untrainable.contains(&kind)
        {
            let samples = self.samples.entry(kind).or_default();
            samples.push((id, canonical));
            let held = samples.len();
            if let Some(training) = self.training.get_mut(&kind) {
                use tokio::sync::oneshot::error::TryRecvError;
                match training.try_recv() {
                    Ok(trained) => self.trained(kind, trained).await?,
                    // A training that panicked made no dictionary.
                    Err(TryRecvError::Closed) => self.trained(kind, None).await?,
                    Err(TryRecvError::Empty) if held >= MAX_SAMPLES_WHILE_TRAINING => {
                        self.finish_training(kind).await?;
                    }
                    Err(TryRecvError::Empty) => {}
                }
            } else if held >= DICTIONARY_SAMPLES {
                self.start_training(kind);
            }
            return Ok(id);
        }
        self.queue(id, canonical, kind).await?;
        Ok(id)
    }

    /// Starts training a kind's dictionary on its samples so far, on the rayon pool.
    fn start_training(&mut self, kind: ObjectKind) {
        let bytes: Vec<Vec<u8>> = self
            .samples
            .get(&kind)
            .map(|s| s.iter().map(|(_, b)| b.clone()).collect())
            .unwrap_or_default();
        let (done, training) = tokio::sync::oneshot::channel();
        rayon::spawn(move || {
            let trained =
                compress::train(&bytes).and_then(|d| Some((EncoderDictionary::new(&d)?, d)));
            // The writer may be gone (dropped without a commit); then nobody needs it.
            let _ = done.send(trained);
        });
        self.training.insert(kind, training);
    }

    /// Waits for a kind's dictionary, if it is being trained, and writes its samples.
    async fn finish_training(&mut self, kind: ObjectKind) -> Result<()> {
        if let Some(training) = self.training.get_mut(&kind) {
            let trained = training.await.unwrap_or(None);
            self.trained(kind, trained).await?;
        }
        Ok(())
    }

    /// Stores a kind's new dictionary (or notes that it has none), then writes the samples
    /// held for it.
    async fn trained(
        &mut self,
        kind: ObjectKind,
        trained: Option<(EncoderDictionary, Vec<u8>)>,
    ) -> Result<()> {
        self.training.remove(&kind);
        match trained {
            Some((encoder, dictionary)) => {
                self.repo
                    .store
                    .put_dictionary(&self.tenant, kind.name(), Bytes::from(dictionary))
                    .await?;
                self.encoders.insert(kind, encoder);
            }
            None => {
                self.untrainable.insert(kind);
            }
        }
        for (id, canonical) in self.samples.remove(&kind).unwrap_or_default() {
            self.queue(id, canonical, Some(kind)).await?;
        }
        Ok(())
    }

    /// Writes the samples of kinds that did not reach a dictionary's worth, without one.
    async fn drain_samples(&mut self) -> Result<()> {
        let training: Vec<ObjectKind> = self.training.keys().copied().collect();
        for kind in training {
            self.finish_training(kind).await?;
        }
        for (kind, samples) in std::mem::take(&mut self.samples) {
            self.untrainable.insert(kind);
            for (id, canonical) in samples {
                self.queue(id, canonical, Some(kind)).await?;
            }
        }
        Ok(())
    }

    /// Queues a blob's canonical JSON for compression; blobs are compressed a batch at a time
    /// on every core.
    async fn queue(
        &mut self,
        id: BlobId,
        canonical: Vec<u8>,
        kind: Option<ObjectKind>,
    ) -> Result<()> {
        self.raw_bytes += canonical.len();
        self.raw.push((id, canonical, kind));
        if self.raw_bytes >= COMPRESS_BATCH_BYTES {
            self.compress_queued().await?;
        }
        Ok(())
    }

    /// Compresses the queued blobs (each with its kind's dictionary) into the next packs.
    async fn compress_queued(&mut self) -> Result<()> {
        let raw = std::mem::take(&mut self.raw);
        self.raw_bytes = 0;
        let encoders = &self.encoders;
        let compressed: Vec<(BlobId, Bytes, bool)> = raw
            .into_par_iter()
            .map(|(id, canonical, kind)| {
                let bytes = encode_blob(canonical, kind.and_then(|k| encoders.get(&k)));
                (id, bytes, kind.is_some())
            })
            .collect();
        for (id, bytes, object) in compressed {
            if object {
                self.stats.object_bytes += bytes.len() as u64;
            }
            self.pending_bytes += bytes.len();
            self.pending.push((id, bytes));
            if self.pending_bytes >= PACK_TARGET_BYTES {
                self.write_pending().await?;
            }
        }
        Ok(())
    }

    /// Writes every blob so far.
    async fn flush(&mut self) -> Result<()> {
        self.compress_queued().await?;
        self.write_pending().await?;
        self.finish_writing().await
    }

    /// Starts writing the compressed blobs as a pack, on its own task when there is a tokio
    /// runtime: the next pack's objects are hashed and compressed meanwhile (writing was a
    /// tenth of a snapshot's time with one core idle). The pack before it is finished first.
    async fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.finish_writing().await?;
        let blobs = std::mem::take(&mut self.pending);
        self.stats.bytes_written += self.pending_bytes as u64;
        self.stats.packs += 1;
        self.pending_bytes = 0;
        let store = self.repo.store.clone();
        let tenant = self.tenant.clone();
        let write = async move { store.write_pack(&tenant, blobs).await };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => self.writing = Some(runtime.spawn(write)),
            Err(_) => {
                let written = write.await?;
                self.written(written);
            }
        }
        Ok(())
    }

    /// Waits for the pack being written, if any.
    async fn finish_writing(&mut self) -> Result<()> {
        let Some(task) = self.writing.take() else {
            return Ok(());
        };
        match task.await {
            Ok(written) => {
                self.written(written?);
                Ok(())
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::Invalid(format!(
                "writing a pack of tenant {} was cancelled ({e}); nothing was committed, run again",
                self.tenant
            ))),
        }
    }

    /// Records where a written pack's blobs are.
    fn written(&mut self, blobs: Vec<(BlobId, BlobLocation)>) {
        for (id, at) in blobs {
            self.in_pending.remove(&id);
            self.index.insert(id, at);
        }
    }

    /// Adds one object. An object identical to a version already stored costs no new bytes.
    ///
    /// # Errors
    /// Store errors when a pack is flushed.
    pub async fn add_object(&mut self, object: &DirectoryObject) -> Result<BlobId> {
        let (canonical, entry) = encode(&self.index, object);
        self.add_encoded(object.kind(), canonical, entry).await
    }

    /// Adds objects, serializing and hashing them on every core: [`SnapshotWriter::add_object`]
    /// for a page of objects at a time.
    ///
    /// # Errors
    /// Store errors when a pack is flushed.
    pub async fn add_objects(&mut self, objects: &[DirectoryObject]) -> Result<Vec<BlobId>> {
        let index = &self.index;
        let encoded: Vec<(Vec<u8>, ManifestEntry)> =
            objects.par_iter().map(|o| encode(index, o)).collect();
        let mut ids = Vec::with_capacity(objects.len());
        for (object, (canonical, entry)) in objects.iter().zip(encoded) {
            ids.push(self.add_encoded(object.kind(), canonical, entry).await?);
        }
        Ok(ids)
    }

    /// Adds an [`encode`]d object: its entry, and its version unless stored already.
    async fn add_encoded(
        &mut self,
        kind: ObjectKind,
        canonical: Vec<u8>,
        entry: ManifestEntry,
    ) -> Result<BlobId> {
        let blob = match entry.at {
            Some(_) => entry.blob,
            None => {
                self.put_canonical(entry.blob, canonical, Some(kind))
                    .await?
            }
        };
        self.push_entry(kind, entry);
        Ok(blob)
    }

    /// Adds an object's manifest entry; `at` is where its version is, if known already.
    fn push_entry(&mut self, kind: ObjectKind, entry: ManifestEntry) {
        self.stats.objects += 1;
        self.entries.entry(kind).or_default().push(entry);
    }

    /// The objects of `kind` in the snapshot so far (added or carried).
    pub fn count(&self, kind: ObjectKind) -> usize {
        self.entries.get(&kind).map_or(0, Vec::len)
    }

    /// Keeps an object exactly as a parent snapshot had it, without reading or writing it.
    pub fn carry_entry(&mut self, kind: ObjectKind, entry: ManifestEntry) {
        // Where the version is comes from this writer's index at commit (a prune may have
        // moved it since the parent was written).
        self.push_entry(kind, ManifestEntry { at: None, ..entry });
    }

    /// Reads an object version by blob id (e.g. the parent's version of a changed object).
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn read_object(&self, kind: ObjectKind, blob: &BlobId) -> Result<DirectoryObject> {
        let at = self.index.get(blob).ok_or_else(|| Error::MissingBlob {
            tenant: self.tenant.to_string(),
            blob: blob.to_string(),
        })?;
        let value = self.repo.store.read_blob(&self.tenant, blob, at).await?;
        DirectoryObject::from_graph(kind, value).map_err(|e| Error::Corrupt {
            path: format!("blob {blob}"),
            reason: e.to_string(),
        })
    }

    /// Adds a relationship.
    pub fn add_relationship(&mut self, relationship: Relationship) {
        self.relationships.insert(relationship);
    }

    /// Adds a set of relationships at once. The first set is taken as it is, not rebuilt: a
    /// large tenant's million memberships were held twice while moved one by one (the last
    /// ~90 MB of an L100k incremental's peak).
    pub fn add_relationships(&mut self, mut relationships: BTreeSet<Relationship>) {
        self.relationships.append(&mut relationships);
    }

    /// Records how a kind's backup ended. For a failed kind, pass the previous snapshot's
    /// record so that its objects are not taken as deleted.
    pub fn finish_kind(
        &mut self,
        kind: ObjectKind,
        status: KindStatus,
        delta_link: Option<String>,
    ) {
        self.kinds.insert(
            kind,
            KindRecord {
                status,
                delta_link,
                ..KindRecord::default()
            },
        );
    }

    /// Records the `$select` a kind's delta round asked for ([`KindRecord::selected`]).
    pub fn record_selection(&mut self, kind: ObjectKind, selected: Vec<String>) {
        if let Some(record) = self.kinds.get_mut(&kind) {
            record.selected = selected;
        }
    }

    /// Keeps a kind exactly as in an earlier snapshot (failed or skipped this time).
    pub fn carry_kind(&mut self, kind: ObjectKind, previous: KindRecord, status: KindStatus) {
        self.kinds.insert(
            kind,
            KindRecord {
                status,
                changes: None,
                changes_at: None,
                changes_filter: None,
                ..previous
            },
        );
    }

    /// What has been written so far.
    pub fn stats(&self) -> WriteStats {
        self.stats
    }

    /// How a kind's entries differ from its base (the parent record's index, without its
    /// chain): only the chunks the two do not share are compared (an unchanged stretch is the
    /// same chunk blob in both).
    async fn entries_since_base(
        &self,
        base: &KindRecord,
        list: &[ManifestEntry],
        ids: &[BlobId],
        ranges: &[std::ops::Range<usize>],
    ) -> Result<Changeset> {
        let base_chunks = self.repo.manifest_chunks(&self.tenant, base).await?;
        let ours: HashSet<&BlobId> = ids.iter().collect();
        let theirs: HashSet<&BlobId> = base_chunks.iter().map(|c| &c.blob).collect();
        // The base's chunks that we do not share, read together.
        let unshared: Vec<ChunkRef> = base_chunks
            .iter()
            .filter(|c| !ours.contains(&c.blob))
            .cloned()
            .collect();
        let before = self.repo.chunk_entries(&self.tenant, &unshared).await?;
        let mut before: HashMap<dirvault_model::ObjectId, ManifestEntry> =
            before.into_iter().map(|e| (e.id.clone(), e)).collect();
        let mut changes = Changeset::default();
        for (id, range) in ids.iter().zip(ranges) {
            if theirs.contains(id) {
                continue;
            }
            for entry in &list[range.clone()] {
                match before.remove(&entry.id) {
                    None => changes.created.push(entry.clone()),
                    Some(old) if old.blob != entry.blob => changes.modified.push(entry.clone()),
                    Some(_) => {}
                }
            }
        }
        let mut deleted: Vec<ManifestEntry> = before.into_values().collect();
        deleted.sort_by(|a, b| a.id.cmp(&b.id));
        changes.deleted = deleted;
        Ok(changes)
    }

    /// How the relationships differ from the parent's base (its index, without its chain):
    /// the chunks the two do not share are compared as they stream in (both are in order), a
    /// few hundred of the base's at a time.
    async fn relationships_since_base(
        &self,
        base: &Snapshot,
        ours: &[Relationship],
        ids: &[BlobId],
        ranges: &[std::ops::Range<usize>],
    ) -> Result<crate::format::RelationshipChanges> {
        const CHUNKS_AT_ONCE: usize = 256;
        let theirs = self.repo.relationship_chunks(base).await?;
        let our_chunks: HashSet<&BlobId> = ids.iter().collect();
        let their_chunks: HashSet<BlobId> = theirs.iter().map(|r| r.blob).collect();
        let unshared: Vec<ChunkRef> = theirs
            .into_iter()
            .filter(|c| !our_chunks.contains(&c.blob))
            .collect();
        // Our relationships in chunks the base does not have, in order (collected first: an
        // iterator of closures held across the reads below would make this future not Send).
        let after: Vec<&Relationship> = ids
            .iter()
            .zip(ranges)
            .filter(|(id, _)| !their_chunks.contains(*id))
            .flat_map(|(_, range)| &ours[range.clone()])
            .collect();
        let mut after = after.into_iter().peekable();
        let mut changes = crate::format::RelationshipChanges::default();
        for group in unshared.chunks(CHUNKS_AT_ONCE) {
            let before: Vec<Relationship> = self
                .repo
                .chunked_refs(&self.tenant, group, "relationships")
                .await?;
            for old in before {
                while let Some(new) = after.next_if(|new| **new < old) {
                    changes.added.push(new.clone());
                }
                if after.next_if(|new| **new == old).is_none() {
                    changes.removed.push(old);
                }
            }
        }
        changes.added.extend(after.cloned());
        Ok(changes)
    }

    /// Stores a changeset (unless it is empty) with the filter of the ids it names.
    async fn put_changes<T: Serialize>(
        &mut self,
        changes: &T,
        named: Vec<&str>,
    ) -> Result<Option<(BlobId, IdFilter)>> {
        if named.is_empty() {
            return Ok(None);
        }
        let filter = IdFilter::new(&named);
        let value = to_blob_value(&changes)?;
        Ok(Some((self.put_blob(&value, None).await?, filter)))
    }

    /// Writes the manifests, the relationships and the remaining pack, then commits the
    /// snapshot record. Kinds with objects but no [`SnapshotWriter::finish_kind`] are complete.
    ///
    /// # Errors
    /// Store errors; [`Error::SnapshotExists`] if the id is taken.
    pub async fn commit(mut self) -> Result<(Snapshot, WriteStats)> {
        // 1. The objects still pending, so that every entry can say where its version is.
        self.drain_samples().await?;
        self.flush().await?;
        // 2. Each kind's manifest: a chain on the parent's base, or new chunks.
        let entries = std::mem::take(&mut self.entries);
        let mut layouts = Vec::new();
        for (kind, mut list) in entries {
            list.par_sort_by(|a, b| a.id.cmp(&b.id));
            list.dedup_by(|a, b| a.id == b.id);
            for e in list.iter_mut().filter(|e| e.at.is_none()) {
                e.at = self.index.get(&e.blob).cloned();
            }
            let ranges = chunks(&list, |e| e.id.as_str().to_owned());
            // Chunks are encoded and hashed on every core (the binary encoding is canonical:
            // one chunk of entries has one encoding).
            let encoded: Vec<(BlobId, Vec<u8>)> = ranges
                .par_iter()
                .map(|range| {
                    let bytes = EntryChunk::new(&list[range.clone()]).encode();
                    (BlobId::of_canonical(&bytes), bytes)
                })
                .collect();
            let ids: Vec<BlobId> = encoded.iter().map(|(id, _)| *id).collect();
            let parent = self
                .parent_kinds
                .get(&kind)
                .filter(|p| p.index.is_some())
                .cloned();
            let mut layout = None;
            let mut changes = None;
            if let Some(parent) = parent {
                let since_base = self
                    .entries_since_base(&parent, &list, &ids, &ranges)
                    .await?;
                let overlay = self.repo.manifest_overlay(&self.tenant, &parent).await?;
                let since_parent = entries_since_parent(&since_base, &overlay, &list);
                let named = since_parent
                    .created
                    .iter()
                    .chain(&since_parent.modified)
                    .chain(&since_parent.deleted)
                    .map(|e| e.id.as_str())
                    .collect();
                changes = self.put_changes(&since_parent, named).await?;
                let changed =
                    since_base.created.len() + since_base.modified.len() + since_base.deleted.len();
                layout = Layout::on_base(
                    parent.index,
                    parent.index_at,
                    parent.chain,
                    changed,
                    list.len(),
                );
            }
            let layout = match layout {
                Some(layout) => layout,
                None => {
                    let mut refs = Vec::with_capacity(ranges.len());
                    for (range, (id, bytes)) in ranges.iter().zip(encoded) {
                        refs.push(ChunkRef {
                            blob: self.put_canonical(id, bytes, None).await?,
                            first: list[range.start].id.to_string(),
                            count: range.len(),
                            at: None,
                        });
                    }
                    Layout::Base(refs)
                }
            };
            layouts.push((Some(kind), list.len(), layout, changes));
        }
        // 3. The relationships, the same way.
        let relationships = std::mem::take(&mut self.relationships);
        let relationship_count = relationships.len();
        let relationships: Vec<Relationship> = relationships.into_iter().collect();
        let key = relationship_key;
        let ranges = chunks(&relationships, key);
        let ids: Vec<BlobId> = ranges
            .par_iter()
            .map(|range| {
                let value = serde_json::to_value(&relationships[range.clone()]).unwrap_or_default();
                BlobId::of_canonical(&crate::format::canonical_bytes(&value))
            })
            .collect();
        let parent = self
            .parent_snapshot
            .clone()
            .filter(|p| p.relationship_index.is_some());
        let mut layout = None;
        let mut relationship_changes = None;
        if let Some(parent) = parent {
            let since_base = self
                .relationships_since_base(&parent, &relationships, &ids, &ranges)
                .await?;
            let overlay = self.repo.relationship_overlay(&parent, None).await?;
            let since_parent = relationships_since_parent(&since_base, &overlay, &relationships);
            let named = since_parent
                .added
                .iter()
                .chain(&since_parent.removed)
                .flat_map(Relationship::referenced_ids)
                .map(|id| id.as_str())
                .collect();
            relationship_changes = self.put_changes(&since_parent, named).await?;
            let changed = since_base.added.len() + since_base.removed.len();
            layout = Layout::on_base(
                parent.relationship_index,
                parent.relationship_index_at,
                parent.relationship_chain,
                changed,
                relationship_count,
            );
        }
        let layout = match layout {
            Some(layout) => Some(layout),
            None if ranges.is_empty() => None,
            None => {
                let mut refs = Vec::with_capacity(ranges.len());
                for range in &ranges {
                    let value = to_blob_value(&relationships[range.clone()])?;
                    refs.push(ChunkRef {
                        blob: self.put_blob(&value, None).await?,
                        first: key(&relationships[range.start]),
                        count: range.len(),
                        at: None,
                    });
                }
                Some(Layout::Base(refs))
            }
        };
        if let Some(layout) = layout {
            layouts.push((None, relationship_count, layout, relationship_changes));
        }
        // 4. Now that they are written, new indexes can say where each chunk is.
        self.flush().await?;
        let mut written = Vec::new();
        for (kind, count, layout, changes) in layouts {
            let (index, links) = match layout {
                Layout::Base(mut refs) => {
                    for r in &mut refs {
                        r.at = self.index.get(&r.blob).cloned();
                    }
                    let index = to_blob_value(&ManifestIndex { chunks: refs })?;
                    (self.put_blob(&index, None).await?, None)
                }
                Layout::Chain {
                    index,
                    index_at,
                    links,
                    at_base,
                } => (index, Some((index_at, (!at_base).then_some(links)))),
            };
            written.push((kind, count, index, links, changes));
        }
        self.flush().await?;
        // 5. The records, with where their index and changeset blobs are; a chain ends with
        // this snapshot's changes.
        let mut relationship_record = None;
        for (kind, count, index, links, changes) in written {
            let (changes, changes_filter) = changes.unzip();
            let changes_at = changes.as_ref().and_then(|c| self.index.get(c).cloned());
            let (index_at, chain) = match links {
                None => (self.index.get(&index).cloned(), Vec::new()),
                Some((index_at, None)) => (index_at, Vec::new()),
                Some((index_at, Some(mut links))) => {
                    if let Some(blob) = changes {
                        links.push(ChainLink {
                            blob,
                            at: changes_at.clone(),
                        });
                    }
                    (index_at, links)
                }
            };
            let Some(kind) = kind else {
                relationship_record =
                    Some((index, index_at, chain, changes, changes_at, changes_filter));
                continue;
            };
            let record = self.kinds.entry(kind).or_insert(KindRecord {
                status: KindStatus::Complete,
                ..KindRecord::default()
            });
            record.manifest = Vec::new();
            record.index = Some(index);
            record.index_at = index_at;
            record.chain = chain;
            record.changes = changes;
            record.changes_at = changes_at;
            record.changes_filter = changes_filter;
            record.count = count;
        }
        let (
            relationship_index,
            relationship_index_at,
            relationship_chain,
            relationship_changes,
            relationship_changes_at,
            relationship_changes_filter,
        ) = match relationship_record {
            Some((index, at, chain, changes, changes_at, filter)) => {
                (Some(index), at, chain, changes, changes_at, filter)
            }
            None => (None, None, Vec::new(), None, None, None),
        };
        let snapshot = Snapshot {
            id: new_snapshot_id(self.time),
            tenant: self.tenant.clone(),
            time: self.time,
            parent: self.parent.clone(),
            kinds: std::mem::take(&mut self.kinds),
            relationships: Vec::new(),
            relationship_index,
            relationship_index_at,
            relationship_changes,
            relationship_changes_at,
            relationship_changes_filter,
            relationship_chain,
            relationship_count,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            integrity: None,
        };
        self.repo.store.commit_snapshot(&snapshot).await?;
        Ok((snapshot, self.stats))
    }
}

/// A blob's JSON value: serializing the store's own types does not fail, but if it did, the
/// error is returned rather than a `null` blob written in its place.
fn to_blob_value<T: serde::Serialize + ?Sized>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Invalid(format!("cannot encode a blob: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A daemon reads many tenants through one repository: it keeps only the last few
    /// tenants' blob indexes, and a tenant whose index was let go is read as before.
    #[tokio::test]
    async fn only_the_last_tenants_blob_indexes_stay_loaded() {
        let repo = Repository::open("memory://").unwrap();
        let mut read = Vec::new();
        for i in 0..INDEX_CACHE_TENANTS + 2 {
            let tenant: TenantId = format!("5f1c2d3e-0000-4000-8000-00000000000{i}")
                .parse()
                .unwrap();
            let mut w = repo.begin(&tenant, Utc::now(), None).await.unwrap();
            let user = DirectoryObject::from_graph(
                ObjectKind::Users,
                serde_json::json!({"id": format!("u{i}"), "displayName": "U"}),
            )
            .unwrap();
            let blob = w.add_object(&user).await.unwrap();
            w.commit().await.unwrap();
            assert_eq!(
                repo.object(&tenant, ObjectKind::Users, &blob)
                    .await
                    .unwrap(),
                user
            );
            read.push((tenant, blob, user));
        }
        let cached: Vec<TenantId> = repo
            .indexes
            .lock()
            .unwrap()
            .iter()
            .map(|(t, _)| t.clone())
            .collect();
        let newest: Vec<TenantId> = read
            .iter()
            .rev()
            .take(INDEX_CACHE_TENANTS)
            .map(|(t, ..)| t.clone())
            .collect();
        assert_eq!(cached, newest);
        let (tenant, blob, user) = &read[0];
        assert_eq!(
            &repo.object(tenant, ObjectKind::Users, blob).await.unwrap(),
            user
        );
        assert_eq!(
            repo.indexes.lock().unwrap().front().map(|(t, _)| t),
            Some(tenant)
        );
        assert_eq!(repo.indexes.lock().unwrap().len(), INDEX_CACHE_TENANTS);
    }
}
