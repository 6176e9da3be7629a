//! The storage seam: [`SnapshotStore`], and its implementation over `object_store` for local
//! files, S3-compatible stores and memory.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use dirvault_model::{SnapshotId, TenantId};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::compress::{self, DecoderDictionaries, EncoderDictionary};
use crate::error::{Error, Result};
use crate::format::{BlobId, BlobLocation, LeaseRecord, PackIndexFile, Snapshot, SnapshotFile};

/// Which blobs a tenant's repository holds, and where.
pub type BlobIndex = HashMap<BlobId, BlobLocation>;

/// A held lease.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The tenant.
    pub tenant: TenantId,
    /// The holder.
    pub owner: String,
    /// When it expires.
    pub expires: DateTime<Utc>,
    version: Option<UpdateVersion>,
}

/// A pack as listed in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackInfo {
    /// Pack id.
    pub id: String,
    /// Size in bytes.
    pub size: u64,
    /// Whether its index file exists (a pack without one is the leftover of a crash).
    pub indexed: bool,
}

/// Where snapshots live.
///
/// # Contract
/// Every implementation MUST:
/// - make [`SnapshotStore::write_pack`] durable before returning, and write the pack before
///   its index, so that an indexed blob is always readable;
/// - make [`SnapshotStore::commit_snapshot`] atomic and create-only: a snapshot is either
///   wholly visible or absent, and an existing snapshot is never overwritten
///   ([`Error::SnapshotExists`]);
/// - return [`Error::Corrupt`] from [`SnapshotStore::read_blob`] when the bytes do not decode
///   to JSON whose [`BlobId`] is the one asked for;
/// - grant a lease to one owner at a time ([`Error::Locked`]), let an expired lease be taken
///   over, and refuse to renew a lease that was taken over ([`Error::LeaseLost`]).
#[async_trait]
pub trait SnapshotStore: Send + Sync + fmt::Debug {
    /// The tenants with data in the repository.
    async fn tenants(&self) -> Result<Vec<TenantId>>;
    /// The blob index of a tenant (every indexed pack).
    async fn blob_index(&self, tenant: &TenantId) -> Result<BlobIndex>;
    /// Writes blobs (already compressed) as one pack; returns their locations.
    async fn write_pack(
        &self,
        tenant: &TenantId,
        blobs: Vec<(BlobId, Bytes)>,
    ) -> Result<Vec<(BlobId, BlobLocation)>>;
    /// Reads, decompresses and verifies one blob: its canonical JSON bytes.
    async fn read_blob_bytes(
        &self,
        tenant: &TenantId,
        id: &BlobId,
        at: &BlobLocation,
    ) -> Result<Bytes>;
    /// Reads many blobs (canonical JSON bytes), in order; a backend may coalesce the reads of
    /// blobs that sit side by side in a pack.
    async fn read_blobs_bytes(
        &self,
        tenant: &TenantId,
        blobs: &[(BlobId, BlobLocation)],
    ) -> Result<Vec<Bytes>> {
        let mut out = Vec::with_capacity(blobs.len());
        for (id, at) in blobs {
            out.push(self.read_blob_bytes(tenant, id, at).await?);
        }
        Ok(out)
    }
    /// Reads many blobs and hands each one's canonical JSON bytes, with its position in
    /// `blobs`, to `visit`: on the thread that decoded it, in no particular order, so that a
    /// large read (a manifest of 100k entries) never holds every decoded blob at once. The
    /// first error (a read, a corrupt blob, or `visit`'s own) ends it.
    async fn visit_blobs(
        &self,
        tenant: &TenantId,
        blobs: &[(BlobId, BlobLocation)],
        visit: &(dyn for<'b> Fn(usize, &'b [u8]) -> Result<()> + Sync),
    ) -> Result<()> {
        for (i, (id, at)) in blobs.iter().enumerate() {
            visit(i, &self.read_blob_bytes(tenant, id, at).await?)?;
        }
        Ok(())
    }
    /// Reads, decompresses and verifies one blob, parsed.
    async fn read_blob(
        &self,
        tenant: &TenantId,
        id: &BlobId,
        at: &BlobLocation,
    ) -> Result<serde_json::Value> {
        let bytes = self.read_blob_bytes(tenant, id, at).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: format!("blob {id}"),
            reason: e.to_string(),
        })
    }
    /// Reads a whole pack (verify, repack).
    async fn read_pack(&self, tenant: &TenantId, pack: &str) -> Result<Bytes>;
    /// The packs of a tenant.
    async fn packs(&self, tenant: &TenantId) -> Result<Vec<PackInfo>>;
    /// Deletes a pack and its index.
    async fn delete_pack(&self, tenant: &TenantId, pack: &str) -> Result<()>;
    /// Commits a snapshot (create-only).
    async fn commit_snapshot(&self, snapshot: &Snapshot) -> Result<()>;
    /// Every snapshot of a tenant, oldest first.
    async fn snapshots(&self, tenant: &TenantId) -> Result<Vec<Snapshot>>;
    /// The ids of a tenant's snapshots, sorted (ids sort by time): a listing, no reads.
    async fn snapshot_ids(&self, tenant: &TenantId) -> Result<Vec<SnapshotId>>;
    /// One snapshot record; [`Error::NoSnapshot`] when there is none of that id.
    async fn read_snapshot(&self, tenant: &TenantId, id: &SnapshotId) -> Result<Snapshot>;
    /// Deletes a snapshot record (its data stays until `prune`).
    async fn delete_snapshot(&self, tenant: &TenantId, id: &SnapshotId) -> Result<()>;
    /// Takes the tenant's lease for `ttl`.
    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        owner: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lease>;
    /// Extends a held lease.
    async fn renew_lease(&self, lease: &Lease, ttl: Duration, now: DateTime<Utc>) -> Result<Lease>;
    /// Gives a lease up.
    async fn release_lease(&self, lease: Lease) -> Result<()>;
    /// The tenant's lease record as stored (held or expired), `None` when there is none.
    async fn lease(&self, tenant: &TenantId) -> Result<Option<LeaseRecord>>;
    /// Removes the tenant's lease, whoever holds it (`dirvault lease break`): `false` when
    /// there was none. A holder still running loses it at its next renewal and stops without
    /// committing.
    async fn break_lease(&self, tenant: &TenantId) -> Result<bool>;
    /// Writes a small document of the tenant (a restore plan, a journal segment), replacing
    /// any document of that name. `name` is a relative path such as `restore/{plan}/plan.json`.
    async fn put_document(&self, tenant: &TenantId, name: &str, bytes: Bytes) -> Result<()>;
    /// Reads a document; `Ok(None)` when there is none of that name.
    async fn get_document(&self, tenant: &TenantId, name: &str) -> Result<Option<Bytes>>;
    /// The names of the tenant's documents under `prefix` (a folder such as `restore/{plan}`),
    /// sorted.
    async fn list_documents(&self, tenant: &TenantId, prefix: &str) -> Result<Vec<String>>;
    /// The tenant's compression dictionaries: `(kind, dictionary)` (a kind may have several:
    /// frames name theirs by id).
    async fn dictionaries(&self, tenant: &TenantId) -> Result<Vec<(String, Bytes)>>;
    /// Stores a kind's compression dictionary (create-only; named by its zstd id).
    async fn put_dictionary(&self, tenant: &TenantId, kind: &str, dictionary: Bytes) -> Result<()>;
}

