//! Store errors: what failed, on which repository path, and what to do.

/// A store error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repository URL could not be understood.
    #[error("invalid repository URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The object store failed.
    #[error(
        "repository {op} of {path} failed: {source}; check that the storage service is up and the credentials are right, then run again"
    )]
    Backend {
        /// The operation.
        op: &'static str,
        /// The repository path.
        path: String,
        /// The object-store error.
        #[source]
        source: object_store::Error,
    },
    /// The storage service refused the operation to this credential: an append-only identity
    /// asked to delete (`forget`, `prune`, key removal), or credentials without the right.
    #[error(
        "the storage service refused to {op} {path}: this credential does not have the right to {op} (an append-only backup identity may not delete; run forget, prune and key removal with the maintenance identity, see docs/daemon.md)"
    )]
    Denied {
        /// The operation.
        op: &'static str,
        /// The repository path.
        path: String,
        /// The object-store error.
        #[source]
        source: object_store::Error,
    },
    /// A file in the repository is damaged: unreadable, or its content does not match its hash.
    #[error(
        "repository file {path} is corrupt: {reason}; run `verify` and restore it from a copy if you have one"
    )]
    Corrupt {
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A repository file is in a storage format this dirvault does not read (written by
    /// another version of it, or not by dirvault at all).
    #[error(
        "repository file {path} is in storage format {}, and this dirvault reads only format {supported}; use the dirvault version that wrote the repository, or back up into a new repository",
        found.as_deref().map_or_else(|| "(none given)".to_owned(), |v| format!("{v:?}"))
    )]
    UnsupportedFormat {
        /// The file.
        path: String,
        /// The version it says it has (`None`: it says none).
        found: Option<String>,
        /// The version this dirvault reads.
        supported: &'static str,
    },
    /// The repository is encrypted and no password or key was given.
    #[error(
        "the repository is encrypted: give its password (DIRVAULT_PASSWORD, --password-file or --password-command) or key"
    )]
    PasswordRequired,
    /// A new repository would be created unencrypted, which was not allowed.
    #[error(
        "no repository there yet, and a new one is encrypted: give it a password (DIRVAULT_PASSWORD, --password-file or --password-command), or pass --insecure-no-encryption to store it in clear"
    )]
    EncryptionRequired,
    /// No key slot opens with the password or key given.
    #[error("wrong password or key: none of the repository's {slots} key slots opens with it")]
    WrongPassword {
        /// Key slots tried.
        slots: usize,
    },
    /// A password or key was given for a repository that is not encrypted (refused, so that
    /// a repository whose encryption was stripped is never written in clear).
    #[error(
        "the repository is not encrypted, but a password or key was given; run without one, or copy it into an encrypted repository"
    )]
    NotEncrypted,
    /// The tenant's keys were forgotten (`tenant forget-key`): its data can no longer be read.
    #[error("the data of tenant {tenant} was erased: its key was forgotten{}", since.as_ref().map(|t| format!(" on {t}")).unwrap_or_default())]
    Erased {
        /// The tenant.
        tenant: String,
        /// When.
        since: Option<String>,
    },
    /// A blob a snapshot needs is not in the repository.
    #[error("blob {blob} of tenant {tenant} is missing from the repository; run `verify`")]
    MissingBlob {
        /// The tenant.
        tenant: String,
        /// The blob id.
        blob: String,
    },
    /// No such snapshot.
    #[error("no snapshot {snapshot} for tenant {tenant}; list them with `snapshots`")]
    NoSnapshot {
        /// The tenant.
        tenant: String,
        /// The snapshot asked for.
        snapshot: String,
    },
    /// A snapshot with that id exists already (commits never overwrite).
    #[error("snapshot {snapshot} of tenant {tenant} exists already")]
    SnapshotExists {
        /// The tenant.
        tenant: String,
        /// The snapshot.
        snapshot: String,
    },
    /// Another writer holds the tenant's lease.
    #[error(
        "tenant {tenant} is locked by {owner} until {expires}: another backup or prune is running; wait for it, or for the lease to expire"
    )]
    Locked {
        /// The tenant.
        tenant: String,
        /// The lease holder.
        owner: String,
        /// When the lease expires.
        expires: String,
    },
    /// The lease was lost (taken over after it expired).
    #[error(
        "the lease on tenant {tenant} was lost: another writer took it over after it expired; the current operation stopped before committing"
    )]
    LeaseLost {
        /// The tenant.
        tenant: String,
    },
    /// The request was not valid.
    #[error("{0}")]
    Invalid(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
