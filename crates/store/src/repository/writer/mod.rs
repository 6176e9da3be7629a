//! [`SnapshotWriter`]: one snapshot written as objects stream in — packing, compression
//! dictionaries, and the commit that makes it visible.
//!
//! The dictionaries' training is in [`dictionaries`].

mod changes;
mod dictionaries;
mod names;
use dictionaries::*;

use super::*;
use crate::SortedRelationships;

impl Repository {
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
        // First: in an encrypted repository this makes a new tenant's keys.
        let ids = self.store.content_ids(tenant).await?;
        Ok(SnapshotWriter {
            ids,
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
            relationships: Vec::new(),
            sorted_relationships: None,
            stats: WriteStats::default(),
            encoders: self.encoders(tenant).await?,
            samples: BTreeMap::new(),
            training: HashMap::new(),
            untrainable: HashSet::new(),
            id: None,
        })
    }

    /// The tenant's compression dictionaries by kind (the first, by id, where a kind has
    /// several).
    pub(super) async fn encoders(
        &self,
        tenant: &TenantId,
    ) -> Result<HashMap<ObjectKind, EncoderDictionary>> {
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
}

/// Writes one snapshot: add objects and relationships as they stream in, mark each kind's
/// outcome, then [`SnapshotWriter::commit`]. Nothing is visible before the commit; a crash
/// leaves only unreferenced packs.
#[derive(Debug)]
pub struct SnapshotWriter {
    /// How the tenant's content ids are made (keyed when the repository is encrypted).
    ids: crate::crypto::ContentIds,
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
    /// Compressed pieces (blobs alone, groups of object versions) waiting for their pack.
    pending: Vec<PackPiece>,
    pending_bytes: usize,
    in_pending: HashSet<BlobId>,
    /// The pack being written while the next one fills (at most one): its blobs stay in
    /// `in_pending` until it is written.
    writing: Option<PackWrite>,
    entries: BTreeMap<ObjectKind, Vec<ManifestEntry>>,
    kinds: BTreeMap<ObjectKind, KindRecord>,
    /// In any order, perhaps with repeats: sorted and deduplicated at commit.
    relationships: Vec<Relationship>,
    /// Relationships added held compactly ([`SnapshotWriter::add_sorted_relationships`]).
    sorted_relationships: Option<SortedRelationships>,
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
    /// The id to commit under, when it is not new: a snapshot copied from another repository
    /// keeps its own ([`Repository::copy_into`]).
    id: Option<SnapshotId>,
}

/// Everything per object but the writing, done on every core by
/// [`SnapshotWriter::add_objects`]: the canonical form, its hash, the manifest entry (name and
/// key lookups in the object) and where the version is stored, if it is. Most objects of an
/// incremental are stored already, and each lookup is a random read of a large table (done one
/// object after another, a third of what the writer did while the other cores waited). The
/// canonical form is copied out of the thread's buffer (at its exact size) only for a new
/// version.
pub(super) fn encode(
    ids: &crate::crypto::ContentIds,
    index: &BlobIndex,
    object: &DirectoryObject,
) -> (Vec<u8>, ManifestEntry) {
    crate::format::with_canonical_object(object.raw(), |canonical| {
        let mut entry = manifest_entry(object, ids.id_of(canonical));
        entry.at = index.get(&entry.blob);
        let copy = match entry.at {
            Some(_) => Vec::new(),
            None => canonical.to_vec(),
        };
        (copy, entry)
    })
}

