//! Snapshot store for dirvault.
//!
//! A repository holds any number of tenants' snapshots on local files, an S3-compatible store
//! or memory, selected by URL ([`Repository::open`]). Object versions are content-addressed (SHA-256 of
//! canonical JSON), zstd-compressed (with a dictionary per kind, trained on the tenant's own
//! objects) and packed into pack files of about 8 MB, never one file per directory object; an
//! unchanged object costs no new bytes. Each snapshot lists every object
//! of every kind in per-kind manifests, with the summary listing needs, plus its
//! relationships. A snapshot becomes visible only when committed; a crash leaves at most
//! unreferenced packs. A per-tenant lease keeps two writers apart. See
//! `docs/storage-format.md`.
//!
//! [`Repository`] is the API; under it, one storage seam implemented over `object_store`
//! ([`ObjectSnapshotStore`], for key management). The storage format's own types (pack
//! indexes, blob locations, lease and changeset files) are private, so that a format change
//! is not an API change.
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
mod guid_packing;
mod holder;
mod name_order;
mod repository;
mod search;
mod sorted_relationships;

pub use backend::{
    KeySlot, Lease, ObjectSnapshotStore, OpenOptions, RecordPacksTidied, StoreRequests,
};
pub use crypto::{ContentIds, Secret};
pub use error::{Error, Result};
pub use format::{
    BlobId, EntryText, KindRecord, KindStatus, ManifestEntry, Snapshot, Text, new_snapshot_id,
};
pub use holder::LeaseHolder;
pub use name_order::{cmp_lowercase, name_order};
pub use repository::{
    Changeset, CopyProgress, CopyReport, ForgetReport, LeaseInfo, MAX_DURATION_DAYS, ManifestPage,
    PACK_TARGET_BYTES, PruneReport, RelationshipChanges, Repository, RetentionPolicy,
    SnapshotWriter, VerifyReport, WriteStats, differing_entries, parse_duration,
};
pub use search::Needle;
pub use sorted_relationships::SortedRelationships;

/// The storage seam under [`Repository`] and the format types its signatures show. Not API:
/// it changes with the storage format, in any release. It is here for the store's own
/// conformance suite (which checks each backend's contract: create-only commits, packs before
/// their indexes, leases) and benchmarks; everything else goes through [`Repository`].
#[doc(hidden)]
pub mod __internal {
    pub use crate::backend::{BlobIndex, PackInfo, PackPiece, SnapshotStore, open, open_with};
    pub use crate::format::{BlobLocation, InGroup, LeaseRecord};
}