/// Tenants whose dictionaries a store keeps prepared for reading (a daemon serves many
/// tenants; a tenant's prepared dictionaries take about a megabyte).
const CACHED_DICTIONARY_TENANTS: usize = 8;

/// [`SnapshotStore`] over any `object_store` backend.
pub struct ObjectSnapshotStore {
    store: Arc<dyn ObjectStore>,
    description: String,
    decoders: std::sync::Mutex<HashMap<TenantId, Arc<DecoderDictionaries>>>,
}

impl fmt::Debug for ObjectSnapshotStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectSnapshotStore({})", self.description)
    }
}

fn tenant_path(tenant: &TenantId, rest: &str) -> Path {
    Path::from(format!("tenants/{tenant}/{rest}"))
}

fn backend<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(object_store::Error) -> Error + 'a {
    move |source| Error::Backend {
        op,
        path: path.to_string(),
        source,
    }
}

impl ObjectSnapshotStore {
    /// Wraps an object store; `description` names it in logs (never credentials).
    pub fn new(store: Arc<dyn ObjectStore>, description: impl Into<String>) -> Self {
        Self {
            store,
            description: description.into(),
            decoders: std::sync::Mutex::new(HashMap::new()),
        }
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
        let bytes = self.get(path).await?;
        let corrupt = |reason: String| Error::Corrupt {
            path: path.to_string(),
            reason,
        };
        let file: SnapshotFile = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(format!("unreadable snapshot file: {e}")))?;
        let mut snapshot = file.into_snapshot();
        let parts: Vec<_> = path.parts().collect();
        let (tenant, id) = match parts.as_slice() {
            [.., tenant, folder, file] if folder.as_ref() == "snapshots" => (
                tenant.as_ref().to_owned(),
                file.as_ref()
                    .strip_suffix(".json")
                    .unwrap_or_default()
                    .to_owned(),
            ),
            _ => return Err(corrupt("not where snapshot records are".into())),
        };
        if let Some(problem) = snapshot.integrity_problem(&tenant, &id) {
            return Err(corrupt(format!("snapshot record: {problem}")));
        }
        snapshot.integrity = None;
        Ok(snapshot)
    }

    async fn get(&self, path: &Path) -> Result<Bytes> {
        let r = self.store.get(path).await.map_err(backend("read", path))?;
        r.bytes().await.map_err(backend("read", path))
    }

    async fn list(&self, prefix: &Path) -> Result<Vec<object_store::ObjectMeta>> {
        self.store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(backend("list", prefix))
    }

    async fn read_lease(&self, path: &Path) -> Result<Option<(LeaseRecord, UpdateVersion)>> {
        match self.store.get(path).await {
            Ok(r) => {
                let version = UpdateVersion {
                    e_tag: r.meta.e_tag.clone(),
                    version: r.meta.version.clone(),
                };
                let bytes = r.bytes().await.map_err(backend("read", path))?;
                let record = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                    path: path.to_string(),
                    reason: e.to_string(),
                })?;
                Ok(Some((record, version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend("read", path)(e)),
        }
    }

    /// Writes a lease record, conditionally.
    async fn put_lease(
        &self,
        path: &Path,
        record: &LeaseRecord,
        mode: PutMode,
    ) -> Result<Option<UpdateVersion>, object_store::Error> {
        let bytes = serde_json::to_vec(record).unwrap_or_default();
        let result = self
            .store
            .put_opts(
                path,
                PutPayload::from(bytes),
                PutOptions {
                    mode,
                    ..PutOptions::default()
                },
            )
            .await?;
        Ok(Some(UpdateVersion {
            e_tag: result.e_tag,
            version: result.version,
        }))
    }
}

