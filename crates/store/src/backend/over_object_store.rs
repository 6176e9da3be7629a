//! [`ObjectSnapshotStore`]: the store over `object_store` (local files, S3-compatible stores,
//! memory): packs, their indexes, snapshot files, leases with conditional writes, documents.

use super::keys::Sealing;
use super::*;

/// Tenants whose dictionaries a store keeps prepared for reading (a daemon serves many
/// tenants; a tenant's prepared dictionaries take about a megabyte).
pub(super) const CACHED_DICTIONARY_TENANTS: usize = 8;

/// The owner an unreadable lease is shown with.
pub(super) const UNREADABLE_LEASE: &str =
    "(an unreadable lease: forged or damaged; taken as expired)";

/// [`SnapshotStore`] over any `object_store` backend.
pub struct ObjectSnapshotStore {
    pub(super) store: Arc<dyn ObjectStore>,
    description: String,
    pub(super) decoders: std::sync::Mutex<HashMap<TenantId, Arc<DecoderDictionaries>>>,
    /// Unlocks an encrypted repository (and encrypts a new one).
    pub(super) secret: Option<crate::crypto::Secret>,
    /// Whether a new repository must be encrypted (see [`super::OpenOptions`]).
    pub(super) require_encryption: bool,
    /// Content ids of another repository's tenant, for an unencrypted scratch store whose
    /// snapshots are compared with that repository's (see [`ObjectSnapshotStore::scratch_like`]).
    pub(super) ids_like: Option<crate::crypto::ContentIds>,
    /// The repository, checked and unlocked once, before the first read or write.
    pub(super) unlocked: std::sync::OnceLock<Arc<super::keys::Unlocked>>,
    /// Tenants' keys, unwrapped when first needed.
    pub(super) tenant_keys: std::sync::Mutex<HashMap<TenantId, Arc<crate::crypto::TenantKeys>>>,
    /// The requests sent to `store` (which counts them on its way through).
    requests: Arc<super::counting::RequestCounters>,
    /// Small packs, read whole and kept (see the module).
    small_packs: super::small_packs::SmallPacks,
}

impl fmt::Debug for ObjectSnapshotStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectSnapshotStore({})", self.description)
    }
}

pub(super) fn tenant_path(tenant: &TenantId, rest: &str) -> Path {
    Path::from(format!("tenants/{tenant}/{rest}"))
}

pub(super) fn backend<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(object_store::Error) -> Error + 'a {
    move |source| match source {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => Error::Denied {
            op,
            path: path.to_string(),
            source,
        },
        source => Error::Backend {
            op,
            path: path.to_string(),
            source,
        },
    }
}

