//! The storage seam: [`SnapshotStore`], and its implementation over `object_store` for local
//! files, S3-compatible stores and memory.

mod blob_index;
mod blobs;
mod counting;
mod keys;
mod leases;
mod over_object_store;
mod record_packs;
mod small_packs;

pub use blob_index::BlobIndex;
pub(crate) use blobs::*;
pub use counting::StoreRequests;
pub use keys::KeySlot;
pub use over_object_store::ObjectSnapshotStore;
pub use record_packs::RecordPacksTidied;

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
use crate::format::{
    BlobId, BlobLocation, FORMAT_VERSION, InGroup, LeaseRecord, PackIndex, PieceBlobs,
    REPOSITORY_FILE, RepositoryFile, Snapshot, SnapshotFile, pack_index_name, pack_of_index_name,
};

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

/// One piece of a pack as a writer hands it over: compressed, not yet sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackPiece {
    /// A blob compressed alone (manifest chunks, changesets, indexes: read one at a time).
    Alone(BlobId, Bytes),
    /// Blobs compressed together: one zstd frame of their canonical bytes back to back, each
    /// member with its length there (object versions of one kind: together they compress
    /// far better than one by one, and a group is sealed once).
    Group {
        /// The blobs in the order of their bytes, with their lengths.
        members: Vec<(BlobId, u32)>,
        /// The compressed frame.
        bytes: Bytes,
    },
}

impl PackPiece {
    /// The compressed bytes.
    pub fn bytes(&self) -> &Bytes {
        match self {
            Self::Alone(_, bytes) | Self::Group { bytes, .. } => bytes,
        }
    }

    /// The blobs it holds.
    pub fn blob_ids(&self) -> Vec<BlobId> {
        match self {
            Self::Alone(id, _) => vec![*id],
            Self::Group { members, .. } => members.iter().map(|(id, _)| *id).collect(),
        }
    }
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
    /// The store itself, to reach an implementation's own operations (key management).
    fn as_any(&self) -> &dyn std::any::Any;
    /// The tenants with data in the repository.
    async fn tenants(&self) -> Result<Vec<TenantId>>;
    /// The blob index of a tenant (every indexed pack).
    async fn blob_index(&self, tenant: &TenantId) -> Result<BlobIndex>;
    /// Writes pieces (already compressed) as one pack; returns where each of their blobs is.
    async fn write_pack(
        &self,
        tenant: &TenantId,
        pieces: Vec<PackPiece>,
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
    /// Writes the blobs `keep` of pack `pack` into a new pack, as they are stored (prune). A
    /// group is moved whole: `keep` names every member of a group it keeps.
    async fn repack(
        &self,
        tenant: &TenantId,
        pack: &str,
        keep: &[(BlobId, BlobLocation)],
    ) -> Result<()>;
    /// How the tenant's content ids are made (keyed in an encrypted repository; makes the
    /// tenant's keys when it has none yet).
    async fn content_ids(&self, tenant: &TenantId) -> Result<crate::crypto::ContentIds>;
    /// The packs of a tenant.
    async fn packs(&self, tenant: &TenantId) -> Result<Vec<PackInfo>>;
    /// Deletes a pack and its index.
    async fn delete_pack(&self, tenant: &TenantId, pack: &str) -> Result<()>;
    /// Commits a snapshot (create-only).
    async fn commit_snapshot(&self, snapshot: &Snapshot) -> Result<()>;
    /// Every snapshot of a tenant, oldest first.
    async fn snapshots(&self, tenant: &TenantId) -> Result<Vec<Snapshot>>;
    /// Rewrites the tenant's snapshot record packs that hold forgotten snapshots' records
    /// (or deletes them) and packs the records not yet packed (prune). Run it under the
    /// tenant's lease.
    async fn tidy_record_packs(&self, tenant: &TenantId) -> Result<RecordPacksTidied>;
    /// What is wrong with the tenant's snapshot record packs (verify).
    async fn record_packs_problems(&self, tenant: &TenantId) -> Result<Vec<String>>;
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
/// `AWS_ALLOW_HTTP`), or `memory://` (tests). Without a secret: an encrypted repository is
/// refused ([`Error::PasswordRequired`]) and a new one is created unencrypted (see
/// [`open_with`]).
///
/// # Errors
/// [`Error::Url`] for a URL that names no supported backend or cannot be opened.
pub fn open(url: &str) -> Result<Arc<dyn SnapshotStore>> {
    Ok(Arc::new(open_with(url, &OpenOptions::default())?))
}

/// How to open a repository: the secret that unlocks it (and encrypts a new one), and
/// whether a new one may be created without encryption.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The password or key.
    pub secret: Option<crate::crypto::Secret>,
    /// Refuse to create a new repository unencrypted ([`Error::EncryptionRequired`]): what
    /// the CLI and the daemon do unless told `--insecure-no-encryption`.
    pub require_encryption: bool,
}

/// [`open`] with a secret and rules for a new repository; the store itself, for key
/// management ([`ObjectSnapshotStore::add_key`] and the rest).
///
/// # Errors
/// [`Error::Url`] for a URL that names no supported backend or cannot be opened.
pub fn open_with(url: &str, options: &OpenOptions) -> Result<ObjectSnapshotStore> {
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
    let mut opened =
        ObjectSnapshotStore::new(store, description).with_secret(options.secret.clone());
    opened.require_encryption = options.require_encryption;
    Ok(opened)
}