#[async_trait]
impl SnapshotStore for ObjectSnapshotStore {
    async fn tenants(&self) -> Result<Vec<TenantId>> {
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

    async fn blob_index(&self, tenant: &TenantId) -> Result<BlobIndex> {
        let mut index = BlobIndex::new();
        for meta in self.list(&tenant_path(tenant, "index")).await? {
            let bytes = self.get(&meta.location).await?;
            let PackIndexFile::V1 { pack, blobs } =
                serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                    path: meta.location.to_string(),
                    reason: format!("unreadable pack index: {e}"),
                })?;
            let pack: std::sync::Arc<str> = pack.into();
            for (id, offset, length) in blobs {
                index.insert(
                    id,
                    BlobLocation {
                        pack: pack.clone(),
                        offset,
                        length,
                    },
                );
            }
        }
        Ok(index)
    }

    async fn write_pack(
        &self,
        tenant: &TenantId,
        blobs: Vec<(BlobId, Bytes)>,
    ) -> Result<Vec<(BlobId, BlobLocation)>> {
        let mut pack = Vec::with_capacity(blobs.iter().map(|(_, b)| b.len()).sum());
        let mut entries = Vec::with_capacity(blobs.len());
        for (id, bytes) in blobs {
            entries.push((id, pack.len() as u64, bytes.len() as u64));
            pack.extend_from_slice(&bytes);
        }
        let pack_id = hex::encode(&Sha256::digest(&pack));
        let pack_path = tenant_path(tenant, &format!("packs/{pack_id}"));
        self.store
            .put(&pack_path, PutPayload::from(pack))
            .await
            .map_err(backend("write", &pack_path))?;
        // The index goes second: an indexed blob is always readable.
        let index = PackIndexFile::V1 {
            pack: pack_id.clone(),
            blobs: entries.clone(),
        };
        let index_path = tenant_path(tenant, &format!("index/{pack_id}.json"));
        let bytes = serde_json::to_vec(&index).unwrap_or_default();
        self.store
            .put(&index_path, PutPayload::from(bytes))
            .await
            .map_err(backend("write", &index_path))?;
        let pack_id: std::sync::Arc<str> = pack_id.into();
        Ok(entries
            .into_iter()
            .map(|(id, offset, length)| {
                (
                    id,
                    BlobLocation {
                        pack: pack_id.clone(),
                        offset,
                        length,
                    },
                )
            })
            .collect())
    }

    async fn read_blob_bytes(
        &self,
        tenant: &TenantId,
        id: &BlobId,
        at: &BlobLocation,
    ) -> Result<Bytes> {
        let path = tenant_path(tenant, &format!("packs/{}", at.pack));
        let range = at.range().ok_or_else(|| Error::Corrupt {
            path: path.to_string(),
            reason: format!("blob {id}: offset + length overflows ({at:?})"),
        })?;
        let bytes = self
            .store
            .get_range(&path, range)
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => Error::MissingBlob {
                    tenant: tenant.to_string(),
                    blob: id.to_string(),
                },
                e => backend("read", &path)(e),
            })?;
        let decoders = self.decoders(tenant, &[&bytes]).await?;
        decode_blob(&bytes, id, &decoders).map_err(|reason| Error::Corrupt {
            path: format!("{path} (blob {id})"),
            reason,
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
        // One ranged request per pack (object_store coalesces nearby ranges), packs read
        // concurrently.
        let mut by_pack: BTreeMap<std::sync::Arc<str>, Vec<usize>> = BTreeMap::new();
        for (i, (_, at)) in blobs.iter().enumerate() {
            by_pack.entry(at.pack.clone()).or_default().push(i);
        }
        // First every pack's ranges (I/O, many packs at once), then every blob decoded and
        // visited on every core (CPU, one parallel pass over them all).
        let reads = futures::stream::iter(by_pack)
            .map(|(pack, positions)| async move {
                let path = tenant_path(tenant, &format!("packs/{pack}"));
                let ranges: Vec<std::ops::Range<u64>> = positions
                    .iter()
                    .map(|i| {
                        let at = &blobs[*i].1;
                        at.range().ok_or_else(|| Error::Corrupt {
                            path: path.to_string(),
                            reason: format!(
                                "blob {}: offset + length overflows ({at:?})",
                                blobs[*i].0
                            ),
                        })
                    })
                    .collect::<Result<_>>()?;
                let data = self
                    .store
                    .get_ranges(&path, &ranges)
                    .await
                    .map_err(|e| match e {
                        object_store::Error::NotFound { .. } => Error::MissingBlob {
                            tenant: tenant.to_string(),
                            blob: blobs[positions[0]].0.to_string(),
                        },
                        e => backend("read", &path)(e),
                    })?;
                Ok::<_, Error>(positions.into_iter().zip(data).collect::<Vec<_>>())
            })
            .buffer_unordered(16);
        let frames: Vec<(usize, Bytes)> = reads
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
        let all: Vec<&[u8]> = frames.iter().map(|(_, b)| b.as_ref()).collect();
        let decoders = self.decoders(tenant, &all).await?;
        frames.par_iter().try_for_each(|(i, frame)| {
            let (id, at) = &blobs[*i];
            with_decoded_blob(frame, id, &decoders, |json| visit(*i, json)).map_err(|reason| {
                Error::Corrupt {
                    path: format!(
                        "{} (blob {id})",
                        tenant_path(tenant, &format!("packs/{}", at.pack))
                    ),
                    reason,
                }
            })?
        })
    }

    async fn read_pack(&self, tenant: &TenantId, pack: &str) -> Result<Bytes> {
        self.get(&tenant_path(tenant, &format!("packs/{pack}")))
            .await
    }

    async fn packs(&self, tenant: &TenantId) -> Result<Vec<PackInfo>> {
        let indexed: std::collections::HashSet<String> = self
            .list(&tenant_path(tenant, "index"))
            .await?
            .iter()
            .filter_map(|m| {
                m.location
                    .filename()
                    .map(|f| f.trim_end_matches(".json").to_owned())
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
        for path in [
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
        let path = tenant_path(&snapshot.tenant, &format!("snapshots/{}.json", snapshot.id));
        let mut record = snapshot.clone();
        record.integrity = Some(record.integrity_digest());
        let bytes = serde_json::to_vec_pretty(&SnapshotFile::V5(record)).unwrap_or_default();
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(()),
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
        // Snapshot files are small: read many at once (S3 round trips dominate).
        let metas = self.list(&tenant_path(tenant, "snapshots")).await?;
        let mut out: Vec<Snapshot> = futures::stream::iter(metas)
            .map(|meta| async move { self.snapshot_file(&meta.location).await })
            .buffered(16)
            .try_collect()
            .await?;
        out.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn snapshot_ids(&self, tenant: &TenantId) -> Result<Vec<SnapshotId>> {
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
        let path = tenant_path(tenant, "lease.json");
        let record = LeaseRecord {
            owner: owner.to_owned(),
            expires: now + ttl,
            holder: Some(crate::holder::LeaseHolder::current()),
        };
        let granted = |version| Lease {
            tenant: tenant.clone(),
            owner: owner.to_owned(),
            expires: now + ttl,
            version,
        };
        match self.put_lease(&path, &record, PutMode::Create).await {
            Ok(version) => return Ok(granted(version)),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {}
            Err(e) => return Err(backend("lease", &path)(e)),
        }
        let Some((current, version)) = self.read_lease(&path).await? else {
            // Released between our two calls: try once more.
            return match self.put_lease(&path, &record, PutMode::Create).await {
                Ok(v) => Ok(granted(v)),
                Err(e) => Err(backend("lease", &path)(e)),
            };
        };
        let holder_dead = current
            .holder
            .as_ref()
            .is_some_and(|h| h.is_alive() == Some(false));
        if holder_dead {
            tracing::warn!(%tenant, owner = %current.owner, "the lease's holder process is gone: lease broken");
        }
        if current.expires > now && current.owner != owner && !holder_dead {
            return Err(Error::Locked {
                tenant: tenant.to_string(),
                owner: current.owner,
                expires: current.expires.to_rfc3339(),
            });
        }
        // Expired (or ours): take it over, conditionally on the version we read.
        match self
            .put_lease(&path, &record, PutMode::Update(version))
            .await
        {
            Ok(v) => Ok(granted(v)),
            Err(object_store::Error::NotImplemented) => {
                // Local files have no conditional update: delete, then create-only.
                let _ = self.store.delete(&path).await;
                self.put_lease(&path, &record, PutMode::Create)
                    .await
                    .map(granted)
                    .map_err(|_| Error::Locked {
                        tenant: tenant.to_string(),
                        owner: "another writer".into(),
                        expires: "unknown".into(),
                    })
            }
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Err(Error::Locked {
                tenant: tenant.to_string(),
                owner: "another writer (took the expired lease first)".into(),
                expires: "unknown".into(),
            }),
            Err(e) => Err(backend("lease", &path)(e)),
        }
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration, now: DateTime<Utc>) -> Result<Lease> {
        let path = tenant_path(&lease.tenant, "lease.json");
        let record = LeaseRecord {
            owner: lease.owner.clone(),
            expires: now + ttl,
            holder: Some(crate::holder::LeaseHolder::current()),
        };
        let lost = || Error::LeaseLost {
            tenant: lease.tenant.to_string(),
        };
        let mode = match &lease.version {
            Some(v) => PutMode::Update(v.clone()),
            None => PutMode::Overwrite,
        };
        let version = match self.put_lease(&path, &record, mode).await {
            Ok(v) => v,
            Err(object_store::Error::NotImplemented) => {
                // No conditional update (local files): check the owner, then overwrite.
                match self.read_lease(&path).await? {
                    Some((current, _)) if current.owner == lease.owner => self
                        .put_lease(&path, &record, PutMode::Overwrite)
                        .await
                        .map_err(|e| backend("lease", &path)(e))?,
                    _ => return Err(lost()),
                }
            }
            Err(
                object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
            ) => return Err(lost()),
            Err(e) => return Err(backend("lease", &path)(e)),
        };
        Ok(Lease {
            tenant: lease.tenant.clone(),
            owner: lease.owner.clone(),
            expires: now + ttl,
            version,
        })
    }

    async fn put_document(&self, tenant: &TenantId, name: &str, bytes: Bytes) -> Result<()> {
        let path = tenant_path(tenant, &format!("documents/{name}"));
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(backend("write", &path))?;
        Ok(())
    }

    async fn get_document(&self, tenant: &TenantId, name: &str) -> Result<Option<Bytes>> {
        let path = tenant_path(tenant, &format!("documents/{name}"));
        match self.store.get(&path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(backend("read", &path))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend("read", &path)(e)),
        }
    }

    async fn list_documents(&self, tenant: &TenantId, prefix: &str) -> Result<Vec<String>> {
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
        futures::stream::iter(metas)
            .map(|meta| async move {
                // `{kind}-{id:08x}.zdict`
                let name = meta.location.filename().unwrap_or_default();
                let kind = name.rsplit_once('-').map_or(name, |(k, _)| k).to_owned();
                Ok::<_, Error>((kind, self.get(&meta.location).await?))
            })
            .buffered(16)
            .try_collect()
            .await
    }

    async fn put_dictionary(&self, tenant: &TenantId, kind: &str, dictionary: Bytes) -> Result<()> {
        let id = compress::dictionary_id(&dictionary).ok_or_else(|| Error::Corrupt {
            path: format!("a new {kind} dictionary"),
            reason: "not a zstd dictionary".into(),
        })?;
        let path = tenant_path(tenant, &format!("dictionaries/{kind}-{id:08x}.zdict"));
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from(dictionary.clone()), opts)
            .await
        {
            Ok(_) => Ok(()),
            // Written before: the same id is the same dictionary, almost surely; compare.
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => match self.get(&path).await? == dictionary {
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
        let path = tenant_path(&lease.tenant, "lease.json");
        match self.read_lease(&path).await? {
            Some((current, _)) if current.owner == lease.owner => self
                .store
                .delete(&path)
                .await
                .map_err(backend("delete", &path)),
            _ => Ok(()),
        }
    }

    async fn lease(&self, tenant: &TenantId) -> Result<Option<LeaseRecord>> {
        let path = tenant_path(tenant, "lease.json");
        Ok(self.read_lease(&path).await?.map(|(record, _)| record))
    }

    async fn break_lease(&self, tenant: &TenantId) -> Result<bool> {
        let path = tenant_path(tenant, "lease.json");
        match self.store.delete(&path).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(backend("delete", &path)(e)),
        }
    }
}

/// Compresses a blob's canonical JSON for a pack, with its kind's dictionary if any.
pub(crate) fn encode_blob(canonical: Vec<u8>, dictionary: Option<&EncoderDictionary>) -> Bytes {
    match compress::compress(&canonical, dictionary) {
        Ok(frame) => Bytes::from(frame),
        // zstd cannot fail on a buffer sized by its bound; if it did, store the blob plain
        // rather than lose it (a reader would report it as unreadable, never as wrong).
        Err(_) => Bytes::from(canonical),
    }
}

/// Reads blobs through [`SnapshotStore::visit_blobs`] and keeps what `f` makes of each one's
/// canonical JSON, in the order of `blobs`.
pub(crate) async fn map_blobs<T: Send + Sync>(
    store: &(impl SnapshotStore + ?Sized),
    tenant: &TenantId,
    blobs: &[(BlobId, BlobLocation)],
    f: &(dyn for<'b> Fn(usize, &'b [u8]) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    let slots: Vec<std::sync::OnceLock<T>> =
        blobs.iter().map(|_| std::sync::OnceLock::new()).collect();
    store
        .visit_blobs(tenant, blobs, &|i, json| {
            let made = f(i, json)?;
            if let Some(slot) = slots.get(i) {
                let _ = slot.set(made);
            }
            Ok(())
        })
        .await?;
    slots
        .into_iter()
        .zip(blobs)
        .map(|(slot, (id, _))| {
            slot.into_inner().ok_or_else(|| Error::MissingBlob {
                tenant: tenant.to_string(),
                blob: id.to_string(),
            })
        })
        .collect()
}

/// Decompresses and verifies a blob; answers its canonical JSON.
fn decode_blob(
    bytes: &[u8],
    id: &BlobId,
    dictionaries: &DecoderDictionaries,
) -> std::result::Result<Bytes, String> {
    with_decoded_blob(bytes, id, dictionaries, Bytes::copy_from_slice)
}

/// Decompresses and verifies a blob into this thread's buffer and hands its canonical JSON
/// to `f`. Blobs are written canonical, so hashing the bytes verifies them; blobs written
/// before that are parsed and re-canonicalized.
fn with_decoded_blob<R>(
    bytes: &[u8],
    id: &BlobId,
    dictionaries: &DecoderDictionaries,
    f: impl FnOnce(&[u8]) -> R,
) -> std::result::Result<R, String> {
    compress::with_decompressed(bytes, dictionaries, |json| {
        let actual = BlobId::of_canonical(json);
        if &actual == id {
            return Ok(f(json));
        }
        // Written before blobs were canonical: the id is that of its canonical form.
        let canonical = serde_json::from_slice::<serde_json::Value>(json)
            .map(|value| crate::format::canonical_bytes(&value))
            .ok()
            .filter(|canonical| &BlobId::of_canonical(canonical) == id)
            .ok_or_else(|| format!("content hashes to {actual}, not {id}"))?;
        Ok(f(&canonical))
    })
    .map_err(|e| format!("not readable zstd data: {e}"))?
}

/// How patiently S3 requests are retried. A server answers 500 `InternalError` or 503
/// `SlowDown` for a while when it is busy or scaling, and AWS asks clients to retry with
/// exponential backoff (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorBestPractices.html>,
/// <https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html>).
/// object_store's default draws each wait between 100 ms and twice the last one, so its 10
/// retries can all fall within two seconds (a CI run lost a backup that way to SeaweedFS
/// answering 500 for a moment); these waits start at 250 ms and may triple, bounded by 20 s a
/// wait and 3 minutes in all (object_store advises staying under 5 minutes, for signatures).
fn s3_retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: std::time::Duration::from_millis(250),
            max_backoff: std::time::Duration::from_secs(20),
            base: 3.0,
        },
        max_retries: 12,
        retry_timeout: std::time::Duration::from_secs(180),
    }
}