impl ObjectSnapshotStore {
    /// Wraps an object store; `description` names it in logs (never credentials).
    pub fn new(store: Arc<dyn ObjectStore>, description: impl Into<String>) -> Self {
        let requests = Arc::new(super::counting::RequestCounters::default());
        Self {
            store: Arc::new(super::counting::CountingStore::new(
                store,
                Arc::clone(&requests),
            )),
            requests,
            small_packs: super::small_packs::SmallPacks::default(),
            description: description.into(),
            decoders: std::sync::Mutex::new(HashMap::new()),
            secret: None,
            require_encryption: false,
            ids_like: None,
            unlocked: std::sync::OnceLock::new(),
            tenant_keys: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The requests sent to the object store since the store was opened, by operation.
    pub fn requests(&self) -> super::StoreRequests {
        self.requests.read()
    }

    /// A new in-memory store whose content ids are made as `ids` makes them (those of a tenant
    /// of another, maybe encrypted, repository), so that its snapshots compare with that
    /// tenant's by id: what a diff against the live tenant reads Graph into.
    pub fn scratch_like(ids: crate::crypto::ContentIds) -> Self {
        let mut store = Self::new(Arc::new(object_store::memory::InMemory::new()), "memory://");
        store.ids_like = Some(ids);
        store
    }

    /// The same store, unlocking an encrypted repository with `secret` (and encrypting a new
    /// one). Never shown: the store's `Debug` names the backend only.
    pub fn with_secret(mut self, secret: Option<crate::crypto::Secret>) -> Self {
        self.secret = secret;
        self
    }

    /// The tenants' folder names.
    pub(super) async fn tenant_names(&self) -> Result<Vec<TenantId>> {
        let prefix = Path::from("tenants");
        let listed = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(backend("list", &prefix))?;
        Ok(listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(|n| TenantId::new(n).ok()))
            .collect())
    }

    /// The tenant's dictionaries, prepared, such that every frame of `frames` can be read if
    /// the repository can read it: the cached set, or the set read anew when a frame names a
    /// dictionary the cache does not have (another writer added it).
    async fn decoders(
        &self,
        tenant: &TenantId,
        frames: &[&[u8]],
    ) -> Result<Arc<DecoderDictionaries>> {
        let cached = self
            .decoders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tenant)
            .cloned();
        if let Some(d) = &cached
            && frames.iter().all(|f| d.can_read(f))
        {
            return Ok(d.clone());
        }
        if cached.is_none() && frames.iter().all(|f| compress::dictionary_of(f).is_none()) {
            return Ok(Arc::new(DecoderDictionaries::default()));
        }
        let stored = self.dictionaries(tenant).await?;
        let prepared = Arc::new(DecoderDictionaries::new(
            stored.iter().map(|(_, bytes)| bytes.as_ref()),
        ));
        {
            let mut m = self
                .decoders
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if m.len() >= CACHED_DICTIONARY_TENANTS {
                m.clear();
            }
            m.insert(tenant.clone(), prepared.clone());
        }
        Ok(prepared)
    }

    /// Reads a snapshot record and checks it (integrity hash, tenant and id against its
    /// path: `tenants/{tenant}/snapshots/{id}.json`).
    async fn snapshot_file(&self, path: &Path) -> Result<Snapshot> {
        let stored = self.get(path).await?;
        let (tenant, _) = record_place(path)?;
        open_record(&self.sealing_of(&tenant, false).await?, path, &stored)
    }

    /// Writes pieces already sealed as one pack, then its (sealed) index.
    async fn write_sealed_pack(
        &self,
        sealing: &Sealing,
        tenant: &TenantId,
        pieces: Vec<(PieceBlobs, Bytes)>,
    ) -> Result<Vec<(BlobId, BlobLocation)>> {
        let mut pack = Vec::with_capacity(pieces.iter().map(|(_, b)| b.len()).sum());
        let mut lengths = Vec::with_capacity(pieces.len());
        for (blobs, bytes) in pieces {
            lengths.push((bytes.len() as u64, blobs));
            pack.extend_from_slice(&bytes);
        }
        let pack_id = hex::encode(Sha256::digest(&pack));
        let pack_path = tenant_path(tenant, &format!("packs/{pack_id}"));
        self.store
            .put(&pack_path, PutPayload::from(pack))
            .await
            .map_err(backend("write", &pack_path))?;
        // The index goes second: an indexed blob is always readable.
        let index = PackIndex::of_pack(pack_id.clone(), lengths);
        let index_path = tenant_path(tenant, &format!("index/{}", pack_index_name(&pack_id)));
        let bytes = sealing.seal("index", &pack_id, index.encode());
        self.store
            .put(&index_path, PutPayload::from(bytes))
            .await
            .map_err(backend("write", &index_path))?;
        Ok(index.locations())
    }

