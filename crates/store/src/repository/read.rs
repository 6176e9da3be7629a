//! Reading snapshots: manifests, objects, versions and relationships, through chunks and
//! chains.

use super::*;

impl Repository {
    /// The chunks of a kind's manifest (or of the relationships), from its index: none when
    /// it has no index.
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub(crate) async fn manifest_chunks(
        &self,
        tenant: &TenantId,
        record: &KindRecord,
    ) -> Result<Vec<ChunkRef>> {
        match &record.index {
            Some(index) => {
                self.index_blob(tenant, index, record.index_at.as_ref())
                    .await
            }
            None => Ok(Vec::new()),
        }
    }

    pub(super) async fn index_blob(
        &self,
        tenant: &TenantId,
        index: &BlobId,
        at: Option<&BlobLocation>,
    ) -> Result<Vec<ChunkRef>> {
        Ok(self.manifest_index(tenant, index, at).await?.chunks)
    }

    /// A manifest index blob: its chunks, and its name chunks.
    pub(super) async fn manifest_index(
        &self,
        tenant: &TenantId,
        index: &BlobId,
        at: Option<&BlobLocation>,
    ) -> Result<ManifestIndex> {
        let bytes = self.blob_bytes_at(tenant, index, at).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: format!("manifest index {index}"),
            reason: e.to_string(),
        })
    }

    /// A blob read where a hint says it is, or through the blob index when it is not there
    /// (moved by a repack) or the hint is absent.
    pub(super) async fn blob_bytes_at(
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
    pub(crate) async fn chunk_entries(
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

    /// The entries of a kind's manifest that `keep` keeps, in id order: what
    /// [`Repository::manifest`] filtered would give, without making the others into entries
    /// (a search over a million users decodes their texts and makes only its hits). `keep`
    /// is asked once about each entry of the manifest, from any thread.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use dirvault_model::{DirectoryObject, ObjectKind, TenantId};
    /// use dirvault_store::Repository;
    /// use serde_json::json;
    ///
    /// let repo = Repository::open("memory://")?;
    /// let tenant: TenantId = "contoso".parse().unwrap();
    /// let mut writer = repo.begin(&tenant, chrono::Utc::now(), None).await?;
    /// for (id, name) in [("u1", "Adele Vance"), ("u2", "Alex Wilber")] {
    ///     let user = json!({"id": id, "displayName": name});
    ///     writer.add_object(&DirectoryObject::from_graph(ObjectKind::Users, user).unwrap()).await?;
    /// }
    /// let (snapshot, _) = writer.commit().await?;
    /// let found = repo
    ///     .manifest_matching(&snapshot, ObjectKind::Users, &|e| {
    ///         e.name.is_some_and(|n| n.contains("Adele"))
    ///     })
    ///     .await?;
    /// assert_eq!(found.len(), 1);
    /// assert_eq!(found[0].id.as_str(), "u1");
    /// # Ok::<(), dirvault_store::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn manifest_matching(
        &self,
        snapshot: &Snapshot,
        kind: ObjectKind,
        keep: &(dyn Fn(EntryText<'_>) -> bool + Sync),
    ) -> Result<Vec<ManifestEntry>> {
        let Some(record) = snapshot.kinds.get(&kind) else {
            return Ok(Vec::new());
        };
        let chunks = self.manifest_chunks(&snapshot.tenant, record).await?;
        let chain = self.composed_chain(&snapshot.tenant, record).await?;
        // The chain decides every object it names: the base's entries of those are left out,
        // and the chain's own (those it keeps) merged in.
        // Probed once an entry, a million times at L1M: a fast hasher, and none when empty.
        let named: foldhash::HashSet<&str> =
            chain.objects().iter().map(|o| o.id().as_str()).collect();
        let decode = |bytes: &[u8]| {
            EntryChunk::decode_matching(bytes, &|e| {
                (named.is_empty() || !named.contains(e.id)) && keep(e)
            })
        };
        let base = self
            .chunked_refs_with(&snapshot.tenant, &chunks, "manifest", &decode)
            .await?;
        let kept: Overlay = chain
            .entries()
            .filter(|e| keep(e.text()))
            .map(|e| (e.id.clone(), Some(e.clone())))
            .collect();
        Ok(apply_overlay(base, kept))
    }

    /// A kind's chain of changesets composed into one overlay on its base: the last state
    /// the chain gives each object it names (`None`: deleted). Empty without a chain. Not
    /// kept: a backup reads its parent's once.
    ///
    /// # Errors
    /// Missing or corrupt changesets.
    pub(crate) async fn manifest_overlay(
        &self,
        tenant: &TenantId,
        record: &KindRecord,
    ) -> Result<Overlay> {
        Ok(self.compose_chain(tenant, record).await?.into_overlay())
    }

    /// A kind's chain of changesets composed ([`ComposedChain`]) for reading: the last one
    /// composed is kept, and asked again is not read again.
    ///
    /// # Errors
    /// Missing or corrupt changesets.
    pub(crate) async fn composed_chain(
        &self,
        tenant: &TenantId,
        record: &KindRecord,
    ) -> Result<Arc<ComposedChain>> {
        let links: Vec<BlobId> = record.chain.iter().map(|l| l.blob).collect();
        let kept = match &*self
            .last_chain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some((t, l, chain)) if t == tenant && *l == links => Some(chain.clone()),
            _ => None,
        };
        if let Some(chain) = kept {
            return Ok(chain);
        }
        let chain = Arc::new(self.compose_chain(tenant, record).await?);
        if !links.is_empty() {
            *self
                .last_chain
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((tenant.clone(), links, chain.clone()));
        }
        Ok(chain)
    }

    /// A kind's chain of changesets read and composed.
    async fn compose_chain(&self, tenant: &TenantId, record: &KindRecord) -> Result<ComposedChain> {
        let bytes = self.chain_bytes(tenant, &record.chain).await?;
        // Up to 32 changesets of 10k entries each at L1M: decoded on every core.
        let chain: Vec<ChangesetFile> = record
            .chain
            .par_iter()
            .zip(&bytes)
            .map(|(link, bytes)| parse_changeset(bytes, &link.blob))
            .collect::<Result<_>>()?;
        Ok(ComposedChain::of(chain))
    }

    /// A snapshot's chain of relationship changes composed into one overlay on its base:
    /// whether each link the chain names is there at the end. Only links of `kind` when given.
    ///
    /// # Errors
    /// Missing or corrupt relationship changes.
    pub(crate) async fn relationship_overlay(
        &self,
        snapshot: &Snapshot,
        kind: Option<RelationshipKind>,
    ) -> Result<BTreeMap<Relationship, bool>> {
        let mut overlay = BTreeMap::new();
        let chain = &snapshot.relationships.chain;
        for (link, bytes) in chain
            .iter()
            .zip(self.chain_bytes(&snapshot.tenant, chain).await?)
        {
            let changes: crate::format::RelationshipChangesFile =
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

    /// What changed in a kind since the snapshot's parent, when the snapshot records it;
    /// `None` when nothing changed or there is no parent.
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
                parse_changeset(&bytes, blob).map(|file| Some(file.into()))
            }
            None => Ok(None),
        }
    }

    /// The bytes of a chain's changesets (at most [`MAX_CHAIN`]), in order, read together.
    pub(super) async fn chain_bytes(
        &self,
        tenant: &TenantId,
        chain: &[ChainLink],
    ) -> Result<Vec<Bytes>> {
        // The futures are made first: a stream mapping with a closure across the await would
        // make callers' futures not `Send`.
        let reads: Vec<_> = chain
            .iter()
            .map(|link| self.blob_bytes_at(tenant, &link.blob, link.at.as_ref()))
            .collect();
        futures::future::try_join_all(reads).await
    }

    /// Reads and concatenates chunks, at their hinted locations when every chunk has one
    /// (no blob index needed), else through the blob index.
    pub(super) async fn chunked_refs<T: ChunkItem>(
        &self,
        tenant: &TenantId,
        chunks: &[ChunkRef],
        what: &str,
    ) -> Result<Vec<T>> {
        self.chunked_refs_with(tenant, chunks, what, &T::decode_chunk)
            .await
    }

    /// [`Repository::chunked_refs`] with a decoding of one's own.
    pub(super) async fn chunked_refs_with<T: Send + Sync>(
        &self,
        tenant: &TenantId,
        chunks: &[ChunkRef],
        what: &str,
        decode: DecodeChunk<'_, T>,
    ) -> Result<Vec<T>> {
        let hinted: Option<Vec<(BlobId, BlobLocation)>> = chunks
            .iter()
            .map(|c| c.at.clone().map(|at| (c.blob, at)))
            .collect();
        if let Some(located) = hinted
            && let Ok(items) =
                read_chunks(self.store.as_ref(), tenant, &located, what, decode).await
        {
            return Ok(items);
        }
        let ids: Vec<BlobId> = chunks.iter().map(|c| c.blob).collect();
        self.chunked(tenant, &ids, what, decode).await
    }

    pub(super) async fn chunked<T: Send + Sync>(
        &self,
        tenant: &TenantId,
        chunks: &[BlobId],
        what: &str,
        decode: DecodeChunk<'_, T>,
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
                Ok((*c, at))
            })
            .collect::<Result<Vec<_>>>()?;
        read_chunks(self.store.as_ref(), tenant, &located, what, decode).await
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
        if snapshot.relationships.chain.is_empty() {
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
        // with it and the one before them. Chunks whose first key names no kind known to this
        // version (written by a later one) make every chunk read.
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

    /// The chunks of a snapshot's relationships, from their index.
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub(crate) async fn relationship_chunks(&self, snapshot: &Snapshot) -> Result<Vec<ChunkRef>> {
        self.manifest_chunks(&snapshot.tenant, &snapshot.relationships)
            .await
    }

    /// How the relationships changed since the snapshot's parent, when it records it.
    ///
    /// # Errors
    /// Missing or corrupt blobs.
    pub async fn relationship_changes(
        &self,
        snapshot: &Snapshot,
    ) -> Result<Option<RelationshipChanges>> {
        let Some(blob) = &snapshot.relationships.changes else {
            return Ok(None);
        };
        let bytes = self
            .blob_bytes_at(
                &snapshot.tenant,
                blob,
                snapshot.relationships.changes_at.as_ref(),
            )
            .await?;
        serde_json::from_slice::<crate::format::RelationshipChangesFile>(&bytes)
            .map(|file| Some(file.into()))
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
    pub(crate) async fn snapshot_blobs(&self, snapshot: &Snapshot) -> Result<Vec<BlobId>> {
        let mut out: Vec<BlobId> = snapshot.root_blobs().cloned().collect();
        let records = snapshot.kinds.values();
        for record in records.chain(std::iter::once(&snapshot.relationships)) {
            if let Some(index) = &record.index {
                let index = self.manifest_index(&snapshot.tenant, index, None).await?;
                out.extend(index.chunks.iter().chain(&index.by_name).map(|c| c.blob));
                out.extend(index.name_filters.map(|f| f.blob));
            }
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
}
