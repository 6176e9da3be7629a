//! Backup orchestration for dirvault, and [`Vault`]: the facade an embedder, the CLI and the
//! daemon use for every workflow (backup, snapshots, diff against a snapshot or the live
//! tenant, plan / keep / apply a restore, forget and prune under a renewed lease, verify).
//!
//! [`backup`] takes a point-in-time snapshot of one tenant: every [`ObjectKind`], with its
//! relationships, incrementally wherever Graph offers a delta query (the first run is full;
//! later runs read only what changed since the stored deltaLink and carry every unchanged
//! object over without reading or writing it). Each kind ends complete, failed (the previous
//! snapshot's data is kept and marked, never taken as "all deleted") or skipped (missing
//! permission). A per-tenant lease keeps two backups of one tenant apart.
//!
//! # Example
//! ```no_run
//! # async fn demo(client: dirvault_graph::GraphClient) -> Result<(), dirvault_engine::Error> {
//! use dirvault_engine::{BackupOptions, backup};
//! let repo = dirvault_store::Repository::open("./dirvault-repo")?;
//! let report = backup(&client, &repo, &BackupOptions::default(), chrono::Utc::now(), &|_| {}).await?;
//! println!("snapshot {}", report.snapshot.id);
//! # Ok(()) }
//! ```
//!
//! [`ObjectKind`]: dirvault_model::ObjectKind

// Errors carry Graph's context (tenant, URL, status, code, request-id); they are rare, and
// boxing them would make matching on them clumsy.
#![allow(clippy::result_large_err)]

pub mod alerts;
mod backup;
pub mod browse;
pub mod cadence;
mod changes;
pub mod config;
mod encrypt_copy;
mod export;
mod lease;
mod outcome;
pub mod repository_access;
pub mod sealed;
pub mod vault;

pub use backup::{BackupOptions, BackupReport, KindOutcome, Progress, backup, backup_unless_since};
pub use changes::{Changed, KindChanges, changes, changes_between, live, narrow};
pub use encrypt_copy::EncryptReport;
pub use export::{ExportReport, Selection, export, export_selection};
pub use outcome::BackupOutcome;
pub use vault::Vault;

/// Engine errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] dirvault_store::Error),
    /// Graph failed in a way that stops the whole backup.
    #[error(transparent)]
    Graph(#[from] dirvault_graph::Error),
    /// Graph refused a request inside a `$batch` (after the client's retries of throttling and
    /// server errors).
    #[error(
        "reading {kind}: Graph refused the request for {request} inside a $batch: HTTP {status} {code}: {message}"
    )]
    Refused {
        /// The kind being read.
        kind: dirvault_model::ObjectKind,
        /// The object the request was for (the batch request's id).
        request: String,
        /// Its HTTP status.
        status: u16,
        /// Graph's error `code`.
        code: String,
        /// Graph's error message.
        message: String,
    },
    /// Writing an export failed.
    #[error("export failed writing {}", path.display())]
    Export {
        /// The file or directory being written.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Restore planning or applying failed.
    #[error(transparent)]
    Restore(#[from] dirvault_restore::Error),
    /// A stored restore plan cannot be read.
    #[error("restore plan {plan} cannot be read: {reason}")]
    CorruptPlan {
        /// The plan's id.
        plan: String,
        /// Why.
        reason: String,
    },
    /// A browse request named what the repository does not hold.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// An encrypted copy was refused: why.
    #[error("cannot make an encrypted copy: {0}")]
    EncryptRefused(String),
    /// The encrypted copy did not verify: it must not replace the source.
    #[error("the encrypted copy in {url} did not verify (keep using the source): {problems}")]
    CopyNotVerified {
        /// Where the copy is.
        url: String,
        /// What verify found, tenant by tenant.
        problems: String,
    },
    /// No kind could be read, so no snapshot was written: a snapshot of nothing would only
    /// repeat its parent, or hide that the backup did not happen.
    #[error("no snapshot of tenant {tenant} was written: no kind could be read ({reasons})")]
    NothingRead {
        /// The tenant.
        tenant: dirvault_model::TenantId,
        /// Each kind's reason, `kind: reason`, joined.
        reasons: String,
    },
}

/// What a browse request named that the repository does not hold.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotFound {
    /// The tenant has no snapshot at all.
    #[error("tenant {tenant} has no snapshots yet: back it up first")]
    NoSnapshots {
        /// The tenant.
        tenant: dirvault_model::TenantId,
    },
    /// No snapshot was taken at or before the time asked for.
    #[error("tenant {tenant} has no snapshot at or before {at}")]
    NoSnapshotAt {
        /// The tenant.
        tenant: dirvault_model::TenantId,
        /// The time asked for.
        at: String,
    },
    /// Neither `latest`, a date-time nor the id of one of the tenant's snapshots.
    #[error(
        "no snapshot {at:?} for tenant {tenant}: give a snapshot id, `latest` or an RFC 3339 date-time"
    )]
    UnknownSnapshot {
        /// The tenant.
        tenant: dirvault_model::TenantId,
        /// What was asked for.
        at: String,
    },
    /// The object is not in the snapshot (deleted before it, or never there).
    #[error("{kind} {id} is not in snapshot {snapshot}")]
    Object {
        /// Its kind.
        kind: dirvault_model::ObjectKind,
        /// Its id.
        id: dirvault_model::ObjectId,
        /// The snapshot.
        snapshot: dirvault_model::SnapshotId,
    },
    /// The snapshot holds no authentication methods for the user.
    #[error("snapshot {snapshot} holds no authentication methods for user {user}")]
    AuthMethods {
        /// The user.
        user: dirvault_model::ObjectId,
        /// The snapshot.
        snapshot: dirvault_model::SnapshotId,
    },
    /// The object has no such version.
    #[error(
        "{kind} {id} has no version {which} relative to snapshot {snapshot} ({versions} version(s) in all)"
    )]
    Version {
        /// Its kind.
        kind: dirvault_model::ObjectKind,
        /// Its id.
        id: dirvault_model::ObjectId,
        /// Which version was asked for.
        which: String,
        /// The snapshot it was relative to.
        snapshot: dirvault_model::SnapshotId,
        /// How many versions it has.
        versions: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