/// An object's manifest entry for its version `blob` (where the blob is comes at commit).
pub(super) fn manifest_entry(object: &DirectoryObject, blob: BlobId) -> ManifestEntry {
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
    pub(super) async fn put_blob(
        &mut self,
        value: &Value,
        kind: Option<ObjectKind>,
    ) -> Result<BlobId> {
        let canonical = crate::format::canonical_bytes(value);
        let id = self.ids.id_of(&canonical);
        self.put_canonical(id, canonical, kind).await
    }

    /// Stores a blob's canonical JSON under its id unless the repository has it already.
    pub(super) async fn put_canonical(
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

    /// Queues a blob's canonical JSON for compression; blobs are compressed a batch at a time
    /// on every core.
    pub(super) async fn queue(
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

    /// Compresses the queued blobs into the next packs: object versions in groups of one
    /// kind (with its dictionary), anything else alone; on every core.
    pub(super) async fn compress_queued(&mut self) -> Result<()> {
        /// What one core compresses.
        enum Work {
            Alone(BlobId, Vec<u8>),
            Group(ObjectKind, Vec<(BlobId, Vec<u8>)>),
        }
        let raw = std::mem::take(&mut self.raw);
        self.raw_bytes = 0;
        let mut work = Vec::new();
        // Each kind's open group and its bytes so far (objects come kind by kind, so few are
        // open at once); what is open at the end of the batch is closed with it.
        type Members = Vec<(BlobId, Vec<u8>)>;
        let mut open: HashMap<ObjectKind, (Members, usize)> = HashMap::new();
        for (id, canonical, kind) in raw {
            let Some(kind) = kind else {
                work.push(Work::Alone(id, canonical));
                continue;
            };
            let (members, bytes) = open.entry(kind).or_default();
            *bytes += canonical.len();
            members.push((id, canonical));
            if *bytes >= GROUP_PLAIN_BYTES
                && let Some((members, _)) = open.remove(&kind)
            {
                work.push(Work::Group(kind, members));
            }
        }
        let mut rest: Vec<_> = open.into_iter().collect();
        rest.sort_by_key(|(kind, _)| *kind);
        work.extend(
            rest.into_iter()
                .map(|(kind, (members, _))| Work::Group(kind, members)),
        );
        let encoders = &self.encoders;
        let compressed: Vec<PackPiece> = work
            .into_par_iter()
            .map(|work| match work {
                Work::Alone(id, canonical) => PackPiece::Alone(id, encode_blob(canonical, None)),
                Work::Group(kind, members) => encode_group(members, encoders.get(&kind)),
            })
            .collect();
        for piece in compressed {
            let length = piece.bytes().len();
            if matches!(piece, PackPiece::Group { .. }) {
                self.stats.object_bytes += length as u64;
            }
            self.pending_bytes += length;
            self.pending.push(piece);
            if self.pending_bytes >= PACK_TARGET_BYTES {
                self.write_pending().await?;
            }
        }
        Ok(())
    }

    /// Writes every blob so far.
    pub(super) async fn flush(&mut self) -> Result<()> {
        self.compress_queued().await?;
        self.write_pending().await?;
        self.finish_writing().await
    }

    /// Starts writing the compressed blobs as a pack, on its own task when there is a tokio
    /// runtime: the next pack's objects are hashed and compressed meanwhile (writing was a
    /// tenth of a snapshot's time with one core idle). The pack before it is finished first.
    pub(super) async fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.finish_writing().await?;
        let pieces = std::mem::take(&mut self.pending);
        self.stats.bytes_written += self.pending_bytes as u64;
        self.stats.packs += 1;
        self.pending_bytes = 0;
        let store = self.repo.store.clone();
        let tenant = self.tenant.clone();
        let write = async move { store.write_pack(&tenant, pieces).await };
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
    pub(super) async fn finish_writing(&mut self) -> Result<()> {
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
    pub(super) fn written(&mut self, blobs: Vec<(BlobId, BlobLocation)>) {
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
        let (canonical, entry) = encode(&self.ids, &self.index, object);
        self.add_encoded(object.kind(), canonical, entry).await
    }

    /// Adds objects, serializing and hashing them on every core: [`SnapshotWriter::add_object`]
    /// for a page of objects at a time.
    ///
    /// # Errors
    /// Store errors when a pack is flushed.
    pub async fn add_objects(&mut self, objects: &[DirectoryObject]) -> Result<Vec<BlobId>> {
        let (ids, index) = (&self.ids, &self.index);
        let encoded: Vec<(Vec<u8>, ManifestEntry)> =
            objects.par_iter().map(|o| encode(ids, index, o)).collect();
        let mut ids = Vec::with_capacity(objects.len());
        for (object, (canonical, entry)) in objects.iter().zip(encoded) {
            ids.push(self.add_encoded(object.kind(), canonical, entry).await?);
        }
        Ok(ids)
    }

    /// Adds an [`encode`]d object: its entry, and its version unless stored already.
    pub(super) async fn add_encoded(
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
    pub(super) fn push_entry(&mut self, kind: ObjectKind, entry: ManifestEntry) {
        self.stats.objects += 1;
        self.entries.entry(kind).or_default().push(entry);
    }

    /// Commits under `id` rather than a new one (a copy of another repository's snapshot).
    pub(crate) fn keep_id(&mut self, id: SnapshotId) {
        self.id = Some(id);
    }

    /// The objects of `kind` in the snapshot so far (added or carried).
    pub fn count(&self, kind: ObjectKind) -> usize {
        self.entries.get(&kind).map_or(0, Vec::len)
    }

    /// Keeps an object exactly as a parent snapshot had it, without reading or writing it.
    pub fn carry_entry(&mut self, kind: ObjectKind, entry: ManifestEntry) {
        self.carry_entries(kind, std::iter::once(entry));
    }

    /// [`SnapshotWriter::carry_entry`] for many entries: the kind's list grows once.
    pub fn carry_entries(
        &mut self,
        kind: ObjectKind,
        entries: impl ExactSizeIterator<Item = ManifestEntry>,
    ) {
        let list = self.entries.entry(kind).or_default();
        list.reserve(entries.len());
        for entry in entries {
            self.stats.objects += 1;
            // Where the version is comes from this writer's index at commit (a prune may have
            // moved it since the parent was written).
            list.push(ManifestEntry { at: None, ..entry });
        }
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
        let value = self.repo.store.read_blob(&self.tenant, blob, &at).await?;
        DirectoryObject::from_graph(kind, value).map_err(|e| Error::Corrupt {
            path: format!("blob {blob}"),
            reason: e.to_string(),
        })
    }

    /// Adds a relationship.
    pub fn add_relationship(&mut self, relationship: Relationship) {
        self.relationships.push(relationship);
    }

    /// Adds relationships at once (repeats, here or with those added before, are kept once).
    pub fn add_relationships(&mut self, relationships: impl IntoIterator<Item = Relationship>) {
        self.relationships.extend(relationships);
    }

    /// Adds relationships held compactly, such as a large tenant's ten million memberships:
    /// the first such list is taken as it is and values are made a chunk at a time as they are
    /// written (as values, L1M's links were about 530 MB of its commit).
    pub fn add_sorted_relationships(&mut self, relationships: SortedRelationships) {
        self.sorted_relationships = Some(match self.sorted_relationships.take() {
            None => relationships,
            Some(before) => {
                SortedRelationships::from_relationships(before.iter().chain(relationships.iter()))
            }
        });
    }

    /// Every relationship added, in order and each once.
    fn take_relationships(&mut self) -> SortedRelationships {
        let added = std::mem::take(&mut self.relationships);
        match self.sorted_relationships.take() {
            Some(sorted) if added.is_empty() => sorted,
            Some(sorted) => SortedRelationships::from_relationships(sorted.iter().chain(added)),
            None => SortedRelationships::from_relationships(added),
        }
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
                e.at = self.index.get(&e.blob);
            }
            let ranges = chunks(&list, MANIFEST_CHUNK_DIVISOR, |e| e.id.as_str().to_owned());
            // Chunks are encoded and hashed on every core (the binary encoding is canonical:
            // one chunk of entries has one encoding), and encoded again only if written: held,
            // a million users' chunks are about 100 MB, and an incremental writes few of them.
            let encode =
                |range: &std::ops::Range<usize>| EntryChunk::new(&list[range.clone()]).encode();
            let ids: Vec<BlobId> = ranges
                .par_iter()
                .map(|range| self.ids.id_of(&encode(range)))
                .collect();
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
                changes = self
                    .put_changes(changes::Changes::Kind(&since_parent), named)
                    .await?;
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
                    for (range, id) in ranges.iter().zip(&ids) {
                        refs.push(ChunkRef {
                            blob: self.put_canonical(*id, encode(range), None).await?,
                            first: list[range.start].id.to_string(),
                            count: range.len(),
                            at: None,
                        });
                    }
                    let (by_name, name_filters) = self.put_name_chunks(&list).await?;
                    Layout::Base {
                        chunks: refs,
                        by_name,
                        name_filters: Some(name_filters),
                    }
                }
            };
            layouts.push((Some(kind), list.len(), layout, changes));
        }
        // 3. The relationships, the same way.
        let relationships = self.take_relationships();
        let relationship_count = relationships.len();
        let key = |i: usize| {
            relationships
                .get(i)
                .map(|r| relationship_key(&r))
                .unwrap_or_default()
        };
        let ranges = chunks_by(relationship_count, RELATIONSHIP_CHUNK_DIVISOR, key);
        let ids: Vec<BlobId> = ranges
            .par_iter()
            .map(|range| {
                let value =
                    serde_json::to_value(relationships.values(range.clone())).unwrap_or_default();
                self.ids.id_of(&crate::format::canonical_bytes(&value))
            })
            .collect();
        let parent = self
            .parent_snapshot
            .clone()
            .filter(|p| p.relationships.index.is_some());
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
            relationship_changes = self
                .put_changes(changes::Changes::Relationships(&since_parent), named)
                .await?;
            let changed = since_base.added.len() + since_base.removed.len();
            layout = Layout::on_base(
                parent.relationships.index,
                parent.relationships.index_at,
                parent.relationships.chain,
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
                    let value = to_blob_value(&relationships.values(range.clone()))?;
                    refs.push(ChunkRef {
                        blob: self.put_blob(&value, None).await?,
                        first: key(range.start),
                        count: range.len(),
                        at: None,
                    });
                }
                Some(Layout::Base {
                    chunks: refs,
                    by_name: Vec::new(),
                    name_filters: None,
                })
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
                Layout::Base {
                    mut chunks,
                    mut by_name,
                    name_filters,
                } => {
                    for r in chunks.iter_mut().chain(&mut by_name) {
                        r.at = self.index.get(&r.blob);
                    }
                    let name_filters = name_filters.map(|blob| BlobRef {
                        at: self.index.get(&blob),
                        blob,
                    });
                    let index = to_blob_value(&ManifestIndex {
                        chunks,
                        by_name,
                        name_filters,
                    })?;
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
        let mut relationships = KindRecord::default();
        for (kind, count, index, links, changes) in written {
            let (changes, changes_filter) = changes.unzip();
            let changes_at = changes.as_ref().and_then(|c| self.index.get(c));
            let (index_at, chain) = match links {
                None => (self.index.get(&index), Vec::new()),
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
            let record = match kind {
                Some(kind) => self.kinds.entry(kind).or_insert(KindRecord {
                    status: KindStatus::Complete,
                    ..KindRecord::default()
                }),
                None => &mut relationships,
            };
            record.index = Some(index);
            record.index_at = index_at;
            record.chain = chain;
            record.changes = changes;
            record.changes_at = changes_at;
            record.changes_filter = changes_filter;
            record.count = count;
        }
        let snapshot = Snapshot {
            id: self.id.take().unwrap_or_else(|| new_snapshot_id(self.time)),
            tenant: self.tenant.clone(),
            time: self.time,
            parent: self.parent.clone(),
            kinds: std::mem::take(&mut self.kinds),
            relationships,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            integrity: None,
        };
        self.repo.store.commit_snapshot(&snapshot).await?;
        Ok((snapshot, self.stats))
    }
}

/// A blob's JSON value: serializing the store's own types does not fail, but if it did, the
/// error is returned rather than a `null` blob written in its place.
pub(super) fn to_blob_value<T: serde::Serialize + ?Sized>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Invalid(format!("cannot encode a blob: {e}")))
}