/// Opens a repository by URL: a path or `file:///path` (local files), `s3://bucket/prefix`
/// (S3-compatible: the standard `AWS_*` variables, incl. `AWS_ENDPOINT_URL` and
/// `AWS_ALLOW_HTTP`), or `memory://` (tests).
///
/// # Errors
/// [`Error::Url`] for a URL that names no supported backend or cannot be opened.
pub fn open(url: &str) -> Result<Arc<dyn SnapshotStore>> {
    let bad = |reason: String| Error::Url {
        url: url.to_owned(),
        reason,
    };
    let store: Arc<dyn ObjectStore> = if url == "memory://" || url == "memory:" {
        Arc::new(object_store::memory::InMemory::new())
    } else if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket: use s3://bucket/prefix".into()));
        }
        let mut builder = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch)
            .with_retry(s3_retry());
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            builder = builder.with_endpoint(endpoint);
        }
        let s3 = builder.build().map_err(|e| bad(format!("S3 configuration: {e} (set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION or AWS_ENDPOINT_URL)")))?;
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
        }
    } else {
        let path = url.strip_prefix("file://").unwrap_or(url);
        if path.is_empty() || url.contains("://") && !url.starts_with("file://") {
            return Err(bad(
                "use a path, file:///path, s3://bucket/prefix or memory://".into(),
            ));
        }
        std::fs::create_dir_all(path).map_err(|e| bad(format!("cannot create {path}: {e}")))?;
        Arc::new(
            object_store::local::LocalFileSystem::new_with_prefix(path)
                .map_err(|e| bad(e.to_string()))?,
        )
    };
    let description = match url.split_once("://") {
        Some((scheme, rest)) => {
            format!("{scheme}://{}", rest.split('@').next_back().unwrap_or(rest))
        }
        None => url.to_owned(),
    };
    Ok(Arc::new(ObjectSnapshotStore::new(store, description)))
}