    /// Reads pieces of a pack, each at most once (the members of a group share theirs):
    /// `pieces` are byte ranges with the positions (in the caller's list) of the blobs each
    /// holds, answered with the piece's stored bytes.
    async fn read_pieces(
        &self,
        tenant: &TenantId,
        pack: &str,
        pieces: Vec<(std::ops::Range<u64>, Vec<usize>)>,
        first_blob: &BlobId,
    ) -> Result<Vec<(Vec<usize>, Bytes)>> {
        let path = tenant_path(tenant, &format!("packs/{pack}"));
        let ranges: Vec<std::ops::Range<u64>> = pieces.iter().map(|(r, _)| r.clone()).collect();
        let data = self
            .small_packs
            .ranges(self.store.as_ref(), &path, &ranges)
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => Error::MissingBlob {
                    tenant: tenant.to_string(),
                    blob: first_blob.to_string(),
                },
                e => backend("read", &path)(e),
            })?;
        Ok(pieces.into_iter().map(|(_, p)| p).zip(data).collect())
    }

    pub(super) async fn get(&self, path: &Path) -> Result<Bytes> {
        let r = self.store.get(path).await.map_err(backend("read", path))?;
        r.bytes().await.map_err(backend("read", path))
    }

    pub(super) async fn list(&self, prefix: &Path) -> Result<Vec<object_store::ObjectMeta>> {
        self.store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(backend("list", prefix))
    }
}

#[async_trait]
impl SnapshotStore for ObjectSnapshotStore {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    async fn tenants(&self) -> Result<Vec<TenantId>> {
        self.unlocked(false).await?;
        self.tenant_names().await
    }

    async fn blob_index(&self, tenant: &TenantId) -> Result<BlobIndex> {
        let mut index = BlobIndex::new();
        let mut sealing = None;
        for meta in self.list(&tenant_path(tenant, "index")).await? {
            let sealing = match &sealing {
                Some(s) => s,
                None => sealing.insert(self.sealing_of(tenant, false).await?),
            };
            let name = pack_of_index_name(meta.location.filename().unwrap_or_default());
            let stored = self.get(&meta.location).await?;
            let bytes = sealing.open("index", name, meta.location.as_ref(), &stored)?;
            let decoded = PackIndex::decode(&bytes, meta.location.as_ref())?;
            if decoded.pack != name {
                return Err(Error::Corrupt {
                    path: meta.location.to_string(),
                    reason: format!(
                        "the index of pack {} is stored as that of pack {name}",
                        decoded.pack
                    ),
                });
            }
            self.small_packs.note(
                tenant_path(tenant, &format!("packs/{}", decoded.pack)).as_ref(),
                decoded.extent(),
            );
            index.extend(decoded.locations());
        }
        Ok(index)
    }

    async fn write_pack(
        &self,
        tenant: &TenantId,
        pieces: Vec<PackPiece>,
    ) -> Result<Vec<(BlobId, BlobLocation)>> {
        let sealing = self.sealing_of(tenant, true).await?;
        let pieces: Vec<(PieceBlobs, Bytes)> = pieces
            .into_par_iter()
            .map(|piece| {
                let bytes = match sealing.is_sealed() {
                    true => Bytes::from(sealing.seal_piece(&piece)),
                    false => piece.bytes().clone(),
                };
                let blobs = match piece {
                    PackPiece::Alone(id, _) => PieceBlobs::Alone(id),
                    PackPiece::Group { members, .. } => PieceBlobs::Group(members),
                };
                (blobs, bytes)
            })
            .collect();
        self.write_sealed_pack(&sealing, tenant, pieces).await
    }

    async fn content_ids(&self, tenant: &TenantId) -> Result<crate::crypto::ContentIds> {
        Ok(self.sealing_of(tenant, true).await?.content_ids())
    }

