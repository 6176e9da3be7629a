//! Snapshot store for dirvault.
//!
//! A repository holds any number of tenants' snapshots on local files, an S3-compatible store
//! or memory, selected by URL ([`open`]). Object versions are content-addressed (SHA-256 of
//! canonical JSON), zstd-compressed (with a dictionary per kind, trained on the tenant's own
//! objects) and packed into pack files of about 8 MB, never one file per directory object; an
//! unchanged object costs no new bytes. Each snapshot lists every object
//! of every kind in per-kind manifests, with the summary listing needs, plus its
//! relationships. A snapshot becomes visible only when committed; a crash leaves at most
//! unreferenced packs. A per-tenant lease keeps two writers apart. See
//! `docs/storage-format.md`.
//!
//! [`SnapshotStore`] is the seam (one implementation over `object_store`);
//! [`Repository`] does the rest on top of it.
//!
//! # Example
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use dirvault_model::{DirectoryObject, ObjectKind, TenantId};
//! use dirvault_store::Repository;
//! use serde_json::json;
//!
//! let repo = Repository::open("memory://")?;
//! let tenant: TenantId = "contoso".parse().unwrap();
//! let mut writer = repo.begin(&tenant, chrono::Utc::now(), None).await?;
//! let user = DirectoryObject::from_graph(ObjectKind::Users, json!({"id": "u1", "displayName": "Adele"})).unwrap();
//! writer.add_object(&user).await?;
//! let (snapshot, _) = writer.commit().await?;
//! assert_eq!(repo.objects(&snapshot, ObjectKind::Users).await?, vec![user]);
//! # Ok::<(), dirvault_store::Error>(())
//! # }).unwrap();
//! ```

mod backend;
mod compress;
mod crypto;
mod error;
mod format;
mod holder;
mod repository;

pub use backend::{
    BlobIndex, KeySlot, Lease, ObjectSnapshotStore, OpenOptions, PackInfo, SnapshotStore, open,
    open_with,
};
pub use crypto::{ContentIds, Secret};
pub use error::{Error, Result};
pub use format::{
    BlobId, BlobLocation, Changeset, KindRecord, KindStatus, LeaseRecord, ManifestEntry,
    RelationshipChanges, Snapshot, Text, new_snapshot_id,
};
pub use holder::LeaseHolder;
pub use repository::{
    CopyProgress, CopyReport, ForgetReport, MAX_DURATION_DAYS, PACK_TARGET_BYTES, PruneReport,
    Repository, RetentionPolicy, SnapshotWriter, VerifyReport, WriteStats, differing_entries,
    parse_duration,
};
