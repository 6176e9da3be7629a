//! [`Repository`]: writing, reading and maintaining snapshots over any [`SnapshotStore`].
//!
//! One file per responsibility: [`chunks`] (cutting lists into blobs), [`chains`] (changesets
//! and overlays), [`read`], [`writer`] (packing, dictionaries, commit), [`maintenance`]
//! (verify, forget, prune) and [`retention`].

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

use crate::backend::{BlobIndex, PackPiece, SnapshotStore, encode_blob, encode_group};
use crate::compress::{self, DICTIONARY_SAMPLES, EncoderDictionary};
use crate::error::{Error, Result};
use crate::format::{
    BlobId, BlobLocation, BlobRef, ChainLink, ChangesetFile, ChunkRef, EntryChunk, EntryText,
    IdFilter, KindRecord, KindStatus, ManifestEntry, ManifestIndex, Snapshot, new_snapshot_id,
};

mod by_name;
mod chains;
mod changes;
mod chunks;
mod copy;
mod footprint;
mod leases_and_documents;
mod maintenance;
mod pages;
mod read;
mod retention;
mod versions;
mod writer;

pub use chains::differing_entries;
use chains::*;
pub use changes::{Changeset, RelationshipChanges};
use chunks::*;
pub use copy::{CopyProgress, CopyReport};
pub use leases_and_documents::LeaseInfo;
pub use maintenance::{ForgetReport, PruneReport, VerifyReport};
use pages::ComposedChain;
pub use pages::ManifestPage;
pub use retention::{MAX_DURATION_DAYS, RetentionPolicy, parse_duration};
pub use writer::SnapshotWriter;

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

/// Object versions of one kind are compressed together, in groups of about this many bytes
/// of JSON (a group is closed by the object that reaches it). Larger groups compress better
/// and cost a reader of one object more: measured on L100k in docs/benchmarks.md (session
/// 24).
const GROUP_PLAIN_BYTES: usize = 128 * 1024;

/// Manifests and relationship lists are cut after an item whose key hashes to 0 modulo this
/// (content-defined chunking): on average 32 items a chunk, so that 1% of changes spread over a
/// kind leave most chunks untouched.
const RELATIONSHIP_CHUNK_DIVISOR: u64 = 32;
const MANIFEST_CHUNK_DIVISOR: u64 = 256;

/// A repository: every tenant's snapshots in one store.
#[derive(Clone)]
pub struct Repository {
    store: Arc<dyn SnapshotStore>,
    /// The blob indexes of the tenants read last, most recent first: reading one means
    /// reading every pack index, and holding every tenant's would grow a daemon serving
    /// thousands of tenants by tens of megabytes per large tenant.
    indexes: Arc<std::sync::Mutex<RecentIndexes>>,
    /// The chain of changesets composed last by a read ([`Repository::composed_chain`]): a
    /// listing by name reads it twice (to choose a page, then to read it) and a console's
    /// next page once more. One, whatever the tenants: up to 32 changesets' entries.
    last_chain: Arc<std::sync::Mutex<Option<LastChain>>>,
}

/// A composed chain and what it was composed from (changesets are named by their content, so
/// the same tenant and links are the same chain).
type LastChain = (TenantId, Vec<BlobId>, Arc<ComposedChain>);

impl From<crate::ObjectSnapshotStore> for Repository {
    fn from(store: crate::ObjectSnapshotStore) -> Self {
        Self::new(Arc::new(store))
    }
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
    pub(crate) fn new(store: Arc<dyn SnapshotStore>) -> Self {
        Self {
            store,
            indexes: Arc::default(),
            last_chain: Arc::default(),
        }
    }

    /// Opens a repository by URL: a path or `file:///path` (local files),
    /// `s3://bucket/prefix` (S3-compatible: the standard `AWS_*` variables, incl.
    /// `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP`), or `memory://` (tests). Without a secret: an
    /// encrypted repository is refused ([`Error::PasswordRequired`]) and a new one is created
    /// unencrypted (see [`Repository::open_with`]).
    ///
    /// # Errors
    /// [`Error::Url`] for a URL that names no supported backend or cannot be opened.
    pub fn open(url: &str) -> Result<Self> {
        Ok(Self::new(crate::backend::open(url)?))
    }

    /// [`Repository::open`] with a secret and rules for a new repository; its key slots are
    /// managed through [`Repository::object_store`].
    ///
    /// # Errors
    /// [`Error::Url`] for a URL that names no supported backend or cannot be opened.
    pub fn open_with(url: &str, options: &crate::OpenOptions) -> Result<Self> {
        Ok(Self::new(Arc::new(crate::backend::open_with(
            url, options,
        )?)))
    }

    /// The store as an [`crate::ObjectSnapshotStore`] (for key management), when it is one.
    pub fn object_store(&self) -> Option<&crate::ObjectSnapshotStore> {
        self.store.as_any().downcast_ref()
    }

    /// The requests this handle (and its clones) sent to the object store, by operation: what
    /// S3 bills, and what a replica adds to a shared bucket's load. `None` for a store that is
    /// not an object store.
    pub fn store_requests(&self) -> Option<crate::StoreRequests> {
        self.object_store()
            .map(crate::ObjectSnapshotStore::requests)
    }

    /// The storage seam under the repository: not API (its signatures show the storage
    /// format), for the store's own conformance suite and benchmarks.
    #[doc(hidden)]
    pub fn store(&self) -> &Arc<dyn SnapshotStore> {
        &self.store
    }

    /// The tenants the repository holds.
    ///
    /// # Errors
    /// Store errors; [`Error::UnsupportedFormat`] for a repository of another format.
    pub async fn tenants(&self) -> Result<Vec<TenantId>> {
        self.store.tenants().await
    }

    /// Every snapshot of a tenant, oldest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn snapshots(&self, tenant: &TenantId) -> Result<Vec<Snapshot>> {
        self.store.snapshots(tenant).await
    }

    /// The ids of a tenant's snapshots, sorted (they sort by time): a listing, no record read.
    ///
    /// # Errors
    /// Store errors.
    pub async fn snapshot_ids(&self, tenant: &TenantId) -> Result<Vec<SnapshotId>> {
        self.store.snapshot_ids(tenant).await
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
        self.store.read_blob_bytes(tenant, id, &at).await
    }
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