    async fn repack(
        &self,
        tenant: &TenantId,
        pack: &str,
        keep: &[(BlobId, BlobLocation)],
    ) -> Result<()> {
        let sealing = self.sealing_of(tenant, true).await?;
        let path = tenant_path(tenant, &format!("packs/{pack}"));
        let data = self.get(&path).await?;
        // Pieces are sealed to their blob ids (or as groups), not their pack: moved as they
        // are, a group whole.
        let mut keep: Vec<&(BlobId, BlobLocation)> = keep.iter().collect();
        keep.sort_by_key(|(_, at)| (at.offset, at.group.map(|g| g.start)));
        let mut moved: Vec<(PieceBlobs, Bytes)> = Vec::new();
        let mut last: Option<(u64, u64)> = None;
        for (id, at) in keep {
            let corrupt = |reason: String| Error::Corrupt {
                path: path.to_string(),
                reason,
            };
            let piece = (at.offset, at.length);
            match (at.group, moved.last_mut()) {
                (Some(g), Some((PieceBlobs::Group(members), _))) if last == Some(piece) => {
                    let end: u64 = members.iter().map(|(_, l)| u64::from(*l)).sum();
                    if u64::from(g.start) != end {
                        return Err(corrupt(format!(
                            "blob {id} would not follow the group's other kept members (at {g:?}, they end at {end}): a group is moved whole"
                        )));
                    }
                    members.push((*id, g.length));
                    continue;
                }
                (Some(_), _) if last == Some(piece) => {
                    return Err(corrupt(format!(
                        "blob {id} shares its piece with another blob"
                    )));
                }
                _ => {}
            }
            let range = at
                .range_in(data.len())
                .ok_or_else(|| corrupt(format!("blob {id} lies outside the pack ({at:?})")))?;
            let blobs = match at.group {
                None => PieceBlobs::Alone(*id),
                Some(g) if g.start == 0 => PieceBlobs::Group(vec![(*id, g.length)]),
                Some(g) => {
                    return Err(corrupt(format!(
                        "blob {id} at {g:?} is kept without its group's first member: a group is moved whole"
                    )));
                }
            };
            last = Some(piece);
            moved.push((blobs, data.slice(range)));
        }
        self.write_sealed_pack(&sealing, tenant, moved).await?;
        Ok(())
    }

    async fn read_blob_bytes(
        &self,
        tenant: &TenantId,
        id: &BlobId,
        at: &BlobLocation,
    ) -> Result<Bytes> {
        let read = std::sync::OnceLock::new();
        self.visit_blobs(tenant, &[(*id, at.clone())], &|_, json| {
            let _ = read.set(Bytes::copy_from_slice(json));
            Ok(())
        })
        .await?;
        read.into_inner().ok_or_else(|| Error::MissingBlob {
            tenant: tenant.to_string(),
            blob: id.to_string(),
        })
    }

    async fn read_blobs_bytes(
        &self,
        tenant: &TenantId,
        blobs: &[(BlobId, BlobLocation)],
    ) -> Result<Vec<Bytes>> {
        map_blobs(self, tenant, blobs, &|_, json| {
            Ok(Bytes::copy_from_slice(json))
        })
        .await
    }

    async fn visit_blobs(
        &self,
        tenant: &TenantId,
        blobs: &[(BlobId, BlobLocation)],
        visit: &(dyn for<'b> Fn(usize, &'b [u8]) -> Result<()> + Sync),
    ) -> Result<()> {
        let pack_path = |i: usize| tenant_path(tenant, &format!("packs/{}", blobs[i].1.pack));
        let corrupt = |i: usize, reason| Error::Corrupt {
            path: format!("{} (blob {})", pack_path(i), blobs[i].0),
            reason,
        };
        // Each piece once (a group's members share theirs), grouped by pack: one ranged
        // request per pack (object_store coalesces nearby ranges), packs read concurrently.
        type Pieces = BTreeMap<(u64, u64, bool), Vec<usize>>;
        let mut by_pack: BTreeMap<std::sync::Arc<str>, Pieces> = BTreeMap::new();
        for (i, (id, at)) in blobs.iter().enumerate() {
            if at.range().is_none() {
                return Err(corrupt(
                    i,
                    format!("blob {id}: offset + length overflows ({at:?})"),
                ));
            }
            by_pack
                .entry(at.pack.clone())
                .or_default()
                .entry((at.offset, at.length, at.group.is_some()))
                .or_default()
                .push(i);
        }
        // First every pack's pieces (I/O, many packs at once), then every piece opened,
        // decoded and its blobs visited on every core (CPU, one parallel pass over them all).
        let reads = futures::stream::iter(by_pack)
            .map(|(pack, pieces)| async move {
                let first = pieces.values().next().and_then(|p| p.first()).copied();
                let pieces = pieces
                    .into_iter()
                    .map(|((offset, length, _), positions)| {
                        (offset..offset.saturating_add(length), positions)
                    })
                    .collect();
                let first_blob = &blobs[first.unwrap_or(0)].0;
                self.read_pieces(tenant, &pack, pieces, first_blob).await
            })
            .buffer_unordered(16);
        let mut pieces: Vec<(Vec<usize>, Bytes)> = reads
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        let sealing = self.sealing_of(tenant, false).await?;
        if sealing.is_sealed() {
            // Opened on every core before the dictionaries are chosen (a sealed frame does
            // not show which one it needs).
            pieces = pieces
                .into_par_iter()
                .map(|(positions, piece)| {
                    let i = positions[0];
                    let (id, at) = &blobs[i];
                    let plain = sealing.open_piece(id, at.group.is_some(), &piece);
                    Ok((positions, Bytes::from(plain.map_err(|r| corrupt(i, r))?)))
                })
                .collect::<Result<_>>()?;
        }
        let ids = sealing.content_ids();
        let all: Vec<&[u8]> = pieces.iter().map(|(_, b)| b.as_ref()).collect();
        let decoders = self.decoders(tenant, &all).await?;
        pieces.par_iter().try_for_each(|(positions, piece)| {
            let grouped: Vec<(usize, &BlobId, InGroup)> = positions
                .iter()
                .filter_map(|i| Some((*i, &blobs[*i].0, blobs[*i].1.group?)))
                .collect();
            if grouped.is_empty() {
                // A blob alone (listed more than once, maybe): decoded for each.
                return positions.iter().try_for_each(|i| {
                    with_decoded_blob(piece, &blobs[*i].0, &decoders, &ids, |json| visit(*i, json))
                        .map_err(|reason| corrupt(*i, reason))?
                });
            }
            with_decoded_group(piece, &grouped, &decoders, &ids, visit)
                .map_err(|(i, reason)| corrupt(i, reason))?
        })
    }

    async fn packs(&self, tenant: &TenantId) -> Result<Vec<PackInfo>> {
        self.unlocked(false).await?;
        let indexed: std::collections::HashSet<String> = self
            .list(&tenant_path(tenant, "index"))
            .await?
            .iter()
            .filter_map(|m| {
                m.location
                    .filename()
                    .map(|f| pack_of_index_name(f).to_owned())
            })
            .collect();
        Ok(self
            .list(&tenant_path(tenant, "packs"))
            .await?
            .into_iter()
            .filter_map(|m| {
                let id = m.location.filename()?.to_owned();
                Some(PackInfo {
                    indexed: indexed.contains(&id),
                    id,
                    size: m.size,
                })
            })
            .collect())
    }

    async fn delete_pack(&self, tenant: &TenantId, pack: &str) -> Result<()> {
        // The index goes first: a pack is never indexed without its data.
        self.small_packs
            .forget(tenant_path(tenant, &format!("packs/{pack}")).as_ref());
        // (Version 1 indexes were `{pack}.json`: both names go.)
        for path in [
            tenant_path(tenant, &format!("index/{}", pack_index_name(pack))),
            tenant_path(tenant, &format!("index/{pack}.json")),
            tenant_path(tenant, &format!("packs/{pack}")),
        ] {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(backend("delete", &path)(e)),
            }
        }
        Ok(())
    }

    async fn commit_snapshot(&self, snapshot: &Snapshot) -> Result<()> {
        let sealing = self.sealing_of(&snapshot.tenant, true).await?;
        let path = tenant_path(&snapshot.tenant, &format!("snapshots/{}.json", snapshot.id));
        let mut record = snapshot.clone();
        record.integrity = Some(record.integrity_digest());
        // Compact, as hashed: a read checks the hash on the bytes as stored (`jq` shows a
        // record indented).
        let bytes = serde_json::to_vec(&SnapshotFile::V6(record)).unwrap_or_default();
        let bytes = sealing.seal("snapshot", snapshot.id.as_str(), bytes);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => {
                self.pack_after_commit(snapshot).await;
                Ok(())
            }
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Err(Error::SnapshotExists {
                tenant: snapshot.tenant.to_string(),
                snapshot: snapshot.id.to_string(),
            }),
            Err(e) => Err(backend("commit", &path)(e)),
        }
    }

    async fn snapshots(&self, tenant: &TenantId) -> Result<Vec<Snapshot>> {
        self.read_records(tenant).await
    }

    async fn tidy_record_packs(&self, tenant: &TenantId) -> Result<RecordPacksTidied> {
        self.tidy_packs_of_records(tenant).await
    }

    async fn record_packs_problems(&self, tenant: &TenantId) -> Result<Vec<String>> {
        self.problems_of_record_packs(tenant).await
    }

    async fn snapshot_ids(&self, tenant: &TenantId) -> Result<Vec<SnapshotId>> {
        self.unlocked(false).await?;
        let metas = self.list(&tenant_path(tenant, "snapshots")).await?;
        let mut ids: Vec<SnapshotId> = metas
            .iter()
            .filter_map(|m| m.location.filename()?.strip_suffix(".json"))
            .filter_map(|name| SnapshotId::new(name).ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    async fn read_snapshot(&self, tenant: &TenantId, id: &SnapshotId) -> Result<Snapshot> {
        self.unlocked(false).await?;
        let path = tenant_path(tenant, &format!("snapshots/{id}.json"));
        self.snapshot_file(&path).await.map_err(|e| match e {
            Error::Backend {
                source: object_store::Error::NotFound { .. },
                ..
            } => Error::NoSnapshot {
                tenant: tenant.to_string(),
                snapshot: id.to_string(),
            },
            e => e,
        })
    }

    async fn delete_snapshot(&self, tenant: &TenantId, id: &SnapshotId) -> Result<()> {
        let path = tenant_path(tenant, &format!("snapshots/{id}.json"));
        self.store.delete(&path).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => Error::NoSnapshot {
                tenant: tenant.to_string(),
                snapshot: id.to_string(),
            },
            e => backend("delete", &path)(e),
        })
    }

    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lease> {
        self.take_lease(tenant, owner, ttl, now).await
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration, now: DateTime<Utc>) -> Result<Lease> {
        self.extend_lease(lease, ttl, now).await
    }

    async fn put_document(&self, tenant: &TenantId, name: &str, bytes: Bytes) -> Result<()> {
        let sealing = self.sealing_of(tenant, true).await?;
        let path = tenant_path(tenant, &format!("documents/{name}"));
        let bytes = sealing.seal("document", name, bytes.to_vec());
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(backend("write", &path))?;
        Ok(())
    }

    async fn get_document(&self, tenant: &TenantId, name: &str) -> Result<Option<Bytes>> {
        let path = tenant_path(tenant, &format!("documents/{name}"));
        match self.store.get(&path).await {
            Ok(r) => {
                let stored = r.bytes().await.map_err(backend("read", &path))?;
                let sealing = self.sealing_of(tenant, false).await?;
                Ok(Some(sealing.open(
                    "document",
                    name,
                    path.as_ref(),
                    &stored,
                )?))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend("read", &path)(e)),
        }
    }

    async fn list_documents(&self, tenant: &TenantId, prefix: &str) -> Result<Vec<String>> {
        self.unlocked(false).await?;
        let root = tenant_path(tenant, "documents");
        let path = tenant_path(tenant, &format!("documents/{prefix}"));
        let mut names: Vec<String> = self
            .list(&path)
            .await?
            .into_iter()
            .filter_map(|m| {
                m.location.prefix_match(&root).map(|parts| {
                    parts
                        .map(|p| p.as_ref().to_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                })
            })
            .collect();
        names.sort();
        Ok(names)
    }

    async fn dictionaries(&self, tenant: &TenantId) -> Result<Vec<(String, Bytes)>> {
        let metas = self.list(&tenant_path(tenant, "dictionaries")).await?;
        if metas.is_empty() {
            return Ok(Vec::new());
        }
        let sealing = &self.sealing_of(tenant, false).await?;
        futures::stream::iter(metas)
            .map(|meta| async move {
                // `{kind}-{id:08x}.zdict`
                let name = meta.location.filename().unwrap_or_default();
                let kind = name.rsplit_once('-').map_or(name, |(k, _)| k).to_owned();
                let stored = self.get(&meta.location).await?;
                let bytes = sealing.open("dictionary", name, meta.location.as_ref(), &stored)?;
                let bytes =
                    compress::dictionary_from_storage(&bytes).map_err(|e| Error::Corrupt {
                        path: meta.location.to_string(),
                        reason: format!("not a readable dictionary: {e}"),
                    })?;
                Ok::<_, Error>((kind, Bytes::from(bytes)))
            })
            .buffered(16)
            .try_collect()
            .await
    }

    async fn put_dictionary(&self, tenant: &TenantId, kind: &str, dictionary: Bytes) -> Result<()> {
        let sealing = self.sealing_of(tenant, true).await?;
        let id = compress::dictionary_id(&dictionary).ok_or_else(|| Error::Corrupt {
            path: format!("a new {kind} dictionary"),
            reason: "not a zstd dictionary".into(),
        })?;
        let name = format!("{kind}-{id:08x}.zdict");
        let path = tenant_path(tenant, &format!("dictionaries/{name}"));
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let sealed = sealing.seal(
            "dictionary",
            &name,
            compress::stored_dictionary(&dictionary),
        );
        match self
            .store
            .put_opts(&path, PutPayload::from(sealed), opts)
            .await
        {
            Ok(_) => Ok(()),
            // Written before: the same id is the same dictionary, almost surely; compare.
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => match compress::dictionary_from_storage(&sealing.open(
                "dictionary",
                &name,
                path.as_ref(),
                &self.get(&path).await?,
            )?)
            .is_ok_and(|found| found == dictionary)
            {
                true => Ok(()),
                false => Err(Error::Corrupt {
                    path: path.to_string(),
                    reason: "another dictionary has this id".into(),
                }),
            },
            Err(e) => Err(backend("write", &path)(e)),
        }
    }

    async fn release_lease(&self, lease: Lease) -> Result<()> {
        self.give_back_lease(lease).await
    }

    async fn lease(&self, tenant: &TenantId) -> Result<Option<LeaseRecord>> {
        self.lease_record(tenant).await
    }

    async fn break_lease(&self, tenant: &TenantId) -> Result<bool> {
        self.remove_lease(tenant).await
    }
}

/// The tenant and snapshot id a record's place names: `tenants/{tenant}/snapshots/{id}.json`.
pub(super) fn record_place(path: &Path) -> Result<(TenantId, String)> {
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_string(),
        reason,
    };
    let parts: Vec<_> = path.parts().collect();
    match parts.as_slice() {
        [.., tenant, folder, file] if folder.as_ref() == "snapshots" => Ok((
            TenantId::new(tenant.as_ref()).map_err(|e| corrupt(e.to_string()))?,
            file.as_ref()
                .strip_suffix(".json")
                .unwrap_or_default()
                .to_owned(),
        )),
        _ => Err(corrupt("not where snapshot records are".into())),
    }
}

/// A stored snapshot record opened (decrypted), parsed and checked: its integrity hash, and
/// its tenant and id against its place.
pub(super) fn open_record(sealing: &Sealing, path: &Path, stored: &[u8]) -> Result<Snapshot> {
    let (tenant, id) = record_place(path)?;
    let bytes = sealing.open("snapshot", &id, path.as_ref(), stored)?;
    SnapshotFile::decode(&bytes, path.as_ref())?
        .checked(tenant.as_str(), &id, &bytes)
        .map_err(|problem| Error::Corrupt {
            path: path.to_string(),
            reason: format!("snapshot record: {problem}"),
        })
}
